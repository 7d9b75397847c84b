/**
 * A full file system under the output (a 256 KiB tmpfs): `mig encode`, `mig decode` and `mig context
 * build` stop with WRITE naming the file and errno (exit 1, not an internal error), and leave nothing
 * behind: no file under the name, no temp file.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { mig } from '../helpers/cli.js';
import { page } from '../helpers/stream-writer.js';
import { tmpFile, tmpPath } from '../helpers/tmp.js';

let dir: string;
test.before(() => {
  dir = tmpPath('full');
  fs.mkdirSync(dir);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', dir], { encoding: 'utf8' });
  if (m.status !== 0) throw new Error(`mount tmpfs (root needed): ${m.stderr}`);
});
test.after.always(() => {
  spawnSync('umount', [dir]);
});

// Pages that do not compress: 2 MiB of them cannot fit in 256 KiB however they are coded.
const noise = (n: number) => Buffer.concat(Array.from({ length: n }, (_, i) => page(1000 + i)));

test.serial('encode, decode and context build onto a full file system: WRITE with the errno, exit 1, nothing left', (t) => {
  const img = tmpFile(noise(512), 'noise.img');
  const e = mig('encode', img, '-o', `${dir}/x.mig`, '--no-introspect', '--json');
  t.is(e.status, 1, e.stderr);
  const j = JSON.parse(e.stdout);
  t.is(j.code, 'WRITE');
  t.is(j.errno, 'ENOSPC');
  t.regex(e.stderr, /cannot write .*x\.mig: ENOSPC \(no space left on the device\) after \d+ bytes; nothing is kept under that name/);
  t.deepEqual(fs.readdirSync(dir), []);

  const good = tmpPath('x.mig');
  t.is(mig('encode', img, '-o', good, '--no-introspect').status, 0);
  const d = mig('decode', good, '-o', `${dir}/back.img`, '--json');
  t.is(d.status, 1, d.stderr);
  t.is(JSON.parse(d.stdout).code, 'WRITE');
  t.deepEqual(fs.readdirSync(dir), []);

  const tree = tmpPath('tree');
  fs.mkdirSync(`${tree}/etc`, { recursive: true });
  fs.writeFileSync(`${tree}/etc/blob`, noise(128));
  const c = mig('context', 'build', tree, '-o', `${dir}/c.ctx`, '--include', 'etc/**', '--json');
  t.is(c.status, 1, c.stderr);
  t.is(JSON.parse(c.stdout).code, 'WRITE');
  t.deepEqual(fs.readdirSync(dir), []);
});
