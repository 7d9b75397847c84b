/**
 * A page map from a raw copy of Linux's /proc/kpageflags (one u64 of KPF_* bits per PFN,
 * include/uapi/linux/kernel-page-flags.h) — the ground truth the vm-images guests capture. The
 * mapping follows the accuracy rules of the introspection issue: BUDDY → free, SLAB → slab,
 * PGTABLE → pagetable, ANON → anon, LRU without SWAPBACKED → cache, LRU with SWAPBACKED → shmem.
 */
import { PageMap, PageTypeCode } from '../../src/introspect/pagemap.js';

/**
 * The KPF_* bits of /proc/kpageflags (include/uapi/linux/kernel-page-flags.h) the ground truth is
 * read by, here and in accuracy.ts. Introspection never reads kpageflags: only tests and benchmarks do.
 */
export const KPF = { LRU: 5, SLAB: 7, BUDDY: 10, MMAP: 11, ANON: 12, SWAPBACKED: 14, HWPOISON: 19, NOPAGE: 20, OFFLINE: 23, PGTABLE: 26 } as const;

export function pageMapFromKpageflags(raw: Buffer): PageMap {
  const n = Math.floor(raw.length / 8);
  const types = new Uint8Array(n);
  for (let pfn = 0; pfn < n; pfn++) {
    // Every flag mig looks at is below bit 32: read the low word only.
    const f = raw.readUInt32LE(pfn * 8);
    const has = (bit: number) => (f >>> bit) & 1;
    let t: number;
    if (has(KPF.NOPAGE)) t = PageTypeCode.hole;
    else if (has(KPF.HWPOISON)) t = PageTypeCode.hwpoison;
    else if (has(KPF.OFFLINE)) t = PageTypeCode.offline;
    else if (has(KPF.BUDDY)) t = PageTypeCode.free;
    else if (has(KPF.SLAB)) t = PageTypeCode.slab;
    else if (has(KPF.PGTABLE)) t = PageTypeCode.pagetable;
    else if (has(KPF.ANON)) t = PageTypeCode.anon;
    else if (has(KPF.LRU)) t = has(KPF.SWAPBACKED) ? PageTypeCode.shmem : has(KPF.MMAP) ? PageTypeCode.image : PageTypeCode.cache;
    else t = PageTypeCode.other;
    types[pfn] = t;
  }
  return new PageMap(types);
}
