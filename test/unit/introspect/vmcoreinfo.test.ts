import test from 'ava';
import { findVmcoreinfo, need, parseVmcoreinfo, vmcoreinfoInPage, vmKernelOffset, vmLength, vmNumber, vmOffset, vmSize, vmSymbol } from '../../../src/introspect/linux/vmcoreinfo.js';
import { FakeMemory } from '../../helpers/fake-memory.js';

const TEXT = 'OSRELEASE=6.1.0-27-amd64\nBUILD-ID=abc\nPAGESIZE=4096\nSYMBOL(swapper_pg_dir)=ffffffff8a00c000\nNUMBER(phys_base)=-2147483648\n';

test('vmcoreinfo_data page form', (t) => {
  const p = Buffer.alloc(8192);
  p.write(TEXT, 4096);
  t.is(vmcoreinfoInPage(p, 0), undefined);
  t.is(vmcoreinfoInPage(p, 4096), TEXT);
});

test('in-memory ELF note form', (t) => {
  const p = Buffer.alloc(4096);
  p.writeUInt32LE(11, 0);
  p.writeUInt32LE(TEXT.length, 4);
  p.write('VMCOREINFO\0', 12);
  p.write(TEXT, 24);
  t.is(vmcoreinfoInPage(p, 0), TEXT);
});

test('look-alikes are rejected', (t) => {
  const p = Buffer.alloc(4096);
  p.write('OSRELEASE=6.1 but no page size');
  t.is(vmcoreinfoInPage(p, 0), undefined);
});

test('parse keys', (t) => {
  const v = parseVmcoreinfo(TEXT);
  t.is(v.osRelease, '6.1.0-27-amd64');
  t.is(v.pageSize, 4096);
  t.is(v.entries.get('NUMBER(phys_base)'), '-2147483648');
});

test('typed getters: SYMBOL hex, NUMBER signed decimal (hex fallback), OFFSET/SIZE/LENGTH decimal', (t) => {
  const v = parseVmcoreinfo(TEXT + 'NUMBER(phys_base)=-759169024\nNUMBER(hexed)=ffffffffd2c00000\nOFFSET(page.mapping)=24\nSIZE(page)=64\nLENGTH(zone.free_area)=11\nKERNELOFFSET=35400000\nNUMBER(junk)=12abc!\n');
  t.is(vmSymbol(v, 'swapper_pg_dir'), 0xffffffff8a00c000n);
  t.is(vmSymbol(v, 'absent'), undefined);
  t.is(vmNumber(v, 'phys_base'), -759169024, 'the last value of a repeated key wins');
  t.is(vmNumber(v, 'hexed'), -759169024);
  t.is(vmNumber(v, 'junk'), undefined);
  t.is(vmOffset(v, 'page.mapping'), 24);
  t.is(vmSize(v, 'page'), 64);
  t.is(vmLength(v, 'zone.free_area'), 11);
  t.is(vmKernelOffset(v), 0x35400000n);
  t.throws(() => need(vmSize(v, 'mem_section'), 'SIZE(mem_section)'), { message: 'VMCOREINFO has no SIZE(mem_section)' });
});

test('findVmcoreinfo: ELF note text first, then the device note address, then a scan', (t) => {
  const mem = new FakeMemory().addRange(0, 16);
  const note = Buffer.alloc(4096);
  note.writeUInt32LE(11, 0x100);
  note.writeUInt32LE(TEXT.length, 0x104);
  note.write('VMCOREINFO\0', 0x10c);
  note.write(TEXT, 0x118);
  mem.write(5 * 4096, note);
  t.is(findVmcoreinfo(mem, { noteText: TEXT }).source, 'elf-note');
  const dev = findVmcoreinfo(mem, { noteGpa: 5 * 4096 + 0x100 }, { scan: false });
  t.deepEqual([dev.source, dev.gpa, dev.vmcoreinfo.osRelease], ['device-note', 5 * 4096 + 0x100, '6.1.0-27-amd64']);
  // A wrong device address falls back to the scan, which finds nothing page-aligned here.
  t.throws(() => findVmcoreinfo(mem, { noteGpa: 3 * 4096 }), { code: 'INTROSPECT_NO_VMCOREINFO' });
  const page = Buffer.alloc(4096);
  page.write(TEXT);
  mem.write(9 * 4096, page);
  const scanned = findVmcoreinfo(mem, { noteGpa: 3 * 4096 });
  t.deepEqual([scanned.source, scanned.gpa], ['memory-scan', 9 * 4096]);
  // A page the caller already saw stands in for the scan, after both notes.
  const seen = { text: TEXT.replace('6.1.0-27', '6.1.0-28'), gpa: 7 * 4096 };
  const s = findVmcoreinfo(mem, { noteGpa: 3 * 4096, seen }, { scan: false });
  t.deepEqual([s.source, s.gpa, s.vmcoreinfo.osRelease], ['memory-scan', 7 * 4096, '6.1.0-28-amd64']);
  t.is(findVmcoreinfo(mem, { noteGpa: 5 * 4096 + 0x100, seen }).source, 'device-note');
});
