/**
 * End-to-end migration benchmark on the small guest (a real sshd on loopback, the real libvirtd as
 * both ends): `virsh save | gzip | ssh | gunzip | virsh restore` against `mig migrate`, first and
 * repeated migration, at the given link speeds (the same token-bucket throttle for both); mig also
 * with a context built from the guest's root disk (usr/** and etc/**: what both hosts have, as the
 * paper's primed dictionary), held by both ends.
 * Usage: node dist/bench/migrate.js [--mbps 10,100]. Results: bench/results/migrate.json.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startSshd } from '../test/helpers/sshd.js';
import { domstate, startTestDomain, URI } from '../test/helpers/domain.js';
import { tmpPath } from '../test/helpers/tmp.js';
import { loadGuest } from '../test/helpers/corpus.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MIG = path.join(root, 'dist/src/cli/main.js');
const THROTTLE = path.join(root, 'dist/test/helpers/throttle.js');
const { values } = parseArgs({ options: { mbps: { type: 'string', default: '10,100' } } });
const speeds = values.mbps!.split(',').map(Number);

interface Row { method: string; mbps: number; run: 'first' | 'repeated'; bytes: number; seconds: number; preflight?: number; context?: string }
const rows: Row[] = [];
const guest = loadGuest('mig-small');
const rootfs = path.join(path.dirname(guest.path('save1')), '..', 'common', 'rootfs.ext4');
const ctx = tmpPath('rootfs.ctx');
execFileSync(process.execPath, [MIG, 'context', 'build', rootfs, '-o', ctx, '--include', 'usr/**', '--include', 'etc/**'], { stdio: 'pipe' });
const sshd = await startSshd();
const d = startTestDomain('mig-bench');
try {
  for (const mbps of speeds) {
    // gzip pipeline (no baseline: first and repeated are the same work).
    for (const run of ['first', 'repeated'] as const) {
      const a = tmpPath('a.img');
      const b = tmpPath('b.img');
      const counted = tmpPath('bytes');
      const t0 = performance.now();
      execFileSync('virsh', ['-c', URI, 'save', d.name, a], { stdio: 'pipe' });
      const throttle = `${process.execPath} --input-type=module -e "import {Throttle} from '${THROTTLE}'; import {writeFileSync} from 'node:fs'; let n = 0; const t = new Throttle(${mbps}); t.on('data', (c) => (n += c.length)); t.on('end', () => writeFileSync('${counted}', String(n))); process.stdin.pipe(t).pipe(process.stdout);"`;
      const ssh = `ssh -i ${sshd.identity} -o UserKnownHostsFile=${sshd.knownHosts} -o BatchMode=yes -p ${sshd.port} root@127.0.0.1`;
      const r = spawnSync('bash', ['-o', 'pipefail', '-c', `gzip -c ${a} | ${throttle} | ${ssh} 'gunzip > ${b}'`], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`gzip pipeline failed: ${r.stderr}`);
      execFileSync('virsh', ['-c', URI, 'restore', b], { stdio: 'pipe' });
      const seconds = (performance.now() - t0) / 1000;
      rows.push({ method: 'virsh save, gzip, ssh, gunzip, virsh restore', mbps, run, bytes: Number(fs.readFileSync(counted, 'utf8')), seconds });
      fs.rmSync(a, { force: true });
      fs.rmSync(b, { force: true });
      console.error(JSON.stringify(rows[rows.length - 1]));
    }
    for (const withCtx of [false, true]) {
      const src = tmpPath('src');
      const dst = tmpPath('dst');
      if (withCtx) {
        fs.mkdirSync(path.join(dst, 'contexts'), { recursive: true });
        fs.copyFileSync(ctx, path.join(dst, 'contexts', 'rootfs.ctx'));
      }
      for (const run of ['first', 'repeated'] as const) {
        const r = spawnSync(process.execPath, [MIG, 'migrate', d.name, `root@127.0.0.1:${sshd.port}`, '--identity', sshd.identity, '--known-hosts', sshd.knownHosts,
          '--remote-mig', `MIG_STATE_DIR=${dst} ${process.execPath} ${MIG}`, '--state-dir', src, '--bandwidth', String(mbps), '--json',
          ...(withCtx ? ['--context', ctx] : [])], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`mig migrate failed: ${r.stderr}`);
        const j = JSON.parse(r.stdout);
        const c = j.context as { source: string; seconds?: number; destinationSeconds?: number; reused?: boolean } | null;
        const context = c ? (c.source === 'disks' ? `from the disks (${c.reused ? 'reused' : 'built'}: ${c.seconds} s here, ${c.destinationSeconds} s there)` : c.source) : 'none';
        rows.push({ method: withCtx ? 'mig migrate --context (guest usr/, etc/)' : 'mig migrate (no flags)', mbps, run, bytes: j.bytesSent, seconds: j.stages.total, preflight: j.stages.preflight, context });
        console.error(JSON.stringify(rows[rows.length - 1]));
      }
      fs.rmSync(src, { recursive: true, force: true });
      fs.rmSync(dst, { recursive: true, force: true });
    }
    if (domstate(d.name) !== 'running') throw new Error(`${d.name} is ${domstate(d.name)} after the runs`);
  }
} finally {
  d.destroy();
  await sshd.stop();
}
fs.mkdirSync(path.join(root, 'bench/results'), { recursive: true });
fs.writeFileSync(path.join(root, 'bench/results/migrate.json'), JSON.stringify(rows, null, 2) + '\n');
console.log('| method | Mbps | run | bytes sent | seconds | of which preflight | context |\n|---|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.method} | ${r.mbps} | ${r.run} | ${r.bytes.toLocaleString('en')} | ${r.seconds.toFixed(1)} | ${r.preflight?.toFixed(1) ?? "–"} | ${r.context ?? "–"} |`);
