/**
 * Which page-cache pages are mapped executable by some process: every page typed `pagetable` (in
 * 6.1 only PTE and PMD tables are typed, include/linux/mm.h pgtable_pte_page_ctor/pgtable_pmd_page_ctor)
 * is scanned; a present entry with US=1 and NX=0 marks the frame it points at as executable. Cache
 * pages so marked become `image` (program text and shared libraries). Offset-free: no mm_struct or
 * VMA walk needed. A PMD entry pointing at a PTE table marks that table, which is not a cache page,
 * so it does not matter. Bit 7 is PS in a PMD but PAT in a PTE and the two kinds of table are not
 * told apart here, so every entry marks one frame (a 2 MiB executable file mapping is under-marked).
 */
import { PAGE_SIZE, PhysicalMemory } from '../../mem/physical-memory.js';
import { PageMap, PageTypeCode } from '../pagemap.js';

export function markExecutableImages(mem: PhysicalMemory, map: PageMap, smeMask = 0): { tables: number; execEntries: number; imagePages: number } {
  const types = map.types;
  const buf = new Uint8Array(PAGE_SIZE);
  const u32 = new Uint32Array(buf.buffer);
  const smeHi = Math.floor(smeMask / 2 ** 32) >>> 0;
  let tables = 0;
  let execEntries = 0;
  let imagePages = 0;
  for (let pfn = 0; pfn < types.length; pfn++) {
    if (types[pfn] !== PageTypeCode.pagetable || !mem.readPage(pfn, buf)) continue;
    tables++;
    for (let i = 0; i < 512; i++) {
      const lo = u32[i * 2];
      const hi = u32[i * 2 + 1];
      // P=1, US=1, NX=0
      if ((lo & 0x5) !== 0x5 || (hi & 0x80000000) !== 0) continue;
      execEntries++;
      const target = ((hi & ~smeHi) & 0xfffff) * 0x100000 + ((lo >>> 12) & 0xfffff);
      if (target < types.length && types[target] === PageTypeCode.cache) {
        types[target] = PageTypeCode.image;
        imagePages++;
      }
    }
  }
  return { tables, execEntries, imagePages };
}
