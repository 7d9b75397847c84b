/**
 * x86 paging modes as data (volatility3 `Intel`/`IntelPAE`/`Intel32e` class attributes, memflow
 * `ArchMmuDef` in architecture/x86/{x32,x32_pae,x64}.rs): one `PagingMode` record per mode carries
 * everything the one walker (walker.ts) needs. Nothing here reads memory.
 *
 * Entry layout (Intel SDM vol. 3 ch. 4): P bit 0, RW 1, US 2, PS 7 (large page where allowed), PAT 12
 * in a large-page entry, address bits 12 up to MAXPHYADDR, NX bit 63 (8-byte entries only).
 *
 *   mode            levels (index bits)    entry  root align  VA   large pages
 *   x86 non-PAE     PD 10, PT 10           4 B    4096        32   PD → 4 MiB (PSE; PSE-36 bits 13–20)
 *   x86 PAE         PDPT 2, PD 9, PT 9     8 B    32          32   PD → 2 MiB
 *   x86-64 4-level  PML4 9 … PT 9          8 B    4096        48   PDPT → 1 GiB, PD → 2 MiB
 *   x86-64 5-level  PML5 9, PML4 9 … PT 9  8 B    4096        57   PDPT → 1 GiB, PD → 2 MiB
 */

export interface PagingLevel {
  name: string;
  /** Bit of the virtual address where this level's index starts; an entry here spans 2^shift bytes. */
  shift: number;
  /** Width of the index (10 for non-PAE, 2 for the PAE PDPT, else 9). */
  bits: number;
  /** A PS entry at this level maps a large page (4 MiB non-PAE, 2 MiB at shift 21, 1 GiB at shift 30). */
  largeAllowed: boolean;
  /**
   * Whether the entry's RW/US/NX bits take part in the accumulated flags. False only for PAE PDPTEs,
   * where those bits are reserved (SDM §4.4.1) and say nothing about access.
   */
  accessBits: boolean;
}

/**
 * Entry-validity predicate: `lo`/`hi` are the entry's low and high 32-bit words (hi = 0 for 4-byte
 * entries), `level` the index into `mode.levels` (0 = top). The default accepts P=1 entries; an OS
 * overrides it with `withValidity` (Windows: transition PTEs, volatility3 `WindowsMixin._page_is_valid`).
 * A valid entry's address is read as for a present one.
 */
export type EntryValidity = (lo: number, hi: number, level: number) => boolean;

export type PagingModeName = 'x86 non-PAE' | 'x86 PAE' | 'x86-64 4-level' | 'x86-64 5-level';

export interface PagingMode {
  readonly name: PagingModeName;
  /** Top-down. The last level maps 4 KiB pages. */
  readonly levels: readonly PagingLevel[];
  /** 4 (non-PAE) or 8. */
  readonly entryBytes: 4 | 8;
  /** Alignment of the root table: 4096, or 32 for the PAE PDPT (which need not start a page). */
  readonly rootAlign: number;
  /** Width of a (decanonicalised) virtual address. */
  readonly vaBits: number;
  /**
   * Address bits of an entry (a number: exact up to bit 52). Table pointers and 4 KiB pages use
   * them as they are; a large page also clears the bits below its size (bit 12 is PAT there).
   */
  readonly addrMask: number;
  /**
   * PSE-36 / PSE-40: low-word bits of a large-page entry that hold physical-address bits 32 and up,
   * and how far left they move (non-PAE 4 MiB pages: bits 13–20 → 32–39, shift 19). Absent elsewhere.
   */
  readonly largeHighBits?: { readonly mask: number; readonly shift: number };
  /** The entries have an NX bit (bit 63; set only when EFER.NXE, so a set bit is taken as NX). */
  readonly nx: boolean;
  readonly isValid: EntryValidity;
}

/** Entry bits (low word). */
export const PTE_PRESENT = 0x1;
export const PTE_RW = 0x2;
export const PTE_USER = 0x4;
export const PTE_PS = 0x80;
/** NX is bit 63 = bit 31 of the high word. */
export const PTE_NX_HI = 0x80000000;

/** The hardware rule: an entry is used when P = 1. */
export const presentBit: EntryValidity = (lo) => (lo & PTE_PRESENT) !== 0;

const level = (name: string, shift: number, bits: number, largeAllowed = false, accessBits = true): PagingLevel =>
  Object.freeze({ name, shift, bits, largeAllowed, accessBits });

/** 52-bit address field, bits 12–51 (0x000ffffffffff000). */
const ADDR_52 = 2 ** 52 - 4096;

export const X86_NONPAE: PagingMode = Object.freeze({
  name: 'x86 non-PAE',
  levels: Object.freeze([level('PD', 22, 10, true), level('PT', 12, 10)]),
  entryBytes: 4,
  rootAlign: 4096,
  vaBits: 32,
  addrMask: 0xfffff000,
  largeHighBits: Object.freeze({ mask: 0x001fe000, shift: 19 }),
  nx: false,
  isValid: presentBit,
});

export const X86_PAE: PagingMode = Object.freeze({
  name: 'x86 PAE',
  levels: Object.freeze([level('PDPT', 30, 2, false, false), level('PD', 21, 9, true), level('PT', 12, 9)]),
  entryBytes: 8,
  rootAlign: 32,
  vaBits: 32,
  addrMask: ADDR_52,
  nx: true,
  isValid: presentBit,
});

export const X64_4LEVEL: PagingMode = Object.freeze({
  name: 'x86-64 4-level',
  levels: Object.freeze([level('PML4', 39, 9), level('PDPT', 30, 9, true), level('PD', 21, 9, true), level('PT', 12, 9)]),
  entryBytes: 8,
  rootAlign: 4096,
  vaBits: 48,
  addrMask: ADDR_52,
  nx: true,
  isValid: presentBit,
});

export const X64_5LEVEL: PagingMode = Object.freeze({
  ...X64_4LEVEL,
  name: 'x86-64 5-level',
  levels: Object.freeze([level('PML5', 48, 9), ...X64_4LEVEL.levels]),
  vaBits: 57,
});

export const PAGING_MODES: readonly PagingMode[] = Object.freeze([X86_NONPAE, X86_PAE, X64_4LEVEL, X64_5LEVEL]);

/** The same mode with another entry-validity rule (an OS's software PTEs); everything else is kept. */
export function withValidity(mode: PagingMode, isValid: EntryValidity): PagingMode {
  return Object.freeze({ ...mode, isValid });
}

/**
 * The u32 masks that select an entry's 4 KiB-aligned address in its low and high words, with the
 * SME C-bit (NUMBER(sme_mask), a physical-address bit) cleared. pfn = (hi & m.hi)·2^20 + ((lo & m.lo) >>> 12).
 */
export function entryAddressMasks(mode: PagingMode, smeMask = 0): { lo: number; hi: number } {
  const TWO32 = 2 ** 32;
  const lo = (mode.addrMask % TWO32) & ~(smeMask % TWO32);
  const hi = mode.entryBytes === 8 ? Math.floor(mode.addrMask / TWO32) & ~Math.floor(smeMask / TWO32) : 0;
  return { lo: lo >>> 0, hi: hi >>> 0 };
}

/**
 * The one decoder of an entry's address: the frame number that the entry (low and high u32 words)
 * points to, given masks from `entryAddressMasks`. Unsigned throughout (an address with bit 31 set
 * stays positive). Hot loops call it per entry: it is small enough for V8 to inline.
 */
export function entryPfn(lo: number, hi: number, masks: { readonly lo: number; readonly hi: number }): number {
  return (hi & masks.hi) * 2 ** 20 + ((lo & masks.lo) >>> 12);
}

/** Canonical VA (bigint) → decanonicalised page number for the mode. */
export function vpnOf(va: bigint, mode: PagingMode): number {
  const mask = (1n << BigInt(mode.vaBits)) - 1n;
  return Number((va & mask) >> 12n);
}
