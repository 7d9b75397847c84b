/**
 * Faults in migration, as a matrix (docs/reliability.md, "Faults in migration"): each cell runs a
 * real `mig migrate` of the small guest from the system libvirtd to a private libvirtd in its own
 * mount namespace (test/helpers/private-libvirtd.ts) through the real sshd on 127.0.0.1, stops one end
 * at a known stage (MIG_FAULT_PAUSE, src/util/fault.ts), injects the fault (SIGKILL of `mig migrate`
 * or `mig receive`, a full state dir, a libvirtd or sshd restart), and checks the promise: the domain
 * runs on exactly one host, or is saved with a message that says how to restore it; a rerun (plain or
 * --resume) finishes or cleans up; no baseline but a whole one, named by its digest, is kept.
 *
 * `make test` runs the cells marked `ci` (at least one per stage); `make test-faults` (MIG_FAULTS=all)
 * runs every cell.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MIG } from '../helpers/cli.js';
import { domstate, heartbeatAbove, startTestDomain, type TestDomain } from '../helpers/domain.js';
import { startPrivateLibvirtd, type PrivateLibvirtd } from '../helpers/private-libvirtd.js';
import { startSshd, type TestSshd } from '../helpers/sshd.js';
import { tmpPath } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const ALL = process.env.MIG_FAULTS === 'all';

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

/** A matrix cell: registered in `make test` when `ci`, else only under `make test-faults`. */
function cell(title: string, ci: boolean, fn: (t: ExecutionContext) => Promise<void>): void {
  if (ci || ALL) test.serial(title, fn);
}

interface Run { status: number; stdout: string; stderr: string; json?: Record<string, any>; signal?: string | null }

interface MigrateOpts {
  extra?: string[];
  /** Environment of the source `mig migrate` (MIG_FAULT_PAUSE). */
  env?: Record<string, string>;
  /** Prefix of the destination command line (MIG_FAULT_PAUSE=… for `mig receive`). */
  remoteEnv?: string;
  /** Reversed: the source is the private libvirtd (`mig migrate` runs in its namespace), the destination the system's. */
  reversed?: boolean;
}

/** `mig migrate` of d to the private libvirtd; resolves when it exits (killed: status -1). */
function migrate(d: TestDomain, src: string, dst: string, o: MigrateOpts = {}): { child: ChildProcess; done: Promise<Run> } {
  const remote = `MIG_STATE_DIR=${dst} ${o.remoteEnv ?? ''} ${o.reversed ? '' : dest.prefix.join(' ')} ${process.execPath} ${MIG}`;
  const argv0 = o.reversed ? [...dest.prefix, process.execPath] : [process.execPath];
  const child = spawn(argv0[0], [...argv0.slice(1), MIG, 'migrate', d.name, `root@127.0.0.1:${sshd.port}`, '--identity', sshd.identity,
    '--known-hosts', sshd.knownHosts, '--remote-mig', remote, '--state-dir', src, '--json', ...(o.extra ?? [])],
  { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (b: Buffer) => (stdout += b));
  child.stderr!.on('data', (b: Buffer) => (stderr += b));
  const done = new Promise<Run>((resolve) => child.on('close', (code, signal) => {
    let json: Record<string, any> | undefined;
    try {
      json = JSON.parse(stdout);
    } catch { /* not JSON */ }
    resolve({ status: code ?? -1, signal, stdout, stderr, json });
  }));
  return { child, done };
}

const run = (d: TestDomain, src: string, dst: string, o: MigrateOpts = {}) => migrate(d, src, dst, o).done;

/** A fault dir and the MIG_FAULT_PAUSE value stopping at `stage` there. */
function pauseSpec(stage: string): { dir: string; value: string } {
  const dir = tmpPath(`fault-${stage}`);
  fs.mkdirSync(dir, { mode: 0o755 });
  return { dir, value: `${stage}@${dir}` };
}

/** Wait until the process stopped at `stage` says so; its pid. */
async function paused(dir: string, stage: string, ms = 180_000): Promise<number> {
  const f = path.join(dir, `${stage}.paused`);
  if (!(await waitFor(() => fs.existsSync(f) && fs.readFileSync(f, 'utf8').endsWith('\n'), ms))) throw new Error(`nothing paused at ${stage} within ${ms / 1000} s`);
  return Number(fs.readFileSync(f, 'utf8').trim());
}

const goOn = (dir: string, stage: string) => fs.writeFileSync(path.join(dir, `${stage}.go`), '');

const destState = (name: string) => {
  const r = dest.virsh('domstate', name);
  return r.status === 0 ? r.stdout.trim() : 'absent';
};

/** Start a test domain on the source; teardown destroys it wherever it ends up. */
function domainFor(t: ExecutionContext, tag: string): TestDomain {
  const d = startTestDomain(`mig-flt-${tag}`);
  t.teardown(() => {
    d.destroy();
    if (destState(d.name) !== 'absent') dest.virsh('destroy', d.name);
  });
  return d;
}

/** The domain runs on the source only (and its workload goes on). */
async function runsOnSourceOnly(t: ExecutionContext, d: TestDomain, before: number, what: string): Promise<void> {
  t.is(domstate(d.name), 'running', `${what}: running on the source`);
  t.is(destState(d.name), 'absent', `${what}: not on the destination`);
  t.true((await heartbeatAbove(d, before)).length >= 2, `${what}: its workload goes on`);
}

/** The domain runs on the destination only (and its workload goes on). */
async function runsOnDestOnly(t: ExecutionContext, d: TestDomain, before: number, what: string): Promise<void> {
  t.true(await waitFor(() => destState(d.name) === 'running', 60_000), `${what}: running on the destination (${destState(d.name)})`);
  t.is(domstate(d.name), 'absent', `${what}: gone from the source`);
  t.true((await heartbeatAbove(d, before)).length >= 2, `${what}: its workload goes on`);
}

const ls = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []);

/** Every baseline in a state dir is whole: its file's SHA-256 is its name and its size the one recorded. */
function baselinesWhole(t: ExecutionContext, stateDir: string): string[] {
  const dir = path.join(stateDir, 'baselines', 'images');
  const digests = ls(dir).filter((f) => /^[0-9a-f]{64}$/.test(f));
  for (const f of digests) {
    const h = crypto.createHash('sha256').update(fs.readFileSync(path.join(dir, f))).digest('hex');
    t.is(h, f, `baseline ${f} in ${stateDir} holds what its name says`);
  }
  return digests;
}

/** A clean end: nothing left in the source's saves/ and the destination's incoming/, every baseline whole. */
function clean(t: ExecutionContext, src: string, dst: string): void {
  t.deepEqual(ls(path.join(src, 'saves')), [], 'nothing left in the source\'s saves/');
  t.deepEqual(ls(path.join(dst, 'incoming')), [], 'nothing left in the destination\'s incoming/');
  baselinesWhole(t, src);
  baselinesWhole(t, dst);
}

const dirs = () => [tmpPath('src-state'), tmpPath('dst-state')];
const beat = (d: TestDomain) => Math.max(0, ...d.heartbeats());

// ---- the source `mig migrate` killed (SIGKILL) at each stage -------------------------------------

cell('source killed in preflight (destination answered, receive waiting, nothing stopped): the domain runs on; a plain rerun migrates it', true, async (t) => {
  t.timeout(6 * 60_000);
  const d = domainFor(t, 'spre');
  const [src, dst] = dirs();
  const before = beat(d);
  const f = pauseSpec('preflight');
  const m = migrate(d, src, dst, { env: { MIG_FAULT_PAUSE: f.value } });
  const pid = await paused(f.dir, 'preflight');
  t.is(pid, m.child.pid!);
  process.kill(pid, 'SIGKILL');
  t.is((await m.done).signal, 'SIGKILL');
  await runsOnSourceOnly(t, d, before, 'after the kill');
  // Nothing saved: no image, no record (the encoder's empty spool and the dead lock go with the next run).
  t.deepEqual(ls(path.join(src, 'saves')).filter((x) => x.endsWith('.img') || x.endsWith('.json')), [], 'nothing was saved');
  // The destination's receive saw its input end before any .mig: it leaves nothing.
  t.true(await waitFor(() => ls(path.join(dst, 'incoming')).length === 0, 20_000), `incoming: ${ls(path.join(dst, 'incoming'))}`);

  const again = await run(d, src, dst);
  t.is(again.status, 0, again.stdout + again.stderr);
  await runsOnDestOnly(t, d, before, 'after the rerun');
  clean(t, src, dst);
});

cell('source killed during the save (libvirtd finishes it): a rerun waits for the save, says how to restore or resume; --resume finishes', true, async (t) => {
  t.timeout(8 * 60_000);
  const d = domainFor(t, 'ssav');
  const [src, dst] = dirs();
  const before = beat(d);
  const f = pauseSpec('save');
  const m = migrate(d, src, dst, { env: { MIG_FAULT_PAUSE: f.value } });
  process.kill(await paused(f.dir, 'save'), 'SIGKILL');
  await m.done;
  // The record names the image before the save ends.
  const rec = JSON.parse(fs.readFileSync(path.join(src, 'saves', `${d.name}.json`), 'utf8'));
  t.is(rec.phase, 'saving');
  t.is(rec.image, path.join(src, 'saves', `${d.name}.img`));

  // At once: the rerun waits for libvirtd's save job rather than remove the image it is writing.
  const plain = await run(d, src, dst);
  t.not(plain.status, 0);
  t.is(plain.json?.code, 'DOMAIN_STATE', plain.stdout + plain.stderr);
  t.regex(plain.stderr, new RegExp(`mig migrate --resume ${d.name}.*virsh -c qemu:///system restore .*saves/${d.name}\\.img`));
  t.is(domstate(d.name), 'absent', 'saved by libvirtd after mig died');
  t.is(destState(d.name), 'absent');

  const resumed = await run(d, src, dst, { extra: ['--resume'] });
  t.is(resumed.status, 0, resumed.stdout + resumed.stderr);
  await runsOnDestOnly(t, d, before, 'after --resume');
  t.is(resumed.json!.sourceBaseline, resumed.json!.destinationBaseline);
  clean(t, src, dst);
});

cell('source killed during the transfer: the domain stays saved; a plain rerun says how to restore or resume; --resume finishes', false, async (t) => {
  t.timeout(8 * 60_000);
  const d = domainFor(t, 'sxfr');
  const [src, dst] = dirs();
  const before = beat(d);
  const f = pauseSpec('transfer');
  const m = migrate(d, src, dst, { env: { MIG_FAULT_PAUSE: f.value } });
  process.kill(await paused(f.dir, 'transfer'), 'SIGKILL');
  await m.done;
  t.is(domstate(d.name), 'absent', 'saved');
  // Restoring while decoding, libvirt lists the incoming domain (paused) until the receive, which saw
  // its input end, has closed the FIFO and libvirt's restore has failed.
  t.true(await waitFor(() => destState(d.name) === 'absent', 30_000), `nothing restored on the destination (${destState(d.name)})`);
  t.is(JSON.parse(fs.readFileSync(path.join(src, 'saves', `${d.name}.json`), 'utf8')).phase, 'saved');

  const plain = await run(d, src, dst);
  t.is(plain.json?.code, 'DOMAIN_STATE', plain.stdout + plain.stderr);
  t.regex(plain.stderr, new RegExp(`mig migrate --resume ${d.name}.*virsh -c qemu:///system restore .*saves/${d.name}\\.img`));

  const resumed = await run(d, src, dst, { extra: ['--resume'] });
  t.is(resumed.status, 0, resumed.stdout + resumed.stderr);
  await runsOnDestOnly(t, d, before, 'after --resume');
  clean(t, src, dst);
});

/** Kill the source at `stage` (after its commit line); the destination runs the domain; a rerun settles the source. */
async function killedAfterCommit(t: ExecutionContext, tag: string, stage: 'commit' | 'store', rerun: string[]): Promise<void> {
  t.timeout(8 * 60_000);
  const d = domainFor(t, tag);
  const [src, dst] = dirs();
  const before = beat(d);
  const f = pauseSpec(stage);
  const m = migrate(d, src, dst, { env: { MIG_FAULT_PAUSE: f.value } });
  process.kill(await paused(f.dir, stage), 'SIGKILL');
  await m.done;
  await runsOnDestOnly(t, d, before, 'after the kill');
  const rec = JSON.parse(fs.readFileSync(path.join(src, 'saves', `${d.name}.json`), 'utf8'));
  t.is(rec.phase, 'committed', 'the record says the commit went out');
  t.true(fs.existsSync(rec.image), 'the save image is kept until settled');
  // The destination keeps its baseline although its source is gone.
  t.true(await waitFor(() => baselinesWhole(t, dst).length === 1, 30_000), 'the destination stored its baseline');

  const again = await run(d, src, dst, { extra: rerun });
  t.is(again.status, 0, again.stdout + again.stderr);
  t.is(again.json?.recovered, 'committed');
  t.regex(again.json!.warnings.join(' '), /interrupted after its commit: .* is running there/);
  t.is(again.json!.bytesSent, 0, 'nothing sent again');
  t.deepEqual(baselinesWhole(t, src), [again.json!.sourceBaseline], 'the source kept the image as baseline');
  t.deepEqual(baselinesWhole(t, dst), [again.json!.sourceBaseline], 'the same image as the destination');
  await runsOnDestOnly(t, d, before, 'after the rerun');
  clean(t, src, dst);
}

cell('source killed right after its commit line: the domain runs on the destination only; a plain rerun finishes the source\'s part', true, (t) =>
  killedAfterCommit(t, 'scom', 'commit', []));

cell('source killed during its baseline store: the domain runs on the destination only; --resume finishes the source\'s part', true, (t) =>
  killedAfterCommit(t, 'ssto', 'store', ['--resume']));

cell('both ends killed around the commit (the receive before reading it): the domain runs nowhere, saved; a plain rerun hears "absent" there, restores it here and migrates it again', ALL, async (t) => {
  t.timeout(8 * 60_000);
  const d = domainFor(t, 'both');
  const [src, dst] = dirs();
  const before = beat(d);
  const f = pauseSpec('commit');
  const m = migrate(d, src, dst, { env: { MIG_FAULT_PAUSE: f.value }, remoteEnv: `MIG_FAULT_PAUSE=receive-decoded@${f.dir}` });
  const receivePid = await paused(f.dir, 'receive-decoded');
  const sourcePid = await paused(f.dir, 'commit');
  process.kill(receivePid, 'SIGKILL');
  process.kill(sourcePid, 'SIGKILL');
  await m.done;
  t.is(domstate(d.name), 'absent');
  // The receive was killed after "decoded": restored while decoding, the domain is there paused and
  // never resumed (no commit reached a receive); the next contact (the rerun's --status) destroys it.
  t.true(['absent', 'paused'].includes(destState(d.name)), `the commit line never reached a receive: not running there (${destState(d.name)})`);
  t.is(JSON.parse(fs.readFileSync(path.join(src, 'saves', `${d.name}.json`), 'utf8')).phase, 'committed');

  const again = await run(d, src, dst);
  t.is(again.status, 0, again.stdout + again.stderr);
  t.regex(again.json!.warnings.join(' '), /did not run there: restored here from .*, and migrated again/);
  t.true(again.json!.bytesSent > 1e6, 'migrated again');
  await runsOnDestOnly(t, d, before, 'after the rerun');
  clean(t, src, dst);
});

// ---- the destination `mig receive` killed (SIGKILL) at each stage -------------------------------

/** Kill the destination's receive at `stage`; returns the source's result. */
async function killReceiveAt(d: TestDomain, src: string, dst: string, stage: string, extra: string[] = []): Promise<Run> {
  const f = pauseSpec(stage);
  const m = migrate(d, src, dst, { remoteEnv: `MIG_FAULT_PAUSE=${f.value}`, extra });
  process.kill(await paused(f.dir, stage), 'SIGKILL');
  return m.done;
}

cell('destination killed in its preflight: refused before anything stops; the domain runs on; a rerun migrates it', ALL, async (t) => {
  t.timeout(6 * 60_000);
  const d = domainFor(t, 'dpre');
  const [src, dst] = dirs();
  const before = beat(d);
  const r = await killReceiveAt(d, src, dst, 'receive-preflight');
  t.not(r.status, 0);
  t.is(r.json?.code, 'PREFLIGHT', r.stdout + r.stderr);
  await runsOnSourceOnly(t, d, before, 'after the failed preflight');
  const again = await run(d, src, dst);
  t.is(again.status, 0, again.stdout + again.stderr);
  await runsOnDestOnly(t, d, before, 'after the rerun');
  clean(t, src, dst);
});

cell('destination killed before the .mig arrives (ready sent): the source restores its domain; a rerun migrates it', ALL, async (t) => {
  t.timeout(6 * 60_000);
  const d = domainFor(t, 'drdy');
  const [src, dst] = dirs();
  const before = beat(d);
  const r = await killReceiveAt(d, src, dst, 'receive-ready');
  t.not(r.status, 0);
  t.regex(r.json?.code ?? '', /LINK/, r.stdout + r.stderr);
  await runsOnSourceOnly(t, d, before, 'restored on the source');
  t.deepEqual(ls(path.join(src, 'saves')), []);
  const again = await run(d, src, dst);
  t.is(again.status, 0, again.stdout + again.stderr);
  await runsOnDestOnly(t, d, before, 'after the rerun');
  clean(t, src, dst);
});

cell('destination killed mid-decode (--resume): the source reconnects and the new receive goes on from the checkpoint', true, async (t) => {
  t.timeout(8 * 60_000);
  const d = domainFor(t, 'dfrm');
  const [src, dst] = dirs();
  const before = beat(d);
  const r = await killReceiveAt(d, src, dst, 'receive-frame', ['--resume', '--resume-window', '60']);
  t.is(r.status, 0, r.stdout + r.stderr);
  t.is(r.json!.resumes.length, 1, JSON.stringify(r.json!.resumes));
  t.true(r.json!.resumes[0].frame >= 1, `resumed from frame ${r.json!.resumes[0].frame}`);
  t.is(r.json!.sourceBaseline, r.json!.destinationBaseline, 'the resumed image is the one saved');
  await runsOnDestOnly(t, d, before, 'after the resume');
  clean(t, src, dst);
});

cell('destination killed after "decoded", before the commit: the source asks, hears "absent", restores its domain; a rerun migrates it', ALL, async (t) => {
  t.timeout(6 * 60_000);
  const d = domainFor(t, 'ddec');
  const [src, dst] = dirs();
  const before = beat(d);
  const r = await killReceiveAt(d, src, dst, 'receive-decoded');
  t.not(r.status, 0);
  t.regex(r.json?.code ?? '', /LINK/, r.stdout + r.stderr);
  await runsOnSourceOnly(t, d, before, 'restored on the source');
  const again = await run(d, src, dst);
  t.is(again.status, 0, again.stdout + again.stderr);
  await runsOnDestOnly(t, d, before, 'after the rerun');
  clean(t, src, dst);
});

cell('destination killed during its restore (after the commit): libvirtd finishes it; the source asks, hears "running" and finishes', ALL, async (t) => {
  t.timeout(6 * 60_000);
  const d = domainFor(t, 'drst');
  const [src, dst] = dirs();
  const before = beat(d);
  const r = await killReceiveAt(d, src, dst, 'receive-restore');
  t.is(r.status, 0, r.stdout + r.stderr);
  t.regex(r.json!.warnings.join(' '), /confirmation was lost .* is running on/);
  await runsOnDestOnly(t, d, before, 'after the kill');
  t.deepEqual(ls(path.join(src, 'saves')), []);
  baselinesWhole(t, src);
  baselinesWhole(t, dst);
});

cell('destination killed during its baseline store: the domain runs there; the next receive drops the leftover image', false, async (t) => {
  t.timeout(8 * 60_000);
  const d = domainFor(t, 'dsto');
  const [src, dst] = dirs();
  const before = beat(d);
  const r = await killReceiveAt(d, src, dst, 'receive-store');
  t.is(r.status, 0, r.stdout + r.stderr);
  t.regex(r.json!.warnings.join(' '), /did not store the image as a baseline/);
  await runsOnDestOnly(t, d, before, 'after the kill');
  t.deepEqual(baselinesWhole(t, dst), [], 'no baseline on the destination (none half-written)');
  t.deepEqual(ls(path.join(dst, 'incoming')).filter((f) => f.endsWith('.img')), [`${d.name}.img`], 'the decoded image is left');
  // The next receive of this domain (here one whose source then goes away) drops what the killed one left.
  const req = JSON.stringify({ domain: d.name, baseline: null, context: null, id: '0'.repeat(32) }) + '\n';
  const next = spawnSync(dest.prefix[0], [...dest.prefix.slice(1), process.execPath, MIG, 'receive'], { input: req, encoding: 'utf8', env: { ...process.env, MIG_STATE_DIR: dst } });
  t.regex(next.stdout, /"event":"ready"/, next.stderr);
  t.deepEqual(ls(path.join(dst, 'incoming')), [], 'the leftover image is gone');
});

// ---- the destination's state dir full ------------------------------------------------------------

cell('the destination\'s state dir fills up (64 MiB tmpfs) during the decode: a clear ENOSPC error naming the file; the source restores its domain; with room a rerun migrates it', true, async (t) => {
  t.timeout(8 * 60_000);
  const d = domainFor(t, 'full');
  const [src, dst] = dirs();
  fs.mkdirSync(dst);
  const m = dest.run('mount', '-t', 'tmpfs', '-o', 'size=64m,mode=0700', 'mig-flt-full', dst);
  t.is(m.status, 0, m.stderr);
  t.teardown(() => dest.run('umount', '-l', dst));
  const before = beat(d);
  const r = await run(d, src, dst);
  t.not(r.status, 0);
  t.is(r.json?.code, 'DEST_WRITE', r.stdout + r.stderr);
  t.regex(r.stderr, new RegExp(`cannot write ${dst}/incoming/${d.name}\\.img: ENOSPC \\(no space left on the device\\)`), 'the message names the file and the cause');
  await runsOnSourceOnly(t, d, before, 'restored on the source');
  t.deepEqual(dest.run('ls', '-A', `${dst}/incoming`).stdout.trim(), '', 'nothing left on the full disk');
  t.is(dest.run('mount', '-o', 'remount,size=1g', dst).status, 0);
  const again = await run(d, src, dst);
  t.is(again.status, 0, again.stdout + again.stderr);
  await runsOnDestOnly(t, d, before, 'after the rerun with room');
});

// ---- a damaged stream, restore while decoding ------------------------------------------------------

cell('a damaged stream found only by the image SHA-256 (every frame verifies; restore while decoding): the destination\'s paused restore never completes and leaves no domain, the source restores its own; a rerun migrates it', true, async (t) => {
  t.timeout(6 * 60_000);
  const d = domainFor(t, 'sha');
  const [src, dst] = dirs();
  const before = beat(d);
  const r = await run(d, src, dst, { env: { MIG_FAULT_FLAGS: 'end-digest' } });
  t.not(r.status, 0, r.stdout + r.stderr);
  t.regex(r.stderr, /SHA-256 of the decoded image does not match/, 'the destination says why');
  await runsOnSourceOnly(t, d, before, 'restored on the source');
  clean(t, src, dst);
  const again = await run(d, src, dst);
  t.is(again.status, 0, again.stdout + again.stderr);
  t.is(again.json?.level?.mode, 'auto');
  await runsOnDestOnly(t, d, before, 'after the rerun');
});

/** The source's state dir on a tmpfs of `size` (in this namespace: the source runs here); unmounted at teardown. */
function smallSourceStateDir(t: ExecutionContext, src: string, size: string): void {
  fs.mkdirSync(src);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'mig-flt-src', src], { encoding: 'utf8' });
  if (m.status !== 0) throw new Error(`mount tmpfs on ${src}: ${m.stderr}`);
  t.teardown(() => spawnSync('umount', ['-l', src]));
}

cell('the source\'s state dir too small for the save image (64 MiB tmpfs): libvirt\'s save fails, the domain runs on; with room a rerun migrates it', ALL, async (t) => {
  t.timeout(6 * 60_000);
  const d = domainFor(t, 'sfull');
  const [src, dst] = dirs();
  smallSourceStateDir(t, src, '64m');
  const before = beat(d);
  const r = await run(d, src, dst);
  t.not(r.status, 0);
  t.is(r.json?.code, 'LIBVIRT', r.stdout + r.stderr);
  t.regex(r.stderr, new RegExp(`saving ${d.name} to ${src}/saves/${d.name}\\.img failed`));
  await runsOnSourceOnly(t, d, before, 'after the failed save');
  t.deepEqual(ls(path.join(src, 'saves')).filter((f) => !f.endsWith('.mig')), [], 'no image, no record left');
  t.is(spawnSync('mount', ['-o', 'remount,size=1g', src]).status, 0);
  const again = await run(d, src, dst);
  t.is(again.status, 0, again.stdout + again.stderr);
  await runsOnDestOnly(t, d, before, 'after the rerun with room');
  clean(t, src, dst);
});

cell('the source\'s state dir fills up with the .mig spool (280 MiB tmpfs: room for the image only): WRITE naming the spool, the domain restored; with room a rerun migrates it', ALL, async (t) => {
  t.timeout(6 * 60_000);
  const d = domainFor(t, 'spool');
  const [src, dst] = dirs();
  smallSourceStateDir(t, src, '280m');
  const before = beat(d);
  // --no-context: a context built from the domain's disks (91 MB in contexts/) would fill the
  // 280 MiB before the save does; room for the image only is the point here.
  const r = await run(d, src, dst, { extra: ['--resume', '--no-context'] });
  t.not(r.status, 0);
  t.is(r.json?.code, 'WRITE', r.stdout + r.stderr);
  t.regex(r.stderr, new RegExp(`cannot write ${src}/saves/${d.name}\\.mig: ENOSPC`));
  await runsOnSourceOnly(t, d, before, 'restored on the source');
  t.deepEqual(ls(path.join(src, 'saves')), [], 'image, spool and record removed');
  t.is(spawnSync('mount', ['-o', 'remount,size=1g', src]).status, 0);
  const again = await run(d, src, dst);
  t.is(again.status, 0, again.stdout + again.stderr);
  await runsOnDestOnly(t, d, before, 'after the rerun with room');
  clean(t, src, dst);
});

// ---- libvirtd restarted mid-migration ------------------------------------------------------------

cell('the destination\'s libvirtd restarted between "decoded" and the commit: receive connects afresh, the domain runs there only', ALL, async (t) => {
  t.timeout(6 * 60_000);
  const d = domainFor(t, 'ldst');
  const [src, dst] = dirs();
  const before = beat(d);
  const f = pauseSpec('receive-decoded');
  const m = migrate(d, src, dst, { remoteEnv: `MIG_FAULT_PAUSE=${f.value}` });
  await paused(f.dir, 'receive-decoded');
  await dest.restartLibvirtd();
  goOn(f.dir, 'receive-decoded');
  const r = await m.done;
  t.is(r.status, 0, r.stdout + r.stderr);
  await runsOnDestOnly(t, d, before, 'after the restart');
  clean(t, src, dst);
});

/** A domain on the private libvirtd (the source of reversed runs); teardown destroys it wherever it is. */
function privateDomainFor(t: ExecutionContext, tag: string): TestDomain {
  const d = startTestDomain(`mig-flt-${tag}`, { ns: dest.prefix });
  t.teardown(() => {
    if (domstate(d.name) !== 'absent') spawnSync('virsh', ['-c', 'qemu:///system', 'destroy', d.name]);
    d.destroy();
  });
  return d;
}

for (const stage of ['preflight', 'transfer'] as const) {
  cell(`the source's libvirtd restarted ${stage === 'preflight' ? 'before the save (preflight done)' : 'during the transfer (domain saved)'}: mig reconnects to it; the domain runs on the destination only`, ALL, async (t) => {
    t.timeout(6 * 60_000);
    const d = privateDomainFor(t, `lsrc${stage.slice(0, 3)}`);
    const [src, dst] = dirs();
    const before = beat(d);
    const f = pauseSpec(stage);
    const m = migrate(d, src, dst, { env: { MIG_FAULT_PAUSE: f.value }, reversed: true });
    await paused(f.dir, stage);
    await dest.restartLibvirtd();
    goOn(f.dir, stage);
    const r = await m.done;
    t.is(r.status, 0, r.stdout + r.stderr);
    t.true(await waitFor(() => domstate(d.name) === 'running', 60_000), 'running on the destination (the system libvirtd)');
    t.is(destState(d.name), 'absent', 'gone from the source (the private libvirtd)');
    t.true((await heartbeatAbove(d, before)).length >= 2, 'its workload goes on');
    clean(t, src, dst);
  });
}

cell('the source\'s libvirtd restarted during the transfer, then the link dies: mig restores the domain through a new connection', ALL, async (t) => {
  t.timeout(6 * 60_000);
  const d = privateDomainFor(t, 'lsrcfail');
  const [src, dst] = dirs();
  const before = beat(d);
  const f = pauseSpec('transfer');
  const m = migrate(d, src, dst, { env: { MIG_FAULT_PAUSE: f.value }, reversed: true });
  await paused(f.dir, 'transfer');
  await dest.restartLibvirtd();
  sshd.killSessions();
  goOn(f.dir, 'transfer');
  const r = await m.done;
  t.not(r.status, 0);
  t.regex(r.json?.code ?? '', /LINK/, r.stdout + r.stderr);
  t.true(await waitFor(() => destState(d.name) === 'running', 60_000), 'restored on the source (the private libvirtd)');
  t.is(domstate(d.name), 'absent', 'not on the destination (the system libvirtd)');
  t.true((await heartbeatAbove(d, before)).length >= 2, 'its workload goes on');
  t.deepEqual(ls(path.join(src, 'saves')), []);
});

// ---- sshd restarted mid-transfer -----------------------------------------------------------------

cell('sshd restarted during the transfer, without --resume: the source restores its domain; a rerun migrates it', ALL, async (t) => {
  t.timeout(6 * 60_000);
  const d = domainFor(t, 'sshn');
  const [src, dst] = dirs();
  const before = beat(d);
  const f = pauseSpec('transfer');
  const m = migrate(d, src, dst, { env: { MIG_FAULT_PAUSE: f.value } });
  await paused(f.dir, 'transfer');
  await sshd.restart();
  goOn(f.dir, 'transfer');
  const r = await m.done;
  t.not(r.status, 0);
  t.regex(r.json?.code ?? '', /LINK|DEST_/, r.stdout + r.stderr);
  await runsOnSourceOnly(t, d, before, 'restored on the source');
  t.true(await waitFor(() => ls(path.join(dst, 'incoming')).length === 0, 20_000), `incoming: ${ls(path.join(dst, 'incoming'))}`);
  const again = await run(d, src, dst);
  t.is(again.status, 0, again.stdout + again.stderr);
  await runsOnDestOnly(t, d, before, 'after the rerun');
  clean(t, src, dst);
});

cell('sshd restarted during the transfer, with --resume: migrate reconnects and goes on; the domain runs on the destination only', ALL, async (t) => {
  t.timeout(6 * 60_000);
  const d = domainFor(t, 'sshr');
  const [src, dst] = dirs();
  const before = beat(d);
  const f = pauseSpec('transfer');
  const m = migrate(d, src, dst, { env: { MIG_FAULT_PAUSE: f.value }, extra: ['--resume', '--resume-window', '60'] });
  await paused(f.dir, 'transfer');
  await sshd.restart();
  goOn(f.dir, 'transfer');
  const r = await m.done;
  t.is(r.status, 0, r.stdout + r.stderr);
  t.is(r.json!.resumes.length, 1, JSON.stringify(r.json!.resumes));
  t.is(r.json!.sourceBaseline, r.json!.destinationBaseline);
  await runsOnDestOnly(t, d, before, 'after the resume');
  clean(t, src, dst);
});
