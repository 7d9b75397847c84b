/**
 * Reading CTX files (docs/format/context.md): `readContextHeader` checks just the header against
 * the file size; `openContext` also reads and checks the file table and the padding before the
 * content, leaving the content itself unread (a later stage reads or maps it by offset). Checking
 * the content itself (every SHA-256, the flags, the padding, the digest) is the tests' reference
 * checker, test/helpers/verify-context.ts: mig trusts the header's digest, which both ends compare.
 */
import { ImageErrorCode, ImageFormatError } from '../util/errors.js';
import { RandomAccessFile } from '../util/file.js';
import {
  CTX_HEADER_SIZE, parseHeader, parseTable,
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

  /** The content area [offset, offset+length) mapped into memory, every page faulted in (RandomAccessFile.map). */
  mapContent(offset: number, length: number): Buffer {
    return this.file.map(this.header.contentOffset + offset, length, 'content', true);
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
