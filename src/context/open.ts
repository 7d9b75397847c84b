/**
 * Reading CTX files (docs/format/context.md): `readContextHeader` checks just the header against
 * the file size; `openContext` also reads and checks the file table and the padding before the
 * content, leaving the content itself unread (a later stage reads or maps it by offset);
 * `verifyContext` reads all content and checks every per-file SHA-256, the ELF and PE flags, the zero
 * padding, and the content digest.
 */
import { createHash } from 'node:crypto';
import { ImageErrorCode, ImageFormatError } from '../util/errors.js';
import { RandomAccessFile } from '../util/file.js';
import {
  contentRegions, CTX_HEADER_SIZE, digestPrefix, ELF_MAGIC, H, isPeFile, parseHeader, parseTable,
  type ContextEntry, type ContextHeader,
} from './format.js';

export function readContextHeader(path: string): ContextHeader & { fileSize: number } {
  const f = new RandomAccessFile(path);
  try {
    return { ...parseHeader(f.read(0, Math.min(f.size, CTX_HEADER_SIZE), 'header'), path, f.size), fileSize: f.size };
  } finally {
    f.close();
  }
}

/** An open, structurally checked CTX file. Close it when done. */
export class ContextFile {
  readonly path: string;
  readonly fileSize: number;
  readonly header: ContextHeader;
  /** Files in table order (byte-wise sorted paths). */
  readonly entries: readonly ContextEntry[];
  private file: RandomAccessFile;

  constructor(file: RandomAccessFile, header: ContextHeader, entries: ContextEntry[]) {
    this.file = file;
    this.path = file.path;
    this.fileSize = file.size;
    this.header = header;
    this.entries = entries;
  }

  /** Find a file by its root-relative path. */
  find(path: string): ContextEntry | undefined {
    const key = Buffer.from(path);
    let lo = 0;
    let hi = this.entries.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = Buffer.compare(this.entries[mid].pathBytes, key);
      if (c === 0) return this.entries[mid];
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** Read `length` bytes at `offset` of the content area into buf[at..]. */
  readContent(offset: number, length: number, buf: Buffer = Buffer.allocUnsafe(length), at = 0): Buffer {
    this.file.check(this.header.contentOffset + offset, length, 'content');
    this.file.readInto(buf, at, length, this.header.contentOffset + offset);
    return buf;
  }

  /** The whole content of one file. */
  read(entry: ContextEntry): Buffer {
    return this.readContent(entry.offset, entry.size);
  }

  close(): void {
    this.file.close();
  }
}

/** Open a CTX file, checking header, table and the padding before the content. */
export function openContext(path: string): ContextFile {
  const f = new RandomAccessFile(path);
  try {
    const h = parseHeader(f.read(0, Math.min(f.size, CTX_HEADER_SIZE), 'header'), path, f.size);
    // parseHeader has checked that the table and the content fit the file: these reads are bounded.
    const entries = parseTable(f.read(CTX_HEADER_SIZE, h.tableLength, 'file table'), h, path);
    const padAt = CTX_HEADER_SIZE + h.tableLength;
    const pad = f.read(padAt, h.contentOffset - padAt, 'padding');
    const nz = pad.findIndex((b) => b !== 0);
    if (nz >= 0) throw new ImageFormatError(ImageErrorCode.BAD_FIELD, 'must be zero', { file: path, offset: padAt + nz, field: 'padding before content' });
    return new ContextFile(f, h, entries);
  } catch (e) {
    f.close();
    throw e;
  }
}

export interface ContextVerifyResult {
  files: number;
  bytesRead: number;
  digest: string;
}

const CHUNK = 1 << 20;

/**
 * Read all content and check it: each file's SHA-256, ELF and PE flags, zero bytes wherever no file
 * lies, and the content digest. Throws ImageFormatError (IMAGE_BAD_FIELD) naming the first mismatch.
 */
export function verifyContext(ctx: ContextFile | string, onProgress?: (bytes: number) => void): ContextVerifyResult {
  const c = typeof ctx === 'string' ? openContext(ctx) : ctx;
  try {
    const h = c.header;
    const buf = Buffer.allocUnsafe(CHUNK);
    const digest = createHash('sha256');
    let bytesRead = 0;
    for (const e of c.entries) {
      const sha = createHash('sha256');
      digest.update(digestPrefix(e.pathBytes, e.size));
      const pe = isPeFile(e.size, (off, len) => c.readContent(e.offset + off, len));
      if (pe !== e.pe) {
        throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `${e.path}: PE flag is ${e.pe ? 'set' : 'clear'} but the content ${e.pe ? 'is not' : 'is'} a PE image (MZ, e_lfanew → "PE\\0\\0")`, { file: c.path, offset: e.tableOffset + 48, field: 'file table entry flags' });
      }
      for (let done = 0; done < e.size;) {
        const n = Math.min(CHUNK, e.size - done);
        c.readContent(e.offset + done, n, buf);
        const chunk = buf.subarray(0, n);
        if (done === 0 && e.elf !== (n >= 4 && chunk.readUInt32LE(0) === ELF_MAGIC)) {
          throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `${e.path}: ELF flag is ${e.elf ? 'set' : 'clear'} but the content ${e.elf ? 'lacks' : 'has'} the ELF magic`, { file: c.path, offset: e.tableOffset + 48, field: 'file table entry flags' });
        }
        sha.update(chunk);
        digest.update(chunk);
        done += n;
        bytesRead += n;
        onProgress?.(bytesRead);
      }
      if (e.size === 0 && e.elf) {
        throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `${e.path}: ELF flag set on an empty file`, { file: c.path, offset: e.tableOffset + 48, field: 'file table entry flags' });
      }
      const got = sha.digest();
      if (!got.equals(e.sha256)) {
        throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `${e.path}: SHA-256 mismatch: the table says ${e.sha256.toString('hex')}, the content hashes to ${got.toString('hex')}`, { file: c.path, offset: h.contentOffset + e.offset, field: `content of ${e.path}` });
      }
    }
    // Bytes between files (page padding) must be zero.
    let cursor = 0;
    for (const r of [...contentRegions(c.entries), { offset: h.contentLength, size: 0 }]) {
      for (let at = cursor; at < r.offset;) {
        const n = Math.min(CHUNK, r.offset - at);
        c.readContent(at, n, buf);
        const nz = buf.subarray(0, n).findIndex((b) => b !== 0);
        if (nz >= 0) throw new ImageFormatError(ImageErrorCode.BAD_FIELD, 'must be zero (no file lies here)', { file: c.path, offset: h.contentOffset + at + nz, field: 'content padding' });
        at += n;
      }
      cursor = Math.max(cursor, r.offset + r.size);
    }
    const d = digest.digest();
    if (!d.equals(h.digest)) {
      throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `mismatch: the header says ${h.digest.toString('hex')}, the files hash to ${d.toString('hex')}`, { file: c.path, offset: H.digest, field: 'content digest' });
    }
    return { files: c.entries.length, bytesRead, digest: d.toString('hex') };
  } finally {
    if (typeof ctx === 'string') c.close();
  }
}
