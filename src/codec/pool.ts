/**
 * CompressPool: entropy-codes frame streams on worker threads while the encoder goes on reading
 * and matching pages. Jobs are waited for synchronously and in submission order (Atomics.wait on
 * a shared state word), so output is identical for any thread count. threads ≤ 1 compresses inline.
 */
import { Worker } from 'node:worker_threads';
import { entropyCompress, type CodecName } from './entropy.js';

export interface PoolJob {
  wait(): Buffer;
}

/** Upper bound of coded size for raw bytes under zstd or deflate (generous; checked by the worker). */
const bound = (n: number) => n + (n >> 7) + 4096;

export class CompressPool {
  private workers: Worker[] = [];
  private next = 0;

  constructor(readonly codec: CodecName, readonly level: number, readonly threads: number) {
    for (let i = 0; i < threads && threads > 1; i++) {
      const w = new Worker(new URL('./compress-worker.js', import.meta.url));
      w.unref();
      this.workers.push(w);
    }
  }

  submit(raw: Buffer): PoolJob {
    if (this.workers.length === 0) {
      const coded = entropyCompress(this.codec, this.level, raw);
      return { wait: () => Buffer.from(coded.buffer, coded.byteOffset, coded.byteLength) };
    }
    const ctrl = new SharedArrayBuffer(8);
    const out = new SharedArrayBuffer(bound(raw.length));
    const copy = new Uint8Array(raw.length);
    copy.set(raw);
    const w = this.workers[this.next++ % this.workers.length];
    w.postMessage({ codec: this.codec, level: this.level, raw: copy, ctrl, out }, [copy.buffer]);
    return {
      wait: () => {
        const c = new Int32Array(ctrl);
        while (Atomics.load(c, 0) === 0) Atomics.wait(c, 0, 0, 1000);
        if (Atomics.load(c, 0) !== 1) throw new Error('internal: a compression worker failed');
        return Buffer.from(out, 0, c[1]);
      },
    };
  }

  close(): void {
    for (const w of this.workers) void w.terminate();
    this.workers = [];
  }
}
