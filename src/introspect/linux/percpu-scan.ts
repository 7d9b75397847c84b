/**
 * The per-cpu pagesets of a kernel whose kallsyms has no data symbols (CONFIG_KALLSYMS_ALL off, as
 * Debian's i386 kernels): no __per_cpu_offset, so the pagesets are found in the direct map by the
 * shape of their lists (src/introspect/linux/pcp.ts uses the result; docs/introspection.md).
 */
import { PAGE_SIZE } from '../../mem/physical-memory.js';
import { IntrospectionError, IntrospectionErrorCode } from '../../util/errors.js';
import { PageMap, PageTypeCode } from '../pagemap.js';
import type { LinuxKernel } from './kernel.js';
import { need, vmSize } from './vmcoreinfo.js';

/** MIGRATE_PCPTYPES × (PAGE_ALLOC_COSTLY_ORDER + 1): the per-cpu lists every 6.x kernel has. */
export const NR_LOWORDER_PCP_LISTS = 12;

/**
 * Page types a per-cpu area can be in, in the order scanned: the embedded first chunk is memblock
 * memory (PG_reserved → kernel), where the zones' pagesets are on the real guests; chunks added
 * later are ordinary pages.
 */
const PERCPU_TYPES: readonly (readonly number[])[] = [[PageTypeCode.kernel], [PageTypeCode.other, PageTypeCode.slab]];

/**
 * The per-cpu pagesets without __per_cpu_offset: every run of ≥ 12 valid list heads (next and prev
 * each pointing at the head itself or at a struct page's list link) in the direct map of the pages
 * a per-cpu area can be in, at ptrSize steps. A CPU's pagesets of all zones are at
 * `per_cpu_pageset + __per_cpu_offset[cpu]`, so a delta E = run start − per_cpu_pageset of the
 * first zone that also puts every other zone's per_cpu_pageset on a run start is one CPU's
 * `__per_cpu_offset + lists offset`. Returns those deltas (one per CPU found) and the shortest run.
 * Reads the `kernel` pages below 4 GiB of the direct map, and the `other`/`slab` ones only when
 * nothing is found there.
 */
export function scanPerCpuOffsets(k: LinuxKernel, map: PageMap, pcpPtrs: bigint[], memMapBase: bigint, link: number, directMapBase: bigint): { starts: bigint[]; minRun: number } {
  // Pointers as numbers: 32-bit kernels only (x86-64 has __per_cpu_offset in kallsyms).
  if (k.ptrSize !== 4) throw new IntrospectionError(IntrospectionErrorCode.UNSUPPORTED, 'per-cpu pageset scan is for 32-bit kernels');
  for (const types of PERCPU_TYPES) {
    const found = matchPagesets(k, headRuns(k, map, new Set(types), memMapBase, link, directMapBase), pcpPtrs, directMapBase);
    if (found.starts.length) return found;
  }
  return { starts: [], minRun: 0 };
}

/** Run start VA → heads in the run, for runs of ≥ 12 valid list heads in pages of the given types. */
function headRuns(k: LinuxKernel, map: PageMap, types: Set<number>, memMapBase: bigint, link: number, directMapBase: bigint): Map<number, number> {
  const minRun = NR_LOWORDER_PCP_LISTS;
  const pageSize = need(vmSize(k.vmcoreinfo, 'page'), 'SIZE(page)');
  const pfnCount = map.pfns;
  const base = Number(directMapBase);
  const mm = Number(memMapBase) + link;
  const mmEnd = mm + pfnCount * pageSize;
  const maxPfn = Math.min(pfnCount, Math.floor((2 ** 32 - base) / PAGE_SIZE));
  const runs = new Map<number, number>();
  const WORDS = PAGE_SIZE / 4;
  const buf = new Uint8Array(2 * PAGE_SIZE);
  const u32 = new Uint32Array(buf.buffer);
  // valid[w]: a list head starts at word w (two words: next, prev).
  const valid = new Uint8Array(2 * WORDS);
  const t = map.types;
  const isPtr = (x: number, head: number) => x === head || (x >= mm && x < mmEnd && (x - mm) % pageSize === 0);
  // Heads of words [from, to) of buf, for the page at va0.
  const mark = (va0: number, from: number, to: number): void => {
    for (let w = from; w < to; w++) {
      const head = va0 + w * 4;
      valid[w] = isPtr(u32[w], head) && isPtr(u32[w + 1], head) ? 1 : 0;
    }
  };
  let ahead = -1; // the page whose words (and heads) sit in the upper half of buf
  for (let pfn = 0; pfn < maxPfn; pfn++) {
    if (!types.has(t[pfn])) continue;
    const va0 = base + pfn * PAGE_SIZE;
    if (ahead === pfn) {
      // Read as the next page last time: move it down instead of reading it again.
      buf.copyWithin(0, PAGE_SIZE);
      valid.copyWithin(0, WORDS);
    } else {
      if (!k.mem.readPage(pfn, buf, 0)) continue;
      ahead = -1;
    }
    // The next page too, so that a pageset across the page boundary is seen whole.
    const next = pfn + 1 < maxPfn && k.mem.readPage(pfn + 1, buf, PAGE_SIZE);
    if (!next) buf.fill(0, PAGE_SIZE);
    // Words of this page whose heads were not computed yet: all, or only the last (it needs the next page).
    mark(va0, ahead === pfn ? WORDS - 1 : 0, 2 * WORDS - 1);
    valid[2 * WORDS - 1] = 0;
    ahead = next ? pfn + 1 : -1;
    let any = false;
    for (let w = 0; w < WORDS && !any; w++) any = valid[w] === 1;
    if (!any) continue;
    for (let w = 0; w < WORDS; w++) {
      // A run start: valid, and no valid head just before it (a run from the page before was counted there).
      if (valid[w] === 0 || (w >= 2 && valid[w - 2] === 1)) continue;
      let n = 1;
      while (w + 2 * n < 2 * WORDS && valid[w + 2 * n] === 1) n++;
      if (n >= minRun) runs.set(va0 + w * 4, n);
    }
  }
  return runs;
}

/** The deltas that put every zone's per_cpu_pageset on a run start (one per CPU), checked against the page table. */
function matchPagesets(k: LinuxKernel, runs: Map<number, number>, pcpPtrs: bigint[], directMapBase: bigint): { starts: bigint[]; minRun: number } {
  const base = Number(directMapBase);
  const starts: bigint[] = [];
  let shortest = Infinity;
  const p0 = Number(pcpPtrs[0]);
  for (const [x, n] of runs) {
    const e = (x - p0) >>> 0;
    let all = true;
    let m = n;
    for (const p of pcpPtrs) {
      const r = runs.get((Number(p) + e) >>> 0);
      if (r === undefined) {
        all = false;
        break;
      }
      m = Math.min(m, r);
    }
    if (!all) continue;
    // The pageset must be where the kernel's own page table says the direct map puts it.
    if (k.vtop(BigInt(x)) !== x - base) continue;
    starts.push(BigInt(e));
    shortest = Math.min(shortest, m);
  }
  return { starts, minRun: Number.isFinite(shortest) ? shortest : 0 };
}
