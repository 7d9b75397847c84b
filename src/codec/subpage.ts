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
import { native } from '../util/native.js';

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

/**
 * The matcher: its state and arrays live here, its inner loop in native/src/subpage.c (anchors,
 * candidate lookups, verification and expansion 8 bytes at a time, the same-frame delta). The C
 * follows the algorithm below exactly, so the segments (and the .mig) do not depend on it:
 *   match(page): anchors of the page (fingerprint.ts, TUNING.historyAnchorBits). With a same-frame
 *   baseline page, equal runs ≥ minBaseRun at the same offsets; when they cover ≥ half the page,
 *   those are the segments. Otherwise, for each anchor at i ≥ the bytes covered so far, while fewer
 *   than maxProbes candidates were tried: look its hash up in the context, history and baseline
 *   tables, in that order (history and baseline only while the best so far ends before the page
 *   does); a candidate counts when it verifies ≥ WINDOW bytes forwards; it is expanded backwards
 *   down to the covered bytes and within its page (history, baseline) or the context; a later
 *   candidate replaces the best only when strictly longer; the best ≥ minMatch is a segment.
 *   remember(k): the page's anchors go into the history table (newest wins), at k·4096 + offset.
 */
export class SubPageMatcher {
  private readonly m: object;
  /** Kept alive as long as the native matcher, which holds pointers into them. */
  private readonly keep: unknown[];
  private readonly info = new Int32Array(4);
  /** Segments of the last match(): literal run, then a match of segLen bytes from segSrc at segOff. */
  readonly segLit = new Int32Array(PAGE + 1);
  readonly segLen = new Int32Array(PAGE + 1);
  readonly segSrc = new Uint8Array(PAGE + 1);
  /** CONTEXT: byte offset in the context; HISTORY: slot·4096 + offset; BASELINE(_AT): frame·4096 + offset. */
  readonly segOff = new Float64Array(PAGE + 1);
  /** Bytes the last match() covered, per source (BASELINE_AT counted as BASELINE). */
  readonly covered = this.info.subarray(1, 4);
  /** Index sizes, for the summary. */
  readonly indexBytes: { context: number; history: number };

  constructor(s: SubPageSources) {
    const ctx = s.context && s.context.length >= WINDOW ? s.context : undefined;
    const ctxTable = ctx ? s.contextTable ?? buildContextAnchors(ctx) : undefined;
    const histTable = s.historyBudget > 0 && s.image ? new AnchorTable(s.historyBudget) : undefined;
    const base = s.baseline;
    const bcache = base ? Buffer.allocUnsafe(256 * PAGE) : null;
    const readFrame = base ? (fr: number, ci: number) => base.readFrame(fr, bcache!.subarray(ci * PAGE, ci * PAGE + PAGE)) : null;
    const c = ctxTable?.state();
    const h = histTable?.state();
    const b = base?.anchors.state();
    const img = histTable ? s.image : undefined;
    const params = Int32Array.of(TUNING.historyAnchorBits, TUNING.minMatch, TUNING.minBaseRun, TUNING.maxProbes);
    this.keep = [params, ctx, c, h, img, b, bcache, readFrame];
    this.m = native.matcherCreate(
      params,
      ctx ?? null, c?.keys ?? null, c?.vals ?? null,
      h?.keys ?? null, h?.vals ?? null,
      img?.windows ?? null, img?.window ?? 0, img?.fileOffset ?? null,
      b?.keys ?? null, b?.vals ?? null, bcache, readFrame,
      this.segLit, this.segLen, this.segSrc, this.segOff, this.info,
    );
    this.indexBytes = { context: ctxTable?.bytes ?? 0, history: histTable?.bytes ?? 0 };
  }

  /** Segments of the last match(). */
  get nseg(): number {
    return this.info[0];
  }

  /**
   * Cover page (slot k) from the sources; `sameFrame` is the baseline's page of the same frame when
   * it exists and differs (frame number `frame`). Returns the bytes covered (0: send it literal).
   */
  match(page: Buffer, sameFrame?: Buffer, frame = -1): number {
    return native.matcherMatch(this.m, page, sameFrame ?? null, frame);
  }

  /** Index the anchors of the page just matched (slot k) as history for later pages. */
  remember(k: number): void {
    native.matcherRemember(this.m, k);
  }
}
