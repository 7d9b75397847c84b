/**
 * What Windows adds to x86 paging: its software PTEs, as an entry-validity predicate on the hardware
 * modes (volatility3 layers/intel.py `WindowsMixin._page_is_valid`; MemProcFS vmm/mm/mm_x86.c,
 * mm_x86pae.c). Nothing else of the mode record changes.
 *
 * - Valid (hardware) PTE: P (bit 0) = 1.
 * - Transition PTE (_MMPTE_TRANSITION): P = 0, Prototype (bit 10) = 0, Transition (bit 11) = 1. The
 *   page is still resident (on the standby or modified list) and the entry holds its frame number in
 *   the same bits as a valid PTE: (pte & 0xc01) == 0x800. Bits 5–9 are the Protection field there,
 *   so bit 7 says nothing about a large page (the walker only takes PS from a present entry).
 * - Prototype PTE (P = 0, bit 10 = 1): the entry points at a prototype PTE of a section (through the
 *   VAD's FirstPrototypePte); not resolvable from the page tables alone, so not valid here — the
 *   Windows module resolves those pages through the VAD tree.
 * Everything else with P = 0 (demand-zero, page file) maps no resident page.
 */
import { EntryValidity, PagingMode, withValidity } from '../x86/paging.js';

/** P=0, Prototype=0, Transition=1: a resident page in transition. */
export function isTransitionPte(lo: number): boolean {
  return (lo & 0xc01) === 0x800;
}

/** P=0 with the Prototype bit: resolved through the section's prototype PTEs, not the page table. */
export function isPrototypePte(lo: number): boolean {
  return (lo & 0x401) === 0x400;
}

/** Valid or transition: the entry's frame bits name a resident page. */
export const windowsValidity: EntryValidity = (lo) => (lo & 1) !== 0 || (lo & 0xc01) === 0x800;

/** A hardware paging mode as Windows uses it (same record, Windows' validity). */
export function windowsPagingMode(mode: PagingMode): PagingMode {
  return withValidity(mode, windowsValidity);
}
