/**
 * Paging mode and root table from a vCPU's control registers (Intel SDM vol. 3 §4.1.1, table 4-1):
 * CR0.PG (bit 31) turns paging on; EFER.LMA (bit 10) selects IA-32e paging, 4- or 5-level by
 * CR4.LA57 (bit 12); otherwise CR4.PAE (bit 5) selects PAE, else 32-bit (non-PAE) paging.
 * Pure functions: the registers come from wherever a reader found them (CPU state in a save image,
 * ELF notes).
 */
import { PagingMode, X64_4LEVEL, X64_5LEVEL, X86_NONPAE, X86_PAE } from './modes.js';

export interface ControlRegisters {
  cr0: number | bigint;
  cr4: number | bigint;
  /** IA32_EFER. Without it, long mode is inferred from CR4 bits only legal there (see below). */
  efer?: number | bigint;
}

const CR0_PG = 0x80000000;
const CR4_PAE = 1 << 5;
const CR4_LA57 = 1 << 12;
/** CR4.PCIDE can only be set in IA-32e mode (SDM §4.10.1: MOV to CR4 #GPs otherwise). */
const CR4_PCIDE = 1 << 17;
const EFER_LMA = 1 << 10;

/** Bits 0–31 of a register value. */
const low32 = (v: number | bigint): number => (typeof v === 'bigint' ? Number(v & 0xffffffffn) : v >>> 0);

/**
 * The paging mode the registers select, or undefined when paging is off (CR0.PG = 0). Without EFER,
 * long mode is assumed when CR4.PCIDE or CR4.LA57 is set (an OS in long mode without PCID and
 * LA57 then reads as PAE: pass EFER when it is known).
 */
export function pagingModeFromControlRegisters(regs: ControlRegisters): PagingMode | undefined {
  const cr0 = low32(regs.cr0);
  const cr4 = low32(regs.cr4);
  if ((cr0 & CR0_PG) === 0) return undefined;
  const longMode = regs.efer !== undefined ? (low32(regs.efer) & EFER_LMA) !== 0 : (cr4 & (CR4_PCIDE | CR4_LA57)) !== 0;
  if (longMode) return (cr4 & CR4_LA57) !== 0 ? X64_5LEVEL : X64_4LEVEL;
  return (cr4 & CR4_PAE) !== 0 ? X86_PAE : X86_NONPAE;
}

/**
 * Physical address of the root table from CR3: bits 12–31 (non-PAE), 5–31 (PAE: the PDPT is only
 * 32-byte aligned), 12–51 (x86-64; PCID in bits 0–11 and bits 52–63 dropped). SME's C-bit, if set,
 * is left for the walker's smeMask.
 */
export function rootFromCr3(cr3: number | bigint, mode: PagingMode): number {
  // CR3 is 32 bits outside long mode; in long mode the address field ends at bit 51.
  const v = mode.vaBits === 32 ? low32(cr3) : typeof cr3 === 'bigint' ? Number(cr3 & 0xfffffffffffffn) : cr3 % 2 ** 52;
  return v - (v % mode.rootAlign);
}
