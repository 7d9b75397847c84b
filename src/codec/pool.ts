/**
 * CodecPool: runs the entropy stage on worker threads — compression while the encoder goes on
 * matching pages, decompression of the next frames while the decoder writes the current one.
 * Jobs are waited for synchronously and in submission order (Atomics.wait on a shared state word),
 * so results never depend on the thread count. threads ≤ 1 does the work inline.
 *
 * Failures: a job that throws in the worker comes back with its message (wait() throws an Error
 * with it, as the inline call would). A worker thread that ends (an uncaught exception in it,
 * process.exit) marks its jobs failed and sets the pool's `dead` word; wait() then throws a
 * CodecWorkerError at once instead of waiting for a result that will never come.
 */
import { Worker } from 'node:worker_threads';
import { entropyCompress, entropyDecompress, zstdBound, zstdCompressInto, type CodecName } from './entropy.js';

export interface PoolJob {
  /** The result; throws what the inline call would have thrown if the job failed. */
  wait(): Buffer;
  /**
   * The caller is done with the result: its buffers go back to the pool for a later job (no fresh
   * memory per frame: first touches of new pages cost more than the copies here). The Buffer wait()
   * returned must not be used afterwards. A job never released is simply garbage-collected.
   */
  release(): void;
}

/** States of a job's control word. */
export const JobState = { PENDING: 0, DONE: 1, FAILED: 2, DIED: 3 } as const;

/** What each worker gets as workerData. */
export interface WorkerInit {
  /** Set by a worker thread that ends, laid out like a job's control block: Int32 [1, exit code, message length] + why (UTF-8). */
  dead: SharedArrayBuffer;
  /** Tests only: make the worker fail on its first job. */
  fault?: 'throw' | 'exit';
}

/** A codec worker thread ended while jobs were pending: a bug or a resource failure, not bad input. */
export class CodecWorkerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecWorkerError';
  }
}

/** Control block of a job: Int32 [state, result length, error message length], then the message (UTF-8). */
const CTRL_HEADER = 12;
const CTRL_MESSAGE = 1024;

/** Store an error message in a job's control block (cut to fit). */
export function writeJobError(ctrl: SharedArrayBuffer, message: string): void {
  const bytes = Buffer.from(message, 'utf8').subarray(0, CTRL_MESSAGE);
  new Uint8Array(ctrl, CTRL_HEADER, CTRL_MESSAGE).set(bytes);
  new Int32Array(ctrl)[2] = bytes.length;
}

function readJobError(ctrl: SharedArrayBuffer): string {
  const n = new Int32Array(ctrl)[2];
  return Buffer.from(new Uint8Array(ctrl, CTRL_HEADER, n)).toString('utf8');
}

/** Upper bound of coded size for raw bytes under zstd or deflate (generous; checked by the worker). */
const bound = (n: number) => n + (n >> 7) + 4096;

/** Buffers are allocated in steps of this size so that a slot fits the next frames too. */
const SLOT_STEP = 1 << 20;
const roundUp = (n: number) => Math.max(SLOT_STEP, Math.ceil(n / SLOT_STEP) * SLOT_STEP);

/** A job's memory, shared with the worker and reused by later jobs: control block, input, result. */
interface Slot {
  ctrl: SharedArrayBuffer;
  input: SharedArrayBuffer;
  out: SharedArrayBuffer;
}

/** The message a worker gets per job (compress-worker.ts). */
export interface JobMessage {
  kind: 'compress' | 'decompress';
  codec: CodecName;
  level: number;
  /** Input bytes: input[0, inputLength). */
  input: SharedArrayBuffer;
  inputLength: number;
  /** decompress: the exact raw length expected. */
  rawLength: number;
  /** Int32 [state (JobState), result length, error length] + error message bytes. */
  ctrl: SharedArrayBuffer;
  out: SharedArrayBuffer;
}

export interface CodecPoolOptions {
  /** Tests only: every worker fails on its first job (throws, or exits its thread). */
  fault?: 'throw' | 'exit';
}

export class CodecPool {
  private workers: Worker[] = [];
  private dead: SharedArrayBuffer[] = [];
  private errors: (Error | undefined)[] = [];
  private next = 0;
  /** Jobs posted to each worker and not yet seen finished (their control words and sizes). */
  private queued: { ctrl: Int32Array; bytes: number }[][] = [];
  /** Slots whose jobs were released, for the next jobs. */
  private free: Slot[] = [];

  /** The entropy level of the next jobs (mig migrate --level auto changes it between frames). */
  constructor(readonly codec: CodecName, public level: number, readonly threads: number, opts: CodecPoolOptions = {}) {
    for (let i = 0; i < threads && threads > 1; i++) {
      const dead = new SharedArrayBuffer(CTRL_HEADER + CTRL_MESSAGE);
      const init: WorkerInit = { dead, fault: opts.fault };
      const w = new Worker(new URL('./compress-worker.js', import.meta.url), { workerData: init });
      // The waits are synchronous, so these only run afterwards; they keep a worker's crash from
      // becoming an unhandled 'error' event and keep its error for the message.
      w.on('error', (e) => {
        this.errors[i] = e;
      });
      w.on('exit', () => undefined);
      w.unref();
      this.workers.push(w);
      this.dead.push(dead);
      this.queued.push([]);
    }
  }

  /** A free slot with room for `input` input bytes and `out` result bytes (reused when one fits). */
  private slot(input: number, out: number): Slot {
    // The smallest free slot that fits (a frame's small op stream does not take a literal stream's slot).
    let i = -1;
    for (let j = 0; j < this.free.length; j++) {
      const f = this.free[j];
      if (f.input.byteLength >= input && f.out.byteLength >= out && (i < 0 || f.out.byteLength + f.input.byteLength < this.free[i].out.byteLength + this.free[i].input.byteLength)) i = j;
    }
    if (i >= 0) {
      const s = this.free.splice(i, 1)[0];
      new Int32Array(s.ctrl).fill(0, 0, CTRL_HEADER / 4);
      return s;
    }
    return { ctrl: new SharedArrayBuffer(CTRL_HEADER + CTRL_MESSAGE), input: new SharedArrayBuffer(roundUp(input)), out: new SharedArrayBuffer(roundUp(out)) };
  }

  private releaser(s: Slot): () => void {
    let done = false;
    return () => {
      // Never hand out a slot a worker may still write to.
      if (done || Atomics.load(new Int32Array(s.ctrl), 0) === JobState.PENDING) return;
      done = true;
      this.free.push(s);
      // Memory stays bounded by the jobs in flight: beyond that many free slots, the smallest goes.
      if (this.free.length > 4 * Math.max(1, this.threads) + 4) {
        let k = 0;
        for (let j = 1; j < this.free.length; j++) if (this.free[j].out.byteLength + this.free[j].input.byteLength < this.free[k].out.byteLength + this.free[k].input.byteLength) k = j;
        this.free.splice(k, 1);
      }
    };
  }

  /** Compress `raw`; it is copied into the job's buffer before this returns, so the caller may reuse it. */
  compress(raw: Uint8Array): PoolJob {
    if (this.workers.length === 0) {
      const s = this.slot(0, Math.max(zstdBound(raw.length), bound(raw.length)));
      const out = new Uint8Array(s.out);
      let n: number;
      if (this.codec === 'zstd') n = zstdCompressInto(this.level, raw, out);
      else {
        const coded = entropyCompress(this.codec, this.level, raw);
        out.set(coded);
        n = coded.length;
      }
      Atomics.store(new Int32Array(s.ctrl), 0, JobState.DONE);
      return { wait: () => Buffer.from(s.out, 0, n), release: this.releaser(s) };
    }
    return this.post('compress', raw, 0, Math.max(zstdBound(raw.length), bound(raw.length)));
  }

  /** Decompress to exactly rawLength bytes (entropyDecompress's checks apply). */
  decompress(coded: Uint8Array, rawLength: number): PoolJob {
    // An empty stream is stored as nothing at all (the literal stream of a frame without literals).
    if (rawLength === 0 && coded.length === 0) return { wait: () => Buffer.alloc(0), release: () => undefined };
    if (this.workers.length === 0 || rawLength === 0) {
      const s = this.slot(0, rawLength);
      let result: Buffer | undefined;
      let error: unknown;
      try {
        result = entropyDecompress(this.codec, coded, rawLength, new Uint8Array(s.out, 0, rawLength));
      } catch (e) {
        error = e;
      }
      Atomics.store(new Int32Array(s.ctrl), 0, JobState.DONE);
      return {
        wait: () => {
          if (error) throw error;
          return result!;
        },
        release: this.releaser(s),
      };
    }
    return this.post('decompress', coded, rawLength, rawLength);
  }

  private died(i: number, jobWhy?: string): CodecWorkerError {
    const why = jobWhy ?? (Atomics.load(new Int32Array(this.dead[i]), 0) !== 0 ? readJobError(this.dead[i]) : this.errors[i]?.message ?? 'unknown cause');
    return new CodecWorkerError(`codec worker thread ${i} died with ${this.codec} jobs pending: ${why}`);
  }

  /**
   * The worker with the fewest bytes still queued (a frame's small op stream and large literal
   * stream would otherwise always land on the same two workers); ties go round-robin.
   */
  private pick(): number {
    let best = -1;
    let bestBytes = Infinity;
    const n = this.workers.length;
    for (let k = 0; k < n; k++) {
      const i = (this.next + k) % n;
      const q = this.queued[i];
      let bytes = 0;
      for (let j = q.length - 1; j >= 0; j--) {
        if (Atomics.load(q[j].ctrl, 0) !== JobState.PENDING) q.splice(j, 1);
        else bytes += q[j].bytes;
      }
      if (bytes < bestBytes) {
        best = i;
        bestBytes = bytes;
      }
    }
    this.next = best + 1;
    return best;
  }

  private post(kind: 'compress' | 'decompress', input: Uint8Array, rawLength: number, outSize: number): PoolJob {
    const i = this.pick();
    const dead = new Int32Array(this.dead[i]);
    if (Atomics.load(dead, 0) !== 0) return { wait: () => { throw this.died(i); }, release: () => undefined };
    const s = this.slot(input.length, outSize);
    new Uint8Array(s.input, 0, input.length).set(input);
    const msg: JobMessage = { kind, codec: this.codec, level: this.level, input: s.input, inputLength: input.length, rawLength, ctrl: s.ctrl, out: s.out };
    this.workers[i].postMessage(msg);
    this.queued[i].push({ ctrl: new Int32Array(s.ctrl), bytes: input.length + rawLength });
    const ctrl = s.ctrl;
    return {
      wait: () => {
        const c = new Int32Array(ctrl);
        // A job posted after its worker ended is never marked: the dead word says so.
        while (Atomics.load(c, 0) === JobState.PENDING) {
          if (Atomics.load(dead, 0) !== 0 && Atomics.load(c, 0) === JobState.PENDING) throw this.died(i);
          Atomics.wait(c, 0, JobState.PENDING, 100);
        }
        const state = Atomics.load(c, 0);
        if (state === JobState.DONE) return Buffer.from(s.out, 0, c[1]);
        if (state === JobState.DIED) throw this.died(i, readJobError(ctrl));
        throw new Error(readJobError(ctrl));
      },
      release: this.releaser(s),
    };
  }

  close(): void {
    for (const w of this.workers) void w.terminate();
    this.workers = [];
    this.free = [];
  }
}
