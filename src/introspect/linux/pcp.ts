/**
 * Per-cpu free pages: pages on the zones' per-cpu lists (struct per_cpu_pages) are free but not
 * PageBuddy. Reached as node_data[nid] → node_zones[z].per_cpu_pageset (a __percpu pointer) +
 * __per_cpu_offset[cpu] → lists[pindex], linked through struct page's pcp_list (6.1; lru before).
 * Offsets come from BTF; list index → order as in 6.1 mm/page_alloc.c pindex_to_order():
 * order = pindex / MIGRATE_PCPTYPES (3) for the low-order lists, pageblock order (9) for the THP list
 * after them. Every list walk is capped (count of the pcp + slack) and every pointer checked.
 */
import { PAGE_SIZE } from '../../mem/physical-memory.js';
import { IntrospectionError, IntrospectionErrorCode } from '../../util/errors.js';
import type { Btf } from './btf.js';
import type { Kallsyms } from './kallsyms.js';
import type { LinuxKernel } from './kernel.js';
import { need, vmLength, vmSize, vmSymbol } from './vmcoreinfo.js';

const MIGRATE_PCPTYPES = 3;
const PAGE_ALLOC_COSTLY_ORDER = 3;
const PAGEBLOCK_ORDER = 9;
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
}

export function pcpFreeBlocks(k: LinuxKernel, ks: Kallsyms, btf: Btf, vmemmapBase: bigint, pfnCount: number): PcpResult {
  const v = k.vmcoreinfo;
  const pageSize = need(vmSize(v, 'page'), 'SIZE(page)');
  const nrCpus = k.readU32(ks.need('nr_cpu_ids'), 'nr_cpu_ids');
  if (nrCpus < 1 || nrCpus > MAX_CPUS) throw new IntrospectionError(IntrospectionErrorCode.INCONSISTENT, `nr_cpu_ids ${nrCpus} is implausible`);
  const offs = k.read(ks.need('__per_cpu_offset'), nrCpus * 8, '__per_cpu_offset');
  const zonePcp = btf.need('zone', 'per_cpu_pageset').offset;
  const pcpCount = btf.need('per_cpu_pages', 'count').offset;
  const lists = btf.need('per_cpu_pages', 'lists');
  const arr = btf.array(lists.type);
  if (!arr || arr.length < 1 || arr.length > 64) throw new IntrospectionError(IntrospectionErrorCode.UNSUPPORTED, 'BTF: per_cpu_pages.lists is not an array of list heads');
  const page = btf.struct('page');
  const link = (page !== undefined ? btf.member(page, 'pcp_list') ?? btf.member(page, 'lru') : undefined)?.offset;
  if (link === undefined) throw new IntrospectionError(IntrospectionErrorCode.MISSING, 'BTF has no page.pcp_list nor page.lru');
  const nodeZones = btf.need('pglist_data', 'node_zones');
  const zonesArr = btf.array(nodeZones.type);
  const zoneSize = need(vmSize(v, 'zone'), 'SIZE(zone)');
  const nZones = zonesArr?.length ?? 4;
  const nodeDataVa = need(vmSymbol(v, 'node_data'), 'SYMBOL(node_data)');
  const nNodes = Math.min(MAX_NODES, vmLength(v, 'node_data') ?? 1);
  const nodes = k.read(nodeDataVa, nNodes * 8, 'node_data');

  const lowLists = MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER + 1);
  const res: PcpResult = { blocks: [], pages: 0, cpus: nrCpus, lists: 0, brokenLists: 0 };
  // One-page cache for reading struct pages' list pointers.
  let cachedVpn = -1;
  const cached = Buffer.alloc(PAGE_SIZE);
  const readPtr = (va: bigint): bigint | undefined => {
    const vpn = k.vpn(va);
    if (vpn !== cachedVpn) {
      const pfn = k.walker.translateVpn(vpn);
      if (pfn < 0 || !k.mem.readPage(pfn, cached)) return undefined;
      cachedVpn = vpn;
    }
    const off = Number(va & 0xfffn);
    return off <= PAGE_SIZE - 8 ? cached.readBigUInt64LE(off) : undefined;
  };
  const seen = new Set<number>();
  for (let n = 0; n < nNodes; n++) {
    const pgdat = nodes.readBigUInt64LE(n * 8);
    if (pgdat === 0n) continue;
    for (let z = 0; z < nZones; z++) {
      const zone = pgdat + BigInt(nodeZones.offset + z * zoneSize);
      const pcpPtr = k.readU64(zone + BigInt(zonePcp), 'zone.per_cpu_pageset');
      if (pcpPtr === 0n) continue;
      for (let cpu = 0; cpu < nrCpus; cpu++) {
        const pcp = BigInt.asUintN(64, pcpPtr + offs.readBigUInt64LE(cpu * 8));
        let count: number;
        try {
          count = k.readU32(pcp + BigInt(pcpCount), 'per_cpu_pages.count');
        } catch {
          continue; // CPU possible but its per-cpu area is not mapped
        }
        if (count === 0) continue;
        let budget = count + 16;
        for (let i = 0; i < arr.length; i++) {
          const head = pcp + BigInt(lists.offset + i * 16);
          const order = i < lowLists ? Math.floor(i / MIGRATE_PCPTYPES) : PAGEBLOCK_ORDER;
          res.lists++;
          let next = k.readU64(head, 'per_cpu_pages.lists');
          while (next !== head) {
            if (budget-- <= 0) {
              res.brokenLists++;
              break;
            }
            const d = next - BigInt(link) - vmemmapBase;
            const pfn = d >= 0n && d % BigInt(pageSize) === 0n ? Number(d / BigInt(pageSize)) : -1;
            if (pfn < 0 || pfn >= pfnCount || seen.has(pfn)) {
              res.brokenLists++;
              break;
            }
            seen.add(pfn);
            res.blocks.push([pfn, order]);
            res.pages += 2 ** order;
            const nx = readPtr(next);
            if (nx === undefined) {
              res.brokenLists++;
              break;
            }
            next = nx;
          }
        }
      }
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
