import test from 'ava';
import { PageTableWalker, withValidity, X86_PAE } from '../../../src/introspect/x86/paging.js';
import { FakeMemory } from '../../helpers/fake-memory.js';
import { ModePageTableBuilder } from '../../helpers/page-table-builder.js';
import { leaves, nextMappedVpn } from '../../helpers/paging-util.js';

const M = X86_PAE;
/** A process DTB as Windows PAE keeps them: 32-byte aligned, not page aligned. */
const ROOT = 0x123da60;

function setup(rootPa = ROOT) {
  const mem = new FakeMemory();
  const b = new ModePageTableBuilder(mem, M, { nextPfn: 0x200, rootPa });
  return { mem, b, walker: () => new PageTableWalker(mem, M, rootPa) };
}

test('mode record: PDPT of 4 entries (2 bits), PD and PT of 512, 8-byte entries, 32-byte root alignment', (t) => {
  t.is(M.name, 'x86 PAE');
  t.deepEqual(M.levels.map((l) => [l.name, l.shift, l.bits, l.largeAllowed, l.accessBits]), [
    ['PDPT', 30, 2, false, false],
    ['PD', 21, 9, true, true],
    ['PT', 12, 9, false, true],
  ]);
  t.is(M.entryBytes, 8);
  t.is(M.rootAlign, 32);
  t.is(M.vaBits, 32);
  t.true(M.nx);
});

test('4 KiB and 2 MiB pages, including frames above 4 GiB', (t) => {
  const { b, walker } = setup();
  b.map(0x80001000n, 0x5000);
  b.map(0x00400000n, 0x123456000, '4K', { flags: 0x7 });
  b.map(0xc0200000n, 0x4_0060_0000 + 0x1000, '2M'); // PAT set: still 2 MiB aligned
  const w = walker();
  t.is(w.translate(0x80001234n), 0x5234);
  t.is(w.last.order, 0);
  t.is(w.translate(0x00400ff8n), 0x123456ff8);
  t.is(w.translate(0xc0200000n + 0x1fffffn), 0x4_0060_0000 + 0x1fffff);
  t.is(w.last.order, 9);
  t.is(w.translate(0x80002000n), -1);
});

test('root at a 32-byte-aligned address inside a page: only its 4 entries are used', (t) => {
  const { mem, b, walker } = setup();
  b.map(0x1000n, 0x5000);
  // Two other PDPTs in the same page, just before and just after ours, mapping the same VA elsewhere.
  const before = new ModePageTableBuilder(mem, M, { nextPfn: 0x300, rootPa: ROOT - 32 });
  const after = new ModePageTableBuilder(mem, M, { nextPfn: 0x400, rootPa: ROOT + 32 });
  before.map(0x1000n, 0x6000);
  before.map(0xc0000000n, 0x6000); // its entry 3 sits right before our entry 0
  after.map(0x1000n, 0x7000);
  const w = walker();
  t.is(w.rootPa, ROOT);
  t.is(w.rootPfn, 0x123d);
  t.is(w.translate(0x1000n), 0x5000);
  t.is(w.translate(0xc0000000n), -1);
  t.is(new PageTableWalker(mem, M, ROOT - 32).translate(0x1000n), 0x6000);
  t.is(new PageTableWalker(mem, M, ROOT + 32).translate(0x1000n), 0x7000);
  // Low CR3 bits below the 32-byte alignment are not address bits.
  t.is(new PageTableWalker(mem, M, ROOT + 0x18).translate(0x1000n), 0x5000);
  t.deepEqual(leaves(w, 0, 2 ** 20), [[1, 5, 1]]);
});

test('not present at each level: PDPTE skips 1 GiB, PDE 2 MiB, PTE one page', (t) => {
  const { mem, b, walker } = setup();
  b.map(0x40001000n, 0x5000);
  const w = walker();
  t.is(w.translateVpn(0x00005), -1);
  t.is(w.lastSkipPages, 2 ** 18, 'PDPTE 0 missing');
  t.is(w.translateVpn(0x40205), -1);
  t.is(w.lastSkipPages, 512, 'PDE missing');
  t.is(w.translateVpn(0x40002), -1);
  t.is(w.lastSkipPages, 1, 'PTE missing');
  // PDPTE pointing at a frame the image does not hold: its 1 GiB.
  mem.writeU64(ROOT + 2 * 8, 0x9999000n | 1n);
  t.is(w.translateVpn(0x80000), -1);
  t.is(w.lastSkipPages, 2 ** 18);
  t.deepEqual(nextMappedVpn(w, 0, 2 ** 20), { vpn: 0x40001, steps: 3 });
  t.deepEqual(nextMappedVpn(w, 0x40002, 2 ** 20), { vpn: -1, steps: 0x1fe + 511 + 1 + 1 });
});

test('NX accumulates over PD and PT; PDPTE reserved bits (RW, US, 63) do not count', (t) => {
  const { mem, b, walker } = setup();
  b.map(0x1000n, 0x5000, '4K', { flags: 0x7, nx: false });
  b.map(0x2000n, 0x6000, '4K', { flags: 0x7, nx: true });
  b.map(0x40001000n, 0x7000, '4K', { flags: 0x7, tableNx: true }); // NX on the PDE only
  b.map(0x80001000n, 0x8000, '4K', { flags: 0x5 });
  const w = walker();
  t.is(w.translate(0x1000n), 0x5000);
  t.deepEqual({ ...w.last }, { writable: true, user: true, nx: false, order: 0 }, 'PDPTE has only P: RW/US still true');
  t.is(w.translate(0x2000n), 0x6000);
  t.true(w.last.nx);
  t.is(w.translate(0x40001000n), 0x7000);
  t.true(w.last.nx, 'NX in the PD entry covers the page');
  t.is(w.translate(0x80001000n), 0x8000);
  t.deepEqual({ ...w.last }, { writable: false, user: true, nx: false, order: 0 });
  // Bit 63 set in PDPTE 0 (reserved there) changes nothing.
  const pdpte = mem.read(ROOT, 8).readBigUInt64LE();
  mem.writeU64(ROOT, pdpte | (1n << 63n));
  const w2 = walker();
  t.is(w2.translate(0x1000n), 0x5000);
  t.false(w2.last.nx);
});

test('bit 7 in a PDPTE does not make a 1 GiB page', (t) => {
  const { mem, b, walker } = setup();
  b.map(0x1000n, 0x5000);
  const pdpte = mem.read(ROOT, 8).readBigUInt64LE();
  mem.writeU64(ROOT, pdpte | 0x80n);
  const w = walker();
  t.is(w.translate(0x1000n), 0x5000);
  t.is(w.last.order, 0);
});

test('translate at the top of the 32-bit space', (t) => {
  const { b, walker } = setup();
  b.map(0xfffff000n, 0x7000);
  const w = walker();
  t.is(w.translate(0xffffffffn), 0x7fff);
  t.is(w.translate(0xffffffffbffff000n), -1, 'decanonicalised to 32 bits: 0xbffff000');
});

test('forEachLeaf: ascending over the PDPT, 2 MiB leaves whole, holes skipped', (t) => {
  const { b, walker } = setup();
  b.map(0xfffff000n, 0x7000);
  b.map(0xc0000000n, 0x200000, '2M');
  b.map(0x40001000n, 0x5000);
  b.map(0x1000n, 0x6000);
  const w = walker();
  t.deepEqual(leaves(w, 0, 2 ** 20), [[1, 6, 1], [0x40001, 5, 1], [0xc0000, 0x200, 512], [0xfffff, 7, 1]]);
  t.deepEqual(leaves(w, 0x40002, 0xc0000), []);
});

test('a validity predicate override accepts a P=0 PTE with bit 11 set (transition)', (t) => {
  const { mem, b } = setup();
  b.map(0x1000n, 0x5000);
  const at = b.map(0x2000n, 0x6000, '4K', { flags: 0x800 }); // P=0, bit 11
  t.is(mem.read(at, 8).readBigUInt64LE(), 0x6800n);
  const leaf = M.levels.length - 1;
  const windows = withValidity(M, (lo, _hi, level) => (lo & 1) !== 0 || (level === leaf && (lo & 0xc01) === 0x800));
  t.is(windows.name, M.name);
  t.is(windows.entryBytes, 8);
  t.is(M.isValid(0x6800, 0, leaf), false, 'the base mode is unchanged');
  const hw = new PageTableWalker(mem, M, ROOT);
  t.is(hw.translate(0x2000n), -1);
  const w = new PageTableWalker(mem, windows, ROOT);
  t.is(w.translate(0x2010n), 0x6010);
  t.is(w.translate(0x1010n), 0x5010);
  t.deepEqual(leaves(w, 0, 16), [[1, 5, 1], [2, 6, 1]]);
  t.deepEqual(leaves(hw, 0, 16), [[1, 5, 1]]);
});
