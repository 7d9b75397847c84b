/**
 * Hostile .mig files: fields a crafted file can set while keeping every checksum valid (the header
 * and frame checksums are unkeyed xxh3, so whoever writes the file recomputes them). Each must be
 * refused with MIG_CORRUPT naming the offset, before any large allocation and without output.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { encodeImage } from '../../../src/codec/encode.js';
import { decodeImage } from '../../../src/codec/decode.js';
import { FRAME_HEADER_SIZE, FrameType, HEADER_SIZE, xxh3_64 } from '../../../src/codec/container.js';
import { MigError } from '../../../src/util/errors.js';
import { writeAtomically } from '../../../src/util/sink.js';
import { page } from '../../helpers/stream-writer.js';
import { mig } from '../../helpers/cli.js';
import { tmpFile, tmpPath } from '../../helpers/tmp.js';

/** A small raw image (distinct, zero and repeated pages) encoded in small frames. */
function encoded(): Buffer {
  const img = Buffer.concat(Array.from({ length: 40 }, (_, i) => (i % 7 === 0 ? Buffer.alloc(4096) : page(i % 11))));
  const src = tmpFile(img, 'src.img');
  const out = tmpPath('x.mig');
  writeAtomically(out, (sink) => encodeImage(src, sink, { frameRaw: 16384, threads: 1 }));
  return fs.readFileSync(out);
}

/** Offsets of the frame headers, in order (the last is the END frame). */
function frameOffsets(m: Buffer): number[] {
  const out: number[] = [];
  for (let at = HEADER_SIZE; at < m.length; at += FRAME_HEADER_SIZE + m.readUInt32LE(at + 8)) out.push(at);
  return out;
}

/** Re-seal a frame's checksum after its payload was changed. */
function reseal(m: Buffer, at: number): void {
  const payload = m.subarray(at + FRAME_HEADER_SIZE, at + FRAME_HEADER_SIZE + m.readUInt32LE(at + 8));
  m.writeBigUInt64LE(xxh3_64(payload), at + 16);
}

/** Re-seal the header's checksum after a header field was changed. */
function resealHeader(m: Buffer): void {
  m.writeBigUInt64LE(xxh3_64(m.subarray(0, 104)), 104);
}

function refused(t: import('ava').ExecutionContext, m: Buffer, offset: number, match: RegExp): void {
  const file = tmpFile(m, 'crafted.mig');
  const out = tmpPath('never.img');
  const err = t.throws(() => decodeImage(file, out, { threads: 1 }), { instanceOf: MigError });
  t.is(err!.code, 'MIG_CORRUPT');
  t.is(err!.data.offset, offset);
  t.regex(err!.message, match);
  t.false(fs.existsSync(out), 'no output');
  t.deepEqual(fs.readdirSync(path.dirname(out)).filter((f) => f.includes(path.basename(out))), [], 'no temp file left');
}

test('END frame with a non-zero reserved field (checksum re-sealed) is refused at its offset', (t) => {
  const m = encoded();
  const end = frameOffsets(m).pop()!;
  t.is(m[end], FrameType.END);
  const payloadAt = end + FRAME_HEADER_SIZE;
  m.writeUInt32LE(1, payloadAt + 20);
  reseal(m, end);
  refused(t, m, payloadAt + 20, /END frame reserved field is 0x1, not zero/);
});

test('a header announcing 2^33 page slots (checksum re-sealed) is refused at the field, not allocated', (t) => {
  const m = encoded();
  m.writeBigUInt64LE(1n << 45n, 16); // image bytes
  m.writeBigUInt64LE(1n << 33n, 24); // page slots
  resealHeader(m);
  refused(t, m, 16, /image bytes 35184372088832 exceed the format's limit of 4398046511104/);
  // Within the image-size limit, slots must still fit in the image bytes.
  const s = encoded();
  s.writeBigUInt64LE(1n << 30n, 24);
  resealHeader(s);
  refused(t, s, 24, /page slots 1073741824 × 4096 exceed the image's \d+ bytes/);
});

test('a header at the size limit (2^30 slots) decodes its frames without sizing anything from the count', (t) => {
  const m = encoded();
  m.writeBigUInt64LE(1n << 42n, 16);
  m.writeBigUInt64LE(1n << 30n, 24);
  resealHeader(m);
  const before = process.memoryUsage().arrayBuffers;
  const file = tmpFile(m, 'big-header.mig');
  const err = t.throws(() => decodeImage(file, tmpPath('never.img'), { threads: 1 }), { instanceOf: MigError });
  t.is(err!.code, 'MIG_CORRUPT');
  t.regex(err!.message, /decoded \d+ bytes, expected 4398046511104/);
  t.true(process.memoryUsage().arrayBuffers - before < 64 << 20, 'no slot table sized from the header');
});

test('a ZERO run longer than the slots the header has left is refused before it is written', (t) => {
  // The image starts with a zero page (a ZERO run of 1 at slot 0); a header with 0 slots has no room for it.
  const m = encoded();
  m.writeBigUInt64LE(0n, 24);
  resealHeader(m);
  refused(t, m, frameOffsets(m)[0] + FRAME_HEADER_SIZE, /frame 0: ZERO run of 1 slots at slot 0 passes the header's 0 page slots/);
});

test('CLI: a crafted header with 2^33 slots exits 3 naming the file, offset and field', (t) => {
  const m = encoded();
  m.writeBigUInt64LE(1n << 45n, 16);
  m.writeBigUInt64LE(1n << 33n, 24);
  resealHeader(m);
  const file = tmpFile(m, 'crafted.mig');
  const out = tmpPath('never.img');
  const r = mig('decode', file, '-o', out);
  t.is(r.status, 3, r.stderr);
  t.regex(r.stderr, new RegExp(`^mig: ${file}: offset 16: image bytes \\d+ exceed the format's limit`));
  t.false(fs.existsSync(out));
});

test('a baseline digest the caller vouches for is not re-hashed, but a file that is not that baseline still fails the decode at the SHA-256, with no output', (t) => {
  const pages = (seed: number) => Buffer.concat(Array.from({ length: 24 }, (_, i) => page(seed * 100 + i)));
  const base = tmpFile(pages(1), 'base.img');
  // The new image: mostly the baseline's pages, a few new.
  const img = Buffer.from(pages(1));
  page(999).copy(img, 5 * 4096);
  const src = tmpFile(img, 'new.img');
  const out = tmpPath('b.mig');
  const s = writeAtomically(out, (sink) => encodeImage(src, sink, { baseline: base, threads: 1 }));
  t.true(s.techniques.baseline.pages >= 20);
  const digest = Buffer.from(sha256Of(base), 'hex');
  // Vouched for and right: decodes to the image, and the summary gives the image's SHA-256.
  const ok = decodeImage(out, tmpPath('ok.img'), { baseline: base, baselineDigest: digest, threads: 1 });
  t.is(ok.sha256, s.sha256);
  t.true(fs.readFileSync(ok.output).equals(img));
  // Another file passed off as that baseline: the header check passes on the claim, the decoded bytes do not.
  const other = Buffer.from(pages(1));
  page(555).copy(other, 3 * 4096);
  const liar = tmpFile(other, 'liar.img');
  const dest = tmpPath('bad.img');
  const err = t.throws(() => decodeImage(out, dest, { baseline: liar, baselineDigest: digest, threads: 1 }), { instanceOf: MigError });
  t.regex(err!.message, /SHA-256 of the decoded image does not match/);
  t.false(fs.existsSync(dest));
  t.deepEqual(fs.readdirSync(path.dirname(dest)).filter((f) => f.includes('bad.img')), []);
});

function sha256Of(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}
