/**
 * The PFN database (guest-introspection.md B6) → a page type for every PFN.
 *
 * `MmPfnDatabase` (KDBG +0xC0 holds the variable's address; its value is the array) has one _MMPFN per
 * physical page up to `MmHighestPhysicalPage`; the array is only mapped where there is RAM. Each
 * entry says where the page is (u3.e1.PageLocation), whether it is a section page (u4.PrototypePte)
 * and which PTE maps it (PteAddress: the VA of a hardware PTE in the self-map, or of a prototype
 * PTE in a section), and the frame holding that PTE (u4.PteFrame). Decisions, in order:
 *
 *   0. not in the image                                                          → hole
 *   1. no entry (past MmHighestPhysicalPage, or its part of the array unmapped): a page Windows
 *      does not manage                                                            → other
 *   2. outside MmPhysicalMemoryBlock's runs (firmware, ROM, ACPI: Windows does not manage the page,
 *      and a zero entry there would read as Zeroed)                              → other
 * (`other` pages that are all zero become `zero` in introspect().)
 *   3. Zeroed, Free → free; Bad → hwpoison; Standby → standby
 *   4. Modified, ModifiedNoWrite, Active, Transition, by owner:
 *      a. PrototypePte: the section whose prototype PTEs hold PteAddress (processes.ts) →
 *         image (image section) / cache (data file) / shmem (pagefile-backed); no known section → cache
 *      b. PteAddress in the page-directory self-map: the PDE (read through PteFrame) with PS set →
 *         a frame of a large page (MemProcFS `MmPfnExType_LargePage`), its VA from the PDE's index
 *         and the frame's distance from the PDE's → by VA as in c; else a page table → pagetable
 *      c. PteAddress in the PTE self-map → the mapped VA = (PteAddress − 0xC0000000) / sizeof(MMPTE) ·
 *         4096 (MemProcFS mm_pfn.c, rekall `ptov`): below MmSystemRangeStart a process's private page
 *         → anon, or image when the owning process (PteFrame → its page table's PteFrame → the page
 *         directory, one of a process's) has a MEM_IMAGE VAD there (a copy-on-write image page);
 *         in the pools KDBG names (MmNonPagedPoolStart…End, MmPagedPoolStart…End) → slab; else
 *         kernel (kernel and driver images, stacks, the PFN database, system PTEs)
 *      d. anything else (no PTE: MDL, AWE, driver-locked pages)                  → kernel
 *   5. PAE: the frames holding the processes' PDPTs (DirectoryTableBase, 32-byte slots) → pagetable
 * The pool ranges are the boot-time ones: Windows 7 x86 also grows its pools into dynamically
 * assigned system VA (MiSystemVaType, not exported), and pages there are typed kernel.
 */
import { PAGE_SIZE, PhysicalMemory } from '../../mem/physical-memory.js';
import { IntrospectionError, IntrospectionErrorCode } from '../../util/errors.js';
import { PageMap, PageTypeCode } from '../pagemap.js';
import { Kdbg } from './kdbg.js';
import { BITS, PAGE_LOCATION_NAMES, PageLocation, PHYSICAL_MEMORY_DESCRIPTOR, PHYSICAL_MEMORY_RUN, WindowsLayout } from './offsets.js';
import type { Section, WindowsProcess } from './processes.js';
import { hex, KernelSpace } from './vmem.js';

export interface PfnStats {
  /** VA of the array, and how many entries were read (≤ MmHighestPhysicalPage + 1, bounded by the image). */
  database: string;
  highestPhysicalPage: number;
  entries: number;
  /** Entries whose part of the array is not mapped (their pages are typed other). */
  unreadable: number;
  /** From MmPhysicalMemoryBlock, when readable. */
  physicalMemoryRuns?: [number, number][];
  /** Pages per PageLocation name. */
  locations: Record<string, number>;
  /** Standby pages per priority 0–7 (u3.e1.Priority; Windows repurposes the lowest-priority standby list first). XP has one standby list: all 0 there. */
  standbyByPriority: number[];
  /** Owner decisions (4a–4d above). */
  prototype: { image: number; file: number; pagefile: number; unknown: number };
  largePages: number;
  /** PAE: frames holding PDPTs typed pagetable. */
  pdptPages: number;
  /** The pool ranges used for slab ([start, end) VAs), from KDBG. */
  pools: [number, number][];
  imageVadPrivate: number;
}

export interface PfnInputs {
  space: KernelSpace;
  layout: WindowsLayout;
  kdbg: Kdbg;
  /** PFNs the map covers (pfnSpan of memory). */
  pfns: number;
  processes: readonly WindowsProcess[];
  sections: ReadonlyMap<number, Section>;
  warnings: string[];
}

/** Most runs a _PHYSICAL_MEMORY_DESCRIPTOR is read with. */
const MAX_RUNS = 1024;
/** Array pages read per batch. */
const CHUNK_PAGES = 64;

export function classifyPfnDatabase(inp: PfnInputs): { map: PageMap; stats: PfnStats } {
  const { space, layout: l, kdbg: k, pfns } = inp;
  const mem = space.mem;
  const dbVa = space.u32(k.mmPfnDatabase, 'MmPfnDatabase (KDBG +0xC0)');
  const highest = space.u32(k.mmHighestPhysicalPage, 'MmHighestPhysicalPage (KDBG +0xF0)');
  const systemRangeStart = (k.mmSystemRangeStart >= 0x80000000 ? space.tryU32(k.mmSystemRangeStart) : undefined) ?? 0x80000000;
  const size = l.mmpfn.size;
  if (dbVa < 0x80000000 || dbVa % 4 !== 0) {
    throw new IntrospectionError(IntrospectionErrorCode.INCONSISTENT, `MmPfnDatabase is ${hex(dbVa)}, not a kernel address`, { structure: 'MmPfnDatabase', va: k.mmPfnDatabase });
  }
  let entries = Math.min(highest + 1, pfns);
  if (highest + 1 > pfns) inp.warnings.push(`PFN database: MmHighestPhysicalPage ${hex(highest)} is past the image's last page frame ${hex(pfns - 1)}; only the ${pfns} entries the image can hold are read`);
  if (dbVa + entries * size > 2 ** 32) {
    entries = Math.max(0, Math.floor((2 ** 32 - dbVa) / size));
    inp.warnings.push(`PFN database at ${hex(dbVa)} runs past the end of the address space; ${entries} entries read`);
  }
  const runs = readRuns(space, k, inp.warnings);
  const pools = readPools(space, k, inp.warnings);
  const inPool = (va: number) => {
    for (const [a, b] of pools) if (va >= a && va < b) return true;
    return false;
  };

  // Pass 1: the entries into typed arrays (house style 9: one buffer per batch, no allocation per entry).
  const loc = new Uint8Array(entries).fill(0xff); // 0xff = unreadable
  const flags = new Uint8Array(entries); // bit 0 PrototypePte, bits 1–3 Priority
  const pteAddr = new Uint32Array(entries);
  const pteFrame = new Uint32Array(entries);
  // One page more than a chunk: an entry that starts in the chunk may end in the next page.
  const chunk = Buffer.alloc((CHUNK_PAGES + 1) * PAGE_SIZE);
  const valid = new Uint8Array(CHUNK_PAGES + 1);
  // The entry's bit fields where this build keeps them (offsets.ts PfnBits: XP differs from Vista/7).
  const B = l.pfnBits;
  const locAt = B.pageLocationByte, pa = l.mmpfn.pteAddress;
  const [protoAt, protoBit] = B.prototypePte;
  const [frameAt, frameMask] = B.pteFrame;
  const prioAt = B.priorityByte ?? -1;
  const firstPage = Math.floor(dbVa / PAGE_SIZE);
  const lastPage = entries > 0 ? Math.floor((dbVa + entries * size - 1) / PAGE_SIZE) : firstPage - 1;
  let unreadable = 0;
  for (let vp = firstPage; vp <= lastPage; vp += CHUNK_PAGES) {
    const n = Math.min(CHUNK_PAGES, lastPage - vp + 1);
    const read = Math.min(n + 1, lastPage - vp + 1);
    for (let i = 0; i < read; i++) {
      const gpa = space.vtop((vp + i) * PAGE_SIZE);
      valid[i] = gpa >= 0 && mem.readPage(gpa / PAGE_SIZE, chunk, i * PAGE_SIZE) ? 1 : 0;
    }
    const chunkVa = vp * PAGE_SIZE;
    // Entries that start in this chunk's n pages.
    const from = Math.max(0, Math.ceil((chunkVa - dbVa) / size));
    const to = Math.min(entries, Math.ceil((chunkVa + n * PAGE_SIZE - dbVa) / size));
    for (let pfn = from; pfn < to; pfn++) {
      const off = dbVa + pfn * size - chunkVa;
      if (valid[Math.floor(off / PAGE_SIZE)] === 0 || valid[Math.floor((off + size - 1) / PAGE_SIZE)] === 0) continue;
      loc[pfn] = chunk[off + locAt] & BITS.pageLocationMask;
      // bit 0 PrototypePte, bits 1–3 the standby priority (0 where the build has one standby list).
      const proto = (chunk.readUInt32LE(off + protoAt) >>> protoBit) & 1;
      flags[pfn] = proto | (prioAt >= 0 ? (chunk[off + prioAt] & BITS.priorityMask) << 1 : 0);
      pteFrame[pfn] = (chunk.readUInt32LE(off + frameAt) & frameMask) >>> 0;
      pteAddr[pfn] = chunk.readUInt32LE(off + pa);
    }
  }
  for (let pfn = 0; pfn < entries; pfn++) if (loc[pfn] === 0xff) unreadable++;
  checkKnownPage(loc, Math.floor(k.pa / PAGE_SIZE), 'the page holding KDBG', dbVa, size);
  checkKnownPage(loc, Math.floor(space.rootPa / PAGE_SIZE), 'the page holding the kernel page-table root', dbVa, size);

  // Owners: page-directory frames of each process → the process (for user pages in image VADs).
  const ownerByPd = ownersByPageDirectory(space, inp.processes);
  const protoIndex = sectionIndex(inp.sections);

  // Pass 2: decisions.
  const types = new Uint8Array(pfns).fill(PageTypeCode.hole);
  const locations = new Float64Array(8);
  const stats: PfnStats = {
    database: hex(dbVa),
    highestPhysicalPage: highest,
    entries,
    unreadable,
    physicalMemoryRuns: runs,
    locations: {},
    standbyByPriority: [0, 0, 0, 0, 0, 0, 0, 0],
    prototype: { image: 0, file: 0, pagefile: 0, unknown: 0 },
    largePages: 0,
    imageVadPrivate: 0,
    pdptPages: 0,
    pools,
  };
  const managed = runs ? managedMask(runs, entries) : undefined;
  const pte = l.mmpteBytes;
  const pdeCache = new Map<number, number>();
  const largeSpan = (l.pae ? 512 : 1024) * PAGE_SIZE;
  for (let pfn = 0; pfn < pfns; pfn++) if (mem.isPresent(pfn)) types[pfn] = PageTypeCode.other;
  for (let pfn = 0; pfn < entries; pfn++) {
    if (types[pfn] === PageTypeCode.hole) continue;
    const t = loc[pfn];
    if (t === 0xff) continue;
    if (managed && managed[pfn] === 0) {
      types[pfn] = PageTypeCode.other;
      continue;
    }
    locations[t]++;
    switch (t) {
      case PageLocation.Zeroed:
      case PageLocation.Free:
        types[pfn] = PageTypeCode.free;
        continue;
      case PageLocation.Bad:
        types[pfn] = PageTypeCode.hwpoison;
        continue;
      case PageLocation.Standby:
        types[pfn] = PageTypeCode.standby;
        if (prioAt >= 0) stats.standbyByPriority[(flags[pfn] >> 1) & 7]++;
        continue;
    }
    const addr = pteAddr[pfn];
    if ((flags[pfn] & 1) !== 0) {
      const kind = lookupSection(protoIndex, addr);
      if (kind === 'image') stats.prototype.image++;
      else if (kind === 'file') stats.prototype.file++;
      else if (kind === 'pagefile') stats.prototype.pagefile++;
      else stats.prototype.unknown++;
      types[pfn] = kind === 'image' ? PageTypeCode.image : kind === 'pagefile' ? PageTypeCode.shmem : PageTypeCode.cache;
      continue;
    }
    if (addr >= l.pdSelfMap && addr < l.pdSelfMapEnd) {
      // A PDE maps this page: a page table, or a frame of a large page.
      const entryPa = pteFrame[pfn] * PAGE_SIZE + (addr % PAGE_SIZE);
      let base = pdeCache.get(entryPa);
      if (base === undefined) {
        base = largePageBase(mem, entryPa, space.pae, largeSpan / PAGE_SIZE);
        pdeCache.set(entryPa, base);
      }
      if (base >= 0 && pfn >= base && pfn < base + largeSpan / PAGE_SIZE) {
        stats.largePages++;
        const va = ((addr - l.pdSelfMap) / pte) * largeSpan + (pfn - base) * PAGE_SIZE;
        types[pfn] = inPool(va) ? PageTypeCode.slab : PageTypeCode.kernel;
      } else {
        types[pfn] = PageTypeCode.pagetable;
      }
      continue;
    }
    if (addr >= l.selfMapBase && addr < l.selfMapEnd) {
      const va = ((addr - l.selfMapBase) / pte) * PAGE_SIZE;
      if (va < systemRangeStart) {
        // The owning process: this page's PTE is in page table pteFrame, whose PDE is in a page directory.
        const pt = pteFrame[pfn];
        const pd = pt < entries ? pteFrame[pt] : -1;
        const owner = ownerByPd.get(pd);
        if (owner && inImageVad(owner, va / PAGE_SIZE)) {
          stats.imageVadPrivate++;
          types[pfn] = PageTypeCode.image;
        } else {
          types[pfn] = PageTypeCode.anon;
        }
      } else {
        types[pfn] = inPool(va) ? PageTypeCode.slab : PageTypeCode.kernel;
      }
      continue;
    }
    types[pfn] = PageTypeCode.kernel;
  }
  if (space.pae) {
    for (const dtb of [space.rootPa, ...inp.processes.map((p) => p.dtb)]) {
      const pfn = Math.floor(dtb / PAGE_SIZE);
      if (pfn < pfns && types[pfn] !== PageTypeCode.hole && types[pfn] !== PageTypeCode.pagetable) {
        types[pfn] = PageTypeCode.pagetable;
        stats.pdptPages++;
      }
    }
  }
  for (let i = 0; i < 8; i++) if (locations[i] > 0) stats.locations[PAGE_LOCATION_NAMES[i]] = locations[i];
  return { map: new PageMap(types), stats };
}

/** The entry of a page that must be in use is readable and Active, or the database is not what KDBG says. */
function checkKnownPage(loc: Uint8Array, pfn: number, what: string, dbVa: number, size: number): void {
  if (pfn >= loc.length) return;
  const t = loc[pfn];
  if (t === PageLocation.Active || t === PageLocation.Modified || t === PageLocation.ModifiedNoWrite) return;
  throw new IntrospectionError(IntrospectionErrorCode.INCONSISTENT,
    `PFN database at ${hex(dbVa)}: the entry of ${what} (pfn ${hex(pfn)}, at ${hex(dbVa + pfn * size)}) is ${t === 0xff ? 'not mapped' : `PageLocation ${PAGE_LOCATION_NAMES[t]}`}, not Active`,
    { structure: '_MMPFN', va: dbVa + pfn * size, pfn });
}

/** MmPhysicalMemoryBlock's runs [basePage, pageCount], or undefined (with a warning) when unreadable. */
function readRuns(space: KernelSpace, k: Kdbg, warnings: string[]): [number, number][] | undefined {
  const ptr = k.mmPhysicalMemoryBlock >= 0x80000000 ? space.tryU32(k.mmPhysicalMemoryBlock) : undefined;
  const head = ptr !== undefined && ptr >= 0x80000000 ? space.tryRead(ptr, PHYSICAL_MEMORY_DESCRIPTOR.run) : undefined;
  if (!head) {
    warnings.push('MmPhysicalMemoryBlock unreadable: every PFN up to MmHighestPhysicalPage is taken as managed (a zero entry outside RAM reads as Zeroed)');
    return undefined;
  }
  const n = head.readUInt32LE(PHYSICAL_MEMORY_DESCRIPTOR.numberOfRuns);
  if (n === 0 || n > MAX_RUNS) {
    warnings.push(`MmPhysicalMemoryBlock at ${hex(ptr!)} has ${n} runs; not used`);
    return undefined;
  }
  const b = space.tryRead(ptr! + PHYSICAL_MEMORY_DESCRIPTOR.run, n * PHYSICAL_MEMORY_RUN.size);
  if (!b) {
    warnings.push(`MmPhysicalMemoryBlock at ${hex(ptr!)}: its ${n} runs are not readable; not used`);
    return undefined;
  }
  const runs: [number, number][] = [];
  for (let i = 0; i < n; i++) runs.push([b.readUInt32LE(i * 8 + PHYSICAL_MEMORY_RUN.basePage), b.readUInt32LE(i * 8 + PHYSICAL_MEMORY_RUN.pageCount)]);
  return runs;
}

function managedMask(runs: [number, number][], entries: number): Uint8Array {
  const m = new Uint8Array(entries);
  for (const [base, count] of runs) if (base < entries) m.fill(1, base, Math.min(entries, base + count));
  return m;
}

/** The first frame of the large page the page-directory entry at `pa` maps (present, PS), or -1. */
function largePageBase(mem: PhysicalMemory, pa: number, pae: boolean, pages: number): number {
  let b: Buffer;
  try {
    b = mem.read(pa, pae ? 8 : 4);
  } catch {
    return -1;
  }
  const lo = b.readUInt32LE(0);
  if ((lo & 0x81) !== 0x81) return -1;
  // Non-PAE 4 MiB: PA bits 22–31 in the entry, 32–39 in bits 13–20 (PSE-36). PAE 2 MiB: bits 21–51.
  const pfn = pae ? (b.readUInt32LE(4) % 0x100000) * 2 ** 20 + (lo >>> 12) : (lo >>> 12) + ((lo >>> 13) & 0xff) * 2 ** 20;
  return pfn - (pfn % pages);
}

/**
 * The boot-time pool ranges KDBG names (MmNonPagedPoolStart…MmNonPagedPoolEnd exclusive,
 * MmPagedPoolStart…MmPagedPoolEnd the last byte: WRK mminit.c). A range that is empty, not in
 * system space or larger than 1 GiB is not used (warned).
 */
function readPools(space: KernelSpace, k: Kdbg, warnings: string[]): [number, number][] {
  const out: [number, number][] = [];
  const v = (addr: number) => (addr >= 0x80000000 ? space.tryU32(addr) : undefined);
  for (const [name, s, e, inclusive] of [['nonpaged', k.mmNonPagedPoolStart, k.mmNonPagedPoolEnd, false], ['paged', k.mmPagedPoolStart, k.mmPagedPoolEnd, true]] as const) {
    const start = v(s), last = v(e);
    if (start === undefined || last === undefined) continue;
    const end = inclusive ? last + 1 : last;
    if (start < 0x80000000 || end <= start || end - start > 2 ** 30) {
      warnings.push(`${name} pool range ${hex(start)}–${hex(last)} from KDBG not used`);
      continue;
    }
    out.push([start, end]);
  }
  return out;
}

/** Page-directory frames of each process: non-PAE the DTB's frame; PAE the four PDs its PDPT names. */
export function ownersByPageDirectory(space: KernelSpace, procs: readonly WindowsProcess[]): Map<number, WindowsProcess> {
  const m = new Map<number, WindowsProcess>();
  for (const p of procs) {
    if (!space.pae) {
      m.set(Math.floor(p.dtb / PAGE_SIZE), p);
      continue;
    }
    let b: Buffer;
    try {
      b = space.mem.read(p.dtb - (p.dtb % 32), 32);
    } catch {
      continue;
    }
    // User space is PDPTEs 0–1 (2 GiB; 0–2 with /3GB): only those PDs hold user page tables.
    for (let i = 0; i < 4; i++) {
      const lo = b.readUInt32LE(i * 8);
      if ((lo & 1) === 0) continue;
      m.set((b.readUInt32LE(i * 8 + 4) % 0x100000) * 2 ** 20 + (lo >>> 12), p);
    }
  }
  return m;
}

function inImageVad(p: WindowsProcess, vpn: number): boolean {
  const v = p.vads;
  let lo = 0, hi = v.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (v[mid].endVpn < vpn) lo = mid + 1;
    else if (v[mid].startVpn > vpn) hi = mid - 1;
    else return v[mid].image;
  }
  return false;
}

interface ProtoIndex {
  starts: Float64Array;
  ends: Float64Array;
  kinds: Section['kind'][];
}

/** Sorted prototype-PTE ranges of every known section. */
function sectionIndex(sections: ReadonlyMap<number, Section>): ProtoIndex {
  const all: [number, number, Section['kind']][] = [];
  for (const s of sections.values()) for (const [a, b] of s.protoRanges) all.push([a, b, s.kind]);
  all.sort((x, y) => x[0] - y[0]);
  return { starts: Float64Array.from(all, (r) => r[0]), ends: Float64Array.from(all, (r) => r[1]), kinds: all.map((r) => r[2]) };
}

/** The kind of the section holding prototype PTE `addr`: the last range starting at or before it that covers it. */
function lookupSection(ix: ProtoIndex, addr: number): Section['kind'] | undefined {
  let lo = 0, hi = ix.starts.length - 1, best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (ix.starts[mid] <= addr) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  // Ranges may overlap (a view inside its segment): look back while ranges could still cover addr.
  for (let i = best; i >= 0 && i > best - 64; i--) if (addr < ix.ends[i]) return ix.kinds[i];
  return undefined;
}
