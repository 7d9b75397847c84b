/**
 * The kernel side of a synthetic Windows 7 x86 guest (windows7-image.ts): hal.dll and the kernel
 * image in large pages, KUSER_SHARED_DATA, the PFN database pages, the pools, the kernel's .data
 * variables with KdVersionBlock and the KDBG block, the loaded-module list, and the files on disk.
 */
import { fillCode, Rng } from './windows7-content.js';
import { KernelPool, newList, PteCodec } from './windows7-memory.js';
import { ABSENT, MmProtect, PageLocation, poolTag, WinPte } from './windows7-offsets.js';
import { buildDataFile, buildPe, moduleSections, PeImage, peImageSize, WIN7_FILES } from './windows7-pe.js';
import { Win7Gen, WIN7_VA } from './windows7-gen.js';

/** What buildKernel leaves for the processes and the final pass. */
export interface KernelParts {
  kernBase: number;
  nt: PeImage;
  hal: PeImage;
  largePages: { va: number; pa: number; size: number }[];
  kdbg: number;
  versionBlock: number;
  kpcr: number;
  idle: number;
  kuserPfn: number;
  /** VA ranges of kernel code (for return addresses on stacks). */
  kernelCode: [number, number][];
  /** System process: EPROCESS VA (set by the processes pass) and its working set list page. */
  systemWslPfn: number;
  pfnDbPfns: number[];
}

/**
 * The kernel side: large-page kernel image (hal + nt), KUSER_SHARED_DATA, the PFN database pages,
 * the pools, the System hyperspace, the low user table of the System directory, .data variables.
 */
export function buildKernel(g: Win7Gen): KernelParts {
  const L = g.L;
  const r = g.rng.fork('kernel');
  // Large pages: hal.dll + ntoskrnl over [0x82800000, 0x82C00000).
  const large = L.pae ? 0x200000 : 0x400000;
  const largePages: KernelParts['largePages'] = [];
  // Boot-time physical ranges first (before anything takes random pages): the large kernel pages
  // and the PFN database, contiguous from 16 MiB.
  for (let p = (WIN7_VA.largeKernel - 0x80000000) / 4096; p < (WIN7_VA.largeKernelEnd - 0x80000000) / 4096; p++) g.phys.take(p);
  const dbPages = Math.ceil(((g.highestPfn + 1) * L.mmpfn.size) / 4096);
  const pfnDbPfns: number[] = [];
  for (let i = 0; i < dbPages; i++) pfnDbPfns.push(g.phys.take(0x1000 + i));
  // PDE 0 of the System directory: a user table (MPF's non-PAE DTB test wants low byte 0x67),
  // here mapping the legacy video/BIOS area for the HAL (inferred content).
  for (let pa = 0xa0000; pa < 0x100000; pa += 0x1000) g.sys.setPte(pa, (pa | WinPte.valid | WinPte.write | WinPte.accessed | WinPte.dirty) >>> 0, 0, true);

  for (let va = WIN7_VA.largeKernel; va < WIN7_VA.largeKernelEnd; va += large) {
    const pa = va - 0x80000000;
    g.sys.setLarge(va, pa, 0x9e3);
    g.kvm.mapLarge(va, pa, large);
    largePages.push({ va, pa, size: large });
    const dirPfn = Math.floor(g.sys.directoryPa(va) / 4096);
    for (let p = pa / 4096; p < (pa + large) / 4096; p++) {
      g.claim(p, 'kernel-image');
      g.db.active(p, { pteVa: g.sys.pdeVa(va), pteFrame: dirPfn, share: 1, origLo: MmProtect.executeRead << WinPte.protectionShift });
    }
  }
  const hal = buildPe(r.fork('hal'), { imageBase: WIN7_VA.halBase, kind: 'sys', subsystem: 1, sections: moduleSections('sys', 176), timeDateStamp: 0x4ce78a09 });
  const kernBase = WIN7_VA.kernBaseMin + 0x1000 * r.int(13);
  const nt = buildPe(r.fork('nt'), { imageBase: kernBase, kind: 'sys', subsystem: 1, sections: moduleSections('kernel', 3600), timeDateStamp: 0x4ce78a09 });
  if (WIN7_VA.halBase + hal.sizeOfImage > kernBase || kernBase + nt.sizeOfImage > WIN7_VA.largeKernelEnd) throw new Error('kernel images do not fit their large pages');
  // Boot drivers and loader leftovers around the two images, then the images.
  const gaps: [number, number][] = [[WIN7_VA.largeKernel, WIN7_VA.halBase], [WIN7_VA.halBase + hal.sizeOfImage, kernBase], [kernBase + nt.sizeOfImage, WIN7_VA.largeKernelEnd]];
  for (const [a, b] of gaps) {
    const buf = Buffer.alloc(b - a);
    fillCode(r, buf);
    g.kvm.write(a, buf);
  }
  g.kvm.write(WIN7_VA.halBase, hal.image);
  g.kvm.write(kernBase, nt.image);
  g.files.set('\\Windows\\System32\\hal.dll', hal.file);
  g.files.set(L.pae ? '\\Windows\\System32\\ntkrnlpa.exe' : '\\Windows\\System32\\ntoskrnl.exe', nt.file);
  const kernelCode: [number, number][] = nt.sections.filter((s) => s.characteristics & 0x20).map((s) => [kernBase + s.rva, kernBase + s.rva + s.virtualSize]);
  const data = nt.sections.find((s) => s.name === '.data')!;
  g.setData(kernBase + data.rva + 0x100, kernBase + data.rva + data.virtualSize);

  // KUSER_SHARED_DATA, a loader-allocated page mapped at 0xFFDF0000.
  const kuserPfn = g.phys.any();
  g.kmap(g.B.kuser.kernelVa, kuserPfn, 'kernel');
  // The PFN database: contiguous pages from 16 MiB, mapped with 4 KiB PTEs at MmPfnDatabase.
  pfnDbPfns.forEach((p, i) => g.kmap(WIN7_VA.pfnDatabase + i * 4096, p, 'pfn-database'));
  // Pools.
  g.npp = new KernelPool('nonpaged', WIN7_VA.nonPagedPool, WIN7_VA.nonPagedPoolEnd, g.B.poolTypeNonPaged, g.kvm, (va) => {
    const p = g.phys.any();
    g.kmap(va, p, 'pool');
    return p;
  }, r.fork('npp'));
  g.pp = new KernelPool('paged', WIN7_VA.pagedPool, WIN7_VA.pagedPoolEnd, g.B.poolTypePaged, g.kvm, (va) => {
    const p = g.phys.any();
    g.kmap(va, p, 'pool');
    return p;
  }, r.fork('pp'));
  // The rest of a running system's pools (drivers, registry, object manager): pages of pool blocks.
  g.npp.filler(Math.round(g.ramPages * 0.01));
  g.pp.filler(Math.round(g.ramPages * 0.025));
  const drivers = loadDrivers(g, r.fork('drivers'));
  // The System process's hyperspace table and working set list.
  const systemWslPfn = g.phys.any();
  g.kmap(L.workingSetList, systemWslPfn, 'kernel', { global: false });
  // PAE: the System PDPT page gets a kernel VA (EPROCESS.PaeTop).
  if (L.pae) g.vars.systemPaeTop = g.bootMap(g.systemDtb / 4096, 'page-table');

  // .data: the debugger blocks and the variables they point at.
  const v = (name: string, size: number, a = 8) => g.kvar(name, size, a);
  const versionBlock = v('KdVersionBlock', g.B.versionBlock.size);
  const kdpList = v('KdpDebuggerDataListHead', 8);
  const kdbg = v('KdDebuggerDataBlock', g.B.kdbg.size, 0x20);
  v('PsActiveProcessHead', 8);
  v('PsLoadedModuleList', 8);
  v('KiProcessListHead', 8);
  v('MmProcessList', 8);
  v('PspCidTable', 4);
  v('MmPfnDatabase', 4);
  v('MmLowestPhysicalPage', 4);
  v('MmHighestPhysicalPage', 4);
  v('MmNumberOfPhysicalPages', 4);
  v('MmAvailablePages', 4);
  v('MmResidentAvailablePages', 4);
  v('MmNonPagedPoolStart', 4);
  v('MmNonPagedPoolEnd', 4);
  v('MmPagedPoolStart', 4);
  v('MmPagedPoolEnd', 4);
  v('MmHighestUserAddress', 4);
  v('MmSystemRangeStart', 4);
  v('MmUserProbeAddress', 4);
  v('MmPhysicalMemoryBlock', 4);
  v('MmBadPagesDetected', 4);
  v('CmNtCSDVersion', 4);
  v('NtBuildNumber', 4);
  v('KeTimeIncrement', 4);
  const buildLab = v('NtBuildLab', 64);
  const M = g.B.mmpfnlist.size;
  g.lists.zeroed = newList(PageLocation.Zeroed, v('MmZeroedPageListHead', M));
  g.lists.free = newList(PageLocation.Free, v('MmFreePageListHead', M));
  // Vista/7: 8 standby lists by priority, KDBG's MmStandbyPageListHead at the array (inferred); XP: one list.
  const nStandby = g.B.standbyLists;
  const byPriority = v(nStandby > 1 ? 'MmStandbyPageListByPriority' : 'MmStandbyPageListHead', nStandby * M);
  g.lists.standby = Array.from({ length: nStandby }, (_, i) => newList(PageLocation.Standby, byPriority + i * M));
  g.lists.modified = newList(PageLocation.Modified, v('MmModifiedPageListHead', M));
  g.lists.modifiedNoWrite = newList(PageLocation.ModifiedNoWrite, v('MmModifiedNoWritePageListHead', M));
  g.lists.bad = newList(PageLocation.Bad, v('MmBadPageListHead', M));
  const kiProcessorBlock = v('KiProcessorBlock', 32 * 4);
  const kpcr = v('KiInitialPcr', 0x3748 - 0x3000, 0x40); // the boot processor's KPCR lives in .data; we write its head only
  const idle = v('KiIdleProcess', g.B.eprocess.size, 0x40);

  for (const name of ['PsActiveProcessHead', 'PsLoadedModuleList', 'KiProcessListHead', 'MmProcessList']) g.kvm.emptyList(g.vars[name]);
  g.kvm.u32(g.vars.MmPfnDatabase, WIN7_VA.pfnDatabase);
  g.kvm.u32(g.vars.MmLowestPhysicalPage, 1);
  g.kvm.u32(g.vars.MmHighestPhysicalPage, g.highestPfn);
  g.kvm.u32(g.vars.MmNumberOfPhysicalPages, g.runs.reduce((a, [, c]) => a + c, 0));
  g.kvm.u32(g.vars.MmNonPagedPoolStart, WIN7_VA.nonPagedPool);
  g.kvm.u32(g.vars.MmNonPagedPoolEnd, WIN7_VA.nonPagedPoolEnd);
  g.kvm.u32(g.vars.MmPagedPoolStart, WIN7_VA.pagedPool);
  g.kvm.u32(g.vars.MmPagedPoolEnd, WIN7_VA.pagedPoolEnd - 1);
  g.kvm.u32(g.vars.MmHighestUserAddress, WIN7_VA.highestUserAddress);
  g.kvm.u32(g.vars.MmSystemRangeStart, WIN7_VA.systemRangeStart);
  g.kvm.u32(g.vars.MmUserProbeAddress, WIN7_VA.userProbeAddress);
  g.kvm.u32(g.vars.CmNtCSDVersion, g.B.csdVersion);
  g.kvm.u32(g.vars.NtBuildNumber, g.B.ntBuildNumber);
  g.kvm.u32(g.vars.KeTimeIncrement, 156001);
  g.kvm.write(buildLab, Buffer.from(g.B.ntBuildLab + '\0', 'latin1'));

  // KPCR head: SelfPcr, Prcb → PrcbData, KdVersionBlock; KiProcessorBlock[0] → the PRCB.
  const P = g.B.kpcr;
  g.kvm.u32(kpcr + P.selfPcr, kpcr);
  g.kvm.u32(kpcr + P.prcb, kpcr + P.prcbData);
  g.kvm.u32(kpcr + P.kdVersionBlock, versionBlock);
  g.kvm.u16(kpcr + P.majorVersion, 1);
  g.kvm.u16(kpcr + P.minorVersion, 1);
  g.kvm.u32(kiProcessorBlock, kpcr + P.prcbData);

  // KdVersionBlock (S03 kdinit.c): addresses sign-extended through LONG_PTR.
  const VB = g.B.versionBlock;
  const sx = (va: number) => BigInt.asUintN(64, BigInt(va | 0));
  g.kvm.u16(versionBlock + VB.majorVersion, g.B.ntBuildNumber >>> 28);
  g.kvm.u16(versionBlock + VB.minorVersion, g.B.build);
  g.kvm.u8(versionBlock + VB.protocolVersion, 6);
  g.kvm.u16(versionBlock + VB.flags, 0x3); // DBGKD_VERS_FLAG_MP | DBGKD_VERS_FLAG_DATA
  g.kvm.u16(versionBlock + VB.machineType, 0x14c);
  g.kvm.u64(versionBlock + VB.kernBase, sx(kernBase));
  g.kvm.u64(versionBlock + VB.psLoadedModuleList, sx(g.vars.PsLoadedModuleList));
  g.kvm.u64(versionBlock + VB.debuggerDataList, sx(kdpList));

  // KDBG, registered on KdpDebuggerDataListHead (S03 KdRegisterDebuggerDataBlock: the 64-bit List
  // is used as a 32-bit LIST_ENTRY, so +0/+4 are the links and +8..+F stay zero).
  const K = g.B.kdbg;
  g.kvm.u32(kdpList, kdbg);
  g.kvm.u32(kdpList + 4, kdbg);
  g.kvm.u32(kdbg + K.listFlink, kdpList);
  g.kvm.u32(kdbg + K.listBlink, kdpList);
  g.kvm.u32(kdbg + K.ownerTag, g.B.kdbgTag);
  g.kvm.u32(kdbg + K.sizeField, K.size);
  const addr = (off: number, va: number) => g.kvm.u64(kdbg + off, BigInt(va >>> 0));
  addr(K.kernBase, kernBase);
  addr(K.breakpointWithStatus, kernelCode[0][0] + 0x40);
  addr(K.kiCallUserMode, kernelCode[0][0] + 0x180);
  g.kvm.u16(kdbg + K.paeEnabled, L.pae ? 1 : 0);
  addr(K.psLoadedModuleList, g.vars.PsLoadedModuleList);
  addr(K.psActiveProcessHead, g.vars.PsActiveProcessHead);
  addr(K.pspCidTable, g.vars.PspCidTable);
  addr(K.keTimeIncrement, g.vars.KeTimeIncrement);
  addr(K.mmPfnDatabase, g.vars.MmPfnDatabase);
  addr(K.mmLowestPhysicalPage, g.vars.MmLowestPhysicalPage);
  addr(K.mmHighestPhysicalPage, g.vars.MmHighestPhysicalPage);
  addr(K.mmNumberOfPhysicalPages, g.vars.MmNumberOfPhysicalPages);
  addr(K.mmNonPagedPoolStart, g.vars.MmNonPagedPoolStart);
  addr(K.mmNonPagedPoolEnd, g.vars.MmNonPagedPoolEnd);
  addr(K.mmPagedPoolStart, g.vars.MmPagedPoolStart);
  addr(K.mmPagedPoolEnd, g.vars.MmPagedPoolEnd);
  g.kvm.u64(kdbg + K.mmPageSize, 0x1000n);
  addr(K.mmZeroedPageListHead, g.lists.zeroed.va);
  addr(K.mmFreePageListHead, g.lists.free.va);
  addr(K.mmStandbyPageListHead, byPriority);
  addr(K.mmModifiedPageListHead, g.lists.modified.va);
  addr(K.mmModifiedNoWritePageListHead, g.lists.modifiedNoWrite.va);
  addr(K.mmAvailablePages, g.vars.MmAvailablePages);
  addr(K.mmHighestUserAddress, g.vars.MmHighestUserAddress);
  addr(K.mmSystemRangeStart, g.vars.MmSystemRangeStart);
  addr(K.mmUserProbeAddress, g.vars.MmUserProbeAddress);
  addr(K.ntBuildLab, buildLab);
  addr(K.kiProcessorBlock, kiProcessorBlock);
  addr(K.cmNtCSDVersion, g.vars.CmNtCSDVersion);
  addr(K.mmPhysicalMemoryBlock, g.vars.MmPhysicalMemoryBlock);
  // The fields from 0x290 on exist only where Header.Size holds them (not on XP's 0x290 block).
  const has = (off: number, bytes: number) => off + bytes <= K.size;
  if (has(K.sizeEProcess, 2)) g.kvm.u16(kdbg + K.sizeEProcess, g.B.eprocess.size);
  if (has(K.offsetEprocessPeb, 2)) g.kvm.u16(kdbg + K.offsetEprocessPeb, g.B.eprocess.peb);
  if (has(K.offsetEprocessParentCID, 2)) g.kvm.u16(kdbg + K.offsetEprocessParentCID, g.B.eprocess.inheritedFromUniqueProcessId);
  if (has(K.offsetEprocessDirectoryTableBase, 2)) g.kvm.u16(kdbg + K.offsetEprocessDirectoryTableBase, g.B.kprocess.directoryTableBase);
  if (has(K.sizeEThread, 2)) g.kvm.u16(kdbg + K.sizeEThread, g.B.ethreadSize);
  if (has(K.mmBadPagesDetected, 8)) addr(K.mmBadPagesDetected, g.vars.MmBadPagesDetected);

  // MmPhysicalMemoryBlock: a _PHYSICAL_MEMORY_DESCRIPTOR in nonpaged pool (tag unverified).
  const D = g.B.physicalMemoryDescriptor;
  const pmd = g.npp.alloc(D.run + D.runSize * g.runs.length, poolTag('MmPd'));
  g.kvm.u32(pmd + D.numberOfRuns, g.runs.length);
  g.kvm.u32(pmd + D.numberOfPages, g.runs.reduce((a, [, c]) => a + c, 0));
  g.runs.forEach(([s, c], i) => {
    g.kvm.u32(pmd + D.run + i * D.runSize, s);
    g.kvm.u32(pmd + D.run + i * D.runSize + 4, c);
  });
  g.kvm.u32(g.vars.MmPhysicalMemoryBlock, pmd);

  // PsLoadedModuleList: ntoskrnl, hal, then the drivers (_LDR_DATA_TABLE_ENTRY, nonpaged pool 'MmLd').
  const E = g.B.ldrEntry;
  const ntName = L.pae ? 'ntkrnlpa.exe' : 'ntoskrnl.exe';
  const modules: [number, PeImage, string, string][] = [
    [kernBase, nt, ntName, 'system32\\'],
    [WIN7_VA.halBase, hal, 'hal.dll', 'system32\\'],
    ...drivers.map((d) => [d.base, d.image, d.name, 'system32\\drivers\\'] as [number, PeImage, string, string]),
  ];
  for (const [base, img, name, dir] of modules) {
    const e = g.npp.alloc(E.size, poolTag('MmLd'));
    const full = `\\SystemRoot\\${dir}${name}`;
    const fullBuf = g.npp.alloc(2 * full.length + 2, poolTag('MmLd'));
    const baseBuf = g.npp.alloc(2 * name.length + 2, poolTag('MmLd'));
    g.kvm.insertTail(g.vars.PsLoadedModuleList, e + E.inLoadOrderLinks);
    g.kvm.u32(e + E.dllBase, base);
    g.kvm.u32(e + E.entryPoint, base + img.entryRva);
    g.kvm.u32(e + E.sizeOfImage, img.sizeOfImage);
    g.kvm.unicodeString(e + E.fullDllName, full, fullBuf);
    g.kvm.unicodeString(e + E.baseDllName, name, baseBuf);
    g.kvm.u16(e + E.loadCount, 1);
  }
  writeKuser(g, kuserPfn);
  return { kernBase, nt, hal, largePages, kdbg, versionBlock, kpcr, idle, kuserPfn, kernelCode, systemWslPfn, pfnDbPfns };
}

/** Drivers loaded after boot, into system PTEs with 4 KiB pages (scaled-down sizes, KiB of image). */
const DRIVERS: readonly [string, number][] = [
  ['ACPI.sys', 80], ['pci.sys', 32], ['volmgr.sys', 16], ['disk.sys', 12], ['CLASSPNP.SYS', 40], ['fltmgr.sys', 64],
  ['Ntfs.sys', 300], ['ndis.sys', 160], ['tcpip.sys', 320], ['afd.sys', 80], ['netbt.sys', 48], ['ks.sys', 64],
  ['HTTP.sys', 96], ['win32k.sys', 600],
];

/**
 * Drivers: PE images at scattered system VAs (so the kernel half has the many page tables a running
 * system has), most pages resident (code execute-read, data read-write), the rest paged out.
 */
function loadDrivers(g: Win7Gen, r: Rng): { base: number; image: PeImage; name: string }[] {
  const out: { base: number; image: PeImage; name: string }[] = [];
  let va = 0x8b200000;
  for (const [name, kib] of DRIVERS) {
    const image = buildPe(r.fork(name), { imageBase: va, kind: 'sys', subsystem: 1, sections: moduleSections('sys', kib), timeDateStamp: 0x4ce78000 + r.int(1 << 16) });
    g.files.set(`\\Windows\\System32\\drivers\\${name}`, image.file);
    for (let i = 0; i < image.sizeOfImage / 4096; i++) {
      const s = image.sections.find((x) => i * 4096 >= x.rva && i * 4096 < x.rva + x.virtualSize);
      const exec = !s || (s.characteristics & 0x20) !== 0;
      if (i && r.chance(0.3)) {
        // Paged out: a paging-file PTE.
        const [lo, hi] = PteCodec.pagefile(g.L.pae, 0x1000 + r.int(0x10000), exec ? MmProtect.executeRead : MmProtect.readWrite);
        g.sys.setPte(va + i * 4096, lo, hi, false);
        continue;
      }
      const pfn = g.phys.any();
      g.kmap(va + i * 4096, pfn, 'kernel-image', { rw: !exec, exec });
      image.image.copy(g.mem.page(pfn), 0, i * 4096, i * 4096 + 4096);
    }
    out.push({ base: va, image, name });
    va = Math.ceil((va + image.sizeOfImage + 0x10000 + r.int(0x600000)) / 0x1000) * 0x1000;
  }
  return out;
}

/** _KUSER_SHARED_DATA: version (NtMajorVersion 6, NtMinorVersion 1; no NtBuildNumber on Win7), root, times. */
function writeKuser(g: Win7Gen, pfn: number): void {
  const U = g.B.kuser;
  const b = g.mem.page(pfn);
  b.writeUInt32LE(0x0fa00000, U.tickCountMultiplier);
  b.writeUInt32LE(0x3b9aca00, U.interruptTime);
  b.writeUInt32LE(0x01cd3b8f, U.systemTime + 4);
  b.writeUInt32LE(0x01cd3b8f, U.systemTime + 8);
  b.writeUInt16LE(0x14c, U.imageNumberLow);
  b.writeUInt16LE(0x14c, U.imageNumberHigh);
  b.write('C:\\Windows\0', U.ntSystemRoot, 'utf16le');
  b.writeUInt32LE(1, U.ntProductType);
  b[U.productTypeIsValid] = 1;
  b.writeUInt32LE(g.B.ntMajor, U.ntMajorVersion);
  b.writeUInt32LE(g.B.ntMinor, U.ntMinorVersion);
  for (const f of [1, 2, 3, 6, 7, 10, 12, 13, 17]) b[U.processorFeatures + f] = 1;
  b.writeUInt32LE(0x110, U.suiteMask);
  b[U.nxSupportPolicy] = g.L.pae ? 2 : 0;
  b.writeUInt32LE(g.runs.reduce((a, [, c]) => a + c, 0), U.numberOfPhysicalPages);
  b.writeUInt32LE(0x0004a5f1, U.tickCount);
  b.writeUInt32LE(g.rng.u32(), U.cookie);
  if (U.activeProcessorCount !== ABSENT) b.writeUInt32LE(1, U.activeProcessorCount);
  if (U.activeGroupCount !== ABSENT) b.writeUInt16LE(1, U.activeGroupCount);
}

/** Files of the catalogue that only the cache holds (SuperFetch prefetch, earlier reads). */
export const CACHED_ONLY = /mshtml|ieframe|wmploc|iexplore|tahoma|Prefetch/i;
/** The share of their pages that are on the standby lists. */
export const CACHED_STANDBY_SHARE = 0.8;

/** The catalogue entry and built bytes of every file, images loaded at their bases. */
export function buildFiles(g: Win7Gen): void {
  const r = g.rng.fork('files');
  let dllTop = 0x77f00000;
  // Files only in the cache are scaled so that standby holds about a fifth of RAM (a desktop's share).
  const cachedKib = WIN7_FILES.filter((f) => CACHED_ONLY.test(f.path)).reduce((a, f) => a + f.kib, 0);
  const scale = Math.max(1, (0.2 * g.ramPages) / (CACHED_STANDBY_SHARE * (cachedKib / 4)));
  for (const f of WIN7_FILES) {
    const fr = r.fork(f.path);
    if (f.kind === 'data') {
      const cachedOnly = CACHED_ONLY.test(f.path);
      const kib = cachedOnly ? Math.round(f.kib * scale) : f.kib;
      g.files.set(f.path, buildDataFile(fr, f.path, kib * 1024 - (fr.int(8) * 512)));
      continue;
    }
    const sections = moduleSections(f.kind, f.kib, f.rsrc ?? 0.1);
    let base: number;
    if (f.kind === 'dll') {
      base = Math.floor((dllTop - peImageSize(sections)) / 0x10000) * 0x10000 - 0x10000 * fr.int(3);
      dllTop = base;
    } else {
      base = 0x00a00000 + 0x10000 * fr.int(0x40);
    }
    const img = buildPe(fr, { imageBase: base, kind: f.kind, subsystem: f.kind === 'exe' ? 2 : 3, sections, timeDateStamp: 0x4ce7b000 + fr.int(1 << 20) });
    g.files.set(f.path, img.file);
    g.images.set(f.path, img);
  }
}

