/**
 * File access for readers: positional reads with bounds checks that name the file and offset,
 * and a sequential buffered reader for streams parsed front to back.
 */
import * as fs from 'node:fs';
import { ImageErrorCode, ImageFormatError, UsageError } from './errors.js';
import { mapRange } from './mmap.js';

/** What kind of file a Stats describes, for messages: "a directory", "a FIFO", "a character device", … */
export function fileKind(st: fs.Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

/** What changes when a file is rewritten, replaced or truncated: size, modification time, inode. */
export interface FileIdentity {
  size: number;
  mtimeNs: string;
  ino: string;
}

export function fileIdentity(file: string): FileIdentity {
  const st = fs.statSync(file, { bigint: true });
  return { size: Number(st.size), mtimeNs: st.mtimeNs.toString(), ino: st.ino.toString() };
}

export const sameIdentity = (a: FileIdentity, b: FileIdentity): boolean => a.size === b.size && a.mtimeNs === b.mtimeNs && a.ino === b.ino;

/** Bytes of a block device: /sys/dev/block/MAJOR:MINOR/size counts 512-byte sectors. */
export function blockDeviceSize(st: fs.Stats, path: string): number {
  const major = Math.floor(st.rdev / 256) & 0xfff;
  const minor = (st.rdev & 0xff) | (Math.floor(st.rdev / 4096) & 0xfff00);
  const sys = `/sys/dev/block/${major}:${minor}/size`;
  let sectors: number;
  try {
    sectors = Number(fs.readFileSync(sys, 'utf8').trim());
  } catch (e) {
    throw new UsageError(`cannot find the size of block device ${path} (${sys}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file: path });
  }
  if (!Number.isSafeInteger(sectors) || sectors < 0) throw new UsageError(`cannot find the size of block device ${path} (${sys} says ${sectors})`, { file: path });
  return sectors * 512;
}

/** A file opened for positional reads. Every read is checked against the file size first. */
export class RandomAccessFile {
  readonly path: string;
  readonly size: number;
  private fd: number;

  constructor(path: string) {
    this.path = path;
    try {
      // O_NONBLOCK: opening a FIFO must not wait for a writer before fstat can refuse it (regular
      // files and block devices read the same with it).
      this.fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    } catch (e) {
      throw new UsageError(`cannot open ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: path });
    }
    const st = fs.fstatSync(this.fd);
    if (!st.isFile() && !st.isBlockDevice()) {
      fs.closeSync(this.fd);
      throw new UsageError(`${path} is ${fileKind(st)}, not a regular file (mig reads it at random offsets)`, { file: path });
    }
    // A block device's stat size is 0: its size is in sysfs (512-byte sectors).
    this.size = st.isBlockDevice() ? blockDeviceSize(st, path) : st.size;
  }

  /** Throw a truncation error unless [pos, pos+len) lies inside the file. */
  check(pos: number, len: number, field: string): void {
    if (!(pos >= 0 && len >= 0 && pos + len <= this.size)) {
      throw new ImageFormatError(ImageErrorCode.TRUNCATED,
        `needs ${len} bytes but the file ends at ${this.size}`, { file: this.path, offset: pos, field });
    }
  }

  /** Read exactly len bytes at pos into a new Buffer (len must be checked small by the caller). */
  read(pos: number, len: number, field: string): Buffer {
    this.check(pos, len, field);
    const buf = Buffer.allocUnsafe(len);
    this.readInto(buf, 0, len, pos);
    return buf;
  }

  /** Read exactly len bytes at file position pos into buf[off..]. Bounds must already be checked. */
  readInto(buf: Uint8Array, off: number, len: number, pos: number): void {
    let done = 0;
    while (done < len) {
      const n = fs.readSync(this.fd, buf, off + done, len - done, pos + done);
      if (n === 0) {
        throw new ImageFormatError(ImageErrorCode.TRUNCATED, 'file shrank while reading', { file: this.path, offset: pos + done });
      }
      done += n;
    }
  }

  /**
   * [pos, pos+len) mapped into memory (util/mmap.ts: no copy, no fresh pages); bounds checked like a
   * read. The mapping outlives close() and goes when the Buffer is collected.
   */
  map(pos: number, len: number, field: string, populate = false): Buffer {
    this.check(pos, len, field);
    return mapRange(this.fd, pos, len, populate);
  }

  close(): void {
    if (this.fd >= 0) {
      fs.closeSync(this.fd);
      this.fd = -1;
    }
  }
}

/**
 * Sequential reader over a byte range of a file with a large refill buffer. Parsers read fields
 * through it; `pos` is always the absolute file offset of the next unread byte, so errors can name it.
 * Reads are bounded by `end`: asking for bytes past it throws IMAGE_TRUNCATED naming the field.
 */
export class SequentialReader {
  readonly file: RandomAccessFile;
  readonly end: number;
  /** Current buffer and the file offset of its first byte. */
  buf: Buffer;
  bufStart = 0;
  bufLen = 0;
  /** Index of the next unread byte in buf. */
  at = 0;

  constructor(file: RandomAccessFile, start: number, end = file.size, bufferSize = 1 << 20) {
    this.file = file;
    this.end = end;
    this.buf = Buffer.allocUnsafe(bufferSize);
    this.bufStart = start;
  }

  get pos(): number {
    return this.bufStart + this.at;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  /**
   * Make sure n bytes are in the buffer at `at`, refilling it from the file; throws a truncation
   * error naming the field when the data ends first.
   */
  ensure(n: number, field: string): void {
    if (this.at + n <= this.bufLen) return;
    const pos = this.pos;
    if (pos + n > this.end) {
      throw new ImageFormatError(ImageErrorCode.TRUNCATED,
        `needs ${n} bytes but the data ends at ${this.end}`, { file: this.file.path, offset: pos, field });
    }
    if (n > this.buf.length) this.buf = Buffer.allocUnsafe(Math.max(n, this.buf.length * 2));
    const keep = this.bufLen - this.at;
    if (keep > 0) this.buf.copy(this.buf, 0, this.at, this.bufLen);
    this.bufStart = pos;
    this.at = 0;
    const want = Math.min(this.buf.length - keep, this.end - (pos + keep));
    this.file.readInto(this.buf, keep, want, pos + keep);
    this.bufLen = keep + want;
  }

  u8(field: string): number {
    this.ensure(1, field);
    return this.buf[this.at++];
  }

  u16be(field: string): number {
    this.ensure(2, field);
    const v = this.buf.readUInt16BE(this.at);
    this.at += 2;
    return v;
  }

  u32be(field: string): number {
    this.ensure(4, field);
    const v = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }

  /** A big-endian u64 as a number; values ≥ 2^53 throw (no field mig reads can be that large legitimately). */
  u64be(field: string): number {
    this.ensure(8, field);
    const hi = this.buf.readUInt32BE(this.at);
    const lo = this.buf.readUInt32BE(this.at + 4);
    if (hi >= 0x200000) {
      throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `value 0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')} is too large`,
        { file: this.file.path, offset: this.pos, field });
    }
    this.at += 8;
    return hi * 0x100000000 + lo;
  }

  /** A view (not a copy) of the next n bytes; valid until the next read. */
  view(n: number, field: string): Buffer {
    this.ensure(n, field);
    const v = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }

  /** A copy of the next n bytes. */
  bytes(n: number, field: string): Buffer {
    return Buffer.from(this.view(n, field));
  }

  /** Skip n bytes without reading them (n checked against the end). */
  skip(n: number, field: string): void {
    if (this.at + n <= this.bufLen) {
      this.at += n;
      return;
    }
    const target = this.pos + n;
    if (target > this.end) {
      throw new ImageFormatError(ImageErrorCode.TRUNCATED,
        `needs ${n} bytes but the data ends at ${this.end}`, { file: this.file.path, offset: this.pos, field });
    }
    this.bufStart = target;
    this.at = 0;
    this.bufLen = 0;
  }

  /** Peek one byte without consuming it; returns -1 at the end of data. */
  peek(): number {
    if (this.pos >= this.end) return -1;
    this.ensure(1, 'peek');
    return this.buf[this.at];
  }
}
