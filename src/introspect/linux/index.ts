/**
 * Linux on x86 (x86-64 and i386): the OS module introspection's entry asks first. Probe: VMCOREINFO
 * (the container's ELF note, the vmcoreinfo device's note, else a scan of guest memory). Build: the
 * kernel page table, struct page for every PFN, per-cpu free lists, executable mappings.
 */
import type { PhysicalMemory } from '../../mem/physical-memory.js';
import { PAGE_SIZE } from '../../mem/physical-memory.js';
import { IntrospectionError, MigError } from '../../util/errors.js';
import type { IntrospectableImage, IntrospectOptions, OsIntrospection, OsModule } from '../os.js';
import { markPcpFree, pfnSpan } from '../os.js';
import { Btf } from './btf.js';
import { markExecutableImages } from './exec-pages.js';
import { Kallsyms, readKallsyms } from './kallsyms.js';
import { LinuxKernel } from './kernel.js';
import { btfBlob, PcpLayout, pcpLayoutDerived, pcpLayoutFromBtf, pcpFreeBlocks } from './pcp.js';
import { classifyStructPages, StructPageStats } from './struct-page.js';
import { findVmcoreinfo, FoundVmcoreinfo, VmcoreinfoSource, vmNumber } from './vmcoreinfo.js';

export interface LinuxDetails {
  vmcoreinfoSource: VmcoreinfoSource;
  vmcoreinfoGpa?: number;
  /** i386: the PAGE_OFFSET whose page table maps swapper_pg_dir to itself. */
  pageOffset?: string;
  physBase: number;
  kaslrOffset: string;
  /** x86-64, from kallsyms when available. */
  pageOffsetBase?: string;
  vmemmapBase: string;
  kernelImagePfns?: [number, number];
  structPages: StructPageStats;
  /** Per-cpu free lists: pages on them, pages typed free because of them, and where the layout came from. */
  pcp?: { pages: number; typedFree: number; lists: number; brokenLists: number; cpus: number; layout: 'btf' | 'derived'; cpuOffsets: 'kallsyms' | 'scan' };
  /** Page tables scanned for user executable mappings, and cache pages turned image. */
  exec?: { tables: number; execEntries: number; imagePages: number };
}

function probe(image: IntrospectableImage, opts: IntrospectOptions): FoundVmcoreinfo | undefined {
  try {
    return findVmcoreinfo(image.memory, { noteText: image.vmcoreinfo, noteGpa: image.vmcoreinfoNoteGpa }, { scan: opts.scan });
  } catch (e) {
    if (e instanceof IntrospectionError && e.code === 'INTROSPECT_NO_VMCOREINFO') return undefined;
    throw e;
  }
}

function build(image: IntrospectableImage, found: FoundVmcoreinfo, opts: IntrospectOptions): OsIntrospection<LinuxDetails> {
  const mem: PhysicalMemory = image.memory;
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
      if (k.arch === 'x86_64') {
        const pob = ks.lookup('page_offset_base');
        if (pob !== undefined) pageOffsetBase = k.readU64(pob, 'page_offset_base');
        const vmb = ks.lookup('vmemmap_base');
        if (vmb !== undefined) vmemmapFromSymbol = k.readU64(vmb, 'vmemmap_base');
      }
    } catch (e) {
      if (!(e instanceof MigError)) throw e;
      warnings.push(e.message);
    }
  }
  const pfns = pfnSpan(mem);
  const { map, stats } = classifyStructPages(k, mem, pfns, { kernelImage });
  if (vmemmapFromSymbol !== undefined && vmemmapFromSymbol !== stats.vmemmapBase) {
    warnings.push(`mem_section encodes struct pages at 0x${stats.vmemmapBase.toString(16)} but vmemmap_base is 0x${vmemmapFromSymbol.toString(16)}`);
  }
  let pcp: LinuxDetails['pcp'];
  if (ks && opts.pcp !== false) {
    try {
      let layout: PcpLayout;
      let blob: Buffer | undefined;
      try {
        blob = btfBlob(k, ks);
      } catch (e) {
        if (!(e instanceof MigError)) throw e;
      }
      // Without kallsyms data symbols the per-cpu areas are found in the direct map (i386: PAGE_OFFSET).
      const directMap = k.pageOffset !== undefined ? BigInt(k.pageOffset) : undefined;
      layout = blob ? pcpLayoutFromBtf(k, ks, new Btf(blob)) : pcpLayoutDerived(k, ks, stats.vmemmapBase, map, directMap);
      const r = pcpFreeBlocks(k, layout, stats.vmemmapBase, map.pfns);
      if (layout.source === 'derived' && r.countMismatches > 0) {
        // The derived layout is only trusted when every pageset's count equals the pages on its lists.
        warnings.push(`per-cpu free lists not used: the layout derived without BTF gives ${r.countMismatches} pageset(s) whose count differs from their lists`);
      } else {
        pcp = { pages: r.pages, typedFree: markPcpFree(map, r.blocks), lists: r.lists, brokenLists: r.brokenLists, cpus: r.cpus, layout: layout.source, cpuOffsets: layout.cpuOffsetsFrom };
        if (r.brokenLists) warnings.push(`per-cpu free lists: ${r.brokenLists} list walk(s) stopped at a bad pointer`);
      }
    } catch (e) {
      if (!(e instanceof MigError)) throw e;
      warnings.push(`per-cpu free lists not read: ${e.message}`);
    }
  }
  let exec: LinuxDetails['exec'];
  if (opts.exec !== false) exec = markExecutableImages(mem, map, k.mode, vmNumber(found.vmcoreinfo, 'sme_mask') ?? 0);
  return {
    map,
    os: 'linux',
    osRelease: k.osRelease,
    arch: k.arch,
    paging: { mode: k.mode.name, rootPa: k.rootPa, rootSource: 'vmcoreinfo' },
    warnings,
    details: {
      vmcoreinfoSource: found.source,
      vmcoreinfoGpa: found.gpa,
      pageOffset: k.pageOffset !== undefined ? '0x' + k.pageOffset.toString(16) : undefined,
      physBase: k.physBase,
      kaslrOffset: '0x' + k.kaslrOffset.toString(16),
      pageOffsetBase: pageOffsetBase !== undefined ? '0x' + pageOffsetBase.toString(16) : undefined,
      vmemmapBase: '0x' + stats.vmemmapBase.toString(16),
      kernelImagePfns: kernelImage,
      structPages: stats,
      pcp,
      exec,
    },
  };
}

export const linux: OsModule<FoundVmcoreinfo, LinuxDetails> = { os: 'linux', probe, build };
