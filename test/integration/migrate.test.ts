/**
 * mig migrate end to end with real components: a real OpenSSH sshd on 127.0.0.1 (temporary keys,
 * known_hosts), the real libvirtd as both source and destination (the saved domain is gone from the
 * source before the destination restores it), and the small TCG guest, whose heartbeat in the serial
 * log shows that its workload goes on. Source and destination have their own state dirs.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { MIG, mig } from '../helpers/cli.js';
import { domstate, heartbeatAbove, startTestDomain, virsh, type TestDomain } from '../helpers/domain.js';
import { startSshd, type TestSshd } from '../helpers/sshd.js';
import { tmpPath } from '../helpers/tmp.js';

let sshd: TestSshd;

test.before(async () => {
  const v = virsh('version');
  if (v.status !== 0) throw new Error(`libvirtd is not reachable (make services starts it): ${v.stderr}`);
  sshd = await startSshd();
});
test.after.always(async () => {
  await sshd?.stop();
});

interface Run { status: number; stdout: string; stderr: string; json?: Record<string, any> }

/** Run `mig migrate` as a child process; `during` runs while it does (e.g. to kill the link). */
function migrate(d: TestDomain, src: string, dst: string, extra: string[] = [], during?: (child: ReturnType<typeof spawn>) => void, server = sshd): Promise<Run> {
  const args = [MIG, 'migrate', d.name, `root@127.0.0.1:${server.port}`, '--identity', server.identity, '--known-hosts', server.knownHosts,
    '--remote-mig', `MIG_STATE_DIR=${dst} ${process.execPath} ${MIG}`, '--state-dir', src, '--json', ...extra];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b));
  child.stderr.on('data', (b: Buffer) => (stderr += b));
  during?.(child);
  return new Promise((resolve) => child.on('close', (code) => {
    let json: Record<string, any> | undefined;
    try {
      json = JSON.parse(stdout);
    } catch { /* not JSON */ }
    resolve({ status: code ?? -1, stdout, stderr, json });
  }));
}

const stateDirs = () => [tmpPath('src-state'), tmpPath('dst-state')];

/** Run `fn` `ms` after the domain is gone from the source (saved: the transfer is starting). */
function afterSaved(d: TestDomain, ms: number, fn: () => void): void {
  const poll = setInterval(() => {
    if (domstate(d.name) !== 'absent') return;
    clearInterval(poll);
    setTimeout(fn, ms);
  }, 100);
}

test.serial('migrate: the domain runs after it and its workload goes on; a repeated migration uses the baseline and sends far fewer bytes', async (t) => {
  t.timeout(10 * 60_000);
  const d = startTestDomain();
  t.teardown(() => d.destroy());
  const [src, dst] = stateDirs();
  t.is(domstate(d.name), 'running');
  const before = Math.max(0, ...d.heartbeats());

  const first = await migrate(d, src, dst);
  t.is(first.status, 0, first.stderr);
  const r1 = first.json!;
  t.is(domstate(d.name), 'running');
  t.is(r1.baseline, null, 'nothing in common the first time');
  t.true(r1.bytesSent > 1e6 && r1.bytesSent < r1.imageBytes, `first migration sent ${r1.bytesSent} of ${r1.imageBytes}`);
  t.truthy(r1.techniques.literal.pages);
  for (const k of ['preflight', 'save', 'transfer', 'restore', 'total']) t.true(r1.stages[k] > 0, k);
  // Free pages (by introspection) are not sent; the guest runs on with zeros there, and the source
  // keeps as its baseline exactly what the destination decoded.
  t.is(r1.pageMap?.source, 'introspection', JSON.stringify(r1.pageMap));
  t.true(r1.freePagesDropped > 100, `${r1.freePagesDropped} free pages dropped`);
  t.is(r1.techniques.free.pages, r1.freePagesDropped);
  t.is(r1.sourceBaseline, r1.destinationBaseline, 'both ends keep the same image as baseline');
  const seen = await heartbeatAbove(d, before);
  t.true(seen.length >= 2, `no heartbeat above ${before} in ${d.serialLog} after the migration`);
  // Both stores list it; no save image or incoming image is left behind.
  t.deepEqual(fs.readdirSync(`${dst}/incoming`).filter((f) => f.endsWith('.img')), []);
  t.deepEqual(fs.readdirSync(`${src}/saves`).filter((f) => f.endsWith('.img')), []);

  const second = await migrate(d, src, dst);
  t.is(second.status, 0, second.stderr);
  const r2 = second.json!;
  t.is(domstate(d.name), 'running');
  t.deepEqual(r2.baseline, { digest: r1.sourceBaseline, kind: 'domain' });
  t.true(r2.techniques.baseline.pages > r2.imageBytes / 4096 / 2, 'most pages come from the baseline');
  t.true(r2.bytesSent * 20 < r1.bytesSent, `repeated migration sent ${r2.bytesSent} bytes, first ${r1.bytesSent}`);
  t.log(`first ${r1.bytesSent} bytes in ${r1.stages.total.toFixed(1)} s, repeated ${r2.bytesSent} bytes in ${r2.stages.total.toFixed(1)} s (image ${r1.imageBytes})`);
  // The timeline: stages in order, each within the run; the downtime spans save to running.
  for (const r of [r1, r2]) {
    const tl = r.timeline;
    const order = [tl.preflight, tl.save, tl.transfer, tl.restore, tl.store];
    order.forEach((x, i) => {
      t.true(x.start <= x.end && x.end <= r.stages.total + 0.01, `stage ${i}: ${JSON.stringify(x)}`);
      if (i) t.true(order[i - 1].end <= x.start + 0.01, `stage ${i} starts after stage ${i - 1} ends`);
    });
    t.true(r.downtime !== null && r.downtime >= r.stages.save + r.stages.transfer - 0.05 && r.downtime <= tl.restore.end - tl.save.start + 0.05, `downtime ${r.downtime} against ${JSON.stringify(tl)}`);
    // Restored (paused) while decoding: after the commit only a resume is left.
    t.is(r.restore, 'while-decoding');
    t.true(r.stages.restore < 1.5, `restore stage ${r.stages.restore} s after the commit (a resume)`);
    t.is(r.level.mode, 'auto');
    t.true(Object.values(r.level.frames as Record<string, number>).reduce((a, b) => a + b, 0) >= 1, JSON.stringify(r.level));
  }
  const last = Math.max(...d.heartbeats());
  t.true((await heartbeatAbove(d, last)).length >= 2, 'the workload goes on after the second migration');
});

test.serial('a host key that does not match known_hosts is refused before anything is stopped', async (t) => {
  t.timeout(3 * 60_000);
  const d = startTestDomain();
  t.teardown(() => d.destroy());
  const [src, dst] = stateDirs();
  const r = await migrate(d, src, dst, ['--known-hosts', sshd.wrongKnownHosts]);
  t.not(r.status, 0);
  t.is(r.json?.code, 'SSH_HOST_KEY_MISMATCH', r.stdout + r.stderr);
  t.regex(r.stderr, /host key of \[127\.0\.0\.1\]:\d+ does not match/);
  t.is(domstate(d.name), 'running');
  t.false(fs.existsSync(`${dst}/incoming`), 'the destination was never reached');
});

test.serial('preflight: a disk missing on the destination fails before the domain is stopped', async (t) => {
  t.timeout(3 * 60_000);
  const d = startTestDomain();
  t.teardown(() => d.destroy());
  const [src, dst] = stateDirs();
  // The remote side sees a different root for disk paths: run receive in a mount namespace without the guest's disk dir.
  const hide = `unshare -m sh -c 'mount -t tmpfs none /var/cache/mig/vm-images/common && exec "$0" "$@"'`;
  const r = await migrate(d, src, dst, ['--remote-mig', `MIG_STATE_DIR=${dst} ${hide} ${process.execPath} ${MIG}`]);
  t.not(r.status, 0);
  t.is(r.json?.code, 'DISKS_MISSING', r.stdout + r.stderr);
  t.regex(r.stderr, /rootfs\.ext4/);
  t.is(domstate(d.name), 'running');
});

test.serial('the link dies mid-transfer: the source domain is running again, the destination restored nothing', async (t) => {
  t.timeout(5 * 60_000);
  const d = startTestDomain();
  t.teardown(() => d.destroy());
  const [src, dst] = stateDirs();
  const before = Math.max(0, ...d.heartbeats());
  let killedAt = '';
  // 8 Mbit/s: the ~70 MB first migration takes over a minute, so the kill lands in the transfer.
  const r = await migrate(d, src, dst, ['--bandwidth', '8'], () => afterSaved(d, 3000, () => {
    killedAt = fs.existsSync(`${dst}/incoming`) ? fs.readdirSync(`${dst}/incoming`).join(',') : '';
    sshd.killSessions();
  }));
  t.not(r.status, 0);
  t.regex(r.json?.code ?? '', /LINK|DEST_|SSH/, r.stdout + r.stderr);
  t.regex(killedAt, /\.img|\.lock/, 'the destination was receiving when the link died');
  t.is(domstate(d.name), 'running', 'restored on the source');
  t.true((await heartbeatAbove(d, before)).length >= 2, 'and its workload goes on');
  // Nothing half-received is kept or restored on the destination (give its receive a moment to exit).
  await new Promise((r) => setTimeout(r, 2000));
  t.deepEqual(fs.readdirSync(`${dst}/incoming`), [], 'no image, temp file or lock left');
  t.false(fs.existsSync(`${src}/saves/${d.name}.img`));
});

test.serial('--resume: the link dies mid-transfer, migrate reconnects and goes on from the last acknowledged frame; the domain runs on', async (t) => {
  t.timeout(6 * 60_000);
  const d = startTestDomain();
  t.teardown(() => d.destroy());
  const [src, dst] = stateDirs();
  const before = Math.max(0, ...d.heartbeats());
  let partialSeen = false;
  const r = await migrate(d, src, dst, ['--bandwidth', '16', '--resume', '--resume-window', '60'], () => afterSaved(d, 5000, () => {
    sshd.killSessions();
    // The destination keeps what it decoded for the resume.
    const t0 = Date.now();
    const look = setInterval(() => {
      if (fs.existsSync(`${dst}/incoming/${d.name}.partial/state.json`)) partialSeen = true;
      if (partialSeen || Date.now() - t0 > 5000) clearInterval(look);
    }, 20);
  }));
  t.is(r.status, 0, r.stdout + r.stderr);
  const j = r.json!;
  t.is(j.resumes.length, 1, JSON.stringify(j.resumes));
  t.true(j.resumes[0].frame >= 1 && j.resumes[0].offset > 112, `resumed from frame ${j.resumes[0].frame}, offset ${j.resumes[0].offset}`);
  t.true(partialSeen, 'a checkpoint was kept on the destination while the link was down');
  // What was sent after the reconnect: the header again, then the stream from the checkpoint on, not from the start.
  t.is(j.bytesSent - j.resumes[0].bytesSentBefore, 112 + j.streamBytes - j.resumes[0].offset);
  t.true(j.resumes[0].bytesSentBefore >= j.resumes[0].offset);
  t.regex(j.warnings.join(' '), /link lost/);
  t.is(domstate(d.name), 'running');
  t.is(j.sourceBaseline, j.destinationBaseline, 'the resumed image is the very image saved');
  t.is(j.restore, 'after-decode', 'a resumable transfer restores from the decoded file');
  t.true((await heartbeatAbove(d, before)).length >= 2, 'its workload goes on');
  t.deepEqual(fs.readdirSync(`${dst}/incoming`), [], 'no partial state left after success');
  t.deepEqual(fs.readdirSync(`${src}/saves`), [], 'no save image or spool left on the source');
});

test.serial('--resume: no link within the resume window restores the source domain', async (t) => {
  t.timeout(5 * 60_000);
  const own = await startSshd();
  t.teardown(() => own.stop());
  const d = startTestDomain();
  t.teardown(() => d.destroy());
  const [src, dst] = stateDirs();
  const before = Math.max(0, ...d.heartbeats());
  let stoppedAt = 0;
  const r = await migrate(d, src, dst, ['--bandwidth', '16', '--resume', '--resume-window', '5'], () => afterSaved(d, 3000, () => {
    stoppedAt = Date.now();
    void own.stop(); // the listener too: nothing to reconnect to
  }), own);
  t.not(r.status, 0);
  t.is(r.json?.code, 'LINK', r.stdout + r.stderr);
  t.regex(r.stderr, /resume window \(5 s/);
  t.true(stoppedAt > 0, 'the link was cut during the transfer');
  t.is(domstate(d.name), 'running', 'restored on the source');
  t.true((await heartbeatAbove(d, before)).length >= 2, 'and its workload goes on');
  t.deepEqual(fs.readdirSync(`${src}/saves`), [], 'no save image or spool left on the source');
});

test.serial('the migrating process is killed after the save: a plain rerun says how to finish; --resume finishes from the destination\'s checkpoint', async (t) => {
  t.timeout(6 * 60_000);
  const d = startTestDomain();
  t.teardown(() => d.destroy());
  const [src, dst] = stateDirs();
  const before = Math.max(0, ...d.heartbeats());
  const killed = await migrate(d, src, dst, ['--bandwidth', '16', '--resume'], (child) => afterSaved(d, 4000, () => child.kill('SIGKILL')));
  t.is(killed.status, -1, 'killed by the signal');
  t.is(domstate(d.name), 'absent', 'saved: nothing could restore it');
  t.true(fs.existsSync(`${src}/saves/${d.name}.json`) && fs.existsSync(`${src}/saves/${d.name}.img`));

  const plain = await migrate(d, src, dst);
  t.is(plain.json?.code, 'DOMAIN_STATE', plain.stdout + plain.stderr);
  t.regex(plain.stderr, new RegExp(`mig migrate --resume ${d.name}.*virsh -c qemu:///system restore .*saves/${d.name}\\.img`));

  const resumed = await migrate(d, src, dst, ['--resume']);
  t.is(resumed.status, 0, resumed.stdout + resumed.stderr);
  const j = resumed.json!;
  t.is(j.resumes.length, 1);
  t.true(j.resumes[0].offset > 112 && j.resumes[0].frame >= 1, `resumed from ${JSON.stringify(j.resumes[0])}`);
  t.is(j.bytesSent, 112 + j.streamBytes - j.resumes[0].offset, 'only the rest of the stream was sent');
  t.is(j.sourceBaseline, j.destinationBaseline);
  t.is(domstate(d.name), 'running');
  t.true((await heartbeatAbove(d, before)).length >= 2, 'its workload goes on');
  t.deepEqual(fs.readdirSync(`${src}/saves`), []);
  t.deepEqual(fs.readdirSync(`${dst}/incoming`), []);
});

test.serial('contexts are negotiated: one the destination lacks is refused with the command to build it; one it holds is used', async (t) => {
  t.timeout(5 * 60_000);
  const d = startTestDomain();
  t.teardown(() => d.destroy());
  const [src, dst] = stateDirs();
  const dir = tmpPath('ctx-src');
  fs.mkdirSync(dir);
  fs.copyFileSync('/bin/true', `${dir}/true`);
  const ctx = tmpPath('guest.ctx');
  const built = mig('context', 'build', dir, '-o', ctx, '--include', 'true', '--json');
  t.is(built.status, 0, built.stderr);
  const digest = JSON.parse(built.stdout).digest as string;

  const missing = await migrate(d, src, dst, ['--context', ctx]);
  t.not(missing.status, 0);
  t.is(missing.json?.code, 'CONTEXT_MISSING');
  t.regex(missing.stderr, new RegExp(`no context with digest ${digest}.*mig context build`));
  t.is(domstate(d.name), 'running', 'refused before anything was stopped');

  fs.mkdirSync(`${dst}/contexts`, { recursive: true });
  fs.copyFileSync(ctx, `${dst}/contexts/guest.ctx`);
  const ok = await migrate(d, src, dst, ['--context', ctx]);
  t.is(ok.status, 0, ok.stderr);
  t.is(ok.json?.context?.digest, digest);
  t.is(ok.json?.context?.source, 'option');
  t.is(domstate(d.name), 'running');

  // Without --context: the domain's own context in the state dir, used because the destination holds it too.
  fs.mkdirSync(`${src}/contexts`, { recursive: true });
  fs.copyFileSync(ctx, `${src}/contexts/${d.name}.ctx`);
  const auto = await migrate(d, src, dst);
  t.is(auto.status, 0, auto.stderr);
  t.is(auto.json?.context?.digest, digest, 'contexts/<domain>.ctx used by default');
  t.is(auto.json?.context?.source, 'stored');
  const none = await migrate(d, src, dst, ['--no-context']);
  t.is(none.status, 0, none.stderr);
  t.is(none.json?.context, null);
  // Not held there: a warning, and the context both ends build from the domain's disks (the guest's
  // read-only root disk), the same digest at both ends.
  fs.rmSync(`${dst}/contexts/guest.ctx`);
  const notThere = await migrate(d, src, dst);
  t.is(notThere.status, 0, notThere.stderr);
  t.regex(notThere.json?.warnings.join(' '), /does not hold .*contexts\/.*\.ctx/);
  const fromDisks = notThere.json?.context;
  t.is(fromDisks?.source, 'disks');
  t.regex(fromDisks?.disk, /rootfs\.ext4$/);
  t.true(fromDisks?.files > 100, `${fromDisks?.files} files`);
  t.true(fs.existsSync(`${src}/contexts/${d.name}.auto.ctx`) && fs.existsSync(`${dst}/contexts/${d.name}.auto.ctx`));
  // Again: both ends reuse it (the root disk is read-only, unchanged).
  fs.rmSync(`${src}/contexts/${d.name}.ctx`);
  const again = await migrate(d, src, dst);
  t.is(again.status, 0, again.stderr);
  t.is(again.json?.context?.source, 'disks');
  t.true(again.json?.context?.reused);
  t.is(again.json?.context?.digest, fromDisks?.digest);
  t.is(domstate(d.name), 'running');
});
