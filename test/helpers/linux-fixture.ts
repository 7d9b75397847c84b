/**
 * A tiny synthetic Linux x86-64 guest in a FakeMemory: VMCOREINFO text with the 6.1 layout, a kernel
 * page table at init_top_pgt (placed by phys_base), a direct map, SPARSEMEM_EXTREME mem_section
 * roots, and a vmemmap whose struct pages the test fills. 8 sections of 2^SECTION_BITS pages.
 */
import { FakeMemory, PageTableBuilder } from './fake-memory.js';

export const SECTION_SIZE_BITS = 18; // 64 pages per section: one vmemmap page of struct pages
export const PAGES_PER_SECTION = 1 << (SECTION_SIZE_BITS - 12);
export const PAGE_STRUCT = 64;
export const START_KERNEL_MAP = 0xffffffff80000000n;
export const PAGE_OFFSET = 0xffff888000000000n;
export const VMEMMAP = 0xffffea0000000000n;

export interface LinuxFixture {
  mem: FakeMemory;
  vmcoreinfo: string;
  /** Write struct page fields of pfn. */
  setPage(pfn: number, f: { flags?: number; mapping?: bigint; mapcount?: number; priv?: number; refcount?: number; compoundHead?: bigint }): void;
  pageVa(pfn: number): bigint;
}

/**
 * RAM PFNs [0, ramPages); the kernel's own structures sit in PFNs ≥ 0x100 (outside the typed range).
 * Sections listed in `presentSections` get a struct page array; the others are holes.
 */
export function linuxFixture(ramPages: number, presentSections: number[]): LinuxFixture {
  const mem = new FakeMemory();
  mem.addRange(0, ramPages);
  const imageVa = START_KERNEL_MAP + 0x1000000n; // _text
  const imagePa = 0x300000;
  // phys_base places _text (linked at 16 MiB) at PA 0x300000: negative, as on the real guests.
  const physBase = imagePa - Number(imageVa - START_KERNEL_MAP);
  const topPgtVa = imageVa + 0x10000n;
  const topPgtPa = Number(topPgtVa - START_KERNEL_MAP) + physBase;
  // Page-table builder rooted at the top PGT: allocate its frame exactly there.
  const b = new PageTableBuilder(mem, topPgtPa / 4096);
  for (let i = 0; i < 32; i++) b.map(imageVa + BigInt(i * 4096), imagePa + i * 4096);
  // Direct map of the low 16 MiB with 2 MiB pages.
  for (let i = 0; i < 8; i++) b.map(PAGE_OFFSET + BigInt(i) * 0x200000n, i * 0x200000, '2M');
  // mem_section: roots array (in the direct map) at PA 0x380000, one root → section array at 0x381000.
  const rootsPa = 0x380000;
  const secPa = 0x381000;
  mem.writeU64(rootsPa, PAGE_OFFSET + BigInt(secPa));
  // vmemmap: struct pages of section s at VMEMMAP + s*PAGES_PER_SECTION*64; back them with frames from 0x400000.
  let backing = 0x400000;
  for (const s of presentSections) {
    const va = VMEMMAP + BigInt(s * PAGES_PER_SECTION * PAGE_STRUCT);
    const bytes = PAGES_PER_SECTION * PAGE_STRUCT;
    for (let off = 0; off < bytes; off += 4096) {
      const vaPage = (va + BigInt(off)) & ~0xfffn;
      b.map(vaPage, backing);
      backing += 4096;
    }
    // section_mem_map = coded (vmemmap base) | present | has_mem_map
    mem.writeU64(secPa + s * 32, VMEMMAP | 3n);
  }
  const vmcoreinfo = [
    'OSRELEASE=6.1.0-test',
    'PAGESIZE=4096',
    `SYMBOL(swapper_pg_dir)=${topPgtVa.toString(16)}`,
    `SYMBOL(_stext)=${imageVa.toString(16)}`,
    `SYMBOL(mem_section)=${(PAGE_OFFSET + BigInt(rootsPa)).toString(16)}`,
    'LENGTH(mem_section)=4096',
    'SIZE(mem_section)=32',
    'OFFSET(mem_section.section_mem_map)=0',
    `NUMBER(SECTION_SIZE_BITS)=${SECTION_SIZE_BITS}`,
    'NUMBER(MAX_PHYSMEM_BITS)=46',
    'SIZE(page)=64',
    'OFFSET(page.flags)=0',
    'OFFSET(page._refcount)=52',
    'OFFSET(page.mapping)=24',
    'OFFSET(page.lru)=8',
    'OFFSET(page._mapcount)=48',
    'OFFSET(page.private)=40',
    'OFFSET(page.compound_head)=8',
    'LENGTH(zone.free_area)=11',
    'NUMBER(PG_lru)=4',
    'NUMBER(PG_private)=13',
    'NUMBER(PG_swapcache)=10',
    'NUMBER(PG_swapbacked)=19',
    'NUMBER(PG_slab)=9',
    'NUMBER(PG_hwpoison)=23',
    'NUMBER(PG_head_mask)=65536',
    'NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129',
    'NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)=-257',
    `NUMBER(phys_base)=${physBase}`,
    `SYMBOL(init_top_pgt)=${topPgtVa.toString(16)}`,
    'NUMBER(pgtable_l5_enabled)=0',
    'KERNELOFFSET=0',
    'NUMBER(KERNEL_IMAGE_SIZE)=1073741824',
    'NUMBER(sme_mask)=0',
    '',
  ].join('\n');
  const pageVa = (pfn: number) => VMEMMAP + BigInt(pfn * PAGE_STRUCT);
  const pageGpa = (pfn: number) => {
    const idx = presentSections.indexOf(Math.floor(pfn / PAGES_PER_SECTION));
    if (idx < 0) throw new Error(`pfn ${pfn} has no struct page`);
    // One backing frame per section, assigned in presentSections order.
    return 0x400000 + idx * 4096 + (pfn % PAGES_PER_SECTION) * PAGE_STRUCT;
  };
  // Default every struct page: _mapcount -1, refcount 1.
  for (const s of presentSections) {
    for (let i = 0; i < PAGES_PER_SECTION; i++) {
      const g = pageGpa(s * PAGES_PER_SECTION + i);
      const x = Buffer.alloc(PAGE_STRUCT);
      x.writeInt32LE(-1, 48);
      x.writeUInt32LE(1, 52);
      mem.write(g, x);
    }
  }
  return {
    mem,
    vmcoreinfo,
    pageVa,
    setPage(pfn, f) {
      const g = pageGpa(pfn);
      const x = mem.read(g, PAGE_STRUCT);
      if (f.flags !== undefined) x.writeBigUInt64LE(BigInt(f.flags), 0);
      if (f.compoundHead !== undefined) x.writeBigUInt64LE(f.compoundHead, 8);
      if (f.mapping !== undefined) x.writeBigUInt64LE(f.mapping, 24);
      if (f.priv !== undefined) x.writeBigUInt64LE(BigInt(f.priv), 40);
      if (f.mapcount !== undefined) x.writeInt32LE(f.mapcount | 0, 48);
      if (f.refcount !== undefined) x.writeUInt32LE(f.refcount, 52);
      mem.write(g, x);
    },
  };
}
