/**
 * The physical-memory view every reader produces and every later stage consumes:
 * guest-physical address → bytes, with holes explicit and 4 KiB pages.
 */
export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;

/** A run of present guest-physical memory: [gpa, gpa + length), page-aligned. */
export interface MemoryRun {
  gpa: number;
  length: number;
}

export interface PhysicalMemory {
  /** Present runs, ascending, non-overlapping, page-aligned. Everything else is a hole. */
  readonly runs: readonly MemoryRun[];
  /** Total bytes present (sum of run lengths). */
  readonly size: number;
  /** Whether the page frame is backed by the image. */
  isPresent(pfn: number): boolean;
  /**
   * Copy one page into out[outOffset..outOffset+4096). Returns false (out untouched) for a hole.
   */
  readPage(pfn: number, out: Uint8Array, outOffset?: number): boolean;
  /** Read [gpa, gpa+length); throws AddressFault if any byte is in a hole. */
  read(gpa: number, length: number): Buffer;
  /**
   * Present pages in ascending order, in batches: calls fn(firstPfn, count, bytes) with bytes holding
   * `count` consecutive pages. The buffer is reused between calls.
   *
   * With `onZeroRun`, the reader may report a run of pages it knows to be all zero without reading
   * them (an ELF PT_LOAD's p_memsz − p_filesz tail) as onZeroRun(firstPfn, count) instead of through
   * fn; pages still come in ascending order across both callbacks. A reader that knows of no such runs
   * (or a caller that passes none) gets every page through fn.
   */
  forEachPageBatch(fn: (firstPfn: number, count: number, bytes: Buffer) => void, batchPages?: number,
    onZeroRun?: (firstPfn: number, count: number) => void): void;
  /** Known zero pages when the reader learnt them for free (e.g. stream ZERO records); undefined = unknown. */
  knownZeroPages?(): number | undefined;
}

/** True when the 4 KiB page at buf[off..off+4096) is all zero bytes. */
const ZERO_PAGE = Buffer.alloc(PAGE_SIZE);
export function isZeroPage(buf: Uint8Array, off = 0): boolean {
  // Most non-zero pages show it in their first bytes: test a few in JS before paying for the native
  // call. Buffer#compare against a zero page is the fastest full check measured (style.md).
  if ((buf[off] | buf[off + 1] | buf[off + 2] | buf[off + 3] | buf[off + 8] | buf[off + 9] | buf[off + 64] | buf[off + 65]) !== 0) return false;
  return ZERO_PAGE.compare(buf, off, off + PAGE_SIZE) === 0;
}
