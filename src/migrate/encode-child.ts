/**
 * The encoder of `mig migrate`, in a child process so that the (synchronous) encoder and the network
 * transfer overlap: the .mig goes to stdout (a pipe, whose blocking writes are the back-pressure),
 * progress and the summary go to stderr as JSON lines. argv[2] is the JSON of EncodeChildArgs.
 */
import { encodeImage } from '../codec/encode.js';
import { MigError } from '../util/errors.js';
import { writeAllSync } from '../util/fd.js';

export interface EncodeChildArgs {
  image: string;
  baseline?: string;
  context?: string;
  threads?: number;
}

const line = (o: object) => writeAllSync(2, Buffer.from(JSON.stringify(o) + '\n'));

try {
  const a = JSON.parse(process.argv[2]) as EncodeChildArgs;
  let last = 0;
  const summary = encodeImage(a.image, { write: (c) => writeAllSync(1, c) }, {
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
