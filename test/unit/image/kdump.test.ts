/** kdump-compressed and makedumpfile-flattened dumps are recognised and refused with advice. */
import test from 'ava';
import { RandomAccessFile } from '../../../src/util/file.js';
import { MigError } from '../../../src/util/errors.js';
import { probeElfDump } from '../../../src/image/elf-dump.js';
import { KDUMP_UNSUPPORTED_MESSAGE, openKdump, probeKdump } from '../../../src/image/kdump.js';
import { buildElfCore } from '../../helpers/elf-writer.js';
import { tmpFile } from '../../helpers/tmp.js';
import { SPEC64 } from '../../helpers/elf-fixtures.js';

test('kdump: flattened and plain headers are recognised and refused with advice', (t) => {
  const flat = Buffer.alloc(4096 + 32);
  flat.write('makedumpfile', 0, 'latin1');
  flat.writeBigUInt64BE(1n, 16);
  flat.writeBigUInt64BE(1n, 24);
  const plain = Buffer.alloc(8192);
  plain.write('KDUMP   ', 0, 'latin1');
  for (const [buf, field] of [[flat, 'makedumpfile flattened header signature'], [plain, 'kdump header signature']] as const) {
    t.true(probeKdump(buf));
    t.false(probeElfDump(buf));
    const path = tmpFile(buf);
    const err = t.throws(() => openKdump(new RandomAccessFile(path)), { instanceOf: MigError });
    t.is(err?.code, 'IMAGE_UNSUPPORTED');
    t.like(err?.data, { file: path, offset: 0, field });
    t.true(err!.message.endsWith(KDUMP_UNSUPPORTED_MESSAGE));
  }
  t.false(probeKdump(buildElfCore(SPEC64).bytes));
  t.false(probeKdump(Buffer.from('makedumpfilex')));
  t.false(probeKdump(Buffer.from('KDUMP')));
  const err = t.throws(() => openKdump(new RandomAccessFile(tmpFile(Buffer.from('QEVM\0\0\0\x03')))), { instanceOf: MigError });
  t.is(err?.code, 'IMAGE_BAD_MAGIC');
});
