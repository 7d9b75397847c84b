import test from 'ava';
import { Btf } from '../../../src/introspect/linux/btf.js';

/** A BTF blob: int, struct list_head, array of 14 list_heads, anonymous union, struct per_cpu_pages, typedef. */
function blob(): Buffer {
  const strs = ['', 'int', 'list_head', 'next', 'prev', 'per_cpu_pages', 'count', 'lists', 'u', 'pcp_list', 'lru', 'pcp_t'];
  const strOff = new Map<string, number>();
  let so = 0;
  for (const s of strs) {
    strOff.set(s, so);
    so += s.length + 1;
  }
  const strBuf = Buffer.concat(strs.map((s) => Buffer.from(s + '\0', 'latin1')));
  const words: number[] = [];
  const type = (name: string, kind: number, vlen: number, sizeOrType: number, kindFlag = 0) => words.push(strOff.get(name)!, (kindFlag << 31) | (kind << 24) | vlen, sizeOrType);
  // 1: int
  type('int', 1, 0, 4);
  words.push(32);
  // 2: ptr → 3
  type('', 2, 0, 3);
  // 3: struct list_head { next @0, prev @64 bits }
  type('list_head', 4, 2, 16);
  words.push(strOff.get('next')!, 2, 0, strOff.get('prev')!, 2, 64);
  // 4: array [14] of 3 (index type 1)
  type('', 3, 0, 0);
  words.push(3, 1, 14);
  // 5: anonymous union { pcp_list; lru } (kind_flag set: bitfield-style offsets)
  type('', 5, 2, 16, 1);
  words.push(strOff.get('pcp_list')!, 3, 0, strOff.get('lru')!, 3, 0);
  // 6: struct per_cpu_pages { int count @32 bits; <anon union> @64 bits; lists @192 bits }
  type('per_cpu_pages', 4, 3, 240);
  words.push(strOff.get('count')!, 1, 32, strOff.get('')!, 5, 64, strOff.get('lists')!, 4, 192);
  // 7: typedef pcp_t → 6
  type('pcp_t', 8, 0, 6);
  const types = Buffer.alloc(words.length * 4);
  words.forEach((w, i) => types.writeUInt32LE(w >>> 0, i * 4));
  const hdr = Buffer.alloc(24);
  hdr.writeUInt16LE(0xeb9f, 0);
  hdr[2] = 1;
  hdr.writeUInt32LE(24, 4);
  hdr.writeUInt32LE(0, 8);
  hdr.writeUInt32LE(types.length, 12);
  hdr.writeUInt32LE(types.length, 16);
  hdr.writeUInt32LE(strBuf.length, 20);
  return Buffer.concat([hdr, types, strBuf]);
}

test('struct members by name, through anonymous unions and typedefs; arrays', (t) => {
  const btf = new Btf(blob());
  t.is(btf.types, 7);
  const pcp = btf.struct('per_cpu_pages')!;
  t.is(btf.size(pcp), 240);
  t.deepEqual(btf.member(pcp, 'count'), { offset: 4, type: 1 });
  t.is(btf.member(pcp, 'pcp_list')?.offset, 8, 'found inside the anonymous union');
  t.is(btf.member(pcp, 'lists')?.offset, 24);
  t.deepEqual(btf.array(btf.member(pcp, 'lists')!.type), { elemType: 3, length: 14 });
  t.is(btf.member(pcp, 'lists.prev'), undefined, 'an array has no members');
  t.is(btf.member(btf.struct('list_head')!, 'prev')?.offset, 8);
  t.is(btf.member(7, 'count')?.offset, 4, 'typedef resolved');
  t.is(btf.struct('zone'), undefined);
  t.throws(() => btf.need('zone', 'per_cpu_pageset'), { message: 'BTF has no zone.per_cpu_pageset' });
});

test('bad magic, sections past the end and unknown kinds are refused', (t) => {
  const b = blob();
  const bad = Buffer.from(b);
  bad.writeUInt16LE(0x1234, 0);
  t.throws(() => new Btf(bad), { message: /bad magic/ });
  t.throws(() => new Btf(b.subarray(0, b.length - 10)), { message: /past the blob/ });
  const unk = Buffer.from(b);
  unk.writeUInt32LE((31 << 24) >>> 0, 24 + 4);
  t.throws(() => new Btf(unk), { message: /unknown type kind 31/ });
});
