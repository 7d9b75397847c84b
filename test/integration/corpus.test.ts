/**
 * The real small guest (Debian 12, 256 MiB, desktop-like workload) captured by a real libvirtd:
 * save1.img and dump.elf of the same paused state, save2.img after a restore and minutes of activity.
 */
import test from 'ava';
import * as fs from 'node:fs';
import { openImage } from '../../src/image/probe.js';
import { imageInfo } from '../../src/cli/commands/info.js';
import { loadGuest } from '../helpers/corpus.js';
import { comparePages, isLegacyHole, rebuildDigest, sha256File, verifySlots } from '../helpers/compare.js';

const guest = loadGuest('mig-small');
const m = guest.manifest;
const ramBytes = m.memMiB * 1024 * 1024;

test('save image: libvirt save of the guest, RAM, VMCOREINFO through the vmcoreinfo device in the save image, CR3', (t) => {
  const r = imageInfo(guest.path('save1'));
  t.is(r.format, 'libvirt-save');
  t.is(r.ramBytes, ramBytes);
  t.is(r.machine, m.machine);
  t.is(r.libvirt?.domain, m.name);
  t.is(r.pages.total, ramBytes / 4096);
  t.true(r.pages.nonZero > r.pages.total / 4, `${r.pages.nonZero} non-zero pages`);
  t.deepEqual({ present: r.vmcoreinfo.present, source: r.vmcoreinfo.source, osRelease: r.vmcoreinfo.osRelease },
    // The guests run with <vmcoreinfo state='on'/>: the save image holds the device's state, which points at it.
    { present: true, source: 'device-note', osRelease: m.kernelRelease });
  t.true(r.cpus.length >= 1);
  t.not(r.cpus[0].cr3, '0x0');
});

test('ELF dump: same guest, VMCOREINFO note, same CR3 as the save image', (t) => {
  const save = imageInfo(guest.path('save1'));
  const r = imageInfo(guest.path('dump'));
  t.is(r.format, 'elf-dump');
  t.true(r.ramBytes >= ramBytes, 'ELF segments cover all RAM (plus ROM/VGA)');
  t.is(r.vmcoreinfo.present, true);
  if (m.dumpHasVmcoreinfo) t.is(r.vmcoreinfo.source, 'elf-note');
  t.is(r.vmcoreinfo.osRelease, m.kernelRelease);
  t.is(r.cpus[0].cr3, save.cpus[0].cr3, 'both captures are of the same paused vCPU');
  t.is(r.cpus[0].cr0, save.cpus[0].cr0);
  t.is(r.cpus[0].cr4, save.cpus[0].cr4);
});

test('the same guest page read through both readers agrees where both hold it', (t) => {
  const save = openImage(guest.path('save1'));
  const elf = openImage(guest.path('dump'));
  try {
    const a = comparePages(save.memory, elf.memory, isLegacyHole);
    t.true(a.compared >= 0.99 * (ramBytes / 4096), `compared ${a.compared} pages`);
    t.is(a.equal, a.compared, `differing PFNs: ${a.differing.map((p) => '0x' + p.toString(16)).join(' ')}`);
  } finally {
    save.close();
    elf.close();
  }
});

for (const f of ['save1', 'dump', 'save2'] as const) {
  test(`rebuild from parts reproduces ${f} byte for byte`, (t) => {
    const file = guest.path(f);
    const img = openImage(file);
    try {
      const d = rebuildDigest(img);
      t.is(d.bytes, fs.statSync(file).size);
      t.is(d.sha256, sha256File(file));
      // Page slots: the codec's view of the file. RAM frames backed by data are all slots.
      const v = verifySlots(img);
      t.deepEqual(v.problems, []);
      t.true(v.mapped >= (f === 'dump' ? ramBytes / 4096 : 0.5 * ramBytes / 4096), `${v.mapped} mapped slots`);
    } finally {
      img.close();
    }
  });
}

test('the repeated-migration pair: save2 is the same guest, partly changed', (t) => {
  const a = openImage(guest.path('save1'));
  const b = openImage(guest.path('save2'));
  try {
    t.is(b.ramBytes, a.ramBytes);
    const cmp = comparePages(a.memory, b.memory);
    t.is(cmp.compared, ramBytes / 4096);
    t.true(cmp.equal < cmp.compared, 'some pages changed');
    t.true(cmp.equal > cmp.compared / 2, `most pages unchanged (${cmp.equal}/${cmp.compared})`);
  } finally {
    a.close();
    b.close();
  }
});

test('kpageflags ground truth covers every PFN of the ELF dump', (t) => {
  const elf = openImage(guest.path('dump'));
  try {
    const runs = elf.memory.runs;
    const lastPfn = (runs[runs.length - 1].gpa + runs[runs.length - 1].length) / 4096 - 1;
    t.is(fs.statSync(guest.path('kpageflags')).size, m.kpageflags.bytes);
    // The kernel's max_pfn covers guest RAM; ELF segments above it are ROM/VGA BARs.
    const ramPfns = elf.memory.runs.filter((r) => r.gpa < 4 * 2 ** 30).reduce((s, r) => Math.max(s, (r.gpa + r.length) / 4096), 0);
    t.true(m.kpageflags.pfns >= ramBytes / 4096 - 1024 && m.kpageflags.pfns <= Math.max(ramPfns, lastPfn + 1), `${m.kpageflags.pfns} PFNs`);
  } finally {
    elf.close();
  }
});
