/**
 * util/mmap.ts and RandomAccessFile.map: a mapped range holds exactly the file's bytes at any offset
 * (page-aligned or not, populated or not), is read-only, and is bounds-checked like a read.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { mapRange, MAX_MAP } from '../../../src/util/mmap.js';
import { RandomAccessFile } from '../../../src/util/file.js';
import { ImageFormatError } from '../../../src/util/errors.js';
import { tmpFile } from '../../helpers/tmp.js';

test('any range maps to the file bytes, aligned or not, populated or not', (t) => {
  const bytes = randomBytes(3 * 4096 + 123);
  const file = tmpFile(bytes, 'map.bin');
  const fd = fs.openSync(file, 'r');
  try {
    for (const [off, len] of [[0, bytes.length], [1, 5000], [4095, 2], [4096, 4096], [8191, 4096 + 124], [12000, 0]]) {
      for (const populate of [false, true]) {
        const m = mapRange(fd, off, len, populate);
        t.is(m.length, len);
        t.true(m.equals(bytes.subarray(off, off + len)), `${off}+${len}${populate ? ' populated' : ''}`);
      }
    }
    t.throws(() => mapRange(fd, 0, MAX_MAP + 1), { instanceOf: RangeError });
  } finally {
    fs.closeSync(fd);
  }
});

test('RandomAccessFile.map checks the range against the file like a read, and outlives close()', (t) => {
  const bytes = randomBytes(10000);
  const f = new RandomAccessFile(tmpFile(bytes, 'map2.bin'));
  const m = f.map(100, 9900, 'tail');
  const err = t.throws(() => f.map(5000, 5001, 'past the end'), { instanceOf: ImageFormatError });
  t.regex(err!.message, /needs 5001 bytes but the file ends at 10000/);
  f.close();
  t.true(m.equals(bytes.subarray(100)));
});
