/**
 * A page type for every PFN from the kernel's `struct page` array, following makedumpfile's decisions
 * (__exclude_unnecessary_pages, page_is_buddy_v3, isAnon, isSlab, isOffline) with the layout and flag
 * numbers from VMCOREINFO. Pointer-sized fields (flags, compound_head, mapping, private) are the
 * kernel's width: 8 bytes on x86-64, 4 on i386.
 *
 * PFN → struct page, by the memory model VMCOREINFO describes:
 * - SPARSEMEM (SYMBOL(mem_section); x86-64 uses SPARSEMEM_EXTREME + VMEMMAP): section =
 *   pfn >> (SECTION_SIZE_BITS − 12); root = mem_section[section / SECTIONS_PER_ROOT]
 *   (SYMBOL(mem_section) is the roots array); section_mem_map & ~SECTION_MAP_MASK is the encoded
 *   mem_map (mem_map − section_start_pfn, i.e. vmemmap_base under VMEMMAP), bit 0 = present.
 *   struct page VA = coded + pfn·SIZE(page).
 * - FLATMEM (SYMBOL(mem_map), no mem_section; Debian's i386 686 and 686-pae kernels): one array,
 *   struct page VA = *mem_map + pfn·SIZE(page) (ARCH_PFN_OFFSET is 0 on x86), bounded by
 *   contig_page_data.node_start_pfn + node_spanned_pages when VMCOREINFO gives their offsets
 *   (makedumpfile get_mm_flatmem).
 * Either way the array is read in chunks through the kernel page table, one page at a time; an
 * unreadable page of it leaves its PFNs unreadable (typed hole).
 *
 * page_type (the u32 overlaying _mapcount) in 6.1 is an inverted-bit scheme: PageX ⇔
 * (page_type & (0xf0000000 | X)) == 0xf0000000, with X = ~PAGE_BUDDY_MAPCOUNT_VALUE (buddy, 0x80),
 * ~PAGE_OFFLINE_MAPCOUNT_VALUE (offline, 0x100), and, not exported, table = offline << 1 (0x200) and
 * guard = offline << 2 (0x400) (include/linux/page-flags.h, 5.x–6.8).
 */
import { PAGE_SIZE, PhysicalMemory } from '../../mem/physical-memory.js';
import { IntrospectionError, IntrospectionErrorCode } from '../../util/errors.js';
import { PageMap, PageTypeCode } from '../pagemap.js';
import type { LinuxKernel } from './kernel.js';
import { need, vmLength, vmNumber, vmOffset, vmSize, vmSymbol } from './vmcoreinfo.js';

const T = PageTypeCode;
/** Inferred from the 6.1 enum pageflags order (include/linux/page-flags.h): not in VMCOREINFO. */
const PG_RESERVED_DEFAULT = 12;
/** mem_section flag bits below the encoded map (makedumpfile SECTION_MAP_MASK). */
const SECTION_MARKED_PRESENT = 1;

export interface StructPageLayout {
  size: number;
  flags: number;
  refcount: number;
  mapping: number;
  mapcount: number;
  private: number;
  compoundHead: number;
  pgLru: number;
  pgSlab: number;
  pgSwapbacked: number;
  pgHwpoison: number;
  pgReserved: number;
  /** page_type bits (inverted scheme) */
  typeBuddy: number;
  typeOffline: number;
  typeTable: number;
  typeGuard: number;
  maxOrder: number;
}

export function structPageLayout(k: LinuxKernel): StructPageLayout {
  const v = k.vmcoreinfo;
  const buddyValue = need(vmNumber(v, 'PAGE_BUDDY_MAPCOUNT_VALUE'), 'NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)');
  const offlineValue = vmNumber(v, 'PAGE_OFFLINE_MAPCOUNT_VALUE');
  const buddyBit = ~buddyValue >>> 0;
  const single = (b: number) => b !== 0 && (b & (b - 1)) === 0 && b < 0x1000000;
  if (!single(buddyBit)) {
    throw new IntrospectionError(IntrospectionErrorCode.UNSUPPORTED,
      `page-type scheme not understood: NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=${buddyValue} is not an inverted single bit (kernels up to 6.8 are handled)`, { buddyValue });
  }
  const offlineBit = offlineValue !== undefined && single(~offlineValue >>> 0) ? ~offlineValue >>> 0 : buddyBit << 1;
  const layout: StructPageLayout = {
    size: need(vmSize(v, 'page'), 'SIZE(page)'),
    flags: need(vmOffset(v, 'page.flags'), 'OFFSET(page.flags)'),
    refcount: need(vmOffset(v, 'page._refcount'), 'OFFSET(page._refcount)'),
    mapping: need(vmOffset(v, 'page.mapping'), 'OFFSET(page.mapping)'),
    mapcount: need(vmOffset(v, 'page._mapcount'), 'OFFSET(page._mapcount)'),
    private: need(vmOffset(v, 'page.private'), 'OFFSET(page.private)'),
    compoundHead: vmOffset(v, 'page.compound_head') ?? need(vmOffset(v, 'page.lru'), 'OFFSET(page.lru)'),
    pgLru: need(vmNumber(v, 'PG_lru'), 'NUMBER(PG_lru)'),
    pgSlab: need(vmNumber(v, 'PG_slab'), 'NUMBER(PG_slab)'),
    pgSwapbacked: need(vmNumber(v, 'PG_swapbacked'), 'NUMBER(PG_swapbacked)'),
    pgHwpoison: vmNumber(v, 'PG_hwpoison') ?? -1,
    pgReserved: vmNumber(v, 'PG_reserved') ?? PG_RESERVED_DEFAULT,
    typeBuddy: buddyBit,
    typeOffline: offlineBit,
    typeTable: offlineBit << 1,
    typeGuard: offlineBit << 2,
    maxOrder: (vmLength(v, 'zone.free_area') ?? 11) - 1,
  };
  if (layout.size < 24 || layout.size > 256 || layout.size % k.ptrSize !== 0) {
    throw new IntrospectionError(IntrospectionErrorCode.UNSUPPORTED, `SIZE(page)=${layout.size} is implausible`);
  }
  for (const [name, bit] of Object.entries({ PG_lru: layout.pgLru, PG_slab: layout.pgSlab, PG_swapbacked: layout.pgSwapbacked, PG_hwpoison: layout.pgHwpoison })) {
    if (bit >= 32) throw new IntrospectionError(IntrospectionErrorCode.UNSUPPORTED, `NUMBER(${name})=${bit}: flag bits above 31 are not handled`);
  }
  return layout;
}

export type MemoryModel = 'sparsemem' | 'flatmem';

export interface StructPageStats {
  memoryModel: MemoryModel;
  /** SPARSEMEM: sections spanned and those with a struct page array. FLATMEM: chunks of CHUNK_PFNS. */
  sections: number;
  presentSections: number;
  structPages: number;
  /**
   * Virtual address of PFN 0's struct page: vmemmap_base under SPARSEMEM_VMEMMAP (the first present
   * section's encoded map), mem_map under FLATMEM. Pointers to struct pages decode against it.
   */
  vmemmapBase: bigint;
  /** Pages whose struct page could not be read (array unmapped or absent): typed hole. */
  unreadable: number;
  /** `other` pages with _refcount 0 (per-cpu free lists, pages in transit): free candidates. */
  unreferenced: number;
}

export interface StructPageOptions {
  /** PFNs [start, end) of the kernel image (text/data/bss): typed kernel when nothing else. */
  kernelImage?: [number, number];
  /** Per-cpu free pages (from the pcp lists): typed free. */
  pcpFree?: Iterable<number>;
}

/** FLATMEM: PFNs classified per chunk (the struct pages of one chunk are read into one buffer). */
const CHUNK_PFNS = 4096;

/** A run of PFNs whose struct pages are contiguous in kernel virtual memory. */
interface Chunk {
  pfn0: number;
  count: number;
  /** VA of pfn0's struct page. */
  va0: bigint;
  /** VA of PFN 0's struct page as this chunk encodes it (compound_head pointers decode against it). */
  base: bigint;
}

/** SPARSEMEM: a chunk per present section (SECTION_SIZE_BITS pages). */
function* sparseChunks(k: LinuxKernel, L: StructPageLayout, pfnCount: number, stats: StructPageStats): Generator<Chunk> {
  const v = k.vmcoreinfo;
  const ps = k.ptrSize;
  const sectionBits = need(vmNumber(v, 'SECTION_SIZE_BITS'), 'NUMBER(SECTION_SIZE_BITS)') - 12;
  if (sectionBits < 4 || sectionBits > 30) throw new IntrospectionError(IntrospectionErrorCode.UNSUPPORTED, `NUMBER(SECTION_SIZE_BITS)=${sectionBits + 12} is implausible`);
  const perSection = 2 ** sectionBits;
  const msRoot = need(vmSymbol(v, 'mem_section'), 'SYMBOL(mem_section)');
  const msSize = need(vmSize(v, 'mem_section'), 'SIZE(mem_section)');
  const msMapOff = vmOffset(v, 'mem_section.section_mem_map') ?? 0;
  const nRoots = vmLength(v, 'mem_section') ?? 0;
  if (msSize < ps || msSize > PAGE_SIZE) throw new IntrospectionError(IntrospectionErrorCode.UNSUPPORTED, `SIZE(mem_section)=${msSize} is implausible`);
  if (msMapOff + ps > msSize) throw new IntrospectionError(IntrospectionErrorCode.UNSUPPORTED, `OFFSET(mem_section.section_mem_map)=${msMapOff} does not fit in SIZE(mem_section)=${msSize}`);
  const perRoot = Math.floor(PAGE_SIZE / msSize);
  const sections = Math.ceil(pfnCount / perSection);
  stats.sections = sections;
  const rootsLen = Math.min(nRoots || sections, Math.ceil(sections / perRoot));
  const roots = k.read(msRoot, rootsLen * ps, 'mem_section roots');
  const mask = ps === 8 ? 0xffffffffffffffe0n : 0xffffffe0n;
  let sectionCache: Buffer | undefined;
  let sectionCacheRoot = -1;
  for (let sec = 0; sec < sections; sec++) {
    const r = Math.floor(sec / perRoot);
    if (r >= rootsLen) break;
    const root = k.ptrAt(roots, r);
    if (root === 0n) continue;
    if (r !== sectionCacheRoot) {
      sectionCacheRoot = r;
      sectionCache = undefined;
      try {
        sectionCache = k.read(root, perRoot * msSize, 'mem_section array');
      } catch (e) {
        // A root the page table does not map holds no section we can use: its PFNs stay holes.
        if (!(e instanceof IntrospectionError)) throw e;
      }
    }
    if (!sectionCache) continue;
    const off = (sec % perRoot) * msSize + msMapOff;
    const map = ps === 8 ? sectionCache.readBigUInt64LE(off) : BigInt(sectionCache.readUInt32LE(off));
    if ((Number(map & 0xffn) & SECTION_MARKED_PRESENT) === 0) continue;
    const coded = map & mask;
    if (coded === 0n) continue;
    stats.presentSections++;
    if (stats.vmemmapBase === 0n) stats.vmemmapBase = coded;
    const pfn0 = sec * perSection;
    yield { pfn0, count: Math.min(perSection, pfnCount - pfn0), va0: BigInt.asUintN(ps * 8, coded + BigInt(pfn0) * BigInt(L.size)), base: coded };
  }
}

/** FLATMEM: one array from *mem_map, in chunks of CHUNK_PFNS. */
function* flatChunks(k: LinuxKernel, L: StructPageLayout, pfnCount: number, stats: StructPageStats): Generator<Chunk> {
  const v = k.vmcoreinfo;
  const memMap = k.readPtr(need(vmSymbol(v, 'mem_map'), 'SYMBOL(mem_map)'), 'mem_map');
  if (memMap === 0n) throw new IntrospectionError(IntrospectionErrorCode.INCONSISTENT, 'mem_map is NULL');
  let first = 0;
  let end = pfnCount;
  const pgdat = vmSymbol(v, 'contig_page_data');
  const startOff = vmOffset(v, 'pglist_data.node_start_pfn');
  const spannedOff = vmOffset(v, 'pglist_data.node_spanned_pages');
  if (pgdat !== undefined && startOff !== undefined && spannedOff !== undefined) {
    const start = Number(k.readPtr(pgdat + BigInt(startOff), 'contig_page_data.node_start_pfn'));
    const spanned = Number(k.readPtr(pgdat + BigInt(spannedOff), 'contig_page_data.node_spanned_pages'));
    if (start + spanned > 0 && start < pfnCount) {
      first = start;
      end = Math.min(pfnCount, start + spanned);
    }
  }
  stats.vmemmapBase = memMap;
  stats.sections = Math.ceil((end - first) / CHUNK_PFNS);
  for (let pfn0 = first; pfn0 < end; pfn0 += CHUNK_PFNS) {
    stats.presentSections++;
    yield { pfn0, count: Math.min(CHUNK_PFNS, end - pfn0), va0: BigInt.asUintN(k.ptrSize * 8, memMap + BigInt(pfn0) * BigInt(L.size)), base: memMap };
  }
}

/** The memory model VMCOREINFO describes: SPARSEMEM when it names mem_section, else FLATMEM when it names mem_map. */
export function memoryModel(k: LinuxKernel): MemoryModel {
  const v = k.vmcoreinfo;
  if (vmSymbol(v, 'mem_section') !== undefined) return 'sparsemem';
  if (vmSymbol(v, 'mem_map') !== undefined) return 'flatmem';
  throw new IntrospectionError(IntrospectionErrorCode.MISSING, 'VMCOREINFO has neither SYMBOL(mem_section) (SPARSEMEM) nor SYMBOL(mem_map) (FLATMEM): no way to find struct page', { key: 'SYMBOL(mem_section)' });
}

/**
 * Classify every PFN in [0, pfnCount) into `types`. PFNs the image does not hold and PFNs without a
 * struct page are hole; `other` pages are left for the caller's zero-content check.
 */
export function classifyStructPages(k: LinuxKernel, mem: PhysicalMemory, pfnCount: number, opts: StructPageOptions = {}): { map: PageMap; stats: StructPageStats } {
  const L = structPageLayout(k);
  const model = memoryModel(k);
  const types = new Uint8Array(pfnCount).fill(T.hole);
  const present = new Uint8Array(pfnCount);
  for (const r of mem.runs) present.fill(1, Math.min(pfnCount, r.gpa / PAGE_SIZE), Math.min(pfnCount, (r.gpa + r.length) / PAGE_SIZE));
  const stats: StructPageStats = { memoryModel: model, sections: 0, presentSections: 0, structPages: 0, vmemmapBase: 0n, unreadable: 0, unreferenced: 0 };

  const ptr64 = k.ptrSize === 8;
  const w = k.walker;
  const [kStart, kEnd] = opts.kernelImage ?? [0, 0];
  const f = L.flags / 4;
  const rc = L.refcount / 4;
  const mp = L.mapping / 4;
  const mc = L.mapcount / 4;
  const pv = L.private / 4;
  const ch = L.compoundHead / 4;
  const lruM = 1 << L.pgLru;
  const slabM = 1 << L.pgSlab;
  const sbM = 1 << L.pgSwapbacked;
  const hwM = L.pgHwpoison >= 0 ? 1 << L.pgHwpoison : 0;
  const resM = 1 << L.pgReserved;
  const BASE = 0xf0000000;
  let freeUntil = 0;

  // One buffer for the largest chunk: its struct pages plus the offset of the first within its page.
  let buf = Buffer.alloc(0);
  let u32 = new Uint32Array(0);
  let ok = new Uint8Array(0);
  const chunks = model === 'sparsemem' ? sparseChunks(k, L, pfnCount, stats) : flatChunks(k, L, pfnCount, stats);
  for (const c of chunks) {
    const headOff = Number(c.va0 & 0xfffn);
    const bytes = headOff + c.count * L.size;
    const nvp = Math.ceil(bytes / PAGE_SIZE);
    if (buf.length < nvp * PAGE_SIZE) {
      buf = Buffer.alloc(nvp * PAGE_SIZE);
      u32 = new Uint32Array(buf.buffer, buf.byteOffset, buf.length / 4);
      ok = new Uint8Array(nvp);
    }
    const vpn0 = k.vpn(c.va0);
    for (let i = 0; i < nvp; i++) {
      const vpn = vpn0 + i;
      const pfn = w.translateVpn(vpn);
      if (pfn < 0) {
        // Unmapped, and so is the rest of the aligned region the failing entry covers: skip it.
        const end = Math.min(nvp, vpn - (vpn % w.lastSkipPages) + w.lastSkipPages - vpn0);
        ok.fill(0, i, end);
        i = end - 1;
        continue;
      }
      ok[i] = mem.readPage(pfn, buf, i * PAGE_SIZE) ? 1 : 0;
    }
    const baseHi = ptr64 ? Number(c.base >> 32n) : 0;
    const baseLo = Number(c.base & 0xffffffffn);
    for (let i = 0; i < c.count; i++) {
      const pfn = c.pfn0 + i;
      const at = headOff + i * L.size;
      // A struct page straddling two array pages needs both.
      if (ok[Math.floor(at / PAGE_SIZE)] === 0 || ok[Math.floor((at + L.size - 1) / PAGE_SIZE)] === 0) {
        stats.unreadable++;
        continue;
      }
      stats.structPages++;
      if (present[pfn] === 0) continue; // hole: the image does not hold it
      if (pfn < freeUntil) {
        types[pfn] = T.free;
        continue;
      }
      const o = at / 4;
      const flags = u32[o + f];
      const pt = u32[o + mc];
      // Compound tail: follows its head (compound_head = head | 1).
      const chLo = u32[o + ch];
      if (chLo & 1) {
        const d = ptr64 ? (u32[o + ch + 1] - baseHi) * 0x100000000 + (chLo - 1 - baseLo) : chLo - 1 - baseLo;
        const head = d >= 0 && d % L.size === 0 ? d / L.size : -1;
        if (head >= 0 && head < pfn && pfn - head < 1 << 20) {
          types[pfn] = types[head];
          continue;
        }
      }
      let t: number;
      if ((pt & (BASE | L.typeBuddy)) >>> 0 === BASE) {
        const order = u32[o + pv];
        t = T.free;
        if (order > 0 && order <= L.maxOrder && (!ptr64 || u32[o + pv + 1] === 0)) freeUntil = pfn + 2 ** order;
      } else if ((pt & (BASE | L.typeOffline)) >>> 0 === BASE) t = T.offline;
      else if ((pt & (BASE | L.typeTable)) >>> 0 === BASE) t = T.pagetable;
      else if ((pt & (BASE | L.typeGuard)) >>> 0 === BASE) t = T.free;
      else if (flags & hwM) t = T.hwpoison;
      else if (flags & slabM) t = T.slab;
      else if ((u32[o + mp] & 1) !== 0) t = T.anon;
      else if (flags & lruM) t = flags & sbM ? T.shmem : T.cache;
      else if (flags & resM || (pfn >= kStart && pfn < kEnd)) t = T.kernel;
      else {
        t = T.other;
        if (u32[o + rc] === 0) stats.unreferenced++;
      }
      types[pfn] = t;
    }
  }
  if (stats.presentSections === 0) {
    throw new IntrospectionError(IntrospectionErrorCode.INCONSISTENT,
      model === 'sparsemem' ? 'mem_section lists no present section with a struct page array for this memory' : 'mem_map covers none of this memory');
  }
  if (opts.pcpFree) for (const p of opts.pcpFree) if (p >= 0 && p < pfnCount && types[p] === T.other) types[p] = T.free;
  return { map: new PageMap(types), stats };
}
