import test from 'ava';
import * as fs from 'node:fs';
import { RandomAccessFile } from '../../../src/util/file.js';
import { MigError } from '../../../src/util/errors.js';
import { openLibvirtSave, parseLibvirtSave, probeLibvirtSave } from '../../../src/image/libvirt-save.js';
import { BufferSink } from '../../../src/util/sink.js';
import { page, saveImage, SaveOpts, StreamBuilder } from '../../helpers/stream-writer.js';
import { tmpFile, tmpPath } from '../../helpers/tmp.js';

function stream(): Buffer {
  const s = new StreamBuilder().header({ machine: 'pc-i440fx-7.2' }).ramStart([{ idstr: 'pc.ram', length: 16384 }]);
  s.ramSection(3, [
    { block: 'pc.ram', offset: 0, data: page(1) },
    { block: 'pc.ram', offset: 4096 },
    { block: 'pc.ram', offset: 8192, data: page(2) },
  ]);
  return s.device('cpu', Buffer.alloc(64, 3)).eof().build();
}

const XML = "<domain type='qemu'>\n  <name>fixture</name>\n  <memory unit='KiB'>16</memory>\n</domain>\n";
const COOKIE = "<cookie>\n  <cpu mode='custom'/>\n</cookie>\n";

test('parses header, XML, cookie and stream; rebuilds byte for byte', (t) => {
  const buf = saveImage(stream(), { xml: XML, cookie: COOKIE, wasRunning: 0 });
  t.true(probeLibvirtSave(buf));
  const img = openLibvirtSave(new RandomAccessFile(tmpFile(buf)));
  t.is(img.format, 'libvirt-save');
  t.is(img.parts.xml, XML);
  t.is(img.parts.cookie, COOKIE);
  t.false(img.parts.header.wasRunning);
  t.is(img.parts.header.version, 2);
  t.is(img.machine, 'pc-i440fx-7.2');
  t.is(img.ramBytes, 16384);
  t.deepEqual(img.memory.read(8192, 4096), page(2));
  const sink = new BufferSink();
  img.rebuild(sink);
  t.true(sink.toBuffer().equals(buf));
});

test('byte-swapped header (written on a big-endian host) is read', (t) => {
  const buf = saveImage(stream(), { swap: true });
  const parts = parseLibvirtSave(new RandomAccessFile(tmpFile(buf)));
  t.true(parts.header.byteSwapped);
  t.is(parts.header.version, 2);
  t.true(parts.header.wasRunning);
});

test('no cookie (cookieOffset 0): XML is the whole data area up to NUL', (t) => {
  const parts = parseLibvirtSave(new RandomAccessFile(tmpFile(saveImage(stream(), { xml: XML, cookieOffset: 0 }))));
  t.is(parts.xml, XML);
  t.is(parts.cookie, '');
});

const HDR = 92;
const bad: Record<string, { opts?: SaveOpts; buf?: () => Buffer; code: string; offset: number; match: RegExp }> = {
  'truncated header': { buf: () => saveImage(stream()).subarray(0, 50), code: 'IMAGE_TRUNCATED', offset: 0, match: /libvirt save header/ },
  'bad magic': { opts: { magic: 'LibvirtQemudXXXX' }, code: 'IMAGE_BAD_MAGIC', offset: 0, match: /not a libvirt save image/ },
  'incomplete save (Part magic)': { opts: { magic: 'LibvirtQemudPart' }, code: 'IMAGE_INCOMPLETE', offset: 0, match: /incomplete/ },
  'unsupported version': { opts: { version: 7 }, code: 'IMAGE_BAD_FIELD', offset: 16, match: /version 7/ },
  'data_len zero': { opts: { dataLen: 0 }, code: 'IMAGE_BAD_FIELD', offset: 20, match: /data_len is 0/ },
  'data_len past end of file': { opts: { dataLen: 1 << 20 }, code: 'IMAGE_TRUNCATED', offset: 20, match: /data_len 1048576 runs past the end/ },
  'data_len past the 256 MiB bound (and the file)': { opts: { dataLen: 0x7fffffff }, code: 'IMAGE_BAD_FIELD', offset: 20, match: /data_len 2147483647 .*256 MiB/ },
  'was_running not boolean': { opts: { wasRunning: 5 }, code: 'IMAGE_BAD_FIELD', offset: 24, match: /was_running/ },
  'gzip-compressed': { opts: { compressed: 1 }, code: 'IMAGE_UNSUPPORTED', offset: 28, match: /gzip/ },
  'xz-compressed': { opts: { compressed: 3 }, code: 'IMAGE_UNSUPPORTED', offset: 28, match: /xz/ },
  'sparse (mapped-ram)': { opts: { compressed: 6 }, code: 'IMAGE_UNSUPPORTED', offset: 28, match: /sparse/ },
  'unknown compression': { opts: { compressed: 99 }, code: 'IMAGE_UNSUPPORTED', offset: 28, match: /unknown format 99/ },
  'cookieOffset beyond data_len': { opts: { cookieOffset: 1 << 30 }, code: 'IMAGE_BAD_FIELD', offset: 32, match: /cookieOffset/ },
  'data area without XML': { opts: { xml: 'garbage' }, code: 'IMAGE_BAD_FIELD', offset: HDR, match: /domain XML/ },
  'stream does not follow': { buf: () => saveImage(Buffer.from('not a stream')), code: 'IMAGE_BAD_MAGIC', offset: -1, match: /QEVM/ },
};

for (const [name, c] of Object.entries(bad)) {
  test(`malformed: ${name}`, (t) => {
    const buf = c.buf ? c.buf() : saveImage(stream(), c.opts);
    const path = tmpFile(buf);
    const err = t.throws(() => parseLibvirtSave(new RandomAccessFile(path)), { instanceOf: MigError });
    t.is(err?.code, c.code, err?.message);
    const expected = c.offset >= 0 ? c.offset : buf.length - 'not a stream'.length;
    t.is((err as MigError).data.offset, expected, err?.message);
    t.regex(err!.message, c.match);
    t.true(err!.message.startsWith(path));
  });
}

test('data_len past the 256 MiB bound in a file that holds it: IMAGE_BAD_FIELD, not a truncation, nothing read', (t) => {
  // A sparse 300 MiB file: the header claims a 257 MiB data area, which the file does hold.
  const head = saveImage(stream(), { dataLen: 257 << 20 });
  const path = tmpPath('big-data-area.save');
  fs.writeFileSync(path, head);
  fs.truncateSync(path, 300 << 20);
  const before = process.memoryUsage().arrayBuffers;
  const err = t.throws(() => parseLibvirtSave(new RandomAccessFile(path)), { instanceOf: MigError });
  t.is(err?.code, 'IMAGE_BAD_FIELD', err?.message);
  t.is(err?.data.offset, 20);
  t.is(err?.data.field, 'libvirt header data_len');
  t.regex(err!.message, /data_len 269484032 is implausible/);
  t.notRegex(err!.message, /past the end/);
  t.true(process.memoryUsage().arrayBuffers - before < 64 << 20, 'the data area is not read');
});
