/**
 * Images on block devices (an LVM volume or a disk partition holding a raw memory image, a save image
 * written to a device): the readers see the device's size from sysfs (fstat says 0), so `mig info`
 * and `mig encode` read a loop device exactly as the file behind it.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { mig } from '../helpers/cli.js';
import { page } from '../helpers/stream-writer.js';
import { tmpFile, tmpPath } from '../helpers/tmp.js';

test('a raw image on a loop device: info and encode read it as the file', (t) => {
  const img = Buffer.concat(Array.from({ length: 256 }, (_, i) => (i % 5 === 0 ? Buffer.alloc(4096) : page(i))));
  const file = tmpFile(img, 'raw.img');
  const lo = spawnSync('losetup', ['--find', '--show', '--read-only', file], { encoding: 'utf8' });
  t.is(lo.status, 0, `losetup (root and loop devices needed): ${lo.stderr}`);
  const dev = lo.stdout.trim();
  t.teardown(() => void spawnSync('losetup', ['-d', dev]));
  t.true(fs.statSync(dev).isBlockDevice());
  const viaFile = mig('info', '--format', 'raw', '--json', file);
  const viaDev = mig('info', '--format', 'raw', '--json', dev);
  t.is(viaDev.status, 0, viaDev.stderr);
  const a = JSON.parse(viaFile.stdout);
  const b = JSON.parse(viaDev.stdout);
  t.is(a.fileSize, img.length);
  t.is(b.fileSize, img.length, 'the device size, not fstat\'s 0');
  t.deepEqual({ ...b, file: a.file, elapsedMs: 0 }, { ...a, elapsedMs: 0 });
  const out = tmpPath('dev.mig');
  const e = mig('encode', dev, '-o', out, '--no-introspect', '--json');
  t.is(e.status, 0, e.stderr);
  t.is(JSON.parse(e.stdout).imageBytes, img.length);
  const back = tmpPath('back.img');
  t.is(mig('decode', out, '-o', back).status, 0);
  t.true(fs.readFileSync(back).equals(img));
});
