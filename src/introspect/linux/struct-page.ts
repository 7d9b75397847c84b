/**
 * A page type for every PFN from the kernel's `struct page` array (SPARSEMEM_EXTREME + VMEMMAP, the
 * x86-64 configuration), following makedumpfile's decisions (__exclude_unnecessary_pages,
 * page_is_buddy_v3, isAnon, isSlab, isOffline) with the layout and flag numbers from VMCOREINFO.
 *
 * PFN → struct page: section = pfn >> (SECTION_SIZE_BITS − 12); root = mem_section[section /
 * SECTIONS_PER_ROOT] (SYMBOL(mem_section) is the roots array); section_mem_map & ~SECTION_MAP_MASK
 * is the encoded mem_map (mem_map − section_start_pfn, i.e. vmemmap_base under VMEMMAP), bit 0 =
 * present. struct page VA = coded + pfn·SIZE(page), translated through the kernel page table and
 * read one vmemmap page at a time into a section buffer.
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
  if (layout.size < 32 || layout.size > 256 || layout.size % 8 !== 0) {
    throw new IntrospectionError(IntrospectionErrorCode.UNSUPPORTED, `SIZE(page)=${layout.size} is implausible`);
  }
  for (const [name, bit] of Object.entries({ PG_lru: layout.pgLru, PG_slab: layout.pgSlab, PG_swapbacked: layout.pgSwapbacked, PG_hwpoison: layout.pgHwpoison })) {
    if (bit >= 32) throw new IntrospectionError(IntrospectionErrorCode.UNSUPPORTED, `NUMBER(${name})=${bit}: flag bits above 31 are not handled`);
  }
  return layout;
}

export interface StructPageStats {
  sections: number;
  presentSections: number;
  structPages: number;
  vmemmapBase: bigint;
  /** Pages whose struct page could not be read (vmemmap unmapped or absent): typed hole. */
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

/**
 * Classify every PFN in [0, pfnCount) into `types`. PFNs the image does not hold and PFNs without a
 * struct page are hole; `other` pages are left for the caller's zero-content check.
 */
export function classifyStructPages(k: LinuxKernel, mem: PhysicalMemory, pfnCount: number, opts: StructPageOptions = {}): { map: PageMap; stats: StructPageStats } {
  const v = k.vmcoreinfo;
  const L = structPageLayout(k);
  const sectionBits = need(vmNumber(v, 'SECTION_SIZE_BITS'), 'NUMBER(SECTION_SIZE_BITS)') - 12;
  if (sectionBits < 4 || sectionBits > 30) throw new IntrospectionError(IntrospectionErrorCode.UNSUPPORTED, `NUMBER(SECTION_SIZE_BITS)=${sectionBits + 12} is implausible`);
  const perSection = 2 ** sectionBits;
  const msRoot = need(vmSymbol(v, 'mem_section'), 'SYMBOL(mem_section)');
  const msSize = need(vmSize(v, 'mem_section'), 'SIZE(mem_section)');
  const msMapOff = vmOffset(v, 'mem_section.section_mem_map') ?? 0;
  const nRoots = vmLength(v, 'mem_section') ?? 0;
  if (msSize < 8 || msSize > PAGE_SIZE) throw new IntrospectionError(IntrospectionErrorCode.UNSUPPORTED, `SIZE(mem_section)=${msSize} is implausible`);
  const perRoot = Math.floor(PAGE_SIZE / msSize);

  const types = new Uint8Array(pfnCount).fill(T.hole);
  const present = new Uint8Array(pfnCount);
  for (const r of mem.runs) present.fill(1, Math.min(pfnCount, r.gpa / PAGE_SIZE), Math.min(pfnCount, (r.gpa + r.length) / PAGE_SIZE));
  const sections = Math.ceil(pfnCount / perSection);
  const stats: StructPageStats = { sections, presentSections: 0, structPages: 0, vmemmapBase: 0n, unreadable: 0, unreferenced: 0 };
  const rootsLen = Math.min(nRoots || sections, Math.ceil(sections / perRoot));
  const roots = k.read(msRoot, rootsLen * 8, 'mem_section roots');

  const secBytes = perSection * L.size;
  const buf = Buffer.alloc(secBytes);
  const u32 = new Uint32Array(buf.buffer, buf.byteOffset, secBytes / 4);
  const ok = new Uint8Array(Math.ceil(secBytes / PAGE_SIZE));
  const w = k.walker;
  const [kStart, kEnd] = opts.kernelImage ?? [0, 0];
  const f = L.flags / 4;
  const rc = L.refcount / 4;
  const mp = L.mapping / 4;
  const mc = L.mapcount / 4;
  const pv = L.private / 4;
  const ch = L.compoundHead / 4;
  const words = L.size / 4;
  const lruM = 1 << L.pgLru;
  const slabM = 1 << L.pgSlab;
  const sbM = 1 << L.pgSwapbacked;
  const hwM = L.pgHwpoison >= 0 ? 1 << L.pgHwpoison : 0;
  const resM = 1 << L.pgReserved;
  const BASE = 0xf0000000;
  let freeUntil = 0;

  let sectionCache: Buffer | undefined;
  let sectionCacheRoot = -1;
  for (let sec = 0; sec < sections; sec++) {
    const r = Math.floor(sec / perRoot);
    if (r >= rootsLen) break;
    const root = roots.readBigUInt64LE(r * 8);
    if (root === 0n) continue;
    if (r !== sectionCacheRoot) {
      try {
        sectionCache = k.read(root, perRoot * msSize, 'mem_section array');
      } catch {
        sectionCache = undefined;
      }
      sectionCacheRoot = r;
    }
    if (!sectionCache) continue;
    const map = sectionCache.readBigUInt64LE((sec % perRoot) * msSize + msMapOff);
    if ((Number(map & 0xffn) & SECTION_MARKED_PRESENT) === 0) continue;
    const coded = map & ~0x1fn & 0xffffffffffffffffn;
    if (coded === 0n) continue;
    const codedHi = Number(coded >> 32n);
    const codedLo = Number(coded & 0xffffffffn);
    stats.presentSections++;
    if (stats.vmemmapBase === 0n) stats.vmemmapBase = coded;
    const pfn0 = sec * perSection;
    const count = Math.min(perSection, pfnCount - pfn0);
    // Read this section's struct pages, one vmemmap page at a time.
    const va0 = BigInt.asUintN(64, coded + BigInt(pfn0) * BigInt(L.size));
    if ((va0 & 0xfffn) !== 0n) throw new IntrospectionError(IntrospectionErrorCode.INCONSISTENT, `struct page array of section ${sec} is not page-aligned (0x${va0.toString(16)})`);
    const vpn0 = k.vpn(va0);
    const nvp = Math.ceil((count * L.size) / PAGE_SIZE);
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
    for (let i = 0; i < count; i++) {
      const pfn = pfn0 + i;
      if (ok[Math.floor((i * L.size) / PAGE_SIZE)] === 0) {
        stats.unreadable++;
        continue;
      }
      stats.structPages++;
      if (present[pfn] === 0) continue; // hole: the image does not hold it
      if (pfn < freeUntil) {
        types[pfn] = T.free;
        continue;
      }
      const o = i * words;
      const flags = u32[o + f];
      const pt = u32[o + mc];
      // Compound tail: follows its head (compound_head = head | 1).
      const chLo = u32[o + ch];
      if (chLo & 1) {
        const d = (u32[o + ch + 1] - codedHi) * 0x100000000 + (chLo - 1 - codedLo);
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
        if (order > 0 && order <= L.maxOrder && u32[o + pv + 1] === 0) freeUntil = pfn + 2 ** order;
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
    throw new IntrospectionError(IntrospectionErrorCode.INCONSISTENT, 'mem_section lists no present section with a struct page array for this memory');
  }
  if (opts.pcpFree) for (const p of opts.pcpFree) if (p >= 0 && p < pfnCount && types[p] === T.other) types[p] = T.free;
  return { map: new PageMap(types), stats };
}
