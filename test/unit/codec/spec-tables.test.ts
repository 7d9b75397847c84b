/**
 * docs/format/mig-v1.md against the code: the magic numbers, sizes, codes and field offsets in the
 * spec's tables are parsed from the markdown and checked against the constants the codec uses and
 * against what its header/frame writers and readers actually do at those offsets (style.md §12).
 * A change to either side that the other does not follow fails here.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CorruptFrameError, decodeFrameHeader, decodeHeader, encodeFrameHeader, encodeHeader, END_PAYLOAD_SIZE, Flag, FRAME_HEADER_SIZE, FrameType,
  HEADER_SIZE, MAX_FRAME_RAW, MAX_IMAGE_BYTES, MIG_MAGIC, MIG_VERSION, type MigHeader, xxh3_64,
} from '../../../src/codec/container.js';
import { CODEC_IDS } from '../../../src/codec/entropy.js';
import { ByteWriter, Op, OpReader, zigzag } from '../../../src/codec/ops.js';
import { Src } from '../../../src/codec/subpage.js';
import { encodeImage } from '../../../src/codec/encode.js';
import { PAGE_SIZE } from '../../../src/mem/physical-memory.js';
import { writeAtomically } from '../../../src/util/sink.js';
import type { ImageFormat } from '../../../src/image/types.js';
import { frames } from '../../helpers/golden.js';
import { page } from '../../helpers/stream-writer.js';
import { tmpFile, tmpPath } from '../../helpers/tmp.js';

const SPEC = fs.readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../docs/format/mig-v1.md'), 'utf8');

/** The text under a heading (`### Header`), up to the next heading of the same or a higher level. */
function section(heading: string): string {
  const lines = SPEC.split('\n');
  const start = lines.findIndex((l) => l.trim() === heading || l.startsWith(heading + ' '));
  if (start < 0) throw new Error(`mig-v1.md has no heading "${heading}"`);
  const level = heading.indexOf(' ');
  let end = start + 1;
  while (end < lines.length && !(/^#+ /.test(lines[end]) && lines[end].indexOf(' ') <= level)) end++;
  return lines.slice(start, end).join('\n');
}

const cells = (line: string) => line.split('|').slice(1, -1).map((c) => c.trim());

/** The tables of a section: header cells and rows of trimmed cells (the separator row dropped). */
function tables(text: string): { head: string[]; rows: string[][] }[] {
  const out: { head: string[]; rows: string[][] }[] = [];
  let cur: { head: string[]; rows: string[][] } | undefined;
  let sep = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith('|')) {
      cur = undefined;
      continue;
    }
    if (!cur) {
      cur = { head: cells(line), rows: [] };
      out.push(cur);
      sep = true;
    } else if (sep) sep = false;
    else cur.rows.push(cells(line));
  }
  return out;
}

/** The first table of a section, or the one whose header starts with `head`. */
function table(text: string, head?: string): string[][] {
  const t = tables(text).find((x) => head === undefined || x.head[0] === head);
  if (!t) throw new Error(`no table${head ? ` headed "${head}"` : ''}`);
  return t.rows;
}

/** A size cell: `u8`, `u16`, `u32`, `u64`, `u8 + u16`, or a byte count. */
function sizeOf(cell: string): number {
  return cell.split('+').reduce((n, part) => {
    const p = part.trim();
    const m = /^u(8|16|32|64)$/.exec(p);
    if (m) return n + Number(m[1]) / 8;
    if (/^\d+$/.test(p)) return n + Number(p);
    throw new Error(`size cell "${cell}"`);
  }, 0);
}

interface Field { offset: number; size: number; field: string; check: string }
function fields(heading: string): Field[] {
  return table(section(heading)).map(([offset, size, field, check]) => ({ offset: Number(offset), size: sizeOf(size), field, check: check ?? '' }));
}
/** The row whose field cell matches. */
function row(rows: Field[], match: RegExp): Field {
  const r = rows.filter((x) => match.test(x.field));
  if (r.length !== 1) throw new Error(`${r.length} rows match ${match}`);
  return r[0];
}
/** Read an unsigned field of the spec's size at its offset. */
function read(b: Buffer, f: Field, bytes = false): number | bigint | Buffer {
  if (bytes) return b.subarray(f.offset, f.offset + f.size);
  switch (f.size) {
    case 1: return b[f.offset];
    case 2: return b.readUInt16LE(f.offset);
    case 4: return b.readUInt32LE(f.offset);
    case 8: return b.readBigUInt64LE(f.offset);
    default: return b.subarray(f.offset, f.offset + f.size);
  }
}
/** The `N name, N name` pairs of a cell (`1 zstd, 2 deflate (raw …)`; parentheses are comments). */
function codes(cell: string): Map<string, number> {
  return new Map([...cell.replace(/\([^)]*\)/g, '').matchAll(/(\d+) ([a-z][a-z-]*)/g)].map((m) => [m[2], Number(m[1])]));
}

const HEADER = fields('### Header');
const FRAME = fields('### Frame header');
const END = fields('### END frame payload');

const sample: MigHeader = {
  sourceFormat: 'qemu-stream', codec: 'deflate', flags: Flag.CONTEXT | Flag.BASELINE | Flag.FREE_DROPPED, pageSize: 4096, imageBytes: 0x1234567000, slots: 0x1234560,
  contextDigest: Buffer.alloc(32, 0xc1), baselineDigest: Buffer.alloc(32, 0xb2), frameRawLimit: 0x401000,
};

/** decodeHeader's refusal of a header changed by `edit` (checksum re-sealed): the offset it names. */
function headerRefusedAt(edit: (b: Buffer) => void): number {
  const b = encodeHeader(sample);
  edit(b);
  b.writeBigUInt64LE(xxh3_64(b.subarray(0, 104)), 104);
  try {
    decodeHeader(b, 'spec.mig');
  } catch (e) {
    if (e instanceof CorruptFrameError) return e.data.offset as number;
    throw e;
  }
  return -1;
}

test('file layout: header, frame header and END sizes', (t) => {
  const layout = table(section('## File layout'));
  const size = (part: RegExp) => layout.find((r) => part.test(r[0]))![1];
  t.is(size(/^Header/), `${HEADER_SIZE} bytes`);
  t.regex(size(/^DATA/), new RegExp(`^${FRAME_HEADER_SIZE}-byte frame header`));
  t.is(size(/^END/), `${FRAME_HEADER_SIZE} + ${END_PAYLOAD_SIZE} bytes`);
  t.regex(SPEC, new RegExp(`^# The \\.mig format, version ${MIG_VERSION}$`, 'm'));
  t.regex(section('### Frame header'), new RegExp(`^### Frame header \\(${FRAME_HEADER_SIZE} bytes\\)`));
  t.regex(section('### END frame payload'), new RegExp(`^### END frame payload \\(${END_PAYLOAD_SIZE} bytes`));
});

test('header, frame header and END tables tile their structures without gaps', (t) => {
  for (const [name, rows, size] of [['header', HEADER, HEADER_SIZE], ['frame header', FRAME, FRAME_HEADER_SIZE], ['END payload', END, END_PAYLOAD_SIZE]] as const) {
    let at = 0;
    for (const r of rows) {
      t.is(r.offset, at, `${name}: ${r.field} at ${r.offset}, previous field ends at ${at}`);
      at = r.offset + r.size;
    }
    t.is(at, size, `${name}: fields end at ${at}`);
  }
});

test('header fields: the encoder writes each at the spec offset and size', (t) => {
  const b = encodeHeader(sample);
  t.deepEqual(read(b, row(HEADER, /^magic/), true), MIG_MAGIC);
  t.is(row(HEADER, /^magic/).field, `magic \`${MIG_MAGIC.toString('latin1')}\``);
  t.is(read(b, row(HEADER, /^version/)), MIG_VERSION);
  t.is(row(HEADER, /^version/).field, `version = ${MIG_VERSION}`);
  t.is(read(b, row(HEADER, /^header length/)), HEADER_SIZE);
  t.is(row(HEADER, /^header length/).field, `header length = ${HEADER_SIZE}`);
  t.is(read(b, row(HEADER, /^flags/)), sample.flags);
  t.is(read(b, row(HEADER, /^page size/)), PAGE_SIZE);
  t.is(row(HEADER, /^page size/).field, `page size = ${PAGE_SIZE}`);
  t.is(read(b, row(HEADER, /^image bytes/)), BigInt(sample.imageBytes));
  t.is(read(b, row(HEADER, /^page slots/)), BigInt(sample.slots));
  t.deepEqual(read(b, row(HEADER, /^context digest/)), sample.contextDigest);
  t.deepEqual(read(b, row(HEADER, /^baseline digest/)), sample.baselineDigest);
  t.is(read(b, row(HEADER, /^frame raw limit/)), sample.frameRawLimit);
  t.is(read(b, row(HEADER, /^reserved/)), 0);
  const sum = row(HEADER, /^xxh3-64 of bytes/);
  const [, from, to] = /bytes (\d+)–(\d+)/.exec(sum.field)!.map(Number);
  t.is(read(b, sum), xxh3_64(b.subarray(from, to + 1)));
  t.is(to + 1, sum.offset, 'the checksum covers everything before it');
});

test('header codes: source formats, entropy codecs and flag bits', (t) => {
  const fmt = row(HEADER, /^source format/);
  const formats = codes(fmt.field);
  t.deepEqual([...formats.keys()].sort(), ['elf-dump', 'libvirt-save', 'qemu-stream', 'raw']);
  for (const [name, id] of formats) {
    const b = encodeHeader({ ...sample, sourceFormat: name as ImageFormat });
    t.is(read(b, fmt), id, name);
    t.is(decodeHeader(b, 'spec.mig').sourceFormat as string, name);
  }
  const codec = row(HEADER, /^entropy codec/);
  t.deepEqual(Object.fromEntries(codes(codec.field)), CODEC_IDS);
  for (const [name, id] of Object.entries(CODEC_IDS)) t.is(read(encodeHeader({ ...sample, codec: name as 'zstd' }), codec), id);
  const flags = row(HEADER, /^flags/).field;
  const bit = (what: string) => Number(new RegExp(`bit (\\d+) ${what}`).exec(flags)![1]);
  t.is(Number(Flag.CONTEXT), 1 << bit('context used'));
  t.is(Number(Flag.BASELINE), 1 << bit('baseline used'));
  t.is(Number(Flag.FREE_DROPPED), 1 << bit('free pages dropped'));
  const [, lo, hi] = /bits (\d+)–(\d+) reserved/.exec(flags)!.map(Number);
  t.is(lo, Object.keys(Flag).length);
  for (let b = lo; b <= hi; b++) t.is(headerRefusedAt((h) => h.writeUInt16LE(sample.flags | (1 << b), 10)), row(HEADER, /^flags/).offset, `reserved flag bit ${b}`);
});

test('header checks: each refusal names the offset of its field', (t) => {
  const at = (re: RegExp) => row(HEADER, re).offset;
  t.is(headerRefusedAt((b) => (b[0] ^= 1)), at(/^magic/));
  t.is(headerRefusedAt((b) => b.writeUInt16LE(MIG_VERSION + 1, 4)), at(/^version/));
  t.is(headerRefusedAt((b) => b.writeUInt16LE(HEADER_SIZE + 8, 6)), at(/^header length/));
  t.is(headerRefusedAt((b) => (b[8] = 0)), at(/^source format/));
  t.is(headerRefusedAt((b) => (b[9] = 0)), at(/^entropy codec/));
  t.is(headerRefusedAt((b) => b.writeUInt32LE(8192, 12)), at(/^page size/));
  // Image bytes: the format's limit, written 2^N in the check column.
  const limit = 2 ** Number(/≤ 2\^(\d+)/.exec(row(HEADER, /^image bytes/).check)![1]);
  t.is(limit, MAX_IMAGE_BYTES);
  t.is(headerRefusedAt((b) => b.writeBigUInt64LE(BigInt(limit) + 1n, 16)), at(/^image bytes/));
  t.is(headerRefusedAt((b) => { b.writeBigUInt64LE(BigInt(limit), 16); b.writeBigUInt64LE(0n, 24); }), -1, 'the limit itself is accepted');
  t.is(headerRefusedAt((b) => b.writeBigUInt64LE(b.readBigUInt64LE(16) / 4096n + 1n, 24)), at(/^page slots/));
  // Frame raw limit: "4112 … 64 MiB".
  const [, lo, hi] = /(\d+) … (\d+) MiB/.exec(row(HEADER, /^frame raw limit/).check)!.map(Number);
  t.is(lo, PAGE_SIZE + 16, 'one page and the 16-byte stream prefix');
  t.is(hi * 2 ** 20, MAX_FRAME_RAW);
  t.is(headerRefusedAt((b) => b.writeUInt32LE(lo, 96)), -1);
  t.is(headerRefusedAt((b) => b.writeUInt32LE(hi * 2 ** 20, 96)), -1);
  t.is(headerRefusedAt((b) => b.writeUInt32LE(lo - 1, 96)), at(/^frame raw limit/));
  t.is(headerRefusedAt((b) => b.writeUInt32LE(hi * 2 ** 20 + 1, 96)), at(/^frame raw limit/));
  t.is(headerRefusedAt((b) => b.writeUInt32LE(1, 100)), at(/^reserved/));
  // A digest whose flag is clear must be zero (errata 1).
  t.regex(row(HEADER, /^context digest/).check, /zero when flag 0 is clear/);
  t.regex(row(HEADER, /^baseline digest/).check, /zero when flag 1 is clear/);
  t.is(headerRefusedAt((b) => b.writeUInt16LE(Flag.BASELINE, 10)), at(/^context digest/));
  t.is(headerRefusedAt((b) => b.writeUInt16LE(Flag.CONTEXT, 10)), at(/^baseline digest/));
  t.is(headerRefusedAt((b) => { b.writeUInt16LE(0, 10); b.fill(0, 32, 96); }), -1, 'both unused and zero');
  const bad = encodeHeader(sample);
  bad[20] ^= 1;
  const err = t.throws(() => decodeHeader(bad, 'spec.mig'), { instanceOf: CorruptFrameError });
  t.is(err?.data.offset, row(HEADER, /^xxh3-64/).offset, 'checksum mismatch');
});

test('frame header: types, fields and the checks at their offsets', (t) => {
  const type = row(FRAME, /^type/);
  t.deepEqual(Object.fromEntries(codes(type.field.replace(/(\d+) ([A-Z]+)/g, (_m, n, s) => `${n} ${s.toLowerCase()}`))), { data: FrameType.DATA, end: FrameType.END });
  const coded = Buffer.from('payload');
  const b = encodeFrameHeader(FrameType.DATA, 7, 5000, coded);
  t.is(read(b, type), FrameType.DATA);
  t.is(read(b, row(FRAME, /^raw length/)), 5000);
  t.is(read(b, row(FRAME, /^coded length/)), coded.length);
  t.is(read(b, row(FRAME, /^frame index/)), 7);
  t.is(read(b, row(FRAME, /^xxh3-64 of the payload/)), xxh3_64(coded));
  t.deepEqual(read(b, row(FRAME, /^reserved/), true), Buffer.alloc(3));
  t.regex(row(FRAME, /^raw length/).check, new RegExp(`END: ${END_PAYLOAD_SIZE}$`));
  const h = { ...sample, frameRawLimit: 1 << 20 };
  const refusedAt = (edit: (x: Buffer) => void, index = 7) => {
    const x = Buffer.from(b);
    edit(x);
    try {
      decodeFrameHeader(x, 'spec.mig', 1000, h, index);
    } catch (e) {
      if (e instanceof CorruptFrameError) return (e.data.offset as number) - 1000;
      throw e;
    }
    return -1;
  };
  t.is(refusedAt(() => undefined), -1);
  t.is(refusedAt((x) => (x[0] = 3)), type.offset);
  t.is(refusedAt((x) => (x[1] = 1)), row(FRAME, /^reserved/).offset);
  t.is(refusedAt((x) => (x[3] = 1)), row(FRAME, /^reserved/).offset);
  t.is(refusedAt((x) => x.writeUInt32LE((1 << 20) + 1, 4)), row(FRAME, /^raw length/).offset, 'past the header limit');
  t.is(refusedAt((x) => { x[0] = FrameType.END; x.writeUInt32LE(END_PAYLOAD_SIZE + 1, 4); }), row(FRAME, /^raw length/).offset, 'END raw length');
  t.is(refusedAt(() => undefined, 8), row(FRAME, /^frame index/).offset);
  // END: raw and coded length 56 (errata 2).
  t.regex(row(FRAME, /^coded length/).check, new RegExp(`END: ${END_PAYLOAD_SIZE}$`));
  const endAt = (coded: number) => refusedAt((x) => { x[0] = FrameType.END; x.writeUInt32LE(END_PAYLOAD_SIZE, 4); x.writeUInt32LE(coded, 8); });
  t.is(endAt(END_PAYLOAD_SIZE), -1);
  t.is(endAt(END_PAYLOAD_SIZE + 1), row(FRAME, /^coded length/).offset);
  t.is(endAt(0), row(FRAME, /^coded length/).offset);
  // Coded length bound, as the spec writes it: raw + raw/8 + 1024.
  t.is(row(FRAME, /^coded length/).check.split(',')[0], '≤ raw + raw/8 + 1024');
  t.is(refusedAt((x) => x.writeUInt32LE(5000 + Math.floor(5000 / 8) + 1024, 8)), -1);
  t.is(refusedAt((x) => x.writeUInt32LE(5000 + Math.floor(5000 / 8) + 1025, 8)), row(FRAME, /^coded length/).offset);
});

test('DATA payload prefix and END payload fields, read from an encoded file by the spec', (t) => {
  const img = Buffer.concat([page(1), Buffer.alloc(4096), page(2), page(1), page(3)]);
  const src = tmpFile(img, 'spec.img');
  const out = tmpPath('spec.mig');
  writeAtomically(out, (sink) => encodeImage(src, sink, { threads: 1, frameRaw: 8192 }));
  const m = fs.readFileSync(out);
  const f = frames(m);
  t.true(f.length >= 3);
  const prefix = table(section('### DATA frame payload')).map((r) => r[1]);
  t.deepEqual(prefix.slice(0, 4), ['ops raw length', 'ops coded length', 'literals raw length', 'literals coded length']);
  t.deepEqual(table(section('### DATA frame payload')).slice(0, 4).map((r) => sizeOf(r[0])), [4, 4, 4, 4]);
  for (const fr of f.slice(0, -1)) {
    const p = m.subarray(fr.payloadAt);
    const [opsRaw, opsCoded, litRaw, litCoded] = [0, 4, 8, 12].map((o) => p.readUInt32LE(o));
    t.is(16 + opsRaw + litRaw, fr.rawLength, '16 + ops raw + literals raw = frame raw length');
    t.is(16 + opsCoded + litCoded, fr.codedLength, '16 + both coded lengths = coded length');
  }
  const end = f[f.length - 1];
  t.is(end.type, FrameType.END);
  t.is(end.index, f.length - 1);
  const e = m.subarray(end.payloadAt, end.payloadAt + END_PAYLOAD_SIZE);
  t.is(read(e, row(END, /^image bytes/)), BigInt(img.length));
  t.is(read(e, row(END, /^page slots/)), 5n);
  t.is(read(e, row(END, /^number of DATA frames/)), f.length - 1);
  t.is(read(e, row(END, /^reserved/)), 0);
  t.deepEqual(read(e, row(END, /^SHA-256/)), createHash('sha256').update(img).digest());
  t.is(end.payloadAt + END_PAYLOAD_SIZE, m.length, 'nothing follows the END frame');
});

test('ops and PATCH sources: names and codes', (t) => {
  const ops = table(section('### Ops')).map(([name, code]) => [name, Number(code)] as const);
  t.deepEqual(Object.fromEntries(ops), Op);
  const sources = table(section('#### PATCH'), 'source').map(([name, code]) => [name, Number(code)] as const);
  t.deepEqual(Object.fromEntries(sources), Src);
});

test('conventions: LEB128 varints of at most 8 bytes, zigzag', (t) => {
  const w = new ByteWriter(16);
  w.varint(300);
  t.deepEqual([...w.takeView()], [0xac, 0x02], '7 bits per byte, low groups first');
  w.varint(2 ** 53 - 1);
  t.is(w.takeView().length, 8, 'a 53-bit value takes 8 bytes');
  const nine = Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
  t.throws(() => new OpReader(nine, (_o, what) => new Error(what)).varint(), { message: /longer than 8 bytes/ });
  t.regex(SPEC, /`zigzag\(v\)` = 2v for v ≥ 0, −2v − 1 for v < 0/);
  t.deepEqual([0, 1, -1, 2, -2].map(zigzag), [0, 2, 1, 4, 3]);
});
