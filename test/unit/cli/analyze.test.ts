import test from 'ava';
import { mig } from '../../helpers/cli.js';
import { page, saveImage, StreamBuilder } from '../../helpers/stream-writer.js';
import { tmpFile, tmpPath } from '../../helpers/tmp.js';

function image(vmcoreinfo?: string): Buffer {
  const s = new StreamBuilder().header().ramStart([{ idstr: 'pc.ram', length: 8 * 4096 }]);
  const v = Buffer.alloc(4096);
  if (vmcoreinfo) v.write(vmcoreinfo);
  s.ramSection(3, [
    { block: 'pc.ram', offset: 0, data: page(1) },
    { block: 'pc.ram', offset: 4096, data: v },
  ]);
  return saveImage(s.eof().build());
}

test('analyze: a guest without VMCOREINFO is refused with the reason', (t) => {
  const r = mig('analyze', '--json', tmpFile(image()));
  t.is(r.status, 1);
  t.regex(r.stderr, /mig: no supported guest OS: no VMCOREINFO found/);
  t.is(JSON.parse(r.stdout).code, 'INTROSPECT_NO_VMCOREINFO');
});

test('analyze: VMCOREINFO that is not x86 Linux names what is missing', (t) => {
  const r = mig('analyze', tmpFile(image('OSRELEASE=6.1.0-99-arm64\nPAGESIZE=4096\nSYMBOL(swapper_pg_dir)=ffff800009a0c000\nNUMBER(phys_base)=0\n')));
  t.is(r.status, 1);
  t.regex(r.stderr, /0xffff800009a0c000 is neither in the x86-64 kernel image map nor a 32-bit address: not an x86 Linux kernel/);
});

test('analyze: --report must be .svg or .html', (t) => {
  const r = mig('analyze', tmpFile(image()), '--report', tmpPath('r.png'));
  t.is(r.status, 2);
  t.regex(r.stderr, /\.svg or \.html/);
});

test('encode without a page map: introspection fails, encode says why and goes on generically', (t) => {
  const out = tmpPath('x.mig');
  const r = mig('encode', tmpFile(image()), '-o', out, '--json');
  t.is(r.status, 0, r.stderr);
  t.regex(r.stderr, /^mig: no page map \(no supported guest OS: no VMCOREINFO found.*\); encoding generically$/m);
  const j = JSON.parse(r.stdout);
  t.is(j.pageMap.source, 'none');
  t.regex(j.pageMap.error, /no VMCOREINFO found/);
  t.falsy(j.freePagesDropped);
  const quiet = mig('encode', tmpFile(image()), '-o', tmpPath('y.mig'), '--json', '--no-introspect');
  t.is(quiet.status, 0, quiet.stderr);
  t.notRegex(quiet.stderr, /no page map/);
  t.deepEqual(JSON.parse(quiet.stdout).pageMap, { source: 'none' });
});
