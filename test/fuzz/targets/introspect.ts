/**
 * Guest introspection `introspect()` (src/introspect/index.ts) on small synthetic guests
 * (test/helpers/linux-fixture.ts: x86-64 4-level, SPARSEMEM; linux-i386-fixture.ts: non-PAE and PAE,
 * FLATMEM) whose memory, VMCOREINFO and vCPU registers are mutated: page-table entries, mem_section
 * roots, struct pages, pointers (set to zero, all ones, their own frame, other kernel addresses),
 * VMCOREINFO values and keys, and control registers.
 *
 * The input file is the harness's own container for a guest (not a mig format):
 *   "MIGFZMEM" | u32 JSON length | JSON {vmcoreinfo?, cpus?, present: [[pfn, count]…], opts?} | (u32 pfn, 4096 bytes)… for non-zero pages
 */
import * as fs from 'node:fs';
import { introspect } from '../../../src/introspect/index.js';
import { pfnSpan } from '../../../src/introspect/os.js';
import { isZeroPage, PAGE_SIZE } from '../../../src/mem/physical-memory.js';
import { FakeMemory } from '../../helpers/fake-memory.js';
import { linuxFixture, PAGES_PER_SECTION, PAGE_OFFSET, VMEMMAP } from '../../helpers/linux-fixture.js';
import { linuxI386Fixture } from '../../helpers/linux-i386-fixture.js';
import { mutateText } from '../mutate.js';
import type { Rng } from '../rng.js';
import { FuzzCase, FuzzOracleError, Params, pickSeed, Seed, Target } from '../target.js';

const MAGIC = Buffer.from('MIGFZMEM');

interface Cpu { index: number; cr0?: string; cr3?: string; cr4?: string }
interface Guest {
  vmcoreinfo?: string;
  cpus?: Cpu[];
  /** Word size of the guest's pointers and PTEs (for the mutator). */
  word: 4 | 8;
  pages: Map<number, Buffer>;
}

export function encodeGuest(g: Guest): Buffer {
  const pfns = [...g.pages.keys()].sort((a, b) => a - b);
  const present: [number, number][] = [];
  for (const p of pfns) {
    const last = present[present.length - 1];
    if (last && last[0] + last[1] === p) last[1]++;
    else present.push([p, 1]);
  }
  const json = Buffer.from(JSON.stringify({ vmcoreinfo: g.vmcoreinfo, cpus: g.cpus, word: g.word, present }));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  const parts: Buffer[] = [MAGIC, len, json];
  for (const p of pfns) {
    const b = g.pages.get(p)!;
    if (isZeroPage(b)) continue;
    const h = Buffer.alloc(4);
    h.writeUInt32LE(p);
    parts.push(h, b);
  }
  return Buffer.concat(parts);
}

export function decodeGuest(b: Buffer): Guest {
  if (!b.subarray(0, 8).equals(MAGIC)) throw new Error('not a fuzz guest');
  const n = b.readUInt32LE(8);
  const j = JSON.parse(b.toString('utf8', 12, 12 + n)) as { vmcoreinfo?: string; cpus?: Cpu[]; word: 4 | 8; present: [number, number][] };
  const pages = new Map<number, Buffer>();
  for (const [p, c] of j.present) for (let i = 0; i < c; i++) pages.set(p + i, Buffer.alloc(PAGE_SIZE));
  for (let at = 12 + n; at + 4 + PAGE_SIZE <= b.length; at += 4 + PAGE_SIZE) {
    const pfn = b.readUInt32LE(at);
    pages.set(pfn, Buffer.from(b.subarray(at + 4, at + 4 + PAGE_SIZE)));
  }
  return { vmcoreinfo: j.vmcoreinfo, cpus: j.cpus, word: j.word, pages };
}

function guestFromFake(mem: FakeMemory, word: 4 | 8, vmcoreinfo?: string, cpus?: Cpu[]): Guest {
  return { vmcoreinfo, cpus, word, pages: new Map([...mem.pages].map(([k, v]) => [k, Buffer.from(v)])) };
}

const PG = { lru: 1 << 4, slab: 1 << 9, reserved: 1 << 12, swapbacked: 1 << 19 };

function seeds(): Seed[] {
  const out: Seed[] = [];
  // x86-64: two sections of struct pages, typed pages of every kind.
  const fx = linuxFixture(2 * PAGES_PER_SECTION, [0, 1]);
  fx.setPage(1, { flags: PG.reserved });
  fx.setPage(8, { mapcount: ~0x80, priv: 3, refcount: 0 });
  fx.setPage(16, { mapcount: ~0x200 });
  fx.setPage(18, { flags: PG.slab });
  fx.setPage(19, { compoundHead: fx.pageVa(18) + 1n });
  fx.setPage(20, { flags: PG.lru, mapping: PAGE_OFFSET + 0x1234561n });
  fx.setPage(21, { flags: PG.lru, mapping: PAGE_OFFSET + 0x1234000n });
  fx.setPage(70, { flags: PG.lru | PG.swapbacked, mapping: PAGE_OFFSET + 0x1235000n });
  out.push({ name: 'x86-64 4-level, SPARSEMEM, VMCOREINFO from the container', bytes: encodeGuest(guestFromFake(fx.mem, 8, fx.vmcoreinfo)) });
  // The same guest with VMCOREINFO only in memory (found by scanning) and vCPU registers.
  const fx2 = linuxFixture(PAGES_PER_SECTION, [0]);
  const v = Buffer.alloc(PAGE_SIZE);
  v.write(fx2.vmcoreinfo);
  fx2.mem.write(40 * PAGE_SIZE, v);
  out.push({ name: 'x86-64, VMCOREINFO found by scanning memory, CR registers', bytes: encodeGuest(guestFromFake(fx2.mem, 8, undefined, [{ index: 0, cr0: '0x80050033', cr3: '0x10000', cr4: '0x3606f0' }])) });
  for (const pae of [false, true]) {
    const fi = linuxI386Fixture({ pae, ramPages: 1200 });
    fi.setPage(0, { flags: PG.reserved });
    fi.setPage(8, { mapcount: ~0x80, priv: 3, refcount: 0 });
    fi.setPage(18, { flags: PG.slab });
    fi.setPage(19, { compoundHead: fi.pageVa(18) + 1 });
    fi.setPage(20, { flags: PG.lru, mapping: 0xc1234561 });
    const cpus = [{ index: 0, cr0: '0x80050033', cr3: '0x' + fi.rootPa.toString(16), cr4: pae ? '0x6b0' : '0x690' }];
    out.push({ name: `i386 ${pae ? 'PAE' : 'non-PAE'}, FLATMEM`, bytes: encodeGuest(guestFromFake(fi.mem, 4, fi.vmcoreinfo, cpus)) });
  }
  return out;
}

/** Values a pointer or PTE is set to. */
function wordValue(rng: Rng, cur: bigint, pfn: number, word: 4 | 8, maxPfn: number): bigint {
  const m = word === 8 ? (1n << 64n) - 1n : 0xffffffffn;
  const v = rng.weighted<() => bigint>([
    [3, () => 0n],
    [2, () => m],
    [3, () => cur ^ 1n], // present bit
    [3, () => cur ^ 0x80n], // PS (large page) bit
    [1, () => cur ^ (1n << 63n)], // NX
    [2, () => (BigInt(pfn) << 12n) | (cur & 0xfffn)], // points at its own frame: a cycle
    [2, () => (BigInt(rng.int(maxPfn + 2)) << 12n) | (cur & 0xfffn)], // another frame
    [2, () => cur + BigInt(rng.pick([1, 8, 64, 4096, 0x200000]))],
    [1, () => (word === 8 ? PAGE_OFFSET : 0xc0000000n) + BigInt(rng.int(maxPfn + 16)) * 4096n],
    [1, () => (word === 8 ? VMEMMAP : 0xc0400000n) + BigInt(rng.int(1 << 20)) * 64n],
    [1, () => BigInt(rng.u32()) * (word === 8 ? BigInt(rng.u32()) : 1n)],
    [1, () => BigInt(-rng.range(1, 300)) & m], // small negatives (mapcount values)
  ])();
  return v & m;
}

function mutateGuest(g: Guest, rng: Rng, nonZero: readonly number[]): string {
  const structure = nonZero.filter((p) => g.pages.has(p)).map((p) => [p, g.pages.get(p)!] as const);
  let maxPfn = 0;
  for (const p of g.pages.keys()) if (p > maxPfn) maxPfn = p;
  const kind = rng.weighted<string>([[g.vmcoreinfo !== undefined ? 4 : 0, 'vmcoreinfo'], [8, 'word'], [1, 'hole'], [1, 'page'], [g.cpus ? 1 : 0, 'cpu'], [1, 'drop-vmcoreinfo']]);
  switch (kind) {
    case 'vmcoreinfo': {
      const m = mutateText(g.vmcoreinfo!, rng);
      g.vmcoreinfo = m.text;
      return `VMCOREINFO ${m.desc}`;
    }
    case 'hole': {
      const [pfn] = rng.pick(structure.length && rng.chance(0.7) ? structure : [...g.pages]);
      g.pages.delete(pfn);
      return `page ${pfn} removed`;
    }
    case 'page': {
      const pfn = rng.pick([...g.pages.keys()]);
      g.pages.set(pfn, Buffer.alloc(PAGE_SIZE, rng.pick([0xff, 0x01, 0x80])));
      return `page ${pfn} filled`;
    }
    case 'cpu': {
      const c = rng.pick(g.cpus!);
      const reg = rng.pick(['cr0', 'cr3', 'cr4'] as const);
      const cur = BigInt(c[reg] ?? '0');
      const v = rng.pick([0n, cur ^ 0x20n, cur ^ 0x1000n, cur ^ 0x80000000n, cur ^ 1n, (1n << 64n) - 1n, cur + 4096n, 0xfffff000n]);
      c[reg] = '0x' + v.toString(16);
      return `vCPU ${c.index} ${reg} -> ${c[reg]}`;
    }
    case 'drop-vmcoreinfo':
      g.vmcoreinfo = undefined;
      return 'VMCOREINFO dropped from the container';
    default: {
      if (!structure.length) return 'no structure';
      const [pfn, b] = rng.pick(structure);
      // Prefer non-zero words: pointers, PTEs, struct page fields.
      const words = [];
      for (let o = 0; o < PAGE_SIZE; o += g.word) if ((g.word === 8 ? b.readBigUInt64LE(o) : BigInt(b.readUInt32LE(o))) !== 0n) words.push(o);
      const o = words.length && rng.chance(0.85) ? rng.pick(words) : rng.int(PAGE_SIZE / g.word) * g.word;
      const nb = Buffer.from(b);
      const cur = g.word === 8 ? nb.readBigUInt64LE(o) : BigInt(nb.readUInt32LE(o));
      const v = wordValue(rng, cur, pfn, g.word, maxPfn);
      if (g.word === 8) nb.writeBigUInt64LE(v, o);
      else nb.writeUInt32LE(Number(v), o);
      g.pages.set(pfn, nb);
      return `pfn ${pfn}+${o}: 0x${cur.toString(16)} -> 0x${v.toString(16)}`;
    }
  }
}

function parseSeed(b: Buffer): { guest: Guest; nonZero: number[] } {
  const guest = decodeGuest(b);
  return { guest, nonZero: [...guest.pages].filter(([, p]) => !isZeroPage(p)).map(([pfn]) => pfn) };
}

export function introspectCase(p: string, params: Params): void {
  const g = decodeGuest(fs.readFileSync(p));
  const mem = new FakeMemory();
  for (const [pfn, b] of g.pages) mem.pages.set(pfn, b);
  const cpus = g.cpus?.map((c) => ({ index: c.index, cr0: c.cr0 ? BigInt(c.cr0) : undefined, cr3: c.cr3 ? BigInt(c.cr3) : undefined, cr4: c.cr4 ? BigInt(c.cr4) : undefined }));
  const r = introspect({ memory: mem, vmcoreinfo: g.vmcoreinfo, cpus }, { pcp: params.pcp !== false });
  if (r.map.pfns > pfnSpan(mem)) throw new FuzzOracleError(`page map of ${r.map.pfns} frames for a memory of ${pfnSpan(mem)}`);
}

export const introspectTarget: Target = {
  name: 'introspect',
  about: 'guest introspection (Linux x86-64 and i386 non-PAE/PAE) on mutated synthetic guests: memory, VMCOREINFO, vCPU registers',
  fileName: 'guest.bin',
  seeds,
  mutate(seed, rng, all): FuzzCase {
    const s = pickSeed(all, rng);
    // The seed's guest is parsed once; a case copies the page map and clones only the pages it edits.
    const parsed = (s.extra ??= parseSeed(s.bytes)) as { guest: Guest; nonZero: number[] };
    const g: Guest = { ...parsed.guest, cpus: parsed.guest.cpus?.map((c) => ({ ...c })), pages: new Map(parsed.guest.pages) };
    const desc: string[] = [];
    for (let k = rng.weighted([[5, 1], [3, 2], [2, 4]]); k > 0; k--) desc.push(mutateGuest(g, rng, parsed.nonZero));
    return { bytes: encodeGuest(g), params: { pcp: rng.chance(0.8) }, seed: s.name, desc };
  },
  exec: (p, params) => introspectCase(p, params),
  // The page map (a byte per frame) and a few page buffers per frame walked.
  budget: (bytes) => (96 << 20) + 32 * bytes,
};
