/**
 * Agreement of a page map with /proc/kpageflags ground truth (issue 4's accuracy rule): a page is
 * compared when its KPF flags put it in a class — BUDDY → free, SLAB → slab, PGTABLE → pagetable,
 * ANON → anon, LRU without SWAPBACKED → cache (image counts as cache), LRU with SWAPBACKED → shmem —
 * and agrees when the page map gives it that type. Used by the introspection integration tests and
 * bench/introspect.ts, bench/guest-bytes.ts; nothing in src/ needs it.
 */
import { PAGE_TYPES, PageMap, PageTypeCode } from '../../src/introspect/pagemap.js';
import { KPF } from './kpageflags.js';

export const ACCURACY_CLASSES = ['free', 'slab', 'pagetable', 'anon', 'cache', 'shmem'] as const;
export type AccuracyClass = (typeof ACCURACY_CLASSES)[number];

export interface ClassAccuracy {
  /** Pages kpageflags puts in the class. */
  truth: number;
  /** Of those, pages the page map gives the same type. */
  agree: number;
  /** agree / truth (1 when truth is 0). */
  recall: number;
  /**
   * Compared pages (kpageflags puts them in some class) the page map gives this type. Pages in no
   * class do not count: kpageflags has nothing to say about them (per-cpu free pages, for one, carry
   * no KPF flag).
   */
  predicted: number;
  /** agree / predicted. */
  precision: number;
  /** What the page map said for the disagreeing pages: type → count. */
  confusedWith: Record<string, number>;
}

export interface Accuracy {
  compared: number;
  agree: number;
  overall: number;
  classes: Record<AccuracyClass, ClassAccuracy>;
}

/** kpageflags class of one PFN's flags (low word), or -1 when it is in none of the compared classes. */
export function kpfClass(lo: number): number {
  const has = (b: number) => (lo >>> b) & 1;
  if (has(KPF.NOPAGE)) return -1;
  if (has(KPF.BUDDY)) return 0;
  if (has(KPF.SLAB)) return 1;
  if (has(KPF.PGTABLE)) return 2;
  if (has(KPF.ANON)) return 3;
  if (has(KPF.LRU)) return has(KPF.SWAPBACKED) ? 5 : 4;
  return -1;
}

export function compareWithKpageflags(map: PageMap, kpageflags: Buffer): Accuracy {
  const n = Math.min(map.pfns, Math.floor(kpageflags.length / 8));
  const mine = ACCURACY_CLASSES.map((c) => PageTypeCode[c]);
  const classes = Object.fromEntries(ACCURACY_CLASSES.map((c) => [c, { truth: 0, agree: 0, recall: 1, predicted: 0, precision: 1, confusedWith: {} as Record<string, number> }])) as Record<AccuracyClass, ClassAccuracy>;
  let compared = 0;
  let agree = 0;
  for (let pfn = 0; pfn < n; pfn++) {
    const c = kpfClass(kpageflags.readUInt32LE(pfn * 8));
    let t = map.types[pfn];
    if (t === PageTypeCode.image) t = PageTypeCode.cache;
    if (c < 0) continue;
    const ci = mine.indexOf(t);
    if (ci >= 0) classes[ACCURACY_CLASSES[ci]].predicted++;
    const cls = classes[ACCURACY_CLASSES[c]];
    cls.truth++;
    compared++;
    if (t === mine[c]) {
      cls.agree++;
      agree++;
    } else {
      const name = PAGE_TYPES[t];
      cls.confusedWith[name] = (cls.confusedWith[name] ?? 0) + 1;
    }
  }
  for (const c of ACCURACY_CLASSES) {
    const x = classes[c];
    x.recall = x.truth ? x.agree / x.truth : 1;
    x.precision = x.predicted ? x.agree / x.predicted : 1;
  }
  return { compared, agree, overall: compared ? agree / compared : 1, classes };
}

/** The agreement as text: the overall line, then one line per class (recall, precision). */
export function formatAccuracy(acc: Accuracy): string {
  const rows = ACCURACY_CLASSES.map((c) => `${c} ${acc.classes[c].agree}/${acc.classes[c].truth} = ${acc.classes[c].recall.toFixed(4)} (precision ${acc.classes[c].precision.toFixed(4)})`);
  return [`overall ${acc.agree}/${acc.compared} = ${acc.overall.toFixed(4)}`, ...rows].join('\n');
}
