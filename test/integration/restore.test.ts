/**
 * The proof that rebuilding is exact enough for libvirt: the small guest's save image is rebuilt
 * from its parsed parts, restored by the real libvirtd (`virsh restore`), and its workload goes on —
 * the heartbeat counter held in guest memory continues above its value at save time.
 */
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openImage } from '../../src/image/probe.js';
import { writeAtomically } from '../../src/util/sink.js';
import { loadGuest } from '../helpers/corpus.js';
import { sha256File } from '../helpers/compare.js';

const guest = loadGuest('mig-small');
const m = guest.manifest;
const virsh = (...args: string[]) => spawnSync('virsh', ['-c', 'qemu:///system', ...args], { encoding: 'utf8' });

function heartbeatsAfter(log: string, from: number): number[] {
  if (!fs.existsSync(log)) return [];
  const buf = fs.readFileSync(log);
  const text = buf.subarray(buf.length >= from ? from : 0).toString('latin1');
  return [...text.matchAll(/MIG-HEARTBEAT (\d+)/g)].map((x) => Number(x[1]));
}

test.serial('virsh restore of a save image rebuilt from parts: the domain runs and its workload continues', async (t) => {
  t.timeout(5 * 60_000);
  const v = virsh('version');
  t.is(v.status, 0, `libvirtd is not reachable (make services starts it): ${v.stderr}`);
  if (virsh('domstate', m.name).stdout.trim() === 'running') virsh('destroy', m.name);

  const rebuilt = path.join(path.dirname(guest.path('save1')), '.rebuilt-save1.img');
  const img = openImage(guest.path('save1'));
  try {
    writeAtomically(rebuilt, (sink) => img.rebuild(sink));
  } finally {
    img.close();
  }
  const log = m.serialLogOnRestore;
  const logSizeBefore = fs.existsSync(log) ? fs.statSync(log).size : 0;
  try {
    t.is(sha256File(rebuilt), sha256File(guest.path('save1')));
    execFileSync('virsh', ['-c', 'qemu:///system', 'restore', rebuilt], { stdio: 'pipe' });
    t.is(virsh('domstate', m.name).stdout.trim(), 'running');
    const deadline = Date.now() + 120_000;
    let seen: number[] = [];
    while (Date.now() < deadline) {
      seen = heartbeatsAfter(log, logSizeBefore).filter((n) => n > m.heartbeat.beforeSave1);
      if (seen.length >= 2) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    t.true(seen.length >= 2, `no heartbeat above ${m.heartbeat.beforeSave1} in ${log} within 120 s`);
    t.true(seen[seen.length - 1] > seen[0], 'the counter keeps advancing');
    t.is(virsh('domstate', m.name).stdout.trim(), 'running');
  } finally {
    virsh('destroy', m.name);
    fs.rmSync(rebuilt, { force: true });
  }
});
