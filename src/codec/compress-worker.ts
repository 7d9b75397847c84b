/**
 * Worker for CodecPool: compresses or decompresses the bytes it is sent and writes the result into
 * the job's SharedArrayBuffer, then flips the job's state word and notifies (Atomics), so the
 * caller can wait for a frame synchronously, in frame order.
 */
import { parentPort } from 'node:worker_threads';
import { entropyCompress, entropyDecompress, type CodecName } from './entropy.js';

interface Job {
  kind: 'compress' | 'decompress';
  codec: CodecName;
  level: number;
  input: Uint8Array;
  /** decompress: the exact raw length expected. */
  rawLength: number;
  ctrl: SharedArrayBuffer; // Int32 [state: 0 pending, 1 done, 2 failed; result length]
  out: SharedArrayBuffer;
}

parentPort!.on('message', (job: Job) => {
  const ctrl = new Int32Array(job.ctrl);
  try {
    const result = job.kind === 'compress' ? entropyCompress(job.codec, job.level, job.input) : entropyDecompress(job.codec, job.input, job.rawLength);
    if (result.length > job.out.byteLength) throw new Error(`${result.length} bytes exceed the ${job.out.byteLength}-byte result buffer`);
    new Uint8Array(job.out).set(result);
    ctrl[1] = result.length;
    Atomics.store(ctrl, 0, 1);
  } catch (e) {
    // The message is not needed: the caller redoes a failed decompression inline to get the error.
    void e;
    Atomics.store(ctrl, 0, 2);
  }
  Atomics.notify(ctrl, 0);
});
