/**
 * `make demo`'s main job: a running small guest migrated twice with `mig migrate` over a real sshd on
 * 127.0.0.1 (temporary keys and known_hosts) into the same libvirtd (separate source and destination
 * state dirs), first with nothing in common (the context built from its own disk, no flags), then
 * against the baseline the first one left, next to what gzip -6 and zstd (and zstd --patch-from for
 * the repeated one) make of save images of the same guest. Prints the results; leaves nothing behind.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSshd } from '../test/helpers/sshd.js';
import { domstate, heartbeatAbove, startTestDomain } from '../test/helpers/domain.js';
import { loadGuest } from '../test/helpers/corpus.js';
import { tmpPath } from '../test/helpers/tmp.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MIG = path.join(root, 'dist/src/cli/main.js');
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

const guest = loadGuest('mig-small');
/** Bytes a shell pipeline writes (a generic compressor on a save image of the same guest). */
const bytesOf = (cmd: string) => Number(execFileSync('bash', ['-c', `${cmd} | wc -c`], { encoding: 'utf8' }).trim());
// The generic tools, on save images vm-images captured of this guest (same kernel, workload and RAM):
// save1 after the workload (what a first migration moves), save2 later (a repeated one), where
// `zstd --patch-from=save1` is what a user with zstd alone would do for the second.
const save1 = guest.path('save1');
const save2 = guest.manifest.save2Captured ? guest.path('save2') : undefined;
const generic = [
  { run: 'first', gzip: bytesOf(`gzip -6 -c ${save1}`), zstd: bytesOf(`zstd -q -3 -T0 --long=31 -c ${save1}`), patch: undefined as number | undefined },
  ...(save2 ? [{ run: 'repeated', gzip: bytesOf(`gzip -6 -c ${save2}`), zstd: bytesOf(`zstd -q -3 -T0 --long=31 -c ${save2}`), patch: bytesOf(`zstd -q -3 -T0 --long=31 --patch-from=${save1} -c ${save2}`) }] : []),
];
const sshd = await startSshd();
const d = startTestDomain('mig-demo');
const src = tmpPath('src-state');
const dst = tmpPath('dst-state');
try {
  const before = Math.max(0, ...d.heartbeats());
  console.log(`domain ${d.name} (the small guest, 256 MiB, TCG) is ${domstate(d.name)}; the generic tools on save images of the same guest:`);
  for (const g of generic) {
    console.log(`  ${g.run === 'first' ? 'after its workload (save1)' : 'later (save2)'}: gzip -6 ${mb(g.gzip)}, zstd -3 --long=31 ${mb(g.zstd)}${g.patch !== undefined ? `, zstd --patch-from=save1 ${mb(g.patch)}` : ''}`);
  }
  for (const run of ['first', 'repeated']) {
    const r = spawnSync(process.execPath, [MIG, 'migrate', d.name, `root@127.0.0.1:${sshd.port}`, '--identity', sshd.identity, '--known-hosts', sshd.knownHosts,
      '--remote-mig', `MIG_STATE_DIR=${dst} ${process.execPath} ${MIG}`, '--state-dir', src, '--json'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`mig migrate failed: ${r.stdout}${r.stderr}`);
    const j = JSON.parse(r.stdout);
    const g = generic.find((x) => x.run === run) ?? generic[0];
    const best = Math.min(g.zstd, g.patch ?? Infinity);
    console.log(`${run} migration: sent ${mb(j.bytesSent)} for a ${mb(j.imageBytes)} image (${(j.bytesSent / g.gzip).toFixed(3)}× gzip, ${(j.bytesSent / best).toFixed(3)}× ${g.patch !== undefined ? 'zstd --patch-from' : 'zstd'}), ` +
      `${j.stages.total.toFixed(1)} s (save ${j.stages.save.toFixed(1)} s), baseline ${j.baseline ? j.baseline.kind : 'none'}, ` +
      `context ${j.context ? `${j.context.source}${j.context.source === 'disks' ? ` (${j.context.files} files from ${j.context.disk}, ${j.context.reused ? 'reused' : `built in ${j.context.seconds} s`})` : ''}` : 'none'}, ` +
      `${j.freePagesDropped} free pages not sent; ${d.name} is ${domstate(d.name)}`);
    const st = j.stages as Record<string, number>;
    console.log(`  stages (s): ${['preflight', 'save', 'transfer', 'restore', 'store'].map((k) => `${k} ${st[k].toFixed(2)}`).join(', ')}; total ${st.total.toFixed(2)}`);
  }
  const beats = await heartbeatAbove(d, before, 60_000);
  console.log(beats.length ? `its workload goes on: heartbeat ${beats[beats.length - 1]} in its serial log after the migrations` : 'no heartbeat after the migrations: something is wrong');
  if (!beats.length) process.exitCode = 1;
} finally {
  d.destroy();
  await sshd.stop();
  for (const dir of [src, dst]) fs.rmSync(dir, { recursive: true, force: true });
}
