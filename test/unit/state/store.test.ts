import test from 'ava';
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { BaselineStore } from '../../../src/state/baselines.js';
import { acquireLock, checkDomainName } from '../../../src/state/dir.js';
import { tmpPath } from '../../helpers/tmp.js';

/** A raw memory image (any multiple of 4 KiB mig reads as raw) with distinct content per seed. */
function rawImage(seed: number, pages = 8): string {
  const b = Buffer.alloc(pages * 4096);
  for (let i = 0; i < b.length; i += 64) b.writeUInt32LE(seed * 1000003 + i, i);
  const p = tmpPath(`raw-${seed}.img`);
  fs.writeFileSync(p, b);
  return p;
}
const sha = (p: string) => createHash('sha256').update(fs.readFileSync(p)).digest('hex');

test('domain names: ordinary names pass, path tricks and oddities are refused', (t) => {
  for (const ok of ['mig-small', 'vm_1', 'web.example.com', 'a', 'x+y:z']) t.is(checkDomainName(ok), ok);
  for (const bad of ['', '../etc', 'a/b', '.hidden', '-rf', 'a..b', 'a b', 'ä', 'x\n', 'a'.repeat(129), 'nul\0']) {
    t.throws(() => checkDomainName(bad), { code: 'BAD_DOMAIN_NAME' } as never, bad);
  }
});

test('store: add by domain is content-addressed, history newest first, rm and gc delete unreferenced images', (t) => {
  const store = new BaselineStore(tmpPath('state'));
  const i1 = rawImage(1);
  const i2 = rawImage(2);
  const d1 = store.addForDomain('vm1', i1, { origin: 'add' });
  t.is(d1, sha(i1));
  t.true(fs.existsSync(store.pathOf(d1)));
  t.true(fs.existsSync(i1), 'copy, not move, by default');
  const d2 = store.addForDomain('vm1', i2, { origin: 'add' });
  t.is(store.latest('vm1'), d2);
  t.deepEqual(store.history('vm1').map((e) => e.digest), [d2, d1]);
  // The same image again only moves it to the front.
  store.addForDomain('vm1', i1, { origin: 'add' });
  t.deepEqual(store.history('vm1').map((e) => e.digest), [d1, d2]);
  const blank = store.addBlank('debian-12', i2);
  t.is(blank, d2);
  const l = store.list();
  t.is(l.length, 2);
  t.deepEqual(l.find((x) => x.digest === d2)!.blankFor, ['debian-12']);
  // gc keep 1: d2 leaves vm1's history but stays as the blank baseline.
  const plan = store.gc({ keep: 1 });
  t.deepEqual(plan.deleteImages, []);
  t.deepEqual(store.history('vm1').map((e) => e.digest), [d1]);
  t.deepEqual(store.remove({ os: 'debian-12' }), [d2]);
  t.false(fs.existsSync(store.pathOf(d2)));
  t.deepEqual(store.remove({ domain: 'vm1' }), [d1]);
  t.deepEqual(store.list(), []);
});

test('store: move renames the image into the store; unreadable images are refused', (t) => {
  const store = new BaselineStore(tmpPath('state'));
  const i = rawImage(3);
  const d = sha(i);
  store.addForDomain('vm', i, { origin: 'migrate', move: true });
  t.false(fs.existsSync(i));
  t.true(store.has(d));
  const junk = tmpPath('junk');
  fs.writeFileSync(junk, 'not an image');
  t.throws(() => store.addForDomain('vm', junk, { origin: 'add' }));
  t.is(store.latest('vm'), d);
});

test('lock: a live holder is waited for, a dead holder\'s lock is taken over', async (t) => {
  const f = tmpPath('lock');
  const release = acquireLock(f);
  t.throws(() => acquireLock(f, 200), { code: 'STATE' } as never);
  release();
  t.false(fs.existsSync(f));
  // A lock left by a process that has exited.
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => child.once('exit', r));
  fs.writeFileSync(f, `${child.pid}\n`);
  const r2 = acquireLock(f, 1000);
  t.is(Number(fs.readFileSync(f, 'utf8')), process.pid);
  r2();
});

test('store: a stored file unchanged since it was stored is trusted by digest; rewritten, touched or replaced, it is not', (t) => {
  const store = new BaselineStore(tmpPath('state-trust'));
  const img = rawImage(7);
  const digest = store.addForDomain('vm-trust', img, { origin: 'add' });
  t.deepEqual(store.trustedDigest(digest), Buffer.from(digest, 'hex'));
  t.is(store.trustedDigest('0'.repeat(64)), undefined, 'not stored');
  const file = store.pathOf(digest);
  // Same bytes, new modification time: no longer vouched for (the caller hashes it).
  const later = new Date(Date.now() + 5000);
  fs.utimesSync(file, later, later);
  t.is(store.trustedDigest(digest), undefined);
  // Replaced by another file (new inode) with the old time restored: still not trusted.
  const d2 = store.addForDomain('vm-trust-2', rawImage(8), { origin: 'add' });
  fs.copyFileSync(file, `${file}.copy`);
  fs.renameSync(`${file}.copy`, file);
  t.is(store.trustedDigest(digest), undefined);
  t.deepEqual(store.trustedDigest(d2), Buffer.from(d2, 'hex'));
  // Metadata written before the file identity was recorded: not trusted.
  const meta = JSON.parse(fs.readFileSync(`${store.pathOf(d2)}.json`, 'utf8'));
  delete meta.file;
  fs.writeFileSync(`${store.pathOf(d2)}.json`, JSON.stringify(meta));
  t.is(store.trustedDigest(d2), undefined);
});
