/**
 * A tiny synthetic Linux i386 guest in a FakeMemory, shaped like Debian 12's 686 / 686-pae kernels:
 * PAGE_OFFSET direct map (the kernel image inside it, so swapper_pg_dir's PA is va − PAGE_OFFSET),
 * non-PAE or PAE paging, FLATMEM (SYMBOL(mem_map) → one struct page array, deliberately not
 * page-aligned), 4-byte pointers and a 36-byte struct page (flags, lru/compound_head, mapping, index,
 * private, _mapcount, _refcount, memcg_data).
 */
import { PagingMode, X86_NONPAE, X86_PAE } from '../../src/introspect/x86/paging.js';
import { FakeMemory } from './fake-memory.js';
import { ModePageTableBuilder } from './page-table-builder.js';

export const I386_PAGE_STRUCT = 36;
const OFF = { flags: 0, compoundHead: 4, mapping: 12, priv: 20, mapcount: 24, refcount: 28 };

export interface I386Fixture {
  mem: FakeMemory;
  mode: PagingMode;
  pageOffset: number;
  vmcoreinfo: string;
  rootPa: number;
  /** VA of pfn's struct page. */
  pageVa(pfn: number): number;
  setPage(pfn: number, f: { flags?: number; mapping?: number; mapcount?: number; priv?: number; refcount?: number; compoundHead?: number }): void;
}

/**
 * RAM PFNs [0, ramPages) (ramPages ≤ 4096); the kernel's structures sit from 1 MiB (PFN 0x100) up,
 * inside RAM so the direct map covers them; mem_map covers [0, spanned) PFNs.
 */
export function linuxI386Fixture(o: { pae: boolean; ramPages: number; pageOffset?: number; spanned?: number }): I386Fixture {
  const mem = new FakeMemory();
  mem.addRange(0, o.ramPages);
  const mode = o.pae ? X86_PAE : X86_NONPAE;
  const po = o.pageOffset ?? 0xc0000000;
  const rootPa = 0x200000;
  const b = new ModePageTableBuilder(mem, mode, { nextPfn: 0x201, rootPa });
  // Direct map of the low 16 MiB with large pages (4 MiB non-PAE, 2 MiB PAE), as the kernel maps lowmem.
  const large = o.pae ? 0x200000 : 0x400000;
  for (let pa = 0; pa < 16 << 20; pa += large) b.map(BigInt(po + pa), pa, o.pae ? '2M' : '4M');
  const memMapVarPa = 0x300000;
  const pgdatPa = 0x310000;
  const memMapPa = 0x400040; // cache-line aligned, not page-aligned (memblock_alloc)
  const spanned = o.spanned ?? o.ramPages;
  const u32 = (gpa: number, v: number) => {
    const x = Buffer.alloc(4);
    x.writeUInt32LE(v >>> 0);
    mem.write(gpa, x);
  };
  const pageGpa = (pfn: number) => memMapPa + pfn * I386_PAGE_STRUCT;
  u32(memMapVarPa, po + memMapPa);
  u32(pgdatPa + 0x100, 0); // node_start_pfn
  u32(pgdatPa + 0x104, spanned); // node_spanned_pages
  for (let pfn = 0; pfn < spanned; pfn++) {
    const x = Buffer.alloc(I386_PAGE_STRUCT);
    x.writeInt32LE(-1, OFF.mapcount);
    x.writeUInt32LE(1, OFF.refcount);
    mem.write(pageGpa(pfn), x);
  }
  const h = (n: number) => n.toString(16);
  const vmcoreinfo = [
    'OSRELEASE=6.1.0-test-686' + (o.pae ? '-pae' : ''),
    'PAGESIZE=4096',
    `SYMBOL(swapper_pg_dir)=${h(po + rootPa)}`,
    `SYMBOL(_stext)=${h(po + 0x1000000)}`,
    `SYMBOL(mem_map)=${h(po + memMapVarPa)}`,
    `SYMBOL(contig_page_data)=${h(po + pgdatPa)}`,
    `SIZE(page)=${I386_PAGE_STRUCT}`,
    'SIZE(pglist_data)=2048',
    'OFFSET(page.flags)=0',
    'OFFSET(page._refcount)=28',
    'OFFSET(page.mapping)=12',
    'OFFSET(page.lru)=4',
    'OFFSET(page._mapcount)=24',
    'OFFSET(page.private)=20',
    'OFFSET(page.compound_head)=4',
    'OFFSET(pglist_data.node_start_pfn)=256',
    'OFFSET(pglist_data.node_spanned_pages)=260',
    'LENGTH(zone.free_area)=11',
    'NUMBER(PG_lru)=4',
    'NUMBER(PG_slab)=9',
    'NUMBER(PG_swapbacked)=19',
    'NUMBER(PG_hwpoison)=23',
    'NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129',
    'NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)=-257',
    ...(o.pae ? ['CONFIG_X86_PAE=y'] : []),
    '',
  ].join('\n');
  return {
    mem,
    mode,
    pageOffset: po,
    vmcoreinfo,
    rootPa,
    pageVa: (pfn) => po + pageGpa(pfn),
    setPage(pfn, f) {
      const g = pageGpa(pfn);
      const x = mem.read(g, I386_PAGE_STRUCT);
      if (f.flags !== undefined) x.writeUInt32LE(f.flags >>> 0, OFF.flags);
      if (f.compoundHead !== undefined) x.writeUInt32LE(f.compoundHead >>> 0, OFF.compoundHead);
      if (f.mapping !== undefined) x.writeUInt32LE(f.mapping >>> 0, OFF.mapping);
      if (f.priv !== undefined) x.writeUInt32LE(f.priv >>> 0, OFF.priv);
      if (f.mapcount !== undefined) x.writeInt32LE(f.mapcount | 0, OFF.mapcount);
      if (f.refcount !== undefined) x.writeUInt32LE(f.refcount >>> 0, OFF.refcount);
      mem.write(g, x);
    },
  };
}
