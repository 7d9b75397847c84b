/**
 * The END frame's SHA-256 on a thread of its own: the image as the decoder will write it (the pages
 * the encoder drops as free hashed as zeros) depends only on the file, the slot table and the page
 * map, so a worker can read and hash it from the start while the encoder's thread matches pages,
 * instead of the encoder copying every page to a hashing thread. The worker reads the file itself
 * (1 MiB reads into one buffer) and zeroes the dropped slots' 4096 bytes before hashing them.
 */
import { Worker } from 'node:worker_threads';

export interface ImageDigestInit {
  path: string;
  size: number;
  /** File offsets of the slots hashed as zeros, ascending (a shared Float64Array). */
  zeroed: SharedArrayBuffer;
  count: number;
  /** Int32 [state: 0 running, 1 done, 2 failed, message length] + 32 digest bytes + message. */
  ctrl: SharedArrayBuffer;
}

export const DIGEST_CTRL = 16 + 32 + 1024;

export class ImageDigest {
  private readonly ctrl = new SharedArrayBuffer(DIGEST_CTRL);
  private readonly worker: Worker;

  constructor(path: string, size: number, zeroedOffsets: Float64Array) {
    const zeroed = new SharedArrayBuffer(Math.max(8, zeroedOffsets.length * 8));
    new Float64Array(zeroed).set(zeroedOffsets);
    const init: ImageDigestInit = { path, size, zeroed, count: zeroedOffsets.length, ctrl: this.ctrl };
    this.worker = new Worker(new URL('./image-digest-worker.js', import.meta.url), { workerData: init });
    this.worker.on('error', () => undefined); // its exit handler marks the failure
    this.worker.unref();
  }

  /** Wait for the digest (throws the worker's error). */
  digest(): Buffer {
    const c = new Int32Array(this.ctrl, 0, 4);
    while (Atomics.load(c, 0) === 0) Atomics.wait(c, 0, 0, 100);
    if (c[0] !== 1) throw new Error(`the image's SHA-256 thread failed: ${Buffer.from(new Uint8Array(this.ctrl, 48, c[1])).toString('utf8')}`);
    return Buffer.from(new Uint8Array(this.ctrl, 16, 32));
  }

  close(): void {
    void this.worker.terminate();
  }
}
