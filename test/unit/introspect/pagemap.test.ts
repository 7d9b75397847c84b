import test from 'ava';
import { PageMap, PageTypeCode } from '../../../src/introspect/pagemap.js';
import { pageMapFromKpageflags, KPF } from '../../../src/introspect/linux/kpageflags.js';
import { MigError } from '../../../src/util/errors.js';

test('text form round-trips and covers every PFN', (t) => {
  const types = new Uint8Array([1, 1, 2, 3, 3, 3, 0]);
  const pm = new PageMap(types);
  t.is(pm.toText(), '0 2 free\n2 1 anon\n3 3 cache\n6 1 other\n');
  t.deepEqual(PageMap.parse(pm.toText()).types, types);
  t.true(pm.isFree(1));
  t.false(pm.isFree(2));
  t.false(pm.isFree(100), 'past the end is not free');
  t.is(pm.count('cache'), 3);
});

const bad: [string, RegExp][] = [
  ['0 2 free\n3 1 anon\n', /starts at 3, expected 2/],
  ['0 2 frei\n', /unknown page type/],
  ['0 two free\n', /expected "start_pfn count type"/],
  ['0 0 free\n', /count 0 out of range/],
];
for (const [text, re] of bad) {
  test(`malformed page map: ${JSON.stringify(text)}`, (t) => {
    const err = t.throws(() => PageMap.parse(text, 'x.map'), { instanceOf: MigError });
    t.regex(err!.message, re);
    t.regex(err!.message, /^x\.map: line \d+/);
  });
}

test('kpageflags → page types', (t) => {
  const flags = [1 << KPF.BUDDY, (1 << KPF.LRU) | (1 << KPF.ANON) | (1 << KPF.SWAPBACKED), 1 << KPF.LRU, (1 << KPF.LRU) | (1 << KPF.SWAPBACKED), 1 << KPF.SLAB, 1 << KPF.PGTABLE, (1 << KPF.LRU) | (1 << KPF.MMAP), 0];
  const raw = Buffer.alloc(flags.length * 8);
  flags.forEach((f, i) => raw.writeUInt32LE(f >>> 0, i * 8));
  const pm = pageMapFromKpageflags(raw);
  t.deepEqual([...pm.types], ['free', 'anon', 'cache', 'shmem', 'slab', 'pagetable', 'image', 'other'].map((x) => PageTypeCode[x as keyof typeof PageTypeCode]));
});
