/**
 * In-memory PhysicalMemory over sparse 4 KiB pages, and a builder of x86-64 page tables in it:
 * fixtures for the walker and the Linux layers (memflow's DummyMemory / OffsetPageTable). Other
 * paging modes: ModePageTableBuilder (page-table-builder.ts).
 */
import { AddressFault } from '../../src/util/errors.js';
import { MemoryRun, PAGE_SIZE, PhysicalMemory } from '../../src/mem/physical-memory.js';
import { X64_4LEVEL, X64_5LEVEL } from '../../src/introspect/x86/paging.js';
import { ModePageTableBuilder } from './page-table-builder.js';

export class FakeMemory implements PhysicalMemory {
  readonly pages = new Map<number, Buffer>();

  get runs(): MemoryRun[] {
    const pfns = [...this.pages.keys()].sort((a, b) => a - b);
    const runs: MemoryRun[] = [];
    for (const p of pfns) {
      const last = runs[runs.length - 1];
      if (last && last.gpa + last.length === p * PAGE_SIZE) last.length += PAGE_SIZE;
      else runs.push({ gpa: p * PAGE_SIZE, length: PAGE_SIZE });
    }
    return runs;
  }
  get size(): number {
    return this.pages.size * PAGE_SIZE;
  }
  /** Make [firstPfn, firstPfn+count) present (zero-filled). */
  addRange(firstPfn: number, count: number): this {
    for (let p = firstPfn; p < firstPfn + count; p++) if (!this.pages.has(p)) this.pages.set(p, Buffer.alloc(PAGE_SIZE));
    return this;
  }
  page(pfn: number): Buffer {
    let b = this.pages.get(pfn);
    if (!b) {
      b = Buffer.alloc(PAGE_SIZE);
      this.pages.set(pfn, b);
    }
    return b;
  }
  isPresent(pfn: number): boolean {
    return this.pages.has(pfn);
  }
  readPage(pfn: number, out: Uint8Array, outOffset = 0): boolean {
    const b = this.pages.get(pfn);
    if (!b) return false;
    out.set(b, outOffset);
    return true;
  }
  read(gpa: number, length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let done = 0; done < length; ) {
      const a = gpa + done;
      const b = this.pages.get(Math.floor(a / PAGE_SIZE));
      if (!b) throw new AddressFault(a, length - done);
      const off = a % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, length - done);
      b.copy(out, done, off, off + n);
      done += n;
    }
    return out;
  }
  write(gpa: number, data: Uint8Array): void {
    for (let done = 0; done < data.length; ) {
      const a = gpa + done;
      const off = a % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, data.length - done);
      this.page(Math.floor(a / PAGE_SIZE)).set(data.subarray(done, done + n), off);
      done += n;
    }
  }
  writeU64(gpa: number, v: bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt.asUintN(64, v));
    this.write(gpa, b);
  }
  forEachPageBatch(fn: (firstPfn: number, count: number, bytes: Buffer) => void): void {
    for (const p of [...this.pages.keys()].sort((a, b) => a - b)) fn(p, 1, this.pages.get(p)!);
  }
}

/** x86-64 page tables (4- or 5-level) in a FakeMemory, allocating table frames from `nextPfn` upwards. */
export class PageTableBuilder extends ModePageTableBuilder {
  constructor(mem: FakeMemory, nextPfn: number, readonly levels: 4 | 5 = 4, smeMask = 0n) {
    super(mem, levels === 5 ? X64_5LEVEL : X64_4LEVEL, { nextPfn, smeMask });
  }
}
