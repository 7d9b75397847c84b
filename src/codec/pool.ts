/**
 * CodecPool: runs the entropy stage on worker threads — compression while the encoder goes on
 * matching pages, decompression of the next frames while the decoder writes the current one.
 * Jobs are waited for synchronously and in submission order (Atomics.wait on a shared state word),
 * so results never depend on the thread count. threads ≤ 1 does the work inline.
 */
import { Worker } from 'node:worker_threads';
import { entropyCompress, entropyDecompress, type CodecName } from './entropy.js';

export interface PoolJob {
  /** The result; throws what the inline call would have thrown if the job failed. */
  wait(): Buffer;
}

/** Upper bound of coded size for raw bytes under zstd or deflate (generous; checked by the worker). */
const bound = (n: number) => n + (n >> 7) + 4096;

export class CodecPool {
  private workers: Worker[] = [];
  private next = 0;

  constructor(readonly codec: CodecName, readonly level: number, readonly threads: number) {
    for (let i = 0; i < threads && threads > 1; i++) {
      const w = new Worker(new URL('./compress-worker.js', import.meta.url));
      w.unref();
      this.workers.push(w);
    }
  }

  compress(raw: Buffer): PoolJob {
    if (this.workers.length === 0) {
      const coded = entropyCompress(this.codec, this.level, raw);
      return { wait: () => Buffer.from(coded.buffer, coded.byteOffset, coded.byteLength) };
    }
    return this.post('compress', raw, 0, bound(raw.length), () => Buffer.from(entropyCompress(this.codec, this.level, raw)));
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
    return this.post('decompress', coded, rawLength, rawLength, () => entropyDecompress(this.codec, coded, rawLength));
  }

  private post(kind: 'compress' | 'decompress', input: Buffer, rawLength: number, outSize: number, inline: () => Buffer): PoolJob {
    const ctrl = new SharedArrayBuffer(8);
    const out = new SharedArrayBuffer(outSize);
    const copy = new Uint8Array(input.length);
    copy.set(input);
    const w = this.workers[this.next++ % this.workers.length];
    w.postMessage({ kind, codec: this.codec, level: this.level, input: copy, rawLength, ctrl, out }, [copy.buffer]);
    return {
      wait: () => {
        const c = new Int32Array(ctrl);
        while (Atomics.load(c, 0) === 0) Atomics.wait(c, 0, 0, 1000);
        if (Atomics.load(c, 0) !== 1) return inline(); // throws the real error (or, for a worker fault, does the work)
        return Buffer.from(out, 0, c[1]);
      },
    };
  }

  close(): void {
    for (const w of this.workers) void w.terminate();
    this.workers = [];
  }
}
