/**
 * Regenerates the golden .mig corpus in test/golden (docs/format/mig-v1.md, "Golden files"):
 *
 *     npx tsc -p tsconfig.json && node dist/test/helpers/make-golden.js [--rewrite] [DIR]
 *
 * DIR defaults to test/golden. It builds small images in code (the fixture writers in test/helpers),
 * encodes them with today's encoder into ok/*.mig, decodes each and writes what it decodes to in
 * ok/*.json; then damages copies into err/*.mig, each with the error code and .mig offset the spec
 * says a decoder must give (err/*.json). Every expectation is checked against today's decoder
 * before it is written (a mismatch stops the script), and the ok files must cover every op kind and
 * PATCH source of the format. Files (and inputs) that exist are kept: adding a case writes only
 * the new ones. `--rewrite` makes everything again (only for a new format version).
 * The committed files are the reference: test/unit/codec/golden.test.ts only reads them.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeImage, type EncodeOptions } from '../../src/codec/encode.js';
import { decodeImage } from '../../src/codec/decode.js';
import { Flag, FRAME_HEADER_SIZE, HEADER_SIZE, xxh3_64 } from '../../src/codec/container.js';
import { entropyCompress } from '../../src/codec/entropy.js';
import { Op } from '../../src/codec/ops.js';
import { layOut, writeContext } from '../../src/context/build.js';
import { PageMap, PageTypeCode } from '../../src/introspect/pagemap.js';
import { MigError } from '../../src/util/errors.js';
import { writeAtomically } from '../../src/util/sink.js';
import { buildElfCore } from './elf-writer.js';
import {
  ALL_OP_KINDS, FrameInfo, frames, frameStreams, GOLDEN_DIR, GoldenErr, GoldenOk, opKinds, resealFrame, resealHeader, rewriteFrame,
} from './golden.js';
import { page, saveImage, StreamBuilder, type PageRec } from './stream-writer.js';

const PAGE = 4096;
const rewrite = process.argv.includes('--rewrite');
const out = path.resolve(process.argv.slice(2).find((a) => !a.startsWith('--')) ?? GOLDEN_DIR);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mig-golden-'));
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));

// ---- page contents ------------------------------------------------------------------------------

/** A text page (compresses well, so literal pages cost little in the corpus), distinct per seed. */
function text(seed: number): Buffer {
  let s = '';
  for (let i = 0; s.length < PAGE; i++) s += `golden ${seed} line ${i}\n`;
  return Buffer.from(s.slice(0, PAGE), 'latin1');
}
/** Pseudo-random page (stream-writer's page()): no sub-page match with anything but its own copies. */
const rnd = (seed: number) => page(seed);
const Z = Buffer.alloc(PAGE);
const cat = (...parts: Buffer[]) => Buffer.concat(parts);

/**
 * A libvirt save image (q35) of pc.ram pages and one pc.bios page. `null` is a ZERO record (structure,
 * no slot); `undefined` a page never sent.
 */
function save(ram: (Buffer | null | undefined)[], bios = text(9)): Buffer {
  const s = new StreamBuilder().header({ uuid: true }).ramStart([{ idstr: 'pc.ram', length: ram.length * PAGE }, { idstr: 'pc.bios', length: PAGE }]);
  const recs: PageRec[] = [];
  ram.forEach((p, i) => {
    if (p === null) recs.push({ block: 'pc.ram', offset: i * PAGE });
    else if (p !== undefined) recs.push({ block: 'pc.ram', offset: i * PAGE, data: p });
  });
  recs.push({ block: 'pc.bios', offset: 0, data: bios });
  s.ramSection(3, recs);
  return saveImage(s.device('cpu', Buffer.alloc(64, 7)).eof().build());
}

// ---- inputs: baselines and contexts the decoder is given ----------------------------------------

const inputs = {
  base: 'inputs/base.save',
  ctx: 'inputs/golden.ctx',
  otherBase: 'inputs/other.raw',
  otherCtx: 'inputs/other.ctx',
};
const at = (rel: string) => path.join(out, rel);

function context(files: [string, Buffer][], file: string): void {
  const laid = layOut(files.map(([p, data]) => ({ pathBytes: Buffer.from(p), data, elf: false })));
  writeContext({ ...laid, source: 'golden', sourceKind: 'directory', defaults: 'linux', skipped: [], elapsedMs: 0 }, file);
}

const BASE_RAM = [text(20), text(21), text(22), text(23), rnd(24), rnd(25), rnd(26), rnd(27)];
const CTX_PAGES = [50, 51, 52, 53, 54, 55].map(rnd);

// ---- ok files -----------------------------------------------------------------------------------

interface OkSpec {
  name: string;
  description: string;
  image: Buffer;
  opts: EncodeOptions & { baselineRel?: string; contextRel?: string };
  /** Page frames a page map types free (dropped: they decode as zero pages). */
  free?: number[];
  /** What the decoded image is (default: the image itself). */
  decoded?: Buffer;
  /** Op kinds this file is here for (checked: the encoder must still produce them). */
  expect: string[];
}

/** pc.ram page i of a save image holds frame i; zero the free ones to get what decodes. */
function zeroed(ram: (Buffer | null | undefined)[], free: number[], bios?: Buffer): Buffer {
  return save(ram.map((p, i) => (free.includes(i) && p ? Z : p)), bios);
}

const FREE_RAM = [text(60), text(61), text(62), text(63), text(61), Z, text(64), text(65)];
const ALL_RAM = [text(20), text(21), rnd(52), rnd(53), text(70), text(71), Z, rnd(25)];
const R24e = Buffer.from(rnd(24));
R24e.write('edited!', 100, 'latin1');
R24e.write('changed here too', 3000, 'latin1');

const OK: OkSpec[] = [
  {
    name: 'raw-zstd', description: 'raw memory file (format 4), zstd: literal pages, zero runs, duplicates',
    image: cat(text(1), text(2), Z, Z, Z, text(1), text(3), Z, text(2)), opts: { codec: 'zstd' }, expect: ['LIT', 'ZERO', 'DUP'],
  },
  {
    name: 'qemu-stream-deflate',
    description: 'bare QEMU migration stream (format 2), deflate: structure bytes, a ZERO record (structure) and a zero data page (ZERO op), a page never sent, a device-RAM duplicate, a page patched from two earlier slots (HISTORY)',
    image: (() => {
      const s = new StreamBuilder().header().ramStart([{ idstr: 'pc.ram', length: 8 * PAGE }, { idstr: 'pc.bios', length: PAGE }]);
      s.ramSection(2, [
        { block: 'pc.ram', offset: 0, data: rnd(5) },
        { block: 'pc.ram', offset: PAGE, data: rnd(6) },
        { block: 'pc.ram', offset: 2 * PAGE, data: cat(rnd(7).subarray(0, 1000), rnd(5).subarray(0, 1500), rnd(6).subarray(2000, 3596)) },
        { block: 'pc.ram', offset: 3 * PAGE },
      ]);
      s.ramSection(3, [
        { block: 'pc.ram', offset: 4 * PAGE, data: Z },
        { block: 'pc.ram', offset: 5 * PAGE, data: text(8) },
        { block: 'pc.ram', offset: 6 * PAGE, data: text(4) },
        { block: 'pc.bios', offset: 0, data: text(8) },
      ]);
      return s.device('cpu', Buffer.alloc(64, 7)).eof().build();
    })(),
    opts: { codec: 'deflate', level: 6 }, expect: ['BYTES', 'LIT', 'ZERO', 'DUP', 'PATCH', 'PATCH.HISTORY'],
  },
  {
    name: 'elf-dump-zstd',
    description: 'QEMU ELF64 dump (format 3), zstd: headers and notes as structure, a partial last page (structure) and a zero-filled tail (not in the file)',
    image: buildElfCore({
      loads: [
        { gpa: 0, data: cat(text(10), Z, text(11), text(10)) },
        { gpa: 0x100000, data: cat(text(12), text(13).subarray(0, 100)), memLength: 4 * PAGE },
      ],
      cpus: [{ rip: 0xffffffff81000000n, cr3: 0x1000n }],
      vmcoreinfo: 'OSRELEASE=6.1.0-golden\nPAGESIZE=4096\n',
    }).bytes,
    opts: { codec: 'zstd' }, expect: ['BYTES', 'LIT', 'ZERO', 'DUP'],
  },
  {
    name: 'save-baseline',
    description: 'libvirt save image (format 1) against inputs/base.save, 8 KiB frames (the baseline cursor carries across frames): same-frame runs, a moved page, an edited page (BASELINE segments), content moved to another frame and offset (BASELINE_AT)',
    image: save([text(20), text(21), text(22), rnd(26), R24e, cat(rnd(40).subarray(0, 600), rnd(27).subarray(0, 3496)), text(30), Z, text(23), text(31)]),
    opts: { codec: 'zstd', frameRaw: 8192, baselineRel: inputs.base },
    expect: ['BYTES', 'BASE', 'BASE_RUN', 'PATCH', 'PATCH.BASELINE', 'PATCH.BASELINE_AT', 'LIT', 'ZERO'],
  },
  {
    name: 'save-context',
    description: 'libvirt save image with inputs/golden.ctx: context pages out of order (CTX), in order (CTX_RUN), and an unaligned copy of a context file (PATCH CONTEXT)',
    image: save([rnd(52), rnd(53), rnd(54), rnd(50), cat(rnd(57).subarray(0, 48), rnd(55).subarray(0, 4048)), text(56), Z, rnd(51)]),
    opts: { codec: 'zstd', contextRel: inputs.ctx }, expect: ['BYTES', 'CTX', 'CTX_RUN', 'PATCH', 'PATCH.CONTEXT', 'LIT', 'ZERO'],
  },
  {
    name: 'save-free-dropped',
    description: 'libvirt save image with a page map typing frames 1, 2 and 6 free: sent as zero pages (flag 2), so the decoded image has zeros there (and page 4, equal to dropped page 1, is a literal)',
    image: save(FREE_RAM), free: [1, 2, 6], decoded: zeroed(FREE_RAM, [1, 2, 6]),
    opts: { codec: 'zstd' }, expect: ['BYTES', 'ZERO', 'LIT'],
  },
  {
    name: 'save-all-flags-deflate',
    description: 'libvirt save image, deflate, with baseline, context and free pages dropped (flags 7)',
    image: save(ALL_RAM), free: [5], decoded: zeroed(ALL_RAM, [5]),
    opts: { codec: 'deflate', level: 6, baselineRel: inputs.base, contextRel: inputs.ctx }, expect: ['BYTES', 'BASE', 'BASE_RUN', 'CTX', 'CTX_RUN', 'ZERO', 'LIT'],
  },
  {
    name: 'raw-frames',
    description: 'raw memory file in 4 KiB frames (one literal page each): the base of most err/ files',
    image: cat(text(80), text(81), Z, text(80), text(82), text(83)), opts: { codec: 'zstd', frameRaw: PAGE }, expect: ['LIT', 'ZERO', 'DUP'],
  },
];

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const FLAG_NAMES: [number, string][] = [[Flag.CONTEXT, 'context'], [Flag.BASELINE, 'baseline'], [Flag.FREE_DROPPED, 'free-dropped']];

function decodeTo(mig: string, o: { baseline?: string; context?: string }): Buffer {
  const dst = path.join(work, 'decoded');
  decodeImage(mig, dst, { baseline: o.baseline && at(o.baseline), context: o.context && at(o.context), threads: 1 });
  return fs.readFileSync(dst);
}

function writeJson(rel: string, v: object): void {
  fs.writeFileSync(at(rel), JSON.stringify(v, null, 2) + '\n');
}

// ---- err files: damage the spec says a decoder must refuse, with its code and offset ------------

interface ErrSpec {
  name: string;
  description: string;
  from: string;
  damage: (m: Buffer, f: FrameInfo[]) => Buffer;
  code: string;
  offset: (m: Buffer, f: FrameInfo[]) => number | null;
  truncated?: boolean;
  baseline?: string;
  context?: string;
}

/** A header field changed and the header checksum re-sealed. */
const hdr = (set: (m: Buffer) => void) => (m: Buffer) => (set(m), resealHeader(m));
const dataFrames = (f: FrameInfo[]) => f.slice(0, -1);
const endOf = (f: FrameInfo[]) => f[f.length - 1];
/** The first DATA frame whose op stream holds one of the ops. */
function firstWith(m: Buffer, f: FrameInfo[], ops: number[]): FrameInfo {
  for (const fr of dataFrames(f)) if (frameStreams(m, fr).ops.some((b, i, a) => ops.includes(b) && opStarts(a)[i])) return fr;
  throw new Error('no frame holds the op');
}
/** Which bytes of an op stream start an op (BYTES payloads and operands are skipped). */
function opStarts(ops: Uint8Array): boolean[] {
  const starts = new Array<boolean>(ops.length).fill(false);
  let p = 0;
  const varint = () => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = ops[p++];
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
  };
  while (p < ops.length) {
    starts[p] = true;
    const op = ops[p++];
    if (op === Op.BYTES) p += varint();
    else if (op === Op.PATCH) {
      for (let n = varint(); n > 0; n--) {
        varint();
        if (varint() === 0) continue;
        const src = ops[p++];
        varint();
        if (src === 1 || src === 3) varint();
      }
    } else if (op !== Op.LIT) varint();
  }
  return starts;
}
/** A DATA frame whose payload is exactly `payload`, sealed, replacing frame f. */
function replacePayload(m: Buffer, f: FrameInfo, payload: Buffer, rawLength: number): Buffer {
  const fh = Buffer.from(m.subarray(f.at, f.payloadAt));
  fh.writeUInt32LE(rawLength, 4);
  fh.writeUInt32LE(payload.length, 8);
  fh.writeBigUInt64LE(xxh3_64(payload), 16);
  return Buffer.concat([m.subarray(0, f.at), fh, payload, m.subarray(f.payloadAt + f.codedLength)]);
}
/** Frame 0 with its ops stream coded by `code` (a zstd frame that is not exactly the ops). */
function recodeOps(m: Buffer, f: FrameInfo, code: (ops: Buffer) => Buffer): Buffer {
  const { ops, lits } = frameStreams(m, f);
  const opsCoded = code(ops);
  const litCoded = lits.length ? Buffer.from(entropyCompress('zstd', 1, lits)) : Buffer.alloc(0);
  const prefix = Buffer.alloc(16);
  prefix.writeUInt32LE(ops.length, 0);
  prefix.writeUInt32LE(opsCoded.length, 4);
  prefix.writeUInt32LE(lits.length, 8);
  prefix.writeUInt32LE(litCoded.length, 12);
  return replacePayload(m, f, Buffer.concat([prefix, opsCoded, litCoded]), 16 + ops.length + lits.length);
}
const appendOps = (extra: number[]) => (m: Buffer, f: FrameInfo[]) => rewriteFrame(m, f[0], (s) => ({ ops: cat(s.ops, Buffer.from(extra)), lits: s.lits }));
const zstd = (b: Buffer) => Buffer.from(entropyCompress('zstd', 1, b));

const RF = 'ok/raw-frames.mig';
const ERR: ErrSpec[] = [
  // header (112 bytes)
  { name: 'header-magic', description: 'magic "MIGI" damaged', from: RF, damage: (m) => (m[0] ^= 0x20, m), code: 'MIG_CORRUPT', offset: () => 0 },
  { name: 'header-version', description: 'version 2', from: RF, damage: (m) => (m.writeUInt16LE(2, 4), m), code: 'MIG_CORRUPT', offset: () => 4 },
  { name: 'header-length', description: 'header length 120', from: RF, damage: (m) => (m.writeUInt16LE(120, 6), m), code: 'MIG_CORRUPT', offset: () => 6 },
  { name: 'header-checksum', description: 'a flipped bit in the (unused) context digest: header checksum mismatch', from: RF, damage: (m) => (m[40] ^= 1, m), code: 'MIG_CORRUPT', offset: () => 104 },
  { name: 'header-source-format', description: 'source format 5 (checksum re-sealed)', from: RF, damage: hdr((m) => (m[8] = 5)), code: 'MIG_CORRUPT', offset: () => 8 },
  { name: 'header-codec', description: 'entropy codec 3 (checksum re-sealed)', from: RF, damage: hdr((m) => (m[9] = 3)), code: 'MIG_CORRUPT', offset: () => 9 },
  { name: 'header-flags-reserved', description: 'reserved flag bit 3 set (checksum re-sealed)', from: RF, damage: hdr((m) => m.writeUInt16LE(m.readUInt16LE(10) | 8, 10)), code: 'MIG_CORRUPT', offset: () => 10 },
  { name: 'header-page-size', description: 'page size 8192 (checksum re-sealed)', from: RF, damage: hdr((m) => m.writeUInt32LE(8192, 12)), code: 'MIG_CORRUPT', offset: () => 12 },
  { name: 'header-image-bytes', description: 'image bytes 2^42 + 4096, past the format limit (checksum re-sealed)', from: RF, damage: hdr((m) => m.writeBigUInt64LE(2n ** 42n + 4096n, 16)), code: 'MIG_CORRUPT', offset: () => 16 },
  { name: 'header-slots', description: 'one page slot more than the image bytes hold (checksum re-sealed)', from: RF, damage: hdr((m) => m.writeBigUInt64LE(m.readBigUInt64LE(16) / 4096n + 1n, 24)), code: 'MIG_CORRUPT', offset: () => 24 },
  { name: 'header-frame-limit', description: 'frame raw limit 4111, below one page and the stream prefix (checksum re-sealed)', from: RF, damage: hdr((m) => m.writeUInt32LE(4111, 96)), code: 'MIG_CORRUPT', offset: () => 96 },
  { name: 'header-reserved', description: 'reserved u32 at 100 not zero (checksum re-sealed)', from: RF, damage: hdr((m) => m.writeUInt32LE(1, 100)), code: 'MIG_CORRUPT', offset: () => 100 },
  { name: 'header-context-digest-unused', description: 'a context digest byte set while flag 0 (context used) is clear (checksum re-sealed)', from: RF, damage: hdr((m) => (m[40] = 1)), code: 'MIG_CORRUPT', offset: () => 32 },
  { name: 'header-baseline-digest-unused', description: 'a baseline digest byte set while flag 1 (baseline used) is clear (checksum re-sealed)', from: RF, damage: hdr((m) => (m[95] = 1)), code: 'MIG_CORRUPT', offset: () => 64 },
  { name: 'header-truncated', description: 'the file ends inside the header', from: RF, damage: (m) => m.subarray(0, 100), code: 'MIG_CORRUPT', offset: () => 100, truncated: true },
  // frame headers (24 bytes)
  { name: 'frame-type', description: 'frame 0 of type 3', from: RF, damage: (m) => (m[HEADER_SIZE] = 3, m), code: 'MIG_CORRUPT', offset: () => HEADER_SIZE },
  { name: 'frame-reserved', description: 'frame 0 reserved u16 not zero (reported at the reserved field, offset 1)', from: RF, damage: (m) => (m[HEADER_SIZE + 3] = 1, m), code: 'MIG_CORRUPT', offset: () => HEADER_SIZE + 1 },
  { name: 'frame-raw-limit', description: 'frame 0 raw length past the header frame raw limit', from: RF, damage: (m) => (m.writeUInt32LE(m.readUInt32LE(96) + 1, HEADER_SIZE + 4), m), code: 'MIG_CORRUPT', offset: () => HEADER_SIZE + 4 },
  { name: 'frame-coded-length', description: 'frame 0 coded length past raw + raw/8 + 1024', from: RF, damage: (m) => { const raw = m.readUInt32LE(HEADER_SIZE + 4); m.writeUInt32LE(raw + (raw >> 3) + 1025, HEADER_SIZE + 8); return m; }, code: 'MIG_CORRUPT', offset: () => HEADER_SIZE + 8 },
  { name: 'frame-index', description: 'frame 1 claims index 5', from: RF, damage: (m, f) => (m.writeUInt32LE(5, f[1].at + 12), m), code: 'MIG_CORRUPT', offset: (_m, f) => f[1].at + 12 },
  { name: 'frame-checksum', description: 'a flipped byte in frame 1 payload: frame checksum mismatch', from: RF, damage: (m, f) => (m[f[1].payloadAt + 20] ^= 0x10, m), code: 'MIG_CORRUPT', offset: (_m, f) => f[1].at + 16 },
  { name: 'frames-swapped', description: 'frames 1 and 2 swapped', from: RF, damage: (m, f) => cat(m.subarray(0, f[1].at), m.subarray(f[2].at, f[3].at), m.subarray(f[1].at, f[2].at), m.subarray(f[3].at)), code: 'MIG_CORRUPT', offset: (_m, f) => f[1].at + 12 },
  { name: 'frame-lost', description: 'frame 1 missing', from: RF, damage: (m, f) => cat(m.subarray(0, f[1].at), m.subarray(f[2].at)), code: 'MIG_CORRUPT', offset: (_m, f) => f[1].at + 12 },
  { name: 'frame-duplicated', description: 'frame 1 twice', from: RF, damage: (m, f) => cat(m.subarray(0, f[2].at), m.subarray(f[1].at)), code: 'MIG_CORRUPT', offset: (_m, f) => f[2].at + 12 },
  { name: 'frame-end-first', description: 'the END frame where frame 0 belongs (index re-numbered to 0, checksum valid)', from: RF, damage: (m, f) => { const e = Buffer.from(m.subarray(endOf(f).at)); e.writeUInt32LE(0, 12); return cat(m.subarray(0, HEADER_SIZE), e); }, code: 'MIG_CORRUPT', offset: () => HEADER_SIZE + FRAME_HEADER_SIZE + 16 },
  // DATA frame payloads (re-sealed: the frame checksum matches the damaged payload)
  { name: 'payload-short', description: 'frame 0 payload of 8 bytes, shorter than the 16-byte stream prefix', from: RF, damage: (m, f) => replacePayload(m, f[0], Buffer.alloc(8), 16), code: 'MIG_CORRUPT', offset: (_m, f) => f[0].payloadAt },
  { name: 'payload-lengths', description: 'frame 0 ops raw length one more than the frame raw length allows', from: RF, damage: (m, f) => (m.writeUInt32LE(m.readUInt32LE(f[0].payloadAt) + 1, f[0].payloadAt), resealFrame(m, f[0])), code: 'MIG_CORRUPT', offset: (_m, f) => f[0].payloadAt },
  { name: 'payload-zstd-declared-size', description: 'frame 0 ops stream is a zstd frame declaring one byte more than its raw length', from: RF, damage: (m, f) => recodeOps(m, f[0], (ops) => zstd(cat(ops, Buffer.from([Op.LIT])))), code: 'MIG_CORRUPT', offset: (_m, f) => f[0].payloadAt + 16 },
  { name: 'payload-zstd-second-frame', description: 'frame 0 ops stream followed by a second zstd frame', from: RF, damage: (m, f) => recodeOps(m, f[0], (ops) => cat(zstd(ops), zstd(Buffer.alloc(0)))), code: 'MIG_CORRUPT', offset: (_m, f) => f[0].payloadAt + 16 },
  { name: 'payload-not-zstd', description: 'frame 0 ops stream is not a zstd frame', from: RF, damage: (m, f) => recodeOps(m, f[0], (ops) => Buffer.alloc(Math.max(ops.length, 8), 0x41)), code: 'MIG_CORRUPT', offset: (_m, f) => f[0].payloadAt + 16 },
  // ops (re-coded and re-sealed)
  { name: 'ops-unknown', description: 'op 0x0a appended to frame 0', from: RF, damage: appendOps([0x0a]), code: 'MIG_CORRUPT', offset: (_m, f) => f[0].payloadAt },
  { name: 'ops-truncated', description: 'frame 0 op stream ends inside a ZERO op (no operand)', from: RF, damage: appendOps([Op.ZERO]), code: 'MIG_CORRUPT', offset: (_m, f) => f[0].payloadAt },
  { name: 'ops-varint-long', description: 'a 9-byte varint in frame 0', from: RF, damage: appendOps([Op.ZERO, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), code: 'MIG_CORRUPT', offset: (_m, f) => f[0].payloadAt },
  { name: 'ops-dup-outside', description: 'DUP 100 slots back in frame 0', from: RF, damage: appendOps([Op.DUP, 100]), code: 'MIG_CORRUPT', offset: (_m, f) => f[0].payloadAt },
  { name: 'ops-dup-zero', description: 'DUP 0 (a slot referring to itself)', from: RF, damage: appendOps([Op.DUP, 0]), code: 'MIG_CORRUPT', offset: (_m, f) => f[0].payloadAt },
  { name: 'ops-lit-past-literals', description: 'a LIT op in frame 0 with no literal bytes left', from: RF, damage: appendOps([Op.LIT]), code: 'MIG_CORRUPT', offset: (_m, f) => f[0].payloadAt },
  { name: 'lits-unused', description: 'ten literal bytes no op uses at the end of frame 0', from: RF, damage: (m, f) => rewriteFrame(m, f[0], (s) => ({ ops: s.ops, lits: cat(s.lits, Buffer.alloc(10, 1)) })), code: 'MIG_CORRUPT', offset: (_m, f) => f[0].payloadAt },
  { name: 'ops-more-slots', description: 'a ZERO run of 100 slots past the header page slots (refused before any of it is written)', from: RF, damage: appendOps([Op.ZERO, 100]), code: 'MIG_CORRUPT', offset: (_m, f) => f[0].payloadAt },
  { name: 'ops-base-without-baseline', description: 'a BASE op in a .mig encoded without a baseline', from: RF, damage: appendOps([Op.BASE, 0]), code: 'MIG_CORRUPT', offset: (_m, f) => f[0].payloadAt },
  { name: 'ops-ctx-without-context', description: 'a CTX_RUN op in a .mig encoded without a context', from: RF, damage: appendOps([Op.CTX_RUN, 1]), code: 'MIG_CORRUPT', offset: (_m, f) => f[0].payloadAt },
  { name: 'ops-patch-short', description: 'a PATCH of one 100-byte literal run: does not cover a page', from: RF, damage: (m, f) => rewriteFrame(m, f[0], (s) => ({ ops: cat(s.ops, Buffer.from([Op.PATCH, 1, 100, 0])), lits: cat(s.lits, Buffer.alloc(100, 3)) })), code: 'MIG_CORRUPT', offset: (_m, f) => f[0].payloadAt },
  { name: 'ops-patch-history-outside', description: 'a PATCH HISTORY segment 9 slots back in frame 0', from: RF, damage: appendOps([Op.PATCH, 1, 0, 0x80, 0x20, 1, 9, 0]), code: 'MIG_CORRUPT', offset: (_m, f) => f[0].payloadAt },
  { name: 'ops-patch-source', description: 'a PATCH segment with source 4', from: RF, damage: appendOps([Op.PATCH, 1, 0, 0x80, 0x20, 4, 0]), code: 'MIG_CORRUPT', offset: (_m, f) => f[0].payloadAt },
  // END frame (56 bytes, stored)
  { name: 'end-image-bytes', description: 'END image bytes one more than the header (checksum re-sealed)', from: RF, damage: (m, f) => (m.writeBigUInt64LE(m.readBigUInt64LE(endOf(f).payloadAt) + 1n, endOf(f).payloadAt), resealFrame(m, endOf(f))), code: 'MIG_CORRUPT', offset: (_m, f) => endOf(f).payloadAt },
  { name: 'end-slots', description: 'END page slots one less (checksum re-sealed)', from: RF, damage: (m, f) => (m.writeBigUInt64LE(m.readBigUInt64LE(endOf(f).payloadAt + 8) - 1n, endOf(f).payloadAt + 8), resealFrame(m, endOf(f))), code: 'MIG_CORRUPT', offset: (_m, f) => endOf(f).payloadAt + 8 },
  { name: 'end-frame-count', description: 'END counts one DATA frame more (checksum re-sealed)', from: RF, damage: (m, f) => (m.writeUInt32LE(m.readUInt32LE(endOf(f).payloadAt + 16) + 1, endOf(f).payloadAt + 16), resealFrame(m, endOf(f))), code: 'MIG_CORRUPT', offset: (_m, f) => endOf(f).payloadAt + 16 },
  { name: 'end-reserved', description: 'END reserved u32 not zero (checksum re-sealed)', from: RF, damage: (m, f) => (m.writeUInt32LE(1, endOf(f).payloadAt + 20), resealFrame(m, endOf(f))), code: 'MIG_CORRUPT', offset: (_m, f) => endOf(f).payloadAt + 20 },
  { name: 'end-sha256', description: 'END SHA-256 with a flipped bit (checksum re-sealed)', from: RF, damage: (m, f) => (m[endOf(f).payloadAt + 40] ^= 1, resealFrame(m, endOf(f))), code: 'MIG_CORRUPT', offset: (_m, f) => endOf(f).payloadAt + 24 },
  { name: 'end-checksum', description: 'a flipped byte in the END payload: frame checksum mismatch', from: RF, damage: (m, f) => (m[endOf(f).payloadAt + 30] ^= 4, m), code: 'MIG_CORRUPT', offset: (_m, f) => endOf(f).at + 16 },
  { name: 'end-raw-length', description: 'END frame raw length 57', from: RF, damage: (m, f) => (m.writeUInt32LE(57, endOf(f).at + 4), m), code: 'MIG_CORRUPT', offset: (_m, f) => endOf(f).at + 4 },
  { name: 'end-coded-length', description: 'END frame coded length 57 with a 57-byte payload (checksum re-sealed): the END payload is stored, 56 bytes', from: RF, damage: (m, f) => { const e = endOf(f); const p = cat(m.subarray(e.payloadAt), Buffer.from([0])); const h = Buffer.from(m.subarray(e.at, e.payloadAt)); h.writeUInt32LE(57, 8); h.writeBigUInt64LE(xxh3_64(p), 16); return cat(m.subarray(0, e.at), h, p); }, code: 'MIG_CORRUPT', offset: (_m, f) => endOf(f).at + 8 },
  { name: 'end-coded-length-past-eof', description: 'END frame coded length 1000 in a file that ends after 56 payload bytes: refused at the field, not taken for a truncation', from: RF, damage: (m, f) => (m.writeUInt32LE(1000, endOf(f).at + 8), m), code: 'MIG_CORRUPT', offset: (_m, f) => endOf(f).at + 8 },
  { name: 'trailing-byte', description: 'one byte after the END frame', from: RF, damage: (m) => cat(m, Buffer.from([0])), code: 'MIG_CORRUPT', offset: (m) => m.length },
  // truncations (data.truncated: what a resumable decode keeps its checkpoint for)
  { name: 'truncated-frame-header', description: 'the file ends inside frame 1 header', from: RF, damage: (m, f) => m.subarray(0, f[1].at + 10), code: 'MIG_CORRUPT', offset: (_m, f) => f[1].at, truncated: true },
  { name: 'truncated-payload', description: 'the file ends inside frame 1 payload', from: RF, damage: (m, f) => m.subarray(0, f[1].payloadAt + 5), code: 'MIG_CORRUPT', offset: (_m, f) => f[1].payloadAt, truncated: true },
  { name: 'truncated-no-end', description: 'the file ends before the END frame', from: RF, damage: (m, f) => m.subarray(0, endOf(f).at), code: 'MIG_CORRUPT', offset: (_m, f) => endOf(f).at, truncated: true },
  // baselines and contexts: wrong or missing inputs are refused before anything is written
  { name: 'baseline-wrong', description: 'save-baseline.mig decoded against another image', from: 'ok/save-baseline.mig', baseline: inputs.otherBase, damage: (m) => m, code: 'MIG_WRONG_BASELINE', offset: () => null },
  { name: 'baseline-missing', description: 'save-baseline.mig decoded without its baseline', from: 'ok/save-baseline.mig', damage: (m) => m, code: 'USAGE', offset: () => null },
  { name: 'baseline-flag-cleared', description: 'save-baseline.mig with flag 1 cleared but its baseline digest kept (re-sealed): an unused digest must be zero (errata 1)', from: 'ok/save-baseline.mig', damage: hdr((m) => m.writeUInt16LE(m.readUInt16LE(10) & ~Flag.BASELINE, 10)), code: 'MIG_CORRUPT', offset: () => 64 },
  { name: 'baseline-flag-and-digest-cleared', description: 'save-baseline.mig with flag 1 and the baseline digest cleared (re-sealed): its baseline ops have no baseline', from: 'ok/save-baseline.mig', damage: hdr((m) => { m.writeUInt16LE(m.readUInt16LE(10) & ~Flag.BASELINE, 10); m.fill(0, 64, 96); }), code: 'MIG_CORRUPT', offset: (m, f) => firstWith(m, f, [Op.BASE, Op.BASE_RUN, Op.PATCH]).payloadAt },
  { name: 'context-wrong', description: 'save-context.mig decoded against another context', from: 'ok/save-context.mig', context: inputs.otherCtx, damage: (m) => m, code: 'MIG_WRONG_CONTEXT', offset: () => null },
  { name: 'context-missing', description: 'save-context.mig decoded without its context', from: 'ok/save-context.mig', damage: (m) => m, code: 'USAGE', offset: () => null },
  { name: 'context-flag-cleared', description: 'save-context.mig with flag 0 cleared but its context digest kept (re-sealed): an unused digest must be zero (errata 1)', from: 'ok/save-context.mig', damage: hdr((m) => m.writeUInt16LE(m.readUInt16LE(10) & ~Flag.CONTEXT, 10)), code: 'MIG_CORRUPT', offset: () => 32 },
  { name: 'context-flag-and-digest-cleared', description: 'save-context.mig with flag 0 and the context digest cleared (re-sealed): its context ops have no context', from: 'ok/save-context.mig', damage: hdr((m) => { m.writeUInt16LE(m.readUInt16LE(10) & ~Flag.CONTEXT, 10); m.fill(0, 32, 64); }), code: 'MIG_CORRUPT', offset: (m, f) => firstWith(m, f, [Op.CTX, Op.CTX_RUN, Op.PATCH]).payloadAt },
  { name: 'baseline-ops-in-context-file', description: 'a BASE op in save-context.mig (encoded with a context, without a baseline)', from: 'ok/save-context.mig', context: inputs.ctx, damage: (m, f) => rewriteFrame(m, f[0], (s) => ({ ops: cat(s.ops, Buffer.from([Op.BASE, 0])), lits: s.lits })), code: 'MIG_CORRUPT', offset: (_m, f) => f[0].payloadAt },
];

// ---- main ---------------------------------------------------------------------------------------

function main(): void {
  for (const d of ['ok', 'err', 'inputs']) {
    if (rewrite) fs.rmSync(at(d), { recursive: true, force: true });
    fs.mkdirSync(at(d), { recursive: true });
  }
  // Existing .mig files name their inputs by digest: an input is never rewritten.
  const input = (rel: string, make: (file: string) => void) => fs.existsSync(at(rel)) || make(at(rel));
  input(inputs.base, (f) => fs.writeFileSync(f, save(BASE_RAM)));
  input(inputs.otherBase, (f) => fs.writeFileSync(f, text(99)));
  input(inputs.ctx, (f) => context([['usr/lib/libgolden.so.1', cat(...CTX_PAGES)]], f));
  input(inputs.otherCtx, (f) => context([['usr/lib/libother.so.1', rnd(98)]], f));

  const covered = new Set<string>();
  for (const s of OK) {
    if (fs.existsSync(at(`ok/${s.name}.mig`)) && fs.existsSync(at(`ok/${s.name}.json`))) {
      (JSON.parse(fs.readFileSync(at(`ok/${s.name}.json`), 'utf8')) as GoldenOk).ops.forEach((k) => covered.add(k));
      continue;
    }
    const src = path.join(work, `${s.name}.img`);
    fs.writeFileSync(src, s.image);
    const mig = at(`ok/${s.name}.mig`);
    let pageMap: PageMap | undefined;
    if (s.free) {
      const types = new Uint8Array(64);
      for (const p of s.free) types[p] = PageTypeCode.free;
      pageMap = new PageMap(types);
    }
    const { baselineRel, contextRel, ...opts } = s.opts;
    const summary = writeAtomically(mig, (sink) => encodeImage(src, sink, {
      ...opts, threads: 1, pageMap, baseline: baselineRel && at(baselineRel), context: contextRel && at(contextRel),
    }));
    const decoded = decodeTo(mig, { baseline: baselineRel, context: contextRel });
    if (!decoded.equals(s.decoded ?? s.image)) throw new Error(`${s.name}: does not decode to the expected image`);
    const bytes = fs.readFileSync(mig);
    const ops = opKinds(bytes);
    const missing = s.expect.filter((k) => !ops.includes(k));
    if (missing.length) throw new Error(`${s.name}: the encoder no longer produces ${missing.join(', ')} here (has ${ops.join(', ')})`);
    ops.forEach((k) => covered.add(k));
    const flags = bytes.readUInt16LE(10);
    const ok: GoldenOk = {
      description: s.description, format: summary.format, codec: opts.codec ?? 'zstd', flags: FLAG_NAMES.filter(([b]) => flags & b).map(([, n]) => n),
      ...(baselineRel ? { baseline: baselineRel } : {}), ...(contextRel ? { context: contextRel } : {}),
      imageBytes: decoded.length, slots: summary.slots, frames: summary.frames, sha256: sha256(decoded), ops,
    };
    writeJson(`ok/${s.name}.json`, ok);
    console.log(`ok/${s.name}.mig  ${bytes.length} bytes  ${ops.join(' ')}`);
  }
  const uncovered = ALL_OP_KINDS.filter((k) => !covered.has(k));
  if (uncovered.length) throw new Error(`no ok file holds ${uncovered.join(', ')}`);

  for (const e of ERR) {
    if (fs.existsSync(at(`err/${e.name}.mig`)) && fs.existsSync(at(`err/${e.name}.json`))) continue;
    const src = fs.readFileSync(at(e.from));
    const f = frames(src);
    if (e.from === RF && f.length < 5) throw new Error(`${RF} has ${f.length - 1} DATA frames; the err files need 4`);
    const offset = e.offset(src, f);
    const bad = e.damage(Buffer.from(src), f);
    const file = at(`err/${e.name}.mig`);
    fs.writeFileSync(file, bad);
    // The expectation must hold for today's decoder before it becomes the reference.
    try {
      decodeTo(file, { baseline: e.baseline, context: e.context });
      throw new Error(`${e.name}: decodes without an error`);
    } catch (err) {
      if (!(err instanceof MigError)) throw err;
      const got = { code: err.code, offset: (err.data.offset as number | undefined) ?? null, truncated: err.data.truncated === true };
      if (got.code !== e.code || got.offset !== offset || got.truncated !== !!e.truncated) {
        throw new Error(`${e.name}: expected ${e.code} at ${offset}${e.truncated ? ' (truncated)' : ''}, decoder says ${got.code} at ${got.offset}${got.truncated ? ' (truncated)' : ''}: ${err.message}`);
      }
    }
    const j: GoldenErr = {
      description: e.description, from: e.from, ...(e.baseline ? { baseline: e.baseline } : {}), ...(e.context ? { context: e.context } : {}),
      code: e.code, offset, ...(e.truncated ? { truncated: true } : {}),
    };
    writeJson(`err/${e.name}.json`, j);
  }
  const total = ['ok', 'err', 'inputs'].flatMap((d) => fs.readdirSync(at(d)).map((n) => fs.statSync(at(`${d}/${n}`)).size)).reduce((a, b) => a + b, 0);
  console.log(`${OK.length} ok, ${ERR.length} err files; ${total} bytes in ${out}`);
}

main();
