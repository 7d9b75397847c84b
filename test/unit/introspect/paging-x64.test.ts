/** x86-64 4- and 5-level paging through the mode-generic builder (paging.test.ts has the original cases). */
import test from 'ava';
import { PageTableWalker, vpnOf, withValidity, X64_4LEVEL, X64_5LEVEL } from '../../../src/introspect/x86/paging.js';
import { FakeMemory } from '../../helpers/fake-memory.js';
import { ModePageTableBuilder } from '../../helpers/page-table-builder.js';
import { leaves, nextMappedVpn } from '../../helpers/paging-util.js';

function setup(mode = X64_4LEVEL) {
  const mem = new FakeMemory();
  const b = new ModePageTableBuilder(mem, mode, { nextPfn: 0x100 });
  return { mem, b, walker: () => new PageTableWalker(mem, mode, b.rootPa) };
}

test('mode records: 9-bit indices, 8-byte entries, page-aligned root, 48/57-bit VAs', (t) => {
  t.deepEqual(X64_4LEVEL.levels.map((l) => [l.name, l.shift, l.bits, l.largeAllowed]), [
    ['PML4', 39, 9, false],
    ['PDPT', 30, 9, true],
    ['PD', 21, 9, true],
    ['PT', 12, 9, false],
  ]);
  t.deepEqual(X64_5LEVEL.levels.map((l) => l.name), ['PML5', 'PML4', 'PDPT', 'PD', 'PT']);
  t.deepEqual([X64_4LEVEL.name, X64_5LEVEL.name], ['x86-64 4-level', 'x86-64 5-level']);
  t.deepEqual([X64_4LEVEL.entryBytes, X64_4LEVEL.rootAlign, X64_4LEVEL.vaBits, X64_5LEVEL.vaBits], [8, 4096, 48, 57]);
});

test('4 KiB, 2 MiB and 1 GiB pages; a frame at the top of the 52-bit space', (t) => {
  const { b, walker } = setup();
  b.map(0xffffffff81000000n, 0x5000);
  b.map(0xffff888000200000n, 0x600000, '2M');
  b.map(0xffff888040000000n, 0xfffffc0000000, '1G');
  const w = walker();
  t.is(w.translate(0xffffffff81000abcn), 0x5abc);
  t.is(w.translate(0xffff888000200000n + 0x1ffff0n), 0x600000 + 0x1ffff0);
  t.is(w.last.order, 9);
  t.is(w.translate(0xffff888040000000n + 0x3fffffffn), 0xfffffffffffff);
  t.is(w.last.order, 18);
});

test('not present at each level: skip 2^27, 2^18, 512, 1 pages (2^36 for PML5)', (t) => {
  const { b, walker } = setup();
  b.map(0x7f0000001000n, 0x5000);
  const w = walker();
  const vpn = (va: bigint) => vpnOf(va, X64_4LEVEL);
  t.is(w.translateVpn(vpn(0x100000000000n)), -1);
  t.is(w.lastSkipPages, 2 ** 27, 'PML4E missing: 512 GiB');
  t.is(w.translateVpn(vpn(0x7f0040000000n)), -1);
  t.is(w.lastSkipPages, 2 ** 18, 'PDPTE missing: 1 GiB');
  t.is(w.translateVpn(vpn(0x7f0000200000n)), -1);
  t.is(w.lastSkipPages, 512, 'PDE missing: 2 MiB');
  t.is(w.translateVpn(vpn(0x7f0000002000n)), -1);
  t.is(w.lastSkipPages, 1);
  t.deepEqual(nextMappedVpn(w, 0, 2 ** 36), { vpn: vpn(0x7f0000001000n), steps: 0xfe + 2 });

  const five = setup(X64_5LEVEL);
  five.b.map(0xff11000000001000n, 0x5000);
  const w5 = five.walker();
  t.is(w5.translateVpn(vpnOf(0x0000000000001000n, X64_5LEVEL)), -1);
  t.is(w5.lastSkipPages, 2 ** 36, 'PML5E missing: 256 TiB');
});

test('max VA: 0xffffffffffffffff is the last page of the decanonicalised space', (t) => {
  const { b, walker } = setup();
  b.map(0xfffffffffffff000n, 0x7000);
  const w = walker();
  t.is(w.translate(0xffffffffffffffffn), 0x7fff);
  t.is(vpnOf(0xffffffffffffffffn, X64_4LEVEL), 2 ** 36 - 1);
  t.deepEqual(leaves(w, 0, 2 ** 36), [[2 ** 36 - 1, 7, 1]]);
});

test('NX in any level and RW/US in every level accumulate', (t) => {
  const { b, walker } = setup();
  b.map(0x1000n, 0x5000, '4K', { flags: 0x7 });
  b.map(0x8000000000n, 0x6000, '4K', { flags: 0x7, tableNx: true }); // new PML4E … PDE all NX
  b.map(0x10000000000n, 0x7000, '4K', { flags: 0x7, tableFlags: 0x5 });
  const w = walker();
  t.is(w.translate(0x1000n), 0x5000);
  t.deepEqual({ ...w.last }, { writable: true, user: true, nx: false, order: 0 });
  t.is(w.translate(0x8000000000n), 0x6000);
  t.true(w.last.nx);
  t.is(w.translate(0x10000000000n), 0x7000);
  t.false(w.last.writable);
});

test('bit 7 of a PTE is PAT, not a page size; PS in a PML4E is not a large page', (t) => {
  const { mem, b, walker } = setup();
  b.map(0x1000n, 0x9000, '4K', { flags: 0x83 });
  const pml4e = mem.read(b.rootPa, 8).readBigUInt64LE();
  mem.writeU64(b.rootPa, pml4e | 0x80n);
  const w = walker();
  t.is(w.translate(0x1010n), 0x9010);
  t.is(w.last.order, 0);
});

test('forEachLeaf order across the canonical hole, holes skipped', (t) => {
  const { b, walker } = setup();
  b.map(0xffff888000000000n, 0x40000000, '1G');
  b.map(0x1000n, 0x8000);
  b.map(0x7ffffffff000n, 0x9000);
  const w = walker();
  t.deepEqual(leaves(w, 0, 2 ** 36), [
    [1, 8, 1],
    [vpnOf(0x7ffffffff000n, X64_4LEVEL), 9, 1],
    [vpnOf(0xffff888000000000n, X64_4LEVEL), 0x40000, 2 ** 18],
  ]);
});

test('validity override on x86-64: a P=0 PTE with bit 11 set is accepted only by the derived mode', (t) => {
  const { mem, b } = setup();
  b.map(0x2000n, 0x6000, '4K', { flags: 0x800 });
  const leaf = X64_4LEVEL.levels.length - 1;
  const m = withValidity(X64_4LEVEL, (lo, _hi, level) => (lo & 1) !== 0 || (level === leaf && (lo & 0xc01) === 0x800));
  t.is(new PageTableWalker(mem, X64_4LEVEL, b.rootPa).translate(0x2000n), -1);
  t.is(new PageTableWalker(mem, m, b.rootPa).translate(0x2000n), 0x6000);
});
