import test from 'ava';
import { entryAddressMasks, entryPfn, PageTableWalker, vpnOf, X64_4LEVEL, X64_5LEVEL, X86_NONPAE, X86_PAE } from '../../../src/introspect/x86/paging.js';
import { FakeMemory, PageTableBuilder } from '../../helpers/fake-memory.js';

const KVA = 0xffffffff81000000n;

test('4-level: 4 KiB, 2 MiB and 1 GiB pages translate, unmapped gives -1', (t) => {
  const mem = new FakeMemory();
  const b = new PageTableBuilder(mem, 0x100);
  b.map(KVA, 0x5000);
  b.map(0xffff888000000000n, 0x40000000, '1G');
  b.map(0x0000555555400000n, 0x00a00000, '2M', { flags: 0x7 });
  const w = new PageTableWalker(mem, X64_4LEVEL, b.rootPfn * 4096);
  t.is(w.translate(KVA + 0x123n), 0x5123);
  t.is(w.last.order, 0);
  t.is(w.translate(0xffff888000000000n + 0x12345678n), 0x40000000 + 0x12345678);
  t.is(w.last.order, 18);
  t.is(w.translate(0x0000555555400000n + 0x1fffffn), 0x00a00000 + 0x1fffff);
  t.is(w.last.order, 9);
  t.true(w.last.user);
  t.is(w.translate(KVA + 0x1000n), -1);
  t.is(w.translate(0xffff888000000000n + 0x40000000n), -1);
  t.is(w.translate(0x7fff00000000n), -1);
});

test('NX, RW and US accumulate over the levels', (t) => {
  const mem = new FakeMemory();
  const b = new PageTableBuilder(mem, 0x10);
  b.map(0x400000n, 0x9000, '4K', { flags: 0x5, nx: false });
  b.map(0x401000n, 0xa000, '4K', { flags: 0x7, nx: true });
  b.map(KVA, 0xb000, '4K', { flags: 0x3 });
  const w = new PageTableWalker(mem, X64_4LEVEL, b.rootPfn * 4096);
  t.is(w.translate(0x400000n), 0x9000);
  t.deepEqual({ ...w.last }, { writable: false, user: true, nx: false, order: 0 });
  t.is(w.translate(0x401000n), 0xa000);
  t.deepEqual({ ...w.last }, { writable: true, user: true, nx: true, order: 0 });
  t.is(w.translate(KVA), 0xb000);
  t.false(w.last.user);
});

test('large-page frames ignore the PAT bit and low address bits', (t) => {
  const mem = new FakeMemory();
  const b = new PageTableBuilder(mem, 0x10);
  // 2 MiB page with PAT (bit 12) set in the entry: the frame is still 2 MiB aligned.
  b.map(0x200000n, 0x600000 | 0x1000, '2M');
  const w = new PageTableWalker(mem, X64_4LEVEL, b.rootPfn * 4096);
  t.is(w.translate(0x200000n + 0x3456n), 0x600000 + 0x3456);
});

test('SME C-bit is stripped from table and leaf addresses', (t) => {
  const mem = new FakeMemory();
  const sme = 1n << 47n;
  const b = new PageTableBuilder(mem, 0x10, 4, sme);
  b.map(KVA, 0x7000);
  const w = new PageTableWalker(mem, X64_4LEVEL, b.rootPfn * 4096, { smeMask: Number(sme) });
  t.is(w.translate(KVA + 8n), 0x7008);
  const noSme = new PageTableWalker(mem, X64_4LEVEL, b.rootPfn * 4096);
  t.is(noSme.translate(KVA + 8n), -1, 'without the mask the tables point outside the image');
});

test('5-level paging: 57-bit addresses stay exact', (t) => {
  const mem = new FakeMemory();
  const b = new PageTableBuilder(mem, 0x10, 5);
  const va = 0xff11000000000000n + 0x1234000n; // 5-level direct map
  b.map(va, 0x3000);
  b.map(0xffd4000000000000n, 0x200000, '2M');
  const w = new PageTableWalker(mem, X64_5LEVEL, b.rootPfn * 4096);
  t.is(w.translate(va + 0xff8n), 0x3ff8);
  t.is(w.translate(0xffd4000000000000n + 0x1000n), 0x201000);
  t.is(w.translate(va + 0x1000n), -1);
  // The same tables walked as 4-level would be misread: the top level differs.
  t.is(new PageTableWalker(mem, X64_4LEVEL, b.rootPfn * 4096).translate(va), -1);
});

test('forEachLeaf visits present leaves in order and skips holes', (t) => {
  const mem = new FakeMemory();
  const b = new PageTableBuilder(mem, 0x10);
  b.map(0x1000n, 0x8000);
  b.map(0x200000n, 0x400000, '2M');
  b.map(0x7f0000000000n, 0x9000);
  const w = new PageTableWalker(mem, X64_4LEVEL, b.rootPfn * 4096);
  const seen: [number, number, number][] = [];
  w.forEachLeaf(0, 2 ** 36, (vpn, pfn, pages) => seen.push([vpn, pfn, pages]));
  t.deepEqual(seen, [
    [1, 8, 1],
    [0x200, 0x400, 512],
    [vpnOf(0x7f0000000000n, X64_4LEVEL), 9, 1],
  ]);
  const part: number[] = [];
  w.forEachLeaf(0x100, 0x300, (vpn) => part.push(vpn));
  t.deepEqual(part, [0x200]);
});

test('missing table frame gives -1, not an exception', (t) => {
  const mem = new FakeMemory();
  const b = new PageTableBuilder(mem, 0x10);
  b.map(KVA, 0x5000);
  // Point the PML4 entry at a frame the image does not hold.
  mem.writeU64(b.rootPfn * 4096 + 511 * 8, (0x99999n << 12n) | 3n);
  const w = new PageTableWalker(mem, X64_4LEVEL, b.rootPfn * 4096);
  t.is(w.translate(KVA), -1);
});

test('entryPfn: the one entry-address decoder, unsigned in both words, SME bit cleared', (t) => {
  const pae = entryAddressMasks(X86_PAE);
  t.is(entryPfn(0x80000001, 0, pae), 0x80000, 'bit 31 of the low word: 2 GiB, not negative');
  t.is(entryPfn(0xfffff067, 0xfffff, pae), 2 ** 40 - 1, 'bits 12-51 all set');
  t.is(entryPfn(0x00001001, 0x80000001, pae), 0x100001, 'NX (bit 63) is not an address bit');
  t.is(entryPfn(0xfffff063, 0xffffffff, entryAddressMasks(X86_NONPAE)), 0xfffff, 'no high word without PAE');
  const sme = entryAddressMasks(X64_4LEVEL, 2 ** 47);
  t.is(entryPfn(0x5003, 0x8000, sme), 5, 'SME C-bit (47) cleared');
});
