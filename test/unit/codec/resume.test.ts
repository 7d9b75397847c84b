/**
 * Resumable decoding: an input that ends early keeps the image so far and a checkpoint; the same
 * header plus the stream from the checkpoint's offset completes the decode, byte-identical, also when
 * the resumed input is cut again. Damage, another stream or another id never resume.
 */
import test from 'ava';
import * as fs from 'node:fs';
import { encodeImage } from '../../../src/codec/encode.js';
import { decodeImage } from '../../../src/codec/decode.js';
import { loadCheckpoint } from '../../../src/codec/checkpoint.js';
import { HEADER_SIZE } from '../../../src/codec/container.js';
import { MigError } from '../../../src/util/errors.js';
import { writeAtomically } from '../../../src/util/sink.js';
import { page, saveImage, StreamBuilder, type PageRec } from '../../helpers/stream-writer.js';
import { tmpFile, tmpPath } from '../../helpers/tmp.js';

/**
 * n pages: repeats of earlier pages (DUP and sub-page matches across frame boundaries), zero pages,
 * literals; 'linear': all pages differ; 'shifted': two of three pages are those of a 'linear' save moved by 23 frames (BASE refs
 * whose deltas run across frames) and the rest new.
 */
function save(n: number, salt: number, mode: 'repeat' | 'linear' | 'shifted' = 'repeat'): Buffer {
  const s = new StreamBuilder().header().ramStart([{ idstr: 'pc.ram', length: n * 4096 }]);
  const recs: PageRec[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 17 === 0) recs.push({ block: 'pc.ram', offset: i * 4096 });
    else {
      const p = page(mode === 'repeat' ? i % 70 + salt : mode === 'linear' ? i + salt : i % 3 === 0 ? i + 50_000 : i - 23 + salt);
      if (i % 5 === 0) p.fill(i & 0xff, 1000, 1100); // near-duplicates: PATCH against history
      recs.push({ block: 'pc.ram', offset: i * 4096, data: p });
    }
  }
  s.ramSection(3, recs);
  return saveImage(s.device('cpu', Buffer.alloc(300, 9)).eof().build());
}

function encode(img: Buffer, baseline?: string): { mig: Buffer; src: string } {
  const src = tmpFile(img, 'src.img');
  const out = tmpPath('x.mig');
  const summary = writeAtomically(out, (sink) => encodeImage(src, sink, { frameRaw: 16 << 10, threads: 1, baseline }));
  if (summary.frames < 8) throw new Error(`only ${summary.frames} frames`);
  return { mig: fs.readFileSync(out), src };
}

const resumedInput = (mig: Buffer, from: number) => tmpFile(Buffer.concat([mig.subarray(0, HEADER_SIZE), mig.subarray(from)]), 'resumed.mig');

test('an input cut mid-stream resumes from the last complete frame, twice, to the identical image', (t) => {
  const base = tmpFile(save(300, 30, 'linear'), 'base.img');
  const img = save(300, 30, 'shifted');
  const { mig } = encode(img, base);
  const dir = tmpPath('ckpt');
  const out = tmpPath('decoded.img');
  const acks: number[] = [];
  const opts = (resume: boolean) => ({ baseline: base, threads: 1, resumable: { dir, id: 'm1', resume, onCheckpoint: (c: { frame: number }) => acks.push(c.frame) } });

  const cut1 = Math.floor(mig.length * 0.4) + 3;
  const e1 = t.throws(() => decodeImage(tmpFile(mig.subarray(0, cut1), 'cut1.mig'), out, opts(false)), { instanceOf: MigError });
  t.true(e1!.data.truncated === true, e1!.message);
  t.false(fs.existsSync(out), 'nothing under the final name');
  const cp1 = loadCheckpoint(dir)!;
  t.truthy(cp1);
  t.true(cp1.frame >= 1 && cp1.pos > HEADER_SIZE && cp1.pos <= cut1, `checkpoint at frame ${cp1.frame}, offset ${cp1.pos} (cut at ${cut1})`);
  t.is(acks[acks.length - 1], cp1.frame);

  // The resumed input is cut again, further on.
  const cut2 = Math.floor(mig.length * 0.75);
  const part = Buffer.concat([mig.subarray(0, HEADER_SIZE), mig.subarray(cp1.pos, cut2)]);
  t.throws(() => decodeImage(tmpFile(part, 'cut2.mig'), out, opts(true)), { message: /input ends|runs past the end/ });
  const cp2 = loadCheckpoint(dir)!;
  t.true(cp2.frame > cp1.frame && cp2.pos <= cut2, `second checkpoint at frame ${cp2.frame}`);

  const s = decodeImage(resumedInput(mig, cp2.pos), out, opts(true));
  t.true(fs.readFileSync(out).equals(img), 'byte-identical after two interruptions');
  t.is(s.imageBytes, img.length);
  t.false(fs.existsSync(dir), 'the checkpoint dir is gone after success');
});

test('damage in the resumed part fails the decode and drops the state; another id or stream is refused', (t) => {
  const img = save(300, 3);
  const { mig } = encode(img);
  const dir = tmpPath('ckpt');
  const out = tmpPath('decoded.img');
  const cut = Math.floor(mig.length / 2);
  t.throws(() => decodeImage(tmpFile(mig.subarray(0, cut), 'cut.mig'), out, { threads: 1, resumable: { dir, id: 'a' } }));
  const cp = loadCheckpoint(dir)!;
  t.truthy(cp);

  // Another id: refused, and the state is of no use to anyone after that.
  t.throws(() => decodeImage(resumedInput(mig, cp.pos), out, { threads: 1, resumable: { dir, id: 'b', resume: true } }), { message: /another stream/ });
  t.false(fs.existsSync(dir));

  // Again, then a flipped byte after the checkpoint: a checksum error, no output, no state kept.
  t.throws(() => decodeImage(tmpFile(mig.subarray(0, cut), 'cut.mig'), out, { threads: 1, resumable: { dir, id: 'a' } }));
  const cp2 = loadCheckpoint(dir)!;
  const bad = Buffer.from(mig);
  bad[cp2.pos + 40] ^= 0x55;
  t.throws(() => decodeImage(resumedInput(bad, cp2.pos), out, { threads: 1, resumable: { dir, id: 'a', resume: true } }), { message: /checksum|corrupt|MIG/i });
  t.false(fs.existsSync(out));
  t.false(fs.existsSync(dir));

  // A different stream (other image) under the same id: its header differs, refused.
  t.throws(() => decodeImage(tmpFile(mig.subarray(0, cut), 'cut.mig'), out, { threads: 1, resumable: { dir, id: 'a' } }));
  const other = encode(save(301, 3)).mig;
  t.throws(() => decodeImage(resumedInput(other, loadCheckpoint(dir)!.pos), out, { threads: 1, resumable: { dir, id: 'a', resume: true } }), { message: /another stream/ });
});

test('a checkpoint whose sizes do not match its files is not used', (t) => {
  const img = save(300, 5);
  const { mig } = encode(img);
  const dir = tmpPath('ckpt');
  t.throws(() => decodeImage(tmpFile(mig.subarray(0, mig.length >> 1), 'cut.mig'), tmpPath('o.img'), { threads: 1, resumable: { dir, id: 'x' } }));
  t.truthy(loadCheckpoint(dir));
  fs.truncateSync(`${dir}/image`, 100);
  t.is(loadCheckpoint(dir), undefined, 'image shorter than bytesWritten');
  t.throws(() => decodeImage(resumedInput(mig, HEADER_SIZE), tmpPath('o.img'), { threads: 1, resumable: { dir, id: 'x', resume: true } }), { message: /no usable checkpoint/ });
});
