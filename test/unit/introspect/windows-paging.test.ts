/**
 * Windows' software PTEs on both 32-bit paging modes: a transition PTE (P=0, bit 11, not bit 10)
 * still names a resident frame and translates with the Windows validity; a prototype PTE (bit 10)
 * does not; Protection bits 5–9 of a not-present entry are not a PS bit.
 */
import test from 'ava';
import { isPrototypePte, isTransitionPte, windowsPagingMode } from '../../../src/introspect/windows/paging.js';
import { PageTableWalker, X86_NONPAE, X86_PAE } from '../../../src/introspect/x86/paging.js';
import { FakeMemory } from '../../helpers/fake-memory.js';
import { ModePageTableBuilder } from '../../helpers/page-table-builder.js';

test('transition and prototype PTE bits', (t) => {
  t.true(isTransitionPte(0x1234_0800));
  t.true(isTransitionPte(0x1234_08a0)); // protection bits 5–9 set, still transition
  t.false(isTransitionPte(0x1234_0801)); // valid, not transition
  t.false(isTransitionPte(0x1234_0c00)); // prototype bit set
  t.true(isPrototypePte(0x1234_0400));
  t.false(isPrototypePte(0x1234_0401));
});

for (const hw of [X86_NONPAE, X86_PAE]) {
  test(`${hw.name}: a transition PTE translates with Windows validity, not with the hardware's`, (t) => {
    const mem = new FakeMemory().addRange(0, 64);
    const b = new ModePageTableBuilder(mem, hw, { nextPfn: 16, rootPa: hw.rootAlign === 32 ? 0x1a60 : 0x1000 });
    const va = 0x00401000n;
    const at = b.map(va, 0x7000);
    b.map(va + 0x1000n, 0x8000);
    b.map(va + 0x2000n, 0x9000);
    // Page 0: transition (frame kept, protection 0x4 in bits 5–9 → 0x80 set), page 1: prototype, page 2 valid.
    b.writeEntry(at, 0x7000n | 0x800n | 0x80n);
    b.writeEntry(at + hw.entryBytes, 0x00abc400n);
    const win = new PageTableWalker(mem, windowsPagingMode(hw), b.rootPa);
    const bare = new PageTableWalker(mem, hw, b.rootPa);
    t.is(win.translateVpn(0x401), 7);
    t.is(win.last.order, 0, 'bit 7 of a transition PTE is protection, not a size');
    t.is(bare.translateVpn(0x401), -1);
    t.is(win.translateVpn(0x402), -1, 'a prototype PTE is resolved through the VAD, not here');
    t.is(win.translateVpn(0x403), 9);
    t.is(windowsPagingMode(hw).name, hw.name);
    const seen: number[] = [];
    win.forEachLeaf(0x400, 0x410, (vpn, pfn) => seen.push(vpn, pfn));
    t.deepEqual(seen, [0x401, 7, 0x403, 9]);
  });

  test(`${hw.name}: a transition page-directory entry with bit 7 set is a table pointer, not a large page`, (t) => {
    const mem = new FakeMemory().addRange(0, 64);
    const b = new ModePageTableBuilder(mem, hw, { nextPfn: 16, rootPa: 0x1000 });
    const va = 0x00800000n;
    b.map(va, 0x5000);
    const pdLevel = hw.levels.findIndex((l) => l.name === 'PD');
    const pde = b.entryAt(va, pdLevel);
    const table = Number(b.readEntry(pde) & BigInt(hw.addrMask));
    b.writeEntry(pde, BigInt(table) | 0x800n | 0x80n); // the page table itself in transition
    const win = new PageTableWalker(mem, windowsPagingMode(hw), b.rootPa);
    t.is(win.translateVpn(0x800), 5);
    t.is(win.last.order, 0);
  });
}
