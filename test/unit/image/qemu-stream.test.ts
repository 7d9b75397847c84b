import test from 'ava';
import { RandomAccessFile } from '../../../src/util/file.js';
import { MigError } from '../../../src/util/errors.js';
import { openQemuStream, parseQemuStream } from '../../../src/image/qemu-stream.js';
import { BufferSink } from '../../../src/util/sink.js';
import { countPages } from '../../helpers/count-pages.js';
import { Bytes, page, StreamBuilder } from '../../helpers/stream-writer.js';
import { tmpFile } from '../../helpers/tmp.js';
import { verifySlots } from '../../helpers/compare.js';

const KiB = 1024;
const BLOCKS = [
  { idstr: 'pc.ram', length: 64 * KiB },
  { idstr: '0000:00:01.0/vga.vram', length: 16 * KiB },
  { idstr: 'pc.bios', length: 8 * KiB },
];

/** A stream with every record kind: PAGE, ZERO (fill 0 and 0xAA), CONTINUE, re-sent pages, MULTIFD_FLUSH, COMMAND. */
function fullStream(): Buffer {
  const s = new StreamBuilder().header({ uuid: true, pageBits: 12 }).ramStart(BLOCKS);
  s.ramSection(2, [
    { block: 'pc.ram', offset: 0, data: page(1) },
    { block: 'pc.ram', offset: 4096, data: page(2) },
    { block: 'pc.ram', offset: 8192 },
    { block: 'pc.ram', offset: 12288, fill: 0xaa },
    { block: 'pc.bios', offset: 0, data: page(3) },
    { block: 'pc.ram', offset: 16384, data: page(-1) },
  ]);
  // MULTIFD_FLUSH between sections (QEMU >= 8.0) and a COMMAND section.
  s.b.u8(0x08).u16(1).u16(3).push(Buffer.from([1, 2, 3]));
  s.b.u8(0x02).u32(0).u64(0x200);
  s.records([{ block: 'pc.ram', offset: 0, data: page(9) }]); // re-sent: the last copy wins
  s.b.u64(0x10).u8(0x7e).u32(0);
  s.ramSection(3, [{ block: '0000:00:01.0/vga.vram', offset: 4096, data: page(4) }]);
  s.device('timer', Buffer.from('opaque device state'));
  s.eof();
  return s.build();
}

function open(buf: Buffer) {
  return openQemuStream(new RandomAccessFile(tmpFile(buf)));
}

test('parses every record kind and maps pc.ram into guest-physical memory', (t) => {
  const img = open(fullStream());
  t.is(img.format, 'qemu-stream');
  t.is(img.machine, 'pc-q35-7.2');
  t.deepEqual(img.ramBlocks.map((b) => [b.name, b.length, b.main]), [
    ['pc.ram', 64 * KiB, true],
    ['0000:00:01.0/vga.vram', 16 * KiB, false],
    ['pc.bios', 8 * KiB, false],
  ]);
  t.is(img.ramBytes, 64 * KiB);
  t.deepEqual(img.memory.runs, [{ gpa: 0, length: 64 * KiB }]);
  const out = Buffer.alloc(4096);
  t.true(img.memory.readPage(0, out));
  t.deepEqual(out, page(9), 're-sent page: last record wins');
  img.memory.readPage(1, out);
  t.deepEqual(out, page(2));
  img.memory.readPage(3, out);
  t.deepEqual(out, Buffer.alloc(4096, 0xaa), 'ZERO record fill byte');
  img.memory.readPage(10, out);
  t.deepEqual(out, Buffer.alloc(4096), 'never-sent page reads as zero');
  t.false(img.memory.readPage(16, out), 'beyond RAM is a hole');
  // pages 2, 4 (zero data) and 5..15 (never sent) are zero: 1 + 1 + 11
  t.deepEqual(countPages(img.memory), { total: 16, zero: 13, nonZero: 3 });
  t.deepEqual(img.memory.read(4096 - 2, 4), Buffer.concat([page(9).subarray(4094), page(2).subarray(0, 2)]));
  img.close();
});

test('page slots: every PAGE record, final copies mapped to their frames', (t) => {
  const img = open(fullStream());
  const v = verifySlots(img);
  t.deepEqual(v.problems, []);
  // PAGE records: pc.ram 0, 1, 4 (zero data), pc.bios 0, pc.ram 0 again, vga.vram 1 → 6 slots;
  // mapped: the final copies of pc.ram pages 0, 1 and 4.
  t.is(v.slots, 6);
  t.is(v.mapped, 3);
  t.deepEqual([...img.pageSlots().pfn], [-1, 1, -1, 4, 0, -1]);
  img.close();
});

test('rebuild from parts reproduces the stream byte for byte', (t) => {
  const buf = fullStream();
  const img = open(buf);
  const sink = new BufferSink();
  img.rebuild(sink);
  t.true(sink.toBuffer().equals(buf));
  t.is(img.parts.records.count, 8);
  img.close();
});

test('version 2 stream without configuration section or footers', (t) => {
  const s = new StreamBuilder().header({ version: 2, machine: null }).ramStart([{ idstr: 'pc.ram', length: 8192 }]);
  s.ramSection(3, [{ block: 'pc.ram', offset: 4096, data: page(5) }], { footer: false });
  s.device('cpu', Buffer.from([1, 2, 3])).eof();
  const buf = s.build();
  const img = open(buf);
  t.is(img.machine, undefined);
  const sink = new BufferSink();
  img.rebuild(sink);
  t.true(sink.toBuffer().equals(buf));
  t.deepEqual(img.memory.read(4096, 4096), page(5));
});

test('NUMA node blocks are laid end to end by node number', (t) => {
  const s = new StreamBuilder().header().ramStart([{ idstr: 'ram-node1', length: 8192 }, { idstr: 'ram-node0', length: 4096 }]);
  s.ramSection(3, [{ block: 'ram-node1', offset: 0, data: page(7) }, { block: 'ram-node0', offset: 0, data: page(8) }]).eof();
  const img = open(s.build());
  t.deepEqual(img.memory.read(0, 4096), page(8));
  t.deepEqual(img.memory.read(4096, 4096), page(7));
  t.is(img.ramBytes, 12288);
});

// ---- malformed input: a clear MigError naming the offset and field, never a crash or hang ----

interface Bad {
  build: () => Buffer;
  code: string;
  offset: number;
  match: RegExp;
}

const ram1 = () => new StreamBuilder().header().ramStart([{ idstr: 'pc.ram', length: 8192 }]);
/** Offset of the first RAM record of a PART section appended to ram1(). */
const firstRec = () => ram1().build().length + 5;

const bad: Record<string, Bad> = {
  'bad magic': { build: () => Buffer.from('QEVN\0\0\0\x03'), code: 'IMAGE_BAD_MAGIC', offset: 0, match: /QEVM/ },
  'unsupported version': { build: () => new Bytes().u32(0x5145564d).u32(9).build(), code: 'IMAGE_BAD_FIELD', offset: 4, match: /version 9/ },
  'truncated header': { build: () => Buffer.from('QEVM\0\0'), code: 'IMAGE_TRUNCATED', offset: 4, match: /QEMU stream version/ },
  'oversized machine name': { build: () => new Bytes().u32(0x5145564d).u32(3).u8(7).u32(0x7fffffff).build(), code: 'IMAGE_BAD_FIELD', offset: 9, match: /implausible/ },
  'unknown configuration subsection': { build: () => new Bytes().u32(0x5145564d).u32(3).u8(7).u32(1).u8(0x41).u8(5).str8('configuration/new').u32(1).build(), code: 'IMAGE_UNSUPPORTED', offset: 14, match: /configuration\/new/ },
  'mapped-ram capability': { build: () => new Bytes().u32(0x5145564d).u32(3).u8(7).u32(1).u8(0x41).u8(5).str8('configuration/capabilities').u32(1).u32(1).str8('mapped-ram').build(), code: 'IMAGE_UNSUPPORTED', offset: 14, match: /mapped-ram/ },
  'unknown flags': { build: () => ram1().ramSection(2, [{ block: 'pc.ram', offset: 0, data: page(1), extraFlags: 0x800 }]).build(), code: 'IMAGE_BAD_FIELD', offset: firstRec(), match: /unknown RAM record flags 0x808/ },
  'obsolete FULL flag': { build: () => ram1().ramSection(2, [{ block: 'pc.ram', offset: 0, data: page(1), extraFlags: 0x01 }]).build(), code: 'IMAGE_BAD_FIELD', offset: firstRec(), match: /flags 0x9/ },
  'XBZRLE record': { build: () => ram1().ramSection(2, [{ block: 'pc.ram', offset: 0, fill: 0, extraFlags: 0x40 }]).build(), code: 'IMAGE_UNSUPPORTED', offset: firstRec(), match: /XBZRLE/ },
  'COMPRESS_PAGE record': { build: () => ram1().ramSection(2, [{ block: 'pc.ram', offset: 0, fill: 0, extraFlags: 0x100 }]).build(), code: 'IMAGE_UNSUPPORTED', offset: firstRec(), match: /COMPRESS_PAGE/ },
  'RDMA hook': { build: () => { const s = ram1(); s.b.u8(2).u32(0).u64(0x80); return s.build(); }, code: 'IMAGE_UNSUPPORTED', offset: firstRec(), match: /RDMA/ },
  'offset outside its block': { build: () => ram1().ramSection(2, [{ block: 'pc.ram', offset: 8192, data: page(1) }]).build(), code: 'IMAGE_BAD_FIELD', offset: firstRec(), match: /outside RAM block "pc.ram"/ },
  'unknown block name': { build: () => ram1().ramSection(2, [{ block: 'x'.repeat(255), offset: 0, data: page(1) }]).build(), code: 'IMAGE_BAD_FIELD', offset: firstRec() + 8, match: /absent from the MEM_SIZE list/ },
  'idstr past end of file': { build: () => { const s = ram1(); s.b.u8(2).u32(0).u64(0x08).u8(200).push(Buffer.from('pc')); return s.build(); }, code: 'IMAGE_TRUNCATED', offset: firstRec() + 9, match: /RAM block idstr/ },
  'CONTINUE on first record': { build: () => ram1().ramSection(2, [{ block: 'pc.ram', offset: 0, data: page(1), cont: true }]).build(), code: 'IMAGE_BAD_FIELD', offset: firstRec(), match: /CONTINUE/ },
  'page data truncated': { build: () => ram1().ramSection(2, [{ block: 'pc.ram', offset: 0, data: page(1) }]).build().subarray(0, firstRec() + 8 + 7 + 100), code: 'IMAGE_TRUNCATED', offset: firstRec() + 15, match: /RAM page data/ },
  'MEM_SIZE block longer than total': { build: () => new StreamBuilder().header().ramStart([{ idstr: 'pc.ram', length: 8192 }], { total: 4096 }).build(), code: 'IMAGE_BAD_FIELD', offset: 55, match: /exceeds the MEM_SIZE total/ },
  'MEM_SIZE huge length (no allocation)': { build: () => new StreamBuilder().header().ramStart([{ idstr: 'pc.ram', length: 2 ** 50 }]).build(), code: 'IMAGE_BAD_FIELD', offset: 55, match: /implausible/ },
  'MEM_SIZE length not page-aligned': { build: () => new StreamBuilder().header().ramStart([{ idstr: 'pc.ram', length: 4097 }], { total: 8192 }).build(), code: 'IMAGE_BAD_FIELD', offset: 55, match: /not page-aligned/ },
  'footer id mismatch': { build: () => { const s = ram1(); s.b.u8(2).u32(0).u64(0x10).u8(0x7e).u32(5); return s.build(); }, code: 'IMAGE_BAD_FIELD', offset: firstRec() + 8, match: /footer id 5/ },
  'EOF before RAM ended': { build: () => { const s = ram1(); s.b.u8(0); return s.build(); }, code: 'IMAGE_BAD_FIELD', offset: firstRec() - 5, match: /before the RAM section ended/ },
  'device state before RAM END': { build: () => ram1().device('cpu', Buffer.alloc(4)).build(), code: 'IMAGE_BAD_FIELD', offset: firstRec() - 5, match: /device state before/ },
  'unknown section type': { build: () => { const s = ram1(); s.b.u8(0x33); return s.build(); }, code: 'IMAGE_BAD_FIELD', offset: firstRec() - 5, match: /section type 0x33/ },
  'stream without RAM': { build: () => new StreamBuilder().header().eof().build(), code: 'IMAGE_BAD_FIELD', offset: 23, match: /without a RAM section/ },
  'ends inside a section': { build: () => ram1().build().subarray(0, firstRec() - 8), code: 'IMAGE_TRUNCATED', offset: firstRec() - 9, match: /section footer id/ },
};

for (const [name, c] of Object.entries(bad)) {
  test(`malformed: ${name}`, (t) => {
    const path = tmpFile(c.build());
    const err = t.throws(() => parseQemuStream(new RandomAccessFile(path), 0), { instanceOf: MigError });
    t.is(err?.code, c.code, err?.message);
    t.is((err as MigError).data.offset, c.offset, err?.message);
    t.regex(err!.message, c.match);
    t.true(err!.message.startsWith(path), 'message names the file');
  });
}

test('random mutations never crash the parser', (t) => {
  const good = fullStream();
  let x = 12345;
  const rnd = (n: number) => {
    x = (x * 1103515245 + 12345) >>> 0;
    return x % n;
  };
  let rejected = 0;
  for (let i = 0; i < 400; i++) {
    const buf = Buffer.from(good);
    const edits = 1 + rnd(4);
    for (let e = 0; e < edits; e++) buf[rnd(i % 2 ? 200 : buf.length)] = rnd(256);
    const cut = rnd(10) === 0 ? rnd(buf.length) : buf.length;
    try {
      const img = open(buf.subarray(0, cut));
      const sink = new BufferSink();
      img.rebuild(sink);
      t.true(sink.toBuffer().equals(buf.subarray(0, cut)), 'whatever parses, rebuilds exactly');
      img.close();
    } catch (e) {
      if (!(e instanceof MigError)) t.fail(`mutation ${i}: ${(e as Error).stack}`);
      rejected++;
    }
  }
  t.true(rejected > 0);
});

// ---- MEM_SIZE lists the file cannot hold (issue 13): refused before any per-block array -------------

/** A 4 MiB stream whose MEM_SIZE lists `n` blocks of `length` bytes, padded with zeros after the list. */
function memSizeBomb(n: number, length: number): { buf: Buffer; lengthAt: (k: number) => number } {
  const blocks = Array.from({ length: n }, (_, k) => ({ idstr: `blk${String(k).padStart(3, '0')}`, length }));
  const head = new StreamBuilder().header().ramStart(blocks).build();
  const buf = Buffer.concat([head, Buffer.alloc(4 * 1024 * KiB - head.length)]);
  // The first used_length is at 55 (see 'MEM_SIZE huge length'); each entry is u8 len + 6-byte name + be64.
  return { buf, lengthAt: (k) => 55 + k * (1 + 6 + 8) };
}

for (const [name, length, refusedAt] of [
  ['150 blocks of 16 GiB (each within 1 byte per page of the file)', 16 * 2 ** 30, 0],
  ['150 blocks of 1 GiB (each plausible, their sum is not)', 2 ** 30, 1],
] as const) {
  test(`malformed: MEM_SIZE ${name} is refused at the block that passes the file's capacity, without allocating`, (t) => {
    const { buf, lengthAt } = memSizeBomb(150, length);
    const path = tmpFile(buf);
    const before = process.memoryUsage().arrayBuffers;
    const err = t.throws(() => parseQemuStream(new RandomAccessFile(path), 0), { instanceOf: MigError });
    const grown = process.memoryUsage().arrayBuffers - before;
    t.is(err?.code, 'IMAGE_BAD_FIELD', err?.message);
    t.is((err as MigError).data.offset, lengthAt(refusedAt), err?.message);
    t.is((err as MigError).data.field, 'MEM_SIZE used_length');
    t.regex(err!.message, new RegExp(`RAM block "blk00${refusedAt}" .*implausible for a 4194304-byte stream`));
    t.true(err!.message.startsWith(path), 'message names the file');
    // Before the fix each block got an Int32Array of 4 bytes per page (2.4 GB for 150 × 16 GiB).
    t.true(grown < 64 * 1024 * KiB, `arrayBuffers grew by ${grown} bytes`);
  });
}

test('MEM_SIZE bound: a stream of CONTINUE ZERO records (9 bytes a page) is accepted', (t) => {
  const n = 64;
  const s = new StreamBuilder().header().ramStart([{ idstr: 'pc.ram', length: n * 4096 }]);
  s.ramSection(3, Array.from({ length: n }, (_, i) => ({ block: 'pc.ram', offset: i * 4096, fill: 0 }))).eof();
  const parts = parseQemuStream(new RandomAccessFile(tmpFile(s.build())), 0);
  t.is(parts.blocks[0].length, n * 4096);
  t.is(parts.records.count, n);
});
