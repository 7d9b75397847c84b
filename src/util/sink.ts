/** Output sinks: buffered file writes that only become visible under their final name on success. */
import * as fs from 'node:fs';
import { WriteBehind } from './write-behind.js';
import * as os from 'node:os';
import * as path from 'node:path';
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

/** The temp file an AtomicFileSink of this process writes for `finalPath` (unless told another). */
export function defaultTempPath(finalPath: string): string {
  return path.join(path.dirname(finalPath), `.${path.basename(finalPath)}.tmp-${process.pid}`);
}

/**
 * Writes to `<dir>/.<name>.tmp-<pid>` through WriteBehind's ring of 1 MiB buffers (every write(2)
 * is at most 1 MiB: measured on this machine (Linux 6.18, ext4, page cache), 912 MB in 1 MiB or
 * 2 MiB writes takes 0.10–0.12 s, in 4 MiB writes 1.0–2.5 s); commit() fsyncs and renames it to
 * the final name, abort() removes it. A crash or error never leaves a partial file under the final
 * name. With `threaded`, the writes, the SHA-256 (`hash`) and a write-back every 64 MiB happen on
 * another thread; `tee` also sends every byte, in order, to that descriptor (a pipe).
 */
export class AtomicFileSink implements ByteSink {
  readonly finalPath: string;
  readonly tmpPath: string;
  private fd: number;
  private wb: WriteBehind;

  /**
   * `tmpPath` names the temp file (default `<dir>/.<name>.tmp-<pid>`); `resumeAt` reopens an existing
   * temp file, cut to that many bytes, and goes on writing after them (a resumed decode; with
   * `hash`, the SHA-256 covers those bytes too).
   */
  constructor(finalPath: string, opts: { tmpPath?: string; resumeAt?: number; mode?: number; hash?: boolean; threaded?: boolean; tee?: number } = {}) {
    this.finalPath = finalPath;
    checkOutputPath(finalPath);
    this.tmpPath = opts.tmpPath ?? defaultTempPath(finalPath);
    let start = 0;
    if (opts.resumeAt !== undefined) {
      this.fd = fs.openSync(this.tmpPath, 'r+');
      if (fs.fstatSync(this.fd).size < opts.resumeAt) {
        fs.closeSync(this.fd);
        throw new Error(`${this.tmpPath} is shorter than the ${opts.resumeAt} bytes to resume after`);
      }
      fs.ftruncateSync(this.fd, opts.resumeAt);
      start = opts.resumeAt;
    } else if (opts.tmpPath !== undefined) {
      this.fd = fs.openSync(this.tmpPath, 'w+', 0o644);
    } else {
      registerTemp(this.tmpPath); // removed by the supervisor if a signal stops this process
      this.fd = createTemp(this.tmpPath, finalPath, opts.mode);
    }
    try {
      this.wb = new WriteBehind({ fd: this.fd, teeFd: opts.tee, hash: opts.hash, hashPrefix: start, startPos: start, syncEvery: opts.threaded ? SYNC_EVERY : 0, threaded: !!opts.threaded });
    } catch (e) {
      fs.closeSync(this.fd);
      throw e;
    }
  }

  /** Bytes in the output (those of a resumed file included). */
  get bytesWritten(): number {
    return this.wb.position;
  }

  write(chunk: Uint8Array): void {
    this.guard(() => this.wb.write(chunk));
  }

  /**
   * Append n bytes that fill(buf, at, len) writes in place, in pieces that fit the buffer (a file
   * read straight into it: no intermediate copy).
   */
  fill(n: number, fill: (buf: Buffer, at: number, len: number) => void): void {
    this.guard(() => this.wb.fill(n, fill));
  }

  /** Append n zero bytes (long runs become holes in the file: not written, still hashed and teed). */
  zeros(n: number): void {
    this.guard(() => this.wb.zeros(n));
  }

  /** Read back out.length bytes already written at offset (from the ring of recent buffers, or the temp file). */
  readBack(offset: number, out: Buffer): void {
    const rest = this.guard(() => this.wb.readBackRing(offset, out));
    let done = 0;
    while (done < rest) {
      const n = fs.readSync(this.fd, out, done, rest - done, offset + done);
      if (n === 0) {
        // Past the file's end but not past what was appended: a hole the file is not yet extended over.
        if (offset + rest <= this.bytesWritten) {
          out.fill(0, done, rest);
          break;
        }
        throw new Error(`internal: read back past the end of ${this.tmpPath}`);
      }
      done += n;
    }
  }

  /** Hand what is buffered to the writer. */
  flush(): void {
    this.guard(() => this.wb.flush());
  }

  /** The SHA-256 of the whole output (opened with `hash`): call once, after the last byte. */
  digest(): Buffer {
    return this.guard(() => this.wb.digest());
  }

  /** Everything written and fsync'ed (a checkpoint is about to claim what it holds). */
  sync(): void {
    this.guard(() => this.wb.drain(true));
  }

  /** Flush and close the temp file, keeping it (a resumable decode that stops early). */
  detach(): void {
    if (this.fd < 0) return;
    try {
      this.guard(() => this.wb.drain());
    } finally {
      this.wb.close();
      fs.closeSync(this.fd);
      this.fd = -1;
    }
  }

  commit(): void {
    this.guard(() => this.wb.drain());
    this.wb.close();
    try {
      fs.fsyncSync(this.fd);
      fs.closeSync(this.fd);
      this.fd = -1;
      fs.renameSync(this.tmpPath, this.finalPath);
    } catch (e) {
      throw writeError(e, this.finalPath, this.wb.position);
    }
    fsyncDir(path.dirname(this.finalPath));
  }

  abort(): void {
    this.wb.close();
    if (this.fd >= 0) {
      fs.closeSync(this.fd);
      this.fd = -1;
    }
    fs.rmSync(this.tmpPath, { force: true });
  }

  /** Writer failures as WRITE errors naming this output (a tee's failure names the pipe). */
  private guard<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      const err = e as Error & { bytes?: number; tee?: boolean };
      throw writeError(e, err.tee ? 'standard output' : this.finalPath, err.bytes ?? this.wb.position);
    }
  }
}

/** With a writing thread: ask the kernel to write the output back every this many bytes. */
const SYNC_EVERY = 64 << 20;

/**
 * Standard output for a decoder that must read back what it wrote (earlier pages are match sources):
 * every byte goes to fd 1 and to a spool file in $TMPDIR (removed at the end) that readBack() reads. Output to a
 * pipe cannot be taken back: a consumer must check the exit status (as with `zstd -dc`).
 */
export class StdoutSpoolSink extends AtomicFileSink {
  constructor(opts: { hash?: boolean; threaded?: boolean; fd?: number } = {}) {
    super(path.join(os.tmpdir(), `mig-decode-spool-${process.pid}`), { hash: opts.hash, threaded: opts.threaded, tee: opts.fd ?? 1 });
  }

  /** Everything has gone to standard output; the spool goes. */
  override commit(): void {
    this.detach();
    this.abort();
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
