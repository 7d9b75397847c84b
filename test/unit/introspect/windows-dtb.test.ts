/**
 * Paging mode and kernel root of a 32-bit Windows image (src/introspect/windows/dtb.ts) and its
 * build (version.ts): the vCPU's CR3 when it maps KDBG and _KUSER_SHARED_DATA, else the Idle/System
 * _EPROCESS, else a self-mapping page directory (PAE: its PDPT next to it or anywhere); KDBG's VA
 * from its list or from the kernel image; the build from NtBuildLab; unknown builds refused by name.
 */
import test from 'ava';
import { findKernelRoot } from '../../../src/introspect/windows/dtb.js';
import { KDBG } from '../../../src/introspect/windows/offsets.js';
import { scanWindows } from '../../../src/introspect/windows/scan.js';
import { readVersion, selectLayout } from '../../../src/introspect/windows/version.js';
import { IntrospectionError } from '../../../src/util/errors.js';
import { windowsFixture, WinFixture } from '../../helpers/windows-fixture.js';

function root(fx: WinFixture, cpus = fx.cpus) {
  const s = scanWindows(fx.mem);
  return findKernelRoot(fx.mem, cpus, s, s.kdbg);
}

/** Blank the Idle and System _EPROCESS names so the scan finds neither. */
function hideIdleSystem(fx: WinFixture): void {
  for (const va of [fx.va.idleEprocess, fx.va.systemEprocess]) fx.mem.write(fx.pa(va + fx.layout.eprocess.imageFileName), Buffer.alloc(8));
}

for (const pae of [false, true]) {
  const name = pae ? 'PAE' : 'non-PAE';
  const modeName = pae ? 'x86 PAE' : 'x86 non-PAE';

  test(`${name}: the vCPU's CR3 (a user process's) is the root when it maps KDBG and _KUSER_SHARED_DATA`, (t) => {
    const fx = windowsFixture({ pae });
    const r = root(fx);
    t.is(r.rootSource, 'container-cpu');
    t.is(r.space.mode.name, modeName);
    t.is(r.space.rootPa, Number(fx.cpus![0].cr3));
    t.is(r.kdbgVa, fx.kdbgVa);
    t.is(r.kdbgVaFrom, 'list');
    t.like(r.kuser, { major: 6, minor: 1, machine: 0x14c });
    t.deepEqual(r.rejected, []);
  });

  test(`${name}: without vCPU state the root comes from the System _EPROCESS`, (t) => {
    const fx = windowsFixture({ pae, cpu: false });
    const r = root(fx);
    t.is(r.rootSource, 'scan');
    t.is(r.space.mode.name, modeName);
    t.is(r.space.rootPa, fx.rootPa);
  });

  test(`${name}: a CR3 that does not map KDBG is rejected, named, and the scan used`, (t) => {
    const fx = windowsFixture({ pae });
    const r = root(fx, [{ index: 0, cr0: 0x80010031n, cr3: 0x7000n, cr4: fx.cpus![0].cr4 }]);
    t.is(r.rootSource, 'scan');
    t.is(r.space.rootPa, fx.rootPa);
    t.regex(r.rejected[0], /vCPU 0 CR3 0x7000/);
  });

  test(`${name}: without Idle/System the self-mapping page directory is found (PAE: its PDPT beside it)`, (t) => {
    const fx = windowsFixture({ pae, cpu: false });
    hideIdleSystem(fx);
    const r = root(fx);
    t.is(r.rootSource, 'scan');
    t.is(r.space.mode.name, modeName);
    t.is(r.kdbgVa, fx.kdbgVa);
  });

  test(`${name}: KDBG's VA from the kernel image when its list is broken`, (t) => {
    const fx = windowsFixture({ pae });
    fx.w32(fx.va.kdbg + KDBG.listFlink, 0x81000000);
    fx.w32(fx.va.kdbg + KDBG.listBlink, 0x81000000);
    const r = root(fx);
    t.is(r.kdbgVa, fx.kdbgVa);
    t.is(r.kdbgVaFrom, 'kernel-image');
  });

  test(`${name}: build 7601 SP1 from NtBuildLab and CmNtCSDVersion; the table for the paging kernel`, (t) => {
    const fx = windowsFixture({ pae });
    const r = root(fx);
    const v = readVersion(r.space, r);
    t.like(v, { major: 6, minor: 1, build: 7601, buildFrom: 'NtBuildLab', servicePack: 1 });
    t.is(v.buildLab, '7601.17514.x86fre.win7sp1_rtm.101119-1850');
    t.is(selectLayout(v, r.space.pae, r.kdbg), fx.layout);
  });
}

test('PAE: a PDPT away from its PDs is found by a pass over memory', (t) => {
  const fx = windowsFixture({ pae: true, cpu: false, bootLayout: false });
  hideIdleSystem(fx);
  const r = root(fx);
  t.is(r.space.rootPa, fx.rootPa);
  t.is(fx.rootPa % 4096, 0x7a0);
});

test('a vCPU in long mode or with paging off is not a candidate for a 32-bit kernel', (t) => {
  const fx = windowsFixture({ pae: true });
  const r = root(fx, [
    { index: 0, cr0: 0x80010031n, cr3: fx.cpus![0].cr3, cr4: 0x6f9n, efer: 0x500n },
    { index: 1, cr0: 0x10n, cr3: 0n, cr4: 0n },
  ]);
  t.is(r.rootSource, 'scan');
  t.regex(r.rejected.join('\n'), /vCPU 0: x86-64 4-level/);
  t.regex(r.rejected.join('\n'), /vCPU 1: paging off/);
});

test('no root anywhere: MISSING, listing what was tried', (t) => {
  const fx = windowsFixture({ pae: false, cpu: false });
  hideIdleSystem(fx);
  fx.mem.write(fx.rootPa + 0xc00, Buffer.alloc(4)); // break the kernel self-map
  const explorerPd = fx.r32(fx.va.explorerEprocess + fx.layout.eprocess.directoryTableBase);
  fx.mem.write(explorerPd + 0xc00, Buffer.alloc(4));
  const e = t.throws(() => root(fx), { instanceOf: IntrospectionError })!;
  t.is(e.code, 'INTROSPECT_MISSING');
  t.regex(e.message, /no page-table root maps the kernel/);
});

test('_KUSER_SHARED_DATA unmapped: the root is rejected with the reason', (t) => {
  const fx = windowsFixture({ pae: false, cpu: false });
  hideIdleSystem(fx);
  for (const pd of [fx.rootPa, fx.r32(fx.va.explorerEprocess + fx.layout.eprocess.directoryTableBase)]) fx.mem.write(pd + 0x3ff * 4, Buffer.alloc(4));
  const e = t.throws(() => root(fx), { instanceOf: IntrospectionError })!;
  t.regex(e.message, /0xffdf0000 \(_KUSER_SHARED_DATA\) is not mapped/);
});

test('an unknown build is refused naming the version, build, paging and KDBG size', (t) => {
  const fx = windowsFixture({ pae: true, buildLab: '9200.16384.x86fre.win8_rtm.120725-1247' });
  const r = root(fx);
  const v = readVersion(r.space, r);
  const e = t.throws(() => selectLayout(v, true, r.kdbg), { instanceOf: IntrospectionError })!;
  t.is(e.code, 'INTROSPECT_UNSUPPORTED');
  t.regex(e.message, /Windows NT 6\.1 build 9200 SP1, PAE kernel, KDBG Header\.Size 0x340 \(Windows 7 \/ Server 2008 R2\): no offset table/);
});

test('NtBuildLab unreadable and no _DBGKD_GET_VERSION64: build unknown, refused', (t) => {
  const fx = windowsFixture({ pae: false });
  fx.w32(fx.va.kdbg + KDBG.ntBuildLab, 0x81000000);
  const r = root(fx);
  const v = readVersion(r.space, r);
  t.is(v.build, undefined);
  const e = t.throws(() => selectLayout(v, false, r.kdbg), { instanceOf: IntrospectionError })!;
  t.regex(e.message, /build unknown/);
});

test('_DBGKD_GET_VERSION64 next to KDBG gives the build when NtBuildLab is unreadable', (t) => {
  const fx = windowsFixture({ pae: false });
  fx.w32(fx.va.kdbg + KDBG.ntBuildLab, 0x81000000);
  const at = fx.va.kdbg - 0x40;
  const d = Buffer.alloc(0x28);
  d.writeUInt16LE(0xf, 0);
  d.writeUInt16LE(7601, 2);
  d.writeUInt16LE(0x14c, 8);
  d.writeUInt32LE(fx.r32(fx.va.kdbg + KDBG.kernBase), 0x10);
  d.writeUInt32LE(fx.r32(fx.va.kdbg + KDBG.psLoadedModuleList), 0x18);
  fx.mem.write(fx.pa(at), d);
  const r = root(fx);
  t.like(readVersion(r.space, r), { build: 7601, buildFrom: 'DBGKD_GET_VERSION64' });
});

test("KDBG's own OffsetEprocessDirectoryTableBase must agree with the table", (t) => {
  const fx = windowsFixture({ pae: false });
  const at = fx.pa(fx.va.kdbg + KDBG.offsetEprocessDirectoryTableBase);
  fx.mem.write(at, Buffer.from([0x28, 0]));
  const r = root(fx);
  const e = t.throws(() => selectLayout(readVersion(r.space, r), false, r.kdbg), { instanceOf: IntrospectionError })!;
  t.is(e.code, 'INTROSPECT_INCONSISTENT');
  t.regex(e.message, /OffsetEprocessDirectoryTableBase is 0x28/);
});
