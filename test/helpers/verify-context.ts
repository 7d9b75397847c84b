/**
 * The reference check of a CTX file's content (docs/format/context.md), for tests and the fuzzer:
 * `verifyContext` reads all content and checks every per-file SHA-256, the ELF and PE flags, the
 * zero padding, and the content digest. mig itself trusts the header's digest (both ends compare it).
 */
import type { ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { writeContext, type ContextBuildResult } from '../../src/context/build.js';
import { tmpPath } from './tmp.js';
import { contentRegions, digestPrefix, ELF_MAGIC, H, isPeFile } from '../../src/context/format.js';
import { ContextFile, openContext } from '../../src/context/open.js';
import { ImageErrorCode, ImageFormatError } from '../../src/util/errors.js';

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

/**
 * Two builds of the same files (say, from a directory and from a file-system image of it) are the same
 * context: the same file list, the same digest, and byte-identical CTX files when written.
 */
export function assertSameContext(t: ExecutionContext, a: ContextBuildResult, b: ContextBuildResult): void {
  t.deepEqual(b.files.map((f) => f.path), a.files.map((f) => f.path));
  t.is(b.digest.toString('hex'), a.digest.toString('hex'));
  const pa = tmpPath('a.ctx');
  const pb = tmpPath('b.ctx');
  writeContext(a, pa);
  writeContext(b, pb);
  t.true(fs.readFileSync(pa).equals(fs.readFileSync(pb)), 'byte-identical CTX files');
}
