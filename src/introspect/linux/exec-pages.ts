/**
 * Which page-cache pages are mapped executable by some process: every page typed `pagetable` (in
 * 6.1 only PTE and PMD tables are typed, include/linux/mm.h pgtable_pte_page_ctor/pgtable_pmd_page_ctor)
 * is scanned as one full table page of the paging mode (512 8-byte entries, or 1024 4-byte entries
 * without PAE); a present entry with US=1 and NX=0 (no NX bit without PAE) marks the frame it points
 * at as executable. Cache pages so marked become `image` (program text and shared libraries).
 * Offset-free: no mm_struct or VMA walk needed. A PMD entry pointing at a PTE table marks that table,
 * which is not a cache page, so it does not matter. Bit 7 is PS in a PMD but PAT in a PTE and the two
 * kinds of table are not told apart here, so every entry marks one frame (a 2 MiB or 4 MiB executable
 * file mapping is under-marked). The hardware P bit decides, not the mode's validity predicate: an
 * OS's software PTEs do not map a page. A PAE PDPT (32 bytes, US reserved) marks nothing.
 */
import { PAGE_SIZE, PhysicalMemory } from '../../mem/physical-memory.js';
import { PageMap, PageTypeCode } from '../pagemap.js';
import { entryAddressMasks, entryPfn, PagingMode, PTE_NX_HI, PTE_PRESENT, PTE_USER } from '../x86/paging.js';

export function markExecutableImages(mem: PhysicalMemory, map: PageMap, mode: PagingMode, smeMask = 0): { tables: number; execEntries: number; imagePages: number } {
  const types = map.types;
  const buf = new Uint8Array(PAGE_SIZE);
  const u32 = new Uint32Array(buf.buffer);
  const wide = mode.entryBytes === 8;
  const entries = PAGE_SIZE / mode.entryBytes;
  const masks = entryAddressMasks(mode, smeMask);
  const nxHi = mode.nx ? PTE_NX_HI : 0;
  const PU = PTE_PRESENT | PTE_USER;
  let tables = 0;
  let execEntries = 0;
  let imagePages = 0;
  for (let pfn = 0; pfn < types.length; pfn++) {
    if (types[pfn] !== PageTypeCode.pagetable || !mem.readPage(pfn, buf)) continue;
    tables++;
    for (let i = 0; i < entries; i++) {
      const lo = wide ? u32[i * 2] : u32[i];
      const hi = wide ? u32[i * 2 + 1] : 0;
      // P=1, US=1, NX=0
      if ((lo & PU) !== PU || (hi & nxHi) !== 0) continue;
      execEntries++;
      const target = entryPfn(lo, hi, masks);
      if (target < types.length && types[target] === PageTypeCode.cache) {
        types[target] = PageTypeCode.image;
        imagePages++;
      }
    }
  }
  return { tables, execEntries, imagePages };
}
