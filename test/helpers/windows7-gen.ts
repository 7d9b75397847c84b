/**
 * The state of a synthetic Windows 7 x86 guest while windows7-image.ts builds it, and the
 * vocabulary of its truth: Windows page classes and the PageMap type each is given. The kernel
 * (windows7-kernel.ts) and process (windows7-processes.ts) passes write through it.
 */
import { PageType, PageTypeCode } from '../../src/introspect/pagemap.js';
import { FakeMemory } from './fake-memory.js';
import { fillStackPage, Rng } from './windows7-content.js';
import { KernelPool, KernelVm, newList, PfnDatabase, PfnList, PfnState, PhysAllocator, WinSpace } from './windows7-memory.js';
import { ABSENT, MmProtect, VISTA_SP2_X86, VISTA2, W7, WIN7_SP1_X86, WIN7_SP1_X86_PAE, WinGenBuild, Win7Layout, WinPte, XP_SP3_X86, XP3 } from './windows7-offsets.js';
import type { PeImage } from './windows7-pe.js';

/** Windows page classes of the truth (`truthWindows[pfn]` indexes this). */
export const WIN7_PAGE_CLASSES = [
  'unmanaged', 'zeroed', 'free', 'bad', 'standby', 'modified', 'modified-no-write', 'transition',
  'image', 'mapped-file', 'pagefile-section', 'private', 'page-table', 'kernel-image', 'kernel',
  'kernel-stack', 'pfn-database', 'pool',
] as const;
export type Win7PageClass = (typeof WIN7_PAGE_CLASSES)[number];
export const WC = Object.fromEntries(WIN7_PAGE_CLASSES.map((c, i) => [c, i])) as Record<Win7PageClass, number>;

/**
 * The PageMap type each Windows class is given in `truth`. Standby, modified and transition pages
 * take their owner's type (a standby page of an image is `image`, of a data file `cache`, of a
 * process `anon`, of a pagefile-backed section `shmem`): the shared vocabulary has no standby type;
 * whether it gets one is for the introspection work (truthWindows keeps the distinction).
 */
export const WIN7_CLASS_TYPES: Record<Win7PageClass, PageType | 'owner'> = {
  unmanaged: 'other',
  zeroed: 'free',
  free: 'free',
  bad: 'hwpoison',
  standby: 'owner',
  modified: 'owner',
  'modified-no-write': 'owner',
  transition: 'owner',
  image: 'image',
  'mapped-file': 'cache',
  'pagefile-section': 'shmem',
  private: 'anon',
  'page-table': 'pagetable',
  'kernel-image': 'kernel',
  kernel: 'kernel',
  'kernel-stack': 'kernel',
  'pfn-database': 'kernel',
  pool: 'slab',
};

/** System virtual addresses the generator uses (dynamic on Win7: these are plausible picks, inferred). */
export const WIN7_VA = {
  largeKernel: 0x82800000,
  largeKernelEnd: 0x82c00000,
  halBase: 0x8280c000,
  kernBaseMin: 0x82843000,
  pfnDatabase: 0x84000000,
  nonPagedPool: 0x84400000,
  nonPagedPoolEnd: 0x85400000,
  pagedPool: 0x8a000000,
  pagedPoolEnd: 0x8b000000,
  kernelStacks: 0x8d000000,
  bootMappings: 0x80b00000,
  highestUserAddress: 0x7ffeffff,
  systemRangeStart: 0x80000000,
  userProbeAddress: 0x7fff0000,
} as const;

export interface Win7ProcessSpec {
  name: string;
  pid?: number;
  ppid?: number;
  /** Windows path of the EXE (default \Windows\System32\<name>). */
  image?: string;
  /** DLL base names from the file catalogue (default: by name). */
  dlls?: string[];
  /** Has a desktop (maps fonts, sorting tables and the GDI shared section). */
  gui?: boolean;
  /** Committed process-heap pages. */
  heapPages?: number;
}

export interface Win7VadLayout {
  start: number;
  /** Last byte, inclusive. */
  end: number;
  /** VA of the node (the pool tag is at node − 4). */
  node: number;
  tag: 'VadS' | 'Vad ' | 'Vadl';
  kind: 'private' | 'image' | 'mapped' | 'pagefile';
  protection: number;
  /** Windows path of the file behind an image or data view. */
  path?: string;
  /** Index into layout.sections. */
  section?: number;
}

/** How a user page is reached from its process's page table. */
export type UserPteKind = 'valid' | 'transition' | 'prototype' | 'vad-prototype';

export interface Win7UserPage {
  va: number;
  pfn: number;
  via: UserPteKind;
}

export interface Win7ProcessLayout {
  name: string;
  pid: number;
  ppid: number;
  eprocess: number;
  /** Pcb.DirectoryTableBase (= CR3 in this process). */
  dtb: number;
  /** PFNs of its page directory (PAE: the four PDs). */
  pdPfns: number[];
  peb: number;
  vads: Win7VadLayout[];
  /** Every resident page of its VADs (user half) and how the PTE reaches it. */
  pages: Win7UserPage[];
  workingSetListPfn: number;
}

export interface Win7SectionLayout {
  kind: 'image' | 'data' | 'pagefile';
  path?: string;
  controlArea: number;
  segment: number;
  /** VA of prototype PTE 0 and the count. */
  firstProto: number;
  ptes: number;
  fileObject: number;
  /** Resident PFN per prototype PTE, −1 when not resident. */
  pfns: Int32Array;
  /** Subsections in order: VA, first page, page count, VA of their first prototype PTE (data files: separate arrays). */
  subsections: { va: number; first: number; count: number; protoBase: number }[];
}

export interface Win7ImageLayout {
  pae: boolean;
  ramPages: number;
  highestPfn: number;
  physicalRuns: [number, number][];
  systemDtb: number;
  systemPdPfns: number[];
  kernBase: number;
  kernelSize: number;
  halBase: number;
  largePages: { va: number; pa: number; size: number }[];
  kdbg: number;
  versionBlock: number;
  kpcr: number;
  idleEprocess: number;
  kuserPfn: number;
  pfnDatabase: number;
  pfnEntrySize: number;
  /** Kernel variables (VAs). */
  vars: Record<string, number>;
  /** List heads (VAs): zeroed, free, standby[0..7], modified, modifiedNoWrite, bad. */
  lists: { zeroed: number; free: number; standby: number[]; modified: number; modifiedNoWrite: number; bad: number };
  /** Pages on each standby list (priority 0–7). */
  standbyTotals: number[];
  processes: Win7ProcessLayout[];
  sections: Win7SectionLayout[];
  pools: { nonPaged: [number, number]; paged: [number, number] };
}

/** Builds the generator writes: Windows 7 SP1 (non-PAE and PAE), Vista SP2 and XP SP3 (non-PAE: no published PAE layout). */
export type WinGenBuildName = 'win7sp1' | 'vistasp2' | 'xpsp3';

/** The build table and paging-kernel table for a build and mode, or an Error when no layout is published. */
export function genLayouts(build: WinGenBuildName, pae: boolean): { B: WinGenBuild; L: Win7Layout } {
  if (build === 'win7sp1') return { B: W7, L: pae ? WIN7_SP1_X86_PAE : WIN7_SP1_X86 };
  if (pae) throw new Error(`${build} PAE: no published PAE kernel layout in the sources (windows7-offsets.ts)`);
  return build === 'vistasp2' ? { B: VISTA2, L: VISTA_SP2_X86 } : { B: XP3, L: XP_SP3_X86 };
}

/** The guest's state while it is built; the pieces (kernel, processes) write through it. */
export class Win7Gen {
  readonly L: Win7Layout;
  /** The paging-independent layout of the build (W7, VISTA2). */
  readonly B: WinGenBuild;
  readonly rng: Rng;
  readonly ramPages: number;
  readonly highestPfn: number;
  readonly runs: [number, number][];
  readonly mem = new FakeMemory();
  readonly ram: Buffer;
  readonly phys: PhysAllocator;
  readonly db: PfnDatabase;
  readonly cls: Uint8Array;
  readonly type: Uint8Array;
  readonly kvm: KernelVm;
  readonly sys: WinSpace;
  readonly systemDtb: number;
  readonly systemPdPfns: number[] = [];
  npp!: KernelPool;
  pp!: KernelPool;
  readonly files = new Map<string, Buffer>();
  readonly images = new Map<string, PeImage>();
  readonly vars: Record<string, number> = {};
  /** Kernel .data bump allocator. */
  private dataNext = 0;
  private dataEnd = 0;
  private stackNext: number = WIN7_VA.kernelStacks;
  private bootNext: number = WIN7_VA.bootMappings;
  /** No kernel page-directory entries may be created once process directories copied them. */
  kernelFrozen = false;
  /** Pending list insertions, shuffled before linking (lists are in arrival order, not address order). */
  private readonly pending: { list: PfnList; pfn: number; s: PfnState }[] = [];
  readonly lists: { zeroed: PfnList; free: PfnList; standby: PfnList[]; modified: PfnList; modifiedNoWrite: PfnList; bad: PfnList };

  constructor(readonly opts: { pae: boolean; ramMiB: number; seed: number; build?: WinGenBuildName }) {
    ({ B: this.B, L: this.L } = genLayouts(opts.build ?? 'win7sp1', opts.pae));
    this.rng = new Rng(opts.seed);
    this.ramPages = opts.ramMiB * 256;
    // RAM is one buffer; the FakeMemory pages are views of it (so raw() costs nothing).
    this.ram = Buffer.alloc(this.ramPages * 4096);
    for (let p = 0; p < this.ramPages; p++) this.mem.pages.set(p, this.ram.subarray(p * 4096, p * 4096 + 4096));
    this.highestPfn = this.ramPages - 32 - 1;
    this.runs = [[1, 0x9e], [0x100, this.highestPfn + 1 - 0x100]];
    this.phys = new PhysAllocator(this.ramPages, this.runs, this.rng.fork('phys'));
    this.db = new PfnDatabase(this.highestPfn + 1, this.L);
    this.cls = new Uint8Array(this.ramPages);
    this.type = new Uint8Array(this.ramPages);
    this.kvm = new KernelVm(this.mem);
    const placeholder = newList(0, 0);
    this.lists = { zeroed: placeholder, free: placeholder, standby: [], modified: placeholder, modifiedNoWrite: placeholder, bad: placeholder };
    // The System directory where winload leaves it.
    if (this.L.pae) {
      this.systemDtb = 0x185000;
      this.phys.take(0x185);
      for (let i = 0; i < 4; i++) this.systemPdPfns.push(this.phys.take(0x186 + i));
    } else {
      this.systemDtb = 0x185000;
      this.systemPdPfns.push(this.phys.take(0x185));
    }
    this.sys = new WinSpace(this.mem, this.L, this.systemDtb, () => this.allocTable(), (t) => this.tableRecord(t.pfn, t.pdeVa, t.pdPfn));
    this.initDirectory(this.sys, this.systemPdPfns);
  }

  /** Mark a page's class and truth type. */
  claim(pfn: number, c: Win7PageClass, type?: PageType): void {
    this.cls[pfn] = WC[c];
    const t = WIN7_CLASS_TYPES[c];
    const resolved = t === 'owner' ? type : t;
    if (!resolved) throw new Error(`class ${c} needs an owner type`);
    this.type[pfn] = PageTypeCode[resolved];
  }

  allocTable(): number {
    const p = this.phys.any();
    this.claim(p, 'page-table');
    return p;
  }

  tableRecord(pfn: number, pdeVa: number, pdPfn: number): void {
    this.db.active(pfn, { pteVa: pdeVa, pteFrame: pdPfn, share: 1, origLo: MmProtect.readWrite << WinPte.protectionShift });
  }

  /**
   * A fresh directory: PAE PDPT entries (P only) to its four PDs, the self-map entries, the PFN
   * records of the directory pages (their "PTE" is the self-map entry).
   */
  initDirectory(space: WinSpace, pdPfns: number[]): void {
    const L = this.L;
    if (L.pae) {
      for (let i = 0; i < 4; i++) {
        this.mem.page(pdPfns[i]).fill(0);
        space.writeEntry(space.dtb + 8 * i, pdPfns[i] * 4096 + 1, 0);
      }
      const pd3 = pdPfns[3] * 4096;
      for (let i = 0; i < 4; i++) space.writeEntry(pd3 + 8 * i, pdPfns[i] * 4096 + WinPte.kernelPde, 0);
      for (let i = 0; i < 4; i++) {
        this.claim(pdPfns[i], 'page-table');
        this.db.active(pdPfns[i], { pteVa: L.pdeBase + 0x3000 + 8 * i, pteFrame: pdPfns[3], share: 1 });
      }
    } else {
      this.mem.page(pdPfns[0]).fill(0);
      space.writeEntry(pdPfns[0] * 4096 + 0x300 * 4, pdPfns[0] * 4096 + WinPte.kernelPde);
      this.claim(pdPfns[0], 'page-table');
      this.db.active(pdPfns[0], { pteVa: L.selfMapPde, pteFrame: pdPfns[0], share: 1 });
    }
  }

  /** Kernel PTE flags: valid, accessed, global; writable ones dirty with the MP Write bit; NX on PAE data. */
  kernelPte(pfn: number, rw: boolean, exec: boolean, global = true): [number, number] {
    const lo = ((pfn % 0x100000) * 4096 + (WinPte.valid | WinPte.accessed | (global ? WinPte.global : 0)) + (rw ? WinPte.write | WinPte.dirty | WinPte.swWrite : 0)) >>> 0;
    const hi = (Math.floor(pfn / 0x100000) | (this.L.pae && !exec ? WinPte.nxHi : 0)) >>> 0;
    return [lo, hi];
  }

  /** Map a kernel page (System directory) and give it its _MMPFN record. */
  kmap(va: number, pfn: number, c: Win7PageClass, o: { rw?: boolean; exec?: boolean; kernelStack?: boolean; global?: boolean } = {}): void {
    if (this.kernelFrozen && this.sys.ptePa(va) < 0) throw new Error(`kernel table for 0x${va.toString(16)} created after process directories were copied`);
    const [lo, hi] = this.kernelPte(pfn, o.rw ?? true, o.exec ?? false, o.global ?? true);
    const { ptPfn } = this.sys.setPte(va, lo, hi, false);
    this.kvm.mapPage(va, pfn);
    this.claim(pfn, c);
    this.db.active(pfn, {
      pteVa: this.sys.pteVa(va),
      pteFrame: ptPfn,
      share: 1,
      kernelStack: o.kernelStack,
      origLo: ((o.rw ?? true) ? MmProtect.readWrite : MmProtect.executeRead) << WinPte.protectionShift,
    });
  }

  /** A kernel VA for a page the loader placed (the System PDPT page, say). */
  bootMap(pfn: number, c: Win7PageClass): number {
    const va = this.bootNext;
    this.bootNext += 4096;
    this.kmap(va, pfn, c);
    return va;
  }

  /** A kernel stack: guard page then `pages` pages (KernelStack set in their _MMPFN). */
  kernelStack(pages: number, codeRanges: [number, number][]): number {
    const base = this.stackNext + 4096;
    this.stackNext += (pages + 1) * 4096;
    for (let i = 0; i < pages; i++) {
      const pfn = this.phys.any();
      this.kmap(base + i * 4096, pfn, 'kernel-stack', { kernelStack: true });
      fillStackPage(this.rng, this.mem.page(pfn), 0, base + i * 4096, codeRanges, i === pages - 1 ? 0x400 : 0xc00);
    }
    return base + pages * 4096;
  }

  /** A variable in the kernel's .data. */
  kvar(name: string, size: number, alignTo = 8): number {
    let va = Math.ceil(this.dataNext / alignTo) * alignTo;
    if (this.rng.chance(0.5)) va += alignTo * this.rng.range(1, 8);
    if (va + size > this.dataEnd) throw new Error('kernel .data exhausted');
    this.dataNext = va + size;
    if (name) this.vars[name] = va;
    this.kvm.write(va, Buffer.alloc(size));
    return va;
  }

  setData(start: number, end: number): void {
    this.dataNext = start;
    this.dataEnd = end;
  }

  /** Queue a page for a list; linked in random order by flushLists(). */
  queue(list: PfnList, pfn: number, s: PfnState): void {
    this.pending.push({ list, pfn, s });
  }

  flushLists(): void {
    const r = this.rng.fork('lists');
    for (let i = this.pending.length - 1; i > 0; i--) {
      const j = r.int(i + 1);
      [this.pending[i], this.pending[j]] = [this.pending[j], this.pending[i]];
    }
    for (const e of this.pending) this.db.append(e.list, e.pfn, e.s);
    this.pending.length = 0;
  }

  /** The standby list a page of this priority goes on (XP has one). */
  standbyList(priority: number): PfnList {
    const s = this.lists.standby;
    return s.length === 1 ? s[0] : s[priority];
  }

  /** Write an _MMPFNLIST head. */
  writeList(l: PfnList): void {
    const M = this.B.mmpfnlist;
    this.kvm.u32(l.va + M.total, l.total);
    this.kvm.u32(l.va + M.listName, l.name);
    this.kvm.u32(l.va + M.flink, l.flink);
    this.kvm.u32(l.va + M.blink, l.blink);
    if (M.lock !== ABSENT) this.kvm.u32(l.va + M.lock, 0);
  }
}

