/**
 * hooks/qemu run by a real libvirtd: installed the way `make install-hooks` does (qemu.d/mig, present
 * before libvirtd starts; a private libvirtd, so the system's daemon is not restarted under the rest of
 * the suite), a managed save of a persistent small-guest domain gets indexed as that domain's baseline,
 * and neither the save nor the start from it is slowed or broken, also when the hook's own work fails.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MIG } from '../helpers/cli.js';
import { heartbeatAbove, startTestDomain } from '../helpers/domain.js';
import { startPrivateLibvirtd, type PrivateLibvirtd } from '../helpers/private-libvirtd.js';
import { tmpPath } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { fileSha256 } from '../../src/util/hash.js';

const HOOK = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../hooks/qemu');

/**
 * qemu.d/mig: the real hook, with the settings a test needs in its environment (libvirtd passes hooks
 * only a fixed environment, so they are set here rather than inherited).
 */
function installHook(hooks: string, env: Record<string, string>): void {
  fs.mkdirSync(path.join(hooks, 'qemu.d'), { recursive: true });
  const exports = Object.entries(env).map(([k, v]) => `export ${k}='${v}'`).join('\n');
  fs.writeFileSync(path.join(hooks, 'qemu.d', 'mig'), `#!/bin/sh\n${exports}\nexec ${HOOK} "$@"\n`, { mode: 0o755 });
}


let lv: PrivateLibvirtd;
const hooks = tmpPath('hooks');
const state = tmpPath('state');

test.before(async () => {
  installHook(hooks, { MIG_STATE_DIR: state, MIG_HOOK_MIG: `${process.execPath} ${MIG}` });
  lv = await startPrivateLibvirtd(hooks);
});
test.after.always(async () => {
  await lv?.stop();
});

test.serial('managed save in a real libvirtd: the hook indexes the image as the domain\'s baseline; start from it still works', async (t) => {
  t.timeout(5 * 60_000);
  const d = startTestDomain('mig-hook', { ns: lv.prefix, persistent: true });
  t.teardown(() => d.destroy());
  const before = Math.max(0, ...d.heartbeats());
  const t0 = Date.now();
  const saved = lv.virsh('managedsave', d.name);
  t.is(saved.status, 0, saved.stderr);
  const saveMs = Date.now() - t0;
  const ref = path.join(state, 'baselines', 'domains', `${d.name}.json`);
  const log = () => (fs.existsSync(path.join(state, 'log', 'hook.log')) ? fs.readFileSync(path.join(state, 'log', 'hook.log'), 'utf8') : '(no log)');
  t.true(await waitFor(() => fs.existsSync(ref), 90_000), `no baseline for ${d.name}; hook log:\n${log()}`);
  const digest = JSON.parse(fs.readFileSync(ref, 'utf8')).entries[0].digest as string;
  const stored = path.join(state, 'baselines', 'images', digest);
  t.is(fileSha256(stored).toString('hex'), digest);
  // The very bytes libvirt saved (its managed-save file lives in the private daemon's namespace).
  const cmp = lv.run('cmp', stored, `/var/lib/libvirt/qemu/save/${d.name}.save`);
  t.is(cmp.status, 0, cmp.stdout + cmp.stderr);
  t.regex(log(), new RegExp(`${d.name}: indexing /var/lib/libvirt/qemu/save/${d.name}\\.save`));
  t.log(`managedsave ${saveMs} ms with the hook`);

  const started = lv.virsh('start', d.name);
  t.is(started.status, 0, started.stderr);
  t.is(lv.virsh('domstate', d.name).stdout.trim(), 'running');
  t.true((await heartbeatAbove(d, before)).length >= 2, 'the guest goes on after the start from its managed save');
});

test.serial('a hook whose own work fails does not break libvirt: save and start succeed, nothing indexed', async (t) => {
  t.timeout(5 * 60_000);
  // libvirtd checked at start that qemu.d/mig exists; what it runs is read at each call.
  const broken = tmpPath('broken-state');
  installHook(hooks, { MIG_STATE_DIR: broken, MIG_HOOK_MIG: '/bin/false' });
  t.teardown(() => installHook(hooks, { MIG_STATE_DIR: state, MIG_HOOK_MIG: `${process.execPath} ${MIG}` }));
  const d = startTestDomain('mig-hook', { ns: lv.prefix, persistent: true });
  t.teardown(() => d.destroy());
  const saved = lv.virsh('managedsave', d.name);
  t.is(saved.status, 0, saved.stderr);
  const started = lv.virsh('start', d.name);
  t.is(started.status, 0, started.stderr);
  t.is(lv.virsh('domstate', d.name).stdout.trim(), 'running');
  await new Promise((r) => setTimeout(r, 2000));
  t.false(fs.existsSync(path.join(broken, 'baselines', 'domains', `${d.name}.json`)));
  t.regex(fs.readFileSync(path.join(broken, 'log', 'hook.log'), 'utf8'), /indexing/, 'it tried, logged, and let libvirt go on');
});
