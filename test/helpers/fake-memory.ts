/**
 * In-memory PhysicalMemory over sparse 4 KiB pages, and a builder of x86-64 page tables in it:
 * fixtures for the walker and the Linux layers (memflow's DummyMemory / OffsetPageTable).
 */
import { AddressFault } from '../../src/util/errors.js';
import { MemoryRun, PAGE_SIZE, PhysicalMemory } from '../../src/mem/physical-memory.js';

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

/** Builds x86-64 page tables in a FakeMemory, allocating table frames from `nextPfn` upwards. */
export class PageTableBuilder {
  readonly rootPfn: number;
  constructor(readonly mem: FakeMemory, private nextPfn: number, readonly levels: 4 | 5 = 4, readonly smeMask = 0n) {
    this.rootPfn = this.alloc();
  }
  alloc(): number {
    const p = this.nextPfn++;
    this.mem.page(p);
    return p;
  }
  /**
   * Map va → pa with a page of 4 KiB, 2 MiB ('2M') or 1 GiB ('1G'). flags: low entry bits (default P|RW), nx sets bit 63.
   */
  map(va: bigint, pa: number, size: '4K' | '2M' | '1G' = '4K', opts: { flags?: number; nx?: boolean; tableFlags?: number } = {}): void {
    const shifts = this.levels === 5 ? [48, 39, 30, 21, 12] : [39, 30, 21, 12];
    const leafShift = size === '1G' ? 30 : size === '2M' ? 21 : 12;
    let table = this.rootPfn;
    for (const s of shifts) {
      const idx = Number((va >> BigInt(s)) & 511n);
      const at = table * 4096 + idx * 8;
      const cur = this.mem.read(at, 8).readBigUInt64LE();
      if (s === leafShift) {
        let e = (BigInt(pa) | this.smeMask | BigInt(opts.flags ?? 0x3)) | (s !== 12 ? 0x80n : 0n);
        if (opts.nx) e |= 1n << 63n;
        this.mem.writeU64(at, e);
        return;
      }
      if (cur & 1n) {
        table = Number((cur & ~this.smeMask & 0x000ffffffffff000n) >> 12n);
      } else {
        const t = this.alloc();
        this.mem.writeU64(at, (BigInt(t) << 12n) | this.smeMask | BigInt(opts.tableFlags ?? 0x7));
        table = t;
      }
    }
  }
}
