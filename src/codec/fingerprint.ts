/**
 * Content-defined fingerprints for sub-page redundancy elimination (EndRE's idea, zstd_ldm's gear
 * hash). A gear hash `h = (h << 1) + GEAR[byte]` over 32-bit words depends on exactly the last 32
 * bytes (older bytes are shifted out), so it fingerprints a 32-byte window in one add and one shift
 * per byte. A position is an anchor when the top ANCHOR_BITS bits of h are zero — the top bits mix
 * the whole window (the low bit sees only the last byte; zstd_ldm.c explains the same choice) — so
 * anchors fall at the same content wherever that content sits: in a file of the context, at any
 * offset of a guest page, in an earlier page of the image.
 *
 * The tables are encoder-side only: the format stores matches as (source, offset, length), never
 * fingerprints, so GEAR, the window and the sampling rate can change without changing the format.
 */

export const WINDOW = 32;

/** 256 fixed pseudo-random 32-bit words (xorshift32 from a fixed seed). */
const GEAR = (() => {
  const g = new Int32Array(256);
  let x = 0x2545f491;
  for (let i = 0; i < 256; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    g[i] = x;
  }
  return g;
})();

/**
 * Anchors of buf[off, off+len): window start positions (relative to off) into `pos`, window hashes
 * into `hash`; returns how many (at most pos.length). `bits` sets the rate: one anchor per 2^bits
 * bytes on average.
 */
export function anchors(buf: Uint8Array, off: number, len: number, bits: number, pos: Int32Array, hash: Uint32Array): number {
  const gear = GEAR;
  const maskHigh = bits === 0 ? 0 : (~0 << (32 - bits)) | 0;
  const max = pos.length;
  let h = 0;
  let n = 0;
  const end = off + len;
  // The first WINDOW-1 bytes only fill the window.
  const warm = Math.min(end, off + WINDOW - 1);
  for (let i = off; i < warm; i++) h = ((h << 1) + gear[buf[i]]) | 0;
  for (let i = warm; i < end; i++) {
    h = ((h << 1) + gear[buf[i]]) | 0;
    if ((h & maskHigh) === 0) {
      if (n === max) break;
      pos[n] = i - off - (WINDOW - 1);
      hash[n++] = h >>> 0;
    }
  }
  return n;
}

/**
 * A direct-mapped table: fingerprint → position, newest entry wins (EndRE's bounded index). Keys are
 * the 32-bit window hashes; a slot keeps its key so most false candidates are rejected without
 * touching data. Memory: 12 bytes per slot (Uint32 key + Float64 position), fixed at construction.
 */
export class AnchorTable {
  readonly slots: number;
  private readonly keys: Uint32Array;
  private readonly vals: Float64Array;
  private readonly shift: number;
  entries = 0;

  /** Slots of the table budgetBytes buys: the largest power of two that fits (at least 2^10, at most 2^30). */
  static slotsFor(budgetBytes: number): number {
    let bits = 10;
    while (bits < 30 && (2 ** (bits + 1)) * 12 <= budgetBytes) bits++;
    return 2 ** bits;
  }

  /** The largest power-of-two table that fits in budgetBytes; or a table's saved state. */
  constructor(budgetBytes: number, saved?: { keys: Uint32Array; vals: Float64Array; entries: number }) {
    this.slots = AnchorTable.slotsFor(budgetBytes);
    const bits = Math.log2(this.slots);
    if (saved && (saved.keys.length !== this.slots || saved.vals.length !== this.slots)) throw new Error(`anchor table state of ${saved.keys.length} slots, expected ${this.slots}`);
    this.keys = saved?.keys ?? new Uint32Array(this.slots);
    this.vals = saved?.vals ?? new Float64Array(this.slots).fill(-1);
    this.entries = saved?.entries ?? 0;
    this.shift = 32 - bits;
  }

  /** The table's state (shared, not copied): keys and positions per slot. */
  state(): { keys: Uint32Array; vals: Float64Array; entries: number } {
    return { keys: this.keys, vals: this.vals, entries: this.entries };
  }

  get bytes(): number {
    return this.slots * 12;
  }

  private slot(h: number): number {
    return Math.imul(h, 0x9e3779b1) >>> this.shift;
  }

  put(h: number, value: number): void {
    const s = this.slot(h);
    if (this.vals[s] < 0) this.entries++;
    this.keys[s] = h;
    this.vals[s] = value;
  }

  /** Put only when the slot is empty (keeps the first occurrence: used for the context). */
  putFirst(h: number, value: number): void {
    const s = this.slot(h);
    if (this.vals[s] >= 0) return;
    this.entries++;
    this.keys[s] = h;
    this.vals[s] = value;
  }

  /** The position stored for h, or -1. */
  get(h: number): number {
    const s = this.slot(h);
    return this.keys[s] === h ? this.vals[s] : -1;
  }
}
