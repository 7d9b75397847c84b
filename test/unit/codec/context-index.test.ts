/**
 * The context's anchor table cached beside the CTX file (`<ctx>.anchors`): built and written on the
 * first encode, read on the next, and ignored (rebuilt, rewritten) when it is damaged, of another
 * context or unwritable — with byte-identical .mig output in every case.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildContext, writeContext } from '../../../src/context/build.js';
import { encodeImage } from '../../../src/codec/encode.js';
import { writeAtomically } from '../../../src/util/sink.js';
import { page } from '../../helpers/stream-writer.js';
import { tmpFile, tmpPath } from '../../helpers/tmp.js';

/** A context of a few "library" files and an image whose pages hold shifted pieces of them. */
async function fixture(): Promise<{ ctx: string; img: string }> {
  const tree = tmpPath('ctx-tree');
  fs.mkdirSync(path.join(tree, 'lib'), { recursive: true });
  const libs = Array.from({ length: 4 }, (_, i) => Buffer.concat(Array.from({ length: 16 }, (_, j) => page(i * 100 + j))));
  libs.forEach((b, i) => fs.writeFileSync(path.join(tree, 'lib', `l${i}.so`), b));
  const ctx = tmpPath('c.ctx');
  writeContext(await buildContext(tree, { include: ['lib/**'] }), ctx);
  // Pages made of context bytes at offsets that are not page-aligned (sub-page matches).
  const pages = Array.from({ length: 32 }, (_, k) => {
    const src = libs[k % 4];
    const at = 1000 + k * 37;
    return Buffer.from(src.subarray(at, at + 4096));
  });
  return { ctx, img: tmpFile(Buffer.concat(pages), 'img.raw') };
}

function encode(img: string, ctx: string): { bytes: Buffer; index: string | undefined } {
  const out = tmpPath('x.mig');
  const s = writeAtomically(out, (sink) => encodeImage(img, sink, { context: ctx, threads: 1 }));
  return { bytes: fs.readFileSync(out), index: s.contextIndex };
}

test('built and written once, read after; damaged, foreign or unwritable caches change nothing in the output', async (t) => {
  const { ctx, img } = await fixture();
  const cache = `${ctx}.anchors`;
  const first = encode(img, ctx);
  t.is(first.index, 'built');
  t.true(fs.existsSync(cache));
  const second = encode(img, ctx);
  t.is(second.index, 'cache');
  t.true(second.bytes.equals(first.bytes));
  // A flipped byte in the table: the checksum refuses it; rebuilt and rewritten.
  const b = fs.readFileSync(cache);
  b[b.length - 100] ^= 0x40;
  fs.writeFileSync(cache, b);
  const damaged = encode(img, ctx);
  t.is(damaged.index, 'built');
  t.true(damaged.bytes.equals(first.bytes));
  t.is(encode(img, ctx).index, 'cache', 'rewritten');
  // Truncated, and another context's digest: ignored.
  fs.writeFileSync(cache, b.subarray(0, 200));
  t.is(encode(img, ctx).index, 'built');
  const h = fs.readFileSync(cache);
  h[40] ^= 1; // inside the digest
  fs.writeFileSync(cache, h);
  const foreign = encode(img, ctx);
  t.is(foreign.index, 'built');
  t.true(foreign.bytes.equals(first.bytes));
  // A directory where the cache would go: nothing written, the encode goes on.
  fs.rmSync(cache);
  fs.mkdirSync(cache);
  const blocked = encode(img, ctx);
  t.is(blocked.index, 'built');
  t.true(blocked.bytes.equals(first.bytes));
  t.true(fs.statSync(cache).isDirectory());
});
