/**
 * Input files are checked with fstat/stat before they are read: random-access inputs (images,
 * baselines, contexts) must be regular files (or block devices); the decoder's stream input may be a
 * regular file or a FIFO. Nothing waits on a FIFO that has to be refused.
 */
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RandomAccessFile } from '../../../src/util/file.js';
import { StreamReader } from '../../../src/util/stream-reader.js';
import { MigError } from '../../../src/util/errors.js';
import { tmpPath } from '../../helpers/tmp.js';

function fifo(): string {
  const p = tmpPath('input.fifo');
  execFileSync('mkfifo', [p]);
  return p;
}

test('RandomAccessFile refuses a FIFO (without waiting for a writer), devices and directories by kind', (t) => {
  const f = fifo();
  const cases: [string, string][] = [[f, 'a FIFO'], ['/dev/zero', 'a character device'], ['/dev/urandom', 'a character device'], [path.dirname(f), 'a directory']];
  for (const [p, kind] of cases) {
    const err = t.throws(() => new RandomAccessFile(p), { instanceOf: MigError });
    t.is(err!.code, 'USAGE');
    t.is(err!.message, `${p} is ${kind}, not a regular file (mig reads it at random offsets)`);
  }
  const ok = tmpPath('ok.bin');
  fs.writeFileSync(ok, Buffer.alloc(10, 1));
  const r = new RandomAccessFile(ok);
  t.is(r.read(2, 3, 'x').toString('hex'), '010101');
  r.close();
});

test('StreamReader refuses directories and devices; reads a FIFO front to back once its writer opens it', async (t) => {
  const dir = path.dirname(tmpPath());
  t.is(t.throws(() => new StreamReader(dir), { instanceOf: MigError })!.message, `${dir} is a directory, not a regular file or a FIFO`);
  t.is(t.throws(() => new StreamReader('/dev/zero'), { instanceOf: MigError })!.message, '/dev/zero is a character device, not a regular file or a FIFO');
  const f = fifo();
  const writer = spawn('sh', ['-c', `printf 'hello fifo' > '${f}'`]);
  const r = new StreamReader(f);
  const got = r.readExactly(20);
  t.is(got.buf.subarray(0, got.got).toString(), 'hello fifo');
  r.close();
  await new Promise((res) => writer.on('exit', res));
});
