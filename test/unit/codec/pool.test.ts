/**
 * CodecPool failures: a job that throws in a worker comes back with its message; a worker thread
 * that dies (an uncaught exception, process.exit) fails every job waiting on it at once. The waits
 * are synchronous, so each case runs in a child process with a time limit: a hang fails the test
 * instead of hanging the suite.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CodecPool } from '../../../src/codec/pool.js';
import { tmpFile } from '../../helpers/tmp.js';

const POOL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src/codec/pool.js');

/** Run `body` (with `CodecPool`, `CodecWorkerError` in scope) in a child; it prints one JSON line. */
function child(body: string): { status: number | null; out: Record<string, unknown>; stderr: string; ms: number } {
  const script = tmpFile(Buffer.from(`import { CodecPool, CodecWorkerError } from ${JSON.stringify(POOL)};\n${body}\n`), 'pool-case.mjs');
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 30_000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  let out: Record<string, unknown> = {};
  try {
    out = JSON.parse(line) as Record<string, unknown>;
  } catch {
    out = { unparsed: line };
  }
  return { status: r.status, out, stderr: r.stderr, ms: Date.now() - t0 };
}

const waitAll = (faultExpr: string) => `
const pool = new CodecPool('zstd', 3, 2, { fault: ${faultExpr} });
const jobs = [0, 1, 2, 3].map((i) => pool.compress(Buffer.alloc(100000, i)));
const errors = [];
for (const j of jobs) {
  try { j.wait(); errors.push(null); } catch (e) { errors.push({ worker: e instanceof CodecWorkerError, message: e.message }); }
}
// A job posted after the workers died fails too.
try { pool.compress(Buffer.alloc(10)).wait(); errors.push(null); } catch (e) { errors.push({ worker: e instanceof CodecWorkerError, message: e.message }); }
pool.close();
console.log(JSON.stringify({ errors }));
`;

for (const [fault, why] of [['throw', 'uncaught Error: injected codec worker fault'], ['exit', 'exit code 3']] as const) {
  test(`a worker that ${fault === 'throw' ? 'throws' : 'exits'} fails every pending job with a CodecWorkerError instead of hanging`, (t) => {
    const r = child(waitAll(JSON.stringify(fault)));
    t.is(r.status, 0, `child status ${r.status} (null = killed after the time limit: the wait hung); ${r.stderr}`);
    const errors = r.out.errors as ({ worker: boolean; message: string } | null)[];
    t.is(errors.length, 5);
    for (const e of errors) {
      t.truthy(e, 'every job fails');
      t.true(e!.worker);
      t.regex(e!.message, /^codec worker thread [01] died with zstd jobs pending: /);
      t.true(e!.message.endsWith(why), e!.message);
    }
    t.true(r.ms < 20_000);
  });
}

test('a job that fails in a worker brings its message back; the pool stays usable', (t) => {
  const pool = new CodecPool('zstd', 3, 2);
  try {
    const bad = pool.decompress(Buffer.from('definitely not zstd'), 4096);
    const err = t.throws(() => bad.wait());
    t.regex(err!.message, /not a zstd frame/);
    const raw = Buffer.alloc(50000, 5);
    const coded = pool.compress(raw).wait();
    t.true(pool.decompress(coded, raw.length).wait().equals(raw));
  } finally {
    pool.close();
  }
});

for (const threads of [1, 2]) {
  test(`${threads === 1 ? 'inline' : 'two workers'}: released job buffers are reused without mixing results up`, (t) => {
    const pool = new CodecPool('zstd', 3, threads);
    try {
      // Frames of varied sizes, up to 2*threads in flight as the codec runs them, each released after use.
      const raws = Array.from({ length: 24 }, (_, i) => Buffer.alloc(1000 + ((i * 7919) % 5) * 300000, i + 1));
      const coded: Buffer[] = [];
      const inFlight: { i: number; job: ReturnType<CodecPool['compress']> }[] = [];
      const drain = () => {
        const { i, job } = inFlight.shift()!;
        coded[i] = Buffer.from(job.wait());
        job.release();
      };
      raws.forEach((r, i) => {
        inFlight.push({ i, job: pool.compress(r) });
        if (inFlight.length > 2 * threads) drain();
      });
      while (inFlight.length) drain();
      const back = raws.map((r, i) => pool.decompress(coded[i], r.length));
      back.forEach((job, i) => {
        t.true(job.wait().equals(raws[i]), `frame ${i}`);
        job.release();
      });
    } finally {
      pool.close();
    }
  });
}
