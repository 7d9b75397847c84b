/**
 * hooks/qemu, the libvirt hook, run the way libvirtd runs it (argv domain op subop extra, the domain
 * XML on stdin) against a managed-save dir holding a real save image of the small guest: it returns at
 * once, indexes the image in the background, ignores everything else, and exits 0 on its own errors.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MIG } from '../helpers/cli.js';
import { loadGuest } from '../helpers/corpus.js';
import { tmpPath } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { fileSha256 } from '../../src/util/hash.js';

const HOOK = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../hooks/qemu');
const guest = loadGuest('mig-small');

function setup(domain: string, age = 0) {
  const state = tmpPath('state');
  const saveDir = tmpPath('save');
  fs.mkdirSync(saveDir);
  const image = path.join(saveDir, `${domain}.save`);
  fs.copyFileSync(guest.path('save1'), image);
  if (age) fs.utimesSync(image, new Date(Date.now() - age * 1000), new Date(Date.now() - age * 1000));
  return { state, image, saveDir };
}

function hook(env: Record<string, string>, ...args: string[]) {
  const t0 = Date.now();
  const r = spawnSync(HOOK, args, { input: '<domain><name>x</name></domain>', encoding: 'utf8', env: { ...process.env, ...env } });
  return { status: r.status, ms: Date.now() - t0 };
}


test('release end after a managed save: returns at once, indexes the image as the domain\'s baseline in the background', async (t) => {
  const { state, image, saveDir } = setup('vm-hook');
  const env = { MIG_STATE_DIR: state, MIG_MANAGED_SAVE_DIR: saveDir, MIG_HOOK_MIG: `${process.execPath} ${MIG}` };
  const r = hook(env, 'vm-hook', 'release', 'end', '-');
  t.is(r.status, 0);
  t.true(r.ms < 3000, `the hook took ${r.ms} ms`);
  const digest = fileSha256(image).toString('hex');
  const ref = path.join(state, 'baselines', 'domains', 'vm-hook.json');
  t.true(await waitFor(() => fs.existsSync(ref)), `no baseline recorded; log:\n${fs.readFileSync(path.join(state, 'log', 'hook.log'), 'utf8')}`);
  const h = JSON.parse(fs.readFileSync(ref, 'utf8'));
  t.is(h.entries[0].digest, digest);
  t.is(h.entries[0].origin, 'hook');
  t.true(fs.existsSync(path.join(state, 'baselines', 'images', digest)));
  t.true(fs.existsSync(image), 'libvirt\'s managed-save image is left in place');
  t.regex(fs.readFileSync(path.join(state, 'log', 'hook.log'), 'utf8'), /indexing .*vm-hook\.save/);
});

test('other operations, unsaved domains, stale images, bad names and a failing mig: exit 0, nothing indexed', async (t) => {
  const { state, saveDir } = setup('vm-old', 3600);
  const env = { MIG_STATE_DIR: state, MIG_MANAGED_SAVE_DIR: saveDir, MIG_HOOK_MIG: `${process.execPath} ${MIG}` };
  for (const args of [['vm-old', 'prepare', 'begin', '-'], ['vm-old', 'started', 'begin', '-'], ['vm-none', 'release', 'end', '-'],
    ['vm-old', 'release', 'end', '-'], ['../../etc/passwd', 'release', 'end', '-'], ['x'], []]) {
    t.is(hook(env, ...args).status, 0, args.join(' '));
  }
  // A mig that fails (here: not a mig at all) still leaves the hook's exit status 0.
  const fresh = setup('vm-fail');
  t.is(hook({ MIG_STATE_DIR: state, MIG_MANAGED_SAVE_DIR: fresh.saveDir, MIG_HOOK_MIG: '/bin/false' }, 'vm-fail', 'release', 'end', '-').status, 0);
  // Not even a broken state dir makes it fail.
  t.is(hook({ MIG_STATE_DIR: '/proc/nope', MIG_MANAGED_SAVE_DIR: fresh.saveDir }, 'vm-fail', 'release', 'end', '-').status, 0);
  await new Promise((r) => setTimeout(r, 1500));
  t.false(fs.existsSync(path.join(state, 'baselines')), 'nothing was indexed');
  const log = fs.readFileSync(path.join(state, 'log', 'hook.log'), 'utf8');
  t.regex(log, /vm-old: .* s old/);
  t.regex(log, /not a domain name mig accepts/);
});
