/**
 * The KPF_* bits of Linux's /proc/kpageflags (one u64 per PFN, include/uapi/linux/kernel-page-flags.h)
 * that mig looks at: the ground truth the vm-images guests capture, against which tests and
 * benchmarks check introspection's page maps (accuracy.ts; test/helpers/kpageflags.ts makes a whole
 * page map of it).
 */
export const KPF = { LRU: 5, SLAB: 7, BUDDY: 10, MMAP: 11, ANON: 12, SWAPBACKED: 14, HWPOISON: 19, NOPAGE: 20, OFFLINE: 23, PGTABLE: 26 } as const;
