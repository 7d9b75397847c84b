import test from 'ava';
import { pagingModeFromControlRegisters, rootFromCr3, X64_4LEVEL, X64_5LEVEL, X86_NONPAE, X86_PAE } from '../../../src/introspect/x86/paging.js';

const CR0 = 0x80050033; // PG | WP | AM | NE | ET | MP | PE

const modeCase = test.macro({
  exec(t, regs: Parameters<typeof pagingModeFromControlRegisters>[0], want: string | undefined) {
    t.is(pagingModeFromControlRegisters(regs)?.name as string | undefined, want);
  },
  title: (given, _regs, want) => `${given}: ${want ?? 'paging off'}`,
});

test('PAE guest, CR4 0x6b0', modeCase, { cr0: CR0, cr4: 0x6b0 }, 'x86 PAE');
test('PAE guest, CR4 0x6f0, EFER without LMA', modeCase, { cr0: CR0, cr4: 0x6f0, efer: 0x800 }, 'x86 PAE');
test('non-PAE guest, CR4 0x690 (PSE, PGE)', modeCase, { cr0: CR0, cr4: 0x690 }, 'x86 non-PAE');
test('non-PAE guest, CR4 0', modeCase, { cr0: CR0, cr4: 0 }, 'x86 non-PAE');
test('paging off (CR0 0x60000010 at reset)', modeCase, { cr0: 0x60000010, cr4: 0 }, undefined);
test('paging off in protected mode (CR0 0x11)', modeCase, { cr0: 0x11, cr4: 0x20, efer: 0 }, undefined);
test('long mode, EFER 0xd01 (LMA), CR4 0x6f0', modeCase, { cr0: CR0, cr4: 0x6f0, efer: 0xd01 }, 'x86-64 4-level');
test('long mode with LA57, EFER 0xd01, CR4 0x3716f0', modeCase, { cr0: CR0, cr4: 0x3716f0, efer: 0xd01 }, 'x86-64 5-level');
test('long mode without EFER, inferred from CR4.PCIDE (0x3706f0)', modeCase, { cr0: CR0, cr4: 0x3706f0 }, 'x86-64 4-level');
test('long mode without EFER, inferred from CR4.LA57 (0x3716f0)', modeCase, { cr0: CR0, cr4: 0x3716f0 }, 'x86-64 5-level');
test('bigint registers', modeCase, { cr0: 0x80050033n, cr4: 0x6f0n, efer: 0xd01n }, 'x86-64 4-level');

test('the records returned are the exported constants', (t) => {
  t.is(pagingModeFromControlRegisters({ cr0: CR0, cr4: 0x6b0 }), X86_PAE);
  t.is(pagingModeFromControlRegisters({ cr0: CR0, cr4: 0x10 }), X86_NONPAE);
  t.is(pagingModeFromControlRegisters({ cr0: CR0, cr4: 0x20, efer: 0x500 }), X64_4LEVEL);
  t.is(pagingModeFromControlRegisters({ cr0: CR0, cr4: 0x1020, efer: 0x500 }), X64_5LEVEL);
});

test('rootFromCr3 masks per mode; a PAE root stays 32-byte exact', (t) => {
  t.is(rootFromCr3(0x123da60, X86_PAE), 0x123da60);
  t.is(rootFromCr3(0x123da78, X86_PAE), 0x123da60, 'PWT/PCD and bits below 5 are not address');
  t.is(rootFromCr3(0xfffffffe0n, X86_PAE), 0xffffffe0, 'CR3 is 32 bits outside long mode');
  t.is(rootFromCr3(0x00185018, X86_NONPAE), 0x185000);
  t.is(rootFromCr3(0x123da60, X86_NONPAE), 0x123d000);
  t.is(rootFromCr3(0x8000000012345001n, X64_4LEVEL), 0x12345000, 'PCID and the no-flush bit dropped');
  t.is(rootFromCr3((1n << 52n) | 0xfffffffff5000n, X64_5LEVEL), 0xfffffffff5000, 'bits 12–51 only');
  t.is(rootFromCr3(0x12345fff, X64_4LEVEL), 0x12345000);
});
