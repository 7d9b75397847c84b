/**
 * The encoder of `mig migrate`, in a child process so that the (synchronous) encoder and the network
 * transfer overlap: the .mig goes to stdout (a pipe, whose blocking writes are the back-pressure),
 * progress and the summary go to stderr as JSON lines. argv[2] is the JSON of EncodeChildArgs.
 */
import * as fs from 'node:fs';
import { encodeImage } from '../codec/encode.js';
import { MigError } from '../util/errors.js';

export interface EncodeChildArgs {
  image: string;
  baseline?: string;
  context?: string;
  threads?: number;
}

function writeAll(fd: number, b: Uint8Array): void {
  let off = 0;
  while (off < b.length) {
    try {
      off += fs.writeSync(fd, b, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
    }
  }
}

const line = (o: object) => writeAll(2, Buffer.from(JSON.stringify(o) + '\n'));

try {
  const a = JSON.parse(process.argv[2]) as EncodeChildArgs;
  let last = 0;
  const summary = encodeImage(a.image, { write: (c) => writeAll(1, c) }, {
    baseline: a.baseline, context: a.context, threads: a.threads,
    onProgress: (done, total) => {
      const now = Date.now();
      if (now - last < 200) return;
      last = now;
      line({ progress: done, total });
    },
  });
  line({ summary });
  process.exitCode = 0;
} catch (e) {
  if ((e as NodeJS.ErrnoException).code === 'EPIPE') process.exit(1);
  line({ error: e instanceof MigError ? e.toJSON() : { code: 'INTERNAL', message: String((e as Error).stack ?? e) } });
  process.exitCode = 1;
}
