/**
 * The domain's context from its own disks (src/state/auto-context.ts): the first disk that holds a
 * file system mig reads is taken (a data disk without one is passed over and named), the context is
 * stored in the state dir and reused while the disk is unchanged, rebuilt when it changes.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { autoContextFor } from '../../../src/state/auto-context.js';
import { buildContext } from '../../../src/context/build.js';
import { tmpPath } from '../../helpers/tmp.js';

function rootDisk(): string {
  const tree = tmpPath('tree');
  fs.mkdirSync(path.join(tree, 'usr/bin'), { recursive: true });
  fs.writeFileSync(path.join(tree, 'usr/bin/tool'), Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.alloc(30000, 3)]));
  const image = tmpPath('root.ext4');
  const r = spawnSync('mkfs.ext4', ['-q', '-F', '-d', tree, image, '4M'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mkfs.ext4: ${r.stderr}`);
  return image;
}

test('built from the first disk with a file system, stored, reused while the disk is unchanged, rebuilt after', async (t) => {
  const state = tmpPath('state');
  const data = tmpPath('data.disk');
  fs.writeFileSync(data, Buffer.alloc(1 << 20, 0x5a));
  const root = rootDisk();
  const first = await autoContextFor(state, 'vm1', [data, root]);
  t.false(first.reused);
  t.is(first.disk, root);
  t.is(first.files, 1);
  t.is(first.path, path.join(state, 'contexts', 'vm1.auto.ctx'));
  t.is(first.skipped.length, 1);
  t.is(first.skipped[0].disk, data);
  t.deepEqual(first.digest, (await buildContext(root, {})).digest.toString('hex'));
  const again = await autoContextFor(state, 'vm1', [data, root]);
  t.true(again.reused);
  t.is(again.digest, first.digest);
  // The disk is written (its mtime moves): built again.
  const later = new Date(Date.now() + 3000);
  fs.utimesSync(root, later, later);
  const rebuilt = await autoContextFor(state, 'vm1', [data, root]);
  t.false(rebuilt.reused);
  t.is(rebuilt.digest, first.digest);
});

test('no disk gives a context: an error naming each disk and why', async (t) => {
  const data = tmpPath('only-data.disk');
  fs.writeFileSync(data, Buffer.alloc(1 << 20));
  const e = await t.throwsAsync(autoContextFor(tmpPath('state2'), 'vm2', [data, '/nonexistent/disk.img']));
  t.regex(e!.message, /no disk of vm2 gives a context: .*only-data\.disk: .*; \/nonexistent\/disk\.img: /);
  const none = await t.throwsAsync(autoContextFor(tmpPath('state3'), 'vm3', []));
  t.regex(none!.message, /it has no disks/);
});

test('a disk written while the context is built is passed over, not used with torn files', async (t) => {
  const root = rootDisk();
  // Another process keeps writing the disk (its mtime moves every few milliseconds) during both attempts.
  const writer = spawn('bash', ['-c', `while :; do printf x | dd of='${root}' bs=1 seek=0 conv=notrunc status=none; sleep 0.005; done`], { stdio: 'ignore' });
  try {
    const e = await t.throwsAsync(autoContextFor(tmpPath('state4'), 'vm4', [root]));
    t.regex(e!.message, /written while it was read/);
  } finally {
    writer.kill('SIGKILL');
  }
});
