/**
 * Hostile .mig files: fields a crafted file can set while keeping every checksum valid (the header
 * and frame checksums are unkeyed xxh3, so whoever writes the file recomputes them). Each must be
 * refused with MIG_CORRUPT naming the offset, before any large allocation and without output.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodeImage } from '../../../src/codec/encode.js';
import { decodeImage } from '../../../src/codec/decode.js';
import { FRAME_HEADER_SIZE, FrameType, HEADER_SIZE, xxh64 } from '../../../src/codec/container.js';
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
  m.writeBigUInt64LE(xxh64(payload), at + 16);
}

/** Re-seal the header's checksum after a header field was changed. */
function resealHeader(m: Buffer): void {
  m.writeBigUInt64LE(xxh64(m.subarray(0, 104)), 104);
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
