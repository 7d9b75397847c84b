/**
 * SIGINT, SIGTERM and SIGHUP during `mig encode` / `mig decode` (a real child process, signalled
 * mid-work): the temp files and spool directories are removed, no output appears, and the exit
 * status is 128 + the signal's number. "Mid-work" is made certain by polling for the temp file
 * before signalling: for decode, the .mig arrives on a pipe that stalls after a few frames; for
 * encode, a large generated image (and, for `encode -`, a stdin that stalls while it is spooled).
 */
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeImage } from '../../../src/codec/encode.js';
import { writeAtomically } from '../../../src/util/sink.js';
import { MIG } from '../../helpers/cli.js';
import { tmpFile, tmpPath } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** A raw image of `mib` MiB of incompressible pages. */
function randomImage(mib: number): string {
  return tmpFile(crypto.randomBytes(mib << 20), 'random.img');
}

let encodedCache: Buffer | undefined;
/** A .mig of 8 MiB of random pages, in 64 KiB frames. */
function encodedMig(): Buffer {
  if (!encodedCache) {
    const out = tmpPath('sig.mig');
    writeAtomically(out, (sink) => encodeImage(randomImage(8), sink, { frameRaw: 65536, threads: 1 }));
    encodedCache = fs.readFileSync(out);
  }
  return encodedCache;
}

function exited(c: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  c.stdin?.on('error', () => undefined); // EPIPE for what was still being written when it died
  return new Promise((resolve) => c.on('exit', (code, signal) => resolve({ code, signal })));
}

const entries = (dir: string, part: string) => fs.readdirSync(dir).filter((f) => f.includes(part));

for (const sig of SIGNALS) {
  test.serial(`decode: ${sig} while the .mig is arriving removes the temp output; exit ${128 + os.constants.signals[sig]}`, async (t) => {
    const dir = tmpPath('decode-sig');
    fs.mkdirSync(dir);
    const out = path.join(dir, 'out.img');
    const c = spawn(process.execPath, [MIG, 'decode', '-', '-o', out], { stdio: ['pipe', 'ignore', 'pipe'] });
    const done = exited(c);
    const m = encodedMig();
    c.stdin!.write(m.subarray(0, m.length >> 1)); // half of it, then the pipe stalls
    t.true(await waitFor(() => entries(dir, '.out.img.tmp-').length === 1, 30_000), 'the temp output exists mid-decode');
    c.kill(sig);
    const r = await done;
    c.stdin!.destroy();
    t.is(r.code, 128 + os.constants.signals[sig]);
    t.deepEqual(fs.readdirSync(dir), [], 'no temp file, no output');
  });
}

test.serial('decode -o -: SIGTERM removes the stdout spool in $TMPDIR', async (t) => {
  const tmp = tmpPath('tmpdir');
  fs.mkdirSync(tmp);
  const c = spawn(process.execPath, [MIG, 'decode', '-', '-o', '-'], { stdio: ['pipe', 'ignore', 'pipe'], env: { ...process.env, TMPDIR: tmp } });
  const done = exited(c);
  const m = encodedMig();
  c.stdin!.write(m.subarray(0, m.length >> 1));
  t.true(await waitFor(() => entries(tmp, 'mig-decode-spool').length === 1, 30_000), 'the spool exists mid-decode');
  c.kill('SIGTERM');
  const r = await done;
  c.stdin!.destroy();
  t.is(r.code, 143);
  t.deepEqual(fs.readdirSync(tmp), []);
});

for (const sig of SIGNALS) {
  test.serial(`encode: ${sig} mid-encode removes the temp output; exit ${128 + os.constants.signals[sig]}`, async (t) => {
    const img = randomImage(96);
    const dir = tmpPath('encode-sig');
    fs.mkdirSync(dir);
    const out = path.join(dir, 'out.mig');
    const c = spawn(process.execPath, [MIG, 'encode', img, '-o', out, '--no-introspect', '--threads', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let running = true;
    const done = exited(c).then((r) => {
      running = false;
      return r;
    });
    t.true(await waitFor(() => entries(dir, '.out.mig.tmp-').length === 1, 30_000), 'the temp output exists');
    t.true(running, 'signalled mid-work');
    c.kill(sig);
    const r = await done;
    t.is(r.code, 128 + os.constants.signals[sig]);
    t.deepEqual(fs.readdirSync(dir), [], 'no temp file, no output');
  });
}

test.serial('encode -: SIGINT while stdin is being spooled removes the spool directory', async (t) => {
  const tmp = tmpPath('tmpdir');
  fs.mkdirSync(tmp);
  const dir = tmpPath('encode-stdin');
  fs.mkdirSync(dir);
  const c = spawn(process.execPath, [MIG, 'encode', '-', '-o', path.join(dir, 'x.mig')], { stdio: ['pipe', 'ignore', 'pipe'], env: { ...process.env, TMPDIR: tmp } });
  const done = exited(c);
  c.stdin!.write(Buffer.alloc(1 << 20, 1)); // then it stalls
  t.true(await waitFor(() => entries(tmp, 'mig-encode-').length === 1, 30_000), 'the spool directory exists');
  c.kill('SIGINT');
  const r = await done;
  c.stdin!.destroy();
  t.is(r.code, 130);
  t.deepEqual(fs.readdirSync(tmp), []);
  t.deepEqual(fs.readdirSync(dir), []);
});
