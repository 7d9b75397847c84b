/**
 * Worker for CompressPool: compresses the raw bytes it is sent and writes the result into the
 * job's SharedArrayBuffer, then flips the job's state word and notifies (Atomics), so the encoder
 * can wait for a frame synchronously, in frame order.
 */
import { parentPort } from 'node:worker_threads';
import { entropyCompress, type CodecName } from './entropy.js';

interface Job {
  codec: CodecName;
  level: number;
  raw: Uint8Array;
  ctrl: SharedArrayBuffer; // Int32 [state: 0 pending, 1 done, 2 failed; coded length]
  out: SharedArrayBuffer;
}

parentPort!.on('message', (job: Job) => {
  const ctrl = new Int32Array(job.ctrl);
  try {
    const coded = entropyCompress(job.codec, job.level, job.raw);
    if (coded.length > job.out.byteLength) throw new Error(`coded ${coded.length} bytes exceed the ${job.out.byteLength}-byte result buffer`);
    new Uint8Array(job.out).set(coded);
    ctrl[1] = coded.length;
    Atomics.store(ctrl, 0, 1);
  } catch {
    Atomics.store(ctrl, 0, 2);
  }
  Atomics.notify(ctrl, 0);
});
