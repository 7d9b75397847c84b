/**
 * The writing thread of WriteBehind (write-behind.ts): writes, tees, hashes and syncs the ring's
 * buffers in order as they are submitted; answers sync and digest requests; blocks in Atomics.wait
 * while it has caught up. A failure is recorded once and ends the thread.
 */
import { workerData } from 'node:worker_threads';
import * as fs from 'node:fs';
import { digestBytes, MAX_RING, positions, SLOT, W, type WorkerInit, Writer, writeBackPos, writeFailure } from './write-behind.js';

const init = workerData as WorkerInit;
const c = new Int32Array(init.ctrl, 0, W.LEN + MAX_RING);
const pos = positions(init.ctrl);
const data = new Uint8Array(init.data);

process.on('exit', () => {
  Atomics.store(c, W.EXITED, 1);
  for (const w of [W.DONE, W.SYNC_DONE, W.DIGEST_DONE]) Atomics.notify(c, w);
});

/** The syncing thread: an fdatasync whenever the writer asks (requests that pile up become one). */
function syncer(): void {
  let did = 0;
  for (;;) {
    const asked = Atomics.load(c, W.WRITE_BACK);
    if (asked === did) {
      Atomics.wait(c, W.WRITE_BACK, did);
      continue;
    }
    const upTo = writeBackPos(init.ctrl)[0];
    try {
      fs.fdatasyncSync(init.fd);
    } catch (e) {
      throw Object.assign(e as Error, { bytes: upTo });
    }
    did = asked;
  }
}

function main(): void {
  const writer = new Writer(init, (pos) => {
    writeBackPos(init.ctrl)[0] = pos;
    Atomics.add(c, W.WRITE_BACK, 1);
    Atomics.notify(c, W.WRITE_BACK);
  });
  writer.start();
  let done = 0;
  for (;;) {
    const seq = Atomics.load(c, W.SEQ);
    const submitted = Atomics.load(c, W.SUBMITTED);
    while (done < submitted) {
      const i = done % init.ring;
      const len = c[W.LEN + i];
      if (len < 0) writer.hole(-len, pos[i]);
      else writer.write(data.subarray(i * SLOT, i * SLOT + len), pos[i]);
      done++;
      Atomics.store(c, W.DONE, done);
      Atomics.notify(c, W.DONE);
    }
    const syncReq = Atomics.load(c, W.SYNC_REQ);
    if (Atomics.load(c, W.SYNC_DONE) < syncReq && Atomics.load(c, W.SUBMITTED) === done) {
      writer.sync(done ? pos[(done - 1) % init.ring] + Math.abs(c[W.LEN + ((done - 1) % init.ring)]) : 0);
      Atomics.store(c, W.SYNC_DONE, syncReq);
      Atomics.notify(c, W.SYNC_DONE);
    }
    if (Atomics.load(c, W.DIGEST_REQ) === 1 && Atomics.load(c, W.DIGEST_DONE) === 0 && Atomics.load(c, W.SUBMITTED) === done) {
      digestBytes(init.ctrl).set(writer.digest());
      Atomics.store(c, W.DIGEST_DONE, 1);
      Atomics.notify(c, W.DIGEST_DONE);
    }
    if (Atomics.load(c, W.SEQ) === seq) Atomics.wait(c, W.SEQ, seq);
  }
}

try {
  if (init.role === 'sync') syncer();
  else main();
} catch (e) {
  writeFailure(init.ctrl, e);
}
