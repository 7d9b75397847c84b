/**
 * Sub-page redundancy elimination: a page that is not a whole-page match is covered, where it can
 * be, by byte ranges of three sources the decoder also has —
 *   CONTEXT   the CTX content (file-system content of the guest's disk: unaligned copies of files in
 *             the heap, file pages whose neighbours differ, partly written pages);
 *   HISTORY   an earlier page slot of this image (the whole image is the history; EndRE's
 *             redundancy elimination over everything sent before);
 *   BASELINE  the same-frame page of the baseline at the same offsets (a page that changed a little
 *             since the previous migration: a sub-page delta).
 * The rest of the page goes out as literal bytes. Anchors and match expansion: fingerprint.ts.
 *
 * Memory: the context index is one AnchorTable sized for the context's anchors (12 bytes per slot,
 * ≈ 2 slots per anchor); the history index is one AnchorTable bounded by historyBudget (default
 * 5 % of the image), newest anchors overwriting older ones when full.
 */
import { AnchorTable, anchors, WINDOW } from './fingerprint.js';

export const PAGE = 4096;
export const Src = { CONTEXT: 0, HISTORY: 1, BASELINE: 2, BASELINE_AT: 3 } as const;

/** Tuned on the vm-images guests (bench/mig-codec.ts; docs/format/mig-v1.md "Encoder choices"). */
export const TUNING = Object.freeze({
  /** One anchor per 2^bits bytes of the context and of the image. */
  contextAnchorBits: 6,
  historyAnchorBits: 6,
  baselineAnchorBits: 6,
  /** Shortest match kept (bytes); the window itself is 32. */
  minMatch: 40,
  /** Shortest equal run against the same-frame baseline page. */
  minBaseRun: 12,
  /** Candidates verified per page before giving up on the rest of its anchors. */
  maxProbes: 16,
});

export interface MappedImage {
  windows: Buffer[];
  window: number;
  fileOffset: Float64Array;
}

export interface SubPageSources {
  /** The CTX content area, in memory. */
  context?: Buffer;
  /** Its anchor table, when already built (buildContextAnchors, or loaded from its cache file). */
  contextTable?: AnchorTable;
  /** Bytes for the history index (0: no history matching; it needs `image`). */
  historyBudget: number;
  /**
   * The image, mapped (encoder side): slot k's 4096 bytes are windows[w] at fileOffset[k] − w·window,
   * w = ⌊fileOffset[k] / window⌋ (each window also holds the page that starts at its end).
   */
  image?: MappedImage;
  /** Anchors of the baseline's pages and how to read its frames (BASELINE_AT matches). */
  baseline?: { anchors: AnchorTable; readFrame: (f: number, out: Buffer) => boolean };
}

/** Size of the context's anchor table for `bytes` of content: two slots per expected anchor. */
export const contextAnchorBudget = (bytes: number): number => Math.ceil(bytes / 2 ** TUNING.contextAnchorBits) * 2 * 12;

/** The context's anchor table: first occurrence of each window hash (deterministic in the content). */
export function buildContextAnchors(context: Buffer): AnchorTable {
  const table = new AnchorTable(contextAnchorBudget(context.length));
  const CH = 1 << 20;
  const pos = new Int32Array(CH);
  const hash = new Uint32Array(CH);
  for (let off = 0; off < context.length; off += CH) {
    // Chunks overlap by WINDOW − 1 bytes so no window is lost at a boundary.
    const start = Math.max(0, off - (WINDOW - 1));
    const n = anchors(context, start, Math.min(context.length, off + CH) - start, TUNING.contextAnchorBits, pos, hash);
    for (let i = 0; i < n; i++) table.putFirst(hash[i], start + pos[i]);
  }
  return table;
}

export class SubPageMatcher {
  private readonly ctx?: Buffer;
  private readonly ctxTable?: AnchorTable;
  private readonly histTable?: AnchorTable;
  private readonly apos = new Int32Array(PAGE);
  private readonly ahash = new Uint32Array(PAGE);
  private na = 0;
  private readonly base?: SubPageSources['baseline'];
  private readonly bcache = Buffer.allocUnsafe(256 * PAGE);
  private readonly bcacheFrame = new Float64Array(256).fill(-1);
  private readonly image?: MappedImage;
  /** Segments of the last match(): literal run, then a match of segLen bytes from segSrc at segOff. */
  nseg = 0;
  readonly segLit = new Int32Array(PAGE + 1);
  readonly segLen = new Int32Array(PAGE + 1);
  readonly segSrc = new Uint8Array(PAGE + 1);
  /** CONTEXT: byte offset in the context; HISTORY: slot·4096 + offset; BASELINE(_AT): frame·4096 + offset. */
  readonly segOff = new Float64Array(PAGE + 1);
  /** The best candidate of the anchor being matched (probe()). */
  private bestLen = 0;
  private bestStart = 0;
  private bestSrc = 0;
  private bestOff = 0;
  /** Bytes the last match() covered, per source (BASELINE_AT counted as BASELINE). */
  readonly covered = [0, 0, 0];
  /** Index sizes, for the summary. */
  readonly indexBytes: { context: number; history: number };

  constructor(s: SubPageSources) {
    this.image = s.image;
    this.base = s.baseline;
    if (s.context && s.context.length >= WINDOW) {
      this.ctx = s.context;
      this.ctxTable = s.contextTable ?? buildContextAnchors(s.context);
    }
    if (s.historyBudget > 0 && s.image) this.histTable = new AnchorTable(s.historyBudget);
    this.indexBytes = { context: this.ctxTable?.bytes ?? 0, history: this.histTable?.bytes ?? 0 };
  }

  /**
   * Cover page (slot k) from the sources; `sameFrame` is the baseline's page of the same frame when
   * it exists and differs (frame number `frame`). Returns the bytes covered (0: send it literal).
   */
  match(page: Buffer, k: number, sameFrame?: Buffer, frame = -1): number {
    this.covered[0] = this.covered[1] = this.covered[2] = 0;
    this.nseg = 0;
    this.na = anchors(page, 0, PAGE, TUNING.historyAnchorBits, this.apos, this.ahash);
    if (sameFrame && this.baselineDelta(page, sameFrame, frame) >= PAGE / 2) return this.covered[Src.BASELINE];
    this.nseg = 0;
    this.covered[Src.BASELINE] = 0;
    const C = this.ctx;
    const minMatch = TUNING.minMatch;
    let cov = 0;
    let probes = 0;
    for (let a = 0; a < this.na && probes < TUNING.maxProbes; a++) {
      const i = this.apos[a];
      if (i < cov) continue;
      const h = this.ahash[a];
      this.bestLen = 0;
      this.bestStart = 0;
      if (this.ctxTable) {
        const s = this.ctxTable.get(h);
        if (s >= 0) {
          probes++;
          this.probe(page, i, cov, C!, s, 0, C!.length, Src.CONTEXT, s);
        }
      }
      if (this.histTable && this.bestStart + this.bestLen < PAGE) {
        const v = this.histTable.get(h);
        if (v >= 0) {
          probes++;
          const kk = Math.floor(v / PAGE);
          const S = this.historyPage(kk);
          const cb = this.at;
          this.probe(page, i, cov, S, cb + (v - kk * PAGE), cb, cb + PAGE, Src.HISTORY, v);
        }
      }
      if (this.base && this.bestStart + this.bestLen < PAGE) {
        const v = this.base.anchors.get(h);
        if (v >= 0) {
          probes++;
          const fr = Math.floor(v / PAGE);
          const ci = fr % this.bcacheFrame.length;
          const cb = ci * PAGE;
          if (this.bcacheFrame[ci] !== fr) {
            this.bcacheFrame[ci] = this.base.readFrame(fr, this.bcache.subarray(cb, cb + PAGE)) ? fr : -1;
          }
          if (this.bcacheFrame[ci] === fr) this.probe(page, i, cov, this.bcache, cb + (v - fr * PAGE), cb, cb + PAGE, Src.BASELINE_AT, v);
        }
      }
      const bestLen = this.bestLen;
      const bestStart = this.bestStart;
      const bestSrc = this.bestSrc;
      const bestOff = this.bestOff;
      if (bestLen >= minMatch) {
        this.push(bestStart - cov, bestLen, bestSrc, bestOff);
        cov = bestStart + bestLen;
      }
    }
    if (cov < PAGE) this.push(PAGE - cov, 0, 0, 0);
    return this.covered[Src.CONTEXT] + this.covered[Src.HISTORY] + this.covered[Src.BASELINE];
  }

  /**
   * Verify the candidate S[p] for page[i] (forwards at least WINDOW bytes, else a hash collision),
   * expand it backwards down to `cov` and within S[lo, hi), and keep it when longer than the best so
   * far. `at` is the source position of S[p] as the format names it (the offset reported is at − back).
   */
  private probe(page: Buffer, i: number, cov: number, S: Buffer, p: number, lo: number, hi: number, src: number, at: number): void {
    let f = 0;
    const fmax = Math.min(PAGE - i, hi - p);
    while (f < fmax && page[i + f] === S[p + f]) f++;
    if (f < WINDOW) return;
    let b = 0;
    const bmax = Math.min(i - cov, p - lo);
    while (b < bmax && page[i - b - 1] === S[p - b - 1]) b++;
    if (f + b <= this.bestLen) return;
    this.bestLen = f + b;
    this.bestStart = i - b;
    this.bestSrc = src;
    this.bestOff = at - b;
  }

  /** Offset of the page historyPage() returned, in the buffer it returned. */
  private at = 0;

  /** The mapped window holding slot k (at offset this.at). */
  private historyPage(k: number): Buffer {
    const img = this.image!;
    const off = img.fileOffset[k];
    const w = Math.floor(off / img.window);
    this.at = off - w * img.window;
    return img.windows[w];
  }

  /** Index the anchors of the page just matched (slot k) as history for later pages. */
  remember(k: number): void {
    if (!this.histTable) return;
    for (let a = 0; a < this.na; a++) this.histTable.put(this.ahash[a], k * PAGE + this.apos[a]);
  }

  /** Equal runs against the same frame of the baseline, at the same offsets. */
  private baselineDelta(page: Buffer, base: Buffer, frame: number): number {
    const minRun = TUNING.minBaseRun;
    let cov = 0;
    let i = 0;
    while (i < PAGE) {
      if (page[i] !== base[i]) {
        i++;
        continue;
      }
      let j = i + 1;
      while (j < PAGE && page[j] === base[j]) j++;
      if (j - i >= minRun) {
        this.push(i - cov, j - i, Src.BASELINE, frame * PAGE + i);
        cov = j;
      }
      i = j;
    }
    if (cov < PAGE) this.push(PAGE - cov, 0, 0, 0);
    return this.covered[Src.BASELINE];
  }

  private push(lit: number, len: number, src: number, off: number): void {
    const n = this.nseg++;
    this.segLit[n] = lit;
    this.segLen[n] = len;
    this.segSrc[n] = src;
    this.segOff[n] = off;
    if (len) this.covered[src === Src.BASELINE_AT ? Src.BASELINE : src] += len;
  }
}
