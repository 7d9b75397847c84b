/**
 * The executable specification the native sub-page matcher is tested against
 * (test/unit/codec/subpage-native.test.ts): the SubPageMatcher of src/codec/subpage.ts as it was in
 * TypeScript before fc889fc moved its inner loop into native/src/subpage.c, kept verbatim in
 * behaviour — same anchors (fingerprint.ts), same probe order (context, history, baseline), same
 * "strictly longer" tie rule, same maxProbes cut-off, same same-frame delta and the same 256-frame
 * baseline cache. The native matcher must produce exactly the segments this one does.
 *
 * Two deliberate differences from the old code, neither of which changes a result:
 *   - the class is ReferenceMatcher, and match() keeps the old signature match(page, k, sameFrame,
 *     frame) (k was never used by the old body either);
 *   - `paths` counts which branches ran (test instrumentation, so a test can tell it exercised every
 *     path; nothing reads it back).
 * Like the old constructor, it builds its own history AnchorTable, so a ReferenceMatcher and a
 * SubPageMatcher built from the same SubPageSources each remember() into their own table.
 */
import { AnchorTable, anchors, WINDOW } from '../../src/codec/fingerprint.js';
import { buildContextAnchors, PAGE, Src, TUNING, type MappedImage, type SubPageSources } from '../../src/codec/subpage.js';

/** Branch counters of a ReferenceMatcher (instrumentation only). */
export interface ReferencePaths {
  /** Candidates verified. */
  probes: number;
  /** Pages whose anchor loop stopped at maxProbes with anchors left. */
  probeCapped: number;
  /** Anchors skipped because they start inside bytes already covered. */
  anchorCovered: number;
  /** Candidates rejected as hash collisions (fewer than WINDOW equal bytes forwards), per source. */
  collision: [number, number, number, number];
  /** Candidates rejected because they were not strictly longer than the best so far. */
  notLonger: number;
  /** A later source's candidate replaced an earlier source's best. */
  replaced: number;
  /** Best candidates of an anchor that verified but were shorter than minMatch. */
  short: number;
  /** History/baseline lookups skipped because the best so far already reached the page's end. */
  endSkip: number;
  /** Forward expansion stopped by the source's end (not the page's end, not a mismatch), per source. */
  fwdSourceEnd: [number, number, number, number];
  /** Forward expansion reached the page's end. */
  fwdPageEnd: number;
  /** Backward expansion stopped by the source's start (before the covered bytes), per source. */
  bwdSourceStart: [number, number, number, number];
  /** Backward expansion stopped by the bytes already covered. */
  bwdCovered: number;
  /** Same-frame delta: taken (≥ half the page), or fallen back from. */
  deltaTaken: number;
  deltaFallback: number;
  /** Baseline cache: hits, misses (reads), reads that returned false, reads that evicted another frame. */
  cacheHit: number;
  cacheMiss: number;
  readFalse: number;
  cacheEvict: number;
}

const newPaths = (): ReferencePaths => ({
  probes: 0, probeCapped: 0, anchorCovered: 0, collision: [0, 0, 0, 0], notLonger: 0, replaced: 0, short: 0, endSkip: 0,
  fwdSourceEnd: [0, 0, 0, 0], fwdPageEnd: 0, bwdSourceStart: [0, 0, 0, 0], bwdCovered: 0, deltaTaken: 0, deltaFallback: 0,
  cacheHit: 0, cacheMiss: 0, readFalse: 0, cacheEvict: 0,
});

export class ReferenceMatcher {
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
  /** Branch counters (instrumentation only). */
  readonly paths: ReferencePaths = newPaths();

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
    void k; // unused, as in the old code
    this.covered[0] = this.covered[1] = this.covered[2] = 0;
    this.nseg = 0;
    this.na = anchors(page, 0, PAGE, TUNING.historyAnchorBits, this.apos, this.ahash);
    if (sameFrame) {
      if (this.baselineDelta(page, sameFrame, frame) >= PAGE / 2) {
        this.paths.deltaTaken++;
        return this.covered[Src.BASELINE];
      }
      this.paths.deltaFallback++;
    }
    this.nseg = 0;
    this.covered[Src.BASELINE] = 0;
    const C = this.ctx;
    const minMatch = TUNING.minMatch;
    let cov = 0;
    let probes = 0;
    let a = 0;
    for (; a < this.na && probes < TUNING.maxProbes; a++) {
      const i = this.apos[a];
      if (i < cov) {
        this.paths.anchorCovered++;
        continue;
      }
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
      } else if (this.histTable) this.paths.endSkip++;
      if (this.base && this.bestStart + this.bestLen < PAGE) {
        const v = this.base.anchors.get(h);
        if (v >= 0) {
          probes++;
          const fr = Math.floor(v / PAGE);
          const ci = fr % this.bcacheFrame.length;
          const cb = ci * PAGE;
          if (this.bcacheFrame[ci] !== fr) {
            this.paths.cacheMiss++;
            if (this.bcacheFrame[ci] >= 0) this.paths.cacheEvict++;
            this.bcacheFrame[ci] = this.base.readFrame(fr, this.bcache.subarray(cb, cb + PAGE)) ? fr : -1;
            if (this.bcacheFrame[ci] < 0) this.paths.readFalse++;
          } else this.paths.cacheHit++;
          if (this.bcacheFrame[ci] === fr) this.probe(page, i, cov, this.bcache, cb + (v - fr * PAGE), cb, cb + PAGE, Src.BASELINE_AT, v);
        }
      } else if (this.base) this.paths.endSkip++;
      const bestLen = this.bestLen;
      const bestStart = this.bestStart;
      const bestSrc = this.bestSrc;
      const bestOff = this.bestOff;
      if (bestLen >= minMatch) {
        this.push(bestStart - cov, bestLen, bestSrc, bestOff);
        cov = bestStart + bestLen;
      } else if (bestLen > 0) this.paths.short++;
    }
    if (a < this.na && probes >= TUNING.maxProbes) this.paths.probeCapped++;
    if (cov < PAGE) this.push(PAGE - cov, 0, 0, 0);
    return this.covered[Src.CONTEXT] + this.covered[Src.HISTORY] + this.covered[Src.BASELINE];
  }

  /**
   * Verify the candidate S[p] for page[i] (forwards at least WINDOW bytes, else a hash collision),
   * expand it backwards down to `cov` and within S[lo, hi), and keep it when longer than the best so
   * far. `at` is the source position of S[p] as the format names it (the offset reported is at − back).
   */
  private probe(page: Buffer, i: number, cov: number, S: Buffer, p: number, lo: number, hi: number, src: number, at: number): void {
    this.paths.probes++;
    let f = 0;
    const fmax = Math.min(PAGE - i, hi - p);
    while (f < fmax && page[i + f] === S[p + f]) f++;
    if (f < WINDOW) {
      this.paths.collision[src]++;
      return;
    }
    if (f === fmax) {
      if (hi - p < PAGE - i) this.paths.fwdSourceEnd[src]++;
      else this.paths.fwdPageEnd++;
    }
    let b = 0;
    const bmax = Math.min(i - cov, p - lo);
    while (b < bmax && page[i - b - 1] === S[p - b - 1]) b++;
    if (b === bmax && bmax > 0) {
      if (p - lo < i - cov) this.paths.bwdSourceStart[src]++;
      else this.paths.bwdCovered++;
    }
    if (f + b <= this.bestLen) {
      this.paths.notLonger++;
      return;
    }
    if (this.bestLen > 0) this.paths.replaced++;
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
