import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildContext, writeContext } from '../../../src/context/build.js';
import { encodeImage, EncodeOptions } from '../../../src/codec/encode.js';
import { decodeImage } from '../../../src/codec/decode.js';
import { anchors, AnchorTable } from '../../../src/codec/fingerprint.js';
import { MigError } from '../../../src/util/errors.js';
import { encodeFrameHeader, FRAME_HEADER_SIZE, FrameType, HEADER_SIZE } from '../../../src/codec/container.js';
import { entropyCompress, entropyDecompress } from '../../../src/codec/entropy.js';
import { Op, OpReader } from '../../../src/codec/ops.js';
import { writeAtomically } from '../../../src/util/sink.js';
import { page, saveImage, StreamBuilder } from '../../helpers/stream-writer.js';
import { tmpFile, tmpPath } from '../../helpers/tmp.js';

/** Pseudo-random bytes (no whole-page match, nothing for the entropy stage). */
function bytes(seed: number, n: number): Buffer {
  return Buffer.concat(Array.from({ length: Math.ceil(n / 4096) }, (_, i) => page(seed * 7919 + i))).subarray(0, n);
}

function saveOf(contents: Buffer[]): Buffer {
  const s = new StreamBuilder().header().ramStart([{ idstr: 'pc.ram', length: contents.length * 4096 }]);
  s.ramSection(3, contents.map((d, i) => ({ block: 'pc.ram', offset: i * 4096, data: d })));
  return saveImage(s.eof().build());
}

function roundTrip(image: Buffer, opts: EncodeOptions = {}) {
  const src = tmpFile(image, 'src.img');
  const mig = tmpPath('out.mig');
  const summary = writeAtomically(mig, (sink) => encodeImage(src, sink, opts));
  const out = tmpPath('decoded.img');
  decodeImage(mig, out, { baseline: opts.baseline, context: opts.context });
  return { summary, same: fs.readFileSync(out).equals(image), mig };
}

test('anchors are content-defined: the same content gives the same anchors at any offset', (t) => {
  const data = bytes(1, 8192);
  const shifted = Buffer.concat([Buffer.from('some other prefix bytes'), data]);
  const pa = new Int32Array(4096);
  const ha = new Uint32Array(4096);
  const pb = new Int32Array(4096);
  const hb = new Uint32Array(4096);
  const na = anchors(data, 0, data.length, 5, pa, ha);
  const nb = anchors(shifted, 0, shifted.length, 5, pb, hb);
  t.true(na > 100 && na < 600, `${na} anchors in 8 KiB at 1/32`);
  const a = new Set(Array.from(pa.subarray(0, na), (p, i) => `${p}:${ha[i]}`));
  let same = 0;
  for (let i = 0; i < nb; i++) if (a.has(`${pb[i] - 23}:${hb[i]}`)) same++;
  t.is(same, na, 'every anchor of the data reappears 23 bytes later in the shifted copy');
  const table = new AnchorTable(1 << 16);
  table.put(ha[0], 42);
  t.is(table.get(ha[0]), 42);
  t.is(table.get((ha[0] ^ 1) >>> 0), -1);
});

test('context: an unaligned copy of a file in a guest page is covered by context ranges', async (t) => {
  const file = bytes(2, 5 * 4096);
  const dir = tmpPath('ctxsrc');
  fs.mkdirSync(path.join(dir, 'usr'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'usr', 'lib.so'), file);
  const ctx = tmpPath('sub.ctx');
  writeContext(await buildContext(dir, { include: ['usr/**'] }), ctx);
  // A heap object holding the file at a 48-byte offset: no page equals a context page.
  const heap = Buffer.concat([bytes(3, 48), file, bytes(4, 4096 - 48)]);
  const contents = Array.from({ length: 6 }, (_, i) => heap.subarray(i * 4096, i * 4096 + 4096));
  const img = saveOf(contents);
  const r = roundTrip(img, { context: ctx });
  t.true(r.same);
  const tech = r.summary.techniques;
  t.is(tech.context.pages, 5, 'every page holding more than the last 48 bytes of the file');
  t.true(tech.context.bytesIn >= file.length - 200, `${tech.context.bytesIn} bytes from the context`);
  const off = roundTrip(img, { context: ctx, subpage: false });
  t.true(off.same);
  t.is(off.summary.techniques.context.pages, 0);
  t.true(r.summary.outputBytes < off.summary.outputBytes / 3, `${r.summary.outputBytes} vs ${off.summary.outputBytes}`);
});

test('history: a page repeating parts of earlier pages at other offsets is covered by earlier slots', (t) => {
  const a = bytes(5, 4096);
  const b = bytes(6, 4096);
  // Page 2: 1000 new bytes, then a[0..1500), then b[2000..3596): matches from two earlier slots.
  const mixed = Buffer.concat([bytes(7, 1000), a.subarray(0, 1500), b.subarray(2000, 3596)]);
  const img = saveOf([a, b, mixed, bytes(8, 4096)]);
  const r = roundTrip(img);
  t.true(r.same);
  t.is(r.summary.techniques.history.pages, 1);
  t.true(r.summary.techniques.history.bytesIn >= 3000, `${r.summary.techniques.history.bytesIn}`);
  t.is(r.summary.techniques.literal.pages, 3);
});

test('baseline: small edits of the same frame and content moved to another frame and offset', (t) => {
  const before = Array.from({ length: 8 }, (_, i) => bytes(20 + i, 4096));
  const after: Buffer[] = before.map((p) => Buffer.from(p));
  after[1][100] ^= 0xff; // a few changed bytes in place
  after[1].write('changed!', 3000);
  after[2] = Buffer.concat([bytes(40, 600), before[5].subarray(0, 3496)]); // moved by 600 bytes
  after[5] = bytes(41, 4096); // new
  const base = tmpFile(saveOf(before), 'base.img');
  const img = saveOf(after);
  const r = roundTrip(img, { baseline: base });
  t.true(r.same);
  const tech = r.summary.techniques;
  t.is(tech.baseline.pages, 5 + 2, '5 unchanged pages, 2 sub-page deltas');
  t.is(tech.literal.pages, 1);
  t.true(tech.literal.bytesIn < 4096 + 600 + 40, `${tech.literal.bytesIn} literal bytes`);
  // The wrong baseline is refused by digest before anything is written.
  const other = tmpFile(saveOf(after), 'other.img');
  const err = t.throws(() => decodeImage(r.mig, tmpPath('never.img'), { baseline: other }), { instanceOf: MigError });
  t.is(err?.code, 'MIG_WRONG_BASELINE');
});

/** The first DATA frame's op stream, and a function that re-seals a .mig around a replacement. */
function firstFrameOps(mig: Buffer) {
  const at = HEADER_SIZE;
  const payload = mig.subarray(at + FRAME_HEADER_SIZE, at + FRAME_HEADER_SIZE + mig.readUInt32LE(at + 8));
  const opsRaw = payload.readUInt32LE(0);
  const opsCoded = payload.readUInt32LE(4);
  const ops = entropyDecompress('deflate', payload.subarray(16, 16 + opsCoded), opsRaw);
  const reseal = (newOps: Buffer) => {
    const coded = Buffer.from(entropyCompress('deflate', 1, newOps));
    const prefix = Buffer.from(payload.subarray(0, 16));
    prefix.writeUInt32LE(newOps.length, 0);
    prefix.writeUInt32LE(coded.length, 4);
    const body = Buffer.concat([prefix, coded, payload.subarray(16 + opsCoded)]);
    const fh = encodeFrameHeader(FrameType.DATA, 0, newOps.length + payload.readUInt32LE(8) + 16, body);
    return Buffer.concat([mig.subarray(0, at), fh, body, mig.subarray(at + FRAME_HEADER_SIZE + payload.length)]);
  };
  return { ops: Buffer.from(ops), reseal };
}

test('PATCH ops are checked behind the checksums: every op-stream mutation decodes exactly or fails cleanly', (t) => {
  const a = bytes(9, 4096);
  const img = saveOf([a, Buffer.concat([bytes(10, 100), a.subarray(0, 3996)]), Buffer.concat([a.subarray(1000, 3000), bytes(11, 2096)])]);
  const r = roundTrip(img, { frameRaw: 1 << 20, codec: 'deflate', level: 1 });
  t.true(r.same);
  t.is(r.summary.techniques.history.pages, 2);
  const { ops, reseal } = firstFrameOps(fs.readFileSync(r.mig));
  t.true(ops.includes(Op.PATCH));
  // The untouched op stream re-sealed decodes: the harness itself is right.
  const out0 = tmpPath('resealed.img');
  decodeImage(tmpFile(reseal(ops), 'resealed.mig'), out0);
  t.true(fs.readFileSync(out0).equals(img));
  // Mutate the bytes of the PATCH ops only (the structure bytes around them are not what is tested here).
  const patchBytes: number[] = [];
  const rd = new OpReader(ops, (off, what) => new Error(`${off}: ${what}`));
  while (!rd.done) {
    const at = rd.pos;
    const op = rd.u8();
    if (op === Op.BYTES) rd.bytes(rd.varint());
    else if (op === Op.ZERO || op === Op.DUP) rd.varint();
    else if (op === Op.PATCH) {
      for (let n = rd.varint(); n > 0; n--) {
        rd.varint();
        if (rd.varint() === 0) continue;
        const src = rd.u8();
        rd.varint();
        if (src === 1 || src === 3) rd.varint();
      }
      for (let i = at; i < rd.pos; i++) patchBytes.push(i);
    } else if (op !== Op.LIT) throw new Error(`unexpected op ${op}`);
  }
  t.true(patchBytes.length >= 10, `${patchBytes.length} PATCH bytes`);
  const messages = new Set<string>();
  let failed = 0;
  for (const i of patchBytes) {
    for (const v of [0, 1, 0x7f, 0x80, 0xff, ops[i] + 1]) {
      const bad = Buffer.from(ops);
      bad[i] = v & 0xff;
      if (bad.equals(ops)) continue;
      const out = tmpPath('fuzz.img');
      try {
        // threads: 1 — a synchronous loop never yields, so worker pools it created could not be reaped.
        decodeImage(tmpFile(reseal(bad), 'fuzz.mig'), out, { threads: 1 });
        t.true(fs.readFileSync(out).equals(img), `op byte ${i} = ${v} decoded to different bytes`);
      } catch (e) {
        if (!(e instanceof MigError)) t.fail(`op byte ${i} = ${v}: ${(e as Error).stack}`);
        t.false(fs.existsSync(out));
        messages.add((e as Error).message.replace(/.*op stream byte \d+: /, '').replace(/\d+/g, 'N'));
        failed++;
      }
    }
  }
  t.true(failed > patchBytes.length, `${failed} failures`);
  t.true([...messages].some((m) => /PATCH/.test(m)), [...messages].join('\n'));
});
