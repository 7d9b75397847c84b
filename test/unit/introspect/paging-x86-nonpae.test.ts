import test from 'ava';
import { PageTableWalker, X86_NONPAE } from '../../../src/introspect/x86/paging.js';
import { FakeMemory } from '../../helpers/fake-memory.js';
import { ModePageTableBuilder } from '../../helpers/page-table-builder.js';
import { leaves, nextMappedVpn } from '../../helpers/paging-util.js';

const M = X86_NONPAE;

function setup() {
  const mem = new FakeMemory();
  const b = new ModePageTableBuilder(mem, M, { nextPfn: 0x100 });
  return { mem, b, walker: () => new PageTableWalker(mem, M, b.rootPa) };
}

test('mode record: 2 levels of 10-bit indices, 4-byte entries, page-aligned root, no NX', (t) => {
  t.is(M.name, 'x86 non-PAE');
  t.deepEqual(M.levels.map((l) => [l.name, l.shift, l.bits, l.largeAllowed]), [['PD', 22, 10, true], ['PT', 12, 10, false]]);
  t.is(M.entryBytes, 4);
  t.is(M.rootAlign, 4096);
  t.is(M.vaBits, 32);
  t.false(M.nx);
});

test('4 KiB pages translate through 1024-entry tables', (t) => {
  const { b, walker } = setup();
  b.map(0xc0001000n, 0x5000);
  b.map(0xc03ff000n, 0x6000); // last PTE of the same table
  b.map(0x00400000n, 0x7000, '4K', { flags: 0x7 });
  const w = walker();
  t.is(w.translate(0xc0001234n), 0x5234);
  t.deepEqual({ ...w.last }, { writable: true, user: false, nx: false, order: 0 });
  t.is(w.translate(0xc03fffffn), 0x6fff);
  t.is(w.translate(0x00400008n), 0x7008);
  t.true(w.last.user);
  t.is(w.translate(0xc0002000n), -1);
});

test('4 MiB pages (PSE): frame aligned, PAT bit 12 ignored, order 10', (t) => {
  const { b, walker } = setup();
  b.map(0xc0400000n, 0x00800000 | 0x1000, '4M'); // PAT set in the PDE
  const w = walker();
  t.is(w.translate(0xc0400000n + 0x3ffffcn), 0x00800000 + 0x3ffffc);
  t.is(w.last.order, 10);
  t.is(w.translateVpn(0xc0400 + 0x123), 0x800 + 0x123);
});

test('PSE-36: a 4 MiB page above 4 GiB takes PA bits 32–39 from PDE bits 13–20', (t) => {
  const { mem, b, walker } = setup();
  const at = b.map(0xd0000000n, 0x345400000, '4M');
  t.is(mem.read(at, 4).readUInt32LE(), 0x45400000 | (0x03 << 13) | 0x83);
  b.map(0xd0400000n, 0xffffc00000, '4M'); // PSE-40: every high bit
  const w = walker();
  t.is(w.translate(0xd0000000n + 0x1234n), 0x345401234);
  t.is(w.translate(0xd0400000n + 0x3fffffn), 0xffffffffff);
  t.deepEqual(leaves(w, 0xd0000, 0xd0800), [[0xd0000, 0x345400, 1024], [0xd0400, 0xffffc00, 1024]]);
});

test('bit 7 of a PTE is PAT, not a page size', (t) => {
  const { b, walker } = setup();
  b.map(0x1000n, 0x9000, '4K', { flags: 0x83 });
  const w = walker();
  t.is(w.translate(0x1010n), 0x9010);
  t.is(w.last.order, 0);
});

test('not present at each level: -1 and the skip of that level', (t) => {
  const { mem, b, walker } = setup();
  b.map(0xc0001000n, 0x5000);
  const w = walker();
  t.is(w.translateVpn(0xc0002), -1);
  t.is(w.lastSkipPages, 1, 'missing PTE: one page');
  t.is(w.translateVpn(0xc0812), -1);
  t.is(w.lastSkipPages, 1024, 'missing PDE: 4 MiB');
  // A PDE pointing at a frame the image does not hold: the PDE's 4 MiB.
  mem.write(b.rootPa + 0x301 * 4, Buffer.from([0x07, 0x00, 0x99, 0x09]));
  t.is(w.translateVpn(0xc0400), -1);
  t.is(w.lastSkipPages, 1024);
  // No root frame at all: the whole 4 GiB.
  const none = new PageTableWalker(mem, M, 0x7777000);
  t.is(none.translateVpn(5), -1);
  t.is(none.lastSkipPages, 2 ** 20);
});

test('nextMappedVpn jumps over unmapped 4 MiB regions in one step each', (t) => {
  const { b, walker } = setup();
  b.map(0xc0801000n, 0x5000);
  const w = walker();
  // From 0xc0000: PD entries 0x300 and 0x301 missing (2 steps), then PTE 0 of 0x302 missing (1), then hit.
  t.deepEqual(nextMappedVpn(w, 0xc0000, 0x100000), { vpn: 0xc0801, steps: 4 });
  t.deepEqual(nextMappedVpn(w, 0xc0802, 0xc0c00), { vpn: -1, steps: 0x3fe });
});

test('RW and US accumulate over PDE and PTE; no NX bit exists', (t) => {
  const { mem, b, walker } = setup();
  b.map(0x400000n, 0x9000, '4K', { flags: 0x5 });
  b.map(0x800000n, 0xa000, '4K', { flags: 0x7, tableFlags: 0x3 });
  b.map(0xc00000n, 0xb000, '4K', { flags: 0x7, tableFlags: 0x5 });
  const w = walker();
  t.is(w.translate(0x400000n), 0x9000);
  t.deepEqual({ ...w.last }, { writable: false, user: true, nx: false, order: 0 });
  t.is(w.translate(0x800000n), 0xa000);
  t.deepEqual({ ...w.last }, { writable: true, user: false, nx: false, order: 0 });
  t.is(w.translate(0xc00000n), 0xb000);
  t.deepEqual({ ...w.last }, { writable: false, user: true, nx: false, order: 0 });
  // The next 4 bytes are the next entry, not a high word: bit 31 of the following PTE is address.
  mem.write(b.entryAt(0x401000n, 1), Buffer.from([0x05, 0x00, 0x00, 0x80]));
  const w2 = walker(); // w has the table page cached
  t.is(w2.translate(0x400000n), 0x9000);
  t.false(w2.last.nx);
  t.is(w2.translate(0x401000n), 0x80000000);
  t.false(w2.last.nx);
});

test('translate at the top of the 32-bit space and above it (decanonicalised to 32 bits)', (t) => {
  const { b, walker } = setup();
  b.map(0xfffff000n, 0x7000);
  const w = walker();
  t.is(w.translate(0xffffffffn), 0x7fff);
  t.is(w.translate(0xfffffffffffff000n), 0x7000, 'only the low 32 bits count');
});

test('forEachLeaf: ascending, 4 KiB and 4 MiB leaves, holes skipped, range bounds', (t) => {
  const { b, walker } = setup();
  b.map(0xfffff000n, 0x7000);
  b.map(0x1000n, 0x8000);
  b.map(0x400000n, 0xc00000, '4M');
  b.map(0x3ff000n, 0x9000);
  const w = walker();
  t.deepEqual(leaves(w, 0, 2 ** 20), [[1, 8, 1], [0x3ff, 9, 1], [0x400, 0xc00, 1024], [0xfffff, 7, 1]]);
  t.deepEqual(leaves(w, 0x3ff, 0x400), [[0x3ff, 9, 1]]);
  t.deepEqual(leaves(w, 0x500, 0xfffff), [[0x400, 0xc00, 1024]], 'a large page overlapping the range is reported whole');
  t.is(w.forEachLeaf(0, 2 ** 20, () => {}, 2), 2);
});
