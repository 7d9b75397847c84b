/**
 * Page index: 64-bit page hash → slot number, an open-addressing table in two typed arrays.
 * Memory: 16 bytes per entry at load ≤ 0.5, i.e. ≤ 32 bytes per indexed page (0.8 % of the page
 * data it indexes). A hit is a candidate only: callers verify bytes before using it, so hash
 * collisions cost a missed match, never a wrong page. One entry per hash (the first page seen).
 */
import xxhash from 'xxhash-addon';

const { XXHash128 } = xxhash;

export class PageIndex {
  private keys: Uint32Array; // (hi, lo) pairs; 0,0 = empty (a real 0,0 hash is stored as 0,1)
  private vals: Float64Array;
  private mask: number;
  size = 0;

  constructor(expected = 1024) {
    let cap = 1024;
    while (cap < expected * 2) cap *= 2;
    this.keys = new Uint32Array(cap * 2);
    this.vals = new Float64Array(cap);
    this.mask = cap - 1;
  }

  /** The slot stored for this hash, or -1. */
  get(hi: number, lo: number): number {
    if (hi === 0 && lo === 0) lo = 1;
    let i = (lo ^ Math.imul(hi, 0x9e3779b1)) & this.mask;
    for (;;) {
      const kh = this.keys[2 * i];
      const kl = this.keys[2 * i + 1];
      if (kh === 0 && kl === 0) return -1;
      if (kh === hi >>> 0 && kl === lo >>> 0) return this.vals[i];
      i = (i + 1) & this.mask;
    }
  }

  /** Store value for the hash unless the hash is present already. */
  add(hi: number, lo: number, value: number): void {
    if (hi === 0 && lo === 0) lo = 1;
    if ((this.size + 1) * 2 > this.vals.length) this.grow();
    let i = (lo ^ Math.imul(hi, 0x9e3779b1)) & this.mask;
    for (;;) {
      const kh = this.keys[2 * i];
      const kl = this.keys[2 * i + 1];
      if (kh === 0 && kl === 0) break;
      if (kh === hi >>> 0 && kl === lo >>> 0) return;
      i = (i + 1) & this.mask;
    }
    this.keys[2 * i] = hi;
    this.keys[2 * i + 1] = lo;
    this.vals[i] = value;
    this.size++;
  }

  private grow(): void {
    const oldK = this.keys;
    const oldV = this.vals;
    const cap = oldV.length * 2;
    this.keys = new Uint32Array(cap * 2);
    this.vals = new Float64Array(cap);
    this.mask = cap - 1;
    this.size = 0;
    for (let i = 0; i < oldV.length; i++) {
      if (oldK[2 * i] !== 0 || oldK[2 * i + 1] !== 0) this.add(oldK[2 * i], oldK[2 * i + 1], oldV[i]);
    }
  }
}

/** xxh3-128 of a 4 KiB page, folded to the 64 bits the index keys on: [hi, lo]. */
export function pageHash(buf: Buffer, off: number, out: Uint32Array): void {
  const h = XXHash128.hash(buf.subarray(off, off + 4096));
  out[0] = h.readUInt32LE(0) ^ h.readUInt32LE(8);
  out[1] = h.readUInt32LE(4) ^ h.readUInt32LE(12);
}
