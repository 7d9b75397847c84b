/**
 * Worker for CodecPool: compresses or decompresses the bytes it is sent and writes the result into
 * the job's SharedArrayBuffer, then flips the job's state word and notifies (Atomics), so the
 * caller can wait for a frame synchronously, in frame order. A job that fails carries its error
 * message back; if the thread ends for any reason its JS can see (an uncaught exception,
 * process.exit), the job in hand and every job still queued for it are marked failed and the
 * pool's shared `dead` word is set, so a waiting caller never waits for a thread that is gone.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { entropyCompress, entropyDecompress, zstdBound, zstdCompressInto, type CodecName } from './entropy.js';
import { JobState, writeJobError, type JobMessage, type WorkerInit } from './pool.js';

type Job = JobMessage;

const init = workerData as WorkerInit;
let current: Job | undefined;

function finish(job: Job, state: number, message?: string): void {
  const ctrl = new Int32Array(job.ctrl);
  if (message !== undefined) writeJobError(job.ctrl, message);
  Atomics.store(ctrl, 0, state);
  Atomics.notify(ctrl, 0);
}

let uncaught: unknown;
process.on('uncaughtExceptionMonitor', (e) => {
  uncaught = e;
});

process.on('exit', (code) => {
  const why = uncaught !== undefined ? `uncaught ${String(uncaught)}` : `exit code ${code}`;
  // The pool's dead word first (it has the job control layout: [1, code, message length] + why), then the jobs.
  writeJobError(init.dead, why);
  const dead = new Int32Array(init.dead);
  Atomics.store(dead, 1, code);
  Atomics.store(dead, 0, 1);
  Atomics.notify(dead, 0);
  if (current) finish(current, JobState.DIED, why);
  for (let m = receiveMessageOnPort(parentPort!); m; m = receiveMessageOnPort(parentPort!)) finish(m.message as Job, JobState.DIED, why);
});

parentPort!.on('message', (job: Job) => {
  current = job;
  // Test-only fault injection (CodecPool's `fault` option, not reachable from the CLI).
  if (init.fault === 'throw') throw new Error('injected codec worker fault');
  if (init.fault === 'exit') process.exit(3);
  try {
    let length: number;
    const input = new Uint8Array(job.input, 0, job.inputLength);
    if (job.kind === 'compress' && job.codec === 'zstd' && job.out.byteLength >= zstdBound(input.length)) {
      // Straight into the shared result buffer.
      length = zstdCompressInto(job.level, input, new Uint8Array(job.out));
    } else if (job.kind === 'decompress') {
      if (job.rawLength > job.out.byteLength) throw new Error(`${job.rawLength} bytes exceed the ${job.out.byteLength}-byte result buffer`);
      length = entropyDecompress(job.codec, input, job.rawLength, new Uint8Array(job.out, 0, job.rawLength)).length;
    } else {
      const result = entropyCompress(job.codec, job.level, input);
      if (result.length > job.out.byteLength) throw new Error(`${result.length} bytes exceed the ${job.out.byteLength}-byte result buffer`);
      new Uint8Array(job.out).set(result);
      length = result.length;
    }
    new Int32Array(job.ctrl)[1] = length;
    finish(job, JobState.DONE);
  } catch (e) {
    finish(job, JobState.FAILED, (e as Error)?.message ?? String(e));
  }
  current = undefined;
});
