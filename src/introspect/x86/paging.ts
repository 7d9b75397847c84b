/**
 * x86-64 page-table translation as data (memflow `ArchMmuDef`, volatility3 `Intel32e`): a
 * PagingMode lists the levels top-down (index shift, whether a large page may end the walk there),
 * and one walker serves 4-level and 5-level (LA57) paging.
 *
 * Addresses: virtual addresses are handled as page numbers (`vpn` = va >> 12, decanonicalised to the
 * mode's width) so that 57-bit LA57 addresses stay exact in a JS number; physical frames are PFNs.
 * Entry layout (Intel SDM vol. 3 §4.5): P bit 0, RW 1, US 2, PS 7 (large page at PDPT/PD level),
 * address bits 12–51, NX 63. The SME C-bit (a physical-address bit, NUMBER(sme_mask)) is stripped.
 */
import { PAGE_SIZE, PhysicalMemory } from '../../mem/physical-memory.js';

export interface PagingLevel {
  name: string;
  /** Bit of the virtual address where this level's 9-bit index starts. */
  shift: number;
  /** A PS entry at this level maps a large page (1 GiB at shift 30, 2 MiB at shift 21). */
  largeAllowed: boolean;
}

export interface PagingMode {
  name: string;
  /** Top-down. The last level maps 4 KiB pages. */
  levels: readonly PagingLevel[];
  /** Width of a (decanonicalised) virtual address. */
  vaBits: number;
}

export const X64_4LEVEL: PagingMode = {
  name: 'x86-64 4-level',
  vaBits: 48,
  levels: [
    { name: 'PML4', shift: 39, largeAllowed: false },
    { name: 'PDPT', shift: 30, largeAllowed: true },
    { name: 'PD', shift: 21, largeAllowed: true },
    { name: 'PT', shift: 12, largeAllowed: false },
  ],
};

export const X64_5LEVEL: PagingMode = {
  name: 'x86-64 5-level',
  vaBits: 57,
  levels: [{ name: 'PML5', shift: 48, largeAllowed: false }, ...X64_4LEVEL.levels],
};

/** Entry bits (low word). */
export const PTE_PRESENT = 0x1;
export const PTE_RW = 0x2;
export const PTE_USER = 0x4;
export const PTE_PS = 0x80;
/** NX is bit 63 = bit 31 of the high word. */
const NX_HI = 0x80000000;

/** Flags of the last translation, accumulated over the walk (x86 semantics: RW/US need every level, NX any level). */
export interface WalkFlags {
  writable: boolean;
  user: boolean;
  nx: boolean;
  /** log2 of the mapping's page count: 0 (4 KiB), 9 (2 MiB), 18 (1 GiB). */
  order: number;
}

const TWO32 = 2 ** 32;

/** Canonical 64-bit VA (bigint) → decanonicalised page number for the mode. */
export function vpnOf(va: bigint, mode: PagingMode): number {
  const mask = (1n << BigInt(mode.vaBits)) - 1n;
  return Number((va & mask) >> 12n);
}

export interface WalkerOptions {
  /** NUMBER(sme_mask): the memory-encryption bit to strip from every entry's address. */
  smeMask?: number;
  /** Table pages cached (4 KiB each). */
  cachePages?: number;
}

export class PageTableWalker {
  readonly rootPfn: number;
  /** Flags of the last successful translateVpn(). */
  readonly last: WalkFlags = { writable: false, user: false, nx: false, order: 0 };
  private readonly cache = new Map<number, Uint32Array | null>();
  private readonly cacheLimit: number;
  private readonly smeHi: number;
  private readonly smeLo: number;
  private readonly shifts: Int32Array;
  private readonly large: Uint8Array;

  constructor(readonly mem: PhysicalMemory, readonly mode: PagingMode, rootPa: number, opts: WalkerOptions = {}) {
    this.rootPfn = Math.floor(rootPa / PAGE_SIZE);
    this.cacheLimit = opts.cachePages ?? 4096;
    const sme = opts.smeMask ?? 0;
    this.smeHi = Math.floor(sme / TWO32) >>> 0;
    this.smeLo = (sme % TWO32) >>> 0;
    this.shifts = Int32Array.from(mode.levels, (l) => l.shift - 12);
    this.large = Uint8Array.from(mode.levels, (l) => (l.largeAllowed ? 1 : 0));
  }

  /** A page-table page as 1024 u32 (512 entries × lo, hi), or null for a frame the image does not hold. */
  table(pfn: number): Uint32Array | null {
    let t = this.cache.get(pfn);
    if (t !== undefined) return t;
    if (this.cache.size >= this.cacheLimit) this.cache.clear();
    const buf = new Uint8Array(PAGE_SIZE);
    t = this.mem.readPage(pfn, buf) ? new Uint32Array(buf.buffer) : null;
    this.cache.set(pfn, t);
    return t;
  }

  /** Frame number the entry (lo, hi) points to, SME bit stripped. */
  entryPfn(lo: number, hi: number): number {
    return ((hi & ~this.smeHi) & 0xfffff) * 0x100000 + (((lo & ~this.smeLo) >>> 12) & 0xfffff);
  }

  /**
   * Translate a virtual page number to a physical frame number, or -1 when not mapped (or a table
   * frame is missing from the image). Sets `last` on success.
   */
  translateVpn(vpn: number): number {
    let pfn = this.rootPfn;
    let writable = true;
    let user = true;
    let nx = false;
    const n = this.shifts.length;
    for (let l = 0; l < n; l++) {
      const t = this.table(pfn);
      if (t === null) return -1;
      const span = 2 ** this.shifts[l];
      const idx = Math.floor(vpn / span) % 512;
      const lo = t[idx * 2];
      const hi = t[idx * 2 + 1];
      if ((lo & PTE_PRESENT) === 0) return -1;
      writable &&= (lo & PTE_RW) !== 0;
      user &&= (lo & PTE_USER) !== 0;
      nx ||= (hi & NX_HI) !== 0;
      const next = this.entryPfn(lo, hi);
      if (l === n - 1 || (this.large[l] && (lo & PTE_PS) !== 0)) {
        // Large page: the frame is aligned to its size (bit 12 is PAT, not address); add the offset within.
        const base = l === n - 1 ? next : next - (next % span);
        const last = this.last;
        last.writable = writable;
        last.user = user;
        last.nx = nx;
        last.order = this.shifts[l];
        return base + (l === n - 1 ? 0 : vpn % span);
      }
      pfn = next;
    }
    return -1;
  }

  /** Canonical VA → guest-physical address, or -1. */
  translate(va: bigint): number {
    const pfn = this.translateVpn(vpnOf(va, this.mode));
    return pfn < 0 ? -1 : pfn * PAGE_SIZE + Number(va & 0xfffn);
  }

  /**
   * Walk every present leaf mapping in [vpnStart, vpnEnd), ascending, skipping absent subtrees whole.
   * fn(vpn, pfn, pages, lo, hi) gets one call per leaf entry (pages = 1, 512 or 262144); `lo`/`hi` are
   * the leaf entry's words. Returns the number of leaves visited; stops after maxLeaves.
   */
  forEachLeaf(vpnStart: number, vpnEnd: number, fn: (vpn: number, pfn: number, pages: number, lo: number, hi: number) => void, maxLeaves = Infinity): number {
    let leaves = 0;
    const n = this.shifts.length;
    const walk = (pfn: number, l: number, base: number): void => {
      const t = this.table(pfn);
      if (t === null) return;
      const span = 2 ** this.shifts[l];
      const first = Math.max(0, Math.floor((vpnStart - base) / span));
      const last = Math.min(511, Math.floor((vpnEnd - 1 - base) / span));
      for (let i = first; i <= last && leaves < maxLeaves; i++) {
        const lo = t[i * 2];
        const hi = t[i * 2 + 1];
        if ((lo & PTE_PRESENT) === 0) continue;
        const vpn = base + i * span;
        const next = this.entryPfn(lo, hi);
        if (l === n - 1 || (this.large[l] && (lo & PTE_PS) !== 0)) {
          leaves++;
          fn(vpn, l === n - 1 ? next : next - (next % span), span, lo, hi);
        } else {
          walk(next, l + 1, vpn);
        }
      }
    };
    if (vpnEnd > vpnStart) walk(this.rootPfn, 0, 0);
    return leaves;
  }
}
