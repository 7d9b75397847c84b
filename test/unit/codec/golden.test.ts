/**
 * The golden .mig corpus (test/golden; docs/format/mig-v1.md, "Golden files"): files made by an
 * earlier encoder must decode to the same image forever, and damaged ones must be refused with the
 * same error code at the same offset. The committed files are the reference; this test never
 * regenerates them (test/helpers/make-golden.ts does, by hand, when the format changes).
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeImage } from '../../../src/codec/decode.js';
import { MigError } from '../../../src/util/errors.js';
import { ALL_OP_KINDS, GOLDEN_DIR, type GoldenErr, type GoldenOk, opKinds } from '../../helpers/golden.js';
import { tmpPath } from '../../helpers/tmp.js';

const list = (dir: string) => fs.readdirSync(path.join(GOLDEN_DIR, dir)).filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -5)).sort();
const read = <T>(rel: string): T => JSON.parse(fs.readFileSync(path.join(GOLDEN_DIR, rel), 'utf8')) as T;
const input = (rel?: string) => (rel === undefined ? undefined : path.join(GOLDEN_DIR, rel));
const OK = list('ok');
const ERR = list('err');

test('the corpus is there, small, and every .mig has its expectation', (t) => {
  t.true(OK.length >= 8, `${OK.length} ok files`);
  t.true(ERR.length >= 50, `${ERR.length} err files`);
  for (const dir of ['ok', 'err']) {
    const migs = fs.readdirSync(path.join(GOLDEN_DIR, dir)).filter((n) => n.endsWith('.mig')).map((n) => n.slice(0, -4)).sort();
    t.deepEqual(migs, list(dir), `${dir}: one .json per .mig`);
  }
  const bytes = ['ok', 'err', 'inputs'].flatMap((d) => fs.readdirSync(path.join(GOLDEN_DIR, d)).map((n) => fs.statSync(path.join(GOLDEN_DIR, d, n)).size));
  t.true(bytes.reduce((a, b) => a + b, 0) < 512 * 1024, 'well under 1 MB');
});

test('the ok files hold every op kind and PATCH source of the format, each in one file or more', (t) => {
  const seen = new Set(OK.flatMap((n) => read<GoldenOk>(`ok/${n}.json`).ops));
  t.deepEqual([...seen].sort(), ALL_OP_KINDS);
  const flags = new Set(OK.flatMap((n) => read<GoldenOk>(`ok/${n}.json`).flags));
  t.deepEqual([...flags].sort(), ['baseline', 'context', 'free-dropped']);
  t.deepEqual([...new Set(OK.map((n) => read<GoldenOk>(`ok/${n}.json`).format))].sort(), ['elf-dump', 'libvirt-save', 'qemu-stream', 'raw']);
  t.deepEqual([...new Set(OK.map((n) => read<GoldenOk>(`ok/${n}.json`).codec))].sort(), ['deflate', 'zstd']);
});

for (const name of OK) {
  test(`ok/${name}.mig decodes to the recorded image`, (t) => {
    const want = read<GoldenOk>(`ok/${name}.json`);
    const mig = path.join(GOLDEN_DIR, 'ok', `${name}.mig`);
    t.deepEqual(opKinds(fs.readFileSync(mig)), want.ops, 'the file holds the ops its .json lists');
    const out = tmpPath(`${name}.img`);
    const s = decodeImage(mig, out, { baseline: input(want.baseline), context: input(want.context), threads: 1 });
    const image = fs.readFileSync(out);
    t.is(s.format, want.format);
    t.is(image.length, want.imageBytes);
    t.is(s.slots, want.slots);
    t.is(s.frames, want.frames);
    t.is(createHash('sha256').update(image).digest('hex'), want.sha256);
    fs.rmSync(out);
  });
}

for (const name of ERR) {
  test(`err/${name}.mig is refused with the recorded code and offset`, (t) => {
    const want = read<GoldenErr>(`err/${name}.json`);
    const out = tmpPath(`${name}.img`);
    const err = t.throws(() => decodeImage(path.join(GOLDEN_DIR, 'err', `${name}.mig`), out, { baseline: input(want.baseline), context: input(want.context), threads: 1 }),
      { instanceOf: MigError });
    t.is(err?.code, want.code, err?.message);
    t.is((err?.data.offset as number | undefined) ?? null, want.offset, err?.message);
    t.is(err?.data.truncated === true, want.truncated === true, err?.message);
    t.false(fs.existsSync(out), 'no output');
    t.deepEqual(fs.readdirSync(path.dirname(out)).filter((f) => f.includes(path.basename(out))), [], 'no temp file left');
  });
}
