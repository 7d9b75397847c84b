/** ImageDigest's worker (image-digest.ts): reads the image, zeroes the dropped slots, hashes. */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { workerData } from 'node:worker_threads';
import type { ImageDigestInit } from './image-digest.js';

const init = workerData as ImageDigestInit;
const c = new Int32Array(init.ctrl, 0, 4);

function fail(why: string): void {
  const m = Buffer.from(why).subarray(0, 1024);
  new Uint8Array(init.ctrl, 48, 1024).set(m);
  c[1] = m.length;
  Atomics.store(c, 0, 2);
  Atomics.notify(c, 0);
}

process.on('exit', (code) => {
  if (Atomics.load(c, 0) === 0) fail(`exit code ${code}`);
});

try {
  const zeroed = new Float64Array(init.zeroed, 0, init.count);
  const fd = fs.openSync(init.path, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  const h = createHash('sha256');
  let z = 0;
  try {
    for (let pos = 0; pos < init.size;) {
      const want = Math.min(buf.length, init.size - pos);
      let got = 0;
      while (got < want) {
        const n = fs.readSync(fd, buf, got, want - got, pos + got);
        if (n === 0) throw new Error(`${init.path} ends at ${pos + got}, before its ${init.size} bytes`);
        got += n;
      }
      // Zero the dropped slots' bytes within [pos, pos + want) (a slot may straddle two reads).
      while (z < init.count && zeroed[z] + 4096 <= pos) z++;
      for (let k = z; k < init.count && zeroed[k] < pos + want; k++) {
        const a = Math.max(zeroed[k], pos);
        const b = Math.min(zeroed[k] + 4096, pos + want);
        buf.fill(0, a - pos, b - pos);
      }
      h.update(buf.subarray(0, want));
      pos += want;
    }
  } finally {
    fs.closeSync(fd);
  }
  new Uint8Array(init.ctrl, 16, 32).set(h.digest());
  Atomics.store(c, 0, 1);
  Atomics.notify(c, 0);
} catch (e) {
  fail((e as Error)?.message ?? String(e));
}
