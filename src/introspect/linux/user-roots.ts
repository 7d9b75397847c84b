/**
 * The page-table roots of user processes, found without task_struct or mm_struct offsets: a
 * process's top-level table is created with a copy of the kernel's part of swapper_pg_dir
 * (arch/x86/mm/pgtable.c pgd_ctor → clone_pgd_range), and under PAE the kernel PMD is shared
 * (SHARED_KERNEL_PMD), so the PDPT's kernel entries are the very same words. Scanned here:
 * - non-PAE and x86-64: whole pages (pgd pages are plain __get_free_pages pages, typed `other` or
 *   `kernel`, never a user page) whose kernel entries agree with the kernel root's, at least 90 % of
 *   its present ones (non-PAE vmalloc PDEs are synced lazily), and with a present user entry;
 * - PAE: 32-byte PDPTs (the pgd_cache slab, or a whole page) whose kernel entries equal the kernel
 *   root's and whose user entries are present PDPTEs with their reserved bits clear.
 * One read of the candidate pages; used to check user-space translation against the guest's own
 * /proc/PID/pagemap, and as an offset-free list of address spaces.
 */
import { PAGE_SIZE } from '../../mem/physical-memory.js';
import { PageMap, PageTypeCode } from '../pagemap.js';
import type { LinuxKernel } from './kernel.js';

/** Types a top-level table page can have (never a user or file page). */
const CANDIDATE = new Set<number>([PageTypeCode.other, PageTypeCode.kernel, PageTypeCode.slab, PageTypeCode.pagetable]);
/**
 * PDPTE bits that must be zero: bits 1–2 (Intel SDM §4.4.1). Bits 5–8 are reserved there too, but
 * the real PAE guests here have bit 5 (accessed) set in every PDPTE, the kernel's own included
 * (QEMU's TCG sets it when it loads them): not used to reject.
 */
const PDPTE_RESERVED_LO = 0x6;

export function findUserRoots(k: LinuxKernel, map: PageMap): number[] {
  const mem = k.mem;
  const mode = k.mode;
  const e = mode.entryBytes;
  const top = mode.levels[0];
  const nTop = 2 ** top.bits;
  // First top-level index of the kernel's half: PAGE_OFFSET on i386, the upper half on x86-64.
  const kidx = k.pageOffset !== undefined ? Math.floor(k.pageOffset / 2 ** top.shift) : nTop / 2;
  const rootPage = new Uint8Array(PAGE_SIZE);
  if (!mem.readPage(Math.floor(k.rootPa / PAGE_SIZE), rootPage)) return [];
  const r32 = new Uint32Array(rootPage.buffer);
  const rootOff = (k.rootPa % PAGE_SIZE) / 4;
  const words = e / 4;
  // The kernel root's kernel entries, low words (present ones only matter).
  const kernel: number[] = [];
  for (let i = kidx; i < nTop; i++) kernel.push(r32[rootOff + i * words]);
  const presentK = kernel.filter((w) => w & 1).length;
  const buf = new Uint8Array(PAGE_SIZE);
  const u32 = new Uint32Array(buf.buffer);
  const roots: number[] = [];
  const types = map.types;
  const pdpt = mode.rootAlign < PAGE_SIZE;
  for (let pfn = 0; pfn < types.length; pfn++) {
    if (!CANDIDATE.has(types[pfn]) || !mem.readPage(pfn, buf)) continue;
    if (pdpt) {
      for (let off = 0; off < PAGE_SIZE; off += mode.rootAlign) {
        const w = off / 4;
        const pa = pfn * PAGE_SIZE + off;
        if (pa === k.rootPa) continue;
        let ok = true;
        for (let i = 0; i < nTop && ok; i++) {
          const lo = u32[w + i * 2];
          const hi = u32[w + i * 2 + 1];
          if (i >= kidx) ok = lo === kernel[i - kidx] && hi === r32[rootOff + i * 2 + 1];
          else ok = (lo & 1) === 1 && (lo & PDPTE_RESERVED_LO) === 0 && hi < 0x10;
        }
        if (ok) roots.push(pa);
      }
      continue;
    }
    if (pfn * PAGE_SIZE === k.rootPa) continue;
    let same = 0;
    for (let i = kidx; i < nTop; i++) {
      const want = kernel[i - kidx];
      if (want & 1 && (u32[i * words] & ~0x60) === (want & ~0x60)) same++; // accessed/dirty may differ
    }
    if (presentK === 0 || same < presentK * 0.9) continue;
    let user = false;
    for (let i = 0; i < kidx && !user; i++) user = (u32[i * words] & 1) === 1;
    if (user) roots.push(pfn * PAGE_SIZE);
  }
  return roots;
}
