/**
 * The CTX file layout (docs/format/context.md): constants, header and file-table encoding, and
 * their parsing with every structural check. Pure functions over Buffers; open.ts does the I/O.
 *
 *   header (128 bytes) | file table (variable) | zero padding to 4096 | content (page-aligned files)
 *
 * Parsing checks each field before it is used: lengths against the real file size before any
 * allocation, reserved bits, path syntax and order, and that every file lies inside the content.
 * Errors are ImageFormatError naming the CTX file, the absolute offset and the field.
 */
import { createHash } from 'node:crypto';
import { ImageErrorCode, ImageFormatError, UnsupportedImageError } from '../util/errors.js';

/** "MIGCTX", NUL, 0x01. The last byte is fixed; format revisions change `version`. §Header */
export const CTX_MAGIC = Buffer.from([0x4d, 0x49, 0x47, 0x43, 0x54, 0x58, 0x00, 0x01]);
export const CTX_VERSION = 1;
export const CTX_HEADER_SIZE = 128;
/** log2 of the content alignment: every file starts on a 4 KiB boundary of the content area. */
export const CTX_PAGE_SHIFT = 12;
export const CTX_PAGE = 1 << CTX_PAGE_SHIFT;
/** Fixed part of a file-table entry; the path bytes follow. §File table */
export const CTX_ENTRY_FIXED = 52;
export const CTX_MAX_PATH = 4095;
/** "\x7fELF" read as a u32 LE: the first four bytes of every ELF file. */
export const ELF_MAGIC = 0x464c457f;
/** "MZ" read as a u16 LE: the DOS header of every PE file. */
export const MZ_MAGIC = 0x5a4d;
/** "PE\0\0" read as a u32 LE: the PE signature at the DOS header's e_lfanew. */
export const PE_SIGNATURE = 0x00004550;
/** Offset of e_lfanew (u32) in the DOS header. */
export const PE_LFANEW_OFFSET = 0x3c;
/** Entry flag bits; the others are reserved and must be 0. ELF and PE exclude each other. */
export const CtxEntryFlag = { ELF: 1, PE: 2 } as const;

/**
 * Whether a file of `size` bytes is a PE image: "MZ" at 0, and the u32 e_lfanew at 0x3c points at
 * "PE\0\0" lying wholly inside the file. `read(offset, length)` returns the file's bytes there
 * (callers only ask for ranges inside the file). Every offset is checked against `size` first.
 */
export function isPeFile(size: number, read: (offset: number, length: number) => Buffer): boolean {
  if (size < PE_LFANEW_OFFSET + 4) return false;
  const dos = read(0, PE_LFANEW_OFFSET + 4);
  if (dos.readUInt16LE(0) !== MZ_MAGIC) return false;
  const lfanew = dos.readUInt32LE(PE_LFANEW_OFFSET);
  if (lfanew > size - 4) return false;
  return read(lfanew, 4).readUInt32LE(0) === PE_SIGNATURE;
}

/** Field offsets in the header. */
export const H = {
  magic: 0, version: 8, headerSize: 10, flags: 12, fileCount: 16, pageShift: 20,
  tableLength: 24, contentOffset: 32, contentLength: 40, fileBytes: 48, reserved: 56,
  digest: 64, tableSha256: 96,
} as const;

export interface ContextHeader {
  version: number;
  fileCount: number;
  tableLength: number;
  /** Absolute file offset of the content area (a multiple of 4096). */
  contentOffset: number;
  /** Stored content bytes, page-padded, equal contents once. */
  contentLength: number;
  /** Sum of all file sizes (what the files would take without sharing and padding). */
  fileBytes: number;
  /** SHA-256 over (path, NUL, size u64 LE, content) of every file in table order. */
  digest: Buffer;
  tableSha256: Buffer;
}

export interface ContextEntry {
  path: string;
  pathBytes: Buffer;
  /** Offset in the content area (add header.contentOffset for the file offset); 0 for empty files. */
  offset: number;
  size: number;
  sha256: Buffer;
  /** Flag bit 0: the content starts with the ELF magic. */
  elf: boolean;
  /** Flag bit 1: the content is a PE image (isPeFile). */
  pe: boolean;
  /** Absolute file offset of this entry in the table (for error messages). */
  tableOffset: number;
}

export const alignPage = (n: number): number => Math.ceil(n / CTX_PAGE) * CTX_PAGE;

function u64(buf: Buffer, off: number, file: string, at: number, field: string): number {
  const hi = buf.readUInt32LE(off + 4);
  if (hi >= 0x200000) throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `value ${buf.readBigUInt64LE(off)} exceeds 2^53`, { file, offset: at, field });
  return hi * 0x1_0000_0000 + buf.readUInt32LE(off);
}

function putU64(buf: Buffer, off: number, v: number): void {
  buf.writeUInt32LE(v >>> 0, off);
  buf.writeUInt32LE(Math.floor(v / 0x1_0000_0000), off + 4);
}

/** The bytes the content digest covers before each file's content: path, NUL, size as u64 LE. */
export function digestPrefix(pathBytes: Buffer, size: number): Buffer {
  const b = Buffer.alloc(pathBytes.length + 9);
  pathBytes.copy(b, 0);
  putU64(b, pathBytes.length + 1, size);
  return b;
}

export function encodeHeader(h: Omit<ContextHeader, 'version'>): Buffer {
  const b = Buffer.alloc(CTX_HEADER_SIZE);
  CTX_MAGIC.copy(b, H.magic);
  b.writeUInt16LE(CTX_VERSION, H.version);
  b.writeUInt16LE(CTX_HEADER_SIZE, H.headerSize);
  b.writeUInt32LE(h.fileCount, H.fileCount);
  b.writeUInt32LE(CTX_PAGE_SHIFT, H.pageShift);
  putU64(b, H.tableLength, h.tableLength);
  putU64(b, H.contentOffset, h.contentOffset);
  putU64(b, H.contentLength, h.contentLength);
  putU64(b, H.fileBytes, h.fileBytes);
  h.digest.copy(b, H.digest);
  h.tableSha256.copy(b, H.tableSha256);
  return b;
}

export function encodeTable(entries: readonly Pick<ContextEntry, 'pathBytes' | 'offset' | 'size' | 'sha256' | 'elf' | 'pe'>[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const b = Buffer.alloc(CTX_ENTRY_FIXED + e.pathBytes.length);
    putU64(b, 0, e.offset);
    putU64(b, 8, e.size);
    e.sha256.copy(b, 16);
    b.writeUInt16LE((e.elf ? CtxEntryFlag.ELF : 0) | (e.pe ? CtxEntryFlag.PE : 0), 48);
    b.writeUInt16LE(e.pathBytes.length, 50);
    e.pathBytes.copy(b, CTX_ENTRY_FIXED);
    parts.push(b);
  }
  return Buffer.concat(parts);
}

/**
 * Parse and check the header. `head` holds the first min(fileSize, 128) bytes. Checks every field
 * that does not need the table: magic, version, reserved values, and that the table and content
 * the header announces fit the file exactly.
 */
export function parseHeader(head: Buffer, file: string, fileSize: number): ContextHeader {
  const bad = (offset: number, field: string, what: string, code: string = ImageErrorCode.BAD_FIELD) =>
    new ImageFormatError(code, what, { file, offset, field });
  if (head.length < CTX_MAGIC.length || !head.subarray(0, 8).equals(CTX_MAGIC)) {
    const got = head.subarray(0, 8).toString('hex');
    throw bad(0, 'magic', `not a CTX file: magic is ${got || '(empty file)'}, expected ${CTX_MAGIC.toString('hex')} ("MIGCTX\\0\\x01")`, ImageErrorCode.BAD_MAGIC);
  }
  if (fileSize < CTX_HEADER_SIZE) throw bad(0, 'header', `the ${CTX_HEADER_SIZE}-byte header runs past the end of the file (${fileSize} bytes)`, ImageErrorCode.TRUNCATED);
  const version = head.readUInt16LE(H.version);
  if (version !== CTX_VERSION) throw new UnsupportedImageError(`CTX version ${version}; this mig reads version ${CTX_VERSION}`, { file, offset: H.version, field: 'version' });
  const headerSize = head.readUInt16LE(H.headerSize);
  if (headerSize !== CTX_HEADER_SIZE) throw bad(H.headerSize, 'header size', `is ${headerSize}, must be ${CTX_HEADER_SIZE}`);
  const flags = head.readUInt32LE(H.flags);
  if (flags !== 0) throw bad(H.flags, 'flags', `reserved bits set (0x${flags.toString(16)})`);
  const pageShift = head.readUInt32LE(H.pageShift);
  if (pageShift !== CTX_PAGE_SHIFT) throw bad(H.pageShift, 'page shift', `is ${pageShift}, must be ${CTX_PAGE_SHIFT}`);
  if (head.readUInt32LE(H.reserved) !== 0 || head.readUInt32LE(H.reserved + 4) !== 0) throw bad(H.reserved, 'reserved', 'must be zero');

  const fileCount = head.readUInt32LE(H.fileCount);
  const tableLength = u64(head, H.tableLength, file, H.tableLength, 'table length');
  const contentOffset = u64(head, H.contentOffset, file, H.contentOffset, 'content offset');
  const contentLength = u64(head, H.contentLength, file, H.contentLength, 'content length');
  const fileBytes = u64(head, H.fileBytes, file, H.fileBytes, 'file bytes');

  if (CTX_HEADER_SIZE + tableLength > fileSize) {
    throw bad(CTX_HEADER_SIZE, 'file table', `table of ${tableLength} bytes (header field at ${H.tableLength}) runs past the end of the file (${fileSize} bytes)`, ImageErrorCode.TRUNCATED);
  }
  if (tableLength < fileCount * CTX_ENTRY_FIXED) throw bad(H.tableLength, 'table length', `${tableLength} bytes cannot hold ${fileCount} entries of at least ${CTX_ENTRY_FIXED} bytes`);
  const expectOffset = alignPage(CTX_HEADER_SIZE + tableLength);
  if (contentOffset !== expectOffset) throw bad(H.contentOffset, 'content offset', `is ${contentOffset}, must be ${expectOffset} (header + table rounded up to ${CTX_PAGE})`);
  if (contentLength % CTX_PAGE !== 0) throw bad(H.contentLength, 'content length', `${contentLength} is not a multiple of ${CTX_PAGE}`);
  if (contentOffset + contentLength > fileSize) {
    throw bad(contentOffset, 'content', `${contentLength} content bytes announced at ${H.contentLength} run past the end of the file (${fileSize} bytes)`, ImageErrorCode.TRUNCATED);
  }
  if (contentOffset + contentLength < fileSize) throw bad(contentOffset + contentLength, 'end of content', `${fileSize - contentOffset - contentLength} bytes follow the content`);
  return {
    version, fileCount, tableLength, contentOffset, contentLength, fileBytes,
    digest: Buffer.from(head.subarray(H.digest, H.digest + 32)),
    tableSha256: Buffer.from(head.subarray(H.tableSha256, H.tableSha256 + 32)),
  };
}

function badPath(p: Buffer): string | undefined {
  if (p.includes(0)) return 'contains a NUL byte';
  const segs = p.toString('latin1').split('/');
  if (segs[0] === '') return 'starts with "/"';
  if (segs.some((s) => s === '' || s === '.' || s === '..')) return 'has an empty, "." or ".." component';
  return undefined;
}

/**
 * Parse and check the file table (`table` = its bytes, which start at file offset 128): entry
 * bounds, reserved flags, path syntax, strictly increasing byte order of paths, each file inside
 * the content area and page-aligned, files sharing an offset identical, no overlaps, the sizes
 * adding up to `fileBytes`, and finally the table's SHA-256.
 */
export function parseTable(table: Buffer, h: ContextHeader, file: string): ContextEntry[] {
  const entries: ContextEntry[] = [];
  let pos = 0;
  let prev: Buffer | undefined;
  let sum = 0;
  for (let i = 0; i < h.fileCount; i++) {
    const at = CTX_HEADER_SIZE + pos;
    const field = `file table entry ${i}`;
    const bad = (what: string, offset = at, code: string = ImageErrorCode.BAD_FIELD) => new ImageFormatError(code, what, { file, offset, field });
    if (pos + CTX_ENTRY_FIXED > table.length) throw bad(`entry needs ${CTX_ENTRY_FIXED} bytes, the table (${h.tableLength} bytes) ends first`, at, ImageErrorCode.TRUNCATED);
    const offset = u64(table, pos, file, at, `${field} offset`);
    const size = u64(table, pos + 8, file, at + 8, `${field} size`);
    const flags = table.readUInt16LE(pos + 48);
    const pathLen = table.readUInt16LE(pos + 50);
    if (flags & ~(CtxEntryFlag.ELF | CtxEntryFlag.PE)) throw bad(`reserved flag bits set (0x${flags.toString(16)})`, at + 48);
    if ((flags & CtxEntryFlag.ELF) && (flags & CtxEntryFlag.PE)) throw bad('ELF and PE flags both set (a file cannot start with both magics)', at + 48);
    if (pathLen === 0 || pathLen > CTX_MAX_PATH) throw bad(`path length ${pathLen} is outside 1..${CTX_MAX_PATH}`, at + 50);
    if (pos + CTX_ENTRY_FIXED + pathLen > table.length) throw bad(`path of ${pathLen} bytes runs past the end of the table (${h.tableLength} bytes)`, at + CTX_ENTRY_FIXED, ImageErrorCode.TRUNCATED);
    const pathBytes = Buffer.from(table.subarray(pos + CTX_ENTRY_FIXED, pos + CTX_ENTRY_FIXED + pathLen));
    const path = pathBytes.toString('utf8');
    const why = badPath(pathBytes);
    if (why) throw bad(`path ${JSON.stringify(path)} ${why}`, at + CTX_ENTRY_FIXED);
    if (prev && Buffer.compare(prev, pathBytes) >= 0) throw bad(`path ${JSON.stringify(path)} does not sort strictly after the previous one`, at + CTX_ENTRY_FIXED);
    if (size === 0 ? offset !== 0 : offset % CTX_PAGE !== 0) throw bad(`${path}: offset ${offset} must be ${size === 0 ? '0 for an empty file' : `a multiple of ${CTX_PAGE}`}`);
    if (offset + size > h.contentLength) {
      throw bad(`${path}: ${size} bytes at content offset ${offset} run past the end of the content (${h.contentLength} bytes, file ends at ${h.contentOffset + h.contentLength})`, at, ImageErrorCode.TRUNCATED);
    }
    entries.push({ path, pathBytes, offset, size, sha256: Buffer.from(table.subarray(pos + 16, pos + 48)), elf: (flags & CtxEntryFlag.ELF) !== 0, pe: (flags & CtxEntryFlag.PE) !== 0, tableOffset: at });
    sum += size;
    prev = pathBytes;
    pos += CTX_ENTRY_FIXED + pathLen;
  }
  if (pos !== table.length) {
    throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `${table.length - pos} bytes after the last of ${h.fileCount} entries`, { file, offset: CTX_HEADER_SIZE + pos, field: 'file table' });
  }
  if (sum !== h.fileBytes) throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `is ${h.fileBytes}, the table's sizes add up to ${sum}`, { file, offset: H.fileBytes, field: 'file bytes' });
  checkRegions(entries, file);
  const sha = createHash('sha256').update(table).digest();
  if (!sha.equals(h.tableSha256)) {
    throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `mismatch: header says ${h.tableSha256.toString('hex')}, the table hashes to ${sha.toString('hex')}`, { file, offset: H.tableSha256, field: 'table SHA-256' });
  }
  return entries;
}

/** The distinct non-empty content regions, sorted by offset (files with equal content share one). */
export function contentRegions(entries: readonly ContextEntry[]): ContextEntry[] {
  const byOffset = new Map<number, ContextEntry>();
  for (const e of entries) if (e.size > 0 && !byOffset.has(e.offset)) byOffset.set(e.offset, e);
  return [...byOffset.values()].sort((a, b) => a.offset - b.offset);
}

function checkRegions(entries: readonly ContextEntry[], file: string): void {
  const first = new Map<number, ContextEntry>();
  for (const e of entries) {
    if (e.size === 0) continue;
    const f = first.get(e.offset);
    if (!f) first.set(e.offset, e);
    else if (f.size !== e.size || !f.sha256.equals(e.sha256)) {
      throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `${e.path} shares content offset ${e.offset} with ${f.path} but differs in size or SHA-256`, { file, offset: e.tableOffset, field: 'file table entry offset' });
    }
  }
  const regions = contentRegions(entries);
  for (let i = 1; i < regions.length; i++) {
    const a = regions[i - 1];
    const b = regions[i];
    if (a.offset + a.size > b.offset) {
      throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `${b.path} at content offset ${b.offset} overlaps ${a.path} (${a.offset}+${a.size})`, { file, offset: b.tableOffset, field: 'file table entry offset' });
    }
  }
}
