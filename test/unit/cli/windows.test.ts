/**
 * What a user sees of a 32-bit Windows guest (issue 11 §3), on images from the Windows 7 SP1 x86
 * generator (test/helpers/windows7-image.ts; its Vista SP2 and XP SP3 images for `mig analyze` too)
 * as QEMU's ELF dump and as raw memory:
 * - `mig analyze`: the type table with Windows' class names, the PFN lists (standby by priority, as
 *   the generator linked them) and the process list with VAD counts and image names, in text and JSON;
 * - `mig encode` with no page-map flag introspects Windows, drops free pages and sends standby and
 *   image pages from a context of the guest's files; `mig decode` gives back the image with exactly
 *   the free pages zeroed.
 */
import test from 'ava';
import * as fs from 'node:fs';
import { PageTypeCode } from '../../../src/introspect/pagemap.js';
import { mig } from '../../helpers/cli.js';
import { tmpPath } from '../../helpers/tmp.js';
import { saveWindows7Image, windows7Image, WIN7_PAGE_CLASSES, type WrittenWindows7Image } from '../../helpers/windows7-image.js';

const written = new Map<boolean, WrittenWindows7Image>();
function image(pae: boolean): WrittenWindows7Image {
  let w = written.get(pae);
  if (!w) written.set(pae, (w = saveWindows7Image(tmpPath(`win7-${pae ? 'pae' : 'nonpae'}`), windows7Image({ pae, ramMiB: 64, seed: 3 }))));
  return w;
}

for (const pae of [false, true]) {
  const mode = pae ? 'x86 PAE' : 'x86 non-PAE';
  test(`analyze (${mode}): Windows class names, PFN lists with standby priorities, processes with VADs and images`, (t) => {
    const w = image(pae);
    const j = mig('analyze', w.elf, '--json', '--sample', '64');
    t.is(j.status, 0, j.stderr);
    const r = JSON.parse(j.stdout);
    t.is(r.os, 'windows');
    t.is(r.paging.mode, mode);
    t.is(r.paging.rootSource, 'container-cpu');
    t.is(r.report.typeNames.free, 'Zeroed + Free lists');
    t.is(r.report.typeNames.slab, 'paged and nonpaged pool');
    // Standby pages per priority: exactly the generator's list totals.
    t.deepEqual(r.details.pfn.standbyByPriority, w.image.layout.standbyTotals);
    const standbyRow = r.types.find((x: { type: string }) => x.type === 'standby');
    t.is(standbyRow.pages, w.image.layout.standbyTotals.reduce((a, b) => a + b, 0));
    // The process list: every generated process, with its VAD count and image names.
    const procs = r.report.tables.find((x: { title: string }) => x.title.startsWith('processes'));
    t.truthy(procs);
    for (const p of w.image.layout.processes) {
      const row = procs.rows.find((x: string[]) => x[0] === String(p.pid));
      t.truthy(row, `pid ${p.pid} (${p.name}) in the table`);
      const d = r.details.processes.find((x: { pid: number }) => x.pid === p.pid);
      t.is(d.name, p.name);
      t.is(row[3], String(d.vads));
      t.is(row[2], p.name);
    }
    const explorer = r.details.processes.find((x: { name: string }) => x.name === 'explorer.exe');
    t.true(explorer.images.some((f: string) => /\\ntdll\.dll$/i.test(f)), explorer.images.join(', '));

    const text = mig('analyze', w.raw, '--no-compress');
    t.is(text.status, 0, text.stderr);
    t.regex(text.stdout, /Windows 6\.1\.7601 SP1 i386/);
    t.regex(text.stdout, /Windows class/);
    t.regex(text.stdout, /^standby\s+\d+.*Standby lists/m);
    t.regex(text.stdout, /^PFN database: pages per PageLocation$/m);
    t.regex(text.stdout, /^Standby\s+\d+\s+by priority /m);
    t.regex(text.stdout, /^processes \(PsActiveProcessHead\)$/m);
    t.regex(text.stdout, /^\d+\s+\d+\s+explorer\.exe\s+\d+/m);
  });
}

for (const [build, release, kdbg] of [['vistasp2', '6.0.6002 SP2', '0x330'], ['xpsp3', '5.1.2600 SP3', '0x290']] as const) {
  test(`analyze (${build}, x86 non-PAE): the build's table is used; processes with VADs and images; XP's one standby list has no priorities`, (t) => {
    const w = saveWindows7Image(tmpPath(`${build}-nonpae`), windows7Image({ pae: false, build, ramMiB: 64, seed: 3 }));
    const j = mig('analyze', w.elf, '--json', '--sample', '64');
    t.is(j.status, 0, j.stderr);
    const r = JSON.parse(j.stdout);
    t.is(r.os, 'windows');
    t.is(r.osRelease, release);
    t.is(r.details.kdbg.size, kdbg);
    t.deepEqual(r.warnings, []);
    for (const p of w.image.layout.processes) t.is(r.details.processes.find((x: { pid: number }) => x.pid === p.pid)?.vads, p.vads.length, p.name);
    const text = mig('analyze', w.raw, '--no-compress');
    t.is(text.status, 0, text.stderr);
    t.regex(text.stdout, new RegExp(`Windows ${release.replace(/\./g, '\\.')} i386`));
    t.regex(text.stdout, /^processes \(PsActiveProcessHead\)$/m);
    if (build === 'xpsp3') t.notRegex(text.stdout, /by priority/);
    else t.regex(text.stdout, /^Standby\s+\d+\s+by priority /m);
  });
}

test('encode/decode of a Windows ELF dump: introspected with no flag, free pages dropped, standby and image pages from the context', (t) => {
  const w = image(false);
  const ctx = tmpPath('win7.ctx');
  const c = mig('context', 'build', w.filesDir, '-o', ctx, '--include', '**', '--json');
  t.is(c.status, 0, c.stderr);
  const out = tmpPath('win7.mig');
  const e = mig('encode', w.elf, '-o', out, '--context', ctx, '--json');
  t.is(e.status, 0, e.stderr);
  const s = JSON.parse(e.stdout);
  t.is(s.pageMap.source, 'introspection');
  const truth = w.image.truth.types;
  const cls = w.image.truthWindows;
  const standbyClass = WIN7_PAGE_CLASSES.indexOf('standby');
  // Free pages the truth holds with non-zero bytes are the ones dropped.
  const raw = fs.readFileSync(w.raw);
  let freeNonZero = 0;
  for (let p = 0; p < truth.length; p++) {
    if (truth[p] !== PageTypeCode.free) continue;
    const pg = raw.subarray(p * 4096, (p + 1) * 4096);
    if (pg.some((b) => b !== 0)) freeNonZero++;
  }
  t.is(s.freePagesDropped, freeNonZero);
  // Standby pages (file content, on the disk) nearly all come from the context; so do image pages.
  const sb = s.byType.standby;
  const standbyNonZero = (sb.context ?? 0) + (sb.literal ?? 0) + (sb.history ?? 0) + (sb.duplicate ?? 0) + (sb.baseline ?? 0);
  t.true(standbyNonZero > 1000, JSON.stringify(sb));
  t.true((sb.context ?? 0) / standbyNonZero >= 0.95, JSON.stringify(sb));
  const im = s.byType.image;
  t.true((im.context ?? 0) / ((im.context ?? 0) + (im.literal ?? 0) + (im.history ?? 0) + (im.duplicate ?? 0)) >= 0.75, JSON.stringify(im));
  t.true(cls.some((x) => x === standbyClass));
  // Much smaller than the image, and than gzip would make it (checked by make bench; here: bytes < 1/8).
  t.true(s.outputBytes < fs.statSync(w.elf).size / 8, `${s.outputBytes}`);

  const back = tmpPath('win7.back');
  const d = mig('decode', out, '-o', back, '--context', ctx);
  t.is(d.status, 0, d.stderr);
  // The decoded dump: byte-identical to the original except the dropped free pages, which are zero.
  const orig = fs.readFileSync(w.elf);
  const got = fs.readFileSync(back);
  t.is(got.length, orig.length);
  // ELF32: e_phoff at 0x1c, e_phentsize 0x2a, e_phnum 0x2c; the one PT_LOAD (type 1) holds the RAM.
  const phoff = orig.readUInt32LE(0x1c);
  let loadOff = -1;
  for (let i = 0; i < orig.readUInt16LE(0x2c); i++) {
    const ph = phoff + i * orig.readUInt16LE(0x2a);
    if (orig.readUInt32LE(ph) === 1) loadOff = orig.readUInt32LE(ph + 4);
  }
  t.true(loadOff > 0 && orig.subarray(loadOff, loadOff + raw.length).equals(raw));
  t.true(got.subarray(0, loadOff).equals(orig.subarray(0, loadOff)), 'ELF headers and notes unchanged');
  t.true(got.subarray(loadOff + raw.length).equals(orig.subarray(loadOff + raw.length)), 'bytes after the RAM unchanged');
  let zeroed = 0;
  for (let p = 0; p < truth.length; p++) {
    const a = orig.subarray(loadOff + p * 4096, loadOff + (p + 1) * 4096);
    const b = got.subarray(loadOff + p * 4096, loadOff + (p + 1) * 4096);
    if (a.equals(b)) continue;
    t.is(truth[p], PageTypeCode.free, `pfn ${p} differs but is ${truth[p]}`);
    t.true(b.every((x) => x === 0));
    zeroed++;
  }
  t.is(zeroed, freeNonZero);
});
