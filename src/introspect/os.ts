/**
 * What an OS module gives introspection's entry (src/introspect/index.ts), and what every OS module
 * may use. An OS module is a cheap `probe` (does this memory hold my OS? — VMCOREINFO for Linux,
 * KDBG / _KUSER_SHARED_DATA for Windows) and a `build` that returns the one result shape: the page
 * map the codec consumes, the OS, its release, the architecture and the paging mode with the root it
 * walked, plus OS-specific details. The codec and the CLI never branch on the OS.
 */
import { PAGE_SIZE, PhysicalMemory } from '../mem/physical-memory.js';
import { PageMap, PageTypeCode, type PageType } from './pagemap.js';

/** Control registers of one vCPU as the container recorded them (ELF QEMU note, save-image CPU state). */
export interface CpuRegisters {
  index: number;
  cr0?: bigint;
  cr3?: bigint;
  cr4?: bigint;
  efer?: bigint;
}

/** What introspection needs from an opened image: memory, and what the container knows for free. */
export interface IntrospectableImage {
  memory: PhysicalMemory;
  /** VMCOREINFO text from the container's ELF note. */
  vmcoreinfo?: string;
  /** Guest-physical address of the guest's VMCOREINFO note (QEMU vmcoreinfo device). */
  vmcoreinfoNoteGpa?: number;
  /** vCPU state (CR3/CR4 give the paging mode and a root where the OS module has none of its own). */
  cpus?: readonly CpuRegisters[];
}

export interface IntrospectOptions {
  /** Scan guest memory for VMCOREINFO when the container does not say where it is (default true). */
  scan?: boolean;
  /** Type all-zero `other` pages as zero (reads those pages; default true). */
  zero?: boolean;
  /** Mark executable-mapped cache pages as image (default true). */
  exec?: boolean;
  /** Type pages on the per-cpu free lists free (default true). */
  pcp?: boolean;
}

export type OsName = 'linux' | 'windows';
export type Arch = 'x86_64' | 'i386';
/** Where the page-table root the OS module walked came from. */
export type RootSource = 'vmcoreinfo' | 'container-cpu' | 'scan';

export interface PagingInfo {
  /** 'x86-64 4-level', 'x86-64 5-level', 'x86 PAE', 'x86 non-PAE' */
  mode: string;
  /** Physical address of the root (PML4/PML5, PAE PDPT, or non-PAE page directory). */
  rootPa: number;
  rootSource: RootSource;
}

/** A table an OS module adds to `mig analyze` (printed as is; `--json` has it too). */
export interface ReportTable {
  title: string;
  columns: string[];
  rows: string[][];
}

/**
 * What `mig analyze` shows of an OS beyond the shared page types, without knowing the OS: the OS's
 * own name for each shared type it produces (Windows: 'Zeroed + Free lists' for free, 'pool' for
 * slab, …), and tables (Windows: the PFN lists, the processes with their VADs and images).
 */
export interface OsReport {
  typeNames: Partial<Record<PageType, string>>;
  tables: ReportTable[];
}

/** What an OS module's build returns. */
export interface OsIntrospection<D = unknown> {
  map: PageMap;
  os: OsName;
  osRelease: string;
  arch: Arch;
  paging: PagingInfo;
  /** Non-fatal problems (kallsyms unreadable, …). */
  warnings: string[];
  details: D;
  report?: OsReport;
}

export interface OsModule<P = unknown, D = unknown> {
  os: OsName;
  /** Cheap recognition; undefined = not this OS. May throw IntrospectionError for a recognised but unusable image. */
  probe(image: IntrospectableImage, opts: IntrospectOptions): P | undefined;
  build(image: IntrospectableImage, probed: P, opts: IntrospectOptions): OsIntrospection<D>;
}

/** Number of PFNs the map covers: up to the end of the last present run. */
export function pfnSpan(mem: PhysicalMemory): number {
  const last = mem.runs[mem.runs.length - 1];
  return last ? (last.gpa + last.length) / PAGE_SIZE : 0;
}

/**
 * Pages of per-cpu free blocks become free when struct page gave them no owner: other, or kernel
 * (init memory inside the kernel image range is freed after boot). Returns the pages changed.
 */
export function markPcpFree(map: PageMap, blocks: [number, number][]): number {
  const types = map.types;
  let n = 0;
  for (const [pfn, order] of blocks) {
    const end = Math.min(types.length, pfn + 2 ** order);
    for (let p = pfn; p < end; p++) {
      const t = types[p];
      if (t === PageTypeCode.other || t === PageTypeCode.kernel) {
        types[p] = PageTypeCode.free;
        n++;
      }
    }
  }
  return n;
}
