/**
 * The .mig decoder (src/codec/decode.ts), without and with a baseline and a context. Seeds are small
 * images encoded by the codec's own encoder in 16 KiB frames (zstd and deflate; raw, stream and ELF
 * images; zero, duplicate, literal, baseline, context and sub-page PATCH ops). The mutator knows the
 * container: it edits header fields and re-seals the header's xxh3, edits frame headers, the DATA
 * payload's stream lengths, the coded streams, the END frame, and, above all, the op streams:
 * decompressed, parsed into ops, edited (operands set to boundary values, ops changed, dropped,
 * doubled, swapped, PATCH segments edited), re-compressed and re-sealed, so the damage reaches the
 * op interpreter behind every checksum.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeImage } from '../../../src/codec/decode.js';
import { encodeImage } from '../../../src/codec/encode.js';
import { FRAME_HEADER_SIZE, FrameType, HEADER_SIZE, MAX_FRAME_RAW, xxh3_64 } from '../../../src/codec/container.js';
import { CODEC_BY_ID, entropyCompress, entropyDecompress, type CodecName } from '../../../src/codec/entropy.js';
import { layOut, writeContext } from '../../../src/context/build.js';
import { PageMap, PageTypeCode } from '../../../src/introspect/pagemap.js';
import { PAGE_SIZE } from '../../../src/mem/physical-memory.js';
import { BufferSink } from '../../../src/util/sink.js';
import { buildElfCore } from '../../helpers/elf-writer.js';
import { SPEC64 } from '../../helpers/elf-fixtures.js';
import { page, StreamBuilder } from '../../helpers/stream-writer.js';
import { Field, interestingValue, mutateField, readField, truncate, writeField } from '../mutate.js';
import type { Rng } from '../rng.js';
import { ExecEnv, ExecNote, FuzzCase, FuzzOracleError, Params, pickSeed, Seed, Target } from '../target.js';

// ---- resources: a baseline image and a context (deterministic bytes) -------------------------------

/** A compressible page: a 64-byte motif repeated with a counter (anchors exist, zstd shrinks it). */
function textPage(seed: number): Buffer {
  const p = Buffer.alloc(PAGE_SIZE);
  const motif = page(seed).subarray(0, 64);
  for (let i = 0; i < PAGE_SIZE; i += 64) {
    motif.copy(p, i);
    p.writeUInt16LE(i, i);
  }
  return p;
}

const BASELINE_PAGES = 16;
const baselinePage = (i: number) => (i % 5 === 4 ? Buffer.alloc(PAGE_SIZE) : page(1000 + i));
const ctxFileA = () => Buffer.concat([Buffer.from('\x7fELF', 'latin1'), page(2000).subarray(4), page(2001), page(2002)]);
const ctxFileB = () => Buffer.concat([page(2100), page(2101).subarray(0, 2000)]);

export function migResources(dir: string): Record<string, string> {
  fs.mkdirSync(dir, { recursive: true });
  const baseline = path.join(dir, 'baseline.raw');
  fs.writeFileSync(baseline, Buffer.concat(Array.from({ length: BASELINE_PAGES }, (_, i) => baselinePage(i))));
  const context = path.join(dir, 'context.ctx');
  const f = (p: string, data: Buffer, elf = false) => ({ pathBytes: Buffer.from(p), data, elf });
  const r = layOut([f('usr/bin/a', ctxFileA(), true), f('usr/lib/b.so', ctxFileB()), f('etc/empty', Buffer.alloc(0))]);
  if (!fs.existsSync(context)) writeContext({ ...r, source: 'fuzz', sourceKind: 'directory', defaults: 'linux', skipped: [], elapsedMs: 0 }, context);
  return { baseline, context };
}

// ---- seeds ----------------------------------------------------------------------------------

function encode(image: Buffer, dir: string, name: string, opts: Parameters<typeof encodeImage>[2]): Buffer {
  const file = path.join(dir, name);
  fs.writeFileSync(file, image);
  const sink = new BufferSink();
  encodeImage(file, sink, { threads: 1, frameRaw: 16384, ...opts });
  return sink.toBuffer();
}

/** A raw image of compressible, zero, duplicate and random pages. */
function plainImage(): Buffer {
  const p: Buffer[] = [];
  for (let i = 0; i < 14; i++) p.push(i % 4 === 1 ? Buffer.alloc(PAGE_SIZE) : i % 6 === 5 ? p[0] : i === 7 ? page(7) : textPage(i));
  return Buffer.concat(p);
}

/** A raw image made of the baseline and the context: BASE/BASE_RUN, CTX/CTX_RUN, and PATCH from every source. */
function refImage(): Buffer {
  const b = (i: number) => Buffer.from(baselinePage(i));
  const ctx = Buffer.concat([ctxFileA(), Buffer.alloc(PAGE_SIZE - (ctxFileA().length % PAGE_SIZE))]);
  const lit = page(3000);
  const pages: Buffer[] = [
    b(0), b(1), b(2), b(3), // BASE_RUN
    b(9), // BASE elsewhere
    (() => { const x = b(5); x.fill(0x77, 100, 110); x.fill(0x11, 3000, 3004); return x; })(), // baseline delta
    ctx.subarray(0, PAGE_SIZE), ctx.subarray(PAGE_SIZE, 2 * PAGE_SIZE), // CTX
    ctx.subarray(700, 700 + PAGE_SIZE), // CONTEXT segments
    lit, // LIT
    Buffer.concat([lit.subarray(512), page(3001).subarray(0, 512)]), // HISTORY segments
    Buffer.alloc(PAGE_SIZE), // ZERO
    Buffer.from(lit), // DUP
    Buffer.concat([b(7).subarray(1000), page(3002).subarray(0, 1000)]), // BASELINE_AT
    textPage(3003),
  ];
  return Buffer.concat(pages);
}

function streamImage(): Buffer {
  const s = new StreamBuilder().header({}).ramStart([{ idstr: 'pc.ram', length: 8 * PAGE_SIZE }, { idstr: 'pc.bios', length: PAGE_SIZE }]);
  s.ramSection(3, [
    { block: 'pc.ram', offset: 0, data: textPage(1) },
    { block: 'pc.ram', offset: PAGE_SIZE, fill: 0 },
    { block: 'pc.ram', offset: 2 * PAGE_SIZE, data: textPage(2) },
    { block: 'pc.bios', offset: 0, data: textPage(1) },
    { block: 'pc.ram', offset: 3 * PAGE_SIZE, data: Buffer.alloc(PAGE_SIZE) },
  ]);
  s.device('timer', Buffer.alloc(24, 3));
  s.eof();
  return s.build();
}

// ---- the container, parsed ---------------------------------------------------------------------

interface Seg { lit: bigint; len: bigint; src: number; args: bigint[] }
interface MOp { code: number; args: bigint[]; bytes?: Buffer; segs?: Seg[] }
interface MFrame { type: number; hdr: Buffer; payload: Buffer }
interface MigSeedExtra { codec: CodecName; header: Buffer; frames: MFrame[] }

function parseMig(m: Buffer): MigSeedExtra {
  const header = Buffer.from(m.subarray(0, HEADER_SIZE));
  const frames: MFrame[] = [];
  for (let at = HEADER_SIZE; at < m.length;) {
    const hdr = Buffer.from(m.subarray(at, at + FRAME_HEADER_SIZE));
    const coded = hdr.readUInt32LE(8);
    frames.push({ type: hdr[0], hdr, payload: Buffer.from(m.subarray(at + FRAME_HEADER_SIZE, at + FRAME_HEADER_SIZE + coded)) });
    at += FRAME_HEADER_SIZE + coded;
  }
  return { codec: CODEC_BY_ID[header[9]]!, header, frames };
}

class OpIn {
  pos = 0;
  constructor(readonly b: Buffer) {}
  get done() { return this.pos >= this.b.length; }
  u8() { if (this.pos >= this.b.length) throw new Error('end'); return this.b[this.pos++]; }
  varint(): bigint {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const x = this.u8();
      v |= BigInt(x & 0x7f) << shift;
      if (x < 0x80) return v;
      shift += 7n;
    }
  }
}

/** Parse an op stream (valid: from the encoder). */
function parseOps(b: Buffer): MOp[] {
  const r = new OpIn(b);
  const ops: MOp[] = [];
  while (!r.done) {
    const code = r.u8();
    switch (code) {
      case 0x01: { const n = r.varint(); ops.push({ code, args: [n], bytes: Buffer.from(b.subarray(r.pos, r.pos + Number(n))) }); r.pos += Number(n); break; }
      case 0x03: ops.push({ code, args: [] }); break;
      case 0x09: {
        const nseg = r.varint();
        const segs: Seg[] = [];
        for (let i = 0n; i < nseg; i++) {
          const lit = r.varint();
          const len = r.varint();
          if (len === 0n) { segs.push({ lit, len, src: -1, args: [] }); continue; }
          const src = r.u8();
          const args = src === 1 || src === 3 ? [r.varint(), r.varint()] : [r.varint()];
          segs.push({ lit, len, src, args });
        }
        ops.push({ code, args: [nseg], segs });
        break;
      }
      default: ops.push({ code, args: [r.varint()] });
    }
  }
  return ops;
}

function varint(v: bigint, out: number[]): void {
  let x = v < 0n ? -v : v;
  while (x >= 0x80n) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
}

function serializeOps(ops: MOp[]): Buffer {
  const out: number[] = [];
  const parts: Buffer[] = [];
  const flush = () => { parts.push(Buffer.from(out)); out.length = 0; };
  for (const op of ops) {
    out.push(op.code & 0xff);
    for (const a of op.args) varint(a, out);
    if (op.bytes) { flush(); parts.push(op.bytes); }
    for (const s of op.segs ?? []) {
      varint(s.lit, out);
      varint(s.len, out);
      if (s.len !== 0n || s.src >= 0) {
        if (s.src >= 0) out.push(s.src & 0xff);
        for (const a of s.args) varint(a, out);
      }
    }
  }
  flush();
  return Buffer.concat(parts);
}

const OPERAND_VALUES = [0n, 1n, 2n, 3n, 4n, 7n, 8n, 15n, 16n, 63n, 64n, 127n, 128n, 4095n, 4096n, 4097n, 8191n, 8192n, 0xffffn, 0x7fffffffn, 0xffffffffn,
  0x100000000n, 1n << 30n, 1n << 42n, (1n << 53n) - 1n, 1n << 53n, (1n << 56n) - 1n, 1n << 56n, (1n << 63n), (1n << 64n) - 1n];

function operand(rng: Rng, cur: bigint): bigint {
  return rng.weighted<() => bigint>([
    [5, () => rng.pick(OPERAND_VALUES)],
    [3, () => cur + BigInt(rng.range(1, 8))],
    [3, () => (cur > 0n ? cur - BigInt(rng.range(1, Math.min(8, Number(cur)))) : 0n)],
    [2, () => cur * 2n + BigInt(rng.int(2))], // zigzag: the sign flips with the low bit
    [1, () => cur ^ 1n],
  ])();
}

function randomOp(rng: Rng): MOp {
  const code = rng.weighted<number>([[9, rng.range(1, 9)], [1, rng.pick([0, 10, 11, 0x7f, 0x80, 0xff])]]);
  if (code === 0x01) { const n = rng.pick([0, 1, 16, 4096]); return { code, args: [BigInt(n)], bytes: rng.bytes(n) }; }
  if (code === 0x03) return { code, args: [] };
  if (code === 0x09) {
    const segs: Seg[] = [{ lit: BigInt(rng.pick([0, 4096, 100])), len: BigInt(rng.pick([0, 3996, 4096])), src: rng.range(0, 4), args: [BigInt(rng.int(4)), BigInt(rng.int(4096))] }];
    return { code, args: [1n], segs };
  }
  return { code, args: [rng.pick(OPERAND_VALUES.slice(0, 12))] };
}

/** Edit an op list in place; returns what was done. */
function mutateOps(ops: MOp[], rng: Rng): string {
  const kind = rng.weighted<string>([[8, 'operand'], [3, 'segment'], [2, 'code'], [2, 'delete'], [2, 'dup'], [1, 'swap'], [2, 'insert'], [1, 'truncate']]);
  if (!ops.length) { ops.push(randomOp(rng)); return 'insert into empty op stream'; }
  const i = rng.int(ops.length);
  const op = ops[i];
  switch (kind) {
    case 'operand': {
      if (!op.args.length) { ops[i] = randomOp(rng); return `op ${i}: LIT replaced by 0x${ops[i].code.toString(16)}`; }
      const k = rng.int(op.args.length);
      const v = operand(rng, op.args[k]);
      const was = op.args[k];
      op.args[k] = v;
      return `op ${i} (0x${op.code.toString(16)}) operand ${k}: ${was} -> ${v}`;
    }
    case 'segment': {
      const patches = ops.map((o, j) => [o, j] as const).filter(([o]) => o.segs?.length);
      if (!patches.length) return mutateOps(ops, rng);
      const [p, j] = rng.pick(patches);
      const s = rng.int(p.segs!.length);
      const seg = p.segs![s];
      const what = rng.weighted<string>([[3, 'lit'], [3, 'len'], [2, 'src'], [3, 'arg'], [1, 'drop'], [1, 'dup'], [1, 'nseg']]);
      if (what === 'lit') seg.lit = operand(rng, seg.lit);
      else if (what === 'len') seg.len = operand(rng, seg.len);
      else if (what === 'src') { seg.src = rng.pick([0, 1, 2, 3, 4, 0xff]); if (seg.args.length < 2) seg.args.push(BigInt(rng.int(64))); }
      else if (what === 'arg' && seg.args.length) { const k = rng.int(seg.args.length); seg.args[k] = operand(rng, seg.args[k]); }
      else if (what === 'drop') p.segs!.splice(s, 1);
      else if (what === 'dup') p.segs!.splice(s, 0, { ...seg, args: [...seg.args] });
      else p.args[0] = operand(rng, p.args[0]);
      if (what === 'drop' || what === 'dup') p.args[0] = BigInt(p.segs!.length);
      return `op ${j} PATCH segment ${s}: ${what}`;
    }
    case 'code': {
      const was = op.code;
      op.code = rng.weighted<number>([[8, rng.range(1, 9)], [1, rng.pick([0, 10, 0xff])]]);
      return `op ${i}: code 0x${was.toString(16)} -> 0x${op.code.toString(16)}`;
    }
    case 'delete':
      ops.splice(i, 1);
      return `op ${i} deleted`;
    case 'dup':
      ops.splice(i, 0, structuredClone(op));
      return `op ${i} doubled`;
    case 'swap': {
      const j = rng.int(ops.length);
      [ops[i], ops[j]] = [ops[j], ops[i]];
      return `ops ${i},${j} swapped`;
    }
    case 'insert': {
      const o = randomOp(rng);
      ops.splice(i, 0, o);
      return `op 0x${o.code.toString(16)} inserted at ${i}`;
    }
    default:
      ops.length = i;
      return `op stream cut after ${i} ops`;
  }
}

/** Rebuild a DATA frame from its two raw streams, re-compressed and re-sealed (optionally with a coded-stream edit). */
function dataFrame(codec: CodecName, index: number, opsRaw: Buffer, litRaw: Buffer, codedEdit?: (ops: Buffer) => Buffer): MFrame {
  let opsCoded: Buffer = Buffer.from(entropyCompress(codec, 1, opsRaw));
  if (codedEdit) opsCoded = codedEdit(opsCoded);
  const litCoded = litRaw.length ? Buffer.from(entropyCompress(codec, 1, litRaw)) : Buffer.alloc(0);
  const prefix = Buffer.alloc(16);
  prefix.writeUInt32LE(opsRaw.length, 0);
  prefix.writeUInt32LE(opsCoded.length, 4);
  prefix.writeUInt32LE(litRaw.length, 8);
  prefix.writeUInt32LE(litCoded.length, 12);
  const payload = Buffer.concat([prefix, opsCoded, litCoded]);
  const hdr = Buffer.alloc(FRAME_HEADER_SIZE);
  hdr[0] = FrameType.DATA;
  hdr.writeUInt32LE(16 + opsRaw.length + litRaw.length, 4);
  hdr.writeUInt32LE(payload.length, 8);
  hdr.writeUInt32LE(index, 12);
  hdr.writeBigUInt64LE(xxh3_64(payload), 16);
  return { type: FrameType.DATA, hdr, payload };
}

function streamsOf(codec: CodecName, f: MFrame): { ops: Buffer; lits: Buffer } {
  const p = f.payload;
  const opsRaw = p.readUInt32LE(0);
  const opsCoded = p.readUInt32LE(4);
  const litRaw = p.readUInt32LE(8);
  return {
    ops: entropyDecompress(codec, p.subarray(16, 16 + opsCoded), opsRaw),
    lits: litRaw ? entropyDecompress(codec, p.subarray(16 + opsCoded), litRaw) : Buffer.alloc(0),
  };
}

const reseal = (f: MFrame) => f.hdr.writeBigUInt64LE(xxh3_64(f.payload), 16);
const resealHeader = (h: Buffer) => h.writeBigUInt64LE(xxh3_64(h.subarray(0, 104)), 104);

const HEADER_FIELDS: Field[] = [
  { off: 4, size: 2, name: 'version' }, { off: 6, size: 2, name: 'header length' }, { off: 8, size: 1, name: 'source format' }, { off: 9, size: 1, name: 'codec' },
  { off: 10, size: 2, name: 'flags' }, { off: 12, size: 4, name: 'page size' }, { off: 16, size: 8, name: 'image bytes' }, { off: 24, size: 8, name: 'page slots' },
  { off: 32, size: 8, name: 'context digest' }, { off: 64, size: 8, name: 'baseline digest' }, { off: 96, size: 4, name: 'frame raw limit' }, { off: 100, size: 4, name: 'reserved' },
];
const FRAME_FIELDS: Field[] = [
  { off: 0, size: 1, name: 'type' }, { off: 1, size: 1, name: 'reserved u8' }, { off: 2, size: 2, name: 'reserved u16' }, { off: 4, size: 4, name: 'raw length' },
  { off: 8, size: 4, name: 'coded length' }, { off: 12, size: 4, name: 'index' }, { off: 16, size: 8, name: 'checksum' },
];
const PREFIX_FIELDS: Field[] = [0, 4, 8, 12].map((off, i) => ({ off, size: 4, name: ['ops raw', 'ops coded', 'literals raw', 'literals coded'][i] }));
const END_FIELDS: Field[] = [{ off: 0, size: 8, name: 'END image bytes' }, { off: 8, size: 8, name: 'END page slots' }, { off: 16, size: 4, name: 'END frames' }, { off: 20, size: 4, name: 'END reserved' }, { off: 24, size: 8, name: 'END sha256' }];

/** Edits of a coded zstd/deflate stream that keep the frame consistent around it. */
function codedEdit(rng: Rng, codec: CodecName): [string, (b: Buffer) => Buffer] {
  const skippable = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4]);
  return rng.pick<[string, (b: Buffer) => Buffer]>([
    ['second frame appended', (b) => Buffer.concat([b, b])],
    ['skippable frame appended', (b) => Buffer.concat([b, skippable])],
    ['trailing byte', (b) => Buffer.concat([b, Buffer.from([0])])],
    ['last byte cut', (b) => b.subarray(0, Math.max(0, b.length - 1))],
    ['header byte edited', (b) => { const c = Buffer.from(b); if (c.length) c[rng.int(Math.min(c.length, codec === 'zstd' ? 14 : 4))] ^= 1 << rng.int(8); return c; }],
    ['byte flipped', (b) => { const c = Buffer.from(b); if (c.length) c[rng.int(c.length)] ^= 1 << rng.int(8); return c; }],
    ['declared size changed', (b) => { const c = Buffer.from(b); if (codec === 'zstd' && c.length > 6) c.writeUInt8((c[5] + 1) & 0xff, 5); return c; }],
  ]);
}

function serialize(x: MigSeedExtra): Buffer {
  return Buffer.concat([x.header, ...x.frames.flatMap((f) => [f.hdr, f.payload])]);
}

/** Offsets where each part of the .mig starts (truncation points). */
function boundariesOf(x: MigSeedExtra): number[] {
  const out = [0, 4, 16, 104, HEADER_SIZE];
  let at = HEADER_SIZE;
  for (const f of x.frames) {
    out.push(at, at + 12, at + FRAME_HEADER_SIZE, at + FRAME_HEADER_SIZE + 16, at + FRAME_HEADER_SIZE + f.payload.length - 1);
    at += FRAME_HEADER_SIZE + f.payload.length;
  }
  out.push(at);
  return out;
}

function mutateMig(seed: Seed, rng: Rng): { bytes: Buffer; desc: string[] } {
  const src = seed.extra as MigSeedExtra;
  const x: MigSeedExtra = { codec: src.codec, header: Buffer.from(src.header), frames: src.frames.map((f) => ({ type: f.type, hdr: Buffer.from(f.hdr), payload: f.payload })) };
  const desc: string[] = [];
  const data = () => x.frames.map((f, i) => [f, i] as const).filter(([f]) => f.type === FrameType.DATA);
  const n = rng.weighted([[6, 1], [3, 2], [1, 3]]);
  for (let k = 0; k < n; k++) {
    const kind = rng.weighted<string>([[12, 'ops'], [3, 'lits'], [4, 'header'], [4, 'frame'], [2, 'prefix'], [2, 'coded'], [2, 'end'], [2, 'frames'], [1, 'flip']]);
    const frames = data();
    if ((kind === 'ops' || kind === 'lits' || kind === 'prefix' || kind === 'coded') && !frames.length) continue;
    // A frame an earlier edit of this case already broke (its streams no longer decode or parse) is left as it is.
    try {
    switch (kind) {
      case 'ops': {
        const [f, i] = rng.pick(frames);
        const { ops, lits } = streamsOf(x.codec, f);
        const parsed = parseOps(ops);
        const d: string[] = [];
        for (let j = rng.weighted([[6, 1], [2, 2], [1, 3]]); j > 0; j--) d.push(mutateOps(parsed, rng));
        x.frames[i] = dataFrame(x.codec, f.hdr.readUInt32LE(12), serializeOps(parsed), lits);
        desc.push(`frame ${i}: ${d.join('; ')}`);
        break;
      }
      case 'lits': {
        const [f, i] = rng.pick(frames);
        const { ops, lits } = streamsOf(x.codec, f);
        const edit = rng.pick<[string, (b: Buffer) => Buffer]>([
          ['literal page dropped', (b) => b.subarray(0, Math.max(0, b.length - PAGE_SIZE))],
          ['literal page added', (b) => Buffer.concat([b, Buffer.alloc(PAGE_SIZE, 0x42)])],
          ['literal byte added', (b) => Buffer.concat([b, Buffer.from([1])])],
          ['literal byte dropped', (b) => b.subarray(0, Math.max(0, b.length - 1))],
          ['literals emptied', () => Buffer.alloc(0)],
        ]);
        x.frames[i] = dataFrame(x.codec, f.hdr.readUInt32LE(12), ops, edit[1](lits));
        desc.push(`frame ${i}: ${edit[0]}`);
        break;
      }
      case 'header': {
        if (rng.chance(0.3)) {
          // A consistent, larger image (slots and bytes grown together, re-sealed): runs and slot tables past the seed's size.
          const slots = BigInt(rng.pick([x.header.readUInt32LE(24) + 1, 1 << 16, 1 << 20, 1 << 30]));
          const extra = x.header.readBigUInt64LE(16) - x.header.readBigUInt64LE(24) * 4096n;
          x.header.writeBigUInt64LE(slots, 24);
          x.header.writeBigUInt64LE(slots * 4096n + extra, 16);
          resealHeader(x.header);
          desc.push(`header: image of ${slots} slots`);
          break;
        }
        const d = mutateField(x.header, HEADER_FIELDS, rng);
        if (rng.chance(0.9)) resealHeader(x.header);
        desc.push(`header ${d}`);
        break;
      }
      case 'frame': {
        const i = rng.int(x.frames.length);
        const d = mutateField(x.frames[i].hdr, FRAME_FIELDS, rng);
        desc.push(`frame ${i} header ${d}`);
        break;
      }
      case 'prefix': {
        const [f, i] = rng.pick(frames);
        f.payload = Buffer.from(f.payload);
        const d = mutateField(f.payload, PREFIX_FIELDS, rng);
        reseal(f);
        desc.push(`frame ${i} stream lengths ${d}`);
        break;
      }
      case 'coded': {
        const [f, i] = rng.pick(frames);
        const { ops, lits } = streamsOf(x.codec, f);
        const [what, edit] = codedEdit(rng, x.codec);
        x.frames[i] = dataFrame(x.codec, f.hdr.readUInt32LE(12), ops, lits, edit);
        desc.push(`frame ${i} coded op stream: ${what}`);
        break;
      }
      case 'end': {
        const i = x.frames.findIndex((f) => f.type === FrameType.END);
        if (i < 0) break;
        const f = x.frames[i];
        f.payload = Buffer.from(f.payload);
        const fld = rng.pick(END_FIELDS);
        const cur = readField(f.payload, fld);
        writeField(f.payload, fld, fld.name === 'END frames' && rng.chance(0.5) ? cur + 1n : interestingValue(rng, cur, fld.size, f.payload.length));
        reseal(f);
        desc.push(`END ${fld.name}`);
        break;
      }
      case 'frames': {
        const what = rng.pick(['drop', 'dup', 'swap', 'garbage', 'renumber']);
        const i = rng.int(x.frames.length);
        if (what === 'drop') x.frames.splice(i, 1);
        else if (what === 'dup') x.frames.splice(i, 0, x.frames[i]);
        else if (what === 'swap') { const j = rng.int(x.frames.length); [x.frames[i], x.frames[j]] = [x.frames[j], x.frames[i]]; }
        else if (what === 'garbage') x.frames.push({ type: 0, hdr: rng.bytes(rng.pick([1, 24])), payload: Buffer.alloc(0) });
        if (what === 'renumber' || rng.chance(0.5)) x.frames.forEach((f, j) => { f.hdr = Buffer.from(f.hdr); if (f.hdr.length >= 16) f.hdr.writeUInt32LE(j, 12); });
        desc.push(`frames: ${what} ${i}`);
        break;
      }
      default: {
        const b = serialize(x);
        const p = rng.int(b.length);
        b[p] ^= 1 << rng.int(8);
        desc.push(`bit flip @${p} (no re-seal)`);
        return finish(b, x, rng, desc);
      }
    }
    } catch {
      // see above
    }
  }
  return finish(serialize(x), x, rng, desc);
}

function finish(b: Buffer, x: MigSeedExtra, rng: Rng, desc: string[]): { bytes: Buffer; desc: string[] } {
  if (rng.chance(0.12)) {
    const t = truncate(b, boundariesOf(x), rng);
    return { bytes: t.bytes, desc: [...desc, t.desc] };
  }
  return { bytes: b, desc };
}

// ---- exec -----------------------------------------------------------------------------------

function decodeCase(p: string, params: Params, env: ExecEnv): ExecNote | void {
  const out = path.join(env.tmp, 'out.img');
  const refs = params.refs === true;
  const resumable = params.resumable === true ? { dir: path.join(env.tmp, 'ckpt'), id: 'fuzz' } : undefined;
  decodeImage(p, out, { threads: 1, baseline: refs ? env.resources.baseline : undefined, context: refs ? env.resources.context : undefined, resumable });
  if (!fs.existsSync(out)) throw new FuzzOracleError('decode returned but wrote no output');
}

/** The decoder holds two frames ahead (coded payload and raw streams) and a 4 MiB output buffer: 48 MiB + 5 × the header's frame limit. */
function decodeBudget(_bytes: number, _params: Params, head: Buffer): number {
  const limit = head.length >= 100 ? Math.min(head.readUInt32LE(96), MAX_FRAME_RAW) : 0;
  return (48 << 20) + 5 * limit;
}

async function migSeeds(res: Record<string, string>, refs: boolean): Promise<Seed[]> {
  const dir = path.join(path.dirname(res.baseline), refs ? 'seeds-ref' : 'seeds');
  fs.mkdirSync(dir, { recursive: true });
  const seeds: Seed[] = [];
  const add = (name: string, m: Buffer, params: Params = {}) => seeds.push({ name, bytes: m, params: { ...params, ...(refs ? { refs: true } : {}) }, extra: parseMig(m) });
  if (refs) {
    for (const codec of ['zstd', 'deflate'] as const) add(`raw image vs baseline + context, ${codec}`, encode(refImage(), dir, `ref-${codec}.raw`, { codec, baseline: res.baseline, context: res.context }));
    add('raw image vs baseline only, zstd', encode(refImage(), dir, 'ref-b.raw', { baseline: res.baseline }));
  } else {
    for (const codec of ['zstd', 'deflate'] as const) add(`raw image, ${codec}`, encode(plainImage(), dir, `plain-${codec}.raw`, { codec }));
    add('QEMU stream image, zstd', encode(streamImage(), dir, 'stream.img', {}));
    add('ELF64 dump, deflate', encode(buildElfCore(SPEC64).bytes, dir, 'dump.elf', { codec: 'deflate' }));
    const map = new PageMap(new Uint8Array(14).fill(PageTypeCode.other));
    map.types.fill(PageTypeCode.free, 2, 6);
    add('raw image, free pages dropped', encode(plainImage(), dir, 'free.raw', { pageMap: map }));
    add('raw image, zstd, resumable decode', encode(plainImage(), dir, 'plain-r.raw', {}), { resumable: true });
  }
  // Seeds must decode as they are (a broken seed would make every case a refusal).
  return seeds;
}

function migTarget(name: string, about: string, refs: boolean): Target {
  return {
    name,
    about,
    fileName: 'in.mig',
    resources: (dir) => migResources(dir),
    seeds: (res) => migSeeds(res, refs),
    mutate(seed, rng, all): FuzzCase {
      const s = pickSeed(all, rng);
      const m = mutateMig(s, rng);
      return { bytes: m.bytes, params: { ...(s.params ?? {}) }, seed: s.name, desc: m.desc };
    },
    exec: decodeCase,
    budget: decodeBudget,
  };
}

export const migDecodeTarget = migTarget('mig-decode', '.mig decoder without baseline or context (raw, stream and ELF images; zstd and deflate; free pages dropped; resumable)', false);
export const migDecodeRefTarget = migTarget('mig-decode-ref', '.mig decoder with a baseline and a context (BASE, CTX and PATCH ops from every source)', true);

/** Digest of a seed, to check it decodes (used by the seed self-test). */
export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
