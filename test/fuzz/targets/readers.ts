/**
 * The four image readers through src/image/probe.ts `openImage`: libvirt save images, QEMU migration
 * streams, ELF dumps (ELF32 and ELF64) and raw memory. A case opens the mutated file, reads the whole
 * memory view, takes its page slots, and checks what the readers promise of an image they accept:
 * slots ascending, inside the file and holding their frame's bytes; rebuild() gives the file back byte for byte.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { openImage } from '../../../src/image/probe.js';
import type { ImageFormat, OpenedImage } from '../../../src/image/types.js';
import { PAGE_SIZE } from '../../../src/mem/physical-memory.js';
import { buildElfCore, EM_386, ElfLayout, ElfSpec, L32, L64, pages, tinyLoads } from '../../helpers/elf-writer.js';
import { CPUS, SPEC64, VMCOREINFO } from '../../helpers/elf-fixtures.js';
import { Bytes, page, saveImage, SaveOpts, StreamBuilder, vmcoreinfoDevice } from '../../helpers/stream-writer.js';
import { verifySlots } from '../../helpers/compare.js';
import { duplicateChunk, Field, Layout, mutateLaidOut, mutateText, Region } from '../mutate.js';
import type { Rng } from '../rng.js';
import { ExecNote, FuzzCase, FuzzOracleError, Params, pickSeed, Seed, Target } from '../target.js';

/** Memory views larger than this are read by sampling (a dump may zero-fill up to 1 TiB, documented). */
export const FULL_READ_LIMIT = 64 << 20;

/** Open, read every page of the view, check slots and rebuild. Shared by the four reader targets. */
export function readImage(path: string, params: Params): ExecNote | void {
  const img = openImage(path, params.format ? { format: params.format as ImageFormat } : {});
  let note: ExecNote | undefined;
  try {
    const mem = img.memory;
    if (mem.size <= FULL_READ_LIMIT) {
      let pages = 0;
      mem.forEachPageBatch((_pfn, count) => {
        pages += count;
      });
      if (pages * PAGE_SIZE !== mem.size) throw new FuzzOracleError(`forEachPageBatch gave ${pages} pages, size says ${mem.size / PAGE_SIZE}`);
    } else {
      note = { capped: 'large memory view sampled' };
      const buf = Buffer.allocUnsafe(PAGE_SIZE);
      for (const r of mem.runs.slice(0, 64)) {
        const first = r.gpa / PAGE_SIZE;
        const last = (r.gpa + r.length) / PAGE_SIZE - 1;
        for (const pfn of [first, first + 1, last - 1, last]) if (pfn >= first && pfn <= last && !mem.readPage(pfn, buf)) throw new FuzzOracleError(`run page ${pfn} not present`);
      }
    }
    for (const r of mem.runs.slice(0, 16)) mem.read(r.gpa, Math.min(r.length, 3 * PAGE_SIZE) - 1);
    const v = verifySlots(img);
    if (v.problems.length) throw new FuzzOracleError(`page slots: ${v.problems.slice(0, 3).join('; ')}`);
    checkRebuild(img, path);
  } finally {
    img.close();
  }
  return note;
}

function checkRebuild(img: OpenedImage, path: string): void {
  const h = createHash('sha256');
  let bytes = 0;
  img.rebuild({ write(chunk) { h.update(chunk); bytes += chunk.length; } });
  const input = fs.readFileSync(path);
  if (bytes !== input.length) throw new FuzzOracleError(`rebuild wrote ${bytes} bytes, the file has ${input.length}`);
  if (!h.digest().equals(createHash('sha256').update(input).digest())) throw new FuzzOracleError('rebuild differs from the file');
}

/** Readers may hold the file's structure (not its pages) and small per-page tables: 64 MiB plus 16× the input. */
const readerBudget = (bytes: number) => (64 << 20) + 16 * bytes;

// ---- QEMU streams ---------------------------------------------------------------------------

/** A length-prefixed string (u8 length) in a seed: idstrs, subsection and capability names. */
interface Str8 {
  lenOff: number;
  off: number;
  len: number;
  what: string;
}

interface StreamExtra {
  /** Absolute offset where the stream starts (92 + data_len in a save image). */
  start: number;
  strs: Str8[];
  /** The VMDESCRIPTION JSON: its be32 length field and the text (to the end of the file). */
  vmdesc?: { lenOff: number; off: number };
  /** Record starts (RAM records), for duplication/reordering. */
  records: number[];
}

/**
 * Walk a valid stream (a seed: built by StreamBuilder) and describe it: every header field, section
 * and record header, MEM_SIZE entry, footer, the device sections of the tail (from `marks`) and the
 * VMDESCRIPTION JSON.
 */
function walkStream(buf: Buffer, start: number, tailMarks: { at: number; idLen: number; bodyLen: number }[], eofAt: number): { layout: Layout; extra: StreamExtra } {
  const fields: Field[] = [];
  const boundaries: number[] = [start];
  const texts: Region[] = [];
  const strs: Str8[] = [];
  const records: number[] = [];
  const f = (off: number, size: 1 | 2 | 4 | 8, name: string) => fields.push({ off, size, be: true, name });
  const str = (lenOff: number, what: string) => {
    strs.push({ lenOff, off: lenOff + 1, len: buf[lenOff], what });
    f(lenOff, 1, `${what} length`);
    return buf.toString('latin1', lenOff + 1, lenOff + 1 + buf[lenOff]);
  };
  let p = start;
  f(p, 4, 'magic');
  f(p + 4, 4, 'version');
  p += 8;
  boundaries.push(p);
  if (buf[p] === 0x07) {
    f(p, 1, 'configuration marker');
    f(p + 1, 4, 'machine name length');
    const n = buf.readUInt32BE(p + 1);
    texts.push({ off: p + 5, len: n, name: 'machine name' });
    p += 5 + n;
    boundaries.push(p);
    while (buf[p] === 0x05) {
      f(p, 1, 'subsection marker');
      const name = str(p + 1, 'subsection name');
      p += 2 + name.length;
      f(p, 4, 'subsection version');
      p += 4;
      if (name === 'configuration/target-page-bits') {
        f(p, 4, 'target-page-bits');
        p += 4;
      } else if (name === 'configuration/capabilities') {
        f(p, 4, 'capability count');
        const n = buf.readUInt32BE(p);
        p += 4;
        for (let i = 0; i < n; i++) p += 1 + str(p, 'capability name').length;
      } else if (name === 'configuration/uuid') {
        p += 16;
      }
      boundaries.push(p);
    }
  }
  for (;;) {
    const type = buf[p];
    boundaries.push(p);
    f(p, 1, 'section type');
    if (type === 0x08) {
      f(p + 1, 2, 'command id');
      f(p + 3, 2, 'command length');
      p += 5 + buf.readUInt16BE(p + 3);
      continue;
    }
    f(p + 1, 4, 'section id');
    if (type === 0x01) {
      const idstr = str(p + 5, 'section idstr');
      const q = p + 6 + idstr.length;
      f(q, 4, 'section instance id');
      f(q + 4, 4, 'section version id');
      p = q + 8;
    } else if (type === 0x02 || type === 0x03) {
      p += 5;
    } else {
      throw new Error(`fuzz seed: unexpected section type ${type} at ${p}`);
    }
    for (;;) {
      boundaries.push(p);
      records.push(p);
      f(p, 8, 'RAM record word');
      f(p + 4, 4, 'RAM record offset|flags (low word)');
      const w = buf.readBigUInt64BE(p);
      const flags = Number(w & 0xfffn);
      p += 8;
      if (flags & 0x0a) {
        if (!(flags & 0x20)) p += 1 + str(p, 'RAM record idstr').length;
        if (flags & 0x08) {
          boundaries.push(p, p + PAGE_SIZE);
          p += PAGE_SIZE;
        } else {
          f(p, 1, 'ZERO fill byte');
          p += 1;
        }
      } else if (flags === 0x04) {
        let rem = w - 4n;
        while (rem > 0n) {
          boundaries.push(p);
          p += 1 + str(p, 'MEM_SIZE idstr').length;
          f(p, 8, 'MEM_SIZE used_length');
          rem -= buf.readBigUInt64BE(p);
          p += 8;
        }
      } else if (flags === 0x10) {
        records.pop(); // EOS: not a record to move around
        break;
      }
    }
    boundaries.push(p);
    if (buf[p] === 0x7e) {
      f(p, 1, 'footer marker');
      f(p + 1, 4, 'footer section id');
      p += 5;
      boundaries.push(p);
    }
    if (type === 0x03) break;
  }
  for (const m of tailMarks) {
    const at = start + m.at;
    boundaries.push(at);
    f(at, 1, 'device section type');
    f(at + 1, 4, 'device section id');
    str(at + 5, 'device idstr');
    f(at + 6 + m.idLen, 4, 'device instance id');
    f(at + 10 + m.idLen, 4, 'device version id');
    const body = at + 14 + m.idLen;
    boundaries.push(body, body + m.bodyLen);
    f(body + m.bodyLen, 1, 'device footer marker');
    f(body + m.bodyLen + 1, 4, 'device footer id');
  }
  const eof = start + eofAt;
  boundaries.push(eof, eof + 1, eof + 2, eof + 6, buf.length);
  f(eof, 1, 'EOF marker');
  f(eof + 1, 1, 'VMDESCRIPTION marker');
  f(eof + 2, 4, 'VMDESCRIPTION length');
  texts.push({ off: eof + 6, len: buf.length - eof - 6, name: 'vmdesc JSON' });
  return { layout: { fields, boundaries, texts }, extra: { start, strs, vmdesc: { lenOff: eof + 2, off: eof + 6 }, records } };
}

interface Regs { eip: bigint; cr0: bigint; cr2: bigint; cr3: bigint; cr4: bigint }

/** A `cpu` device section body and its vmdesc entry (as QEMU 7.2 writes them; see test/unit/image/qemu-devices.test.ts). */
function cpuSection(word: 4 | 8, r: Regs, instanceId: number) {
  const b = new Bytes();
  const put = (v: bigint) => (word === 8 ? b.u64(v) : b.u32(Number(v & 0xffffffffn)));
  for (let i = 0; i < 8; i++) put(BigInt(0x1000 + i));
  put(r.eip);
  b.u16(0xffff);
  put(r.cr0);
  put(r.cr2);
  put(r.cr3);
  put(r.cr4);
  b.u64(7n);
  const t = `uint${word * 8}`;
  const device = {
    name: 'cpu', instance_id: instanceId, vmsd_name: 'cpu', version: 12,
    fields: [
      { name: 'env.regs', array_len: 8, type: t, size: word },
      { name: 'env.eip', type: t, size: word },
      { name: 'env.fpregs_format_vmstate', type: 'uint16', size: 2 },
      ...['env.cr[0]', 'env.cr[2]', 'env.cr[3]', 'env.cr[4]'].map((name) => ({ name, type: t, size: word })),
      { name: 'env.xcr0', type: 'uint64', size: 8 },
    ],
    subsections: [{ vmsd_name: 'cpu/async_pf_msr', version: 1, fields: [{ name: 'env.async_pf_en_msr', type: 'uint64', size: 8 }] }],
  };
  const sub = new Bytes().u8(0x05).str8('cpu/async_pf_msr').u32(1).u64(0n);
  return { body: Buffer.concat([b.build(), sub.build()]), device };
}

const REGS: Regs = { eip: 0xffffffff81e0e3f2n, cr0: 0x80050033n, cr2: 0x7f1234567000n, cr3: 0x10c4c000n, cr4: 0x3506f0n };

interface StreamSeedSpec {
  name: string;
  machine: string | null;
  version?: number;
  config?: boolean;
  blocks: { idstr: string; length: number }[];
  word: 4 | 8;
  cpus: number;
  vmcoreinfo?: boolean;
  multifd?: boolean;
  command?: boolean;
}

/** A stream built with StreamBuilder, with the offsets of its tail sections for the layout. */
function buildStream(spec: StreamSeedSpec): { bytes: Buffer; marks: { at: number; idLen: number; bodyLen: number }[]; eofAt: number } {
  const s = new StreamBuilder().header({ version: spec.version, machine: spec.machine, uuid: spec.config, pageBits: spec.config ? 12 : undefined });
  if (spec.config) s.b.u8(0x05).str8('configuration/capabilities').u32(1).u32(2).str8('events').str8('zero-blocks');
  if (spec.command) s.b.u8(0x08).u16(1).u16(4).u32(0xdeadbeef);
  s.ramStart(spec.blocks);
  const [main, ...others] = spec.blocks;
  const mainPages = main.length / PAGE_SIZE;
  s.ramSection(2, [
    { block: main.idstr, offset: 0, data: page(1) },
    { block: main.idstr, offset: PAGE_SIZE, fill: 0 },
    { block: main.idstr, offset: 2 * PAGE_SIZE, data: page(2) },
    { block: main.idstr, offset: 3 * PAGE_SIZE, fill: 0x5a },
  ]);
  if (spec.multifd) s.b.u8(0x02).u32(0).u64(0x200).u64(0x10).u8(0x7e).u32(0);
  const recs = [
    ...others.map((b, i) => ({ block: b.idstr, offset: 0, data: page(10 + i) })),
    { block: main.idstr, offset: (mainPages - 1) * PAGE_SIZE, data: page(3) },
    { block: main.idstr, offset: 0, data: page(4) }, // page 0 sent again: the earlier copy is a slot of no frame
  ];
  s.ramSection(3, recs);
  const marks: { at: number; idLen: number; bodyLen: number }[] = [];
  const devices: unknown[] = [];
  const add = (idstr: string, d: { body: Buffer; device: unknown }, inst: number) => {
    marks.push({ at: s.b.length, idLen: idstr.length, bodyLen: d.body.length });
    s.device(idstr, d.body, inst);
    devices.push(d.device);
  };
  for (let i = 0; i < spec.cpus; i++) add('cpu', cpuSection(spec.word, REGS, i), i);
  if (spec.vmcoreinfo) add('vmcoreinfo', vmcoreinfoDevice(2 * PAGE_SIZE), 0);
  const eofAt = s.b.length;
  s.eof(JSON.stringify({ page_size: 4096, devices }));
  return { bytes: s.build(), marks, eofAt };
}

const STREAM_SPECS: StreamSeedSpec[] = [
  { name: 'q35 pc.ram + bios + vram, 2 cpus, vmcoreinfo', machine: 'pc-q35-7.2', blocks: [{ idstr: 'pc.ram', length: 16 * PAGE_SIZE }, { idstr: 'pc.bios', length: 2 * PAGE_SIZE }, { idstr: '0000:00:01.0/vga.vram', length: 2 * PAGE_SIZE }], word: 8, cpus: 2, vmcoreinfo: true, config: true },
  { name: 'i440fx NUMA nodes, i386 cpu, multifd flush, command', machine: 'pc-i440fx-7.2', blocks: [{ idstr: 'ram-node0', length: 8 * PAGE_SIZE }, { idstr: 'ram-node1', length: 8 * PAGE_SIZE }], word: 4, cpus: 1, multifd: true, command: true },
  { name: 'version 2, no configuration section', machine: null, version: 2, blocks: [{ idstr: 'pc.ram', length: 8 * PAGE_SIZE }], word: 8, cpus: 1 },
];

function streamSeeds(wrap?: (stream: Buffer) => { bytes: Buffer; start: number; layout: Layout }): Seed[] {
  return STREAM_SPECS.map((spec) => {
    const st = buildStream(spec);
    const w = wrap ? wrap(st.bytes) : { bytes: st.bytes, start: 0, layout: { fields: [], boundaries: [], texts: [] } };
    const { layout, extra } = walkStream(w.bytes, w.start, st.marks, st.eofAt);
    return {
      name: spec.name,
      bytes: w.bytes,
      layout: { fields: [...w.layout.fields, ...layout.fields], boundaries: [...w.layout.boundaries, ...layout.boundaries], texts: [...(w.layout.texts ?? []), ...(layout.texts ?? [])] },
      extra,
    };
  });
}

const IDSTRS = ['pc.ram', 'ram-node0', 'ram-node1', 'ram-node99999999999', 'pc.bios', '0000:00:01.0/vga.vram', 'ram', 'cpu', 'vmcoreinfo', '', 'x'.repeat(255),
  'configuration/target-page-bits', 'configuration/capabilities', 'configuration/uuid', 'mapped-ram', 'x-ignore-shared', 'constructor', '__proto__', 'pc.ram\0'];

/** Replace a length-prefixed string by another (length byte rewritten, everything after it shifts). */
function resizeStr(buf: Buffer, s: Str8, rng: Rng): { bytes: Buffer; desc: string } {
  const next = rng.chance(0.8) ? Buffer.from(rng.pick(IDSTRS), 'latin1') : Buffer.from(buf.subarray(s.off, s.off + s.len)).subarray(0, rng.int(s.len + 1));
  const lenByte = rng.chance(0.9) ? next.length : rng.int(256);
  return {
    bytes: Buffer.concat([buf.subarray(0, s.lenOff), Buffer.from([lenByte]), next, buf.subarray(s.off + s.len)]),
    desc: `${s.what}@${s.lenOff} ${JSON.stringify(buf.toString('latin1', s.off, s.off + s.len))} -> ${JSON.stringify(next.toString('latin1').slice(0, 40))} (len byte ${lenByte})`,
  };
}

const JSON_NUMBERS: unknown[] = [0, -1, 1, 2, 3, 4, 7, 8, 9, 16, 4096, 0x7fffffff, 0xffffffff, 2 ** 53, -(2 ** 31), 1e300, -1e300, 0.5, 1.5, 1e-9, '8', null, true, [], {}];
const JSON_STRINGS: unknown[] = ['', 'cpu', 'vmcoreinfo', 'env.cr[3]', 'env.eip', 'vmcoreinfo.paddr', 'has_vmcoreinfo', 'vmcoreinfo.guest_format', 'x'.repeat(300), null, 0, {}, []];

/** Every (parent, key) of a JSON value. */
function jsonSlots(v: unknown, out: { parent: Record<string, unknown> | unknown[]; key: string | number }[] = []): typeof out {
  if (Array.isArray(v)) v.forEach((x, i) => { out.push({ parent: v, key: i }); jsonSlots(x, out); });
  else if (v && typeof v === 'object') for (const k of Object.keys(v)) { out.push({ parent: v as Record<string, unknown>, key: k }); jsonSlots((v as Record<string, unknown>)[k], out); }
  return out;
}

/** Structure-aware edit of a JSON value: a number or string replaced, a key deleted, an array element doubled or nulled. */
export function mutateJsonValue(root: unknown, rng: Rng): string {
  const slots = jsonSlots(root);
  if (!slots.length) return 'json: nothing to edit';
  const { parent, key } = rng.pick(slots);
  const cur = (parent as Record<string | number, unknown>)[key];
  const op = rng.weighted<string>([[6, 'replace'], [2, 'delete'], [1, 'dup'], [1, 'null']]);
  if (op === 'delete') {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete (parent as Record<string, unknown>)[key as string];
    return `json: delete ${key}`;
  }
  if (op === 'dup' && Array.isArray(parent)) {
    parent.splice(key as number, 0, structuredClone(cur));
    return `json: duplicate [${key}]`;
  }
  if (op === 'null') {
    (parent as Record<string | number, unknown>)[key] = null;
    return `json: ${key} = null`;
  }
  const v = typeof cur === 'string' ? rng.pick(JSON_STRINGS) : rng.pick(JSON_NUMBERS);
  (parent as Record<string | number, unknown>)[key] = v;
  return `json: ${key} = ${JSON.stringify(v)?.slice(0, 40)}`;
}

/** The VMDESCRIPTION JSON at the end of a stream, edited structurally and re-framed (its be32 length fixed, mostly). */
function mutateVmdesc(buf: Buffer, vm: { lenOff: number; off: number }, rng: Rng): { bytes: Buffer; desc: string } {
  const text = buf.toString('utf8', vm.off);
  let out: string;
  let desc: string;
  try {
    const j = JSON.parse(text) as unknown;
    const n = rng.range(1, 3);
    const d: string[] = [];
    for (let i = 0; i < n; i++) d.push(mutateJsonValue(j, rng));
    out = JSON.stringify(j) ?? '';
    desc = d.join('; ');
  } catch {
    const m = mutateText(text, rng);
    out = m.text;
    desc = m.desc;
  }
  const body = Buffer.from(out, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(rng.chance(0.9) ? body.length : rng.pick([0, body.length + 1, body.length - 1, 0xffffffff]) >>> 0);
  return { bytes: Buffer.concat([buf.subarray(0, vm.lenOff), len, body]), desc: `vmdesc ${desc}` };
}

/** Move a RAM record: swap two, or put one somewhere else (the CONTINUE chain and the order break). */
function moveRecord(buf: Buffer, records: number[], rng: Rng): { bytes: Buffer; desc: string } | undefined {
  const ends = [...records.slice(1)];
  if (records.length < 2) return undefined;
  const i = rng.int(records.length - 1);
  const [a, b] = [records[i], ends[i]];
  const rec = buf.subarray(a, b);
  const rest = Buffer.concat([buf.subarray(0, a), buf.subarray(b)]);
  const to = rng.pick(records.filter((r) => r !== a).map((r) => (r > a ? r - rec.length : r)));
  return { bytes: Buffer.concat([rest.subarray(0, to), rec, rest.subarray(to)]), desc: `move record ${a}..${b} to ${to}` };
}

function mutateStream(seed: Seed, rng: Rng): { bytes: Buffer; desc: string[] } {
  const x = seed.extra as StreamExtra;
  const kind = rng.weighted<string>([[10, 'generic'], [3, 'str'], [3, 'vmdesc'], [1, 'move'], [1, 'dup-record']]);
  if (kind === 'generic') return mutateLaidOut(seed.bytes, seed.layout!, rng);
  // Structural edits first, then sometimes a generic one on top (the layout no longer fits exactly, which is fine).
  let r: { bytes: Buffer; desc: string } | undefined;
  if (kind === 'str') r = resizeStr(seed.bytes, rng.pick(x.strs), rng);
  else if (kind === 'vmdesc' && x.vmdesc) r = mutateVmdesc(seed.bytes, x.vmdesc, rng);
  else if (kind === 'move') r = moveRecord(seed.bytes, x.records, rng);
  else r = duplicateChunk(seed.bytes, x.records, rng);
  if (!r) return mutateLaidOut(seed.bytes, seed.layout!, rng);
  if (rng.chance(0.3) && kind === 'vmdesc') {
    const m = mutateLaidOut(r.bytes, { fields: seed.layout!.fields.filter((f) => f.off < x.vmdesc!.lenOff), boundaries: [] }, rng);
    return { bytes: m.bytes, desc: [r.desc, ...m.desc] };
  }
  return { bytes: r.bytes, desc: [r.desc] };
}

function readerTarget(name: string, about: string, seeds: () => Seed[], mutate: (seed: Seed, rng: Rng) => { bytes: Buffer; desc: string[] }, fileName = 'image'): Target {
  return {
    name,
    about,
    fileName,
    seeds,
    mutate(seed, rng, all): FuzzCase {
      const s = pickSeed(all, rng);
      const m = mutate(s, rng);
      return { bytes: m.bytes, params: { ...(s.params ?? {}) }, seed: s.name, desc: m.desc };
    },
    exec: (path, params) => readImage(path, params),
    budget: (bytes) => readerBudget(bytes),
  };
}

export const qemuStreamTarget = readerTarget('qemu-stream', 'QEMU migration stream: openImage, whole memory view, page slots, rebuild', () => streamSeeds(), mutateStream);

// ---- libvirt save images ----------------------------------------------------------------------

function saveSeeds(): Seed[] {
  const variants: { name: string; o: SaveOpts }[] = [
    { name: 'v2 little-endian', o: {} },
    { name: 'v2 byte-swapped header', o: { swap: true } },
    { name: 'v1, no cookie, small padding', o: { version: 1, cookie: '', pad: 16, cookieOffset: 0 } },
  ];
  const out: Seed[] = [];
  variants.forEach((v, i) => {
    for (const s of streamSeeds((stream) => {
      const bytes = saveImage(stream, v.o);
      const swap = !!v.o.swap;
      const dataLen = swap ? bytes.readUInt32BE(20) : bytes.readUInt32LE(20);
      const fields: Field[] = [16, 20, 24, 28, 32].map((off) => ({ off, size: 4 as const, be: swap, name: ['version', 'data_len', 'was_running', 'compressed', 'cookieOffset'][(off - 16) / 4] }));
      const cookieOffset = swap ? bytes.readUInt32BE(32) : bytes.readUInt32LE(32);
      const xmlEnd = 92 + (cookieOffset || dataLen);
      const texts: Region[] = [{ off: 0, len: 16, name: 'libvirt magic' }, { off: 92, len: xmlEnd - 92, name: 'domain XML' }];
      if (cookieOffset) texts.push({ off: 92 + cookieOffset, len: dataLen - cookieOffset, name: 'cookie' });
      return { bytes, start: 92 + dataLen, layout: { fields, boundaries: [0, 16, 92, 92 + cookieOffset, 92 + dataLen], texts } };
    })) {
      if (i === 2 && s.name !== STREAM_SPECS[0].name) continue; // one stream is enough for the v1 header
      out.push({ ...s, name: `${v.name}: ${s.name}`, extra: { ...(s.extra as StreamExtra), swap: !!v.o.swap } });
    }
  });
  return out;
}

/** Grow or shrink the data area and keep data_len telling the truth (or not). */
function resizeDataArea(seed: Seed, rng: Rng): { bytes: Buffer; desc: string } {
  const x = seed.extra as StreamExtra & { swap: boolean };
  const b = seed.bytes;
  const end = x.start;
  const n = rng.pick([1, 4, 16, 4096, 65536]);
  const grow = rng.chance(0.5);
  const bytes = grow ? Buffer.concat([b.subarray(0, end), Buffer.alloc(n), b.subarray(end)]) : Buffer.concat([b.subarray(0, Math.max(92, end - n)), b.subarray(end)]);
  const dataLen = (grow ? end - 92 + n : Math.max(0, end - 92 - n)) + (rng.chance(0.8) ? 0 : rng.pick([-1, 1, 4096]));
  if (x.swap) bytes.writeUInt32BE(dataLen >>> 0, 20);
  else bytes.writeUInt32LE(dataLen >>> 0, 20);
  return { bytes, desc: `data area ${grow ? '+' : '-'}${n}, data_len ${dataLen}` };
}

export const libvirtSaveTarget = readerTarget('libvirt-save', 'libvirt save image (header, XML, cookie, embedded QEMU stream): openImage, memory view, slots, rebuild', saveSeeds, (seed, rng) => {
  if (rng.chance(0.08)) {
    const r = resizeDataArea(seed, rng);
    return { bytes: r.bytes, desc: [r.desc] };
  }
  return mutateStream(seed, rng);
});

// ---- ELF dumps -------------------------------------------------------------------------------

const align4 = (n: number) => (n + 3) & ~3;

/** Fields of an ELF core built by buildElfCore: Ehdr, section header 0 and 1, every Phdr, note headers and the descs' key fields. */
function elfLayout(bytes: Buffer, layout: ElfLayout, bits: 32 | 64): Layout {
  const L = bits === 64 ? L64 : L32;
  const w = (bits === 64 ? 8 : 4) as 4 | 8;
  const fields: Field[] = [];
  const f = (off: number, size: 1 | 2 | 4 | 8, name: string) => fields.push({ off, size, name });
  f(4, 1, 'EI_CLASS');
  f(5, 1, 'EI_DATA');
  f(6, 1, 'EI_VERSION');
  f(16, 2, 'e_type');
  f(18, 2, 'e_machine');
  f(20, 4, 'e_version');
  f(L.e_phoff, w, 'e_phoff');
  f(L.e_shoff, w, 'e_shoff');
  f(L.e_ehsize, 2, 'e_ehsize');
  f(L.e_phentsize, 2, 'e_phentsize');
  f(L.e_phnum, 2, 'e_phnum');
  f(L.e_shentsize, 2, 'e_shentsize');
  f(L.e_shnum, 2, 'e_shnum');
  f(L.e_shstrndx, 2, 'e_shstrndx');
  f(layout.shoff + L.sh_info, 4, 'shdr[0].sh_info');
  f(layout.shoff + L.shent + L.sh_offset, w, 'shdr[1].sh_offset');
  f(layout.shoff + L.shent + L.sh_size, w, 'shdr[1].sh_size');
  const phn = Math.min(layout.phnum, 64);
  const boundaries = [L.ehdr, layout.shoff, layout.phoff, layout.noteOffset, layout.noteOffset + layout.noteSize, layout.shstrtabOffset, bytes.length];
  for (let i = 0; i < phn; i++) {
    const p = layout.ph(i);
    boundaries.push(p);
    f(p, 4, `phdr ${i} p_type`);
    f(p + (bits === 64 ? 4 : 24), 4, `phdr ${i} p_flags`);
    f(p + L.p_offset, w, `phdr ${i} p_offset`);
    f(p + L.p_vaddr, w, `phdr ${i} p_vaddr`);
    f(p + L.p_paddr, w, `phdr ${i} p_paddr`);
    f(p + L.p_filesz, w, `phdr ${i} p_filesz`);
    f(p + L.p_memsz, w, `phdr ${i} p_memsz`);
  }
  for (const o of layout.loadOffsets.slice(0, 64)) boundaries.push(o, o + PAGE_SIZE);
  const texts: Region[] = [];
  layout.noteOffsets.forEach((at, n) => {
    boundaries.push(at, at + 12);
    f(at, 4, `note ${n} n_namesz`);
    f(at + 4, 4, `note ${n} n_descsz`);
    f(at + 8, 4, `note ${n} n_type`);
    const namesz = bytes.readUInt32LE(at);
    const descsz = bytes.readUInt32LE(at + 4);
    const name = bytes.toString('latin1', at + 12, at + 12 + namesz).replace(/\0+$/, '');
    const desc = at + 12 + align4(namesz);
    texts.push({ off: at + 12, len: namesz, name: `note ${n} name` });
    boundaries.push(desc, desc + align4(descsz));
    if (name === 'QEMU') {
      f(desc, 4, `note ${n} QEMUCPUState version`);
      f(desc + 4, 4, `note ${n} QEMUCPUState size`);
      for (const [o, k] of [[392, 'cr0'], [416, 'cr3'], [424, 'cr4']] as const) f(desc + o, 8, `note ${n} ${k}`);
    } else if (name === 'CORE') {
      f(desc + (w === 8 ? 32 : 24), 4, `note ${n} pr_pid`);
    } else if (name === 'VMCOREINFO') {
      texts.push({ off: desc, len: descsz, name: 'VMCOREINFO' });
    }
  });
  return { fields, boundaries, texts };
}

/** Enough PT_LOADs for PN_XNUM: one of two pages, then empty ones (p_filesz = p_memsz = 0) that the view skips. */
function xnumLoads() {
  return [{ gpa: 0, data: pages(0, 2) }, ...tinyLoads(0xfffe, 4).map((l) => ({ gpa: l.gpa + 0x100000, data: Buffer.alloc(0), memLength: 0 }))];
}

function elfSeeds(): Seed[] {
  const cpu32 = [{ rip: 0xc1001234n, rsp: 0xc1800000n, cr3: 0x1d6e000n, cr0: 0x80050033n, cr4: 0x690n }];
  const specs: { name: string; spec: ElfSpec; weight?: number }[] = [
    { name: 'ELF64 x86-64, 3 loads (one above 4 GiB), 2 vCPUs, VMCOREINFO', spec: SPEC64 },
    { name: 'ELF32 i386, 2 loads, QEMU state 432 bytes', spec: { bits: 32, loads: [{ gpa: 0, data: pages(0, 4) }, { gpa: 0x100000, data: pages(0x100000, 4) }], cpus: cpu32, vmcoreinfo: VMCOREINFO, qemuStateSize: 432 } },
    { name: 'ELF64 EM_386, zero-filled tail, partial page', spec: { bits: 64, machine: EM_386, loads: [{ gpa: 0, data: pages(0, 2), memLength: 8 * PAGE_SIZE }, { gpa: 0xfffc0000, data: Buffer.concat([pages(0xfffc0000, 1), Buffer.alloc(100, 1)]), memLength: 2 * PAGE_SIZE }], cpus: cpu32, vmcoreinfo: VMCOREINFO } },
    { name: 'ELF32 no notes, one load', spec: { bits: 32, loads: [{ gpa: 0x2000, data: pages(0x2000, 3) }] } },
    { name: 'ELF64 PN_XNUM (65535 program headers: one load and 65534 empty ones)', spec: { loads: xnumLoads(), cpus: [CPUS[0]] }, weight: 0.05 },
  ];
  return specs.map(({ name, spec, weight }) => {
    const { bytes, layout } = buildElfCore(spec);
    return { name, bytes, layout: elfLayout(bytes, layout, spec.bits ?? 64), weight };
  });
}

export const elfDumpTarget = readerTarget('elf-dump', 'QEMU ELF dump, ELF32 and ELF64 (EM_X86_64, EM_386, PN_XNUM): openImage, memory view, slots, rebuild', elfSeeds,
  (seed, rng) => mutateLaidOut(seed.bytes, seed.layout!, rng, { from: 0, to: 4096 }), 'dump.elf');

// ---- raw -------------------------------------------------------------------------------------

const MAGICS = [Buffer.from('LibvirtQemudSave'), Buffer.from('LibvirtQemudPart'), Buffer.from([0x51, 0x45, 0x56, 0x4d]), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]),
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 3, 1, 1]), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 1, 2, 1]), Buffer.from('makedumpfile\0'), Buffer.from('KDUMP   ')];

function rawSeeds(): Seed[] {
  const img = (n: number) => Buffer.concat(Array.from({ length: n }, (_, i) => (i % 3 === 1 ? Buffer.alloc(PAGE_SIZE) : page(i))));
  const b = (n: number) => Array.from({ length: n + 1 }, (_, i) => i * PAGE_SIZE);
  return [
    { name: 'raw 1 page', bytes: img(1), layout: { fields: [], boundaries: b(1) } },
    { name: 'raw 6 pages, probed', bytes: img(6), layout: { fields: [], boundaries: b(6) } },
    { name: 'raw 6 pages, --format raw', bytes: img(6), params: { format: 'raw' }, layout: { fields: [], boundaries: b(6) } },
  ];
}

export const rawTarget = readerTarget('raw', 'raw memory file (probed, or --format raw): openImage, memory view, slots, rebuild', rawSeeds, (seed, rng) => {
  if (rng.chance(0.25)) {
    // Another container's magic at the head of a page-multiple file: the probe order decides.
    const m = rng.pick(MAGICS);
    const bytes = Buffer.from(seed.bytes);
    m.copy(bytes, 0);
    if (rng.chance(0.5)) bytes.writeUInt16LE(rng.pick([0, 1, 4, 0xffff]), 16);
    return { bytes, desc: [`magic ${m.toString('latin1').replace(/[^ -~]/g, '.')} at 0`] };
  }
  return mutateLaidOut(seed.bytes, seed.layout!, rng);
});
