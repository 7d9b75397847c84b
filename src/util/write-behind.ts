/**
 * Write-behind: bytes produced on this thread are copied into a ring of 1 MiB shared buffers, and
 * another thread writes each full buffer to the output file (positioned writes), to an optional
 * second descriptor (a pipe: `tee`), feeds it to a SHA-256 and, every `syncEvery` bytes, asks the
 * kernel to write the file back (fdatasync), so the final fsync finds little left to do. The
 * producer only copies; it waits only when all `ring` buffers are in flight.
 *
 * The last `ring` buffers stay readable (read back without a syscall: the decoder's history and
 * duplicate references mostly point a few MiB back); older bytes are read from the file, which
 * holds them by then (a buffer is reused only after it was written).
 *
 * Inline mode (`threaded` false) runs the same step on this thread as each buffer fills: the same
 * bytes, the same digest, no thread. Errors of the writing thread (ENOSPC, EIO, a closed pipe)
 * come back to the producer at its next call as an Error with the errno `code` and the file offset
 * (`bytes`), and nothing more is written.
 */
import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { writeAllSync } from './fd.js';

/** Zeros to hash and tee a hole from. */
const ZEROS = Buffer.alloc(1 << 20);
/** Zero runs shorter than this are written as data; longer ones become holes in the file. */
export const HOLE_MIN = 64 << 10;

/** Most ring buffers an instance may have (the control block's layout). */
export const MAX_RING = 64;
export const SLOT = 1 << 20;

/** Int32 control words (shared with write-behind-worker.ts). */
export const W = {
  SUBMITTED: 0, DONE: 1, SEQ: 2, SYNC_REQ: 3, SYNC_DONE: 4, DIGEST_REQ: 5, DIGEST_DONE: 6, FAILED: 7, EXITED: 8,
  /** Write-back requests of the writer to the syncing thread (a counter). */
  WRITE_BACK: 9,
  /** Per ring buffer: its length. */
  LEN: 16,
} as const;
const CTRL_WORDS = W.LEN + MAX_RING;
/** Byte offsets in the control block: file positions (Float64 per buffer), digest, failure text. */
const POS_AT = CTRL_WORDS * 4;
const DIGEST_AT = POS_AT + MAX_RING * 8;
/** Float64: the file position up to which the last write-back was asked. */
const WRITE_BACK_POS_AT = DIGEST_AT + 32;
const FAIL_AT = WRITE_BACK_POS_AT + 8;
const FAIL_BYTES = 512;
const CTRL_BYTES = FAIL_AT + FAIL_BYTES;

export interface WriteBehindOptions {
  /** The output file (positioned writes), or −1 for none (hash only). */
  fd: number;
  /** A second descriptor every byte is also written to, in order (a pipe; EAGAIN is waited on). */
  teeFd?: number;
  /** Hash everything written, starting with the file's first `hashPrefix` bytes (read back from it). */
  hash?: boolean;
  hashPrefix?: number;
  /** fdatasync the file after every this many bytes (0: never; the owner fsyncs at the end). */
  syncEvery?: number;
  /** The file position of the first byte. */
  startPos?: number;
  /** Ring buffers of 1 MiB (2..MAX_RING; default 16 with a thread, 2 inline): also how far back readBackRing reaches. */
  ring?: number;
  threaded: boolean;
}

export interface WorkerInit extends Omit<WriteBehindOptions, 'threaded' | 'ring'> {
  ring: number;
  /** The writing thread, or the one that only asks the kernel for write-back (fdatasync) when told. */
  role?: 'write' | 'sync';
  ctrl: SharedArrayBuffer;
  data: SharedArrayBuffer;
}

/**
 * The writing step, shared by the worker and inline mode: buffer i (len bytes at file position pos).
 * Returns normally or throws the errno error of the failing call, with `bytes` = the file offset.
 */
export class Writer {
  private hash?: Hash;
  private sinceSync = 0;
  /** `writeBack(pos)`: the periodic write-back, done elsewhere (the syncing thread); default: here. */
  constructor(private readonly o: WorkerInit, private readonly writeBack?: (pos: number) => void) {}

  start(): void {
    if (!this.o.hash) return;
    this.hash = createHash('sha256');
    // A resumed output: what the file already holds is hashed first.
    const n = this.o.hashPrefix ?? 0;
    const b = Buffer.allocUnsafe(Math.min(n, SLOT) || 1);
    for (let off = 0; off < n;) {
      const k = fs.readSync(this.o.fd, b, 0, Math.min(b.length, n - off), off);
      if (k === 0) throw Object.assign(new Error(`the output ends at ${off}, before the ${n} bytes to resume after`), { bytes: off });
      this.hash.update(b.subarray(0, k));
      off += k;
    }
  }

  write(buf: Uint8Array, pos: number): void {
    const o = this.o;
    if (o.fd >= 0) {
      let off = 0;
      try {
        while (off < buf.length) off += fs.writeSync(o.fd, buf, off, buf.length - off, pos + off);
      } catch (e) {
        throw Object.assign(e as Error, { bytes: pos + off });
      }
    }
    if (o.teeFd !== undefined && o.teeFd >= 0) {
      try {
        writeAllSync(o.teeFd, buf);
      } catch (e) {
        throw Object.assign(e as Error, { bytes: pos, tee: true });
      }
    }
    this.hash?.update(buf);
    if (o.syncEvery && o.fd >= 0) {
      this.sinceSync += buf.length;
      if (this.sinceSync >= o.syncEvery) {
        this.sinceSync = 0;
        if (this.writeBack) this.writeBack(pos + buf.length);
        else this.sync(pos + buf.length, false);
      }
    }
  }

  /** n zero bytes at pos that are not written (a hole in the file): hashed and teed as zeros. */
  hole(n: number, pos: number): void {
    const o = this.o;
    for (let done = 0; done < n;) {
      const k = Math.min(ZEROS.length, n - done);
      const z = ZEROS.subarray(0, k);
      if (o.teeFd !== undefined && o.teeFd >= 0) {
        try {
          writeAllSync(o.teeFd, z);
        } catch (e) {
          throw Object.assign(e as Error, { bytes: pos + done, tee: true });
        }
      }
      this.hash?.update(z);
      done += k;
    }
  }

  /** fsync (a checkpoint claims the bytes), or fdatasync (the periodic write-back). */
  sync(bytes: number, full = true): void {
    if (this.o.fd < 0) return;
    try {
      if (full) fs.fsyncSync(this.o.fd);
      else fs.fdatasyncSync(this.o.fd);
    } catch (e) {
      throw Object.assign(e as Error, { bytes });
    }
  }

  digest(): Buffer {
    if (!this.hash) throw new Error('internal: digest of an output that is not hashed');
    return this.hash.digest();
  }
}

/** Record a failure in the control block (worker side). */
export function writeFailure(ctrl: SharedArrayBuffer, e: unknown): void {
  const err = e as NodeJS.ErrnoException & { bytes?: number; tee?: boolean };
  const text = JSON.stringify({ code: err?.code, syscall: err?.syscall, message: err?.message ?? String(e), bytes: err?.bytes ?? 0, tee: !!err?.tee });
  const b = Buffer.from(text).subarray(0, FAIL_BYTES);
  new Uint8Array(ctrl, FAIL_AT, FAIL_BYTES).fill(0).set(b);
  const c = new Int32Array(ctrl, 0, CTRL_WORDS);
  Atomics.store(c, W.FAILED, 1);
  for (const w of [W.DONE, W.SYNC_DONE, W.DIGEST_DONE]) Atomics.notify(c, w);
}

export const positions = (ctrl: SharedArrayBuffer) => new Float64Array(ctrl, POS_AT, MAX_RING);
export const digestBytes = (ctrl: SharedArrayBuffer) => new Uint8Array(ctrl, DIGEST_AT, 32);
export const writeBackPos = (ctrl: SharedArrayBuffer) => new Float64Array(ctrl, WRITE_BACK_POS_AT, 1);

export class WriteBehind {
  private readonly ctrl: SharedArrayBuffer;
  private readonly c: Int32Array;
  private readonly pos: Float64Array;
  private readonly data: Buffer;
  private readonly ring: number;
  private readonly fd: number;
  private worker?: Worker;
  private syncer?: Worker;
  private inline?: Writer;
  private submitted = 0;
  /** Bytes in the buffer being filled (buffer `submitted % ring`). */
  private used = 0;
  /** File position of the next byte. */
  position: number;
  private failure?: Error;
  private closed = false;
  /** Inline with no file and no tee: bytes are hashed as they come, not buffered. */
  private hashOnly = false;

  constructor(o: WriteBehindOptions) {
    this.ctrl = new SharedArrayBuffer(CTRL_BYTES);
    this.c = new Int32Array(this.ctrl, 0, CTRL_WORDS);
    this.pos = positions(this.ctrl);
    this.ring = Math.max(2, Math.min(MAX_RING, o.ring ?? (o.threaded ? 16 : 2)));
    this.fd = o.fd;
    const data = new SharedArrayBuffer(this.ring * SLOT);
    this.data = Buffer.from(data);
    this.position = o.startPos ?? 0;
    const init: WorkerInit = { ring: this.ring, fd: o.fd, teeFd: o.teeFd, hash: o.hash, hashPrefix: o.hashPrefix, syncEvery: o.syncEvery, startPos: this.position, ctrl: this.ctrl, data };
    if (!o.threaded) {
      this.hashOnly = o.fd < 0 && (o.teeFd === undefined || o.teeFd < 0);
      this.inline = new Writer(init);
      this.inline.start();
      return;
    }
    this.worker = new Worker(new URL('./write-behind-worker.js', import.meta.url), { workerData: { ...init, role: 'write' } });
    this.worker.on('error', () => undefined); // its exit handler has set EXITED; the producer reports it
    this.worker.unref();
    // fdatasync blocks for as long as the disk takes: on a thread of its own, so writing and hashing go on meanwhile.
    if (o.syncEvery && o.fd >= 0) {
      this.syncer = new Worker(new URL('./write-behind-worker.js', import.meta.url), { workerData: { ...init, role: 'sync' } });
      this.syncer.on('error', () => undefined);
      this.syncer.unref();
    }
  }

  /** Append b. */
  write(b: Uint8Array): void {
    if (this.hashOnly) {
      // Inline, nothing to write: hash in place (a page at a time costs less than copying it to hash a MiB).
      this.run(() => this.inline!.write(b, this.position));
      this.position += b.length;
      return;
    }
    let off = 0;
    while (off < b.length) {
      const k = Math.min(SLOT - this.used, b.length - off);
      this.data.set(k === b.length ? b : b.subarray(off, off + k), this.at() + this.used);
      this.used += k;
      this.position += k;
      off += k;
      if (this.used === SLOT) this.submit();
    }
  }

  /** Append n bytes that fill(buf, at, len) writes in place (pieces that fit the current buffer). */
  fill(n: number, fill: (buf: Buffer, at: number, len: number) => void): void {
    while (n > 0 && this.hashOnly) {
      const k = Math.min(SLOT, n);
      fill(this.data, 0, k);
      this.write(this.data.subarray(0, k));
      n -= k;
    }
    while (n > 0) {
      const k = Math.min(SLOT - this.used, n);
      fill(this.data, this.at() + this.used, k);
      this.used += k;
      this.position += k;
      n -= k;
      if (this.used === SLOT) this.submit();
    }
  }

  /**
   * Append n zero bytes. Runs of HOLE_MIN or more are not written (the file gets a hole there, and
   * its size is set at drain()); they are hashed and teed as zeros like any other bytes.
   */
  zeros(n: number): void {
    if (this.hashOnly || this.fd < 0 || n < HOLE_MIN) {
      while (n > 0) {
        const k = Math.min(n, SLOT);
        this.write(ZEROS.subarray(0, k));
        n -= k;
      }
      return;
    }
    this.flush();
    while (n > 0) {
      const k = Math.min(n, 1 << 30);
      this.at(); // waits until the next ring entry is free
      const i = this.submitted % this.ring;
      this.c[W.LEN + i] = -k;
      this.pos[i] = this.position;
      this.position += k;
      n -= k;
      this.submitted++;
      if (this.inline) this.run(() => this.inline!.hole(k, this.pos[i]));
      else {
        Atomics.store(this.c, W.SUBMITTED, this.submitted);
        this.bump();
      }
    }
  }

  /**
   * Copy out.length bytes at file offset `offset` (< position) into out, from the ring when it still
   * holds them; returns the bytes it could not serve from the ring (a prefix: read them from the file).
   */
  readBackRing(offset: number, out: Uint8Array): number {
    let end = offset + out.length;
    // Newest first: the buffer being filled, then the submitted ones still intact.
    let b = this.submitted;
    let bStart = this.position - this.used;
    let bLen = this.used;
    for (let n = 0; n < this.ring && end > offset; n++) {
      if (n > 0) {
        b--;
        if (b < 0) break;
        bLen = this.c[W.LEN + (b % this.ring)];
        bStart = this.pos[b % this.ring];
      }
      const lo = Math.max(offset, bStart);
      if (lo < end) {
        if (bLen < 0) out.fill(0, lo - offset, end - offset); // a hole
        else {
          const src = (b % this.ring) * SLOT + (lo - bStart);
          this.data.copy(out, lo - offset, src, src + (end - lo));
        }
        end = lo;
      }
    }
    // What the ring no longer holds is in the file once the writer has written those buffers (all
    // but the one whose place the empty current buffer takes are, by waitForRoom).
    if (end > offset && this.worker) this.waitFor(W.DONE, this.submitted - this.ring + 1);
    return end - offset;
  }

  /** Hand the current buffer to the writer (even if not full). */
  flush(): void {
    this.check();
    if (this.used) this.submit();
  }

  /** Everything appended so far is written (and, with `sync`, fsync'ed) when this returns; a trailing hole gives the file its size. */
  drain(sync = false): void {
    this.flush();
    if (!this.inline) this.waitFor(W.DONE, this.submitted);
    this.extendOverHoles();
    if (this.inline) {
      if (sync) this.run(() => this.inline!.sync(this.position));
      return;
    }
    if (sync) {
      const want = Atomics.add(this.c, W.SYNC_REQ, 1) + 1;
      this.bump();
      this.waitFor(W.SYNC_DONE, want);
    }
  }

  /** A file that ends in a hole is shorter than what was appended: set its size (all written by now). */
  private extendOverHoles(): void {
    if (this.fd < 0) return;
    this.run(() => {
      try {
        if (fs.fstatSync(this.fd).size < this.position) fs.ftruncateSync(this.fd, this.position);
      } catch (e) {
        throw Object.assign(e as Error, { bytes: this.position });
      }
    });
  }

  /** The SHA-256 of everything written (with `hash`); ends the hashing. */
  digest(): Buffer {
    this.flush();
    if (this.inline) return this.run(() => this.inline!.digest());
    Atomics.store(this.c, W.DIGEST_REQ, 1);
    this.bump();
    this.waitFor(W.DIGEST_DONE, 1);
    return Buffer.from(digestBytes(this.ctrl));
  }

  /** Stop the writing thread (what it has not written yet is dropped). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.worker) void this.worker.terminate();
    if (this.syncer) void this.syncer.terminate();
    this.worker = this.syncer = undefined;
  }

  private at(): number {
    if (this.used === 0) this.waitForRoom();
    return (this.submitted % this.ring) * SLOT;
  }

  private submit(): void {
    const i = this.submitted % this.ring;
    this.c[W.LEN + i] = this.used;
    this.pos[i] = this.position - this.used;
    this.submitted++;
    this.used = 0;
    if (this.inline) {
      this.run(() => this.inline!.write(this.data.subarray(i * SLOT, i * SLOT + this.c[W.LEN + i]), this.pos[i]));
      return;
    }
    Atomics.store(this.c, W.SUBMITTED, this.submitted);
    this.bump();
  }

  private run<T>(f: () => T): T {
    this.check();
    try {
      return f();
    } catch (e) {
      this.failure = e as Error;
      throw e;
    }
  }

  private bump(): void {
    Atomics.add(this.c, W.SEQ, 1);
    Atomics.notify(this.c, W.SEQ);
  }

  /** The next buffer is free once the writer is done with what it held this.ring buffers ago. */
  private waitForRoom(): void {
    if (this.inline) return this.check();
    this.waitFor(W.DONE, this.submitted - this.ring + 1);
  }

  private waitFor(word: number, value: number): void {
    for (;;) {
      this.check();
      const v = Atomics.load(this.c, word);
      if (v >= value) return;
      Atomics.wait(this.c, word, v, 100);
    }
  }

  /** Throw the writer's failure, if any (again on every later call). */
  private check(): void {
    if (this.failure) throw this.failure;
    if (this.inline) return;
    if (Atomics.load(this.c, W.FAILED)) {
      const raw = Buffer.from(new Uint8Array(this.ctrl, FAIL_AT, FAIL_BYTES)).toString('utf8').replace(/\0+$/, '');
      const f = JSON.parse(raw) as { code?: string; syscall?: string; message: string; bytes: number; tee: boolean };
      this.failure = Object.assign(new Error(f.message), { code: f.code, syscall: f.syscall, bytes: f.bytes, tee: f.tee });
      throw this.failure;
    }
    if (Atomics.load(this.c, W.EXITED)) {
      this.failure = new Error('the output writer thread ended unexpectedly');
      throw this.failure;
    }
  }
}
