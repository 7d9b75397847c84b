import test from 'ava';
import { RandomAccessFile } from '../../../src/util/file.js';
import { AddressFault } from '../../../src/util/errors.js';
import { fillOffset, SegmentMemory } from '../../../src/mem/segment-map.js';
import { page } from '../../helpers/stream-writer.js';
import { tmpFile } from '../../helpers/tmp.js';

// File: 8 pages of distinct data, each preceded by an 8-byte gap (like stream records).
const file = Buffer.concat(Array.from({ length: 8 }, (_, i) => Buffer.concat([Buffer.alloc(8, 0xee), page(i + 1)])));
const off = (i: number) => i * 4104 + 8;

function mem() {
  const f = new RandomAccessFile(tmpFile(file));
  // Table segment at GPA 0x10000: pages in scrambled file order, a fill page, then ascending runs.
  const offsets = Float64Array.from([off(3), off(0), fillOffset(0x5a), off(4), off(5), off(6), off(7), off(1)]);
  return new SegmentMemory(f, [
    { kind: 'table', gpa: 0x10000, length: 8 * 4096, offsets, zeroPages: 0 },
    // Linear segment at GPA 0, file bytes shorter than the segment (zero-filled tail).
    { kind: 'linear', gpa: 0, length: 3 * 4096, fileOffset: off(2), fileLength: 4096 },
  ]);
}

test('runs are sorted and merged only when adjacent', (t) => {
  const m = mem();
  t.deepEqual(m.runs, [{ gpa: 0, length: 3 * 4096 }, { gpa: 0x10000, length: 8 * 4096 }]);
  t.is(m.size, 11 * 4096);
});

test('forEachPageBatch yields every present page in order, whatever the batch size', (t) => {
  for (const batch of [1, 3, 1024]) {
    const m = mem();
    const seen: Buffer[] = [];
    const pfns: number[] = [];
    m.forEachPageBatch((pfn, count, bytes) => {
      for (let i = 0; i < count; i++) {
        pfns.push(pfn + i);
        seen.push(Buffer.from(bytes.subarray(i * 4096, (i + 1) * 4096)));
      }
    }, batch);
    t.deepEqual(pfns, [0, 1, 2, 16, 17, 18, 19, 20, 21, 22, 23]);
    t.deepEqual(seen[0], page(3));
    t.deepEqual(seen[1], Buffer.alloc(4096));
    t.deepEqual(seen[3], page(4));
    t.deepEqual(seen[4], page(1));
    t.deepEqual(seen[5], Buffer.alloc(4096, 0x5a));
    t.deepEqual(seen.slice(6), [page(5), page(6), page(7), page(8), page(2)]);
  }
});

test('reads across a page boundary; holes fault', (t) => {
  const m = mem();
  t.deepEqual(m.read(0x10000 + 4090, 12), Buffer.concat([page(4).subarray(4090), page(1).subarray(0, 6)]));
  t.false(m.isPresent(3));
  const out = Buffer.alloc(4096, 1);
  t.false(m.readPage(3, out));
  t.is(out[0], 1, 'untouched on a hole');
  t.throws(() => m.read(3 * 4096 - 2, 4), { instanceOf: AddressFault });
});
