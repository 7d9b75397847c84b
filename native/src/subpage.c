/*
 * The sub-page matcher's inner loop (src/codec/subpage.ts documents the algorithm and owns the
 * state): anchors of a page (gear hash, fingerprint.ts), candidate lookups in the context, history
 * and baseline anchor tables, verification and expansion of each candidate, the same-frame baseline
 * delta, and indexing a page's anchors as history. Byte for byte the algorithm subpage.ts specified
 * in TypeScript before (same GEAR, same table slots, same probe order and tie rule), so the .mig is
 * identical; compares are 8 bytes at a time.
 *
 * Every array is owned by the JavaScript wrapper (SubPageMatcher), which keeps them alive as long as
 * the matcher: this file stores pointers only. Baseline frames are read through a JavaScript
 * callback, readFrame(frame, cacheSlot) → boolean, into the wrapper's cache buffer.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 4096
#define WINDOW 32
#define BCACHE 256
enum { CONTEXT = 0, HISTORY = 1, BASELINE = 2, BASELINE_AT = 3 };

static uint32_t GEAR[256];

static void gear_init(void) {
  uint32_t x = 0x2545f491u;
  for (int i = 0; i < 256; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    GEAR[i] = x;
  }
}

typedef struct {
  uint32_t* keys;
  double* vals;
  uint32_t shift;
  int on;
} table_t;

typedef struct {
  int histBits, minMatch, minBaseRun, maxProbes;
  const uint8_t* ctx;
  size_t ctxLen;
  table_t ctxT, histT, baseT;
  uint8_t** windows;
  size_t nwin;
  double window;
  const double* fileOffset;
  size_t nslots;
  uint8_t* bcache;
  double bcacheFrame[BCACHE];
  napi_ref readFrame;
  int32_t* segLit;
  int32_t* segLen;
  uint8_t* segSrc;
  double* segOff;
  /* info[0] = segments, info[1..3] = bytes covered per source (BASELINE_AT counted as BASELINE). */
  int32_t* info;
  int32_t apos[PAGE];
  uint32_t ahash[PAGE];
  int na;
  /* Candidates of anchors [0, nlooked): position in the context, history, baseline, or −1. */
  double cval[PAGE], hval[PAGE], bval[PAGE];
  int nlooked;
  int bestLen, bestStart, bestSrc;
  double bestOff;
} matcher_t;

static inline uint32_t slot_of(const table_t* t, uint32_t h) { return (uint32_t)(h * 0x9e3779b1u) >> t->shift; }
static inline double table_get(const table_t* t, uint32_t h) {
  uint32_t s = slot_of(t, h);
  return t->keys[s] == h ? t->vals[s] : -1;
}

/*
 * Anchors of a page, in position order. The hash of the window ending at e depends on bytes
 * (e−31 … e] only, so the two halves of the page are hashed as two independent chains interleaved
 * (the chain's shift-add latency, not the loads, bounds one chain); the second half's anchors follow
 * the first's.
 */
#define HALF (WINDOW - 1 + (PAGE - (WINDOW - 1)) / 2)
static int page_anchors(const uint8_t* buf, int bits, int32_t* pos, uint32_t* hash) {
  const uint32_t mask = bits == 0 ? 0 : (~0u << (32 - bits));
  int32_t pos2[PAGE / 2 + 1];
  uint32_t hash2[PAGE / 2 + 1];
  uint32_t a = 0, b = 0;
  int n = 0, n2 = 0;
  for (int i = 0; i < WINDOW - 1; i++) {
    a = (a << 1) + GEAR[buf[i]];
    b = (b << 1) + GEAR[buf[HALF - (WINDOW - 1) + i]];
  }
  /* Chain a: windows ending in [WINDOW−1, HALF); chain b: [HALF, PAGE) (one more when odd). */
  const int na = HALF - (WINDOW - 1), nb = PAGE - HALF;
  for (int t = 0; t < na; t++) {
    const int ea = WINDOW - 1 + t, eb = HALF + t;
    a = (a << 1) + GEAR[buf[ea]];
    b = (b << 1) + GEAR[buf[eb]];
    pos[n] = ea - (WINDOW - 1);
    hash[n] = a;
    n += (a & mask) == 0;
    pos2[n2] = eb - (WINDOW - 1);
    hash2[n2] = b;
    n2 += (b & mask) == 0;
  }
  for (int t = na; t < nb; t++) {
    const int eb = HALF + t;
    b = (b << 1) + GEAR[buf[eb]];
    pos2[n2] = eb - (WINDOW - 1);
    hash2[n2] = b;
    n2 += (b & mask) == 0;
  }
  memcpy(pos + n, pos2, (size_t)n2 * sizeof *pos);
  memcpy(hash + n, hash2, (size_t)n2 * sizeof *hash);
  return n + n2;
}

/* Equal bytes a[0..] == b[0..], at most max. */
static inline size_t fwd(const uint8_t* a, const uint8_t* b, size_t max) {
  size_t f = 0;
  while (f + 8 <= max) {
    uint64_t x, y;
    memcpy(&x, a + f, 8);
    memcpy(&y, b + f, 8);
    uint64_t d = x ^ y;
    if (d) return f + ((size_t)__builtin_ctzll(d) >> 3);
    f += 8;
  }
  while (f < max && a[f] == b[f]) f++;
  return f;
}

/* Equal bytes going backwards from a[-1] and b[-1], at most max. */
static inline size_t bwd(const uint8_t* a, const uint8_t* b, size_t max) {
  size_t n = 0;
  while (n + 8 <= max) {
    uint64_t x, y;
    memcpy(&x, a - n - 8, 8);
    memcpy(&y, b - n - 8, 8);
    uint64_t d = x ^ y;
    if (d) return n + ((size_t)__builtin_clzll(d) >> 3);
    n += 8;
  }
  while (n < max && a[-1 - (ptrdiff_t)n] == b[-1 - (ptrdiff_t)n]) n++;
  return n;
}

static void push(matcher_t* m, int lit, int len, int src, double off) {
  int n = m->info[0]++;
  m->segLit[n] = lit;
  m->segLen[n] = len;
  m->segSrc[n] = (uint8_t)src;
  m->segOff[n] = off;
  if (len) m->info[1 + (src == BASELINE_AT ? BASELINE : src)] += len;
}

/* Candidate S[p] for page[i]: forwards ≥ WINDOW bytes (else a hash collision), backwards down to cov and within S[lo, hi). */
static inline void probe(matcher_t* m, const uint8_t* page, int i, int cov, const uint8_t* S, size_t p, size_t lo, size_t hi, int src, double at) {
  size_t fmax = (size_t)(PAGE - i);
  if (hi - p < fmax) fmax = hi - p;
  size_t f = fwd(page + i, S + p, fmax);
  if (f < WINDOW) return;
  size_t bmax = (size_t)(i - cov);
  if (p - lo < bmax) bmax = p - lo;
  size_t b = bwd(page + i, S + p, bmax);
  if ((int)(f + b) <= m->bestLen) return;
  m->bestLen = (int)(f + b);
  m->bestStart = i - (int)b;
  m->bestSrc = src;
  m->bestOff = at - (double)b;
}

static int baseline_delta(matcher_t* m, const uint8_t* page, const uint8_t* base, double frame) {
  int cov = 0, i = 0;
  while (i < PAGE) {
    if (page[i] != base[i]) {
      i++;
      continue;
    }
    int j = i + 1 + (int)fwd(page + i + 1, base + i + 1, (size_t)(PAGE - i - 1));
    if (j - i >= m->minBaseRun) {
      push(m, i - cov, j - i, BASELINE, frame * PAGE + i);
      cov = j;
    }
    i = j;
  }
  if (cov < PAGE) push(m, PAGE - cov, 0, 0, 0);
  return m->info[1 + BASELINE];
}

static inline const uint8_t* history_at(const matcher_t* m, double v, size_t* cb) {
  double kk = (double)(int64_t)(v / PAGE);
  double off = m->fileOffset[(size_t)kk];
  size_t w = (size_t)(off / m->window);
  *cb = (size_t)(off - (double)w * m->window);
  return m->windows[w];
}

/*
 * Table look-ups for anchors [a0, a0 + LOOKAHEAD): the tables do not change during a
 * match (history is added by remember()), so the look-ups are done ahead, a block at a time, with
 * every slot and then every candidate's bytes prefetched first: the misses (tables of tens of MB,
 * a context of hundreds, each a TLB miss too under nested paging) overlap instead of queueing.
 */
#define LOOKAHEAD 32
static void look_ahead(matcher_t* m, int a0) {
  const int a1 = a0 + LOOKAHEAD < m->na ? a0 + LOOKAHEAD : m->na;
  for (int a = a0; a < a1; a++) {
    const uint32_t h = m->ahash[a];
    if (m->ctxT.on) {
      uint32_t s = slot_of(&m->ctxT, h);
      __builtin_prefetch(m->ctxT.keys + s);
      __builtin_prefetch(m->ctxT.vals + s);
    }
    if (m->histT.on) {
      uint32_t s = slot_of(&m->histT, h);
      __builtin_prefetch(m->histT.keys + s);
      __builtin_prefetch(m->histT.vals + s);
    }
    if (m->baseT.on) {
      uint32_t s = slot_of(&m->baseT, h);
      __builtin_prefetch(m->baseT.keys + s);
      __builtin_prefetch(m->baseT.vals + s);
    }
  }
  for (int a = a0; a < a1; a++) {
    const uint32_t h = m->ahash[a];
    double c = m->ctxT.on ? table_get(&m->ctxT, h) : -1;
    double v = m->histT.on ? table_get(&m->histT, h) : -1;
    m->cval[a] = c;
    m->hval[a] = v;
    m->bval[a] = m->baseT.on ? table_get(&m->baseT, h) : -1;
    if (c >= 0) __builtin_prefetch(m->ctx + (size_t)c);
    if (v >= 0) {
      size_t cb;
      const uint8_t* w = history_at(m, v, &cb);
      __builtin_prefetch(w + cb + (size_t)(v - (double)(int64_t)(v / PAGE) * PAGE));
    }
  }
  m->nlooked = a1;
}

/* Returns the bytes covered, or -1 with a JavaScript exception pending (readFrame threw). */
static int match(napi_env env, matcher_t* m, const uint8_t* page, const uint8_t* same, double frame) {
  m->info[0] = m->info[1] = m->info[2] = m->info[3] = 0;
  m->na = page_anchors(page, m->histBits, m->apos, m->ahash);
  if (same && baseline_delta(m, page, same, frame) >= PAGE / 2) return m->info[1 + BASELINE];
  m->info[0] = 0;
  m->info[1 + BASELINE] = 0;
  int cov = 0, probes = 0;
  m->nlooked = 0;
  for (int a = 0; a < m->na && probes < m->maxProbes; a++) {
    int i = m->apos[a];
    if (i < cov) continue;
    if (a >= m->nlooked) look_ahead(m, a);
    m->bestLen = 0;
    m->bestStart = 0;
    const double s = m->cval[a];
    if (s >= 0) {
      probes++;
      probe(m, page, i, cov, m->ctx, (size_t)s, 0, m->ctxLen, CONTEXT, s);
    }
    if (m->bestStart + m->bestLen < PAGE) {
      const double v = m->hval[a];
      if (v >= 0) {
        probes++;
        size_t cb;
        const uint8_t* w = history_at(m, v, &cb);
        probe(m, page, i, cov, w, cb + (size_t)(v - (double)(int64_t)(v / PAGE) * PAGE), cb, cb + PAGE, HISTORY, v);
      }
    }
    if (m->bestStart + m->bestLen < PAGE) {
      const double v = m->bval[a];
      if (v >= 0) {
        probes++;
        double fr = (double)(int64_t)(v / PAGE);
        int ci = (int)((int64_t)fr % BCACHE);
        size_t cb = (size_t)ci * PAGE;
        if (m->bcacheFrame[ci] != fr) {
          napi_value fn, glob, args[2], res;
          bool ok = false;
          napi_get_reference_value(env, m->readFrame, &fn);
          napi_get_undefined(env, &glob);
          napi_create_double(env, fr, &args[0]);
          napi_create_int32(env, ci, &args[1]);
          if (napi_call_function(env, glob, fn, 2, args, &res) != napi_ok) return -1;
          napi_get_value_bool(env, res, &ok);
          m->bcacheFrame[ci] = ok ? fr : -1;
        }
        if (m->bcacheFrame[ci] == fr) probe(m, page, i, cov, m->bcache, cb + (size_t)(v - fr * PAGE), cb, cb + PAGE, BASELINE_AT, v);
      }
    }
    if (m->bestLen >= m->minMatch) {
      push(m, m->bestStart - cov, m->bestLen, m->bestSrc, m->bestOff);
      cov = m->bestStart + m->bestLen;
    }
  }
  if (cov < PAGE) push(m, PAGE - cov, 0, 0, 0);
  return m->info[1 + CONTEXT] + m->info[1 + HISTORY] + m->info[1 + BASELINE];
}

/* ---- N-API glue ---- */

static int is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  return t == napi_undefined || t == napi_null;
}

static void* typed_data(napi_env env, napi_value v, size_t* bytes) {
  napi_typedarray_type type;
  size_t length = 0, off = 0;
  void* data = NULL;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &off) != napi_ok) return NULL;
  size_t el = type == napi_float64_array ? 8 : (type == napi_int32_array || type == napi_uint32_array) ? 4 : 1;
  if (bytes) *bytes = length * el;
  return data;
}

static int table_from(napi_env env, napi_value keys, napi_value vals, table_t* t) {
  if (is_nullish(env, keys)) return 1;
  size_t kb = 0, vb = 0;
  t->keys = typed_data(env, keys, &kb);
  t->vals = typed_data(env, vals, &vb);
  size_t slots = kb / 4;
  if (!t->keys || !t->vals || vb != slots * 8 || slots < 2 || (slots & (slots - 1))) return 0;
  t->shift = 32 - (uint32_t)__builtin_ctzll(slots);
  t->on = 1;
  return 1;
}

static void finalize(napi_env env, void* data, void* hint) {
  (void)hint;
  matcher_t* m = data;
  if (m->readFrame) napi_delete_reference(env, m->readFrame);
  free(m->windows);
  free(m);
}

#define ARGS(n)                                                   \
  size_t argc = n;                                                \
  napi_value argv[n];                                             \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);           \
  if (argc < n) {                                                 \
    napi_throw_type_error(env, NULL, "sub-page matcher: arguments"); \
    return NULL;                                                  \
  }

/*
 * create(params Int32Array[histBits, minMatch, minBaseRun, maxProbes], ctx, ctxKeys, ctxVals,
 *        histKeys, histVals, windows[], window, fileOffset, baseKeys, baseVals, bcache, readFrame,
 *        segLit, segLen, segSrc, segOff, info) → external; absent sources are null.
 */
static napi_value Create(napi_env env, napi_callback_info info) {
  ARGS(18)
  matcher_t* m = calloc(1, sizeof *m);
  if (!m) {
    napi_throw_error(env, "ENOMEM", "sub-page matcher: out of memory");
    return NULL;
  }
  int32_t* p = typed_data(env, argv[0], NULL);
  m->histBits = p[0];
  m->minMatch = p[1];
  m->minBaseRun = p[2];
  m->maxProbes = p[3];
  int ok = 1;
  if (!is_nullish(env, argv[1])) m->ctx = typed_data(env, argv[1], &m->ctxLen);
  ok &= table_from(env, argv[2], argv[3], &m->ctxT);
  if (!m->ctx) m->ctxT.on = 0;
  ok &= table_from(env, argv[4], argv[5], &m->histT);
  if (!is_nullish(env, argv[6])) {
    uint32_t n = 0;
    napi_get_array_length(env, argv[6], &n);
    m->windows = calloc(n ? n : 1, sizeof(uint8_t*));
    m->nwin = n;
    for (uint32_t w = 0; w < n; w++) {
      napi_value el;
      napi_get_element(env, argv[6], w, &el);
      m->windows[w] = typed_data(env, el, NULL);
    }
    napi_get_value_double(env, argv[7], &m->window);
    size_t fb = 0;
    m->fileOffset = typed_data(env, argv[8], &fb);
    m->nslots = fb / 8;
  }
  if (!m->windows) m->histT.on = 0;
  ok &= table_from(env, argv[9], argv[10], &m->baseT);
  if (m->baseT.on) {
    size_t cb = 0;
    m->bcache = typed_data(env, argv[11], &cb);
    if (!m->bcache || cb < (size_t)BCACHE * PAGE) ok = 0;
    for (int i = 0; i < BCACHE; i++) m->bcacheFrame[i] = -1;
    napi_create_reference(env, argv[12], 1, &m->readFrame);
  }
  m->segLit = typed_data(env, argv[13], NULL);
  m->segLen = typed_data(env, argv[14], NULL);
  m->segSrc = typed_data(env, argv[15], NULL);
  m->segOff = typed_data(env, argv[16], NULL);
  m->info = typed_data(env, argv[17], NULL);
  if (!ok || !m->segLit || !m->segLen || !m->segSrc || !m->segOff || !m->info) {
    finalize(env, m, NULL);
    napi_throw_type_error(env, NULL, "sub-page matcher: bad arrays");
    return NULL;
  }
  napi_value ext;
  napi_create_external(env, m, finalize, NULL, &ext);
  return ext;
}

/* match(matcher, page, sameFrame | null, frame) → bytes covered. */
static napi_value Match(napi_env env, napi_callback_info info) {
  ARGS(4)
  matcher_t* m;
  napi_get_value_external(env, argv[0], (void**)&m);
  size_t pb = 0, sb = 0;
  const uint8_t* page = typed_data(env, argv[1], &pb);
  const uint8_t* same = is_nullish(env, argv[2]) ? NULL : typed_data(env, argv[2], &sb);
  double frame = 0;
  napi_get_value_double(env, argv[3], &frame);
  if (!page || pb < PAGE || (same && sb < PAGE)) {
    napi_throw_range_error(env, NULL, "sub-page matcher: a page is 4096 bytes");
    return NULL;
  }
  int r = match(env, m, page, same, frame);
  if (r < 0) return NULL;
  napi_value out;
  napi_create_int32(env, r, &out);
  return out;
}

/* remember(matcher, k): the anchors of the page just matched, as history at slot k. */
static napi_value Remember(napi_env env, napi_callback_info info) {
  ARGS(2)
  matcher_t* m;
  napi_get_value_external(env, argv[0], (void**)&m);
  double k = 0;
  napi_get_value_double(env, argv[1], &k);
  if (!m->histT.on) return NULL;
  for (int a = 0; a < m->na; a++) {
    uint32_t s = slot_of(&m->histT, m->ahash[a]);
    m->histT.keys[s] = m->ahash[a];
    m->histT.vals[s] = k * PAGE + m->apos[a];
  }
  return NULL;
}

napi_value subpage_init(napi_env env, napi_value exports) {
  gear_init();
  const struct { const char* name; napi_callback cb; } fns[] = {{"matcherCreate", Create}, {"matcherMatch", Match}, {"matcherRemember", Remember}};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value fn;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &fn);
    napi_set_named_property(env, exports, fns[i].name, fn);
  }
  return exports;
}
