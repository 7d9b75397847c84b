import test from 'ava';
import { markExecutableImages } from '../../../src/introspect/linux/exec-pages.js';
import { PageMap, PageTypeCode } from '../../../src/introspect/pagemap.js';
import { X64_4LEVEL, X86_NONPAE, X86_PAE } from '../../../src/introspect/x86/paging.js';
import { FakeMemory } from '../../helpers/fake-memory.js';

const T = PageTypeCode;
const TABLE = 0x10;

/** PFNs 0x20.. are cache pages; PFN TABLE is a page table. */
function setup() {
  const mem = new FakeMemory();
  mem.addRange(0, 0x40);
  const types = new Uint8Array(0x40).fill(T.cache);
  types[TABLE] = T.pagetable;
  return { mem, map: new PageMap(types) };
}

test('non-PAE table page: 1024 4-byte entries, P and US mark, no NX bit to check', (t) => {
  const { mem, map } = setup();
  const put = (i: number, v: number) => mem.page(TABLE).writeUInt32LE(v >>> 0, i * 4);
  put(0, 0x20000 | 0x5); // P|US → 0x20
  put(1, 0x21000 | 0x1); // supervisor: not marked
  put(2, 0x22000 | 0x4); // not present
  put(1023, 0x23000 | 0x7); // last entry of the page → 0x23
  put(600, 0x80024005); // bit 31 is an address bit here, not NX: target beyond the map, counted only
  const r = markExecutableImages(mem, map, X86_NONPAE);
  t.deepEqual(r, { tables: 1, execEntries: 3, imagePages: 2 });
  t.deepEqual([0x20, 0x21, 0x22, 0x23].map((p) => map.types[p]), [T.image, T.cache, T.cache, T.image]);
});

test('PAE table page: 512 8-byte entries, NX in bit 63 excludes, addresses above 4 GiB', (t) => {
  const { mem, map } = setup();
  const put = (i: number, v: bigint) => mem.page(TABLE).writeBigUInt64LE(v, i * 8);
  put(0, 0x20000n | 0x5n); // → 0x20
  put(1, (1n << 63n) | 0x21000n | 0x5n); // NX
  put(511, 0x22000n | 0x7n); // → 0x22
  put(5, 0x1_0002_3000n | 0x5n); // above 4 GiB: PFN 0x100023, outside the map
  const r = markExecutableImages(mem, map, X86_PAE);
  t.deepEqual(r, { tables: 1, execEntries: 3, imagePages: 2 });
  t.deepEqual([0x20, 0x21, 0x22, 0x23].map((p) => map.types[p]), [T.image, T.cache, T.image, T.cache]);
});

test('the same 8-byte table read as non-PAE would be misread: the mode decides', (t) => {
  const a = setup();
  a.mem.page(TABLE).writeBigUInt64LE((1n << 63n) | 0x21000n | 0x5n, 8);
  t.is(markExecutableImages(a.mem, a.map, X86_PAE).execEntries, 0);
  const b = setup();
  b.mem.page(TABLE).writeBigUInt64LE((1n << 63n) | 0x21000n | 0x5n, 8);
  t.is(markExecutableImages(b.mem, b.map, X86_NONPAE).execEntries, 1);
});

test('x86-64 with an SME C-bit: stripped from the target', (t) => {
  const { mem, map } = setup();
  const sme = 2 ** 47;
  mem.page(TABLE).writeBigUInt64LE(BigInt(sme) | 0x20000n | 0x5n, 0);
  t.deepEqual(markExecutableImages(mem, map, X64_4LEVEL, sme), { tables: 1, execEntries: 1, imagePages: 1 });
  t.is(map.types[0x20], T.image);
});
