/**
 * Guest introspection entry point: the page map of an opened image, or an IntrospectionError that
 * says why not. Only Linux x86-64 guests (VMCOREINFO) are recognised so far; see docs/introspection.md.
 *
 * Takes the image structurally (memory + what the container knows about VMCOREINFO) so that
 * introspection does not depend on the readers.
 */
import { isZeroPage, PAGE_SIZE, PhysicalMemory } from '../mem/physical-memory.js';
import { IntrospectionError, MigError } from '../util/errors.js';
import { markExecutableImages } from './linux/exec-pages.js';
import { Kallsyms, readKallsyms } from './linux/kallsyms.js';
import { LinuxKernel } from './linux/kernel.js';
import { Btf } from './linux/btf.js';
import { btfBlob, pcpFreeBlocks } from './linux/pcp.js';
import { classifyStructPages, StructPageStats } from './linux/struct-page.js';
import { findVmcoreinfo, VmcoreinfoSource, vmNumber } from './linux/vmcoreinfo.js';
import { PageMap, PageTypeCode } from './pagemap.js';

export interface IntrospectableImage {
  memory: PhysicalMemory;
  /** VMCOREINFO text from the container's ELF note. */
  vmcoreinfo?: string;
  /** Guest-physical address of the guest's VMCOREINFO note (QEMU vmcoreinfo device). */
  vmcoreinfoNoteGpa?: number;
}

export interface PageMapDetails {
  vmcoreinfoSource: VmcoreinfoSource;
  vmcoreinfoGpa?: number;
  paging: string;
  physBase: number;
  kaslrOffset: string;
  /** From kallsyms when available. */
  pageOffsetBase?: string;
  vmemmapBase: string;
  kernelImagePfns?: [number, number];
  structPages: StructPageStats;
  /** Per-cpu free lists (needs kallsyms + BTF): pages on them, and pages typed free because of them. */
  pcp?: { pages: number; typedFree: number; lists: number; brokenLists: number; cpus: number };
  /** Page tables scanned for user executable mappings, and cache pages turned image. */
  exec?: { tables: number; execEntries: number; imagePages: number };
  /** Non-fatal problems (kallsyms unreadable, …). */
  warnings: string[];
}

export interface BuiltPageMap {
  map: PageMap;
  os: 'linux';
  osRelease: string;
  seconds: number;
  details: PageMapDetails;
}

export interface BuildOptions {
  /** Scan guest memory for VMCOREINFO when the container does not say where it is (default true). */
  scan?: boolean;
  /** Type all-zero `other` pages as zero (reads those pages; default true). */
  zero?: boolean;
  /** Mark executable-mapped cache pages as image (default true). */
  exec?: boolean;
  /** Type pages on the per-cpu free lists free (reads BTF; default true). */
  pcp?: boolean;
}

/** Number of PFNs the map covers: up to the end of the last present run. */
export function pfnSpan(mem: PhysicalMemory): number {
  const last = mem.runs[mem.runs.length - 1];
  return last ? (last.gpa + last.length) / PAGE_SIZE : 0;
}

export function buildPageMap(image: IntrospectableImage, opts: BuildOptions = {}): BuiltPageMap {
  const t0 = performance.now();
  const mem = image.memory;
  const found = findVmcoreinfo(mem, { noteText: image.vmcoreinfo, noteGpa: image.vmcoreinfoNoteGpa }, { scan: opts.scan });
  const k = new LinuxKernel(mem, found.vmcoreinfo);
  const warnings: string[] = [];
  let ks: Kallsyms | undefined;
  try {
    ks = readKallsyms(k);
  } catch (e) {
    if (!(e instanceof MigError)) throw e;
    warnings.push(`kallsyms: ${e.message}`);
  }
  let kernelImage: [number, number] | undefined;
  let pageOffsetBase: bigint | undefined;
  let vmemmapFromSymbol: bigint | undefined;
  if (ks) {
    try {
      const text = ks.lookup('_text');
      const end = ks.lookup('_end');
      if (text !== undefined && end !== undefined && end > text) kernelImage = [Math.floor(k.imagePa(text) / PAGE_SIZE), Math.ceil(k.imagePa(end) / PAGE_SIZE)];
      const pob = ks.lookup('page_offset_base');
      if (pob !== undefined) pageOffsetBase = k.readU64(pob, 'page_offset_base');
      const vmb = ks.lookup('vmemmap_base');
      if (vmb !== undefined) vmemmapFromSymbol = k.readU64(vmb, 'vmemmap_base');
    } catch (e) {
      if (!(e instanceof MigError)) throw e;
      warnings.push(e.message);
    }
  }
  const { map, stats } = classifyStructPages(k, mem, pfnSpan(mem), { kernelImage });
  if (vmemmapFromSymbol !== undefined && vmemmapFromSymbol !== stats.vmemmapBase) {
    warnings.push(`mem_section encodes struct pages at 0x${stats.vmemmapBase.toString(16)} but vmemmap_base is 0x${vmemmapFromSymbol.toString(16)}`);
  }
  let pcp: PageMapDetails['pcp'];
  if (ks && opts.pcp !== false) {
    try {
      const r = pcpFreeBlocks(k, ks, new Btf(btfBlob(k, ks)), stats.vmemmapBase, map.pfns);
      pcp = { pages: r.pages, typedFree: markPcpFree(map, r.blocks), lists: r.lists, brokenLists: r.brokenLists, cpus: r.cpus };
      if (r.brokenLists) warnings.push(`per-cpu free lists: ${r.brokenLists} list walk(s) stopped at a bad pointer`);
    } catch (e) {
      if (!(e instanceof MigError)) throw e;
      warnings.push(`per-cpu free lists not read: ${e.message}`);
    }
  }
  let exec: PageMapDetails['exec'];
  if (opts.exec !== false) exec = markExecutableImages(mem, map, k.mode, vmNumber(found.vmcoreinfo, 'sme_mask') ?? 0);
  if (opts.zero !== false) markZeroPages(mem, map);
  return {
    map,
    os: 'linux',
    osRelease: k.osRelease,
    seconds: (performance.now() - t0) / 1000,
    details: {
      vmcoreinfoSource: found.source,
      vmcoreinfoGpa: found.gpa,
      paging: k.mode.name,
      physBase: k.physBase,
      kaslrOffset: '0x' + k.kaslrOffset.toString(16),
      pageOffsetBase: pageOffsetBase !== undefined ? '0x' + pageOffsetBase.toString(16) : undefined,
      vmemmapBase: '0x' + stats.vmemmapBase.toString(16),
      kernelImagePfns: kernelImage,
      structPages: stats,
      pcp,
      exec,
      warnings,
    },
  };
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

/** `other` pages whose content is all zero become `zero` (reads only those pages). */
export function markZeroPages(mem: PhysicalMemory, map: PageMap): number {
  const types = map.types;
  const buf = Buffer.allocUnsafe(PAGE_SIZE);
  let n = 0;
  for (let pfn = 0; pfn < types.length; pfn++) {
    if (types[pfn] !== PageTypeCode.other) continue;
    if (mem.readPage(pfn, buf) && isZeroPage(buf)) {
      types[pfn] = PageTypeCode.zero;
      n++;
    }
  }
  return n;
}

/** Why the page map could not be built, in one line (for "mig: no page map (<reason>)"). */
export function pageMapFailureReason(e: unknown): string {
  if (e instanceof IntrospectionError || e instanceof MigError) return e.message;
  return `internal error: ${(e as Error)?.message ?? e}`;
}
