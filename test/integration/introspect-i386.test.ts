/**
 * Linux introspection on the real 32-bit guests (Debian 12 i386: mig-i386 with the 686 kernel,
 * non-PAE paging, i440fx, an ELF32 dump; mig-i386-pae with the 686-pae kernel, PAE paging, q35, an
 * ELF64 dump with e_machine EM_386): the paging mode and root found from the image alone, the page
 * map against the guest's own /proc/kpageflags (issue 10: ≥ 0.99 overall, ≥ 0.96 per class), and
 * user-space translation against /proc/PID/pagemap entries captured inside the guest.
 */
import test from 'ava';
import * as fs from 'node:fs';
import { openImage } from '../../src/image/probe.js';
import { ACCURACY_CLASSES, compareWithKpageflags, formatAccuracy } from '../helpers/accuracy.js';
import { introspect, Introspection } from '../../src/introspect/index.js';
import { LinuxKernel } from '../../src/introspect/linux/kernel.js';
import { findUserRoots } from '../../src/introspect/linux/user-roots.js';
import { findVmcoreinfo } from '../../src/introspect/linux/vmcoreinfo.js';
import { PageTableWalker } from '../../src/introspect/x86/paging.js';
import { mig } from '../helpers/cli.js';
import { loadGuest } from '../helpers/corpus.js';

interface PagemapRecord { pid: number; comm: string; va: number; pfn: number; mapping: string }

for (const name of ['mig-i386', 'mig-i386-pae'] as const) {
  const guest = loadGuest(name);
  const m = guest.manifest;
  const kpf = fs.readFileSync(guest.path('kpageflags'));
  const maps = new Map<string, Introspection>();
  const get = (f: 'dump' | 'save1') => {
    if (!maps.has(f)) {
      const img = openImage(guest.path(f));
      try {
        maps.set(f, introspect(img));
      } finally {
        img.close();
      }
    }
    return maps.get(f)!;
  };

  for (const f of ['dump', 'save1'] as const) {
    test.serial(`${name} ${f}: ${m.expectedPaging} found from the image, page map agrees with kpageflags`, (t) => {
      const r = get(f);
      t.is(r.os, 'linux');
      t.is(r.arch, 'i386');
      t.is(r.osRelease, m.kernelRelease);
      t.is(r.paging.mode, m.expectedPaging);
      t.is(r.paging.rootSource, 'vmcoreinfo');
      t.is(r.details.pageOffset, '0xc0000000');
      t.truthy(r.cpuPaging, 'the container carries vCPU state');
      t.true(r.cpuPaging!.agrees, JSON.stringify(r.cpuPaging));
      t.is(r.cpuPaging!.mode, m.expectedPaging);
      t.is(r.details.structPages.memoryModel, 'flatmem');
      t.is(r.details.structPages.unreadable, 0);
      t.is(r.details.pcp?.layout, 'derived', `per-cpu lists read without BTF: ${r.warnings.join('; ')}`);
      // Debian's i386 kernels have no kallsyms data symbols (__per_cpu_offset): the pagesets were found by
      // the direct-map scan, and every pageset's count equals the pages on its lists (else pcp is absent).
      t.is(r.details.pcp?.cpuOffsets, 'scan');
      t.true(r.details.pcp!.pages > 100, `${r.details.pcp?.pages} pages on per-cpu lists`);
      t.is(r.details.pcp?.brokenLists, 0);
      t.deepEqual(r.warnings, []);
      const acc = compareWithKpageflags(r.map, kpf);
      t.log(`${formatAccuracy(acc)}\npage map in ${r.seconds.toFixed(2)} s`);
      t.true(acc.compared > kpf.length / 8 / 2, 'most pages are in a compared class');
      t.true(acc.overall >= 0.99, `overall ${acc.overall}`);
      for (const c of ACCURACY_CLASSES) {
        const x = acc.classes[c];
        t.true(x.truth > 50, `${c}: ground truth has pages of the class`);
        t.true(x.recall >= 0.96, `${c}: recall ${x.recall}, ${x.truth - x.agree} pages: ${JSON.stringify(x.confusedWith)}`);
        t.true(x.precision >= 0.96, `${c}: precision ${x.precision}`);
      }
      t.true(r.map.count('kernel') > 1000, 'kernel image and reserved pages');
      t.true(r.map.count('image') > 100, 'executable-mapped file pages');
    });
  }

  test.serial(`${name}: save image and ELF dump of the same paused state give the same page map`, (t) => {
    const a = get('dump').map;
    const b = get('save1').map;
    const n = m.kpageflags.pfns;
    let diff = 0;
    for (let p = 0; p < n; p++) if (a.types[p] !== b.types[p]) diff++;
    t.is(diff, 0);
  });

  test.serial(`${name}: user-space translation matches the guest's /proc/PID/pagemap`, (t) => {
    const pm = JSON.parse(fs.readFileSync(guest.path('pagemap'), 'utf8')) as { records: PagemapRecord[] };
    const byPid = new Map<number, PagemapRecord[]>();
    for (const r of pm.records) byPid.set(r.pid, [...(byPid.get(r.pid) ?? []), r]);
    t.true(byPid.size >= 3, `${byPid.size} processes sampled`);
    const img = openImage(guest.path('save1'));
    try {
      const k = new LinuxKernel(img.memory, findVmcoreinfo(img.memory, { noteText: img.vmcoreinfo, noteGpa: img.vmcoreinfoNoteGpa }).vmcoreinfo);
      const roots = findUserRoots(k, get('save1').map);
      t.true(roots.length >= byPid.size, `${roots.length} user page-table roots found`);
      const walkers = roots.map((root) => new PageTableWalker(img.memory, k.mode, root));
      for (const [pid, recs] of byPid) {
        // The process's root is the one that maps the most of its sampled pages where the guest said.
        let best = -1;
        let bestHits = -1;
        walkers.forEach((w, i) => {
          let hits = 0;
          for (const r of recs) if (w.translateVpn(r.va / 4096) === r.pfn) hits++;
          if (hits > bestHits) [best, bestHits] = [i, hits];
        });
        t.log(`${name} pid ${pid} (${recs[0].comm}): ${bestHits}/${recs.length} pages translate as in its pagemap (root 0x${roots[best]?.toString(16)})`);
        t.is(bestHits, recs.length, `pid ${pid} ${recs[0].comm}`);
      }
      // The vCPU's CR3 (the last user address space, kept lazily by the idle task) is one of them, or the kernel's.
      const cr3 = Number(img.cpus[0].cr3!) & (k.mode.rootAlign === 32 ? ~0x1f : ~0xfff);
      t.true(roots.includes(cr3 >>> 0) || cr3 >>> 0 === k.rootPa, `CR3 0x${(cr3 >>> 0).toString(16)}`);
    } finally {
      img.close();
    }
  });

  test(`${name}: mig info and mig analyze --json report the paging mode and where it came from`, (t) => {
    const info = mig('info', '--json', guest.path('save1'));
    t.is(info.status, 0, info.stderr);
    const i = JSON.parse(info.stdout);
    t.deepEqual(i.paging.mode, m.expectedPaging);
    t.is(i.paging.source, 'container-cpu');
    const a = mig('analyze', '--json', '--no-compress', guest.path('dump'));
    t.is(a.status, 0, a.stderr);
    const j = JSON.parse(a.stdout);
    t.is(j.arch, 'i386');
    t.is(j.paging.mode, m.expectedPaging);
    t.is(j.paging.rootSource, 'vmcoreinfo');
    t.true(j.cpuPaging.agrees);
  });
}
