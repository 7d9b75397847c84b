/**
 * SegmentMemory: the PhysicalMemory implementation shared by all readers. Guest-physical memory is a
 * list of segments, each backed by the image file either linearly (ELF PT_LOAD, raw files) or by a
 * per-page table of file offsets (QEMU stream RAM records, which arrive in any order).
 */
import { AddressFault } from '../util/errors.js';
import { RandomAccessFile } from '../util/file.js';
import { MemoryRun, PAGE_SIZE, PhysicalMemory } from './physical-memory.js';

/** Contiguous file bytes back [gpa, gpa+length); bytes past fileLength read as zero (p_filesz < p_memsz). */
export interface LinearSegment {
  kind: 'linear';
  gpa: number;
  length: number;
  fileOffset: number;
  fileLength: number;
}

/**
 * Each page has its own source: offsets[i] ≥ 0 is the file offset of page i's 4096 bytes;
 * offsets[i] < 0 means a fill page whose every byte is -(offsets[i] + 1) (QEMU ZERO records, never-sent pages).
 */
export interface TableSegment {
  kind: 'table';
  gpa: number;
  length: number;
  offsets: Float64Array;
  /** Pages known to be all zero (fill 0, or data checked zero while parsing). */
  zeroPages: number;
}

export type Segment = LinearSegment | TableSegment;

/** Encode a fill byte as a TableSegment offset. */
export function fillOffset(fill: number): number {
  return -(fill + 1);
}

export class SegmentMemory implements PhysicalMemory {
  readonly runs: MemoryRun[];
  readonly size: number;
  private readonly segs: Segment[];
  private readonly starts: Float64Array;
  private readonly file: RandomAccessFile;

  /** Segments must be page-aligned and non-overlapping; they are sorted here. */
  constructor(file: RandomAccessFile, segments: Segment[]) {
    this.file = file;
    this.segs = [...segments].filter((s) => s.length > 0).sort((a, b) => a.gpa - b.gpa);
    for (let i = 0; i < this.segs.length; i++) {
      const s = this.segs[i];
      if (s.gpa % PAGE_SIZE !== 0 || s.length % PAGE_SIZE !== 0) {
        throw new Error(`internal: segment 0x${s.gpa.toString(16)}+0x${s.length.toString(16)} is not page-aligned`);
      }
      if (i > 0 && this.segs[i - 1].gpa + this.segs[i - 1].length > s.gpa) {
        throw new Error(`internal: segments overlap at 0x${s.gpa.toString(16)}`);
      }
    }
    this.starts = Float64Array.from(this.segs, (s) => s.gpa);
    this.runs = [];
    let size = 0;
    for (const s of this.segs) {
      size += s.length;
      const last = this.runs[this.runs.length - 1];
      if (last && last.gpa + last.length === s.gpa) last.length += s.length;
      else this.runs.push({ gpa: s.gpa, length: s.length });
    }
    this.size = size;
  }

  get segments(): readonly Segment[] {
    return this.segs;
  }

  /** Index of the segment holding gpa, or -1. */
  private find(gpa: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.starts[mid] <= gpa) lo = mid + 1;
      else hi = mid - 1;
    }
    if (hi < 0) return -1;
    const s = this.segs[hi];
    return gpa < s.gpa + s.length ? hi : -1;
  }

  isPresent(pfn: number): boolean {
    return this.find(pfn * PAGE_SIZE) >= 0;
  }

  readPage(pfn: number, out: Uint8Array, outOffset = 0): boolean {
    const gpa = pfn * PAGE_SIZE;
    const i = this.find(gpa);
    if (i < 0) return false;
    this.copyPage(this.segs[i], (gpa - this.segs[i].gpa) / PAGE_SIZE, out, outOffset);
    return true;
  }

  private copyPage(s: Segment, page: number, out: Uint8Array, outOffset: number): void {
    if (s.kind === 'table') {
      const off = s.offsets[page];
      if (off < 0) out.fill(-off - 1, outOffset, outOffset + PAGE_SIZE);
      else this.file.readInto(out, outOffset, PAGE_SIZE, off);
      return;
    }
    const start = page * PAGE_SIZE;
    const inFile = Math.max(0, Math.min(PAGE_SIZE, s.fileLength - start));
    if (inFile > 0) this.file.readInto(out, outOffset, inFile, s.fileOffset + start);
    if (inFile < PAGE_SIZE) out.fill(0, outOffset + inFile, outOffset + PAGE_SIZE);
  }

  read(gpa: number, length: number): Buffer {
    const out = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const a = gpa + done;
      const i = this.find(a);
      if (i < 0) throw new AddressFault(a, length - done);
      const s = this.segs[i];
      const pageBase = a - (a % PAGE_SIZE);
      const page = (pageBase - s.gpa) / PAGE_SIZE;
      const inPage = a - pageBase;
      const n = Math.min(PAGE_SIZE - inPage, length - done);
      if (inPage === 0 && n === PAGE_SIZE) {
        this.copyPage(s, page, out, done);
      } else {
        const tmp = Buffer.allocUnsafe(PAGE_SIZE);
        this.copyPage(s, page, tmp, 0);
        tmp.copy(out, done, inPage, inPage + n);
      }
      done += n;
    }
    return out;
  }

  forEachPageBatch(fn: (firstPfn: number, count: number, bytes: Buffer) => void, batchPages = 1024,
    onZeroRun?: (firstPfn: number, count: number) => void): void {
    const buf: Buffer = Buffer.allocUnsafe(batchPages * PAGE_SIZE);
    let span: Buffer = Buffer.allocUnsafe(0);
    for (const s of this.segs) {
      const all = s.length / PAGE_SIZE;
      const pfn0 = s.gpa / PAGE_SIZE; // exact: segments are page-aligned
      // A linear segment's pages wholly past its file bytes are zero: report them as one run, unread.
      const pages = onZeroRun && s.kind === 'linear' ? Math.min(all, Math.ceil(s.fileLength / PAGE_SIZE)) : all;
      for (let p = 0; p < pages; p += batchPages) {
        const count = Math.min(batchPages, pages - p);
        if (s.kind === 'linear') {
          const start = p * PAGE_SIZE;
          const want = count * PAGE_SIZE;
          const inFile = Math.max(0, Math.min(want, s.fileLength - start));
          if (inFile > 0) this.file.readInto(buf, 0, inFile, s.fileOffset + start);
          if (inFile < want) buf.fill(0, inFile, want);
        } else {
          span = this.readTableBatch(s, p, count, buf, span);
        }
        fn(pfn0 + p, count, count === batchPages ? buf : buf.subarray(0, count * PAGE_SIZE));
      }
      if (pages < all) onZeroRun!(pfn0 + pages, all - pages);
    }
  }

  /** Read a batch of table pages, coalescing file reads when their offsets ascend closely (stream order). */
  private readTableBatch(s: TableSegment, p: number, count: number, buf: Buffer, span: Buffer): Buffer {
    const o = s.offsets;
    let i = 0;
    while (i < count) {
      const first = o[p + i];
      if (first < 0) {
        buf.fill(-first - 1, i * PAGE_SIZE, (i + 1) * PAGE_SIZE);
        i++;
        continue;
      }
      // Extend a run of ascending file offsets whose total span stays within twice the page bytes.
      let j = i + 1;
      let last = first;
      while (j < count) {
        const next = o[p + j];
        if (next < 0 || next < last + PAGE_SIZE || next - first + PAGE_SIZE > 2 * (j - i + 1) * PAGE_SIZE + 65536) break;
        last = next;
        j++;
      }
      if (j - i === 1) {
        this.file.readInto(buf, i * PAGE_SIZE, PAGE_SIZE, first);
      } else {
        const spanLen = last + PAGE_SIZE - first;
        if (span.length < spanLen) span = Buffer.allocUnsafe(Math.max(spanLen, span.length * 2));
        this.file.readInto(span, 0, spanLen, first);
        for (let k = i; k < j; k++) span.copy(buf, k * PAGE_SIZE, o[p + k] - first, o[p + k] - first + PAGE_SIZE);
      }
      i = j;
    }
    return span;
  }

  knownZeroPages(): number | undefined {
    let zero = 0;
    for (const s of this.segs) {
      if (s.kind !== 'table') return undefined;
      zero += s.zeroPages;
    }
    return zero;
  }
}
