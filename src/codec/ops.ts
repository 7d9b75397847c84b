/**
 * The ops a DATA frame carries (docs/format/mig-v1.md, "Ops"). A frame's raw content is two parts,
 * coded separately so each technique's output bytes can be accounted for: the op stream (structure
 * bytes and page references) and the literal stream (whole pages sent as they are).
 */
export const Op = {
  /** varint n, then n structure bytes (everything of the image that is not a page slot). */
  BYTES: 0x01,
  /** varint n: the next n slots are zero pages. */
  ZERO: 0x02,
  /** the next slot is the next 4096 bytes of the literal stream. */
  LIT: 0x03,
  /** varint d ≥ 1: the next slot equals slot (current − d) of this image. */
  DUP: 0x04,
  /** varint zigzag(f − (last baseline frame + 1)): the next slot equals baseline frame f. */
  BASE: 0x05,
  /** varint n: the next n slots equal the baseline frames following the last one used. */
  BASE_RUN: 0x06,
  /** varint zigzag(p − (last context page + 1)): the next slot equals context page p. */
  CTX: 0x07,
  /** varint n: the next n slots equal the context pages following the last one used. */
  CTX_RUN: 0x08,
  /**
   * varint nseg, then nseg segments (varint lit, varint len, and when len > 0: u8 source, operands):
   * one slot built from literal runs (taken from the literal stream) and byte ranges of the context,
   * an earlier slot, or a baseline frame (docs/format/mig-v1.md, "PATCH").
   */
  PATCH: 0x09,
} as const;

/** Growable byte buffer for building a frame's streams. */
export class ByteWriter {
  buf: Buffer;
  length = 0;
  constructor(capacity = 1 << 16) {
    this.buf = Buffer.allocUnsafe(capacity);
  }
  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.length++] = v;
  }
  varint(v: number): void {
    this.room(10);
    while (v >= 0x80) {
      this.buf[this.length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.length++] = v;
  }
  bytes(b: Uint8Array, off = 0, len = b.length - off): void {
    this.room(len);
    this.buf.set(b.subarray(off, off + len), this.length);
    this.length += len;
  }
  /**
   * The bytes written so far, as a view of the internal buffer, and the writer emptied: the view is
   * valid until the next write (CodecPool.compress copies or consumes it before returning).
   */
  takeView(): Buffer {
    const out = this.buf.subarray(0, this.length);
    this.length = 0;
    return out;
  }
}

export const zigzag = (v: number) => (v >= 0 ? 2 * v : -2 * v - 1);
export const unzigzag = (v: number) => (v % 2 === 0 ? v / 2 : -(v + 1) / 2);

/** Reads an op stream; every read is bounds-checked and failures name the op's offset. */
export class OpReader {
  pos = 0;
  constructor(readonly buf: Buffer, private readonly fail: (offset: number, what: string) => Error) {}
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  u8(): number {
    if (this.pos >= this.buf.length) throw this.fail(this.pos, 'op stream ends inside an op');
    return this.buf[this.pos++];
  }
  varint(): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 0x80;
    }
    throw this.fail(this.pos, 'varint longer than 8 bytes');
  }
  bytes(n: number): Buffer {
    if (this.pos + n > this.buf.length) throw this.fail(this.pos, `op needs ${n} bytes, ${this.buf.length - this.pos} left`);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}
