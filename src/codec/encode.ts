/**
 * Encoder: image → .mig. Walks the image front to back as verbatim bytes + page slots
 * (src/image/slots.ts; the reader's parse, shared with introspection when `opened` is given) and
 * sends each slot the cheapest way it knows: zero pages and pages the page map types free as a run
 * count; pages equal to the same baseline frame, to a context page, to an earlier page of the image
 * or to any baseline page as references (every candidate from the xxh3 index verified byte for
 * byte; image, cache and standby pages try the context first); else a PATCH of sub-page matches
 * against the context, earlier pages and the baseline (subpage.ts; earlier pages are read back from
 * the file through a cache), else a literal. Structure bytes and references go to the op stream,
 * literals to the literal stream; each frame's two streams are entropy-coded on worker threads.
 */
import { WriteBehind } from '../util/write-behind.js';
import { ImageDigest } from './image-digest.js';
import type { PageSlots } from '../image/slots.js';
import * as os from 'node:os';
import { performance } from 'node:perf_hooks';
import { isZeroPage, PAGE_SIZE } from '../mem/physical-memory.js';
import { openImage } from '../image/probe.js';
import type { ByteSink, OpenedImage } from '../image/types.js';
import { RandomAccessFile, SequentialReader } from '../util/file.js';
import { encodeFrameHeader, encodeHeader, END_PAYLOAD_SIZE, Flag, FrameType, HEADER_SIZE, MAX_IMAGE_BYTES } from './container.js';
import { UnsupportedImageError } from '../util/errors.js';
import { CodecName, DEFAULT_LEVEL } from './entropy.js';
import { CodecPool, type PoolJob } from './pool.js';
import { ByteWriter, Op, zigzag } from './ops.js';
import { PageIndex, pageHash } from './page-index.js';
import { Baseline, openBaseline } from './baseline.js';
import { ContextPages, openContextPages } from './context-pages.js';
import { PAGE_TYPES, PageMap, PageTypeCode, type PageType } from '../introspect/pagemap.js';
import { pfnSpan } from '../introspect/os.js';
import { Src, SubPageMatcher, type MappedImage } from './subpage.js';
import { contextAnchorsFor, type ContextAnchors } from './context-index.js';
import { WINDOW } from './fingerprint.js';

/** The image mapped in windows of this size (each also holds the page starting at its end). */
const MAP_WINDOW = 1 << 30;

/** `file` mapped in MAP_WINDOW windows, for slots at `fileOffset`. */
function mapImage(file: RandomAccessFile, fileOffset: Float64Array): MappedImage {
  const windows: Buffer[] = [];
  for (let start = 0; start < file.size; start += MAP_WINDOW) windows.push(file.map(start, Math.min(file.size - start, MAP_WINDOW + PAGE_SIZE), 'image'));
  return { windows, window: MAP_WINDOW, fileOffset };
}

/** File offsets of the slots the encoder sends as zeros because the page map says free (ascending). */
function droppedOffsets(slots: PageSlots, pageMap: PageMap | undefined, dropFree: boolean): Float64Array {
  if (!dropFree || !pageMap) return new Float64Array(0);
  const out: number[] = [];
  for (let k = 0; k < slots.count; k++) {
    const pfn = slots.pfn[k];
    if (pfn >= 0 && pfn < pageMap.types.length && pageMap.types[pfn] === PageTypeCode.free) out.push(slots.fileOffset[k]);
  }
  return Float64Array.from(out);
}

/** Slot k's 4096 bytes, a view of the mapping. */
function slotBytes(img: MappedImage, k: number): Buffer {
  const off = img.fileOffset[k];
  const w = Math.floor(off / img.window);
  const at = off - w * img.window;
  return img.windows[w].subarray(at, at + PAGE_SIZE);
}

/** A page is sent as PATCH when sub-page matches cover at least this many of its bytes. */
const MIN_PATCH = 64;

export interface EncodeOptions {
  codec?: CodecName;
  level?: number;
  /**
   * Asked before each frame is coded: the entropy level for it (mig migrate --level auto: the effort
   * that keeps the encoder just ahead of the link). Out-of-range answers are clamped to the codec's
   * levels. Frames are coded independently, so the decoder needs no word of it.
   */
  levelSource?: () => number;
  /** Previous image of the same VM (or a blank VM) that the decoder will also have. */
  baseline?: string;
  /** The baseline's SHA-256 when the caller knows it (the baseline store): not hashed again. */
  baselineDigest?: Buffer;
  /** A CTX file built from the guest's disk (mig context build) that the decoder will also have. */
  context?: string;
  /** Raw bytes per frame (default 4 MiB). */
  frameRaw?: number;
  /** Worker threads for the entropy stage (default: the number of CPUs); output is identical for any value. */
  threads?: number;
  /** Sub-page matching against context, earlier pages and the same baseline frame (default true). */
  subpage?: boolean;
  /** Bytes for the whole-image history index (default 5 % of the image, at least 1 MiB). */
  historyBudget?: number;
  /** Page types per PFN from introspection (or a caller); enables dropping free pages. */
  pageMap?: PageMap;
  /** A page map file (`start_pfn count type` lines) to read instead of `pageMap`, bounded by the image's page frames (read once the image is open). */
  pageMapFile?: string;
  /** With a page map: 'drop' (default) sends free pages as zero pages; 'keep' sends them. */
  freePages?: 'drop' | 'keep';
  /** Called with the image file offset of every non-zero page dropped as free (the decoded image has zeros there). */
  onFreeDropped?: (fileOffset: number) => void;
  onProgress?: (bytesRead: number, imageBytes: number) => void;
  /**
   * Called with every run of bytes that goes to the literal stream (a whole LIT page, or a PATCH's
   * literal run) and the page type of its slot (a PAGE_TYPES index; 0 without a page map): where the
   * residue comes from (bench/mig-codec.ts). The bytes are only valid during the call.
   */
  onLiteral?: (typeCode: number, bytes: Uint8Array) => void;
  /** Baseline and context opened ahead by prepareSources (instead of `baseline`/`context`); encodeImage closes them. */
  prepared?: PreparedSources;
  /** `path` already opened (by introspection): used instead of parsing the file again; encodeImage closes it. */
  opened?: OpenedImage;
}

/** The baseline and context with their indexes built. */
export interface PreparedSources {
  base?: Baseline;
  ctx?: ContextPages;
  /** The context's sub-page anchor table (from its `.anchors` cache file, or built). */
  ctxAnchors?: ContextAnchors;
}

/** Each sub-page index (history, baseline anchors) gets 5 % of the image, at least 1 MiB. */
const indexBudgetFor = (imageBytes: number) => Math.max(1 << 20, Math.floor(imageBytes * 0.05));

/**
 * Open and index the baseline and context before the image exists (mig migrate does this while
 * libvirt is still saving): the index budget is sized for `expectedImageBytes` (the baseline's size is
 * a good guess: the same VM). Indexing a baseline reads and hashes all of it, the longest part of a
 * repeated migration's encode.
 */
export function prepareSources(opts: Pick<EncodeOptions, 'baseline' | 'baselineDigest' | 'context' | 'subpage'>, expectedImageBytes: number): PreparedSources {
  const indexBudget = indexBudgetFor(expectedImageBytes);
  const base = opts.baseline ? openBaseline(opts.baseline, true, opts.subpage === false ? 0 : indexBudget, opts.baselineDigest) : undefined;
  try {
    const ctx = opts.context ? openContextPages(opts.context, { inMemory: opts.subpage !== false }) : undefined;
    const ctxAnchors = ctx?.content && ctx.content.length >= WINDOW ? contextAnchorsFor(ctx.path, ctx.digest, ctx.content) : undefined;
    return { base, ctx, ctxAnchors };
  } catch (e) {
    base?.close();
    throw e;
  }
}

export interface TechniqueStats {
  pages: number;
  bytesIn: number;
  bytesOut: number;
}

export interface EncodeSummary {
  image: string;
  format: string;
  imageBytes: number;
  outputBytes: number;
  ratio: number;
  slots: number;
  frames: number;
  seconds: number;
  /** bytesOut of zero/dup/baseline is their share of the coded op stream (estimated per op); literal and structure are measured. */
  /** Non-zero pages the page map marks free, not sent (they decode as zeros). */
  freePagesDropped: number;
  techniques: { zero: TechniqueStats; free: TechniqueStats; duplicate: TechniqueStats; baseline: TechniqueStats; context: TechniqueStats; history: TechniqueStats; literal: TechniqueStats; structure: TechniqueStats };
  /** Memory of the sub-page indexes (bytes). */
  indexBytes: { context: number; history: number };
  /** Where the context's anchor table came from: its cache file beside the CTX, or built now. */
  contextIndex?: 'cache' | 'built';
  /** SHA-256 of the image the decoder will write (free pages dropped are zeros in it), hex. */
  sha256: string;
  /**
   * With a page map: pages of each type present, by how they were sent (a PATCH page counts under
   * the source that covered most of it, or literal when none covered more than its literal bytes).
   */
  byType?: Partial<Record<PageType, Partial<Record<TechniqueName, number>>>>;
  /** Frames coded at each entropy level (one level unless a levelSource changed it). */
  levels: Record<number, number>;
}

/**
 * Page types whose bytes are file content (a mapped executable, a page-cache or mapped-file page, a
 * Windows standby page): with a context, they try it before the whole-image duplicate index and the
 * baseline's hash index (the same-frame baseline check still comes first: it costs one compare).
 * The order only decides which of several equal references is sent; the decoder never sees types.
 */
const CONTEXT_FIRST = new Uint8Array(PAGE_TYPES.length);
for (const t of ['image', 'cache', 'standby'] as const) CONTEXT_FIRST[PageTypeCode[t]] = 1;

/** How each page was sent, per page type (only with a page map). */
export type TechniqueName = 'zero' | 'free' | 'duplicate' | 'baseline' | 'context' | 'history' | 'literal';
const TECHNIQUE_NAMES: TechniqueName[] = ['zero', 'free', 'duplicate', 'baseline', 'context', 'history', 'literal'];

type OpKind = 'zero' | 'duplicate' | 'baseline' | 'context' | 'history' | 'structure';
const OP_KINDS: OpKind[] = ['zero', 'duplicate', 'baseline', 'context', 'history', 'structure'];
const SRC_KIND: OpKind[] = ['context', 'history', 'baseline'];
const ZERO_PAGE = Buffer.alloc(PAGE_SIZE);

/** A frame may pass frameRaw by one op (a literal page) plus the 16-byte stream prefix. */
const FRAME_SLACK = 2 * PAGE_SIZE;

export function encodeImage(path: string, sink: ByteSink, opts: EncodeOptions = {}): EncodeSummary {
  const t0 = performance.now();
  const codec = opts.codec ?? 'zstd';
  const level = opts.level ?? DEFAULT_LEVEL[codec];
  const frameRaw = opts.frameRaw ?? 4 << 20;
  const threads = opts.threads ?? os.availableParallelism();
  let pageMap = opts.pageMap;
  const dropFree = (pageMap !== undefined || opts.pageMapFile !== undefined) && (opts.freePages ?? 'drop') === 'drop';
  let base: Baseline | undefined = opts.prepared?.base;
  let ctx: ContextPages | undefined = opts.prepared?.ctx;
  let ctxAnchors: ContextAnchors | undefined = opts.prepared?.ctxAnchors;
  let img: OpenedImage | undefined;
  try {
    img = opts.opened ?? openImage(path);
    if (img.fileSize > MAX_IMAGE_BYTES) throw new UnsupportedImageError(`${img.fileSize} bytes: a .mig describes images of at most ${MAX_IMAGE_BYTES} bytes (4 TiB)`, { file: path, offset: 0, field: 'image size' });
    // A page map never covers more page frames than the image's guest-physical span.
    if (pageMap === undefined && opts.pageMapFile !== undefined) pageMap = PageMap.read(opts.pageMapFile, pfnSpan(img.memory));
    const indexBudget = indexBudgetFor(img.fileSize);
    if (!opts.prepared) {
      const p = prepareSources(opts, img.fileSize);
      base = p.base;
      ctx = p.ctx;
      ctxAnchors = p.ctxAnchors;
    }
    const slots = img.pageSlots();
    const header = encodeHeader({
      sourceFormat: img.format, codec, flags: (base ? Flag.BASELINE : 0) | (ctx ? Flag.CONTEXT : 0) | (dropFree ? Flag.FREE_DROPPED : 0), pageSize: PAGE_SIZE,
      imageBytes: img.fileSize, slots: slots.count,
      contextDigest: ctx ? ctx.digest : Buffer.alloc(32), baselineDigest: base ? base.digest : Buffer.alloc(32), frameRawLimit: frameRaw + FRAME_SLACK,
    });
    sink.write(header);
    let out = HEADER_SIZE;
    const stat = (): TechniqueStats => ({ pages: 0, bytesIn: 0, bytesOut: 0 });
    const tech = { zero: stat(), free: stat(), duplicate: stat(), baseline: stat(), context: stat(), history: stat(), literal: stat(), structure: stat() };
    const ops = new ByteWriter(1 << 16);
    const lits = new ByteWriter(frameRaw + PAGE_SIZE);
    // Op-stream bytes per technique in the current frame, to share the coded op stream out fairly.
    const opBytes: Record<OpKind, number> = { zero: 0, duplicate: 0, baseline: 0, context: 0, history: 0, structure: 0 };
    let frames = 0;
    const pool = new CodecPool(codec, level, threads);
    /** Frames coded at each level. */
    const levels = new Map<number, number>();
    /** Frames submitted to the pool, written to the sink in order as they complete. */
    let payloadBuf = Buffer.allocUnsafe(frameRaw + FRAME_SLACK);
    const pending: { index: number; opsRaw: number; litRaw: number; ops: PoolJob; lits?: PoolJob; opShare: Record<OpKind, number> }[] = [];
    const complete = () => {
      const f = pending.shift()!;
      const opsCoded = f.ops.wait();
      const litCoded = f.lits ? f.lits.wait() : Buffer.alloc(0);
      // The payload is assembled in one reused buffer: [prefix][ops][literals].
      const n = 16 + opsCoded.length + litCoded.length;
      if (payloadBuf.length < n) payloadBuf = Buffer.allocUnsafe(Math.max(n, 2 * payloadBuf.length));
      const payload = payloadBuf.subarray(0, n);
      payload.writeUInt32LE(f.opsRaw, 0);
      payload.writeUInt32LE(opsCoded.length, 4);
      payload.writeUInt32LE(f.litRaw, 8);
      payload.writeUInt32LE(litCoded.length, 12);
      payload.set(opsCoded, 16);
      payload.set(litCoded, 16 + opsCoded.length);
      f.ops.release();
      f.lits?.release();
      sink.write(encodeFrameHeader(FrameType.DATA, f.index, f.opsRaw + f.litRaw + 16, payload));
      sink.write(payload);
      out += 24 + payload.length;
      tech.literal.bytesOut += litCoded.length;
      const opTotal = OP_KINDS.reduce((n, k) => n + f.opShare[k], 0) || 1;
      const share = opsCoded.length + 16 + 24;
      for (const k of OP_KINDS) tech[k].bytesOut += (share * f.opShare[k]) / opTotal;
    };
    const flush = () => {
      if (ops.length === 0 && lits.length === 0) return;
      const opsRaw = ops.length;
      const litRaw = lits.length;
      if (opts.levelSource) pool.level = clampLevel(codec, opts.levelSource());
      levels.set(pool.level, (levels.get(pool.level) ?? 0) + 1);
      pending.push({
        index: frames++, opsRaw, litRaw, ops: pool.compress(ops.takeView()), lits: litRaw ? pool.compress(lits.takeView()) : undefined, opShare: { ...opBytes },
      });
      for (const k of OP_KINDS) opBytes[k] = 0;
      while (pending.length > Math.max(1, 2 * threads)) complete();
    };
    const room = () => ops.length + lits.length >= frameRaw && flush();
    /** Append an op with one varint operand, counting its bytes against a technique. */
    const op = (code: number, arg: number, kind: OpKind) => {
      const before = ops.length;
      ops.u8(code);
      ops.varint(arg);
      opBytes[kind] += ops.length - before;
    };

    const file = new RandomAccessFile(path);
    // The image, mapped: history candidates and duplicates are compared where they are (no reads,
    // no copies of remembered pages).
    const image = mapImage(file, slots.fileOffset);
    const reader = new SequentialReader(file, 0);
    // The image's SHA-256 (of the image as decoded: free pages as zeros). With more than one thread a
    // worker reads and hashes the file itself from the start (image-digest.ts); with one, page by page here.
    const sha = threads > 1 ? undefined : new WriteBehind({ fd: -1, hash: true, threaded: false });
    const digester = threads > 1 ? new ImageDigest(path, img.fileSize, droppedOffsets(slots, pageMap, dropFree)) : undefined;
    let imageSha: Buffer;
    const index = new PageIndex(slots.count);
    const h = new Uint32Array(2);
    const cand = Buffer.allocUnsafe(PAGE_SIZE);
    const sameFrame = Buffer.allocUnsafe(PAGE_SIZE);
    const sub = opts.subpage === false ? undefined : new SubPageMatcher({
      context: ctx?.content,
      contextTable: ctxAnchors?.table,
      historyBudget: opts.historyBudget ?? indexBudget,
      image,
      baseline: base?.anchors ? { anchors: base.anchors, readFrame: base.readFrame } : undefined,
    });
    let lastCtxEnd = 0;
    // At most one run (ZERO, BASE_RUN or CTX_RUN) is open; it is emitted when the next slot cannot extend it.
    let runOp = 0;
    let runN = 0;
    let runKind: OpKind = 'zero';
    const endRuns = () => {
      if (runN) op(runOp, runN, runKind);
      runN = 0;
      runOp = 0;
    };
    const extend = (code: number, kind: OpKind) => {
      if (runOp !== code) {
        endRuns();
        runOp = code;
        runKind = kind;
      }
      runN++;
    };
    /** [type code × technique] page counts (with a page map). */
    const typeTech = new Float64Array(PAGE_TYPES.length * TECHNIQUE_NAMES.length);
    const T = Object.fromEntries(TECHNIQUE_NAMES.map((n, i) => [n, i])) as Record<TechniqueName, number>;
    let typeCode = 0;
    const count = (t: TechniqueStats, name: TechniqueName) => {
      t.pages++;
      t.bytesIn += PAGE_SIZE;
      typeTech[typeCode * TECHNIQUE_NAMES.length + T[name]]++;
    };
    let lastBase = -1;
    let lastCtx = -1;
    /** A reference to baseline frame f or context page f: a run when it follows the last one. */
    const ref = (f: number, last: number, single: number, run: number, kind: 'baseline' | 'context') => {
      if (f === last + 1) extend(run, kind);
      else {
        endRuns();
        op(single, zigzag(f - (last + 1)), kind);
      }
    };
    const structure = (n: number) => {
      while (n > 0) {
        endRuns();
        room();
        const take = Math.min(n, Math.max(1024, frameRaw - ops.length - lits.length));
        const v = reader.view(take, 'structure bytes');
        sha?.write(v);
        op(Op.BYTES, take, 'structure');
        ops.bytes(v);
        opBytes.structure += take;
        tech.structure.bytesIn += take;
        n -= take;
      }
    };
    /** PATCH: the segments sub.match() found; literal runs go to the literal stream. Returns the source that covered most of the page. */
    const patch = (page: Buffer, k: number): number => {
      const s = sub!;
      const before = ops.length;
      ops.u8(Op.PATCH);
      ops.varint(s.nseg);
      let t = 0;
      const used = [false, false, false];
      for (let i = 0; i < s.nseg; i++) {
        const lit = s.segLit[i];
        const len = s.segLen[i];
        ops.varint(lit);
        ops.varint(len);
        if (lit) {
          lits.bytes(page, t, lit);
          opts.onLiteral?.(typeCode, page.subarray(t, t + lit));
        }
        tech.literal.bytesIn += lit;
        t += lit;
        if (len === 0) continue;
        const src = s.segSrc[i];
        const off = s.segOff[i];
        ops.u8(src);
        used[src === Src.BASELINE_AT ? Src.BASELINE : src] = true;
        if (src === Src.CONTEXT) {
          ops.varint(zigzag(off - lastCtxEnd));
          lastCtxEnd = off + len;
        } else if (src === Src.HISTORY) {
          const kk = Math.floor(off / PAGE_SIZE);
          ops.varint(k - kk);
          ops.varint(off - kk * PAGE_SIZE);
        } else {
          const f = Math.floor(off / PAGE_SIZE);
          ops.varint(zigzag(f - (lastBase + 1)));
          lastBase = f;
          if (src === Src.BASELINE_AT) ops.varint(off - f * PAGE_SIZE);
        }
        t += len;
      }
      // The op bytes go to the source that covered most of the page.
      const main = s.covered[0] >= s.covered[1] && s.covered[0] >= s.covered[2] ? 0 : s.covered[1] >= s.covered[2] ? 1 : 2;
      opBytes[SRC_KIND[main]] += ops.length - before;
      for (let src = 0; src < 3; src++) {
        if (!used[src]) continue;
        const st = tech[SRC_KIND[src] as 'context' | 'history' | 'baseline'];
        st.pages++;
        st.bytesIn += s.covered[src];
      }
      return main;
    };
    try {
      for (let k = 0; k < slots.count; k++) {
        structure(slots.fileOffset[k] - reader.pos);
        const page = reader.view(PAGE_SIZE, 'page slot');
        opts.onProgress?.(reader.pos, img.fileSize);
        room();
        const pfn = slots.pfn[k];
        typeCode = pageMap !== undefined && pfn >= 0 && pfn < pageMap.types.length ? pageMap.types[pfn] : 0;
        if (isZeroPage(page, 0)) {
          sha?.write(page);
          extend(Op.ZERO, 'zero');
          count(tech.zero, 'zero');
          continue;
        }
        if (dropFree && typeCode === PageTypeCode.free) {
          // Free in the guest: not sent; the decoded image holds zeros there (and its SHA-256 says so).
          sha?.write(ZERO_PAGE);
          extend(Op.ZERO, 'zero');
          count(tech.free, 'free');
          opts.onFreeDropped?.(slots.fileOffset[k]);
          continue;
        }
        sha?.write(page);
        // Same frame in the baseline first: the common case of repeated migration, and cheapest.
        let hasSameFrame = false;
        if (base && pfn >= 0 && base.readFrame(pfn, sameFrame)) {
          if (sameFrame.equals(page)) {
            ref(pfn, lastBase, Op.BASE, Op.BASE_RUN, 'baseline');
            lastBase = pfn;
            count(tech.baseline, 'baseline');
            continue;
          }
          hasSameFrame = !isZeroPage(sameFrame, 0);
        }
        // The context page after the last one matched (file pages often sit in order).
        if (ctx && lastCtx >= 0 && ctx.readPage(lastCtx + 1, cand) && cand.equals(page)) {
          extend(Op.CTX_RUN, 'context');
          lastCtx++;
          count(tech.context, 'context');
          continue;
        }
        pageHash(page, 0, h);
        const contextFirst = ctx !== undefined && CONTEXT_FIRST[typeCode] === 1;
        let c = contextFirst ? ctx!.lookup(h[0], h[1], page, cand) : -1;
        if (c < 0) {
          const earlier = index.get(h[0], h[1]);
          if (earlier >= 0) {
            if (slotBytes(image, earlier).equals(page)) {
              endRuns();
              op(Op.DUP, k - earlier, 'duplicate');
              count(tech.duplicate, 'duplicate');
              continue;
            }
          }
          const f = base ? base.lookup(h[0], h[1], page, cand) : -1;
          if (f >= 0) {
            ref(f, lastBase, Op.BASE, Op.BASE_RUN, 'baseline');
            lastBase = f;
            count(tech.baseline, 'baseline');
            continue;
          }
          if (ctx && !contextFirst) c = ctx.lookup(h[0], h[1], page, cand);
        }
        if (c >= 0) {
          ref(c, lastCtx, Op.CTX, Op.CTX_RUN, 'context');
          lastCtx = c;
          count(tech.context, 'context');
          continue;
        }
        endRuns();
        index.add(h[0], h[1], k);
        const covered = sub ? sub.match(page, hasSameFrame ? sameFrame : undefined, pfn) : 0;
        if (covered >= MIN_PATCH) {
          const main = patch(page, k);
          typeTech[typeCode * TECHNIQUE_NAMES.length + (PAGE_SIZE - covered > sub!.covered[main] ? T.literal : T[SRC_KIND[main] as TechniqueName])]++;
        } else {
          ops.u8(Op.LIT);
          lits.bytes(page);
          opts.onLiteral?.(typeCode, page);
          count(tech.literal, 'literal');
        }
        sub?.remember(k);
      }
      structure(img.fileSize - reader.pos);
      endRuns();
      flush();
      while (pending.length) complete();
      imageSha = sha ? sha.digest() : digester!.digest();
    } finally {
      file.close();
      pool.close();
      sha?.close();
      digester?.close();
    }
    const end = Buffer.alloc(END_PAYLOAD_SIZE);
    end.writeBigUInt64LE(BigInt(img.fileSize), 0);
    end.writeBigUInt64LE(BigInt(slots.count), 8);
    end.writeUInt32LE(frames, 16);
    imageSha.copy(end, 24);
    sink.write(encodeFrameHeader(FrameType.END, frames, END_PAYLOAD_SIZE, end));
    sink.write(end);
    out += 24 + END_PAYLOAD_SIZE;
    for (const t of Object.values(tech)) t.bytesOut = Math.round(t.bytesOut);
    return {
      image: path, format: img.format, imageBytes: img.fileSize, outputBytes: out, ratio: out / img.fileSize,
      slots: slots.count, frames: frames + 1, seconds: (performance.now() - t0) / 1000, freePagesDropped: tech.free.pages, techniques: tech,
      indexBytes: sub?.indexBytes ?? { context: 0, history: 0 },
      sha256: imageSha.toString('hex'),
      contextIndex: sub && ctxAnchors ? ctxAnchors.source : undefined,
      byType: pageMap ? byTypeSummary(typeTech) : undefined,
      levels: Object.fromEntries([...levels].sort((a, b) => a[0] - b[0])),
    };
  } finally {
    img?.close();
    base?.close();
    ctx?.close();
  }
}

/** The codec's levels: zstd 1..19, deflate 1..9. */
export function clampLevel(codec: CodecName, level: number): number {
  const max = codec === 'zstd' ? 19 : 9;
  return Number.isInteger(level) ? Math.min(max, Math.max(1, level)) : DEFAULT_LEVEL[codec];
}

function byTypeSummary(counts: Float64Array): NonNullable<EncodeSummary['byType']> {
  const out: NonNullable<EncodeSummary['byType']> = {};
  PAGE_TYPES.forEach((type, t) => {
    const row: Partial<Record<TechniqueName, number>> = {};
    let any = false;
    TECHNIQUE_NAMES.forEach((name, i) => {
      const n = counts[t * TECHNIQUE_NAMES.length + i];
      if (n > 0) {
        row[name] = n;
        any = true;
      }
    });
    if (any) out[type] = row;
  });
  return out;
}
