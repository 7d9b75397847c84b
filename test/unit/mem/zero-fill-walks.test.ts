/**
 * Issue 13: an ELF PT_LOAD of p_filesz 0 (or a few pages) and p_memsz 1 TiB, the documented limit.
 * `mig info` counts the zero-fill tail without reading it (elf-dump.test.ts); the other whole-image
 * walks must too: the VMCOREINFO scan that `mig encode` and `mig analyze` run when the image has no
 * note (> 40 s before), and the page index of a baseline (a 1 TiB view sized a 2^28-entry index and
 * hashed every zero page). Functional, not timed: the pages SegmentMemory hands to page callbacks are
 * counted, and a walk that reads more than the file holds throws at once.
 */
import test from 'ava';
import * as fs from 'node:fs';
import { SegmentMemory } from '../../../src/mem/segment-map.js';
import { scanVmcoreinfo } from '../../../src/introspect/linux/vmcoreinfo.js';
import { openBaseline } from '../../../src/codec/baseline.js';
import { encodeImage } from '../../../src/codec/encode.js';
import { decodeImage } from '../../../src/codec/decode.js';
import { writeAtomically } from '../../../src/util/sink.js';
import { buildElfCore, pages } from '../../helpers/elf-writer.js';
import { openElf } from '../../helpers/elf-fixtures.js';
import { tmpFile, tmpPath } from '../../helpers/tmp.js';

const TiB = 2 ** 40;
const PAGE = 4096;

/** One PT_LOAD at GPA 0: `data` in the file, then zero-fill up to 1 TiB. */
const tailElf = (data: Buffer) => buildElfCore({ loads: [{ gpa: 0, data, memLength: TiB }], cpus: [{ rip: 0xffffffff81000000n, cr3: 0x1000n }] }).bytes;

/**
 * Count the pages every SegmentMemory walk hands to its page callback while `fn` runs; past
 * `budget` the walk throws (a crawl over the tail fails at once instead of taking a minute).
 */
function pagesRead<T>(budget: number, fn: () => T): { result: T; read: number } {
  const orig = SegmentMemory.prototype.forEachPageBatch;
  let read = 0;
  SegmentMemory.prototype.forEachPageBatch = function (this: SegmentMemory, cb, batch, onZeroRun) {
    return orig.call(this, (pfn: number, count: number, bytes: Buffer) => {
      read += count;
      if (read > budget) throw new Error(`a walk read ${read} pages of an image whose file holds ${budget}`);
      cb(pfn, count, bytes);
    }, batch, onZeroRun);
  };
  try {
    return { result: fn(), read };
  } finally {
    SegmentMemory.prototype.forEachPageBatch = orig;
  }
}

test('VMCOREINFO scan (encode, analyze) reads the file pages of a 1 TiB zero-fill ELF, not the tail', (t) => {
  const none = openElf(tailElf(Buffer.alloc(0)));
  const a = pagesRead(0, () => scanVmcoreinfo(none.memory));
  t.is(a.result, undefined);
  t.is(a.read, 0);
  none.close();
  // Two file pages, the second holding VMCOREINFO text (as a kernel page would).
  const text = Buffer.alloc(PAGE);
  text.write('OSRELEASE=6.1.0-tail\nPAGESIZE=4096\n', 'latin1');
  const two = openElf(tailElf(Buffer.concat([pages(0, 1, 0x41), text])));
  const b = pagesRead(2, () => scanVmcoreinfo(two.memory));
  t.deepEqual(b.result, { text: 'OSRELEASE=6.1.0-tail\nPAGESIZE=4096\n', gpa: PAGE });
  t.true(b.read <= 2);
  two.close();
});

test('a baseline with a 1 TiB zero-fill tail is indexed from its file pages only, and serves references', (t) => {
  const file = pages(0, 3, 0x51);
  const basePath = tmpFile(tailElf(file), 'tail-base.elf');
  const before = process.memoryUsage().arrayBuffers;
  const { result: base, read } = pagesRead(3, () => openBaseline(basePath, true));
  t.true(read <= 3, `${read} pages read`);
  t.true(process.memoryUsage().arrayBuffers - before < 64 << 20, 'index sized by the file, not by the 1 TiB view');
  const scratch = Buffer.alloc(PAGE);
  t.true(base.readFrame(2, scratch));
  t.deepEqual(scratch, file.subarray(2 * PAGE));
  t.true(base.readFrame(2 ** 27, scratch), 'a tail frame reads as zeros');
  t.deepEqual(scratch, Buffer.alloc(PAGE));
  base.close();
  // A raw image holding the baseline's file pages in another order encodes to baseline references.
  const img = Buffer.concat([file.subarray(2 * PAGE), file.subarray(0, PAGE), file.subarray(PAGE, 2 * PAGE)]);
  const src = tmpFile(img, 'uses-tail-base.raw');
  const mig = tmpPath('tail-base.mig');
  const s = pagesRead(3, () => writeAtomically(mig, (sink) => encodeImage(src, sink, { baseline: basePath, threads: 1 }))).result;
  t.is(s.techniques.baseline.pages, 3);
  const out = tmpPath('tail-base.img');
  decodeImage(mig, out, { baseline: basePath, threads: 1 });
  t.true(fs.readFileSync(out).equals(img));
});
