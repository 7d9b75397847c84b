/**
 * The codec on the real small guest: every capture round-trips byte for byte, and the
 * repeated-migration pair with the previous image as baseline sends far fewer bytes.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodeImage } from '../../src/codec/encode.js';
import { decodeImage } from '../../src/codec/decode.js';
import { writeAtomically } from '../../src/util/sink.js';
import { loadGuest, VM_CACHE } from '../helpers/corpus.js';
import { sha256File } from '../helpers/compare.js';
import { tmpPath } from '../helpers/tmp.js';

const guest = loadGuest('mig-small');

function roundTrip(src: string, baseline?: string) {
  const mig = tmpPath('corpus.mig');
  const summary = writeAtomically(mig, (sink) => encodeImage(src, sink, { baseline }));
  const out = tmpPath('corpus.img');
  decodeImage(mig, out, { baseline });
  const same = sha256File(out) === sha256File(src);
  fs.rmSync(out);
  fs.rmSync(mig);
  return { summary, same };
}

for (const f of ['save1', 'dump'] as const) {
  test.serial(`${f}: encode → decode is byte-identical and smaller than the image`, (t) => {
    const r = roundTrip(guest.path(f));
    t.true(r.same);
    t.true(r.summary.ratio < 0.5, `ratio ${r.summary.ratio}`);
    t.true(r.summary.techniques.literal.pages > 0);
  });
}

test.serial('repeated migration: save2 against save1 as baseline', (t) => {
  const plain = roundTrip(guest.path('save2'));
  const withBase = roundTrip(guest.path('save2'), guest.path('save1'));
  t.true(plain.same);
  t.true(withBase.same);
  t.true(withBase.summary.techniques.baseline.pages > withBase.summary.slots / 2, `${withBase.summary.techniques.baseline.pages} baseline pages`);
  t.true(withBase.summary.outputBytes < plain.summary.outputBytes / 2, `${withBase.summary.outputBytes} vs ${plain.summary.outputBytes}`);
});

test.serial('context from the guest disk: page-cache and executable pages become references', async (t) => {
  const { buildContext, writeContext } = await import('../../src/context/build.js');
  const ctx = tmpPath('rootfs.ctx');
  writeContext(await buildContext(path.join(VM_CACHE, 'common', 'rootfs.ext4'), { include: ['usr/**', 'etc/**'] }), ctx);
  const src = guest.path('save1');
  const mig = tmpPath('ctx.mig');
  const withCtx = writeAtomically(mig, (sink) => encodeImage(src, sink, { context: ctx }));
  const out = tmpPath('ctx.img');
  decodeImage(mig, out, { context: ctx });
  t.is(sha256File(out), sha256File(src));
  fs.rmSync(out);
  const plain = roundTrip(src);
  t.true(withCtx.techniques.context.pages > 2000, `${withCtx.techniques.context.pages} context pages`);
  t.true(withCtx.outputBytes < plain.summary.outputBytes, `${withCtx.outputBytes} vs ${plain.summary.outputBytes}`);
  fs.rmSync(ctx);
});
