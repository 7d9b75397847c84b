import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildContext, writeContext } from '../../../src/context/build.js';
import { PageMap, PageTypeCode } from '../../../src/introspect/pagemap.js';
import { openImage } from '../../../src/image/probe.js';
import { encodeImage, EncodeOptions, prepareSources } from '../../../src/codec/encode.js';
import { decodeImage } from '../../../src/codec/decode.js';
import { MigError } from '../../../src/util/errors.js';
import { writeAtomically } from '../../../src/util/sink.js';
import { page, saveImage, StreamBuilder, PageRec } from '../../helpers/stream-writer.js';
import { buildElfCore, pages } from '../../helpers/elf-writer.js';
import { tmpFile, tmpPath } from '../../helpers/tmp.js';

/** A save image of `n` pages of pc.ram: content(i) per page (-1 = zero data page, null = ZERO record). */
function save(n: number, content: (i: number) => number | null): Buffer {
  const s = new StreamBuilder().header().ramStart([{ idstr: 'pc.ram', length: n * 4096 }, { idstr: 'pc.bios', length: 4096 }]);
  const recs: PageRec[] = [];
  for (let i = 0; i < n; i++) {
    const c = content(i);
    recs.push(c === null ? { block: 'pc.ram', offset: i * 4096 } : { block: 'pc.ram', offset: i * 4096, data: page(c) });
  }
  recs.push({ block: 'pc.bios', offset: 0, data: page(1) }); // device RAM equal to a guest page: a DUP
  s.ramSection(3, recs);
  return saveImage(s.device('cpu', Buffer.alloc(300, 9)).eof().build());
}

function roundTrip(image: Buffer, opts: EncodeOptions = {}, decodeBaseline?: string, decodeContext?: string) {
  const src = tmpFile(image, 'src.img');
  const mig = tmpPath('out.mig');
  const summary = writeAtomically(mig, (sink) => encodeImage(src, sink, opts));
  const out = tmpPath('decoded.img');
  decodeImage(mig, out, { baseline: decodeBaseline ?? opts.baseline, context: decodeContext });
  return { summary, same: fs.readFileSync(out).equals(image), mig, src };
}

test('save image: zero, duplicate, literal and structure round-trip', (t) => {
  const img = save(64, (i) => (i % 8 === 0 ? null : i % 8 === 1 ? -1 : i % 3 === 0 ? 3 : i));
  const r = roundTrip(img);
  t.true(r.same);
  const tech = r.summary.techniques;
  t.is(tech.zero.pages, 8, 'PAGE records with zero data');
  t.true(tech.duplicate.pages >= 10, `${tech.duplicate.pages} duplicates`);
  t.true(tech.literal.pages > 0);
  t.true(tech.structure.bytesIn > 4096);
  t.is(r.summary.slots, 64 - 8 + 1);
});

test('deflate codec and small frames (many frames) round-trip', (t) => {
  const img = save(200, (i) => i);
  const r = roundTrip(img, { codec: 'deflate', level: 1, frameRaw: 16384 });
  t.true(r.same);
  t.true(r.summary.frames > 40);
});

test('baseline: same-frame runs, moved pages, and new pages', (t) => {
  const before = save(100, (i) => i + 1000);
  // After: pages 0..59 unchanged, 60..69 moved (content of 80..89), 70..99 new.
  const after = save(100, (i) => (i < 60 ? i + 1000 : i < 70 ? i + 20 + 1000 : i + 5000));
  const base = tmpFile(before, 'base.img');
  const r = roundTrip(after, { baseline: base });
  t.true(r.same);
  t.is(r.summary.techniques.baseline.pages, 70);
  t.is(r.summary.techniques.literal.pages, 31, '30 new pages + pc.bios (device RAM is not in the baseline view)');
  const plain = roundTrip(after);
  t.true(r.summary.outputBytes < plain.summary.outputBytes / 2, `${r.summary.outputBytes} vs ${plain.summary.outputBytes}`);
});

test('baseline and context prepared before the image exists (mig migrate) give the same .mig', (t) => {
  const before = save(100, (i) => i + 1000);
  const after = save(100, (i) => (i < 60 ? i + 1000 : i < 70 ? i + 20 + 1000 : i + 5000));
  const base = tmpFile(before, 'base.img');
  const src = tmpFile(after, 'src.img');
  const plain = tmpPath('plain.mig');
  writeAtomically(plain, (sink) => encodeImage(src, sink, { baseline: base, threads: 1 }));
  const prepared = prepareSources({ baseline: base }, after.length);
  const early = tmpPath('early.mig');
  const s = writeAtomically(early, (sink) => encodeImage(src, sink, { prepared, threads: 1 }));
  t.is(s.techniques.baseline.pages, 70);
  t.true(fs.readFileSync(early).equals(fs.readFileSync(plain)), 'byte-identical to opening them with the image');
  const out = tmpPath('decoded.img');
  decodeImage(early, out, { baseline: base });
  t.true(fs.readFileSync(out).equals(after));
});

test('ELF dump and raw images round-trip', (t) => {
  const { bytes } = buildElfCore({ loads: [{ gpa: 0, data: Buffer.concat([pages(0, 6, 0x10), Buffer.alloc(8192), pages(0, 2, 0x10)]) }], cpus: [{ rip: 1n, cr3: 0x1000n }] });
  t.true(roundTrip(bytes).same);
  t.true(roundTrip(Buffer.concat([page(1), page(-1), page(1), page(2)])).same);
});

// ---- corrupt or mismatched input: clear error, no output file ----

function encoded(opts: EncodeOptions = {}) {
  const img = save(120, (i) => i);
  const src = tmpFile(img, 'src.img');
  const mig = tmpPath('x.mig');
  writeAtomically(mig, (sink) => encodeImage(src, sink, { frameRaw: 65536, ...opts }));
  return fs.readFileSync(mig);
}

function decodeFails(t: import('ava').ExecutionContext, mig: Buffer, match: RegExp, baseline?: string) {
  const path = tmpFile(mig, 'bad.mig');
  const out = tmpPath('never.img');
  const err = t.throws(() => decodeImage(path, out, { baseline }), { instanceOf: MigError });
  t.regex(err!.message, match);
  t.false(fs.existsSync(out), 'no output file');
  t.deepEqual(fs.readdirSync(tmpPath('..').replace(/\/[^/]*$/, '')).filter((f) => f.includes('never.img')), []);
}

test('flipped byte in a frame payload: checksum mismatch', (t) => {
  const m = encoded();
  m[112 + 24 + 40] ^= 0x40;
  decodeFails(t, m, /frame 0 checksum mismatch/);
});

test('truncated file: no END frame', (t) => {
  const m = encoded();
  decodeFails(t, m.subarray(0, m.length - 100), /runs past the end|no END frame/);
});

test('frames swapped: refused by frame index', (t) => {
  const m = encoded();
  // Locate frames 0 and 1 and swap them.
  const f0 = 112;
  const len0 = 24 + m.readUInt32LE(f0 + 8);
  const f1 = f0 + len0;
  const len1 = 24 + m.readUInt32LE(f1 + 8);
  const swapped = Buffer.concat([m.subarray(0, f0), m.subarray(f1, f1 + len1), m.subarray(f0, f0 + len0), m.subarray(f1 + len1)]);
  decodeFails(t, swapped, /frame 1 where frame 0 belongs/);
});

test('bad magic, bad header checksum', (t) => {
  const m = encoded();
  decodeFails(t, Buffer.concat([Buffer.from('NOPE'), m.subarray(4)]), /not a \.mig file/);
  const h = Buffer.from(m);
  h[20] ^= 1;
  decodeFails(t, h, /header checksum mismatch/);
});

test('missing or wrong baseline is refused before writing', (t) => {
  const before = tmpFile(save(120, (i) => i + 7), 'b.img');
  const m = encoded({ baseline: before });
  decodeFails(t, m, /pass it with --baseline/);
  decodeFails(t, m, /is not the baseline/, tmpFile(save(120, (i) => i + 8), 'other.img'));
});

test('random mutations: decode succeeds exactly or fails with a MigError, never crashes', (t) => {
  const m = encoded();
  const orig = save(120, (i) => i);
  let x = 99;
  const rnd = (n: number) => ((x = (x * 1103515245 + 12345) >>> 0) % n);
  let failed = 0;
  for (let i = 0; i < 150; i++) {
    const b = Buffer.from(m);
    for (let e = 0, n = 1 + rnd(3); e < n; e++) b[rnd(i % 3 === 0 ? 400 : b.length)] = rnd(256);
    const path = tmpFile(b, 'fuzz.mig');
    const out = tmpPath('fuzz.img');
    try {
      decodeImage(path, out);
      t.true(fs.readFileSync(out).equals(orig), `mutation ${i} decoded to different bytes`);
    } catch (e) {
      if (!(e instanceof MigError)) t.fail(`mutation ${i}: ${(e as Error).stack}`);
      t.false(fs.existsSync(out));
      failed++;
    }
  }
  t.true(failed > 100);
});

// ---- context: pages equal to the guest's files ----

async function makeContext(files: Record<string, Buffer>): Promise<string> {
  const dir = tmpPath('ctxsrc');
  for (const [name, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), data);
  }
  const ctx = tmpPath('test.ctx');
  writeContext(await buildContext(dir, { include: ['data/**'] }), ctx);
  return ctx;
}

test('context: runs of file pages, pages out of order, and a missing or wrong context', async (t) => {
  const fileA = Buffer.concat(Array.from({ length: 20 }, (_, i) => page(3000 + i)));
  const fileB = Buffer.concat([page(4000), page(4001), page(4002).subarray(0, 100)]); // partial last page
  const ctx = await makeContext({ 'data/a.bin': fileA, 'data/b.bin': fileB });
  const tailB = Buffer.concat([page(4002).subarray(0, 100), Buffer.alloc(4096 - 100)]);
  // Guest: a's pages 0..9 in order, b's pages (including the zero-padded tail), a's 15..11 reversed, new pages.
  const contents = [...Array.from({ length: 10 }, (_, i) => page(3000 + i)), page(4000), page(4001), tailB,
    ...[15, 14, 13, 12, 11].map((i) => page(3000 + i)), page(1), page(2)];
  const s = new StreamBuilder().header().ramStart([{ idstr: 'pc.ram', length: contents.length * 4096 }]);
  s.ramSection(3, contents.map((d, i) => ({ block: 'pc.ram', offset: i * 4096, data: d })));
  const img = saveImage(s.eof().build());
  const r = roundTrip(img, { context: ctx }, undefined, ctx);
  t.true(r.same);
  t.is(r.summary.techniques.context.pages, 18);
  t.is(r.summary.techniques.literal.pages, 2);
  decodeFails(t, fs.readFileSync(r.mig), /pass it with --context/);
  const other = await makeContext({ 'data/a.bin': fileB });
  const err = t.throws(() => decodeImage(r.mig, tmpPath('never2.img'), { context: other }), { instanceOf: MigError });
  t.is(err?.code, 'MIG_WRONG_CONTEXT');
});

test('output is identical for 1, 2 and 3 worker threads', (t) => {
  const img = tmpFile(save(300, (i) => (i % 5 === 0 ? null : i % 7)), 'threads.img');
  const outputs = [1, 2, 3].map((threads) => {
    const mig = tmpPath(`t${threads}.mig`);
    writeAtomically(mig, (sink) => encodeImage(img, sink, { threads, frameRaw: 32768 }));
    return fs.readFileSync(mig);
  });
  t.true(outputs[0].equals(outputs[1]));
  t.true(outputs[0].equals(outputs[2]));
  const out = tmpPath('t.img');
  decodeImage(tmpFile(outputs[1], 'two.mig'), out);
  t.true(fs.readFileSync(out).equals(fs.readFileSync(img)));
});

test('free pages: dropped by default with a page map (decoded as zeros, counted), kept with keep', (t) => {
  const n = 40;
  const img = save(n, (i) => i + 1);
  const types = new Uint8Array(n).fill(PageTypeCode.anon);
  for (const pfn of [3, 4, 5, 20]) types[pfn] = PageTypeCode.free;
  const pageMap = new PageMap(types);
  const src = tmpFile(img, 'free.img');
  const mig = tmpPath('free.mig');
  const s = writeAtomically(mig, (sink) => encodeImage(src, sink, { pageMap, threads: 2 }));
  t.is(s.freePagesDropped, 4);
  // The image's SHA-256: read and hashed by a worker (2 threads) or page by page (1): the same file.
  const one = tmpPath('free-1.mig');
  writeAtomically(one, (sink) => encodeImage(src, sink, { pageMap, threads: 1 }));
  t.true(fs.readFileSync(one).equals(fs.readFileSync(mig)), 'the same .mig with 1 and 2 threads');
  const out = tmpPath('free-out.img');
  decodeImage(mig, out);
  const dec = openImage(out);
  const orig = openImage(src);
  const a = Buffer.alloc(4096);
  const b = Buffer.alloc(4096);
  for (let pfn = 0; pfn < n; pfn++) {
    dec.memory.readPage(pfn, a);
    orig.memory.readPage(pfn, b);
    if (pageMap.isFree(pfn)) t.true(a.equals(Buffer.alloc(4096)), `free page ${pfn} decodes as zeros`);
    else t.true(a.equals(b), `page ${pfn} is unchanged`);
  }
  dec.close();
  orig.close();
  t.true(roundTrip(img, { pageMap, freePages: 'keep' }).same);
});
