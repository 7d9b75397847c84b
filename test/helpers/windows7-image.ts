/**
 * Synthetic Windows 7 SP1 x86 (build 7601) memory images, non-PAE (ntkrnlmp) and PAE (ntkrpamp),
 * built from the published structure layouts (windows7-offsets.ts, with sources) so that
 * src/introspect/windows can be developed and checked against them before real guests: the corpus
 * of issue 11 part 4.
 *
 * What an image holds (VAs/PAs are returned in `layout`):
 * - Physical memory: RAM from PFN 0; Windows manages the runs [1, 0x9f) and [0x100, top − 32)
 *   (MmPhysicalMemoryBlock); PFN 0, the legacy VGA/BIOS hole and the top 32 pages (ACPI) are not
 *   managed and have zero _MMPFN records where the database covers them.
 * - Paging: the System directory at PA 0x185000 (PAE: the PDPT there, its four PDs right after, the
 *   shape winload leaves; MPF VmmWinInit_DTB_FindValidate_X86PAE), self-mapped (PTEs at
 *   0xC0000000, PDs at 0xC0300000 / 0xC0600000), PDE 0 a user table (low byte 0x67), kernel PDEs
 *   0x63 / large 0x9e3. hal.dll and the kernel in large pages (4 MiB / 2 MiB) over
 *   [0x82800000, 0x82C00000) → PA − 0x80000000. Every process has its own directory (PAE: a PDPT
 *   in a 32-byte slot of a shared page, so CR3 is only 32-byte aligned) with the kernel PDEs copied,
 *   its self-map, hyperspace and working-set-list page.
 * - The kernel: a PE image at KernBase (0x8284x000) whose .data holds KdVersionBlock,
 *   _KDDEBUGGER_DATA64 (KDBG, 0x340) registered on KdpDebuggerDataListHead, the variables KDBG
 *   points at (PsActiveProcessHead, PsLoadedModuleList, MmPfnDatabase, page list heads, ...), the
 *   Idle process and a KPCR; _KUSER_SHARED_DATA at 0xFFDF0000 (and 0x7FFE0000 in every process);
 *   drivers (Ntfs.sys, tcpip.sys, win32k.sys, ...) at scattered system VAs with 4 KiB PTEs, on
 *   PsLoadedModuleList after the kernel and hal; the pools with pages of other tags' blocks.
 * - Processes: System (PID 4) and user processes as _EPROCESS objects in nonpaged pool ('Pro\xe3',
 *   with object and quota headers), on PsActiveProcessHead, each with a balanced VAD tree
 *   (VadS / 'Vad ' / Vadl nodes) over private regions (heap, stack, PEB, TEB), image views (VadType 2,
 *   Subsection → ControlArea 'MmCi' → _FILE_OBJECT → FileName), data-file views ('MmCa') and a
 *   pagefile-backed shared section; PTEs valid, transition (standby / modified private pages),
 *   prototype (pointing at the section's prototype PTE, or the "look in the VAD" form).
 * - The PFN database at MmPfnDatabase: one _MMPFN per page up to MmHighestPhysicalPage with
 *   PageLocation, PteAddress, PteFrame, PrototypePte, counts; zeroed/free lists (with their colored
 *   links), standby lists by priority (MmStandbyPageListByPriority[8], where KDBG's
 *   MmStandbyPageListHead points: inferred), modified, modified-no-write and bad lists.
 * - Contents: zeroed pages are zero, free pages hold stale data, standby pages hold file pages
 *   (the same bytes as `files`), heaps repeating chunk headers and strings, pool pages pool blocks.
 *
 * The truth: `truth` (PageMap, the shared vocabulary) and `truthWindows` (WIN7_PAGE_CLASSES, the
 * Windows view, for the introspection work to decide on new types). See WIN7_CLASS_TYPES.
 *
 * Inferred (no source states them for Win7; to be settled against real images): the VAs of the PFN
 * database, pools and kernel stacks (Win7 assigns system VA dynamically), the standby list heads
 * KDBG points at, zero upper halves of KDBG's 64-bit address fields (S03 kdinit.c casts KernBase
 * through ULONG_PTR; a static initialiser can only relocate 32 bits), the non-PAE subsection-PTE
 * encoding, the hyperspace working-set-list VA (ReactOS), the number of page colors.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PageMap } from '../../src/introspect/pagemap.js';
import { buildElfCore } from './elf-writer.js';
import type { FakeMemory } from './fake-memory.js';
import { fillCode, fillStalePage } from './windows7-content.js';
import { WinGenBuild, Win7Layout } from './windows7-offsets.js';
import { Win7Gen, Win7ImageLayout, Win7ProcessSpec, WIN7_PAGE_CLASSES, WIN7_VA, WinGenBuildName } from './windows7-gen.js';
import { buildFiles, buildKernel, KernelParts } from './windows7-kernel.js';
import { buildWin7Processes, ProcessPlan } from './windows7-processes.js';

export * from './windows7-gen.js';

export interface Windows7ImageOptions {
  pae: boolean;
  /** Which Windows (default Windows 7 SP1; Vista SP2 is non-PAE only: no published PAE layout). */
  build?: WinGenBuildName;
  /** Guest RAM, 48–512 MiB, a multiple of 4 (default 64). */
  ramMiB?: number;
  seed?: number;
  /** User processes (default: smss, csrss, wininit, services, lsass, 2× svchost, explorer, notepad). */
  processes?: Win7ProcessSpec[];
  /** The process whose directory is in CR3 at the capture (default System). */
  cpuProcess?: string;
}

export interface Windows7Image {
  mem: FakeMemory;
  truth: PageMap;
  truthWindows: Uint8Array;
  cpu: { cr0: number; cr3: number; cr4: number };
  layout: Win7ImageLayout;
  offsets: Win7Layout;
  /** The build's paging-independent table (W7, VISTA2). */
  build: WinGenBuild;
  /** The guest's files (Windows path → bytes): every image and data file the memory holds pages of. */
  files: Map<string, Buffer>;
  /** The raw RAM image (the same bytes as mem, contiguous from PA 0). */
  raw(): Buffer;
}

/** CR0 PG|WP|NE|ET|TS|MP|PE and CR4 VME|PSE|(PAE)|MCE|PGE|OSFXSR|OSXMMEXCPT, as WinDbg shows on such guests. */
const CR0 = 0x8001003b;
const CR4_NONPAE = 0x000006d1;
const CR4_PAE = 0x000006f1;

/** Generate an image. Deterministic in (pae, ramMiB, seed, processes). */
export function windows7Image(o: Windows7ImageOptions): Windows7Image {
  const ramMiB = o.ramMiB ?? 64;
  if (ramMiB < 48 || ramMiB > 512 || ramMiB % 4) throw new Error('ramMiB: 48–512, a multiple of 4');
  const g = new Win7Gen({ pae: o.pae, ramMiB, seed: o.seed ?? 1, build: o.build });
  const k = buildKernel(g);
  buildFiles(g);
  const procs = buildWin7Processes(g, k, o.processes);
  finishMemory(g, k, procs);
  const L = g.L;
  const cpuProc = o.cpuProcess ? procs.processes.find((p) => p.name === o.cpuProcess) : undefined;
  if (o.cpuProcess && !cpuProc) throw new Error(`no process ${o.cpuProcess}`);
  const layout: Win7ImageLayout = {
    pae: o.pae,
    ramPages: g.ramPages,
    highestPfn: g.highestPfn,
    physicalRuns: g.runs,
    systemDtb: g.systemDtb,
    systemPdPfns: g.systemPdPfns,
    kernBase: k.kernBase,
    kernelSize: k.nt.sizeOfImage,
    halBase: WIN7_VA.halBase,
    largePages: k.largePages,
    kdbg: k.kdbg,
    versionBlock: k.versionBlock,
    kpcr: k.kpcr,
    idleEprocess: k.idle,
    kuserPfn: k.kuserPfn,
    pfnDatabase: WIN7_VA.pfnDatabase,
    pfnEntrySize: L.mmpfn.size,
    vars: g.vars,
    lists: {
      zeroed: g.lists.zeroed.va,
      free: g.lists.free.va,
      standby: g.lists.standby.map((l) => l.va),
      modified: g.lists.modified.va,
      modifiedNoWrite: g.lists.modifiedNoWrite.va,
      bad: g.lists.bad.va,
    },
    standbyTotals: g.lists.standby.map((l) => l.total),
    processes: procs.processes,
    sections: procs.sections,
    pools: { nonPaged: [WIN7_VA.nonPagedPool, WIN7_VA.nonPagedPoolEnd], paged: [WIN7_VA.pagedPool, WIN7_VA.pagedPoolEnd] },
  };
  const mem = g.mem;
  return {
    mem,
    truth: new PageMap(g.type),
    truthWindows: g.cls,
    cpu: { cr0: CR0, cr3: cpuProc ? cpuProc.dtb : g.systemDtb, cr4: o.pae ? CR4_PAE : CR4_NONPAE },
    layout,
    offsets: L,
    build: g.B,
    files: g.files,
    raw: () => g.ram,
  };
}

/**
 * After the processes: kernel pools closed, process directories built (done by the processes pass),
 * list insertions linked, the remaining pages made zeroed or free, the PFN database written, the
 * list heads and counters written, and unmanaged pages given their firmware contents.
 */
function finishMemory(g: Win7Gen, k: KernelParts, p: ProcessPlan): void {
  const r = g.rng.fork('finish');
  // Bad pages (not reachable from KDBG: MmBadPageListHead is its own variable).
  for (let i = 0; i < 2; i++) {
    const pfn = g.phys.any();
    g.claim(pfn, 'bad');
    r.fill(g.mem.page(pfn));
    g.queue(g.lists.bad, pfn, { pteVa: 0, pteFrame: 0 });
  }
  g.flushLists();
  // Whatever is left: zeroed (about 60%) or free with stale contents.
  const rest = g.phys.drain();
  const stalePool = p.filePages;
  for (const pfn of rest) {
    const stalePte = (0xc0000000 + (r.int(0x200000) << 2)) >>> 0;
    if (r.chance(0.6)) {
      g.claim(pfn, 'zeroed'); // never written since RAM was allocated: already zero
      g.db.appendFree(g.lists.zeroed, pfn, stalePte);
    } else {
      g.claim(pfn, 'free');
      fillStalePage(r, g.mem.page(pfn), 0, stalePool.length ? stalePool[r.int(stalePool.length)] : undefined);
      g.db.appendFree(g.lists.free, pfn, stalePte);
    }
  }
  // Counters and heads.
  const standby = g.lists.standby.reduce((a, l) => a + l.total, 0);
  g.kvm.u32(g.vars.MmAvailablePages, g.lists.zeroed.total + g.lists.free.total + standby);
  g.kvm.u32(g.vars.MmResidentAvailablePages, g.lists.zeroed.total + g.lists.free.total + standby - 0x100);
  g.kvm.u32(g.vars.MmBadPagesDetected, g.lists.bad.total);
  for (const l of [g.lists.zeroed, g.lists.free, ...g.lists.standby, g.lists.modified, g.lists.modifiedNoWrite, g.lists.bad]) g.writeList(l);
  // The PFN database itself.
  const bytes = g.db.serialize();
  k.pfnDbPfns.forEach((pfn, i) => {
    const b = g.mem.page(pfn);
    b.fill(0);
    bytes.copy(b, 0, i * 4096, Math.min(bytes.length, (i + 1) * 4096));
  });
  // Unmanaged pages: real-mode IVT and BDA, EBDA, VGA text buffer, option ROMs/BIOS, ACPI tables.
  const ivt = g.mem.page(0);
  for (let i = 0; i < 256; i++) ivt.writeUInt32LE(((0xf000 << 16) | (0xe000 + ((i * 0x53) & 0xfff))) >>> 0, i * 4);
  ivt.writeUInt16LE(0x3f8, 0x400);
  ivt.writeUInt16LE(0x9fc0, 0x40e);
  ivt.writeUInt16LE(639, 0x413);
  for (let pfn = 0x9f; pfn < 0x100; pfn++) {
    const b = g.mem.page(pfn);
    if (pfn === 0xb8) for (let i = 0; i < 80 * 25; i++) b.writeUInt16LE(0x0720, 2 * i);
    else if (pfn >= 0xc0) fillCode(r, b, 0, 4096);
    else if (pfn === 0x9f) r.fill(b, 0xc00, 0x400);
  }
  for (let pfn = g.highestPfn + 1; pfn < g.ramPages; pfn++) {
    const b = g.mem.page(pfn);
    if (pfn === g.highestPfn + 1) {
      let o = 0;
      for (const sig of ['RSDT', 'FACP', 'DSDT', 'APIC', 'HPET']) {
        b.write(sig, o, 'latin1');
        b.writeUInt32LE(0x80 + r.int(0x200), o + 4);
        b.write('BOCHS BXPC    ', o + 10, 'latin1');
        r.fill(b, o + 36, 0x40);
        o += 0x100;
      }
    }
  }
}

export interface WrittenWindows7Image {
  image: Windows7Image;
  raw: string;
  elf: string;
  filesDir: string;
}

/**
 * Write an image to `dir`: memory.raw (RAM from PA 0), dump.elf (an ELF32 EM_386 core as QEMU's
 * dump-guest-memory writes it for a 32-bit guest: one PT_LOAD, NT_PRSTATUS and the QEMU CPU-state
 * note with CR0/CR3/CR4), files/ (the guest's files under their Windows paths, for an NTFS image),
 * truth.pagemap (the PageMap text form) and truth-windows.json (class per run).
 */
export function writeWindows7Image(dir: string, o: Windows7ImageOptions): WrittenWindows7Image {
  return saveWindows7Image(dir, windows7Image(o));
}

/** writeWindows7Image for an image already generated. */
export function saveWindows7Image(dir: string, image: Windows7Image): WrittenWindows7Image {
  fs.mkdirSync(dir, { recursive: true });
  const raw = image.raw();
  const rawPath = path.join(dir, 'memory.raw');
  fs.writeFileSync(rawPath, raw);
  const { bytes } = buildElfCore({
    bits: 32,
    loads: [{ gpa: 0, data: raw }],
    cpus: [{ rip: BigInt(image.layout.kernBase + 0x1000), cr3: BigInt(image.cpu.cr3), cr0: BigInt(image.cpu.cr0), cr4: BigInt(image.cpu.cr4) }],
  });
  const elfPath = path.join(dir, 'dump.elf');
  fs.writeFileSync(elfPath, bytes);
  const filesDir = path.join(dir, 'files');
  for (const [p, b] of image.files) {
    const dest = path.join(filesDir, ...p.split('\\').filter(Boolean));
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, b);
  }
  fs.writeFileSync(path.join(dir, 'truth.pagemap'), image.truth.toText());
  const runs: [number, number, string][] = [];
  const w = image.truthWindows;
  for (let i = 0, s = 0; i <= w.length; i++) {
    if (i === w.length || w[i] !== w[s]) {
      runs.push([s, i - s, WIN7_PAGE_CLASSES[w[s]]]);
      s = i;
    }
  }
  fs.writeFileSync(path.join(dir, 'truth-windows.json'), JSON.stringify({ classes: WIN7_PAGE_CLASSES, runs }) + '\n');
  return { image, raw: rawPath, elf: elfPath, filesDir };
}

