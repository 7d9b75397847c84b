/**
 * mig migrate between two libvirt daemons: the system's libvirtd is the source, a private libvirtd in
 * its own mount namespace (test/helpers/private-libvirtd.ts) the destination, reached through the real
 * sshd on 127.0.0.1 (`mig receive` entered into the namespace by --remote-mig). Disks sit at the same
 * paths for both (shared storage), as mig requires. After the migration the domain runs on the
 * destination only, and its workload goes on there.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { MIG } from '../helpers/cli.js';
import { domstate, heartbeatAbove, startTestDomain } from '../helpers/domain.js';
import { startPrivateLibvirtd, type PrivateLibvirtd } from '../helpers/private-libvirtd.js';
import { startSshd, type TestSshd } from '../helpers/sshd.js';
import { tmpPath } from '../helpers/tmp.js';

let sshd: TestSshd;
let dest: PrivateLibvirtd;

test.before(async () => {
  sshd = await startSshd();
  const hooks = tmpPath('no-hooks');
  fs.mkdirSync(hooks);
  dest = await startPrivateLibvirtd(hooks);
});
test.after.always(async () => {
  await dest?.stop();
  await sshd?.stop();
});

function migrate(domain: string, src: string, dst: string): Promise<{ status: number; stdout: string; stderr: string }> {
  const remote = `MIG_STATE_DIR=${dst} ${dest.prefix.join(' ')} ${process.execPath} ${MIG}`;
  const child = spawn(process.execPath, [MIG, 'migrate', domain, `root@127.0.0.1:${sshd.port}`, '--identity', sshd.identity,
    '--known-hosts', sshd.knownHosts, '--remote-mig', remote, '--state-dir', src, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b));
  child.stderr.on('data', (b: Buffer) => (stderr += b));
  return new Promise((resolve) => child.on('close', (code) => resolve({ status: code ?? -1, stdout, stderr })));
}

test('migrate from the system libvirtd to another libvirtd: it runs there and only there, its workload goes on', async (t) => {
  t.timeout(6 * 60_000);
  const d = startTestDomain('mig-2d');
  t.teardown(() => d.destroy());
  const [src, dst] = [tmpPath('src-state'), tmpPath('dst-state')];
  const before = Math.max(0, ...d.heartbeats());
  t.is(dest.virsh('domstate', d.name).status, 1, 'the destination does not know the domain yet');

  const r = await migrate(d.name, src, dst);
  t.is(r.status, 0, r.stdout + r.stderr);
  const j = JSON.parse(r.stdout);
  t.is(domstate(d.name), 'absent', 'gone from the source daemon');
  t.is(dest.virsh('domstate', d.name).stdout.trim(), 'running', 'running on the destination daemon');
  t.true(j.bytesSent > 1e6 && j.bytesSent < j.imageBytes);
  t.is(j.sourceBaseline, j.destinationBaseline);
  const seen = await heartbeatAbove(d, before);
  t.true(seen.length >= 2, `no heartbeat above ${before} after the migration (serial log ${d.serialLog})`);
  t.deepEqual(fs.readdirSync(`${dst}/incoming`), []);
});

test('a persistent domain moves its definition: defined on the destination, undefined on the source only after that', async (t) => {
  t.timeout(6 * 60_000);
  const d = startTestDomain('mig-2p', { persistent: true });
  t.teardown(() => d.destroy());
  const [src, dst] = [tmpPath('src-state'), tmpPath('dst-state')];
  const r = await migrate(d.name, src, dst);
  t.is(r.status, 0, r.stdout + r.stderr);
  const j = JSON.parse(r.stdout);
  t.true(j.undefinedOnSource);
  t.deepEqual(j.warnings, []);
  t.is(domstate(d.name), 'absent', 'neither running nor defined on the source');
  t.is(dest.virsh('domstate', d.name).stdout.trim(), 'running');
  t.regex(dest.virsh('dominfo', d.name).stdout, /^Persistent:\s+yes/m, 'persistent on the destination');
  // The definition is the source's, not the live XML: the same disks, the same name.
  t.regex(dest.virsh('dumpxml', '--inactive', d.name).stdout, new RegExp(`<name>${d.name}</name>`));
});
