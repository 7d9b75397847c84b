/**
 * Linux introspection on the real guests (Debian 12, 6.1.0-56-amd64): the page map built from
 * struct page against /proc/kpageflags captured inside the guest ~0.3 s before the suspend.
 * Thresholds are issue 4's: ≥ 0.99 of compared pages overall, ≥ 0.96 per class — with one documented
 * exception below (small guest, free class), where the guest really allocated pages in between.
 */
import test from 'ava';
import * as fs from 'node:fs';
import { openImage } from '../../src/image/probe.js';
import { introspect, Introspection } from '../../src/introspect/index.js';
import { ACCURACY_CLASSES, compareWithKpageflags, formatAccuracy, kpfClass } from '../helpers/accuracy.js';
import { PageMap, PageTypeCode } from '../../src/introspect/pagemap.js';
import { LinuxKernel } from '../../src/introspect/linux/kernel.js';
import { Btf } from '../../src/introspect/linux/btf.js';
import { readKallsyms } from '../../src/introspect/linux/kallsyms.js';
import { btfBlob, pcpFreeBlocks, pcpLayoutDerived, pcpLayoutFromBtf } from '../../src/introspect/linux/pcp.js';
import { classifyStructPages } from '../../src/introspect/linux/struct-page.js';
import { findVmcoreinfo, parseVmcoreinfo } from '../../src/introspect/linux/vmcoreinfo.js';
import { pfnSpan } from '../../src/introspect/os.js';
import { IntrospectionError } from '../../src/util/errors.js';
import { mig } from '../helpers/cli.js';
import { loadGuest } from '../helpers/corpus.js';
import { tmpPath } from '../helpers/tmp.js';

function build(path: string): Introspection {
  const img = openImage(path);
  try {
    return introspect(img);
  } finally {
    img.close();
  }
}

for (const name of ['mig-small', 'mig-large'] as const) {
  const guest = loadGuest(name);
  const kpf = fs.readFileSync(guest.path('kpageflags'));
  const maps = new Map<string, Introspection>();
  const get = (f: 'dump' | 'save1') => {
    if (!maps.has(f)) maps.set(f, build(guest.path(f)));
    return maps.get(f)!;
  };

  for (const f of ['dump', 'save1'] as const) {
    test.serial(`${name} ${f}: page map agrees with kpageflags`, (t) => {
      const r = get(f);
      t.is(r.os, 'linux');
      t.is(r.arch, 'x86_64');
      t.is(r.paging.mode, 'x86-64 4-level');
      t.is(r.paging.rootSource, 'vmcoreinfo');
      t.true(r.cpuPaging?.agrees, `vCPU state ${JSON.stringify(r.cpuPaging)}`);
      t.is(r.osRelease, guest.manifest.kernelRelease);
      t.is(r.details.vmcoreinfoSource, f === 'dump' ? 'elf-note' : 'device-note');
      t.deepEqual(r.warnings, []);
      t.is(r.details.structPages.unreadable, 0);
      const acc = compareWithKpageflags(r.map, kpf);
      t.log(`${formatAccuracy(acc)}\npage map in ${r.seconds.toFixed(2)} s`);
      t.true(acc.compared > kpf.length / 8 / 2, 'most pages are in a compared class');
      t.true(acc.overall >= 0.99, `overall ${acc.overall}`);
      for (const c of ACCURACY_CLASSES) {
        const x = acc.classes[c];
        t.true(x.truth > 50, `${c}: ground truth has pages of the class`);
        // The guest reads its kpageflags about 0.3 s before the host suspends it. Until 2026-12-03 its
        // processes kept running in that window: on mig-small 142–441 pages free then were anon or
        // cache pages in the image (free recall down to 0.863). Now every other process is stopped
        // from the capture to the suspend (vm-images/guest/heapd.py): 33 pages of the 2,841 still
        // became cache (kernel work; 0.988). A small class may miss up to 10 pages whatever its recall.
        const min = 0.96;
        t.true(x.recall >= min || x.truth - x.agree <= 10, `${c}: recall ${x.recall} < ${min}, ${x.truth - x.agree} pages: ${JSON.stringify(x.confusedWith)}`);
      }
      // The same race the other way: pages in use when kpageflags was read, freed before the suspend
      // (23 of 2603 on one mig-small build before the freeze; none since, none on mig-large), so
      // small-guest precision is held to 0.98.
      const minPrecision = name === 'mig-small' ? 0.98 : 0.999;
      t.true(acc.classes.free.precision >= minPrecision, `free precision ${acc.classes.free.precision}`);
      t.true(acc.classes.slab.precision >= 0.99);
      t.true(r.map.count('kernel') > 10000, 'kernel image and reserved pages');
      t.true(r.map.count('image') > 500, 'executable-mapped file pages');
      t.true(r.map.count('zero') > 0);
    });
  }

  test.serial(`${name}: save image and ELF dump of the same paused state give the same page map`, (t) => {
    const a = get('dump').map;
    const b = get('save1').map;
    const n = guest.manifest.kpageflags.pfns;
    let diff = 0;
    for (let p = 0; p < n; p++) if (a.types[p] !== b.types[p]) diff++;
    t.is(diff, 0);
    // The ELF dump also holds the firmware flash at the top of the 4 GiB space: no struct page → hole.
    for (let p = n; p < a.pfns; p++) if (a.types[p] !== PageTypeCode.hole) diff++;
    t.is(diff, 0);
  });
}

test('VMCOREINFO of another boot (different phys_base) is refused, not misread; a hex phys_base is still read', (t) => {
  const guest = loadGuest('mig-small');
  const img = openImage(guest.path('dump'));
  try {
    const text = img.vmcoreinfo!;
    const pb = /NUMBER\(phys_base\)=(-?\d+)/.exec(text)![1];
    // Without KASLR the kernel sits at 16 MiB: phys_base 0x1000000 is what a default boot has.
    const wrong = text.replace(`NUMBER(phys_base)=${pb}`, 'NUMBER(phys_base)=16777216');
    const e = t.throws(() => new LinuxKernel(img.memory, parseVmcoreinfo(wrong)), { instanceOf: IntrospectionError });
    t.is(e!.code, 'INTROSPECT_INCONSISTENT');
    t.regex(e!.message, /init_top_pgt|not in the image/);
    // makedumpfile's rule: a NUMBER that is not decimal is read as hex (what QEMU's own parser assumed).
    const hex = text.replace(`NUMBER(phys_base)=${pb}`, `NUMBER(phys_base)=${BigInt.asUintN(64, BigInt(pb)).toString(16)}`);
    t.is(new LinuxKernel(img.memory, parseVmcoreinfo(hex)).physBase, Number(pb));
  } finally {
    img.close();
  }
});

test('mig analyze on the small guest: table, page-map file equal to the built map, HTML report', (t) => {
  const guest = loadGuest('mig-small');
  const pm = tmpPath('small.pagemap');
  const report = tmpPath('small.html');
  const r = mig('analyze', guest.path('save1'), '--json', '--sample', '256', '--page-map', pm, '--report', report);
  t.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { osRelease: string; presentPages: number; types: { type: string; pages: number; percent: number; zstdRatio?: number; gzipRatio?: number; sampled: number }[] };
  t.is(j.osRelease, guest.manifest.kernelRelease);
  t.is(j.types.reduce((s, x) => s + x.pages, 0), j.presentPages);
  t.true(Math.abs(j.types.reduce((s, x) => s + x.percent, 0) - 100) < 1e-6);
  const zero = j.types.find((x) => x.type === 'zero')!;
  const anon = j.types.find((x) => x.type === 'anon')!;
  t.true(zero.zstdRatio! > 100 && anon.zstdRatio! > 1 && anon.zstdRatio! < zero.zstdRatio!);
  t.true(anon.sampled <= 256 + 1 && anon.sampled > 200, `${anon.sampled} anon pages sampled`);
  const img = openImage(guest.path('save1'));
  try {
    const fromFile = PageMap.read(pm, pfnSpan(img.memory));
    t.deepEqual(fromFile.types, introspect(img).map.types);
  } finally {
    img.close();
  }
  const html = fs.readFileSync(report, 'utf8');
  t.regex(html, /^<!doctype html>/);
  t.regex(html, /<svg [^>]*>[\s\S]*physical memory[\s\S]*<\/svg>/);
});

test('mig encode builds the page map itself on the small guest and drops its free pages', (t) => {
  const guest = loadGuest('mig-small');
  const out = tmpPath('small.mig');
  const r = mig('encode', guest.path('save1'), '-o', out, '--json', '--threads', '2');
  t.is(r.status, 0, r.stderr);
  t.notRegex(r.stderr, /no page map/);
  const j = JSON.parse(r.stdout);
  t.is(j.pageMap.source, 'introspection');
  t.is(j.pageMap.osRelease, guest.manifest.kernelRelease);
  t.true(j.freePagesDropped > 1000, `${j.freePagesDropped} free pages dropped`);
});

test('per-cpu free lists (BTF offsets): mig-large pages typed free through them are not in use per kpageflags', (t) => {
  const guest = loadGuest('mig-large');
  const kpf = fs.readFileSync(guest.path('kpageflags'));
  const img = openImage(guest.path('dump'));
  try {
    const withPcp = introspect(img);
    const without = introspect(img, { pcp: false });
    const pcp = withPcp.details.pcp!;
    t.truthy(pcp, JSON.stringify(withPcp.warnings));
    t.is(pcp.brokenLists, 0);
    t.true(pcp.pages > 1000, `${pcp.pages} pages on per-cpu lists`);
    let changed = 0;
    let inUse = 0;
    for (let p = 0; p < withPcp.map.pfns; p++) {
      if (withPcp.map.types[p] === without.map.types[p]) continue;
      changed++;
      t.is(withPcp.map.types[p], PageTypeCode.free);
      const c = kpfClass(kpf.readUInt32LE(p * 8));
      if (c > 0) inUse++; // class 0 = free (buddy); > 0 = slab/pagetable/anon/cache/shmem
    }
    t.is(changed, pcp.typedFree);
    // kpageflags is read ~0.3 s before the suspend; a page freed onto a per-cpu list in that window was
    // in use then (3 of the pcp pages on the 2026-12-01 build): allow 1 %.
    t.true(inUse <= pcp.pages / 100, `${inUse} of ${pcp.pages} per-cpu free pages are in-use pages in kpageflags`);
  } finally {
    img.close();
  }
});

// The layout of the per-cpu lists derived without BTF (what the i386 kernels need) is checked here
// against the BTF the x86-64 kernels carry: the same offsets, and every pageset's count equal to the
// pages on its lists.
for (const name of ['mig-small', 'mig-large'] as const) {
  test(`${name}: per-cpu list layout derived without BTF equals the BTF layout`, (t) => {
    const guest = loadGuest(name);
    const img = openImage(guest.path('save1'));
    try {
      const found = findVmcoreinfo(img.memory, { noteText: img.vmcoreinfo, noteGpa: img.vmcoreinfoNoteGpa });
      const k = new LinuxKernel(img.memory, found.vmcoreinfo);
      const ks = readKallsyms(k);
      const { map, stats } = classifyStructPages(k, img.memory, pfnSpan(img.memory));
      const fromBtf = pcpLayoutFromBtf(k, ks, new Btf(btfBlob(k, ks)));
      const derived = pcpLayoutDerived(k, ks, stats.vmemmapBase, map);
      t.deepEqual({ ...derived, source: 'btf' }, fromBtf);
      const r = pcpFreeBlocks(k, derived, stats.vmemmapBase, map.pfns);
      t.is(r.countMismatches, 0);
      t.is(r.brokenLists, 0);
      t.true(r.pages > 0, 'some pages sit on per-cpu lists');
    } finally {
      img.close();
    }
  });
}
