/**
 * The memory manager side of the synthetic Windows 7 x86 images (windows7-image.ts): which physical
 * pages are taken, the _MMPFN records and page lists as Windows keeps them, page tables with
 * Windows' PTE formats (built with ModePageTableBuilder), the kernel's virtual address space and its
 * pools. Offsets come from windows7-offsets.ts.
 */
import { PagingMode, X86_NONPAE, X86_PAE } from '../../src/introspect/x86/paging.js';
import type { FakeMemory } from './fake-memory.js';
import { ModePageTableBuilder } from './page-table-builder.js';
import { fillPoolBlocks, Rng } from './windows7-content.js';
import { MM_EMPTY_LIST, PageLocation, W7, Win7Layout, WinPte } from './windows7-offsets.js';

/** Random page allocation over the pages Windows manages (its physical memory descriptor runs). */
export class PhysAllocator {
  private readonly pool: Int32Array;
  private readonly pos: Int32Array;
  private size = 0;

  constructor(pfnCount: number, runs: readonly (readonly [number, number])[], private readonly rng: Rng) {
    this.pool = new Int32Array(pfnCount);
    this.pos = new Int32Array(pfnCount).fill(-1);
    for (const [start, count] of runs) {
      for (let p = start; p < start + count; p++) {
        this.pos[p] = this.size;
        this.pool[this.size++] = p;
      }
    }
  }

  get remaining(): number {
    return this.size;
  }

  isFree(pfn: number): boolean {
    return this.pos[pfn] >= 0;
  }

  /** Take a given page (boot-time allocations at fixed addresses). */
  take(pfn: number): number {
    const i = this.pos[pfn];
    if (i < 0) throw new Error(`PFN 0x${pfn.toString(16)} is not free`);
    const last = this.pool[--this.size];
    this.pool[i] = last;
    this.pos[last] = i;
    this.pos[pfn] = -1;
    return pfn;
  }

  /** A random free page. */
  any(): number {
    if (this.size === 0) throw new Error('out of guest memory: raise ramMiB or shrink the workload');
    return this.take(this.pool[this.rng.int(this.size)]);
  }

  /** Every page still free, in random order (for the free/zeroed/standby fill at the end). */
  drain(): number[] {
    const out = Array.from(this.pool.subarray(0, this.size));
    for (const p of out) this.pos[p] = -1;
    this.size = 0;
    return out;
  }
}

/** A page list head (_MMPFNLIST) as the kernel variable holds it. */
export interface PfnList {
  name: number;
  total: number;
  flink: number;
  blink: number;
  /** Kernel VA of the head. */
  va: number;
}

export function newList(name: number, va: number): PfnList {
  return { name, total: 0, flink: MM_EMPTY_LIST, blink: MM_EMPTY_LIST, va };
}

/** MmSecondaryColors used for the colored free lists (a power of two; the value is (inferred)). */
export const SECONDARY_COLORS = 64;

export interface PfnState {
  pteVa: number;
  pteFrame: number;
  proto?: boolean;
  share?: number;
  ref?: number;
  wsIndex?: number;
  modified?: boolean;
  origLo?: number;
  origHi?: number;
  kernelStack?: boolean;
  priority?: number;
  readInProgress?: boolean;
}

/** The _MMPFN array: one record per PFN up to MmHighestPhysicalPage, serialised at the end. */
export class PfnDatabase {
  readonly u1: Uint32Array;
  readonly u2: Uint32Array;
  readonly pte: Uint32Array;
  readonly ref: Uint16Array;
  readonly e1: Uint8Array;
  readonly e2: Uint8Array;
  readonly origLo: Uint32Array;
  readonly origHi: Uint32Array;
  /** u4.PteFrame (or, on a colored free list, the previous PFN), and PrototypePte apart: where they go depends on the format. */
  readonly u4: Uint32Array;
  readonly proto: Uint8Array;
  /** Whether the record was set (others stay all zero: pages Windows does not manage). */
  readonly set: Uint8Array;
  private readonly colorTail = new Int32Array(2 * SECONDARY_COLORS).fill(-1);

  constructor(readonly entries: number, readonly layout: Win7Layout) {
    this.u1 = new Uint32Array(entries);
    this.u2 = new Uint32Array(entries);
    this.pte = new Uint32Array(entries);
    this.ref = new Uint16Array(entries);
    this.e1 = new Uint8Array(entries);
    this.e2 = new Uint8Array(entries);
    this.origLo = new Uint32Array(entries);
    this.origHi = new Uint32Array(entries);
    this.u4 = new Uint32Array(entries);
    this.proto = new Uint8Array(entries);
    this.set = new Uint8Array(entries);
  }

  location(pfn: number): number {
    return this.e1[pfn] & 7;
  }

  private fill(pfn: number, location: number, s: PfnState): void {
    if (pfn >= this.entries) throw new Error(`PFN 0x${pfn.toString(16)} is past MmHighestPhysicalPage`);
    if (this.set[pfn]) throw new Error(`PFN 0x${pfn.toString(16)} set twice`);
    this.set[pfn] = 1;
    this.pte[pfn] = s.pteVa >>> 0;
    this.ref[pfn] = s.ref ?? (location === PageLocation.Active || location === PageLocation.Transition ? 1 : 0);
    this.e1[pfn] = location | (s.modified ? 0x10 : 0) | (s.readInProgress ? 0x20 : 0);
    this.e2[pfn] = ((s.priority ?? 0) & 7) | (s.kernelStack ? 0x20 : 0);
    this.origLo[pfn] = (s.origLo ?? 0) >>> 0;
    this.origHi[pfn] = (s.origHi ?? 0) >>> 0;
    this.u4[pfn] = (s.pteFrame & this.frameMask) >>> 0;
    this.proto[pfn] = s.proto ? 1 : 0;
  }

  /** u4.PteFrame's width: 25 bits on Vista/7, 26 on XP (V2 __unnamed_1432 / __unnamed_1325). */
  get frameMask(): number {
    return this.layout.pfnFormat === 'nt5' ? 0x3ffffff : 0x1ffffff;
  }

  /** A page in use (Active) or being read (Transition): u1 = WsIndex, u2 = ShareCount. */
  active(pfn: number, s: PfnState, location: number = PageLocation.Active): void {
    this.fill(pfn, location, s);
    this.u1[pfn] = s.wsIndex ?? 0;
    this.u2[pfn] = s.share ?? 1;
  }

  /**
   * Append to a list as MiInsertPageInList does (S03 pfnlist.c): u1.Flink / u2.Blink are PFNs, the
   * ends MM_EMPTY_LIST, the head's Flink/Blink the first and last PFN.
   */
  append(list: PfnList, pfn: number, s: PfnState): void {
    this.fill(pfn, list.name, s);
    this.link(list, pfn);
  }

  private link(list: PfnList, pfn: number): void {
    const last = list.blink;
    if (last !== MM_EMPTY_LIST) this.u1[last] = pfn;
    else list.flink = pfn;
    list.blink = pfn;
    this.u1[pfn] = MM_EMPTY_LIST;
    this.u2[pfn] = last;
    list.total++;
  }

  /**
   * A zeroed or free page (MiInsertPageInFreeList, S03): on the list as above and on its colored list,
   * which links through OriginalPte (next) and u4.PteFrame (previous); PteAddress keeps its old value.
   */
  appendFree(list: PfnList, pfn: number, stalePteVa: number): void {
    this.fill(pfn, list.name, { pteVa: stalePteVa, pteFrame: 0 });
    this.link(list, pfn);
    const color = pfn & (SECONDARY_COLORS - 1);
    const slot = list.name * SECONDARY_COLORS + color;
    const prev = this.colorTail[slot];
    this.u4[pfn] = prev < 0 ? MM_EMPTY_LIST & this.frameMask : prev;
    if (prev >= 0) this.origLo[prev] = pfn;
    this.origLo[pfn] = MM_EMPTY_LIST;
    this.colorTail[slot] = pfn;
  }

  /**
   * The database bytes, MmPfnDatabase[0 .. entries). e1/e2 hold the flags as Vista/7 lay them out
   * (e1: PageLocation 0–2, Modified 4, ReadInProgress 5; e2: Priority 0–2, KernelStack 5); 'nt5'
   * (XP, V2 xp_sp3 _MMPFNENTRY / __unnamed_1325) moves them: u3.e1 ULONG Modified 0,
   * ReadInProgress 1, PrototypePte 3, PageLocation 8–10 (ReferenceCount, u16 at +2 of it, over
   * DontUse); u4 PteFrame 0–25, KernelStack 30; no priority.
   */
  serialize(): Buffer {
    const L = this.layout.mmpfn;
    const nt5 = this.layout.pfnFormat === 'nt5';
    const out = Buffer.alloc(this.entries * L.size);
    for (let p = 0; p < this.entries; p++) {
      if (!this.set[p]) continue;
      const o = p * L.size;
      out.writeUInt32LE(this.u1[p], o + L.u1);
      out.writeUInt32LE(this.u2[p], o + L.u2);
      out.writeUInt32LE(this.pte[p], o + L.pteAddress);
      const e1 = this.e1[p], e2 = this.e2[p];
      if (nt5) {
        const flags = ((e1 >> 4) & 1) | (((e1 >> 5) & 1) << 1) | (this.proto[p] << 3) | ((e1 & 7) << 8);
        out.writeUInt16LE(flags, o + L.e1);
        out.writeUInt16LE(this.ref[p], o + L.u3RefCount);
        out.writeUInt32LE((this.u4[p] | ((e2 & 0x20) !== 0 ? 1 << 30 : 0)) >>> 0, o + L.u4);
      } else {
        out.writeUInt16LE(this.ref[p], o + L.u3RefCount);
        out[o + L.e1] = e1;
        out[o + L.e2] = e2;
        out.writeUInt32LE((this.u4[p] | (this.proto[p] << 27)) >>> 0, o + L.u4);
      }
      out.writeUInt32LE(this.origLo[p], o + L.originalPte);
      if (this.layout.pae) out.writeUInt32LE(this.origHi[p], o + L.originalPte + 4);
    }
    return out;
  }
}

/** ModePageTableBuilder whose table frames come from the guest's page allocator. */
class AllocatingBuilder extends ModePageTableBuilder {
  allocTable: () => number = () => {
    throw new Error('no allocator');
  };

  override alloc(): number {
    const p = this.allocTable();
    this.mem.page(p).fill(0);
    return p;
  }
}

/** What a page table page maps: reported once per new table so its _MMPFN can be filled. */
export interface TableInfo {
  /** PFN of the page table. */
  pfn: number;
  /** VA of the PDE that maps it (in the self-map), and the PFN of the directory holding that PDE. */
  pdeVa: number;
  pdPfn: number;
}

/**
 * One address space (the System directory or a process's): PTEs written with Windows' formats.
 * Page tables are allocated on demand through `allocTable` and reported through `onTable`.
 */
export class WinSpace {
  readonly mode: PagingMode;
  readonly builder: AllocatingBuilder;
  private readonly seenTables = new Set<number>();

  constructor(
    readonly mem: FakeMemory,
    readonly layout: Win7Layout,
    /** CR3 value: the page directory (non-PAE) or the PDPT (PAE, 32-byte aligned). */
    readonly dtb: number,
    allocTable: () => number,
    private readonly onTable: (t: TableInfo) => void,
  ) {
    this.mode = layout.pae ? X86_PAE : X86_NONPAE;
    this.builder = new AllocatingBuilder(mem, this.mode, { nextPfn: 0, rootPa: dtb });
    this.builder.allocTable = allocTable;
  }

  /** VA of the PTE that maps `va` (self-map). */
  pteVa(va: number): number {
    return (this.layout.pteBase + Math.floor(va / 4096) * this.layout.pteSize) >>> 0;
  }

  /** VA of the PDE that maps `va` (self-map). */
  pdeVa(va: number): number {
    const shift = this.layout.pae ? 21 : 22;
    return (this.layout.pdeBase + Math.floor(va / 2 ** shift) * this.layout.pteSize) >>> 0;
  }

  /** Physical address of the directory holding the PDE for `va`. */
  directoryPa(va: number): number {
    if (!this.layout.pae) return this.dtb;
    const pdpte = this.readEntry(this.dtb + Math.floor(va / 2 ** 30) * 8);
    return Number(pdpte & 0xfffff000n);
  }

  readEntry(pa: number): bigint {
    return this.builder.readEntry(pa);
  }

  writeEntry(pa: number, lo: number, hi = 0): void {
    this.builder.writeEntry(pa, this.layout.pae ? (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0) : BigInt(lo >>> 0));
  }

  /**
   * Write the PTE for `va` (creating its page table with a user or kernel PDE); returns the PTE's
   * physical address and the page table's PFN.
   */
  setPte(va: number, lo: number, hi: number, user: boolean): { pa: number; ptPfn: number } {
    const at = this.builder.map(BigInt(va >>> 0), 0, '4K', { flags: 0, tableFlags: user ? WinPte.userPde : WinPte.kernelPde });
    this.writeEntry(at, lo, hi);
    const ptPfn = Math.floor(at / 4096);
    if (!this.seenTables.has(ptPfn)) {
      this.seenTables.add(ptPfn);
      const dirPa = this.directoryPa(va);
      this.onTable({ pfn: ptPfn, pdeVa: this.pdeVa(va), pdPfn: Math.floor(dirPa / 4096) });
    }
    return { pa: at, ptPfn };
  }

  /** A large-page PDE (4 MiB non-PAE, 2 MiB PAE). */
  setLarge(va: number, pa: number, lo: number): number {
    return this.builder.map(BigInt(va >>> 0), pa, this.layout.pae ? '2M' : '4M', { flags: lo & ~WinPte.large });
  }

  /** PTE physical address for `va` if its table exists, else -1. */
  ptePa(va: number): number {
    const levels = this.mode.levels;
    let table = this.dtb;
    for (let l = 0; l < levels.length - 1; l++) {
      const e = this.readEntry(this.builder.entryAddress(table, l, BigInt(va >>> 0)));
      if (!(e & 1n) || (levels[l].largeAllowed && e & 0x80n)) return -1;
      table = Number(e & BigInt(this.mode.addrMask));
    }
    return this.builder.entryAddress(table, levels.length - 1, BigInt(va >>> 0));
  }
}

/** Encodings of Windows' software PTEs (see WinPte in windows7-offsets.ts). */
export const PteCodec = {
  /** Transition PTE: frame kept, Protection in bits 5–9. */
  transition(pfn: number, protection: number): [number, number] {
    return [((pfn % 0x100000) * 4096 + WinPte.transition + (protection << WinPte.protectionShift)) >>> 0, Math.floor(pfn / 0x100000)];
  },
  /** A prototype PTE pointing at the prototype PTE at `protoVa`. */
  prototype(pae: boolean, protoVa: number, protection: number): [number, number] {
    if (pae) return [(WinPte.prototype | (protection << WinPte.paeProtoProtectionShift)) >>> 0, protoVa >>> 0];
    const a = (protoVa - 0x80000000) >>> 0;
    if (a & 3 || protoVa < 0x80000000) throw new Error(`prototype PTE address 0x${protoVa.toString(16)} not encodable`);
    return [(WinPte.prototype | (((a >>> 10) & 0x1fffff) << 11) | (((a >>> 2) & 0xff) << 1)) >>> 0, 0];
  },
  /** The "look in the VAD" prototype PTE (address field all ones). */
  vadPrototype(pae: boolean, protection: number): [number, number] {
    if (pae) return [(WinPte.prototype | (protection << WinPte.paeProtoProtectionShift)) >>> 0, 0xffffffff];
    return [(0xfffff000 | WinPte.prototype | (protection << WinPte.protectionShift)) >>> 0, 0];
  },
  /** Decode a non-PAE prototype PTE's address (MPF MMWINX86_PTE_PROTOTYPE, without its alignment filter). */
  protoAddressNonPae(lo: number): number {
    return (0x80000000 | ((lo >>> 1) & 0x7ffffc00) | ((lo << 1) & 0x3fc)) >>> 0;
  },
  /** Subsection PTE (a section page not in memory): PAE SubsectionAddress in bits 32–63; non-PAE (inferred). */
  subsection(pae: boolean, subsectionVa: number, protection: number): [number, number] {
    if (pae) return [(WinPte.prototype | (protection << WinPte.protectionShift)) >>> 0, subsectionVa >>> 0];
    const a = (subsectionVa - 0x80000000) >>> 0;
    return [(WinPte.prototype | (((a >>> 10) & 0x1fffff) << 11) | (((a >>> 1) & 0x1ff) << 1)) >>> 0, 0];
  },
  /** Software PTE of a page in the paging file (PageFileLow = file 0, offset in PageFileHigh). */
  pagefile(pae: boolean, offset: number, protection: number): [number, number] {
    if (pae) return [(protection << WinPte.protectionShift) >>> 0, offset >>> 0];
    return [((offset << 12) | (protection << WinPte.protectionShift)) >>> 0, 0];
  },
  demandZero(protection: number): [number, number] {
    return [(protection << WinPte.protectionShift) >>> 0, 0];
  },
};

/**
 * The kernel's view of virtual memory for writing structures: every system VA mapped so far
 * resolves to its physical page (4 KiB PTEs and large pages).
 */
export class KernelVm {
  private readonly pages = new Map<number, number>();
  private readonly large: { va: number; pa: number; size: number }[] = [];

  constructor(readonly mem: FakeMemory) {}

  mapPage(va: number, pfn: number): void {
    this.pages.set(Math.floor(va / 4096), pfn);
  }

  mapLarge(va: number, pa: number, size: number): void {
    this.large.push({ va, pa, size });
  }

  pa(va: number): number {
    const p = this.pages.get(Math.floor(va / 4096));
    if (p !== undefined) return p * 4096 + (va % 4096);
    for (const l of this.large) if (va >= l.va && va < l.va + l.size) return l.pa + (va - l.va);
    throw new Error(`kernel VA 0x${va.toString(16)} is not mapped`);
  }

  write(va: number, data: Uint8Array): void {
    for (let done = 0; done < data.length; ) {
      const n = Math.min(4096 - ((va + done) % 4096), data.length - done);
      this.mem.write(this.pa(va + done), data.subarray(done, done + n));
      done += n;
    }
  }

  u8(va: number, v: number): void {
    this.write(va, Uint8Array.of(v & 0xff));
  }

  u16(va: number, v: number): void {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v & 0xffff);
    this.write(va, b);
  }

  u32(va: number, v: number): void {
    const pa = this.pa(va);
    if (pa % 4096 <= 4092) this.mem.page(Math.floor(pa / 4096)).writeUInt32LE(v >>> 0, pa % 4096);
    else {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(v >>> 0);
      this.write(va, b);
    }
  }

  u64(va: number, v: bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt.asUintN(64, v));
    this.write(va, b);
  }

  /** A self-referencing empty LIST_ENTRY. */
  emptyList(va: number): void {
    this.u32(va, va);
    this.u32(va + 4, va);
  }

  /** Link `entryVa` at the tail of the LIST_ENTRY at `headVa` (InsertTailList). */
  insertTail(headVa: number, entryVa: number): void {
    const blink = this.read32(headVa + 4);
    this.u32(entryVa, headVa);
    this.u32(entryVa + 4, blink);
    this.u32(blink, entryVa);
    this.u32(headVa + 4, entryVa);
  }

  read32(va: number): number {
    const pa = this.pa(va);
    if (pa % 4096 <= 4092) return this.mem.page(Math.floor(pa / 4096)).readUInt32LE(pa % 4096);
    return this.mem.read(pa, 4).readUInt32LE(0);
  }

  /** A _UNICODE_STRING at `va` describing `bufferVa` holding `s`. */
  unicodeString(va: number, s: string, bufferVa: number): void {
    const bytes = Buffer.from(s, 'utf16le');
    this.u16(va + W7.unicodeString.length, bytes.length);
    this.u16(va + W7.unicodeString.maximumLength, bytes.length + 2);
    this.u32(va + W7.unicodeString.buffer, bufferVa);
    this.write(bufferVa, Buffer.concat([bytes, Buffer.alloc(2)]));
  }
}

/**
 * A kernel pool (nonpaged or paged) over a VA window: blocks with _POOL_HEADERs packed into pages,
 * other tags' blocks between them and at page ends (what a running system's pool looks like), and
 * whole-page allocations without a header (big pages). Pages come from `newPage`, which allocates
 * and maps them.
 */
export class KernelPool {
  private nextVa: number;
  private cur = -1;
  private off = 4096;
  private prevUnits = 0;
  /** Every pool page, for the truth. */
  readonly pagesVa: number[] = [];

  constructor(
    readonly name: string,
    readonly start: number,
    readonly end: number,
    private readonly poolType: number,
    private readonly vm: KernelVm,
    private readonly newPage: (va: number) => number,
    private readonly rng: Rng,
  ) {
    this.nextVa = start;
  }

  private page(): number {
    if (this.nextVa >= this.end) throw new Error(`${this.name} pool window exhausted`);
    const va = this.nextVa;
    this.nextVa += 4096;
    this.newPage(va);
    this.pagesVa.push(va);
    return va;
  }

  private closePage(): void {
    if (this.cur < 0) return;
    const pa = this.vm.pa(this.cur);
    const buf = this.vm.mem.page(Math.floor(pa / 4096));
    this.prevUnits = fillPoolBlocks(this.rng, buf, 0, this.off, 4096, this.poolType, this.prevUnits);
    this.cur = -1;
  }

  /** Allocate `bytes` with a pool header tagged `tag`; returns the VA after the header. `headroom` bytes of the block precede the returned VA (object headers). */
  alloc(bytes: number, tag: number): number {
    const units = Math.ceil((bytes + W7.poolHeader.size) / 8);
    if (units * 8 > 4096) throw new Error(`pool block of ${bytes} bytes: use allocPages`);
    if (this.cur >= 0 && this.off + units * 8 > 4096) this.closePage();
    if (this.cur < 0) {
      this.cur = this.page();
      this.off = 0;
      this.prevUnits = 0;
    }
    // Some other allocation before ours, now and then.
    if (this.rng.chance(0.35) && this.off + units * 8 + 64 <= 4096) {
      const gap = 8 * this.rng.range(2, Math.min(24, (4096 - this.off - units * 8) >> 3));
      const pa = this.vm.pa(this.cur);
      this.prevUnits = fillPoolBlocks(this.rng, this.vm.mem.page(Math.floor(pa / 4096)), 0, this.off, this.off + gap, this.poolType, this.prevUnits);
      this.off += gap;
    }
    const va = this.cur + this.off;
    const h = Buffer.alloc(8);
    h.writeUInt16LE(this.prevUnits & 0x1ff, 0);
    h.writeUInt16LE((units & 0x1ff) | (this.poolType << 9), 2);
    h.writeUInt32LE(tag >>> 0, 4);
    this.vm.write(va, h);
    this.vm.write(va + 8, Buffer.alloc(units * 8 - 8));
    this.prevUnits = units;
    this.off += units * 8;
    return va + 8;
  }

  /** Whole pages, page-aligned, no header. */
  allocPages(n: number): number {
    this.closePage();
    const first = this.page();
    for (let i = 1; i < n; i++) this.page();
    return first;
  }

  /** `n` pages of other allocations (pool blocks of the filler tags). */
  filler(n: number): void {
    this.closePage();
    for (let i = 0; i < n; i++) {
      this.cur = this.page();
      this.off = 0;
      this.closePage();
    }
  }

  finish(): void {
    this.closePage();
  }
}
