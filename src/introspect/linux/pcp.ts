/**
 * Per-cpu free pages: pages on the zones' per-cpu lists (struct per_cpu_pages) are free but not
 * PageBuddy. Reached as pglist_data (node_data[nid], or contig_page_data without NUMA) →
 * node_zones[z].per_cpu_pageset (a __percpu pointer) + __per_cpu_offset[cpu] → lists[pindex], linked
 * through struct page's pcp_list (6.1; lru before: the same union slot, OFFSET(page.lru)). List
 * index → order as in 6.1 mm/page_alloc.c pindex_to_order(): order = pindex / MIGRATE_PCPTYPES (3)
 * for the low-order lists, HPAGE_PMD_ORDER (9) for the THP lists after them. Every list walk is
 * capped (count of the pcp + slack) and every pointer checked.
 *
 * The layout comes from BTF when the kernel has it (x86-64). Without BTF (Debian's i386 kernels) it
 * is derived from the memory and checked, not assumed (pcpLayoutDerived). The per-cpu offsets come
 * from kallsyms (__per_cpu_offset, nr_cpu_ids); a kernel without data symbols in kallsyms
 * (CONFIG_KALLSYMS_ALL off, as Debian's i386 kernels) has them found by a scan of the direct map
 * (scanPerCpuOffsets).
 */
import { PAGE_SIZE } from '../../mem/physical-memory.js';
import { IntrospectionError, IntrospectionErrorCode } from '../../util/errors.js';
import type { PageMap } from '../pagemap.js';
import type { Btf } from './btf.js';
import type { Kallsyms } from './kallsyms.js';
import type { LinuxKernel } from './kernel.js';
import { NR_LOWORDER_PCP_LISTS, scanPerCpuOffsets } from './percpu-scan.js';
import { need, vmLength, vmOffset, vmSize, vmSymbol } from './vmcoreinfo.js';

/** Lists per order among the low-order ones (pindex / MIGRATE_PCPTYPES = order). */
const MIGRATE_PCPTYPES = 3;
/** THP lists on the pcp (6.1 NR_PCP_THP: movable and unmovable). */
const NR_PCP_THP = 2;
/** Bound on the zones of a node when pglist_data.nr_zones is not exported (MAX_NR_ZONES ≤ 6). */
const MAX_ZONES = 6;
const MAX_CPUS = 8192;
const MAX_NODES = 1024;

export interface PcpResult {
  /** [pfn, order] of every block on a per-cpu list. */
  blocks: [number, number][];
  pages: number;
  cpus: number;
  lists: number;
  /** Lists whose walk stopped at a bad pointer or the cap. */
  brokenLists: number;
  /** Where the layout and the per-cpu offsets came from. */
  layout: 'btf' | 'derived';
  cpuOffsets: 'kallsyms' | 'scan';
  /** Per-cpu pagesets whose count did not equal the pages found on their lists. */
  countMismatches: number;
}

/** Where the per-cpu lists are, in bytes. */
export interface PcpLayout {
  source: 'btf' | 'derived';
  /** zone.per_cpu_pageset */
  zonePcp: number;
  /** per_cpu_pages.count */
  count: number;
  /** per_cpu_pages.lists and its length */
  lists: number;
  nLists: number;
  /** The list link inside struct page (pcp_list / lru). */
  link: number;
  /** __per_cpu_offset[cpu] for every possible CPU, and where they came from. */
  cpuOffsets: bigint[];
  cpuOffsetsFrom: 'kallsyms' | 'scan';
}

interface ZoneRef {
  zone: bigint;
  pgdat: bigint;
}

/** Every zone of every node, up to the node's nr_zones. */
function zones(k: LinuxKernel): ZoneRef[] {
  const v = k.vmcoreinfo;
  const ps = k.ptrSize;
  const nodeZones = need(vmOffset(v, 'pglist_data.node_zones'), 'OFFSET(pglist_data.node_zones)');
  const zoneSize = need(vmSize(v, 'zone'), 'SIZE(zone)');
  const nrZonesOff = vmOffset(v, 'pglist_data.nr_zones');
  const pgdats: bigint[] = [];
  const nodeData = vmSymbol(v, 'node_data');
  if (nodeData !== undefined) {
    const n = Math.min(MAX_NODES, vmLength(v, 'node_data') ?? 1);
    const nodes = k.read(nodeData, n * ps, 'node_data');
    for (let i = 0; i < n; i++) {
      const p = k.ptrAt(nodes, i);
      if (p !== 0n) pgdats.push(p);
    }
  } else {
    pgdats.push(need(vmSymbol(v, 'contig_page_data'), 'SYMBOL(node_data) or SYMBOL(contig_page_data)'));
  }
  const out: ZoneRef[] = [];
  for (const pgdat of pgdats) {
    // nr_zones: one past the highest populated zone (mm/page_alloc.c); the zones above hold no pages.
    let nz = MAX_ZONES;
    if (nrZonesOff !== undefined) {
      const r = k.readU32(pgdat + BigInt(nrZonesOff), 'pglist_data.nr_zones');
      if (r >= 1 && r <= MAX_ZONES) nz = r;
    }
    for (let z = 0; z < nz; z++) out.push({ zone: pgdat + BigInt(nodeZones + z * zoneSize), pgdat });
  }
  return out;
}

/**
 * __per_cpu_offset[0 .. nr_cpu_ids) from kallsyms; undefined when kallsyms has no data symbols
 * (CONFIG_KALLSYMS_ALL off: `_end` is missing too) — then the caller scans for them.
 */
function perCpuOffsets(k: LinuxKernel, ks: Kallsyms): bigint[] | undefined {
  const offVa = ks.lookup('__per_cpu_offset');
  const nrVa = ks.lookup('nr_cpu_ids');
  if (offVa === undefined || nrVa === undefined) return undefined;
  const nrCpus = k.readU32(nrVa, 'nr_cpu_ids');
  if (nrCpus < 1 || nrCpus > MAX_CPUS) throw new IntrospectionError(IntrospectionErrorCode.INCONSISTENT, `nr_cpu_ids ${nrCpus} is implausible`);
  const offs = k.read(offVa, nrCpus * k.ptrSize, '__per_cpu_offset');
  return Array.from({ length: nrCpus }, (_, i) => k.ptrAt(offs, i));
}

/** Layout from BTF (Debian's x86-64 kernels carry it). */
export function pcpLayoutFromBtf(k: LinuxKernel, ks: Kallsyms, btf: Btf): PcpLayout {
  const lists = btf.need('per_cpu_pages', 'lists');
  const arr = btf.array(lists.type);
  if (!arr || arr.length < 1 || arr.length > 64) throw new IntrospectionError(IntrospectionErrorCode.UNSUPPORTED, 'BTF: per_cpu_pages.lists is not an array of list heads');
  const page = btf.struct('page');
  const link = (page !== undefined ? btf.member(page, 'pcp_list') ?? btf.member(page, 'lru') : undefined)?.offset;
  if (link === undefined) throw new IntrospectionError(IntrospectionErrorCode.MISSING, 'BTF has no page.pcp_list nor page.lru');
  const cpuOffsets = perCpuOffsets(k, ks);
  if (!cpuOffsets) throw new IntrospectionError(IntrospectionErrorCode.MISSING, 'kallsyms has no __per_cpu_offset / nr_cpu_ids', { symbol: '__per_cpu_offset' });
  return { source: 'btf', zonePcp: btf.need('zone', 'per_cpu_pageset').offset, count: btf.need('per_cpu_pages', 'count').offset, lists: lists.offset, nLists: arr.length, link, cpuOffsets, cpuOffsetsFrom: 'kallsyms' };
}

/**
 * Layout without BTF, from what the memory itself shows (6.x struct zone and struct per_cpu_pages,
 * include/linux/mmzone.h), each step checked:
 * - zone.per_cpu_pageset is the pointer after zone.zone_pgdat: the one offset in the head of struct
 *   zone where every zone holds its own node's pglist_data address;
 * - per_cpu_pages.lists is the first offset after the counters where NR_PCP_LISTS valid list heads
 *   follow on every CPU (next and prev each point at the head itself or at a struct page's list
 *   link), NR_PCP_LISTS = MIGRATE_PCPTYPES × (PAGE_ALLOC_COSTLY_ORDER + 1), plus the 2 THP lists
 *   when the kernel has THP (kallsyms transparent_hugepage_flags);
 * - per_cpu_pages.count follows the 4-byte spinlock (6.0+, no lock debugging): not proven here but by
 *   the walk, which counts the pagesets whose count differs from the pages on their lists
 *   (PcpResult.countMismatches); the caller does not use a derived layout with mismatches.
 * The list link is OFFSET(page.lru) (pcp_list shares its union slot).
 *
 * Without __per_cpu_offset in kallsyms (no data symbols), `directMapBase` (i386: PAGE_OFFSET) lets
 * scanPerCpuOffsets find the per-cpu pagesets in the direct map instead; the lists then sit where
 * 6.x puts them (after lock, count, high, batch, free_factor and expire: 20 bytes on i386, 24 on
 * x86-64) and NR_PCP_LISTS is the length of the runs found (14 with THP, 12 without).
 */
export function pcpLayoutDerived(k: LinuxKernel, ks: Kallsyms, memMapBase: bigint, map: PageMap, directMapBase?: bigint): PcpLayout {
  const v = k.vmcoreinfo;
  const ps = k.ptrSize;
  const pfnCount = map.pfns;
  const pageSize = BigInt(need(vmSize(v, 'page'), 'SIZE(page)'));
  const link = need(vmOffset(v, 'page.lru'), 'OFFSET(page.lru)');
  const zoneHead = Math.min(need(vmSize(v, 'zone'), 'SIZE(zone)'), vmOffset(v, 'zone.free_area') ?? 512, 512);
  const zs = zones(k);
  if (zs.length === 0) throw new IntrospectionError(IntrospectionErrorCode.INCONSISTENT, 'no zones');
  const heads = zs.map((z) => k.read(z.zone, zoneHead, 'zone'));
  let pgdatOff = -1;
  for (let off = 0; off + ps <= zoneHead; off += ps) {
    if (zs.every((z, i) => k.ptrAt(heads[i].subarray(off, off + ps), 0) === z.pgdat)) {
      pgdatOff = off;
      break;
    }
  }
  if (pgdatOff < 0) {
    throw new IntrospectionError(IntrospectionErrorCode.INCONSISTENT, `no offset in the first ${zoneHead} bytes of struct zone holds every zone's pglist_data: per_cpu_pageset cannot be found without BTF`);
  }
  const zonePcp = pgdatOff + ps;
  const pcpPtrs = zs.map((z) => k.readPtr(z.zone + BigInt(zonePcp), 'zone.per_cpu_pageset')).filter((p) => p !== 0n);
  if (pcpPtrs.length === 0) throw new IntrospectionError(IntrospectionErrorCode.INCONSISTENT, 'no zone has a per_cpu_pageset');
  const linkOk = (p: bigint, head: bigint): boolean => {
    if (p === head) return true;
    const d = p - BigInt(link) - memMapBase;
    return d >= 0n && d % pageSize === 0n && d / pageSize < BigInt(pfnCount);
  };

  const fromKallsyms = perCpuOffsets(k, ks);
  if (!fromKallsyms) {
    if (directMapBase === undefined) {
      throw new IntrospectionError(IntrospectionErrorCode.MISSING, 'kallsyms has no __per_cpu_offset (no data symbols) and the direct map is unknown: per-cpu pagesets cannot be found');
    }
    const found = scanPerCpuOffsets(k, map, pcpPtrs, memMapBase, link, directMapBase);
    if (found.starts.length === 0) {
      throw new IntrospectionError(IntrospectionErrorCode.INCONSISTENT, `no per-cpu pageset found in the direct map for the ${pcpPtrs.length} zone(s) (runs of ${NR_LOWORDER_PCP_LISTS} list heads at every zone's per_cpu_pageset + one offset)`);
    }
    const lists = ps === 8 ? 24 : 20;
    const nLists = found.minRun >= NR_LOWORDER_PCP_LISTS + NR_PCP_THP ? NR_LOWORDER_PCP_LISTS + NR_PCP_THP : NR_LOWORDER_PCP_LISTS;
    return { source: 'derived', zonePcp, count: 4, lists, nLists, link, cpuOffsets: found.starts.map((e) => BigInt.asUintN(ps * 8, e - BigInt(lists))), cpuOffsetsFrom: 'scan' };
  }

  // The head of every CPU's pageset of every zone (256 bytes hold the counters and the lists).
  const SPAN = 256;
  const sets: { va: bigint; b: Buffer }[] = [];
  for (const pcpPtr of pcpPtrs) {
    for (const off of fromKallsyms) {
      const va = BigInt.asUintN(ps * 8, pcpPtr + off);
      try {
        sets.push({ va, b: k.read(va, SPAN, 'per_cpu_pages') });
      } catch (e) {
        if (!(e instanceof IntrospectionError)) throw e; // CPU possible but its per-cpu area not mapped
      }
    }
  }
  if (sets.length === 0) throw new IntrospectionError(IntrospectionErrorCode.INCONSISTENT, 'no zone has a readable per_cpu_pageset');
  const headOk = (s: { va: bigint; b: Buffer }, off: number): boolean => {
    if (off + 2 * ps > s.b.length) return false;
    const head = s.va + BigInt(off);
    return linkOk(k.ptrAt(s.b.subarray(off, off + ps), 0), head) && linkOk(k.ptrAt(s.b.subarray(off + ps, off + 2 * ps), 0), head);
  };
  const thp = ks.lookup('transparent_hugepage_flags') !== undefined;
  const nLists = NR_LOWORDER_PCP_LISTS + (thp ? NR_PCP_THP : 0);
  // After lock, count, high, batch and free_factor (+ expire with NUMA): at least 16 bytes in.
  for (let lists = 16; lists + nLists * 2 * ps <= SPAN; lists += ps) {
    let all = true;
    for (const s of sets) {
      for (let i = 0; i < nLists && all; i++) all = headOk(s, lists + i * 2 * ps);
      if (!all) break;
    }
    if (all) return { source: 'derived', zonePcp, count: 4, lists, nLists, link, cpuOffsets: fromKallsyms, cpuOffsetsFrom: 'kallsyms' };
  }
  throw new IntrospectionError(IntrospectionErrorCode.INCONSISTENT, `per_cpu_pages: no run of ${nLists} list heads in the per-cpu pagesets: the lists cannot be found without BTF`);
}

/** Walk every per-cpu list of every zone and CPU with the given layout. */
export function pcpFreeBlocks(k: LinuxKernel, layout: PcpLayout, memMapBase: bigint, pfnCount: number): PcpResult {
  const ps = k.ptrSize;
  const pageSize = BigInt(need(vmSize(k.vmcoreinfo, 'page'), 'SIZE(page)'));
  const cpuOffs = layout.cpuOffsets;
  const lowLists = NR_LOWORDER_PCP_LISTS;
  // The THP lists hold blocks of HPAGE_PMD_ORDER: the order of the paging mode's PD-level large page
  // (9 = 2 MiB on x86-64 and PAE, 10 = 4 MiB without PAE).
  const pd = k.mode.levels.find((l) => l.name === 'PD');
  const hpageOrder = pd ? pd.shift - 12 : 9;
  const res: PcpResult = { blocks: [], pages: 0, cpus: cpuOffs.length, lists: 0, brokenLists: 0, layout: layout.source, cpuOffsets: layout.cpuOffsetsFrom, countMismatches: 0 };
  // One-page cache for reading struct pages' list pointers.
  let cachedVpn = -1;
  const cached = Buffer.alloc(PAGE_SIZE);
  const readNext = (va: bigint): bigint | undefined => {
    const vpn = k.vpn(va);
    if (vpn !== cachedVpn) {
      const pfn = k.walker.translateVpn(vpn);
      if (pfn < 0 || !k.mem.readPage(pfn, cached)) return undefined;
      cachedVpn = vpn;
    }
    const off = Number(va & 0xfffn);
    if (off > PAGE_SIZE - ps) return undefined;
    return ps === 8 ? cached.readBigUInt64LE(off) : BigInt(cached.readUInt32LE(off));
  };
  const seen = new Set<number>();
  for (const { zone } of zones(k)) {
    const pcpPtr = k.readPtr(zone + BigInt(layout.zonePcp), 'zone.per_cpu_pageset');
    if (pcpPtr === 0n) continue;
    for (const cpuOff of cpuOffs) {
      const pcp = BigInt.asUintN(ps * 8, pcpPtr + cpuOff);
      let count: number;
      try {
        count = k.readU32(pcp + BigInt(layout.count), 'per_cpu_pages.count');
      } catch (e) {
        if (!(e instanceof IntrospectionError)) throw e;
        continue; // CPU possible but its per-cpu area is not mapped
      }
      if (count > pfnCount) {
        res.countMismatches++;
        continue;
      }
      let budget = count + 16;
      let found = 0;
      for (let i = 0; i < layout.nLists; i++) {
        const head = pcp + BigInt(layout.lists + i * 2 * ps);
        const order = i < lowLists ? Math.floor(i / MIGRATE_PCPTYPES) : hpageOrder;
        res.lists++;
        let next = k.readPtr(head, 'per_cpu_pages.lists');
        while (next !== head) {
          if (budget-- <= 0) {
            res.brokenLists++;
            break;
          }
          const d = next - BigInt(layout.link) - memMapBase;
          const pfn = d >= 0n && d % pageSize === 0n ? Number(d / pageSize) : -1;
          if (pfn < 0 || pfn >= pfnCount || seen.has(pfn)) {
            res.brokenLists++;
            break;
          }
          seen.add(pfn);
          res.blocks.push([pfn, order]);
          res.pages += 2 ** order;
          found += 2 ** order;
          const nx = readNext(next);
          if (nx === undefined) {
            res.brokenLists++;
            break;
          }
          next = nx;
        }
      }
      if (found !== count) res.countMismatches++;
    }
  }
  return res;
}

/** The kernel's BTF blob, via kallsyms __start_BTF/__stop_BTF (bounded). */
export function btfBlob(k: LinuxKernel, ks: Kallsyms): Buffer {
  const start = ks.need('__start_BTF');
  const stop = ks.need('__stop_BTF');
  const len = stop - start;
  if (len <= 24n || len > 64n << 20n) throw new IntrospectionError(IntrospectionErrorCode.INCONSISTENT, `BTF section of ${len} bytes is implausible`);
  return k.read(start, Number(len), 'BTF');
}
