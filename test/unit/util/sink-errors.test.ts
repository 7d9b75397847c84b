/** writeError (src/util/sink.ts): a failed output write with an errno is a WRITE error naming the file. */
import test from 'ava';
import { writeError } from '../../../src/util/sink.js';
import { MigError } from '../../../src/util/errors.js';

const errno = (code: string, message: string, syscall = 'write') => Object.assign(new Error(message), { code, syscall });

test('ENOSPC, EDQUOT and EIO become WRITE naming the file, the errno and the bytes written', (t) => {
  const e = writeError(errno('ENOSPC', 'ENOSPC: no space left on device, write'), '/s/incoming/vm.img', 4096) as MigError;
  t.true(e instanceof MigError);
  t.is(e.code, 'WRITE');
  t.is(e.message, 'cannot write /s/incoming/vm.img: ENOSPC (no space left on the device) after 4096 bytes; nothing is kept under that name');
  t.like(e.toJSON(), { file: '/s/incoming/vm.img', errno: 'ENOSPC', bytes: 4096 });
  t.regex((writeError(errno('EDQUOT', 'EDQUOT: quota exceeded, write'), '/f', 0) as Error).message, /EDQUOT \(disk quota exceeded\)/);
  t.regex((writeError(errno('EIO', 'EIO: i/o error, fsync', 'fsync'), '/f', 0) as Error).message, /^cannot write \/f: EIO \(fsync failed\) after 0 bytes/);
});

test('anything without an errno passes through unchanged', (t) => {
  const plain = new Error('not an errno');
  t.is(writeError(plain, '/f', 0), plain);
  const mig = new MigError('MIG_CORRUPT', 'x');
  t.is(writeError(mig, '/f', 0), mig);
});
