/**
 * Generic, structure-aware mutation primitives. A target describes a valid seed as a Layout: its
 * integer fields (offset, size, byte order, name), the offsets where one structure ends and the next
 * begins, and its text regions. Mutators then hit those fields with boundary values, flip bytes,
 * truncate or cut at structure boundaries, and edit text (numbers, lines, keys). Each mutation
 * returns a short description that ends up in a reproducer's .json.
 */
import type { Rng } from './rng.js';

export interface Field {
  off: number;
  size: 1 | 2 | 4 | 8;
  /** Big-endian (QEMU streams); little-endian otherwise. */
  be?: boolean;
  name: string;
}

export interface Region {
  off: number;
  len: number;
  name: string;
}

export interface Layout {
  fields: Field[];
  /** Offsets where a structure starts or ends (truncation and insertion points). */
  boundaries: number[];
  /** Text regions (XML, VMCOREINFO, JSON) that may be edited in place. */
  texts?: Region[];
}

export interface Mutated {
  bytes: Buffer;
  desc: string[];
}

const B = BigInt;
/** Boundary values every integer field is tried with (masked to its width). */
export const INTERESTING: readonly bigint[] = [
  0n, 1n, 2n, 3n, 4n, 7n, 8n, 12n, 16n, 0x7fn, 0x80n, 0xffn, 0x100n, 0xfffn, 0x1000n, 0x1001n, 0x7fffn, 0x8000n, 0xffffn, 0x10000n,
  0x100000n, 0x7fffffffn, 0x80000000n, 0xfffff000n, 0xffffffffn, 0x100000000n, 1n << 40n, 1n << 42n, (1n << 52n) - 4096n, 1n << 52n,
  (1n << 53n) - 1n, 1n << 53n, (1n << 53n) + 1n, 1n << 63n, (1n << 64n) - 1n, (1n << 64n) - 2n, (1n << 64n) - 4096n,
];

const mask = (size: number) => (1n << B(size * 8)) - 1n;

export function readField(buf: Buffer, f: Field): bigint {
  if (f.off < 0 || f.off + f.size > buf.length) return 0n;
  switch (f.size) {
    case 1: return B(buf[f.off]);
    case 2: return B(f.be ? buf.readUInt16BE(f.off) : buf.readUInt16LE(f.off));
    case 4: return B(f.be ? buf.readUInt32BE(f.off) : buf.readUInt32LE(f.off));
    default: return f.be ? buf.readBigUInt64BE(f.off) : buf.readBigUInt64LE(f.off);
  }
}

export function writeField(buf: Buffer, f: Field, v: bigint): void {
  if (f.off < 0 || f.off + f.size > buf.length) return;
  const x = ((v % (mask(f.size) + 1n)) + mask(f.size) + 1n) & mask(f.size);
  switch (f.size) {
    case 1: buf[f.off] = Number(x); break;
    case 2: f.be ? buf.writeUInt16BE(Number(x), f.off) : buf.writeUInt16LE(Number(x), f.off); break;
    case 4: f.be ? buf.writeUInt32BE(Number(x), f.off) : buf.writeUInt32LE(Number(x), f.off); break;
    default: f.be ? buf.writeBigUInt64BE(x, f.off) : buf.writeBigUInt64LE(x, f.off);
  }
}

/** A value for a field: a boundary value, the current value nudged, scaled or negated, the file size, or random. */
export function interestingValue(rng: Rng, cur: bigint, size: number, fileSize: number): bigint {
  const m = mask(size);
  const fs = B(fileSize);
  const v = rng.weighted<() => bigint>([
    [6, () => rng.pick(INTERESTING)],
    [4, () => cur + B(rng.range(1, 16))],
    [4, () => cur - B(rng.range(1, 16))],
    [2, () => cur * 2n],
    [2, () => cur / 2n],
    [1, () => cur + 4096n],
    [1, () => cur - 4096n],
    [2, () => fs + B(rng.range(-8, 8))],
    [2, () => -B(rng.range(1, 4))], // negative: all ones and near it
    [1, () => (1n << B(rng.int(size * 8))) ],
    [1, () => B(rng.u32()) * (size > 4 ? B(rng.u32()) : 1n)],
  ])();
  return ((v % (m + 1n)) + m + 1n) & m;
}

/** Set one field of the layout to an interesting value (in place). */
export function mutateField(buf: Buffer, fields: readonly Field[], rng: Rng): string | undefined {
  const live = fields.filter((f) => f.off >= 0 && f.off + f.size <= buf.length);
  if (!live.length) return undefined;
  const f = rng.pick(live);
  const cur = readField(buf, f);
  const v = interestingValue(rng, cur, f.size, buf.length);
  writeField(buf, f, v);
  return `field ${f.name}@${f.off} ${cur} -> ${v}`;
}

/** Flip 1–8 random bits or bytes (in place). */
export function flipBytes(buf: Buffer, rng: Rng, from = 0, to = buf.length): string | undefined {
  if (to <= from) return undefined;
  const n = rng.range(1, 8);
  const at: number[] = [];
  for (let i = 0; i < n; i++) {
    const p = from + rng.int(to - from);
    if (rng.chance(0.5)) buf[p] ^= 1 << rng.int(8);
    else buf[p] = rng.pick([0, 0xff, 0x7f, 0x80, rng.int(256)]);
    at.push(p);
  }
  return `flip @${at.join(',')}`;
}

/** Cut the file at a structure boundary (± 0..2 bytes) or anywhere. */
export function truncate(buf: Buffer, boundaries: readonly number[], rng: Rng): { bytes: Buffer; desc: string } {
  const inside = boundaries.filter((b) => b >= 0 && b < buf.length);
  const at = inside.length && rng.chance(0.85) ? Math.max(0, rng.pick(inside) + rng.pick([0, 0, 0, -1, 1, -2, 2])) : rng.int(buf.length);
  return { bytes: Buffer.from(buf.subarray(0, Math.min(at, buf.length))), desc: `truncate at ${at}` };
}

/** Insert or delete a few bytes at a structure boundary (shifts everything after it). */
export function shiftAt(buf: Buffer, boundaries: readonly number[], rng: Rng): { bytes: Buffer; desc: string } {
  const inside = boundaries.filter((b) => b >= 0 && b <= buf.length);
  const at = inside.length ? rng.pick(inside) : rng.int(buf.length + 1);
  if (rng.chance(0.5)) {
    const n = rng.pick([1, 2, 4, 8, 12, 16, 4096]);
    const ins = rng.chance(0.5) ? Buffer.alloc(n, rng.pick([0, 0xff])) : rng.bytes(n);
    return { bytes: Buffer.concat([buf.subarray(0, at), ins, buf.subarray(at)]), desc: `insert ${n} bytes at ${at}` };
  }
  const n = Math.min(buf.length - at, rng.pick([1, 2, 4, 8, 16, 4096]));
  return { bytes: Buffer.concat([buf.subarray(0, at), buf.subarray(at + n)]), desc: `delete ${n} bytes at ${at}` };
}

/** Repeat the bytes between two boundaries (a record or section twice). */
export function duplicateChunk(buf: Buffer, boundaries: readonly number[], rng: Rng): { bytes: Buffer; desc: string } | undefined {
  const b = [...new Set(boundaries.filter((x) => x >= 0 && x <= buf.length))].sort((x, y) => x - y);
  if (b.length < 2) return undefined;
  const i = rng.int(b.length - 1);
  const j = Math.min(b.length - 1, i + rng.range(1, 3));
  const [s, e] = [b[i], b[j]];
  if (e - s > 1 << 20) return undefined;
  return { bytes: Buffer.concat([buf.subarray(0, e), buf.subarray(s, e), buf.subarray(e)]), desc: `duplicate ${s}..${e}` };
}

// ---- text ---------------------------------------------------------------------------------

const TEXT_NUMBERS = ['0', '1', '-1', '4095', '4096', '4097', '2147483647', '4294967295', '4294967296', '9007199254740992', '18446744073709551615',
  '-9223372036854775808', '99999999999999999999999', '0x0', 'ffffffffffffffff', '7fffffffffffffff', 'NaN', '1e308', ''];

/** Edit a text: a number replaced by a boundary value, a line dropped, doubled, swapped, cut, or junk inserted. */
export function mutateText(text: string, rng: Rng): { text: string; desc: string } {
  const lines = text.split('\n');
  const op = rng.weighted<string>([[6, 'number'], [2, 'drop'], [2, 'dup'], [1, 'swap'], [2, 'cut'], [1, 'junk'], [1, 'key']]);
  if (op === 'number') {
    const nums = [...text.matchAll(/-?(?:0x)?[0-9a-fA-F]+/g)];
    if (nums.length) {
      const m = rng.pick(nums);
      const rep = rng.pick(TEXT_NUMBERS);
      return { text: text.slice(0, m.index) + rep + text.slice(m.index! + m[0].length), desc: `text number ${m[0]}@${m.index} -> ${rep}` };
    }
  }
  const i = rng.int(lines.length);
  switch (op) {
    case 'drop':
      lines.splice(i, 1);
      return { text: lines.join('\n'), desc: `text drop line ${i}` };
    case 'dup':
      lines.splice(i, 0, lines[i]);
      return { text: lines.join('\n'), desc: `text duplicate line ${i}` };
    case 'swap': {
      const j = rng.int(lines.length);
      [lines[i], lines[j]] = [lines[j], lines[i]];
      return { text: lines.join('\n'), desc: `text swap lines ${i},${j}` };
    }
    case 'cut': {
      const at = rng.int(text.length + 1);
      return { text: text.slice(0, at), desc: `text cut at ${at}` };
    }
    case 'key': {
      // The key of a KEY=value line replaced by another line's key (duplicates, prototype names).
      const keys = lines.map((l) => l.split('=')[0]).filter((k) => k);
      const k = rng.pick([...keys, 'constructor', '__proto__', 'toString', 'hasOwnProperty']);
      const eq = lines[i].indexOf('=');
      lines[i] = (k ?? '') + (eq >= 0 ? lines[i].slice(eq) : '=' + lines[i]);
      return { text: lines.join('\n'), desc: `text key of line ${i} -> ${k}` };
    }
    default: {
      const at = rng.int(text.length + 1);
      const junk = rng.pick(['\0', '\n', '=', '(', ')', '\r\n', '\u00ff', '\ud800', 'x'.repeat(300), ' ', '\t', '{', '"']);
      return { text: text.slice(0, at) + junk + text.slice(at), desc: `text junk ${JSON.stringify(junk.slice(0, 8))} at ${at}` };
    }
  }
}

/** Edit a text region of a binary file in place: the new text is cut or NUL-padded to the region's length. */
export function mutateTextRegion(buf: Buffer, r: Region, rng: Rng): string | undefined {
  if (r.off < 0 || r.off + r.len > buf.length || r.len === 0) return undefined;
  const old = buf.toString('latin1', r.off, r.off + r.len);
  const nul = old.indexOf('\0');
  const { text, desc } = mutateText(nul >= 0 ? old.slice(0, nul) : old, rng);
  const bytes = Buffer.from(text, 'latin1');
  const out = Buffer.alloc(r.len);
  bytes.copy(out, 0, 0, Math.min(bytes.length, r.len));
  out.copy(buf, r.off);
  return `${r.name}: ${desc}`;
}

/**
 * The standard stack of mutations on a laid-out binary: 1–4 in-place edits (fields, text, byte flips),
 * then sometimes one that shifts or cuts (truncation at a boundary, insert/delete, a duplicated chunk).
 */
export function mutateLaidOut(seed: Buffer, layout: Layout, rng: Rng, structure?: { from: number; to: number }): Mutated {
  let bytes: Buffer = Buffer.from(seed);
  const desc: string[] = [];
  const n = rng.weighted([[5, 1], [3, 2], [2, 3], [1, 4]]);
  for (let k = 0; k < n; k++) {
    const op = rng.weighted<string>([[10, 'field'], [layout.texts?.length ? 3 : 0, 'text'], [3, 'flip'], [1, 'flip-any']]);
    let d: string | undefined;
    if (op === 'field') d = mutateField(bytes, layout.fields, rng);
    else if (op === 'text') d = mutateTextRegion(bytes, rng.pick(layout.texts!), rng);
    else if (op === 'flip' && structure) d = flipBytes(bytes, rng, structure.from, Math.min(structure.to, bytes.length));
    else d = flipBytes(bytes, rng);
    if (d) desc.push(d);
  }
  const tail = rng.weighted<string>([[14, 'none'], [4, 'truncate'], [2, 'shift'], [1, 'dup']]);
  if (tail === 'truncate') {
    const t = truncate(bytes, layout.boundaries, rng);
    bytes = t.bytes;
    desc.push(t.desc);
  } else if (tail === 'shift') {
    const t = shiftAt(bytes, layout.boundaries, rng);
    bytes = t.bytes;
    desc.push(t.desc);
  } else if (tail === 'dup') {
    const t = duplicateChunk(bytes, layout.boundaries, rng);
    if (t) {
      bytes = t.bytes;
      desc.push(t.desc);
    }
  }
  return { bytes, desc };
}
