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
import { entropyCompress, entropyDecompress, type CodecName } from './entropy.js';

export interface PoolJob {
  /** The result; throws what the inline call would have thrown if the job failed. */
  wait(): Buffer;
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

export interface CodecPoolOptions {
  /** Tests only: every worker fails on its first job (throws, or exits its thread). */
  fault?: 'throw' | 'exit';
}

export class CodecPool {
  private workers: Worker[] = [];
  private dead: SharedArrayBuffer[] = [];
  private errors: (Error | undefined)[] = [];
  private next = 0;

  constructor(readonly codec: CodecName, readonly level: number, readonly threads: number, opts: CodecPoolOptions = {}) {
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
    }
  }

  /** Compress `raw`; it is read (inline) or copied (for a worker) before this returns, so the caller may reuse it. */
  compress(raw: Buffer): PoolJob {
    if (this.workers.length === 0) {
      const coded = entropyCompress(this.codec, this.level, raw);
      return { wait: () => Buffer.from(coded.buffer, coded.byteOffset, coded.byteLength) };
    }
    return this.post('compress', raw, 0, bound(raw.length));
  }

  /** Decompress to exactly rawLength bytes (entropyDecompress's checks apply). */
  decompress(coded: Buffer, rawLength: number): PoolJob {
    // An empty stream is stored as nothing at all (the literal stream of a frame without literals).
    if (rawLength === 0 && coded.length === 0) return { wait: () => Buffer.alloc(0) };
    if (this.workers.length === 0 || rawLength === 0) {
      let result: Buffer | undefined;
      let error: unknown;
      try {
        result = entropyDecompress(this.codec, coded, rawLength);
      } catch (e) {
        error = e;
      }
      return {
        wait: () => {
          if (error) throw error;
          return result!;
        },
      };
    }
    return this.post('decompress', coded, rawLength, rawLength);
  }

  private died(i: number, jobWhy?: string): CodecWorkerError {
    const why = jobWhy ?? (Atomics.load(new Int32Array(this.dead[i]), 0) !== 0 ? readJobError(this.dead[i]) : this.errors[i]?.message ?? 'unknown cause');
    return new CodecWorkerError(`codec worker thread ${i} died with ${this.codec} jobs pending: ${why}`);
  }

  private post(kind: 'compress' | 'decompress', input: Buffer, rawLength: number, outSize: number): PoolJob {
    const i = this.next++ % this.workers.length;
    const dead = new Int32Array(this.dead[i]);
    if (Atomics.load(dead, 0) !== 0) return { wait: () => { throw this.died(i); } };
    const ctrl = new SharedArrayBuffer(CTRL_HEADER + CTRL_MESSAGE);
    const out = new SharedArrayBuffer(outSize);
    const copy = new Uint8Array(input.length);
    copy.set(input);
    this.workers[i].postMessage({ kind, codec: this.codec, level: this.level, input: copy, rawLength, ctrl, out }, [copy.buffer]);
    return {
      wait: () => {
        const c = new Int32Array(ctrl);
        // A job posted after its worker ended is never marked: the dead word says so.
        while (Atomics.load(c, 0) === JobState.PENDING) {
          if (Atomics.load(dead, 0) !== 0 && Atomics.load(c, 0) === JobState.PENDING) throw this.died(i);
          Atomics.wait(c, 0, JobState.PENDING, 100);
        }
        const state = Atomics.load(c, 0);
        if (state === JobState.DONE) return Buffer.from(out, 0, c[1]);
        if (state === JobState.DIED) throw this.died(i, readJobError(ctrl));
        throw new Error(readJobError(ctrl));
      },
    };
  }

  close(): void {
    for (const w of this.workers) void w.terminate();
    this.workers = [];
  }
}
