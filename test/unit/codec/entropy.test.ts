/**
 * The entropy stage's decompression takes its size from the frame header only: a stream that
 * declares, holds or produces anything else is refused without allocating what it declares.
 */
import test from 'ava';
import { entropyCompress, entropyDecompress } from '../../../src/codec/entropy.js';

const raw = Buffer.alloc(20000);
for (let i = 0; i < raw.length; i++) raw[i] = (i * 7) % 251;

/** A complete zstd frame that declares `size` content bytes and holds none (one empty last raw block). */
function zstdFrameDeclaring(size: bigint): Buffer {
  const b = Buffer.alloc(4 + 1 + 8 + 3);
  b.writeUInt32LE(0xfd2fb528, 0);
  b[4] = 0xe0; // frame content size field of 8 bytes, single segment
  b.writeBigUInt64LE(size, 5);
  b[13] = 0x01; // last block, raw, 0 bytes
  return b;
}

test('zstd and deflate round-trip to exactly the raw length', (t) => {
  for (const codec of ['zstd', 'deflate'] as const) {
    const coded = entropyCompress(codec, 3, raw);
    t.true(entropyDecompress(codec, coded, raw.length).equals(raw), codec);
  }
});

test('zstd: a second frame declaring 1 TiB after a valid one is refused without sizing anything from it', (t) => {
  const coded = Buffer.concat([entropyCompress('zstd', 3, raw), zstdFrameDeclaring(1n << 40n)]);
  const before = process.memoryUsage().arrayBuffers;
  const err = t.throws(() => entropyDecompress('zstd', coded, raw.length));
  t.regex(err!.message, /16 bytes follow the zstd frame \(one frame per stream\)/);
  t.true(process.memoryUsage().arrayBuffers - before < 1 << 20);
});

test('zstd: trailing bytes, a truncated frame, a wrong declared size and a non-frame are refused', (t) => {
  const coded = entropyCompress('zstd', 3, raw);
  t.regex(t.throws(() => entropyDecompress('zstd', Buffer.concat([coded, Buffer.from([0])]), raw.length))!.message, /1 bytes follow the zstd frame/);
  t.regex(t.throws(() => entropyDecompress('zstd', coded.subarray(0, coded.length - 3), raw.length))!.message, /truncated/);
  t.regex(t.throws(() => entropyDecompress('zstd', coded, raw.length - 1))!.message, /declares 20000 content bytes, header says 19999/);
  t.regex(t.throws(() => entropyDecompress('zstd', Buffer.from('not zstd at all'), 10))!.message, /not a zstd frame/);
});

test('zstd: a frame that declares 0 bytes but holds data is refused', (t) => {
  // Same frame with its 8-byte content size rewritten to 0: zstd or the output bound must object.
  const coded = Buffer.from(zstdFrameDeclaring(0n));
  t.true(entropyDecompress('zstd', coded, 0).length === 0, 'an empty frame is fine');
  const withData = Buffer.concat([coded.subarray(0, 13), Buffer.from([0x21, 0x00, 0x00]), Buffer.from('abcd')]); // last raw block of 4 bytes
  t.throws(() => entropyDecompress('zstd', withData, 0));
});

test('deflate: a stream that inflates to more than the raw length is refused, not cut short', (t) => {
  const coded = entropyCompress('deflate', 6, raw);
  t.regex(t.throws(() => entropyDecompress('deflate', coded, raw.length - 10))!.message, /deflate produces more than the 19990 bytes the header says/);
  t.regex(t.throws(() => entropyDecompress('deflate', coded, raw.length + 10))!.message, /deflate produced 20000 bytes, header says 20010/);
});

test('deflate: bytes after the final block, a truncated stream and a non-stream are refused', (t) => {
  const coded = Buffer.from(entropyCompress('deflate', 6, raw));
  t.true(entropyDecompress('deflate', coded, raw.length).equals(raw));
  t.regex(t.throws(() => entropyDecompress('deflate', Buffer.concat([coded, Buffer.from([0, 1, 2])]), raw.length))!.message, /3 bytes follow the deflate stream/);
  t.regex(t.throws(() => entropyDecompress('deflate', coded.subarray(0, coded.length - 2), raw.length))!.message, /not a complete deflate stream/);
  t.regex(t.throws(() => entropyDecompress('deflate', Buffer.from([0xff, 0xff, 0xff, 0xff]), raw.length))!.message, /not a complete deflate stream/);
});
