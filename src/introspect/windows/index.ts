/**
 * 32-bit Windows (Windows 7 x86, non-PAE and PAE kernels; Vista SP2 and XP SP3 x86, non-PAE): the OS module introspection's entry asks
 * after Linux. No PDB, no network: the kernel is found through KDBG and _KUSER_SHARED_DATA, the
 * structures through offset tables per build (offsets.ts). See docs/introspection.md, "Windows
 * (32-bit)".
 *
 * Probe (scan.ts, one pass over memory): a KDBG block and a _KUSER_SHARED_DATA page; neither → not
 * Windows (undefined), so a Linux or unknown image is never taken for Windows.
 * Build: the page-table root and mode (dtb.ts: vCPU CR3, else the Idle/System _EPROCESS or a
 * self-map, each checked against KDBG and _KUSER_SHARED_DATA), the build (version.ts) and its
 * offset table, the process list and VAD trees with their sections (processes.ts), then the PFN
 * database → one type per PFN (pfn.ts).
 */
import { IntrospectionError, IntrospectionErrorCode } from '../../util/errors.js';
import type { IntrospectableImage, IntrospectOptions, OsIntrospection, OsModule, OsReport } from '../os.js';
import { pfnSpan } from '../os.js';
import { findKernelRoot, kdbgVirtualAddress } from './dtb.js';
import { describeKdbg, kdbgPointersPlausible } from './kdbg.js';
import { classifyPfnDatabase, PfnStats } from './pfn.js';
import { collectSections, listProcesses, SectionKind, walkVads, WindowsProcess } from './processes.js';
import { scanWindows, WindowsScan } from './scan.js';
import { readVersion, selectLayout, WindowsVersion } from './version.js';
import { hex, KernelSpace } from './vmem.js';

export interface WindowsProbe {
  scan: WindowsScan;
}

export interface WindowsProcessInfo {
  pid: number;
  ppid: number;
  name: string;
  eprocess: string;
  dtb: string;
  vads: number;
  /** File names of the images mapped (MEM_IMAGE views), in address order, each once. */
  images: string[];
  /** Data files mapped (MEM_MAPPED views of files). */
  mappedFiles: number;
  vadError?: string;
}

export interface WindowsDetails {
  version: WindowsVersion;
  /** The offset table used. */
  layout: string;
  kdbg: { pa: string; va: string; vaFrom: 'list' | 'kernel-image'; size: string; kernBase: string; psActiveProcessHead: string; mmPfnDatabase: string; candidates: number };
  kuserPa: string;
  /** The System process's DirectoryTableBase (equal to the root unless the vCPU ran another process). */
  systemDtb?: string;
  /** Roots tried before the one used, and why they were not taken. */
  rootsRejected: string[];
  pfn: PfnStats;
  processes: WindowsProcessInfo[];
  sections: Record<SectionKind, number>;
}

function probe(image: IntrospectableImage, _opts: IntrospectOptions): WindowsProbe | undefined {
  const scan = scanWindows(image.memory);
  if (scan.kdbg.length === 0 || scan.kuser.length === 0) return undefined;
  return { scan };
}

function build(image: IntrospectableImage, probed: WindowsProbe, _opts: IntrospectOptions): OsIntrospection<WindowsDetails> {
  const mem = image.memory;
  const { scan } = probed;
  const warnings: string[] = [];
  const x86 = scan.kdbg.filter(kdbgPointersPlausible);
  if (x86.length === 0) {
    const k = scan.kdbg[0];
    const wow = scan.kdbg.some((c) => c.bits === 64) ? '64-bit Windows (an x64 KDBG needle)' : 'no x86 KDBG with kernel pointers';
    throw new IntrospectionError(IntrospectionErrorCode.UNSUPPORTED, `Windows: ${wow}: ${describeKdbg(k)}; only 32-bit Windows (XP SP3, Vista SP2, 7) is supported`, { kdbgSize: k.size, bits: k.bits });
  }
  const root = findKernelRoot(mem, image.cpus, scan, x86);
  const space = root.space;
  if (root.rejected.length > 0 && root.rootSource === 'scan' && image.cpus?.some((c) => c.cr3 !== undefined)) {
    warnings.push(`vCPU state did not give a usable root (${root.rejected.join('; ')}); root found by scan`);
  }
  const version = readVersion(space, root);
  const layout = selectLayout(version, space.pae, root.kdbg);
  const mz = space.tryRead(root.kdbg.kernBase, 2);
  if (!mz || mz.toString('latin1') !== 'MZ') warnings.push(`KernBase ${hex(root.kdbg.kernBase)} does not map an MZ header`);

  const processes = listProcesses(space, layout, root.kdbg);
  for (const p of processes) {
    try {
      p.vads = walkVads(space, layout, p);
    } catch (e) {
      if (!(e instanceof IntrospectionError)) throw e;
      p.vadError = e.message;
      warnings.push(e.message);
    }
  }
  const sections = collectSections(space, layout, processes);
  const system = processes.find((p) => p.pid === 4);
  let systemDtb: number | undefined;
  if (system) {
    systemDtb = system.dtb;
    if (system.dtb !== space.rootPa) {
      const sys = new KernelSpace(mem, space.mode, system.dtb);
      if (!kdbgVirtualAddress(sys, root.kdbg)) warnings.push(`the System process's DirectoryTableBase ${hex(system.dtb)} does not map KDBG`);
    }
  } else {
    warnings.push('no System process (pid 4) on the process list');
  }

  const { map, stats } = classifyPfnDatabase({ space, layout, kdbg: root.kdbg, pfns: pfnSpan(mem), processes, sections, warnings });
  const counts: Record<SectionKind, number> = { image: 0, file: 0, pagefile: 0 };
  for (const s of sections.values()) counts[s.kind]++;
  const build = version.build !== undefined ? `.${version.build}` : '';
  const processInfos = processes.map((p) => processInfo(p, sections));
  return {
    map,
    os: 'windows',
    osRelease: `${version.major}.${version.minor}${build}${version.servicePack ? ` SP${version.servicePack}` : ''}`,
    arch: 'i386',
    paging: { mode: space.mode.name, rootPa: space.rootPa, rootSource: root.rootSource },
    warnings,
    details: {
      version,
      layout: layout.name,
      kdbg: {
        pa: hex(root.kdbg.pa),
        va: hex(root.kdbgVa),
        vaFrom: root.kdbgVaFrom,
        size: hex(root.kdbg.size),
        kernBase: hex(root.kdbg.kernBase),
        psActiveProcessHead: hex(root.kdbg.psActiveProcessHead),
        mmPfnDatabase: hex(root.kdbg.mmPfnDatabase),
        candidates: scan.kdbg.length,
      },
      kuserPa: hex(root.kuser.pa),
      systemDtb: systemDtb !== undefined ? hex(systemDtb) : undefined,
      rootsRejected: root.rejected,
      pfn: stats,
      processes: processInfos,
      sections: counts,
    },
    report: windowsReport(stats, processInfos),
  };
}

/** Windows' names for the shared page types this module produces (docs/introspection.md, "Windows"). */
const TYPE_NAMES: OsReport['typeNames'] = {
  free: 'Zeroed + Free lists',
  standby: 'Standby lists (cached file pages, SuperFetch)',
  image: 'image: section pages of executables, MEM_IMAGE views',
  cache: 'mapped file: data-file section pages',
  shmem: 'pagefile-backed section',
  anon: 'private: heaps, stacks (MEM_PRIVATE)',
  pagetable: 'page tables, page directories, PDPTs',
  slab: 'paged and nonpaged pool',
  kernel: 'kernel: images, stacks, PFN database, system PTEs',
  hwpoison: 'Bad list',
  other: 'not in the PFN database (firmware, ROM, ACPI)',
  zero: 'all-zero, not in the PFN database',
};

function windowsReport(stats: PfnStats, processes: WindowsProcessInfo[]): OsReport {
  const lists: string[][] = Object.entries(stats.locations).map(([name, n]) => [name, String(n)]);
  const prio = stats.standbyByPriority.map((n, i) => `${i}:${n}`).filter((_, i) => stats.standbyByPriority[i] > 0);
  const standby = lists.find((r) => r[0] === 'Standby');
  // XP has one standby list: no priorities to show.
  if (standby && prio.length > 0) standby.push(`by priority ${prio.join(' ')}`);
  // File names without their directories; the first eight, then how many more (--json has them all).
  const short = (names: string[]) => {
    const base = names.map((n) => n.slice(n.lastIndexOf('\\') + 1));
    return base.length > 8 ? `${base.slice(0, 8).join(' ')} … (+${base.length - 8})` : base.join(' ');
  };
  return {
    typeNames: TYPE_NAMES,
    tables: [
      { title: 'PFN database: pages per PageLocation', columns: ['location', 'pages', ''], rows: lists },
      {
        title: 'processes (PsActiveProcessHead)',
        columns: ['pid', 'ppid', 'name', 'VADs', 'mapped files', 'images', 'image files'],
        rows: processes.map((p) => [String(p.pid), String(p.ppid), p.name, p.vadError ? `${p.vads} (${p.vadError})` : String(p.vads), String(p.mappedFiles), String(p.images.length), short(p.images)]),
      },
    ],
  };
}

function processInfo(p: WindowsProcess, sections: ReturnType<typeof collectSections>): WindowsProcessInfo {
  const images: string[] = [];
  const seen = new Set<string>();
  let mappedFiles = 0;
  for (const v of p.vads) {
    const s = v.controlArea !== 0 ? sections.get(v.controlArea) : undefined;
    if (!s) continue;
    if (s.kind === 'image' && s.file !== undefined && !seen.has(s.file)) {
      seen.add(s.file);
      images.push(s.file);
    } else if (s.kind === 'file') {
      mappedFiles++;
    }
  }
  return { pid: p.pid, ppid: p.ppid, name: p.name, eprocess: hex(p.eprocess), dtb: hex(p.dtb), vads: p.vads.length, images, mappedFiles, vadError: p.vadError };
}

export const windows: OsModule<WindowsProbe, WindowsDetails> = { os: 'windows', probe, build };
