import test from 'ava';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { maxPageMapBytes, PageMap, pageTypeCode, PageTypeCode } from '../../../src/introspect/pagemap.js';
import { tmpPath } from '../../helpers/tmp.js';
import { KPF, pageMapFromKpageflags } from '../../helpers/kpageflags.js';
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

// ---- hostile page maps: bounded by the image, types by name only, files checked before reading ----

test('names of Object.prototype are not page types', (t) => {
  for (const name of ['constructor', 'tostring', 'hasownproperty', 'valueof', 'proto']) {
    const err = t.throws(() => PageMap.parse(`0 256 ${name}\n`, 'x.map', 256), { instanceOf: MigError });
    t.regex(err!.message, /^x\.map: line 1: unknown page type/, name);
  }
  t.is(pageTypeCode('constructor'), undefined);
  t.is(pageTypeCode('free'), PageTypeCode.free);
});

test('runs past the image are refused before anything is allocated for them', (t) => {
  const before = process.memoryUsage().arrayBuffers;
  const err = t.throws(() => PageMap.parse('0 4294967296 free\n', 'x.map', 256), { instanceOf: MigError });
  t.regex(err!.message, /^x\.map: line 1: count 4294967296 out of range \(the image has 256 page frames\)/);
  t.regex(t.throws(() => PageMap.parse('0 200 free\n200 57 anon\n', 'x.map', 256))!.message, /line 2: count 57 out of range/);
  t.is(PageMap.parse('0 200 free\n200 56 anon\n', 'x.map', 256).pfns, 256);
  // Without an image, the default bound still refuses it.
  t.throws(() => PageMap.parse('0 4294967296 free\n'), { message: /out of range/ });
  t.true(process.memoryUsage().arrayBuffers - before < 1 << 20);
});

test('read: devices, FIFOs and directories are refused by fstat, without reading or waiting', (t) => {
  const fifo = tmpPath('map.fifo');
  execFileSync('mkfifo', [fifo]);
  for (const [p, kind] of [['/dev/zero', 'a character device'], ['/dev/urandom', 'a character device'], [fifo, 'a FIFO'], [path.dirname(fifo), 'a directory']]) {
    const err = t.throws(() => PageMap.read(p, 256), { instanceOf: MigError });
    t.is(err!.code, 'USAGE');
    t.is(err!.message, `page map ${p} is not a regular file (${kind})`);
  }
});

test('read: a file larger than a map of the image can be is refused by its size; long lines by length', (t) => {
  t.is(maxPageMapBytes(256), 256 * (2 * 3 + 9 + 4) + 4096);
  const big = tmpPath('big.map');
  fs.writeFileSync(big, '0 256 free\n');
  fs.truncateSync(big, maxPageMapBytes(256) + 1); // sparse: never read
  t.regex(t.throws(() => PageMap.read(big, 256))!.message, new RegExp(`^page map ${big} has ${maxPageMapBytes(256) + 1} bytes, more than a page map of this image's 256 page frames can take`));
  const zeros = tmpPath('zeros.map');
  fs.writeFileSync(zeros, Buffer.alloc(5000));
  t.regex(t.throws(() => PageMap.read(zeros, 256))!.message, /line 1: line longer than 256 characters/);
});

test('read: parses a file a line at a time, across chunk edges, to the same map', (t) => {
  const types = new Uint8Array(600_000);
  for (let i = 0; i < types.length; i++) types[i] = (i >> 3) % 5; // 75,000 runs: more than one 1 MiB chunk
  const text = new PageMap(types).toText();
  const f = tmpPath('ok.map');
  fs.writeFileSync(f, text);
  t.true(text.length > 1 << 20);
  t.deepEqual(PageMap.read(f, types.length).types, types);
  t.deepEqual(PageMap.parse(text, f, types.length).types, types);
  fs.writeFileSync(f, text.trimEnd()); // no final newline
  t.deepEqual(PageMap.read(f, types.length).types, types);
});
