/**
 * KDBG needles and fields (src/introspect/windows/kdbg.ts), and the one physical scan (scan.ts):
 * KDBG, _KUSER_SHARED_DATA pages, the Idle/System _EPROCESS and self-mapping page directories, on the
 * synthetic Windows 7 fixture in both paging modes and on lookalikes that must not match.
 */
import test from 'ava';
import { kdbgPointersPlausible, needleBits, parseKdbg } from '../../../src/introspect/windows/kdbg.js';
import { KDBG, KDBG_OWNER_TAG } from '../../../src/introspect/windows/offsets.js';
import { scanWindows, SCAN_LIMITS } from '../../../src/introspect/windows/scan.js';
import { FakeMemory } from '../../helpers/fake-memory.js';
import { windowsFixture } from '../../helpers/windows-fixture.js';

function header(w: [number, number, number, number], size = 0x340): Buffer {
  const b = Buffer.alloc(KDBG.size);
  w.forEach((x, i) => b.writeUInt32LE(x >>> 0, i * 4));
  b.writeUInt32LE(KDBG_OWNER_TAG, KDBG.ownerTag);
  b.writeUInt32LE(size, KDBG.headerSize);
  return b;
}

test('x86 needle: two kernel pointers at +0/+4, eight zero bytes at +8, tag, size', (t) => {
  t.is(needleBits(header([0x8293ec50, 0x8293ec50, 0, 0]), 0), 32);
  t.is(needleBits(header([0x8293ec50, 0x8293ec50, 1, 0]), 0), 0, '+8..+F must be zero on x86');
  t.is(needleBits(header([0x0000ec50, 0x8293ec50, 0, 0]), 0), 0, 'a list pointer below 0x80000000');
  t.is(needleBits(header([0x8293ec50, 0x8293ec50, 0, 0], 0x33c), 0), 0, 'size not a multiple of 8');
  t.is(needleBits(header([0x8293ec50, 0x8293ec50, 0, 0], 0x10), 0), 0, 'size too small');
  const noTag = header([0x8293ec50, 0x8293ec50, 0, 0]);
  noTag.write('KDBH', KDBG.ownerTag, 'latin1');
  t.is(needleBits(noTag, 0), 0);
});

test('x64 needle is told apart (Blink upper half 0xfffff800)', (t) => {
  t.is(needleBits(header([0x02e5a0d0, 0xfffff800, 0x02e5a0d0, 0xfffff800]), 0), 64);
});

test('parseKdbg: the 32-bit halves of the ULONG64 fields; USHORT offsets; fields past Header.Size read 0', (t) => {
  const b = header([0x8293ec50, 0x8293ec50, 0, 0]);
  b.writeUInt32LE(0x82a0c000, KDBG.kernBase);
  b.writeUInt32LE(0x82b7e7e8, KDBG.psActiveProcessHead);
  b.writeUInt32LE(0x82b8a8a0, KDBG.mmPfnDatabase);
  b.writeUInt32LE(0x82b8a830, KDBG.mmHighestPhysicalPage);
  b.writeUInt32LE(0x82b90000, KDBG.ntBuildLab);
  b.writeUInt16LE(0x18, KDBG.offsetEprocessDirectoryTableBase);
  const k = parseKdbg(b, 0, 0x2d3bc28)!;
  t.like(k, { pa: 0x2d3bc28, size: 0x340, bits: 32, listFlink: 0x8293ec50, kernBase: 0x82a0c000, psActiveProcessHead: 0x82b7e7e8, mmPfnDatabase: 0x82b8a8a0, ntBuildLab: 0x82b90000, offsetEprocessDirectoryTableBase: 0x18 });
  t.true(kdbgPointersPlausible(k));
  // A 0x290 (XP) block does not hold NtBuildLab (0x208 fits) nor the 0x2a8+ USHORTs.
  const xp = header([0x8293ec50, 0x8293ec50, 0, 0], 0x290);
  xp.writeUInt16LE(0x18, KDBG.offsetEprocessDirectoryTableBase);
  t.is(parseKdbg(xp, 0, 0)!.offsetEprocessDirectoryTableBase, 0);
});

for (const pae of [false, true]) {
  const name = pae ? 'PAE' : 'non-PAE';
  test(`${name}: the scan finds KDBG, _KUSER_SHARED_DATA, Idle and System, and the self-maps`, (t) => {
    const fx = windowsFixture({ pae });
    const s = scanWindows(fx.mem);
    t.deepEqual(s.kdbg.map((k) => k.pa), [fx.kdbgPa]);
    t.is(s.kdbg[0].psActiveProcessHead, fx.va.psActiveProcessHead);
    t.is(s.kuser.length, 1);
    t.like(s.kuser[0], { machine: 0x14c, major: 6, minor: 1, systemRoot: true });
    t.deepEqual(s.eprocess.map((e) => [e.name, e.pid, e.dtb]).sort(), [['Idle', 0, fx.rootPa], ['System', 4, fx.rootPa]]);
    if (pae) t.true(s.paeSelfMaps.length >= 2, 'the kernel PD #3 and explorer.exe PD #3');
    else t.true(s.nonPaeSelfMaps.includes(fx.rootPa));
  });
}

test('a KDBG block across a page boundary is read whole; lookalikes are not taken', (t) => {
  const mem = new FakeMemory().addRange(0, 8);
  const b = header([0x8293ec50, 0x8293ec50, 0, 0]);
  b.writeUInt32LE(0x82a0c000, KDBG.kernBase);
  mem.write(0x1ff8, b); // header straddles pages 1 and 2: the tag is on page 2
  const junk = header([0x1234, 0x5678, 0, 0]); // pointers not kernel addresses
  mem.write(0x5000, junk);
  mem.write(0x6000, Buffer.from('KDBG KDBG KDBG', 'latin1')); // bare tags
  const s = scanWindows(mem);
  t.deepEqual(s.kdbg.map((k) => [k.pa, k.kernBase]), [[0x1ff8, 0x82a0c000]]);
  t.is(s.kuser.length, 0);
});

test('scan lists are capped (a hostile image of lookalikes costs bounded work)', (t) => {
  const mem = new FakeMemory().addRange(0, 200);
  for (let p = 0; p < 200; p++) {
    const b = header([0x8293ec50, 0x8293ec50, 0, 0]);
    mem.write(p * 4096 + 0x100, b);
    mem.write(p * 4096 + 0x800, b);
  }
  const s = scanWindows(mem);
  t.is(s.kdbg.length, SCAN_LIMITS.kdbg);
});
