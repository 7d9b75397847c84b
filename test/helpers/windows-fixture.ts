/**
 * A tiny synthetic 32-bit Windows 7 SP1 guest in a FakeMemory, for the unit tests of
 * src/introspect/windows (the larger, independent generator is windows7-image.ts). Built with the
 * module's own offset tables, so it checks the logic, not the offsets.
 *
 * Physical layout: RAM PFNs [0, ramPages); MmPhysicalMemoryBlock runs [1, 0x9f) and [0x100, ramPages)
 * (PFN 0 and the 0x9f–0xff legacy hole are firmware's); page tables from PFN 0x100, everything else
 * from 0x180 up. Kernel VAs: ntoskrnl at 0x82800000 (4 KiB pages, or one large page), the PFN
 * database at 0x84000000, nonpaged pool pages from 0x85000000 (KDBG's MmNonPagedPoolStart: slab),
 * _KUSER_SHARED_DATA at 0xFFDF0000. One user
 * process (explorer.exe) with a heap, an image view (two section pages, one copy-on-write page), a
 * data-file view and a pagefile-backed view; System and Idle; free, zeroed, standby, modified and
 * bad pages. `expect` is the page type every PFN should get.
 */
import type { CpuRegisters } from '../../src/introspect/os.js';
import type { PageType } from '../../src/introspect/pagemap.js';
import { KDBG, KDBG_OWNER_TAG, KUSER, PageLocation, WIN7_SP1_X86, WIN7_SP1_X86_PAE, WindowsLayout } from '../../src/introspect/windows/offsets.js';
import { PagingMode, X86_NONPAE, X86_PAE } from '../../src/introspect/x86/paging.js';
import { FakeMemory } from './fake-memory.js';
import { ModePageTableBuilder } from './page-table-builder.js';

export interface WinFixtureOptions {
  pae: boolean;
  /** RAM pages (default 2048 = 8 MiB; ≥ 2048 with largeKernel non-PAE: 4096). */
  ramPages?: number;
  /** vCPU state in `cpus` (default true). */
  cpu?: boolean;
  /** PAE: the PDPT in the page before its four PDs, as the boot loader lays them out (default true); else mid-page elsewhere. */
  bootLayout?: boolean;
  /** Map ntoskrnl with one large page (4 MiB / 2 MiB) instead of 4 KiB pages. */
  largeKernel?: boolean;
  /** NtBuildLab string (default the 7601 SP1 RTM one). */
  buildLab?: string;
}

export interface WinFixture {
  mem: FakeMemory;
  mode: PagingMode;
  layout: WindowsLayout;
  cpus?: CpuRegisters[];
  rootPa: number;
  kdbgPa: number;
  kdbgVa: number;
  /** Expected type of every PFN (what the PFN database says, before zero-page typing). */
  expect: PageType[];
  /** VAs of structures, for hostile edits. */
  va: { psActiveProcessHead: number; idleEprocess: number; systemEprocess: number; explorerEprocess: number; vadRoot: number; vadNodes: number[]; pfnDatabase: number; mmHighestPhysicalPage: number; mmPfnDatabase: number; kdbg: number; ntBuildLab: number };
  /** Write a u32 at a kernel VA the fixture mapped. */
  w32(va: number, v: number): void;
  r32(va: number): number;
  /** Physical address of a kernel VA the fixture mapped. */
  pa(va: number): number;
  setPfn(pfn: number, e: PfnEntry): void;
}

export interface PfnEntry {
  loc: number;
  proto?: boolean;
  pteAddress?: number;
  pteFrame?: number;
  priority?: number;
  flink?: number;
}

const KERN_BASE = 0x82800000;
const PFN_DB = 0x84000000;
const POOL = 0x85000000;
const KUSER_VA = 0xffdf0000;
const RUNS: [number, number][] = [[1, 0x9e]];
const BUILD_LAB = '7601.17514.x86fre.win7sp1_rtm.101119-1850';

export function windowsFixture(o: WinFixtureOptions): WinFixture {
  const ramPages = o.ramPages ?? (o.largeKernel && !o.pae ? 4096 : 2048);
  const mode = o.pae ? X86_PAE : X86_NONPAE;
  const L = o.pae ? WIN7_SP1_X86_PAE : WIN7_SP1_X86;
  const pte = L.mmpteBytes;
  const mem = new FakeMemory().addRange(0, ramPages);
  const runs: [number, number][] = [...RUNS, [0x100, ramPages - 0x100]];
  const expect: PageType[] = new Array(ramPages).fill('free');
  expect[0] = 'other';
  for (let p = 0x9f; p < 0x100; p++) expect[p] = 'other';
  const pfnEntries = new Map<number, PfnEntry>();

  // Frames: page tables from 0x100, the rest from 0x180 (a large kernel page takes an aligned block at the top half).
  let nextFrame = 0x180;
  const frame = () => nextFrame++;
  const pageVa = new Map<number, number>(); // kernel VA page → pfn
  const pteAddressOf = (va: number) => L.selfMapBase + Math.floor(va / 4096) * pte;

  // Kernel page tables.
  const bootLayout = o.bootLayout ?? true;
  let rootPa: number;
  const pds: number[] = [];
  let b: ModePageTableBuilder;
  if (!o.pae) {
    rootPa = 0x100 * 4096;
    b = new ModePageTableBuilder(mem, mode, { nextPfn: 0x101, rootPa });
    b.writeEntry(rootPa + 0x300 * 4, BigInt(rootPa | 3)); // self-map
  } else {
    // PDPT then PD #0–#3 (boot layout), or the PDPT mid-page in another frame.
    const pdptPfn = 0x100;
    rootPa = bootLayout ? pdptPfn * 4096 : 0x105 * 4096 + 0x7a0;
    for (let i = 0; i < 4; i++) pds.push((0x101 + i) * 4096);
    b = new ModePageTableBuilder(mem, mode, { nextPfn: 0x106, rootPa });
    for (let i = 0; i < 4; i++) {
      b.writeEntry(rootPa + i * 8, BigInt(pds[i] | 1));
      b.writeEntry(pds[3] + i * 8, BigInt(pds[i] | 3)); // PD #3 entries 0–3: the self-map
    }
  }
  const mapKernel = (va: number, pfn: number) => {
    b.map(BigInt(va), pfn * 4096);
    pageVa.set(va, pfn);
  };
  const kernelPage = (va: number, type: PageType = 'kernel') => {
    const pfn = frame();
    mapKernel(va, pfn);
    expect[pfn] = type;
    return pfn;
  };

  // ntoskrnl: 32 pages (or one large page at a large-page-aligned frame).
  const kernPages = 32;
  const largePages = o.pae ? 512 : 1024;
  let kernPfn: number;
  if (o.largeKernel) {
    kernPfn = Math.ceil(0x400 / largePages) * largePages;
    if (kernPfn + largePages > ramPages) throw new Error('largeKernel needs more RAM');
    b.map(BigInt(KERN_BASE), kernPfn * 4096, o.pae ? '2M' : '4M');
    for (let i = 0; i < largePages; i++) {
      expect[kernPfn + i] = 'kernel';
      pageVa.set(KERN_BASE + i * 4096, kernPfn + i);
    }
  } else {
    kernPfn = nextFrame;
    for (let i = 0; i < kernPages; i++) kernelPage(KERN_BASE + i * 4096);
  }
  const pa = (va: number) => {
    const pfn = pageVa.get(va - (va % 4096));
    if (pfn === undefined) throw new Error(`fixture: VA 0x${va.toString(16)} not mapped`);
    return pfn * 4096 + (va % 4096);
  };
  const w32 = (va: number, v: number) => {
    const x = Buffer.alloc(4);
    x.writeUInt32LE(v >>> 0);
    mem.write(pa(va), x);
  };
  const r32 = (va: number) => mem.read(pa(va), 4).readUInt32LE(0);
  const wbytes = (va: number, data: Buffer) => mem.write(pa(va), data);

  // Pool: a bump allocator of kernel pages (8-byte aligned blocks).
  let poolPage = POOL - 4096, poolOff = 4096;
  const pool = (bytes: number) => {
    if (poolOff + bytes > 4096) {
      poolPage += 4096;
      kernelPage(poolPage, 'slab');
      poolOff = 0;
    }
    const va = poolPage + poolOff;
    poolOff += (bytes + 7) & ~7;
    return va;
  };

  // _KUSER_SHARED_DATA.
  const kuserPfn = kernelPage(KUSER_VA);
  {
    const k = Buffer.alloc(0x300);
    k.writeUInt16LE(0x14c, KUSER.imageNumberLow);
    k.writeUInt16LE(0x14c, KUSER.imageNumberHigh);
    k.write('C:\\Windows', KUSER.ntSystemRoot, 'utf16le');
    k.writeUInt32LE(1, KUSER.ntProductType);
    k.writeUInt8(1, KUSER.productTypeIsValid);
    k.writeUInt32LE(6, KUSER.ntMajorVersion);
    k.writeUInt32LE(1, KUSER.ntMinorVersion);
    k.writeUInt32LE(ramPages - 0x62, KUSER.numberOfPhysicalPages);
    mem.write(kuserPfn * 4096, k);
  }

  // ntoskrnl's data: KDBG and the variables it points at.
  const kdbgVa = KERN_BASE + 0x8000;
  const v = {
    listHead: KERN_BASE + 0x9000,
    ntBuildLab: KERN_BASE + 0x9100,
    csd: KERN_BASE + 0x9200,
    mmPfnDatabase: KERN_BASE + 0x9300,
    mmHighest: KERN_BASE + 0x9304,
    mmSystemRangeStart: KERN_BASE + 0x9308,
    mmPhysicalMemoryBlock: KERN_BASE + 0x930c,
    mmNonPagedPoolStart: KERN_BASE + 0x9310,
    mmNonPagedPoolEnd: KERN_BASE + 0x9314,
    mmPagedPoolStart: KERN_BASE + 0x9318,
    mmPagedPoolEnd: KERN_BASE + 0x931c,
    psActiveProcessHead: KERN_BASE + 0x9400,
    psLoadedModuleList: KERN_BASE + 0x9500,
    idle: KERN_BASE + 0xa000,
  };
  wbytes(KERN_BASE, Buffer.from('MZ'));
  {
    const k = Buffer.alloc(KDBG.size);
    k.writeUInt32LE(v.listHead, KDBG.listFlink);
    k.writeUInt32LE(v.listHead, KDBG.listBlink);
    k.writeUInt32LE(KDBG_OWNER_TAG, KDBG.ownerTag);
    k.writeUInt32LE(0x340, KDBG.headerSize);
    const q = (field: number, val: number) => k.writeUInt32LE(val >>> 0, field);
    q(KDBG.kernBase, KERN_BASE);
    q(KDBG.psLoadedModuleList, v.psLoadedModuleList);
    q(KDBG.psActiveProcessHead, v.psActiveProcessHead);
    q(KDBG.mmPfnDatabase, v.mmPfnDatabase);
    q(KDBG.mmHighestPhysicalPage, v.mmHighest);
    q(KDBG.mmSystemRangeStart, v.mmSystemRangeStart);
    q(KDBG.ntBuildLab, v.ntBuildLab);
    q(KDBG.cmNtCSDVersion, v.csd);
    q(KDBG.mmPhysicalMemoryBlock, v.mmPhysicalMemoryBlock);
    q(KDBG.mmNonPagedPoolStart, v.mmNonPagedPoolStart);
    q(KDBG.mmNonPagedPoolEnd, v.mmNonPagedPoolEnd);
    q(KDBG.mmPagedPoolStart, v.mmPagedPoolStart);
    q(KDBG.mmPagedPoolEnd, v.mmPagedPoolEnd);
    k.writeUInt16LE(L.eprocess.size, KDBG.sizeEProcess);
    k.writeUInt16LE(L.eprocess.peb, KDBG.offsetEprocessPeb);
    k.writeUInt16LE(L.eprocess.directoryTableBase, KDBG.offsetEprocessDirectoryTableBase);
    wbytes(kdbgVa, k);
  }
  w32(v.listHead, kdbgVa);
  w32(v.listHead + 4, kdbgVa);
  wbytes(v.ntBuildLab, Buffer.from((o.buildLab ?? BUILD_LAB) + '\0', 'latin1'));
  w32(v.csd, 0x100);
  w32(v.mmPfnDatabase, PFN_DB);
  w32(v.mmHighest, ramPages - 1);
  w32(v.mmSystemRangeStart, 0x80000000);
  w32(v.mmNonPagedPoolStart, POOL); // the fixture's pool pages are nonpaged pool: slab
  w32(v.mmNonPagedPoolEnd, POOL + 0x1000000);
  w32(v.mmPagedPoolStart, 0x8a000000);
  w32(v.mmPagedPoolEnd, 0x8bffffff);
  w32(v.psLoadedModuleList, v.psLoadedModuleList);
  w32(v.psLoadedModuleList + 4, v.psLoadedModuleList);

  // MmPhysicalMemoryBlock.
  const pmd = pool(8 + runs.length * 8);
  w32(v.mmPhysicalMemoryBlock, pmd);
  w32(pmd, runs.length);
  w32(pmd + 4, runs.reduce((s, r) => s + r[1], 0));
  runs.forEach(([base, count], i) => {
    w32(pmd + 8 + i * 8, base);
    w32(pmd + 12 + i * 8, count);
  });

  // PFN database pages.
  const dbPages = Math.ceil((ramPages * L.mmpfn.size) / 4096);
  for (let i = 0; i < dbPages; i++) kernelPage(PFN_DB + i * 4096);

  // Processes.
  const E = L.eprocess;
  const writeEprocess = (va: number, name: string, pid: number, dtb: number) => {
    const e = Buffer.alloc(E.size);
    e.writeUInt8(3, L.dispatcherHeader.type);
    e.writeUInt8(0x26, L.dispatcherHeader.headerSize);
    e.writeUInt32LE(dtb >>> 0, E.directoryTableBase);
    e.writeUInt32LE(pid, E.uniqueProcessId);
    e.write(name, E.imageFileName, 'latin1');
    wbytes(va, e);
  };
  writeEprocess(v.idle, 'Idle', 0, rootPa);
  const systemEp = pool(E.size);
  writeEprocess(systemEp, 'System', 4, rootPa);
  const explorerEp = pool(E.size);

  // explorer.exe's page directory (PAE: its own PDPT and four PDs; the kernel half copied).
  let procRoot: number;
  let pb: ModePageTableBuilder;
  const procTables = 0x140;
  if (!o.pae) {
    procRoot = procTables * 4096;
    mem.write(procRoot + 0x800, mem.read(rootPa + 0x800, 0x800));
    pb = new ModePageTableBuilder(mem, mode, { nextPfn: procTables + 1, rootPa: procRoot });
    pb.writeEntry(procRoot + 0x300 * 4, BigInt(procRoot | 3));
  } else {
    const ppds = [0, 1, 2, 3].map((i) => (procTables + 1 + i) * 4096);
    procRoot = procTables * 4096 + 0x40;
    mem.write(ppds[2], mem.read(pds[2], 4096));
    mem.write(ppds[3], mem.read(pds[3], 4096));
    pb = new ModePageTableBuilder(mem, mode, { nextPfn: procTables + 5, rootPa: procRoot });
    for (let i = 0; i < 4; i++) {
      pb.writeEntry(procRoot + i * 8, BigInt(ppds[i] | 1));
      pb.writeEntry(ppds[3] + i * 8, BigInt(ppds[i] | 3));
    }
    pds.push(...ppds); // for the page-table PFN entries below
  }
  writeEprocess(explorerEp, 'explorer.exe', 0x4d8, procRoot);
  // Process list: head ↔ System ↔ explorer.
  const links = [v.psActiveProcessHead, systemEp + E.activeProcessLinks, explorerEp + E.activeProcessLinks];
  links.forEach((l, i) => {
    w32(l, links[(i + 1) % links.length]);
    w32(l + 4, links[(i + links.length - 1) % links.length]);
  });

  // Sections: explorer.exe (image), a data file, a pagefile-backed section.
  const fileObject = (name: string) => {
    const fo = pool(0x80);
    const nameVa = pool(name.length * 2);
    wbytes(nameVa, Buffer.from(name, 'utf16le'));
    const f = Buffer.alloc(0x80);
    f.writeUInt16LE(5, L.fileObject.type);
    f.writeUInt16LE(name.length * 2, L.fileObject.fileName + L.unicodeString.length);
    f.writeUInt16LE(name.length * 2, L.fileObject.fileName + L.unicodeString.maximumLength);
    f.writeUInt32LE(nameVa, L.fileObject.fileName + L.unicodeString.buffer);
    wbytes(fo, f);
    return fo;
  };
  const section = (flags: number, ptes: number, file?: string) => {
    const ca = pool(L.controlArea.size + L.subsection.size);
    const seg = pool(L.segment.size + ptes * pte);
    const protos = seg + L.segment.size;
    w32(ca + L.controlArea.segment, seg);
    w32(ca + L.controlArea.flags, flags);
    if (file) w32(ca + L.controlArea.filePointer, fileObject(file) | 1);
    w32(seg + L.segment.totalNumberOfPtes, ptes);
    w32(seg + L.segment.prototypePte, protos);
    const sub = ca + L.controlArea.size;
    w32(sub + L.subsection.controlArea, ca);
    w32(sub + L.subsection.subsectionBase, protos);
    w32(sub + L.subsection.ptesInSubsection, ptes);
    return { ca, sub, protos };
  };
  const image = section(1 << 5, 4, '\\Windows\\explorer.exe');
  const data = section(1 << 7, 2, '\\Users\\u\\NTUSER.DAT');
  const shared = section(0, 1);
  const cachedOnly = section(1 << 7, 2, '\\Windows\\Prefetch\\X.pf'); // mapped by nobody: its pages are standby

  // VADs (an AVL tree: heap at the root's left, image at the root, data and shared to the right).
  const vadFlags = (type: number, priv: boolean) => ((type & 7) << 20) | (priv ? 1 << 31 : 0);
  const vad = (start: number, end: number, flags: number, sec?: { sub: number; protos: number }, pages = 0) => {
    const n = pool(L.mmvad.size);
    w32(n + L.mmvadShort.startingVpn, start);
    w32(n + L.mmvadShort.endingVpn, end);
    w32(n + L.mmvadShort.vadFlags, flags);
    if (sec) {
      w32(n + L.mmvad.section, sec.sub);
      w32(n + L.mmvad.firstPrototypePte, sec.protos);
      w32(n + L.mmvad.lastContiguousPte, sec.protos + (pages - 1) * pte);
    }
    return n;
  };
  const heapVad = vad(0x100, 0x103, vadFlags(0, true));
  const imageVad = vad(0x400, 0x403, vadFlags(2, false), image, 4);
  const dataVad = vad(0x500, 0x501, vadFlags(0, false), data, 2);
  const sharedVad = vad(0x600, 0x600, vadFlags(0, false), shared, 1);
  w32(imageVad + L.mmvadShort.leftChild, heapVad);
  w32(imageVad + L.mmvadShort.rightChild, dataVad);
  w32(dataVad + L.mmvadShort.rightChild, sharedVad);
  w32(heapVad + L.mmvadShort.parent, imageVad);
  w32(dataVad + L.mmvadShort.parent, imageVad);
  w32(sharedVad + L.mmvadShort.parent, dataVad);
  const vadRoot = explorerEp + E.vadRoot;
  w32(vadRoot + L.mmAvlTable!.balancedRootRightChild, imageVad);
  w32(vadRoot + L.mmAvlTable!.numberGenericTableElements, 4 << 8);

  // User pages of explorer.exe, with their PFN entries.
  const userPage = (vpn: number, type: PageType, entry: (pfn: number, ptFrame: number) => PfnEntry) => {
    const pfn = frame();
    const at = pb.map(BigInt(vpn * 4096), pfn * 4096, '4K', { flags: 0x7 });
    expect[pfn] = type;
    pfnEntries.set(pfn, entry(pfn, Math.floor(at / 4096)));
    return pfn;
  };
  const priv = (vpn: number, loc: number = PageLocation.Active) => (_pfn: number, ptFrame: number): PfnEntry => ({ loc, pteAddress: pteAddressOf(vpn * 4096), pteFrame: ptFrame });
  const proto = (protoVa: number, loc: number = PageLocation.Active) => (): PfnEntry => ({ loc, proto: true, pteAddress: protoVa, pteFrame: Math.floor(pa(protoVa) / 4096) });
  for (let i = 0; i < 3; i++) userPage(0x100 + i, 'anon', priv(0x100 + i));
  userPage(0x103, 'anon', priv(0x103, PageLocation.Modified));
  userPage(0x400, 'image', proto(image.protos));
  userPage(0x401, 'image', proto(image.protos + pte, PageLocation.Transition));
  userPage(0x402, 'image', priv(0x402)); // copy-on-write page of the image view
  userPage(0x500, 'cache', proto(data.protos));
  userPage(0x501, 'cache', proto(data.protos + pte, PageLocation.Modified));
  userPage(0x600, 'shmem', proto(shared.protos));
  // Standby pages: a cached file nobody maps, and an explorer page trimmed from its working set.
  for (let i = 0; i < 2; i++) {
    const pfn = frame();
    expect[pfn] = 'standby';
    pfnEntries.set(pfn, { loc: PageLocation.Standby, proto: true, pteAddress: cachedOnly.protos + i * pte, pteFrame: Math.floor(pa(cachedOnly.protos) / 4096), priority: 5 });
  }
  // Bad, free and zeroed: everything left.
  const bad = frame();
  expect[bad] = 'hwpoison';
  pfnEntries.set(bad, { loc: PageLocation.Bad });

  // PFN entries of the kernel's own pages (4 KiB-mapped: PteAddress in the PTE self-map; large: the PDE).
  for (const [va, pfn] of pageVa) {
    if (o.largeKernel && va >= KERN_BASE && va < KERN_BASE + largePages * 4096) {
      const pdeVa = L.pdSelfMap + Math.floor(va / (largePages * 4096)) * pte;
      const pdPfn = o.pae ? Math.floor(b.entryAt(BigInt(va), 1) / 4096) : rootPa / 4096;
      pfnEntries.set(pfn, { loc: PageLocation.Active, pteAddress: pdeVa, pteFrame: pdPfn });
    } else {
      const ptEntry = b.entryAt(BigInt(va), mode.levels.length - 1);
      pfnEntries.set(pfn, { loc: PageLocation.Active, pteAddress: pteAddressOf(va), pteFrame: Math.floor(ptEntry / 4096) });
    }
  }
  // Page tables: every table frame the two builders made (PDs map themselves through the self-map).
  const tableFrames = new Set<number>();
  for (let p = 0x100; p < 0x180; p++) if (mem.pages.get(p)?.some((x) => x !== 0)) tableFrames.add(p);
  const pdFrames = o.pae ? pds.map((x) => x / 4096) : [rootPa / 4096, procRoot / 4096];
  for (const p of tableFrames) {
    expect[p] = 'pagetable';
    if (o.pae && (p === Math.floor(rootPa / 4096) || p === procTables)) {
      // The PDPT's frame: its PFN entry is a kernel page's, but it holds the 32-byte PDPTs → pagetable.
      expect[p] = 'pagetable';
      pfnEntries.set(p, { loc: PageLocation.Active, pteAddress: pteAddressOf(0x86000000), pteFrame: 0 });
      continue;
    }
    const pdOwner = o.pae ? undefined : p === rootPa / 4096 || p === procRoot / 4096 ? p : undefined;
    if (pdFrames.includes(p)) {
      const i = o.pae ? pds.indexOf(p * 4096) % 4 : 0;
      const pd3 = o.pae ? (pds.indexOf(p * 4096) < 4 ? pds[3] : pds[7]) / 4096 : pdOwner!;
      pfnEntries.set(p, { loc: PageLocation.Active, pteAddress: L.pdSelfMap + (o.pae ? 0x3000 + i * 8 : 0xc00), pteFrame: pd3 });
    } else {
      // A page table: its PDE is in the PD that points at it (search both processes' PDs).
      let found: PfnEntry | undefined;
      for (const pd of pdFrames) {
        const t = mem.read(pd * 4096, 4096);
        for (let i = 0; i < 4096 / pte && !found; i++) {
          if (Math.floor(t.readUInt32LE(i * pte) / 4096) === p && (t.readUInt32LE(i * pte) & 1) === 1) {
            const pdIndex = o.pae ? (pds.indexOf(pd * 4096) % 4) * 512 + i : i;
            found = { loc: PageLocation.Active, pteAddress: L.pdSelfMap + pdIndex * pte, pteFrame: pd };
          }
        }
      }
      pfnEntries.set(p, found ?? { loc: PageLocation.Active, pteAddress: 0, pteFrame: 0 });
    }
  }
  // Free (with stale contents) and zeroed pages: the rest of the managed runs.
  let flip = 0;
  for (const [base, count] of runs) {
    for (let p = base; p < base + count; p++) {
      if (pfnEntries.has(p) || expect[p] !== 'free') continue;
      const zeroed = flip++ % 2 === 0;
      pfnEntries.set(p, { loc: zeroed ? PageLocation.Zeroed : PageLocation.Free, flink: p + 1 });
      if (!zeroed) mem.page(p).fill(0xa5, 0, 64);
    }
  }
  const setPfn = (pfn: number, e: PfnEntry) => {
    const x = Buffer.alloc(L.mmpfn.size);
    x.writeUInt32LE(e.flink ?? 0, L.mmpfn.flink);
    x.writeUInt32LE((e.pteAddress ?? 0) >>> 0, L.mmpfn.pteAddress);
    x.writeUInt16LE(1, L.mmpfn.referenceCount);
    x.writeUInt8(e.loc & 7, L.mmpfn.e1);
    x.writeUInt8((e.priority ?? 0) & 7, L.pfnBits.priorityByte!);
    x.writeUInt32LE(((e.pteFrame ?? 0) & 0x1ffffff) | (e.proto ? 1 << 27 : 0), L.mmpfn.u4);
    wbytes(PFN_DB + pfn * L.mmpfn.size, x);
  };
  for (const [pfn, e] of pfnEntries) setPfn(pfn, e);

  const cpus: CpuRegisters[] | undefined = o.cpu === false ? undefined : [{ index: 0, cr0: 0x80010031n, cr3: BigInt(procRoot), cr4: o.pae ? 0x6f9n : 0x6d9n }];
  return {
    mem,
    mode,
    layout: L,
    cpus,
    rootPa,
    kdbgPa: pa(kdbgVa),
    kdbgVa,
    expect,
    va: { psActiveProcessHead: v.psActiveProcessHead, idleEprocess: v.idle, systemEprocess: systemEp, explorerEprocess: explorerEp, vadRoot, vadNodes: [imageVad, heapVad, dataVad, sharedVad], pfnDatabase: PFN_DB, mmHighestPhysicalPage: v.mmHighest, mmPfnDatabase: v.mmPfnDatabase, kdbg: kdbgVa, ntBuildLab: v.ntBuildLab },
    w32,
    r32,
    pa,
    setPfn,
  };
}
