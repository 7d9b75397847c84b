/**
 * Builds page tables of any x86 paging mode in a FakeMemory (memflow's dummy OffsetPageTable, one per
 * mode): table frames are allocated from `nextPfn` upwards; the root may sit anywhere its mode allows
 * (a PAE PDPT at a 32-byte-aligned address inside a page).
 */
import type { FakeMemory } from './fake-memory.js';
import { PagingMode } from '../../src/introspect/x86/paging.js';

/** Page sizes by name; each must match a level of the mode that allows it (or the last level). */
export type PageSizeName = '4K' | '2M' | '4M' | '1G';
const SHIFT: Record<PageSizeName, number> = { '4K': 12, '2M': 21, '4M': 22, '1G': 30 };

export interface MapOptions {
  /** Low entry bits of the leaf (default P|RW = 0x3). PS is added for a large page. */
  flags?: number;
  /** Set bit 63 in the leaf (8-byte entries only). */
  nx?: boolean;
  /** Low bits of table entries created on the way (default P|RW|US = 0x7; PAE PDPTEs always P only). */
  tableFlags?: number;
  /** Set bit 63 in table entries created on the way. */
  tableNx?: boolean;
}

export interface BuilderOptions {
  /** First frame handed out for tables. */
  nextPfn: number;
  /** Root table address (default: a fresh frame); must be aligned to mode.rootAlign. */
  rootPa?: number;
  /** OR'ed into every address written (an SME C-bit). */
  smeMask?: bigint;
}

export class ModePageTableBuilder {
  readonly rootPa: number;
  private nextPfn: number;
  private readonly smeMask: bigint;

  constructor(readonly mem: FakeMemory, readonly mode: PagingMode, opts: BuilderOptions) {
    this.nextPfn = opts.nextPfn;
    this.smeMask = opts.smeMask ?? 0n;
    if (opts.rootPa !== undefined) {
      if (opts.rootPa % mode.rootAlign !== 0) throw new Error(`root 0x${opts.rootPa.toString(16)} is not ${mode.rootAlign}-byte aligned`);
      this.rootPa = opts.rootPa;
      mem.page(Math.floor(opts.rootPa / 4096));
    } else {
      this.rootPa = this.alloc() * 4096;
    }
  }

  get rootPfn(): number {
    return Math.floor(this.rootPa / 4096);
  }

  alloc(): number {
    const p = this.nextPfn++;
    this.mem.page(p);
    return p;
  }

  /** Physical address of the entry for `va` in the table at `tablePa` at level `l`. */
  entryAddress(tablePa: number, l: number, va: bigint): number {
    const lv = this.mode.levels[l];
    const idx = Number((va >> BigInt(lv.shift)) & ((1n << BigInt(lv.bits)) - 1n));
    return tablePa + idx * this.mode.entryBytes;
  }

  readEntry(pa: number): bigint {
    const b = this.mem.read(pa, this.mode.entryBytes);
    return this.mode.entryBytes === 8 ? b.readBigUInt64LE() : BigInt(b.readUInt32LE());
  }

  writeEntry(pa: number, e: bigint): void {
    const b = Buffer.alloc(this.mode.entryBytes);
    if (this.mode.entryBytes === 8) b.writeBigUInt64LE(BigInt.asUintN(64, e));
    else b.writeUInt32LE(Number(BigInt.asUintN(32, e)));
    this.mem.write(pa, b);
  }

  /** Address an entry holds: for a non-PAE 4 MiB page above 4 GiB, PA bits 32–39 go to bits 13–20 (PSE-36). */
  encodeAddress(pa: number, large: boolean): bigint {
    const a = BigInt(pa);
    if (this.mode.entryBytes === 4) {
      if (a >= 1n << 32n) {
        if (!large) throw new Error(`non-PAE entries cannot hold 0x${pa.toString(16)}`);
        return (a & 0xffc00000n) | (((a >> 32n) & 0xffn) << 13n);
      }
      return a;
    }
    return a | this.smeMask;
  }

  /**
   * Map va → pa with a page of the given size, creating tables on the way. Returns the address of
   * the leaf entry (for tests that poke at it).
   */
  map(va: bigint, pa: number, size: PageSizeName = '4K', opts: MapOptions = {}): number {
    const levels = this.mode.levels;
    const leafShift = SHIFT[size];
    let table = this.rootPa;
    for (let l = 0; l < levels.length; l++) {
      const lv = levels[l];
      const at = this.entryAddress(table, l, va);
      if (lv.shift === leafShift) {
        if (l !== levels.length - 1 && !lv.largeAllowed) throw new Error(`${this.mode.name}: no ${size} pages at ${lv.name}`);
        let e = this.encodeAddress(pa, l !== levels.length - 1) | BigInt(opts.flags ?? 0x3) | (l !== levels.length - 1 ? 0x80n : 0n);
        if (opts.nx) e |= 1n << 63n;
        this.writeEntry(at, e);
        return at;
      }
      if (lv.shift < leafShift) throw new Error(`${this.mode.name}: no level maps ${size} pages`);
      const cur = this.readEntry(at);
      if (cur & 1n) {
        table = Number((cur & ~this.smeMask & BigInt(this.mode.addrMask)));
      } else {
        const t = this.alloc() * 4096;
        let e = this.encodeAddress(t, false) | (lv.accessBits ? BigInt(opts.tableFlags ?? 0x7) : 1n);
        if (opts.tableNx && lv.accessBits) e |= 1n << 63n;
        this.writeEntry(at, e);
        table = t;
      }
    }
    throw new Error('unreachable');
  }

  /** Address of the entry at level `l` on the way to `va` (tables must exist down to l). */
  entryAt(va: bigint, l: number): number {
    let table = this.rootPa;
    for (let i = 0; i < l; i++) {
      const cur = this.readEntry(this.entryAddress(table, i, va));
      table = Number(cur & ~this.smeMask & BigInt(this.mode.addrMask));
    }
    return this.entryAddress(table, l, va);
  }
}
