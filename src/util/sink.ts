/** Output sinks: buffered file writes that only become visible under their final name on success. */
import type { Hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeAllSync } from './fd.js';
import { MigError, UsageError } from './errors.js';
import { fileKind } from './file.js';
import { registerTemp } from './temp-files.js';

/** A sink bytes are emitted into, front to back (the .mig encoder's output, a rebuilt container). */
export interface ByteSink {
  write(chunk: Uint8Array): void;
}

/**
 * Check an output path before any work is done for it. mig writes an output to a temp file in the
 * same directory and renames it over the path on success, so the path must name a regular file or
 * nothing, in an existing directory mig can create files in. Refused (USAGE, naming the path): a
 * missing or unwritable parent directory, a path ending in `/`, a directory, a device, FIFO or
 * socket (renaming over it would replace it with a regular file), and a symbolic link (renaming
 * over it would replace the link, not write to the file it points to; give that path instead).
 */
export function checkOutputPath(p: string): void {
  const refuse = (what: string) => new UsageError(`cannot write ${p}: ${what}`, { file: p });
  if (p === '') throw new UsageError('the output path is empty');
  if (p.endsWith('/')) throw refuse('the path names a directory (it ends in /); give a file name');
  let st: fs.Stats | undefined;
  try {
    st = fs.lstatSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw refuse('a component of the path is not a directory');
    if (code !== 'ENOENT') throw refuse(code ?? String(e));
  }
  if (st) {
    if (st.isSymbolicLink()) {
      let target = '';
      try {
        target = ` (to ${fs.readlinkSync(p)})`;
      } catch { /* named without it */ }
      throw refuse(`it is a symbolic link${target}; mig replaces its output by rename and would replace the link itself: give the path of the file it points to`);
    }
    if (st.isDirectory()) throw refuse('it is a directory; give a file name');
    if (!st.isFile()) throw refuse(`it is ${fileKind(st)}; mig writes only regular files (a temp file renamed over the path would replace it)`);
  }
  const dir = path.dirname(p);
  let dst: fs.Stats;
  try {
    dst = fs.statSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw refuse(code === 'ENOENT' ? `directory ${dir} does not exist` : `directory ${dir}: ${code ?? e}`);
  }
  if (!dst.isDirectory()) throw refuse(`${dir} is not a directory`);
  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (e) {
    throw refuse(`cannot create files in ${dir} (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
}

/** Create a new temp file exclusively (never through a symlink or over a file of another process); a stale one of this pid is replaced. */
function createTemp(tmpPath: string, finalPath: string, mode = 0o644): number {
  const flags = fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
  for (let attempt = 0; ; attempt++) {
    try {
      return fs.openSync(tmpPath, flags, mode);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && attempt === 0) {
        fs.rmSync(tmpPath, { force: true }); // left by a dead process that had this pid
        continue;
      }
      throw new UsageError(`cannot write ${finalPath}: cannot create its temp file ${tmpPath} (${code ?? e})`, { file: finalPath });
    }
  }
}

/** fsync a directory, making the renames and creations in it durable. */
export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Collects bytes in memory (tests, small outputs). */
export class BufferSink implements ByteSink {
  private chunks: Buffer[] = [];
  length = 0;
  write(chunk: Uint8Array): void {
    this.chunks.push(Buffer.from(chunk));
    this.length += chunk.length;
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }
}

/**
 * A failed write, fsync or rename of an output (a full disk: ENOSPC, EDQUOT; EIO) as a MigError WRITE
 * naming the file, the errno and how far it got; anything that is not an errno error passes through.
 */
export function writeError(e: unknown, file: string, bytes: number): unknown {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (typeof code !== 'string' || !/^E[A-Z]+$/.test(code)) return e;
  const why = code === 'ENOSPC' ? 'no space left on the device' : code === 'EDQUOT' ? 'disk quota exceeded' : `${(e as NodeJS.ErrnoException).syscall ?? 'write'} failed`;
  return new MigError('WRITE', `cannot write ${file}: ${code} (${why}) after ${bytes} bytes; nothing is kept under that name`, { file, errno: code, bytes }, { cause: e });
}

/**
 * Largest single write(2) to an output file. Measured on this machine (Linux 6.18, ext4, page cache):
 * writing 912 MB in 1 MiB or 2 MiB writes takes 0.10–0.12 s, in 4 MiB writes 1.0–2.5 s.
 */
const WRITE_CHUNK = 1 << 20;

/**
 * Writes to `<dir>/.<name>.tmp-<pid>` through a 1 MiB buffer (WRITE_CHUNK); commit() fsyncs and renames it to the
 * final name, abort() removes it. A crash or error never leaves a partial file under the final name.
 */
export class AtomicFileSink implements ByteSink {
  readonly finalPath: string;
  readonly tmpPath: string;
  private fd: number;
  private buf = Buffer.allocUnsafe(WRITE_CHUNK);
  private used = 0;
  private hash?: Hash;
  /** Bytes in the temp file (bytesWritten minus what is still buffered). */
  private filePos = 0;
  bytesWritten = 0;

  /**
   * `tmpPath` names the temp file (default `<dir>/.<name>.tmp-<pid>`); `resumeAt` reopens an existing
   * temp file, cut to that many bytes, and goes on writing after them (a resumed decode).
   */
  constructor(finalPath: string, opts: { tmpPath?: string; resumeAt?: number; mode?: number } = {}) {
    this.finalPath = finalPath;
    checkOutputPath(finalPath);
    this.tmpPath = opts.tmpPath ?? path.join(path.dirname(finalPath), `.${path.basename(finalPath)}.tmp-${process.pid}`);
    if (opts.resumeAt !== undefined) {
      this.fd = fs.openSync(this.tmpPath, 'r+');
      if (fs.fstatSync(this.fd).size < opts.resumeAt) {
        fs.closeSync(this.fd);
        throw new Error(`${this.tmpPath} is shorter than the ${opts.resumeAt} bytes to resume after`);
      }
      fs.ftruncateSync(this.fd, opts.resumeAt);
      this.filePos = this.bytesWritten = opts.resumeAt;
    } else if (opts.tmpPath !== undefined) {
      this.fd = fs.openSync(this.tmpPath, 'w+', 0o644);
    } else {
      registerTemp(this.tmpPath); // removed by the supervisor if a signal stops this process
      this.fd = createTemp(this.tmpPath, finalPath, opts.mode);
    }
  }

  write(chunk: Uint8Array): void {
    this.bytesWritten += chunk.length;
    if (chunk.length >= this.buf.length) {
      this.flush();
      this.hash?.update(chunk);
      this.pwrite(chunk, 0, chunk.length);
      return;
    }
    if (this.used + chunk.length > this.buf.length) this.flush();
    this.buf.set(chunk, this.used);
    this.used += chunk.length;
  }

  /**
   * Append n bytes that fill(buf, at, len) writes in place, in pieces that fit the buffer (a file
   * read straight into it: no intermediate copy).
   */
  fill(n: number, fill: (buf: Buffer, at: number, len: number) => void): void {
    while (n > 0) {
      if (this.used === this.buf.length) this.flush();
      const k = Math.min(n, this.buf.length - this.used);
      fill(this.buf, this.used, k);
      this.used += k;
      this.bytesWritten += k;
      n -= k;
    }
  }

  /** Read back out.length bytes already written at offset (from the buffer, or the temp file). */
  readBack(offset: number, out: Buffer): void {
    const bufStart = this.bytesWritten - this.used;
    if (offset >= bufStart && offset + out.length <= this.bytesWritten) {
      this.buf.copy(out, 0, offset - bufStart, offset - bufStart + out.length);
      return;
    }
    if (offset + out.length > bufStart) this.flush();
    let done = 0;
    while (done < out.length) {
      const n = fs.readSync(this.fd, out, done, out.length - done, offset + done);
      if (n === 0) throw new Error(`internal: read back past the end of ${this.tmpPath}`);
      done += n;
    }
  }

  /** Write what is buffered to the temp file (positioned writes: the file may have been reopened). */
  flush(): void {
    if (this.hash && this.used) this.hash.update(this.buf.subarray(0, this.used));
    this.pwrite(this.buf, 0, this.used);
    this.used = 0;
  }

  /**
   * From now on, every byte written is also fed to `h` as it is flushed (in order, a buffer at a
   * time instead of a call per write). Bytes already written are not; flush() before reading h.
   */
  hashWith(h: Hash): void {
    this.flush();
    this.hash = h;
  }

  private pwrite(b: Uint8Array, start: number, end: number): void {
    let off = start;
    try {
      while (off < end) {
        const n = fs.writeSync(this.fd, b, off, Math.min(WRITE_CHUNK, end - off), this.filePos);
        off += n;
        this.filePos += n;
      }
    } catch (e) {
      throw writeError(e, this.finalPath, this.filePos);
    }
  }

  /** Flush and fsync the temp file (a checkpoint is about to claim what it holds). */
  sync(): void {
    this.flush();
    try {
      fs.fsyncSync(this.fd);
    } catch (e) {
      throw writeError(e, this.finalPath, this.filePos);
    }
  }

  /** Flush and close the temp file, keeping it (a resumable decode that stops early). */
  detach(): void {
    if (this.fd < 0) return;
    this.flush();
    fs.closeSync(this.fd);
    this.fd = -1;
  }

  commit(): void {
    this.flush();
    try {
      fs.fsyncSync(this.fd);
      fs.closeSync(this.fd);
      this.fd = -1;
      fs.renameSync(this.tmpPath, this.finalPath);
    } catch (e) {
      throw writeError(e, this.finalPath, this.filePos);
    }
    fsyncDir(path.dirname(this.finalPath));
  }

  abort(): void {
    if (this.fd >= 0) {
      fs.closeSync(this.fd);
      this.fd = -1;
    }
    fs.rmSync(this.tmpPath, { force: true });
  }
}

/**
 * Standard output for a decoder that must read back what it wrote (earlier pages are match sources):
 * every byte goes to fd 1 and to a spool file in $TMPDIR (removed at the end) that readBack() reads. Output to a
 * pipe cannot be taken back: a consumer must check the exit status (as with `zstd -dc`).
 */
export class StdoutSpoolSink {
  private readonly spool: AtomicFileSink;
  constructor(private readonly fd = 1) {
    this.spool = new AtomicFileSink(path.join(os.tmpdir(), `mig-decode-spool-${process.pid}`));
  }
  get bytesWritten(): number {
    return this.spool.bytesWritten;
  }
  write(chunk: Uint8Array): void {
    this.spool.write(chunk);
    writeAllSync(this.fd, chunk);
  }
  hashWith(h: Hash): void {
    this.spool.hashWith(h);
  }
  fill(n: number, fill: (buf: Buffer, at: number, len: number) => void): void {
    const piece = Buffer.allocUnsafe(Math.min(n, WRITE_CHUNK));
    while (n > 0) {
      const k = Math.min(n, piece.length);
      fill(piece, 0, k);
      this.write(piece.subarray(0, k));
      n -= k;
    }
  }
  flush(): void {
    this.spool.flush();
  }
  readBack(offset: number, out: Buffer): void {
    this.spool.readBack(offset, out);
  }
  commit(): void {
    this.spool.abort();
  }
  abort(): void {
    this.spool.abort();
  }
}

/** Run fn with an AtomicFileSink for `finalPath`; commit on success, remove the temp file on error. */
export function writeAtomically<T>(finalPath: string, fn: (sink: AtomicFileSink) => T, opts: { mode?: number } = {}): T {
  const sink = new AtomicFileSink(finalPath, opts);
  try {
    const r = fn(sink);
    sink.commit();
    return r;
  } catch (e) {
    sink.abort();
    throw e;
  }
}

/** Write a small file atomically (temp file beside it, fsync, rename, directory fsync), private to its owner by default. */
export function writeFileAtomic(file: string, data: string | Buffer, mode = 0o600): void {
  writeAtomically(file, (sink) => sink.write(typeof data === 'string' ? Buffer.from(data) : data), { mode });
}
