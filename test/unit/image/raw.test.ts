import test from 'ava';
import { RandomAccessFile } from '../../../src/util/file.js';
import { MigError } from '../../../src/util/errors.js';
import { openRaw } from '../../../src/image/raw.js';
import { BufferSink } from '../../../src/util/sink.js';
import { countPages } from '../../helpers/count-pages.js';
import { page } from '../../helpers/stream-writer.js';
import { tmpFile } from '../../helpers/tmp.js';
import { verifySlots } from '../../helpers/compare.js';

test('raw file: GPA i is byte i, rebuild is identical', (t) => {
  const buf = Buffer.concat([page(1), page(-1), page(2), page(-1)]);
  const img = openRaw(new RandomAccessFile(tmpFile(buf)));
  t.is(img.ramBytes, buf.length);
  t.deepEqual(img.memory.read(8192, 4096), page(2));
  t.deepEqual(countPages(img.memory), { total: 4, zero: 2, nonZero: 2 });
  const sink = new BufferSink();
  img.rebuild(sink);
  t.true(sink.toBuffer().equals(buf));
  t.deepEqual(verifySlots(img), { problems: [], slots: 4, mapped: 4 });
});

test('raw file whose size is not a page multiple is refused, naming the size', (t) => {
  const path = tmpFile(Buffer.alloc(5000));
  const err = t.throws(() => openRaw(new RandomAccessFile(path)), { instanceOf: MigError });
  t.regex(err!.message, /size 5000 is not a non-zero multiple of 4096/);
});
