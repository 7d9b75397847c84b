/**
 * The native sub-page matcher (native/src/subpage.c behind SubPageMatcher) against its executable
 * specification, the TypeScript matcher it replaced (test/helpers/subpage-reference.ts): the same
 * pages, slot by slot, must give the same return value, segments and bytes covered per source.
 *
 * One deterministic world (seeded) serves every configuration:
 *   - a context of a few MiB (random, text lines that repeat, x86-like code, repeated earlier
 *     ranges, runs of equal bytes — of bytes whose constant windows are anchors, too), a view into a
 *     larger buffer so bytes exist on both sides of it;
 *   - baseline frames (random, text, code, context copies, zero, runs), anchors indexed as
 *     src/codec/baseline.ts does, readFrame() false for some frames and for frames out of range;
 *   - an image laid out like a save image (page slots after 8-byte headers, sometimes longer
 *     section headers, so no slot is 4096-aligned), mapped as windows the way encode.ts maps it
 *     (each window a separate buffer also holding the page that starts at its end), so slots
 *     straddle window ends;
 *   - page kinds aimed at every path of the matcher: copies of context ranges at unaligned offsets
 *     (touching the context's start and end, the page's start and end), of earlier slots (also
 *     across a slot's end into the next header and slot, and across its start), of baseline frames
 *     (also across two frames), same-frame pages with a few edits (delta taken) or many (delta
 *     below half, fallback), exactly around the half-page threshold and around minBaseRun, matches
 *     shorter than minMatch, hash-colliding windows (equal hash, different bytes), runs of equal
 *     bytes, zero pages, random pages, pages of many short pieces (more than maxProbes candidates).
 * The reference counts the branches it ran, so the test fails if some path was never exercised.
 */
import test from 'ava';
import { AnchorTable, anchors, WINDOW } from '../../../src/codec/fingerprint.js';
import { buildContextAnchors, PAGE, Src, SubPageMatcher, TUNING, type MappedImage, type SubPageSources } from '../../../src/codec/subpage.js';
import { isZeroPage } from '../../../src/mem/physical-memory.js';
import { ReferenceMatcher, type ReferencePaths } from '../../helpers/subpage-reference.js';
import { fillCode, putWords, Rng } from '../../helpers/windows7-content.js';

const P = PAGE;
const CTX_LEN = 3 * 2 ** 20 + 4321;
/** Bytes of the surrounding buffer before and after the context (not part of it). */
const CTX_PRE = 37;
const CTX_POST = 4096 + 61;
const FRAMES = 720;
const SLOTS = 640;

/** The hash of the 32-byte window at buf[off] (anchors() at rate 1: every position is an anchor). */
const pos1 = new Int32Array(1);
const hash1 = new Uint32Array(1);
function windowHash(buf: Uint8Array, off: number): number {
  anchors(buf, off, WINDOW, 0, pos1, hash1);
  return hash1[0];
}

/** Anchors of buf[off, off+len) as [position relative to off, hash] pairs. */
const apos = new Int32Array(1 << 16);
const ahash = new Uint32Array(1 << 16);
function anchorList(buf: Uint8Array, off: number, len: number, bits: number): [number, number][] {
  const n = anchors(buf, off, len, bits, apos, ahash);
  return Array.from({ length: n }, (_, i) => [apos[i], ahash[i]]);
}

/** Bytes whose constant runs are anchors (every window of the run has the same hash). */
function anchoringBytes(bits: number): number[] {
  const out: number[] = [];
  for (let c = 0; c < 256; c++) if (anchorList(Buffer.alloc(64, c), 0, 64, bits).length > 0) out.push(c);
  return out;
}

function fillText(rng: Rng, out: Buffer, off: number, len: number, vocab: string[], lines: string[]): void {
  const end = off + len;
  let i = off;
  while (i < end) {
    let line: string;
    if (lines.length > 0 && rng.chance(0.35)) line = rng.pick(lines);
    else {
      const words = Array.from({ length: rng.range(2, 12) }, () => rng.pick(vocab));
      line = rng.chance(0.3) ? `${words[0]}=${words.slice(1).join(',')};\n` : `${words.join(' ')}\n`;
      if (lines.length < 400) lines.push(line);
      else lines[rng.int(400)] = line;
    }
    i += out.write(line, i, Math.min(line.length, end - i), 'latin1');
  }
}

interface World {
  big: Buffer;
  ctx: Buffer;
  ctxTable: AnchorTable;
  frames: Buffer;
  frameCtx: Int32Array;
  baseTable: AnchorTable;
  readable: (f: number) => boolean;
  readFrame: (f: number, out: Buffer) => boolean;
  file: Buffer;
  fileOffset: Float64Array;
  kind: string[];
  /** The same-frame baseline frame passed with slot k, or -1. */
  same: Int32Array;
  /** The frame argument passed with slot k (undefined: the default). */
  frame: (number | undefined)[];
  anchorBytes: number[];
}

const KINDS = [
  'random', 'zero', 'run', 'ctx-pieces', 'ctx-page', 'ctx-start', 'ctx-end', 'ctx-run', 'hist-pieces', 'hist-edge',
  'hist-dup', 'same-minor', 'same-major', 'same-threshold', 'base-pieces', 'base-edge', 'short', 'collision',
  'many-probes', 'overlap', 'ctx-tail', 'end-tie', 'mixed',
] as const;
type Kind = (typeof KINDS)[number];

function buildWorld(seed: number): World {
  const rng = new Rng(seed);
  const anchorBytes = anchoringBytes(TUNING.historyAnchorBits);
  const vocab = Array.from({ length: 300 }, () => {
    const n = rng.range(2, 10);
    let w = '';
    for (let i = 0; i < n; i++) w += String.fromCharCode(97 + rng.int(26));
    return w;
  });
  const lines: string[] = [];

  // ---- context ----
  const big = Buffer.alloc(CTX_PRE + CTX_LEN + CTX_POST);
  rng.fill(big);
  const ctx = big.subarray(CTX_PRE, CTX_PRE + CTX_LEN);
  // The first and last 4 KiB stay random (unique: copies touching the ends match there).
  let at = 4096;
  // Runs of each anchoring byte, short and longer than a page, early (first occurrences).
  for (const c of anchorBytes) {
    for (const len of [150, 5000]) {
      ctx.fill(c, at, at + len);
      at += len;
      fillText(rng, ctx, at, 300, vocab, lines);
      at += 300;
    }
  }
  while (at < CTX_LEN - 4096) {
    const len = Math.min(CTX_LEN - 4096 - at, rng.range(64, 12000));
    const r = rng.int(100);
    if (r < 25) {
      // random: already
    } else if (r < 50) fillText(rng, ctx, at, len, vocab, lines);
    else if (r < 65) fillCode(rng, ctx, at, len);
    else if (r < 72) putWords(rng, ctx, at, at + len - (len & 1), rng.range(1, 200));
    else if (r < 90 && at > len + 4096) {
      const from = 4096 + rng.int(at - len - 4096);
      ctx.copyWithin(at, from, from + len);
    } else {
      const c = rng.chance(0.3) ? 0 : rng.chance(0.5) ? rng.pick(anchorBytes) : rng.int(256);
      ctx.fill(c, at, at + Math.min(len, 6000));
      at += Math.min(len, 6000);
      continue;
    }
    at += len;
  }
  const ctxTable = buildContextAnchors(ctx);

  // ---- baseline ----
  const frames = Buffer.alloc(FRAMES * P);
  const frameCtx = new Int32Array(FRAMES).fill(-1);
  const tailFrames: number[] = [];
  for (let f = 0; f < FRAMES; f++) {
    const o = f * P;
    const r = rng.int(100);
    if (r < 20) rng.fill(frames, o, P);
    else if (r < 35) fillText(rng, frames, o, P, vocab, lines);
    else if (r < 45) fillCode(rng, frames, o, P);
    else if (r < 70) {
      const s = 4096 + rng.int(CTX_LEN - 3 * P);
      ctx.copy(frames, o, s, s + P);
      frameCtx[f] = s;
    } else if (r < 78) {
      // zero: not indexed
    } else if (r < 86) {
      const c = rng.pick(anchorBytes);
      const n = rng.range(100, P);
      frames.fill(c, o, o + n);
      rng.fill(frames, o + n, P - n);
    } else if (r < 93) {
      // A few random bytes, then the context to the frame's end (see 'end-tie').
      const n = rng.range(1, 24);
      rng.fill(frames, o, n);
      const s = rng.int(CTX_LEN - P);
      ctx.copy(frames, o + n, s, s + P - n);
      tailFrames.push(f);
    } else {
      const s = rng.int(CTX_LEN - P);
      const n = rng.range(200, P - 200);
      ctx.copy(frames, o, s, s + n);
      rng.fill(frames, o + n, P - n);
    }
  }
  // Anchors like openBaseline() builds them (zero pages skipped, newest wins), in a table small
  // enough that some slots are overwritten.
  const baseTable = new AnchorTable(1 << 19);
  for (let f = 0; f < FRAMES; f++) {
    if (isZeroPage(frames, f * P)) continue;
    for (const [p, h] of anchorList(frames, f * P, P, TUNING.baselineAnchorBits)) baseTable.put(h, f * P + p);
  }
  const readable = (f: number) => Number.isInteger(f) && f >= 0 && f < FRAMES && f % 29 !== 3;
  const readFrame = (f: number, out: Buffer): boolean => {
    if (!readable(f)) {
      // What a failed read leaves behind must never be matched against: garbage, or (for half of
      // the unreadable frames) the frame's very bytes, so a matcher that probed it would show.
      if (f >= 0 && f < FRAMES && f % 2) frames.copy(out, 0, f * P, f * P + P);
      else out.fill(0xee);
      return false;
    }
    frames.copy(out, 0, f * P, f * P + P);
    return true;
  };

  // ---- image layout: a file header, then slots after 8-byte headers (sometimes longer) ----
  const fileOffset = new Float64Array(SLOTS);
  let off = 1000 + rng.int(300);
  for (let k = 0; k < SLOTS; k++) {
    off += rng.chance(0.9) ? 8 : rng.range(9, 400);
    fileOffset[k] = off;
    off += P;
  }
  const file = Buffer.alloc(off + 123);
  rng.fill(file);
  for (let k = 0; k < SLOTS; k++) file.writeBigUInt64BE(BigInt(k * P + 8), fileOffset[k] - 8);

  // ---- pages ----
  const kind: string[] = [];
  const same = new Int32Array(SLOTS).fill(-1);
  const frame: (number | undefined)[] = [];
  const order: Kind[] = [];
  let lastTail = -1;
  const slot = (j: number) => file.subarray(fileOffset[j], fileOffset[j] + P);
  const readableFrame = (nonZero = true): number => {
    for (;;) {
      const f = rng.int(FRAMES);
      if (readable(f) && (!nonZero || !isZeroPage(frames, f * P))) return f;
    }
  };
  const anyFrame = () => (rng.chance(0.15) ? 3 + 29 * rng.int(Math.floor(FRAMES / 29)) : rng.int(FRAMES));
  const ctxPiece = (len: number) => {
    const s = rng.int(CTX_LEN - len + 1);
    return ctx.subarray(s, s + len);
  };
  /** An earlier slot (recent ones more often: their anchors are still in a small history table). */
  const pickSlot = (k: number) => k - 1 - (rng.chance(0.6) ? rng.int(Math.min(k, 6)) : rng.int(k));
  const histPiece = (k: number, len: number) => {
    const j = pickSlot(k);
    const o = rng.int(P - len + 1);
    return file.subarray(fileOffset[j] + o, fileOffset[j] + o + len);
  };
  const basePiece = (len: number) => {
    const f = anyFrame();
    const o = rng.int(P - len + 1);
    return frames.subarray(f * P + o, f * P + o + len);
  };
  /** buf[p − before, p + WINDOW + after) around an anchor p of a source that its table holds. */
  const anchorPiece = (src: 'ctx' | 'hist' | 'base', k: number, before: number, after: number): { buf: Buffer; p: number } => {
    for (let tries = 0; ; tries++) {
      let buf: Buffer;
      let lo: number;
      let hi: number;
      let list: [number, number][];
      let holds: (p: number, h: number) => boolean;
      if (src === 'ctx') {
        buf = ctx;
        lo = rng.int(CTX_LEN - P);
        hi = lo + P;
        list = anchorList(ctx, lo, P, TUNING.contextAnchorBits);
        holds = (p, h) => ctxTable.get(h) === lo + p;
      } else if (src === 'base') {
        const f = anyFrame();
        buf = frames;
        lo = f * P;
        hi = lo + P;
        list = anchorList(frames, lo, P, TUNING.baselineAnchorBits);
        holds = (p, h) => baseTable.get(h) === lo + p;
      } else {
        // The last two slots (their anchors are the newest), any earlier one when those have none.
        const j = k - 1 - rng.int(Math.min(k, tries < 8 ? 2 : k));
        buf = file;
        lo = fileOffset[j];
        hi = lo + P;
        list = anchorList(file, lo, P, TUNING.historyAnchorBits);
        holds = () => true;
      }
      const ok = list.filter(([p, h]) => holds(p, h) && p >= before && lo + p + WINDOW + after <= hi);
      if (ok.length === 0) continue;
      const p = lo + rng.pick(ok)[0];
      return { buf: buf.subarray(p - before, p + WINDOW + after), p: before };
    }
  };

  for (let k = 0; k < SLOTS; k++) {
    if (order.length === 0) {
      const round = KINDS.slice();
      for (let i = round.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [round[i], round[j]] = [round[j], round[i]];
      }
      order.push(...round);
    }
    // The first slots have little history: context pieces and random pages.
    const kd: Kind = k < 4 ? (k % 2 ? 'ctx-pieces' : 'random') : order.shift()!;
    kind.push(kd);
    frame.push(rng.chance(0.1) ? undefined : rng.int(1 << 20));
    if (rng.chance(0.25)) same[k] = readableFrame(); // an unrelated same-frame page: the delta falls back
    const pg = Buffer.alloc(P);
    let w = 0;
    const put = (b: Uint8Array) => {
      const n = Math.min(b.length, P - w);
      pg.set(b.subarray(0, n), w);
      w += n;
    };
    const rand = (n: number) => {
      n = Math.min(n, P - w);
      rng.fill(pg, w, n);
      w += n;
    };
    const run = (n: number, c: number) => {
      n = Math.min(n, P - w);
      pg.fill(c, w, w + n);
      w += n;
    };
    /** One to three pieces of a source, with random bytes before each (not always before the first). */
    const pieces = (piece: (len: number) => Uint8Array) => {
      for (let n = rng.range(1, 4); n > 0 && w < P; n--) {
        if (w > 0 || rng.chance(0.7)) rand(rng.range(0, 300));
        put(piece(rng.range(40, 3000)));
      }
    };
    switch (kd) {
      case 'random':
        break;
      case 'zero':
        w = P;
        break;
      case 'run': {
        const c = rng.chance(0.5) ? rng.pick(anchorBytes) : rng.int(256);
        if (rng.chance(0.4)) run(P, c);
        else {
          rand(rng.range(0, 2000));
          run(rng.range(20, 3000), c);
        }
        break;
      }
      case 'ctx-pieces':
        pieces(ctxPiece);
        break;
      case 'ctx-page': {
        const s = 1 + 2 * rng.int((CTX_LEN - P - 1) >> 1); // odd: unaligned
        put(ctx.subarray(s, s + P));
        break;
      }
      case 'ctx-start': {
        // Bytes before the context (in the surrounding buffer), then its start.
        const before = rng.chance(0.3) ? 0 : rng.range(1, CTX_PRE);
        if (before === 0 && rng.chance(0.5)) {
          put(ctx.subarray(0, rng.range(40, P)));
        } else {
          rand(rng.range(before === 0 ? 1 : 0, 500));
          put(big.subarray(CTX_PRE - before, CTX_PRE + rng.range(40, 3000)));
        }
        break;
      }
      case 'ctx-end': {
        const L = rng.range(40, 3000);
        if (rng.chance(0.4)) {
          // The context's last bytes at the page's end.
          rand(P - L);
          put(ctx.subarray(CTX_LEN - L));
        } else {
          // Its end, then the bytes after it in the surrounding buffer.
          rand(rng.range(0, 500));
          put(big.subarray(CTX_PRE + CTX_LEN - L, CTX_PRE + CTX_LEN + rng.range(1, 1000)));
        }
        break;
      }
      case 'ctx-run': {
        const c = rng.pick(anchorBytes);
        const r = rng.int(3);
        if (r === 0) run(P, c);
        else if (r === 1) {
          rand(rng.range(0, 100));
          run(rng.range(100, 400), c);
        } else
          for (let n = 0; n < 8; n++) {
            rand(rng.range(0, 60));
            run(rng.range(40, 200), rng.pick(anchorBytes));
          }
        break;
      }
      case 'hist-pieces':
        for (let n = rng.range(1, 4); n > 0 && w < P; n--) {
          if (w > 0 || rng.chance(0.7)) rand(rng.range(0, 300));
          put(histPiece(k, rng.range(40, 3000)));
        }
        break;
      case 'hist-edge': {
        const j = rng.int(k - 1); // j + 1 < k: the next slot is history too
        rand(rng.range(0, 400));
        if (rng.chance(0.5)) {
          // A slot's end, the next header and the next slot's start.
          const e = fileOffset[j] + P;
          put(file.subarray(e - rng.range(40, 2500), e + rng.range(1, 2000)));
        } else {
          // Bytes before a slot (its header, the previous slot's end), then its start.
          const s = fileOffset[j];
          put(file.subarray(s - rng.range(1, 300), s + rng.range(40, 3000)));
        }
        break;
      }
      case 'hist-dup': {
        const j = pickSlot(k);
        const s = fileOffset[j] + (rng.chance(0.3) ? 0 : rng.range(-300, 300));
        put(file.subarray(s, s + P));
        break;
      }
      case 'same-minor': {
        const f = readableFrame();
        frames.copy(pg, 0, f * P, f * P + P);
        for (let n = rng.range(1, 12); n > 0; n--) pg[rng.int(P)] ^= 1 + rng.int(255);
        if (rng.chance(0.3)) rng.fill(pg, rng.int(P - 64), 64);
        w = P;
        same[k] = f;
        frame[k] = f;
        break;
      }
      case 'same-major': {
        const f = readableFrame();
        frames.copy(pg, 0, f * P, f * P + P);
        // Equal runs of step − 1 bytes: 4, 10, 11 (below minBaseRun: nothing) or 12 (covered).
        const step = rng.pick([5, 11, 12, 13]);
        for (let i = rng.int(step); i < P; i += step) pg[i] ^= 1 + rng.int(255);
        if (rng.chance(0.5)) {
          const b = ctxPiece(rng.range(100, 1500));
          b.copy(pg, rng.int(P - b.length));
        }
        w = P;
        same[k] = f;
        frame[k] = f;
        break;
      }
      case 'same-threshold': {
        const f = readableFrame();
        frames.copy(pg, 0, f * P, f * P + P);
        // Exactly `eq` equal bytes (at the start, the end, or in two runs), every other byte differs.
        const eq = rng.pick([2047, 2048, 2049, P / 2 - 11, P / 2 + 12]);
        const r = rng.int(3);
        const equal = (i: number) => (r === 0 ? i < eq : r === 1 ? i >= P - eq : i < eq - 11 || (i >= 3000 && i < 3011));
        for (let i = 0; i < P; i++) if (!equal(i)) pg[i] ^= 1 + rng.int(255);
        w = P;
        same[k] = f;
        frame[k] = rng.chance(0.2) ? undefined : f;
        break;
      }
      case 'base-pieces':
        pieces(basePiece);
        break;
      case 'base-edge': {
        // The end of frame f and the start of frame f + 1 (adjacent in the baseline cache too).
        let f = readableFrame();
        while (f + 1 >= FRAMES || !readable(f + 1)) f = readableFrame();
        rand(rng.range(0, 400));
        const e = (f + 1) * P;
        put(frames.subarray(e - rng.range(40, 2500), e + rng.range(1, 2000)));
        break;
      }
      case 'short':
        // Matches of WINDOW..minMatch−1 bytes: verified, then dropped.
        for (let n = rng.range(2, 8); n > 0 && w < P - 200; n--) {
          rand(rng.range(1, 200));
          const x = rng.int(TUNING.minMatch - WINDOW);
          put(anchorPiece(rng.pick(['ctx', 'hist', 'base'] as const), k, x, rng.int(TUNING.minMatch - WINDOW - x)).buf);
        }
        break;
      case 'collision':
        // A window with the hash of a source's anchor but different bytes: rejected after d < WINDOW bytes.
        for (let n = rng.range(2, 8); n > 0 && w < P - 300; n--) {
          rand(rng.range(1, 200));
          const { buf } = anchorPiece(rng.pick(['ctx', 'hist', 'base'] as const), k, 0, rng.range(0, 200));
          const b = Buffer.from(buf);
          const h = windowHash(b, 0);
          let done = false;
          for (const d of [rng.int(6), 0]) {
            const orig = b[d];
            for (let c = 1; c < 256 && !done; c++) {
              b[d] = orig ^ c;
              done = windowHash(b, 0) === h;
            }
            if (done) break;
            b[d] = orig;
          }
          put(b);
        }
        break;
      case 'many-probes':
        while (w < P - 100) {
          rand(rng.range(0, 12));
          put(anchorPiece(rng.pick(['ctx', 'hist', 'base'] as const), k, rng.range(0, 20), rng.range(8, 60)).buf);
        }
        break;
      case 'overlap': {
        // Content in the context, a baseline frame copied from it, and (after a few) earlier slots.
        let f = rng.int(16);
        while (frameCtx[f] < 0) f++;
        const s = Math.max(0, Math.min(CTX_LEN - P, frameCtx[f] + rng.range(-600, 600)));
        put(ctx.subarray(s, s + P));
        break;
      }
      case 'ctx-tail':
        // A few random bytes (often no anchor among them), then the context to the page's end.
        rand(rng.range(1, 24));
        put(ctxPiece(P - w));
        lastTail = k;
        break;
      case 'end-tie':
        // A copy of a 'ctx-tail' slot or of such a baseline frame: the context's candidate reaches the
        // page's end, so history and baseline are not looked up, though they would reach further back.
        if (rng.chance(0.5) && tailFrames.length > 0) put(frames.subarray(rng.pick(tailFrames) * P).subarray(0, P));
        else if (lastTail >= 0) put(slot(lastTail));
        else {
          rand(rng.range(1, 24));
          put(ctxPiece(P - w));
          lastTail = k;
        }
        break;
      case 'mixed':
        while (w < P) {
          const r = rng.int(7);
          const len = rng.range(20, 900);
          if (r === 0) rand(len);
          else if (r === 1) put(ctxPiece(len));
          else if (r === 2 && k > 0) put(histPiece(k, Math.min(len, P)));
          else if (r === 3) put(basePiece(len));
          else if (r === 4) run(len, rng.chance(0.5) ? 0 : rng.pick(anchorBytes));
          else if (r === 5) put(anchorPiece(rng.pick(['ctx', 'hist', 'base'] as const), k, rng.range(0, 8), rng.range(0, 8)).buf);
          else rand(rng.range(1, 8));
        }
        break;
    }
    rand(P - w);
    pg.copy(file, fileOffset[k]);
  }
  return { big, ctx, ctxTable, frames, frameCtx, baseTable, readable, readFrame, file, fileOffset, kind, same, frame, anchorBytes };
}

/** The file mapped as encode.ts maps it: window-sized windows, each also holding the page at its end, each its own buffer. */
function mapped(world: World, window: number): MappedImage {
  const windows: Buffer[] = [];
  for (let start = 0; start < world.file.length; start += window) {
    windows.push(Buffer.from(world.file.subarray(start, Math.min(world.file.length, start + window + P))));
  }
  return { windows, window, fileOffset: world.fileOffset };
}

/** Slot k's bytes: a view of its window (as encode.ts's slotBytes). */
function slotBytes(img: MappedImage, k: number): Buffer {
  const off = img.fileOffset[k];
  const w = Math.floor(off / img.window);
  const at = off - w * img.window;
  return img.windows[w].subarray(at, at + P);
}

interface Config {
  name: string;
  sources: (w: World) => SubPageSources;
  /** Pass the same-frame baseline pages. */
  same: boolean;
  /** Sources whose segments must appear (and only those). */
  expect: number[];
}

const BASELINE = (w: World) => ({ anchors: w.baseTable, readFrame: w.readFrame });
const CONFIGS: Config[] = [
  {
    name: 'context, history and baseline',
    sources: (w) => ({ context: w.ctx, historyBudget: 1 << 22, image: mapped(w, 1 << 18), baseline: BASELINE(w) }),
    same: true,
    expect: [Src.CONTEXT, Src.HISTORY, Src.BASELINE, Src.BASELINE_AT],
  },
  {
    name: 'context (its table given), a small history table, baseline, 2 windows',
    sources: (w) => ({ context: w.ctx, contextTable: w.ctxTable, historyBudget: 12 * 1024, image: mapped(w, Math.ceil(w.file.length / 2)), baseline: BASELINE(w) }),
    same: true,
    expect: [Src.CONTEXT, Src.HISTORY, Src.BASELINE, Src.BASELINE_AT],
  },
  {
    name: 'context only',
    sources: (w) => ({ context: w.ctx, contextTable: w.ctxTable, historyBudget: 0, image: mapped(w, 1 << 18) }),
    same: false,
    expect: [Src.CONTEXT],
  },
  {
    name: 'history only',
    sources: (w) => ({ historyBudget: 1 << 20, image: mapped(w, 100_000) }),
    same: false,
    expect: [Src.HISTORY],
  },
  {
    name: 'baseline only',
    sources: (w) => ({ historyBudget: 0, baseline: BASELINE(w) }),
    same: true,
    expect: [Src.BASELINE, Src.BASELINE_AT],
  },
  {
    name: 'same-frame pages only (a baseline without anchors)',
    sources: () => ({ historyBudget: 0 }),
    same: true,
    expect: [Src.BASELINE],
  },
  {
    name: 'none (a context shorter than a window, a history budget without an image)',
    sources: (w) => ({ context: w.ctx.subarray(0, WINDOW - 1), historyBudget: 1 << 20 }),
    same: false,
    expect: [],
  },
];

const SRC_NAMES = ['context', 'history', 'baseline', 'baseline-at'];

function segments(m: { nseg: number; segLit: Int32Array; segLen: Int32Array; segSrc: Uint8Array; segOff: Float64Array }): string {
  const out: string[] = [];
  for (let s = 0; s < m.nseg; s++) out.push(`lit ${m.segLit[s]} + ${m.segLen[s]}@${SRC_NAMES[m.segSrc[s]]}:${m.segOff[s]}`);
  return out.join(', ');
}

let world: World | undefined;
const getWorld = () => (world ??= buildWorld(0x5eb9a9e));
const allPaths: ReferencePaths[] = [];

for (const cfg of CONFIGS) {
  test.serial(`native matcher = reference matcher: ${cfg.name}`, (t) => {
    const w = getWorld();
    const src = cfg.sources(w);
    const ref = new ReferenceMatcher(src);
    const nat = new SubPageMatcher(src);
    t.deepEqual(nat.indexBytes, ref.indexBytes);
    const segs = [0, 0, 0, 0];
    const bytes = [0, 0, 0, 0];
    let total = 0;
    let taken = 0;
    const mismatches: string[] = [];
    let differ = 0;
    for (let k = 0; k < SLOTS; k++) {
      const page = src.image ? slotBytes(src.image, k) : w.file.subarray(w.fileOffset[k], w.fileOffset[k] + P);
      const f = w.same[k];
      // A view into the frames (or a copy of one), as the encoder's sameFrame buffer.
      const same = cfg.same && f >= 0 ? (k % 3 ? w.frames.subarray(f * P, f * P + P) : Buffer.from(w.frames.subarray(f * P, f * P + P))) : undefined;
      const fr = w.frame[k];
      const r1 = ref.match(page, k, same, fr);
      const r2 = nat.match(page, same, fr);
      let equal = r1 === r2 && ref.nseg === nat.nseg;
      for (let s = 0; equal && s < ref.nseg; s++) {
        equal = ref.segLit[s] === nat.segLit[s] && ref.segLen[s] === nat.segLen[s] && ref.segSrc[s] === nat.segSrc[s] && ref.segOff[s] === nat.segOff[s];
      }
      for (let s = 0; equal && s < 3; s++) equal = ref.covered[s] === nat.covered[s];
      if (!equal && differ++ < 5) {
        mismatches.push(
          `slot ${k} (${w.kind[k]}, sameFrame ${same ? f : 'none'}, frame ${fr}, file offset ${w.fileOffset[k]}):\n` +
            `  reference → ${r1}, covered ${ref.covered.join('/')}, ${ref.nseg} segments: ${segments(ref)}\n` +
            `  native    → ${r2}, covered ${Array.from(nat.covered).join('/')}, ${nat.nseg} segments: ${segments(nat)}`,
        );
      }
      for (let s = 0; s < ref.nseg; s++) {
        if (ref.segLen[s] > 0) {
          segs[ref.segSrc[s]]++;
          bytes[ref.segSrc[s]] += ref.segLen[s];
        }
      }
      total += ref.nseg;
      if (r1 > 0) taken++;
      ref.remember(k);
      nat.remember(k);
    }
    allPaths.push(ref.paths);
    t.log(
      `${SLOTS} pages, ${total} segments (${taken} pages with matches); match segments per source: ` +
        SRC_NAMES.map((n, i) => `${n} ${segs[i]} (${bytes[i]} B)`).join(', '),
    );
    t.is(differ, 0, `${differ} pages differ (the first ${mismatches.length}):\n${mismatches.join('\n')}`);
    // Not vacuous: each source this configuration has produced segments, the others none.
    for (let s = 0; s < 4; s++) {
      if (cfg.expect.includes(s)) t.true(segs[s] > 0, `no ${SRC_NAMES[s]} segments`);
      else t.is(segs[s], 0, `${SRC_NAMES[s]} segments without that source`);
    }
    if (cfg.expect.length === 0) t.is(total, SLOTS, 'one literal segment per page');
  });
}

test.serial('the reference ran every path of the matcher (the comparisons above are not vacuous)', (t) => {
  t.is(allPaths.length, CONFIGS.length);
  const sum = (get: (p: ReferencePaths) => number) => allPaths.reduce((a, p) => a + get(p), 0);
  const checks: [string, number][] = [
    ['probes', sum((p) => p.probes)],
    ['maxProbes reached with anchors left', sum((p) => p.probeCapped)],
    ['anchors inside covered bytes', sum((p) => p.anchorCovered)],
    ['not strictly longer', sum((p) => p.notLonger)],
    ['a later source longer', sum((p) => p.replaced)],
    ['matches shorter than minMatch', sum((p) => p.short)],
    ['lookups skipped at the page end', sum((p) => p.endSkip)],
    ['forwards to the page end', sum((p) => p.fwdPageEnd)],
    ['backwards to the covered bytes', sum((p) => p.bwdCovered)],
    ['same-frame delta taken', sum((p) => p.deltaTaken)],
    ['same-frame delta below half', sum((p) => p.deltaFallback)],
    ['baseline cache hits', sum((p) => p.cacheHit)],
    ['baseline cache misses', sum((p) => p.cacheMiss)],
    ['readFrame false', sum((p) => p.readFalse)],
    ['baseline cache evictions', sum((p) => p.cacheEvict)],
  ];
  for (const s of [Src.CONTEXT, Src.HISTORY, Src.BASELINE_AT]) {
    checks.push([`hash collisions (${SRC_NAMES[s]})`, sum((p) => p.collision[s])]);
    checks.push([`forwards to the source's end (${SRC_NAMES[s]})`, sum((p) => p.fwdSourceEnd[s])]);
    checks.push([`backwards to the source's start (${SRC_NAMES[s]})`, sum((p) => p.bwdSourceStart[s])]);
  }
  t.log(checks.map(([n, v]) => `${n}: ${v}`).join('; '));
  for (const [n, v] of checks) t.true(v > 0, `never: ${n}`);
  // Slots straddling a window end were matched against (history segments from them).
  const w = getWorld();
  const img = mapped(w, 1 << 18);
  let straddle = 0;
  for (let k = 0; k < SLOTS; k++) if ((w.fileOffset[k] % img.window) + P > img.window) straddle++;
  t.true(straddle > 0, 'some slots straddle a window end');
});
