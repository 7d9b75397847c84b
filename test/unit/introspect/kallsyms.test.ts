import test from 'ava';
import { Kallsyms } from '../../../src/introspect/linux/kallsyms.js';

/** Build kallsyms tables the way scripts/kallsyms.c does: token table, names as token indices. */
function tables(syms: { name: string; addr: bigint }[], base: bigint, absolutePercpu: boolean) {
  // Tokens: index i < 128 = the single character i; 200 = "ker", 201 = "nel_", 202 = "T_s".
  const tokens: string[] = [];
  for (let i = 0; i < 256; i++) tokens.push(i < 128 ? String.fromCharCode(i) : `#${i}`);
  tokens[200] = 'ker';
  tokens[201] = 'nel_';
  tokens[202] = 'T_s';
  const tokenTable: number[] = [];
  const tokenIndex = new Uint16Array(256);
  tokens.forEach((tok, i) => {
    tokenIndex[i] = tokenTable.length;
    for (const c of Buffer.from(tok, 'latin1')) tokenTable.push(c);
    tokenTable.push(0);
  });
  const names: number[] = [];
  for (const s of syms) {
    const idx: number[] = [];
    for (let i = 0; i < s.name.length; ) {
      const multi = [202, 200, 201].find((t) => s.name.startsWith(tokens[t], i));
      if (multi !== undefined) {
        idx.push(multi);
        i += tokens[multi].length;
      } else idx.push(s.name.charCodeAt(i++));
    }
    if (idx.length >= 128) names.push((idx.length & 0x7f) | 0x80, idx.length >> 7);
    else names.push(idx.length);
    names.push(...idx);
  }
  const offsets = Int32Array.from(syms, (s) => {
    if (!absolutePercpu) return Number(s.addr - base) | 0;
    return s.addr < 0x100000000n ? Number(s.addr) : -Number(s.addr - base + 1n);
  });
  return { numSyms: syms.length, names: Uint8Array.from(names), tokenTable: Uint8Array.from(tokenTable), tokenIndex, offsets, relativeBase: base };
}

const BASE = 0xffffffffb6400000n;
const long = 'T' + 'x'.repeat(300); // a name of more than 127 tokens: two-byte length (6.1)
const SYMS = [
  { name: 'Afixed_percpu_data', addr: 0n },
  { name: 'A__per_cpu_start', addr: 0x0n },
  { name: 'T_stext', addr: BASE },
  { name: 'Tstart_kernel', addr: BASE + 0x1234n },
  { name: long, addr: BASE + 0x2000n },
  { name: 'Dpage_offset_base', addr: BASE + 0x1415740n },
  { name: 'dkernel_page', addr: BASE + 0x1415748n },
];

for (const absolutePercpu of [true, false]) {
  test(`names expand from tokens and addresses decode (absolute percpu: ${absolutePercpu})`, (t) => {
    const syms = absolutePercpu ? SYMS : SYMS.filter((s) => s.addr >= BASE);
    const ks = new Kallsyms(tables(syms, BASE, absolutePercpu), absolutePercpu);
    t.is(ks.count, syms.length);
    syms.forEach((s, i) => t.is(ks.rawName(i), s.name));
    t.is(ks.lookup('_stext'), BASE);
    t.is(ks.lookup('start_kernel'), BASE + 0x1234n);
    t.is(ks.lookup('page_offset_base'), BASE + 0x1415740n);
    t.is(ks.lookup(long.slice(1)), BASE + 0x2000n);
    t.is(ks.lookup('kernel_page'), BASE + 0x1415748n);
    t.is(ks.lookup('kernel'), undefined, 'a prefix is not a match');
    t.is(ks.lookup('page_offset_base_x'), undefined, 'nor a longer name');
    if (absolutePercpu) t.is(ks.lookup('__per_cpu_start'), 0n);
    t.throws(() => ks.need('no_such_symbol'), { message: /kallsyms has no symbol no_such_symbol/ });
  });
}

test('a names table shorter than its symbol count is refused', (t) => {
  const tb = tables(SYMS, BASE, true);
  t.throws(() => new Kallsyms({ ...tb, names: tb.names.subarray(0, 20) }), { message: /kallsyms_names/ });
});
