/**
 * One page-table walker for every x86 paging mode (memflow mmu/spec.rs, volatility3 layers/intel.py):
 * the mode record (modes.ts) says how many levels, how wide each index is, how big an entry is, where
 * the address bits are and which entries count as valid.
 *
 * Addresses: virtual addresses are handled as page numbers (`vpn` = va >> 12, decanonicalised to the
 * mode's width) so that 57-bit LA57 addresses stay exact in a JS number; physical frames are PFNs.
 * Hot path (house style 9): table pages cached as Uint32Array, an 8-byte entry read as two u32, the
 * mode's per-level numbers copied into typed arrays, no BigInt or allocation per step.
 */
import { PAGE_SIZE, PhysicalMemory } from '../../mem/physical-memory.js';
import { entryAddressMasks, entryPfn, EntryValidity, PagingMode, PTE_NX_HI, PTE_PRESENT, PTE_PS, PTE_RW, PTE_USER, vpnOf } from './modes.js';

/** PS and P: a large page. PS of a not-present entry an OS accepts (a software PTE) is its own bit, not a size. */
const LARGE = PTE_PS | PTE_PRESENT;

/** Flags of the last translation, accumulated over the walk (x86 semantics: RW/US need every level, NX any level). */
export interface WalkFlags {
  writable: boolean;
  user: boolean;
  nx: boolean;
  /** log2 of the mapping's page count: 0 (4 KiB), 9 (2 MiB), 10 (4 MiB), 18 (1 GiB). */
  order: number;
}

export interface WalkerOptions {
  /** NUMBER(sme_mask): the memory-encryption bit to strip from every entry's address. */
  smeMask?: number;
  /** Table pages cached (4 KiB each). */
  cachePages?: number;
}


export class PageTableWalker {
  /** Root table address, aligned down to the mode's rootAlign. */
  readonly rootPa: number;
  /** Frame holding the root table. */
  readonly rootPfn: number;
  /** Flags of the last successful translateVpn(). */
  readonly last: WalkFlags = { writable: false, user: false, nx: false, order: 0 };
  /**
   * After translateVpn() returns -1: how many 4 KiB pages, counted from the start of the failing vpn's
   * aligned region of that size, are unmapped too (volatility3 `invalid_bits`): the span of the entry
   * that was not valid, or of the entry pointing at a table frame the image does not hold. The next
   * vpn worth trying is `vpn - vpn % lastSkipPages + lastSkipPages`.
   */
  lastSkipPages = 1;
  private readonly cache = new Map<number, Uint32Array | null>();
  private readonly cacheLimit: number;
  /** Address masks of an entry's two words (entryAddressMasks), SME bit cleared. */
  private readonly masks: { readonly lo: number; readonly hi: number };
  private readonly valid: EntryValidity;
  /** Entry index of the root table within its frame (non-zero only for a PAE PDPT). */
  private readonly rootBase: number;
  private readonly wide: boolean;
  private readonly n: number;
  /** Per level: pages an entry spans, entries in the table, large page allowed, access bits count. */
  private readonly spans: Float64Array;
  private readonly counts: Int32Array;
  private readonly large: Uint8Array;
  private readonly access: Uint8Array;
  private readonly orders: Int32Array;
  private readonly highMask: number;
  private readonly highMul: number;
  /** Pages of the whole address space (the skip when the root frame is missing). */
  private readonly vaPages: number;

  constructor(readonly mem: PhysicalMemory, readonly mode: PagingMode, rootPa: number, opts: WalkerOptions = {}) {
    this.rootPa = rootPa - (rootPa % mode.rootAlign);
    this.rootPfn = Math.floor(this.rootPa / PAGE_SIZE);
    this.rootBase = (this.rootPa % PAGE_SIZE) / mode.entryBytes;
    this.cacheLimit = opts.cachePages ?? 4096;
    this.masks = entryAddressMasks(mode, opts.smeMask ?? 0);
    this.valid = mode.isValid;
    this.wide = mode.entryBytes === 8;
    this.n = mode.levels.length;
    this.orders = Int32Array.from(mode.levels, (l) => l.shift - 12);
    this.spans = Float64Array.from(mode.levels, (l) => 2 ** (l.shift - 12));
    this.counts = Int32Array.from(mode.levels, (l) => 2 ** l.bits);
    this.large = Uint8Array.from(mode.levels, (l) => (l.largeAllowed ? 1 : 0));
    this.access = Uint8Array.from(mode.levels, (l) => (l.accessBits ? 1 : 0));
    this.highMask = mode.largeHighBits?.mask ?? 0;
    this.highMul = 2 ** ((mode.largeHighBits?.shift ?? 12) - 12);
    this.vaPages = 2 ** (mode.vaBits - 12);
  }

  /** A page-table page as 1024 u32 (1024 4-byte or 512 8-byte entries), or null for a frame the image does not hold. */
  table(pfn: number): Uint32Array | null {
    let t = this.cache.get(pfn);
    if (t !== undefined) return t;
    if (this.cache.size >= this.cacheLimit) this.cache.clear();
    const buf = new Uint8Array(PAGE_SIZE);
    t = this.mem.readPage(pfn, buf) ? new Uint32Array(buf.buffer) : null;
    this.cache.set(pfn, t);
    return t;
  }

  /** Frame number the entry (lo, hi) points to (table or 4 KiB page), SME bit stripped. */
  entryPfn(lo: number, hi: number): number {
    return entryPfn(lo, hi, this.masks);
  }

  /** First frame of the large page a PS entry at `level` maps: aligned to its size, PSE-36 bits added. */
  largePfn(lo: number, hi: number, level: number): number {
    const next = this.entryPfn(lo, hi);
    return next - (next % this.spans[level]) + (lo & this.highMask) * this.highMul;
  }

  /**
   * Translate a virtual page number to a physical frame number, or -1 when not mapped (or a table
   * frame is missing from the image). Sets `last` on success, `lastSkipPages` on failure.
   */
  translateVpn(vpn: number): number {
    let pfn = this.rootPfn;
    let base = this.rootBase;
    let writable = true;
    let user = true;
    let nx = false;
    const n = this.n;
    const spans = this.spans;
    const wide = this.wide;
    for (let l = 0; l < n; l++) {
      const t = this.table(pfn);
      if (t === null) {
        this.lastSkipPages = l === 0 ? this.vaPages : spans[l - 1];
        return -1;
      }
      const span = spans[l];
      const e = base + (Math.floor(vpn / span) % this.counts[l]);
      const lo = wide ? t[e * 2] : t[e];
      const hi = wide ? t[e * 2 + 1] : 0;
      if (!this.valid(lo, hi, l)) {
        this.lastSkipPages = span;
        return -1;
      }
      if (this.access[l] !== 0) {
        writable &&= (lo & PTE_RW) !== 0;
        user &&= (lo & PTE_USER) !== 0;
        nx ||= (hi & PTE_NX_HI) !== 0;
      }
      const leaf = l === n - 1;
      if (leaf || (this.large[l] !== 0 && (lo & LARGE) === LARGE)) {
        const last = this.last;
        last.writable = writable;
        last.user = user;
        last.nx = nx;
        last.order = this.orders[l];
        // Large page: the frame is aligned to its size (bit 12 is PAT, not address); add the offset within.
        return leaf ? this.entryPfn(lo, hi) : this.largePfn(lo, hi, l) + (vpn % span);
      }
      pfn = this.entryPfn(lo, hi);
      base = 0;
    }
    return -1;
  }

  /** Canonical VA → guest-physical address, or -1. */
  translate(va: bigint): number {
    const pfn = this.translateVpn(vpnOf(va, this.mode));
    return pfn < 0 ? -1 : pfn * PAGE_SIZE + Number(va & 0xfffn);
  }

  /**
   * Walk every valid leaf mapping in [vpnStart, vpnEnd), ascending, skipping absent subtrees whole.
   * fn(vpn, pfn, pages, lo, hi) gets one call per leaf entry (pages = 1, 512, 1024 or 262144); `lo`/`hi`
   * are the leaf entry's words (hi = 0 for 4-byte entries). Returns the number of leaves visited;
   * stops after maxLeaves.
   */
  forEachLeaf(vpnStart: number, vpnEnd: number, fn: (vpn: number, pfn: number, pages: number, lo: number, hi: number) => void, maxLeaves = Infinity): number {
    let leaves = 0;
    const n = this.n;
    const wide = this.wide;
    const walk = (pfn: number, l: number, vbase: number, ebase: number): void => {
      const t = this.table(pfn);
      if (t === null) return;
      const span = this.spans[l];
      const first = Math.max(0, Math.floor((vpnStart - vbase) / span));
      const last = Math.min(this.counts[l] - 1, Math.floor((vpnEnd - 1 - vbase) / span));
      for (let i = first; i <= last && leaves < maxLeaves; i++) {
        const e = ebase + i;
        const lo = wide ? t[e * 2] : t[e];
        const hi = wide ? t[e * 2 + 1] : 0;
        if (!this.valid(lo, hi, l)) continue;
        const vpn = vbase + i * span;
        if (l === n - 1) {
          leaves++;
          fn(vpn, this.entryPfn(lo, hi), 1, lo, hi);
        } else if (this.large[l] !== 0 && (lo & LARGE) === LARGE) {
          leaves++;
          fn(vpn, this.largePfn(lo, hi, l), span, lo, hi);
        } else {
          walk(this.entryPfn(lo, hi), l + 1, vpn, 0);
        }
      }
    };
    if (vpnEnd > vpnStart) walk(this.rootPfn, 0, 0, this.rootBase);
    return leaves;
  }
}
