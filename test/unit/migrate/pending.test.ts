/** saves/<domain>.json, left by a migration killed after its save: read only when it is whole and its process is gone. */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readPending } from '../../../src/migrate/pending.js';
import { tmpPath } from '../../helpers/tmp.js';

function setup(fields: Record<string, unknown> = {}, image = true) {
  const saves = tmpPath('saves');
  fs.mkdirSync(saves);
  const img = path.join(saves, 'vm1.img');
  if (image) fs.writeFileSync(img, 'LibvirtQemudSave');
  // A pid that is surely gone: a child that has exited.
  const dead = spawnSync('true').pid!;
  const p = { id: 'a'.repeat(32), destination: 'root@host', image: img, baseline: null, context: null, pid: dead, savedAt: 'x', ...fields };
  fs.writeFileSync(path.join(saves, 'vm1.json'), JSON.stringify(p));
  return saves;
}

test('a whole pending migration of a dead process is read', (t) => {
  const p = readPending(setup(), 'vm1');
  t.is(p?.destination, 'root@host');
  t.is(p?.id, 'a'.repeat(32));
});

test('missing, malformed or inconsistent pending files are not used', (t) => {
  t.is(readPending(tmpPath('nothing'), 'vm1'), undefined);
  t.is(readPending(setup({}, false), 'vm1'), undefined, 'its save image is gone');
  t.is(readPending(setup({ id: '../etc' }), 'vm1'), undefined, 'bad id');
  t.is(readPending(setup({ image: '/etc/passwd' }), 'vm1'), undefined, 'an image outside saves/<domain>.img');
  t.is(readPending(setup({ baseline: 'x' }), 'vm1'), undefined);
  t.is(readPending(setup({ context: 7 }), 'vm1'), undefined);
  const saves = setup();
  fs.writeFileSync(path.join(saves, 'vm1.json'), '{"id":');
  t.is(readPending(saves, 'vm1'), undefined, 'truncated JSON');
});

test('a pending migration whose process is alive is busy, not resumable', (t) => {
  const child = spawnSync('sh', ['-c', 'sleep 5 >/dev/null 2>&1 & echo $!'], { encoding: 'utf8' });
  const pid = Number(child.stdout.trim());
  try {
    t.throws(() => readPending(setup({ pid }), 'vm1'), { message: new RegExp(`running \\(process ${pid}\\)`) });
  } finally {
    process.kill(pid, 'SIGKILL');
  }
});
