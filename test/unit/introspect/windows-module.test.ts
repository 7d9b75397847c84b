/**
 * The Windows OS module (src/introspect/windows/index.ts) on the synthetic Windows 7 fixture: every
 * PFN typed as the PFN database says (free/zeroed, standby, bad, section pages by their section, page
 * tables, large kernel pages, private user pages and copy-on-write image pages, firmware pages
 * outside MmPhysicalMemoryBlock), the process list with VADs and image names, and hostile structures
 * (list and VAD-tree cycles, pointers outside memory, a PFN database larger than memory) giving an
 * IntrospectionError or a warning that names the structure and its address — never a hang.
 */
import test from 'ava';
import type { IntrospectableImage } from '../../../src/introspect/os.js';
import { PageLocation } from '../../../src/introspect/windows/offsets.js';
import { introspect } from '../../../src/introspect/index.js';
import { windows } from '../../../src/introspect/windows/index.js';
import { IntrospectionError } from '../../../src/util/errors.js';
import { linuxFixture } from '../../helpers/linux-fixture.js';
import { linuxI386Fixture } from '../../helpers/linux-i386-fixture.js';
import { windowsFixture, WinFixture, WinFixtureOptions } from '../../helpers/windows-fixture.js';

function run(fx: WinFixture) {
  const image: IntrospectableImage = { memory: fx.mem, cpus: fx.cpus };
  const p = windows.probe(image, {});
  if (!p) throw new Error('probe did not recognise the fixture');
  return windows.build(image, p, {});
}

function mismatches(fx: WinFixture, r: ReturnType<typeof run>): string[] {
  const bad: string[] = [];
  for (let pfn = 0; pfn < fx.expect.length; pfn++) if (r.map.type(pfn) !== fx.expect[pfn]) bad.push(`pfn 0x${pfn.toString(16)}: ${r.map.type(pfn)}, expected ${fx.expect[pfn]}`);
  return bad;
}

const variants: [string, WinFixtureOptions][] = [
  ['non-PAE', { pae: false }],
  ['PAE', { pae: true }],
  ['non-PAE, no vCPU state', { pae: false, cpu: false }],
  ['PAE, no vCPU state, PDPT mid-page', { pae: true, cpu: false, bootLayout: false }],
  ['non-PAE, kernel in a 4 MiB page', { pae: false, largeKernel: true }],
  ['PAE, kernel in a 2 MiB page', { pae: true, largeKernel: true }],
];

for (const [name, o] of variants) {
  test(`${name}: every PFN typed as the PFN database says`, (t) => {
    const fx = windowsFixture(o);
    const r = run(fx);
    t.deepEqual(mismatches(fx, r), []);
    t.is(r.os, 'windows');
    t.is(r.arch, 'i386');
    t.is(r.osRelease, '6.1.7601 SP1');
    t.is(r.paging.mode, o.pae ? 'x86 PAE' : 'x86 non-PAE');
    t.is(r.paging.rootSource, o.cpu === false ? 'scan' : 'container-cpu');
    t.deepEqual(r.warnings, []);
    t.is(r.details.layout, fx.layout.name);
    t.is(r.details.pfn.entries, fx.expect.length);
    if (o.largeKernel) t.is(r.details.pfn.largePages, o.pae ? 512 : 1024);
  });
}

test('process list, VAD counts, image names, sections; the System DTB reported', (t) => {
  const fx = windowsFixture({ pae: true });
  const r = run(fx);
  t.deepEqual(r.details.processes.map((p) => [p.pid, p.name, p.vads, p.images, p.mappedFiles]), [
    [4, 'System', 0, [], 0],
    [0x4d8, 'explorer.exe', 4, ['\\Windows\\explorer.exe'], 1],
  ]);
  t.deepEqual(r.details.sections, { image: 1, file: 1, pagefile: 1 });
  t.is(r.details.systemDtb, '0x' + fx.rootPa.toString(16));
  t.like(r.details.pfn.prototype, { image: 2, file: 2, pagefile: 1 });
  t.is(r.details.pfn.imageVadPrivate, 1);
  t.is(r.details.pfn.locations.Standby, 2);
  t.is(r.details.kdbg.vaFrom, 'list');
});

test('Linux images (x86-64, i386 non-PAE and PAE) are not taken for Windows', (t) => {
  t.is(windows.probe({ memory: linuxFixture(32768, [0]).mem }, {}), undefined);
  for (const pae of [false, true]) t.is(windows.probe({ memory: linuxI386Fixture({ pae, ramPages: 2048 }).mem }, {}), undefined);
});

test('a KDBG without _KUSER_SHARED_DATA is not Windows', (t) => {
  const fx = windowsFixture({ pae: false });
  fx.mem.write(fx.pa(0xffdf0000), Buffer.alloc(4096));
  t.is(windows.probe({ memory: fx.mem }, {}), undefined);
});

test('64-bit Windows is refused by name', (t) => {
  const fx = windowsFixture({ pae: false });
  const at = fx.pa(fx.va.kdbg);
  fx.mem.write(at, Buffer.from([0xd0, 0xa0, 0xe5, 0x02, 0x00, 0xf8, 0xff, 0xff, 0xd0, 0xa0, 0xe5, 0x02, 0x00, 0xf8, 0xff, 0xff]));
  const e = t.throws(() => run(fx), { instanceOf: IntrospectionError })!;
  t.is(e.code, 'INTROSPECT_UNSUPPORTED');
  t.regex(e.message, /64-bit Windows/);
});

// Hostile structures.

test('process list cycle: IntrospectionError naming ActiveProcessLinks and the address', (t) => {
  const fx = windowsFixture({ pae: false });
  const links = fx.va.explorerEprocess + fx.layout.eprocess.activeProcessLinks;
  fx.w32(links, fx.va.systemEprocess + fx.layout.eprocess.activeProcessLinks); // explorer → System, never the head
  const e = t.throws(() => run(fx), { instanceOf: IntrospectionError })!;
  t.regex(e.message, /process list: _EPROCESS\.ActiveProcessLinks at 0x[0-9a-f]+ is reached twice/);
  t.like(e.data, { structure: 'ActiveProcessLinks' });
});

test('process list pointer outside memory: IntrospectionError naming the _EPROCESS', (t) => {
  const fx = windowsFixture({ pae: true });
  fx.w32(fx.va.systemEprocess + fx.layout.eprocess.activeProcessLinks, 0x9abc0000);
  const e = t.throws(() => run(fx), { instanceOf: IntrospectionError })!;
  t.regex(e.message, /_EPROCESS \(process list entry 1, ActiveProcessLinks 0x9abc0000\) at 0x9abbff48 is not mapped/);
});

test('VAD tree cycle: the process is reported with a warning naming the node; the map is still built', (t) => {
  const fx = windowsFixture({ pae: false });
  const [imageVad, heapVad] = fx.va.vadNodes;
  fx.w32(heapVad + fx.layout.mmvadShort.leftChild, imageVad);
  const r = run(fx);
  const explorer = r.details.processes.find((p) => p.pid === 0x4d8)!;
  t.regex(explorer.vadError!, /VAD tree of explorer\.exe \(pid 1240, _EPROCESS 0x[0-9a-f]+\): node 0x[0-9a-f]+ is reached twice \(a cycle\)/);
  t.true(r.warnings.some((w) => w.includes('a cycle')));
  t.is(r.map.pfns, fx.expect.length);
});

test('VAD child pointing outside memory: a warning naming the structure and address', (t) => {
  const fx = windowsFixture({ pae: true });
  fx.w32(fx.va.vadNodes[2] + fx.layout.mmvadShort.leftChild, 0x9f000000);
  const r = run(fx);
  t.true(r.warnings.some((w) => /_MMVAD_SHORT.LeftChild|_MMVAD_SHORT at 0x9f000000 is not mapped/.test(w)), r.warnings.join('\n'));
});

test('a PFN database larger than memory is read only as far as the image goes', (t) => {
  const fx = windowsFixture({ pae: false });
  fx.w32(fx.va.mmHighestPhysicalPage, 0x7fffffff);
  const r = run(fx);
  t.deepEqual(mismatches(fx, r), []);
  t.true(r.warnings.some((w) => /MmHighestPhysicalPage 0x7fffffff is past the image's last page frame/.test(w)));
});

test('MmPfnDatabase not a kernel address: INCONSISTENT naming it', (t) => {
  const fx = windowsFixture({ pae: true });
  fx.w32(fx.va.mmPfnDatabase, 0x1000);
  const e = t.throws(() => run(fx), { instanceOf: IntrospectionError })!;
  t.is(e.code, 'INTROSPECT_INCONSISTENT');
  t.regex(e.message, /MmPfnDatabase is 0x1000/);
});

test('a PFN database whose entry for the KDBG page is not in use is refused', (t) => {
  const fx = windowsFixture({ pae: false });
  fx.setPfn(Math.floor(fx.kdbgPa / 4096), { loc: PageLocation.Free });
  const e = t.throws(() => run(fx), { instanceOf: IntrospectionError })!;
  t.regex(e.message, /the entry of the page holding KDBG \(pfn 0x[0-9a-f]+, at 0x[0-9a-f]+\) is PageLocation Free, not Active/);
});

test('unmapped parts of the PFN database type their pages other (present, not managed)', (t) => {
  const fx = windowsFixture({ pae: false });
  // Unmap the database page holding the last entries.
  const lastVa = fx.va.pfnDatabase + (fx.expect.length - 1) * fx.layout.mmpfn.size;
  const rootPd = fx.mem.read(fx.rootPa, 4096);
  const ptPa = rootPd.readUInt32LE((lastVa >>> 22) * 4) & 0xfffff000;
  fx.mem.write(ptPa + ((lastVa >>> 12) & 0x3ff) * 4, Buffer.alloc(4));
  const r = run(fx);
  t.is(r.map.type(fx.expect.length - 1), 'other');
  t.true(r.details.pfn.unreadable > 0);
});

test('through introspect(): Windows after Linux, the vCPU agrees, zero untyped pages become zero', (t) => {
  const fx = windowsFixture({ pae: true });
  const r = introspect({ memory: fx.mem, cpus: fx.cpus });
  t.is(r.os, 'windows');
  t.like(r.cpuPaging, { mode: 'x86 PAE', agrees: true });
  t.is(r.map.type(0), 'zero', 'PFN 0 is outside MmPhysicalMemoryBlock (other), and all zero');
  t.is(r.map.count('free') > 0, true);
  t.false(r.warnings.some((w) => w.includes('vCPU')));
});

test('entries that cross a page of the database between read batches are read (0x18 and 0x1c do not divide 4096)', (t) => {
  for (const pae of [false, true]) {
    const fx = windowsFixture({ pae, ramPages: 12000 });
    const r = run(fx);
    t.is(r.details.pfn.unreadable, 0, fx.layout.name);
    t.deepEqual(mismatches(fx, r), [], fx.layout.name);
  }
});

test('pages past MmHighestPhysicalPage are other; pages not in the image are hole', (t) => {
  const fx = windowsFixture({ pae: false });
  fx.w32(fx.va.mmHighestPhysicalPage, fx.expect.length - 9);
  fx.mem.pages.delete(0x9f);
  const r = run(fx);
  for (let p = fx.expect.length - 8; p < fx.expect.length; p++) t.is(r.map.type(p), 'other');
  t.is(r.map.type(0x9f), 'hole');
});

test('Windows 7 RTM (7600): the non-PAE kernel uses the 7600 table; the PAE kernel is refused (no published profile)', (t) => {
  const lab = '7600.16385.x86fre.win7_rtm.090713-1255';
  const fx = windowsFixture({ pae: false, buildLab: lab });
  const r = run(fx);
  t.is(r.details.layout, 'Windows 7 SP0 x86 (7600), non-PAE');
  t.deepEqual(mismatches(fx, r), []);
  const e = t.throws(() => run(windowsFixture({ pae: true, buildLab: lab })), { instanceOf: IntrospectionError })!;
  t.regex(e.message, /build 7600 SP1, PAE kernel, KDBG Header\.Size 0x340 .*: no offset table/);
});
