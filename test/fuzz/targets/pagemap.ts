/**
 * The page-map parser (src/introspect/pagemap.ts): `PageMap.parse` on the text and `PageMap.read` on
 * the file (1 MiB chunks, a line at a time), bounded by a page-frame count. Besides "no crash", the
 * two must agree (both refuse, or give the same map), and an accepted map must survive toText → parse.
 */
import * as fs from 'node:fs';
import { DEFAULT_MAX_PFNS, PAGE_TYPES, PageMap, PageTypeCode } from '../../../src/introspect/pagemap.js';
import { MigError } from '../../../src/util/errors.js';
import { mutateText } from '../mutate.js';
import type { Rng } from '../rng.js';
import { FuzzCase, FuzzOracleError, Params, pickSeed, Seed, Target } from '../target.js';

function mapText(n: number, runLen: (i: number) => number, eol = '\n'): string {
  const types = new Uint8Array(n);
  for (let p = 0, i = 0; p < n; i++) {
    const len = Math.min(n - p, runLen(i));
    types.fill((i * 7) % PAGE_TYPES.length, p, p + len);
    p += len;
  }
  return new PageMap(types).toText().replace(/\n/g, eol);
}

function seeds(): Seed[] {
  const s = (name: string, text: string, pfns: number, weight = 1): Seed => ({ name, bytes: Buffer.from(text, 'latin1'), params: { maxPfns: pfns }, weight });
  return [
    s('256 frames, runs of 1-5', mapText(256, (i) => 1 + (i % 5)), 256),
    s('one run', '0 65536 other\n', 65536),
    s('CRLF line ends, blank lines, spaces', '0 10 free\r\n\r\n  10 6 anon  \r\n16 16 zero\r\n', 32),
    s('no newline at the end', '0 3 kernel\n3 1 slab', 4),
    s('empty', '', 0),
    s('1.2 MB map (lines across the 1 MiB read chunks)', mapText(200_000, (i) => 1 + (i % 2)), 200_000, 0.01),
  ];
}

const TYPES = [...PAGE_TYPES, 'constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'FREE', 'Free', 'fre', 'freee', '', 'free\0', 'zero\u00e9'];
const NUMS = ['0', '1', '-1', '00', '007', '+1', '1e3', '0x10', '4095', '4096', '65535', '65536', '268435455', '268435456', '268435457', '4294967295', '4294967296',
  '9007199254740991', '9007199254740992', '9999999999999999', '99999999999999999', '18446744073709551616', ' 1', '1 ', '', '١'];

function mutatePagemap(text: string, rng: Rng): { text: string; desc: string } {
  const lines = text.split('\n');
  const i = rng.int(lines.length);
  const parts = lines[i].trim().split(' ');
  const op = rng.weighted<string>([[4, 'number'], [3, 'type'], [2, 'space'], [2, 'generic'], [1, 'long'], [1, 'bytes'], [1, 'split'], [0.3, 'many']]);
  switch (op) {
    case 'number': {
      const k = rng.int(2);
      const v = rng.pick(NUMS);
      parts[k] = v;
      lines[i] = parts.join(' ');
      return { text: lines.join('\n'), desc: `line ${i + 1} field ${k} -> ${JSON.stringify(v)}` };
    }
    case 'type': {
      const v = rng.pick(TYPES);
      parts[2] = v;
      lines[i] = parts.join(' ');
      return { text: lines.join('\n'), desc: `line ${i + 1} type -> ${JSON.stringify(v)}` };
    }
    case 'space': {
      const sep = rng.pick(['  ', '\t', ' \t', '\r', '\v', '\u00a0', '\f']);
      lines[i] = rng.chance(0.5) ? parts.join(sep) : sep + lines[i] + sep;
      return { text: lines.join('\n'), desc: `line ${i + 1} whitespace ${JSON.stringify(sep)}` };
    }
    case 'long': {
      const n = rng.pick([255, 256, 257, 4096, 1 << 20]);
      lines[i] = lines[i] + ' '.repeat(Math.max(0, n - lines[i].length));
      return { text: lines.join('\n'), desc: `line ${i + 1} padded to ${n}` };
    }
    case 'bytes': {
      const b = rng.pick(['\0', '\xff', '\xc3\xa9', '\ud83d', '\u2028', '\x85']);
      const at = rng.int(lines[i].length + 1);
      lines[i] = lines[i].slice(0, at) + b + lines[i].slice(at);
      return { text: lines.join('\n'), desc: `line ${i + 1} byte ${JSON.stringify(b)} at ${at}` };
    }
    case 'split': {
      // A run split in two (still valid), or overlapping/contiguous runs broken.
      const [s, c, t] = parts.map((x, j) => (j < 2 ? Number(x) : x)) as [number, number, string];
      if (c > 1) {
        const a = rng.int(c);
        lines.splice(i, 1, `${s} ${a} ${t}`, `${s + a + rng.pick([0, 0, 1, -1])} ${c - a} ${t}`);
        return { text: lines.join('\n'), desc: `line ${i + 1} split at ${a}` };
      }
      return mutateText(text, rng);
    }
    case 'many': {
      const n = rng.pick([1000, 20_000]);
      const extra = Array.from({ length: n }, (_, j) => `${j} 1 free`).join('\n');
      return { text: rng.chance(0.5) ? extra + '\n' + text : text + extra, desc: `${n} lines added` };
    }
    default:
      return mutateText(text, rng);
  }
}

export function pagemapCase(path: string, params: Params): void {
  const maxPfns = Number(params.maxPfns ?? DEFAULT_MAX_PFNS);
  const text = fs.readFileSync(path).toString('latin1');
  let a: PageMap | undefined;
  let ea: unknown;
  let b: PageMap | undefined;
  let eb: unknown;
  try { a = PageMap.parse(text, path, maxPfns); } catch (e) { ea = e; }
  try { b = PageMap.read(path, maxPfns); } catch (e) { eb = e; }
  if (ea !== undefined && !(ea instanceof MigError)) throw ea;
  if (eb !== undefined && !(eb instanceof MigError)) throw eb;
  // read() also refuses files larger than a map of maxPfns frames can be: parse() need not.
  const sizeLimit = eb instanceof MigError && /more than a page map of this image/.test(eb.message);
  if (a && eb && !sizeLimit) throw new FuzzOracleError(`parse accepted ${a.pfns} frames, read refused: ${(eb as Error).message}`);
  if (b && ea) throw new FuzzOracleError(`read accepted ${b.pfns} frames, parse refused: ${(ea as Error).message}`);
  if (a && b && !Buffer.from(a.types).equals(Buffer.from(b.types))) throw new FuzzOracleError('parse and read give different maps');
  if (a) {
    if (a.pfns > maxPfns) throw new FuzzOracleError(`map of ${a.pfns} frames, bound ${maxPfns}`);
    for (const c of a.types) if (c >= PAGE_TYPES.length) throw new FuzzOracleError(`type code ${c}`);
    const again = PageMap.parse(a.toText(), 'round trip', maxPfns);
    if (!Buffer.from(again.types).equals(Buffer.from(a.types))) throw new FuzzOracleError('toText → parse changes the map');
    if (a.count('free') > a.pfns || a.isFree(a.pfns) || PageTypeCode.free === undefined) throw new FuzzOracleError('counts');
  }
  if (ea) throw ea;
}

export const pagemapTarget: Target = {
  name: 'pagemap',
  about: 'page-map text (PageMap.parse and PageMap.read, bounded by a page-frame count): they agree, and toText round-trips',
  fileName: 'map.txt',
  seeds,
  mutate(seed, rng, all): FuzzCase {
    const s = pickSeed(all, rng);
    let text = s.bytes.toString('latin1');
    const desc: string[] = [];
    for (let k = rng.weighted([[6, 1], [3, 2], [1, 3]]); k > 0; k--) {
      const m = mutatePagemap(text, rng);
      text = m.text;
      desc.push(m.desc);
    }
    const pfns = Number(s.params!.maxPfns);
    const maxPfns = rng.chance(0.7) ? pfns : rng.pick([0, 1, Math.max(0, pfns - 1), pfns + 1, 4096, 1 << 20, 1 << 24]);
    return { bytes: Buffer.from(text, 'latin1'), params: { maxPfns }, seed: s.name, desc: [...desc, `maxPfns ${maxPfns}`] };
  },
  exec: (path, params) => pagemapCase(path, params),
  // The map itself (one byte per frame, grown by doubling, then cut: up to 3×) and the lines of the text.
  budget: (bytes, params) => (32 << 20) + 3 * Number(params.maxPfns ?? DEFAULT_MAX_PFNS) + 16 * bytes,
};
