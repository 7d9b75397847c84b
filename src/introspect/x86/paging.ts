/**
 * x86 paging: the mode records (modes.ts), the one walker (walker.ts) and the choice of mode and
 * root from control registers (control-registers.ts). Kept as the import path callers use.
 */
export {
  entryAddressMasks,
  entryPfn,
  PAGING_MODES,
  presentBit,
  PTE_NX_HI,
  PTE_PRESENT,
  PTE_PS,
  PTE_RW,
  PTE_USER,
  vpnOf,
  withValidity,
  X64_4LEVEL,
  X64_5LEVEL,
  X86_NONPAE,
  X86_PAE,
} from './modes.js';
export type { EntryValidity, PagingLevel, PagingMode, PagingModeName } from './modes.js';
export { PageTableWalker } from './walker.js';
export type { WalkerOptions, WalkFlags } from './walker.js';
export { pagingModeFromControlRegisters, rootFromCr3 } from './control-registers.js';
export type { ControlRegisters } from './control-registers.js';
