import test from 'ava';
import { parseVmcoreinfo, vmcoreinfoInPage } from '../../../src/introspect/linux/vmcoreinfo.js';

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
