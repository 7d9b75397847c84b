/** ELF dump reader: malformed input is refused with a MigError naming the code, offset and field. */
import test, { ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import { RandomAccessFile } from '../../../src/util/file.js';
import { MigError } from '../../../src/util/errors.js';
import { MAX_METADATA_BYTES, MAX_ZERO_FILL_BYTES, openElfDump } from '../../../src/image/elf-dump.js';
import { buildElfCore, ElfSpec, pages } from '../../helpers/elf-writer.js';
import { tmpFile } from '../../helpers/tmp.js';
import { mig } from '../../helpers/cli.js';
import { openImage } from '../../../src/image/probe.js';
import { openElf as open, rebuilt, SPEC64 } from '../../helpers/elf-fixtures.js';



// ---- malformed input ------------------------------------------------------------------------

interface Bad {
  spec?: ElfSpec;
  /** Corrupt the fixture; `ph(i)`/`L` come from the builder's layout. */
  mutate: (b: Buffer, l: ReturnType<typeof buildElfCore>['layout']) => unknown;
  code: string;
  offset: (l: ReturnType<typeof buildElfCore>['layout']) => number;
  field: string | RegExp;
  match: RegExp;
}
const u64 = (b: Buffer, off: number, v: bigint) => b.writeBigUInt64LE(v, off);

const malformed = test.macro((t: ExecutionContext, c: Bad) => {
  const { bytes, layout } = buildElfCore(c.spec ?? SPEC64);
  const r = c.mutate(bytes, layout);
  const buf = Buffer.isBuffer(r) ? r : bytes;
  const path = tmpFile(buf);
  const err = t.throws(() => openElfDump(new RandomAccessFile(path)), { instanceOf: MigError });
  t.is(err?.code, c.code, err?.message);
  t.is(err?.data.offset, c.offset(layout), err?.message);
  if (typeof c.field === 'string') t.is(err?.data.field, c.field, err?.message);
  else t.regex(String(err?.data.field), c.field);
  t.regex(err!.message, c.match);
  t.true(err!.message.startsWith(path));
});

const cases: Record<string, Bad> = {
  'truncated ELF header': { mutate: (b) => b.subarray(0, 40), code: 'IMAGE_TRUNCATED', offset: () => 0, field: 'ELF64 header', match: /needs 64 bytes/ },
  'truncated e_ident': { mutate: (b) => b.subarray(0, 10), code: 'IMAGE_TRUNCATED', offset: () => 0, field: 'ELF header e_ident', match: /needs 16/ },
  'bad magic': { mutate: (b) => void b.write('XELF', 0, 'latin1'), code: 'IMAGE_BAD_MAGIC', offset: () => 0, field: 'ELF header magic', match: /not an ELF file/ },
  'bad class': { mutate: (b) => void (b[4] = 3), code: 'IMAGE_BAD_FIELD', offset: () => 4, field: 'e_ident[EI_CLASS]', match: /EI_CLASS 3/ },
  'big-endian': { mutate: (b) => void (b[5] = 2), code: 'IMAGE_UNSUPPORTED', offset: () => 5, field: 'e_ident[EI_DATA]', match: /big-endian/ },
  'not ET_CORE': { mutate: (b) => void b.writeUInt16LE(2, 16), code: 'IMAGE_BAD_FIELD', offset: () => 16, field: 'e_type', match: /not ET_CORE/ },
  'not x86': { mutate: (b) => void b.writeUInt16LE(183, 18), code: 'IMAGE_UNSUPPORTED', offset: () => 18, field: 'e_machine', match: /e_machine 183/ },
  'e_phoff past EOF': { mutate: (b) => u64(b, 32, 1n << 40n), code: 'IMAGE_TRUNCATED', offset: () => 32, field: 'e_phoff', match: /past the end/ },
  'e_phoff ≥ 2^53': { mutate: (b) => u64(b, 32, 1n << 60n), code: 'IMAGE_TRUNCATED', offset: () => 32, field: 'e_phoff', match: /e_phoff/ },
  'e_phentsize wrong': { mutate: (b) => void b.writeUInt16LE(32, 54), code: 'IMAGE_BAD_FIELD', offset: () => 54, field: 'e_phentsize', match: /e_phentsize 32/ },
  'phnum × phentsize past EOF': { mutate: (b) => void b.writeUInt16LE(60000, 56), code: 'IMAGE_TRUNCATED', offset: () => 56, field: 'e_phnum', match: /60000 program headers/ },
  'PN_XNUM without section header': { mutate: (b) => (b.writeUInt16LE(0xffff, 56), u64(b, 40, 0n)), code: 'IMAGE_BAD_FIELD', offset: () => 40, field: 'e_shoff', match: /no section header 0/ },
  'PN_XNUM with e_shoff past EOF': { mutate: (b) => (b.writeUInt16LE(0xffff, 56), u64(b, 40, 1n << 33n)), code: 'IMAGE_TRUNCATED', offset: () => 40, field: 'e_shoff', match: /section header 0/ },
  'PN_XNUM with wrong e_shentsize': { mutate: (b) => (b.writeUInt16LE(0xffff, 56), b.writeUInt16LE(40, 58)), code: 'IMAGE_BAD_FIELD', offset: () => 58, field: 'e_shentsize', match: /e_shentsize 40/ },
  'PN_XNUM with sh_info < 65535': { mutate: (b) => void b.writeUInt16LE(0xffff, 56), code: 'IMAGE_BAD_FIELD', offset: (l) => l.shoff + 44, field: 'section header 0 sh_info', match: /sh_info holds 4/ },
  'PN_XNUM with huge sh_info': {
    mutate: (b, l) => (b.writeUInt16LE(0xffff, 56), b.writeUInt32LE(0xffffffff, l.shoff + 44)),
    code: 'IMAGE_TRUNCATED', offset: (l) => l.shoff + 44, field: 'section header 0 sh_info', match: /4294967295 program headers/,
  },
  'PT_LOAD past EOF': { mutate: (b, l) => u64(b, l.ph(3) + 8, BigInt(b.length - 4096)), code: 'IMAGE_TRUNCATED', offset: (l) => l.ph(3) + 8, field: 'program header 3 p_offset', match: /PT_LOAD data at .* runs past the end/ },
  'PT_LOAD file cut short': { mutate: (b) => b.subarray(0, b.length - 100), code: 'IMAGE_TRUNCATED', offset: (l) => l.ph(3) + 8, field: 'program header 3 p_offset', match: /PT_LOAD/ },
  'PT_NOTE past EOF': { mutate: (b, l) => u64(b, l.ph(0) + 32, 1n << 32n), code: 'IMAGE_TRUNCATED', offset: (l) => l.ph(0) + 8, field: 'program header 0 p_offset', match: /PT_NOTE data/ },
  'p_filesz > p_memsz': { mutate: (b, l) => u64(b, l.ph(1) + 40, 4096n), code: 'IMAGE_BAD_FIELD', offset: (l) => l.ph(1) + 32, field: 'program header 1 p_filesz', match: /larger than p_memsz/ },
  'p_paddr not page-aligned': { mutate: (b, l) => u64(b, l.ph(2) + 24, 0x100800n), code: 'IMAGE_UNSUPPORTED', offset: (l) => l.ph(2) + 24, field: 'program header 2 p_paddr', match: /not 4 KiB-aligned/ },
  'p_paddr ≥ 2^53': { mutate: (b, l) => u64(b, l.ph(2) + 24, 1n << 63n), code: 'IMAGE_BAD_FIELD', offset: (l) => l.ph(2) + 24, field: 'program header 2 p_paddr', match: /too large/ },
  'PT_LOAD zero-fill over 1 TiB': {
    mutate: (b, l) => u64(b, l.ph(3) + 40, (1n << 40n) + 3n * 4096n), code: 'IMAGE_BAD_FIELD', offset: (l) => l.ph(3) + 40, field: 'program header 3 p_memsz', match: /zero-fill .* 1 TiB limit/,
  },
  'PT_LOAD beyond 2^52': { mutate: (b, l) => u64(b, l.ph(2) + 24, 1n << 52n), code: 'IMAGE_BAD_FIELD', offset: (l) => l.ph(2) + 40, field: 'program header 2 p_memsz', match: /2\^52/ },
  'overlapping GPA ranges': { mutate: (b, l) => u64(b, l.ph(2) + 24, 0x2000n), code: 'IMAGE_BAD_FIELD', offset: (l) => l.ph(2) + 24, field: 'program header 2 p_paddr', match: /overlaps program header 1/ },
  'overlapping file ranges': {
    mutate: (b, l) => u64(b, l.ph(3) + 8, BigInt(l.loadOffsets[1])), code: 'IMAGE_BAD_FIELD', offset: (l) => l.ph(3) + 8, field: 'program header 3 p_offset', match: /overlaps that of program header 2/,
  },
  'note descsz past segment end': { mutate: (b, l) => void b.writeUInt32LE(100000, l.noteOffsets[1] + 4), code: 'IMAGE_TRUNCATED', offset: (l) => l.noteOffsets[1] + 4, field: 'program header 0 note 1 n_descsz', match: /n_descsz 100000/ },
  'note namesz past segment end': { mutate: (b, l) => void b.writeUInt32LE(0xffffffff, l.noteOffsets[4]), code: 'IMAGE_TRUNCATED', offset: (l) => l.noteOffsets[4], field: 'program header 0 note 4 n_namesz', match: /n_namesz/ },
  'PT_NOTE cut inside a note header': { mutate: (b, l) => u64(b, l.ph(0) + 32, BigInt(l.noteOffsets[4] - l.noteOffset + 8)), code: 'IMAGE_TRUNCATED', offset: (l) => l.noteOffsets[4], field: 'program header 0 note 4 header', match: /needs 12 bytes/ },
  'NT_PRSTATUS too small': { mutate: (b, l) => void b.writeUInt32LE(100, l.noteOffsets[0] + 4), code: 'IMAGE_BAD_FIELD', offset: (l) => l.noteOffsets[0] + 4, field: 'program header 0 note 0 n_descsz', match: /x86-64 prstatus/ },
  'QEMU CPU state size > descsz': { mutate: (b, l) => void b.writeUInt32LE(4096, l.noteOffsets[2] + 20 + 4), code: 'IMAGE_BAD_FIELD', offset: (l) => l.noteOffsets[2] + 24, field: 'program header 0 note 2 QEMUCPUState size', match: /size 4096/ },
};
for (const [name, c] of Object.entries(cases)) test(`malformed: ${name}`, malformed, c);

test('malformed: more than 64 MiB outside PT_LOAD data is refused before reading it', (t) => {
  const { bytes } = buildElfCore(SPEC64);
  const path = tmpFile(bytes);
  fs.truncateSync(path, bytes.length + MAX_METADATA_BYTES); // sparse tail: a huge non-PT_LOAD gap
  const err = t.throws(() => openElfDump(new RandomAccessFile(path)), { instanceOf: MigError });
  t.is(err?.code, 'IMAGE_UNSUPPORTED');
  t.is(err?.data.offset, bytes.length - 11);
  t.regex(err!.message, /outside PT_LOAD data/);
});

test('malformed: zero-fill is bounded in total over the PT_LOADs; exactly 1 TiB opens', (t) => {
  const half = MAX_ZERO_FILL_BYTES / 2;
  const loads = [
    { gpa: 0, data: pages(0, 1), memLength: half + 4096 },
    { gpa: 2 ** 41, data: pages(2 ** 41, 1), memLength: half + 4096 },
  ];
  const { bytes } = buildElfCore({ loads });
  const img = open(bytes);
  t.is(img.ramBytes, MAX_ZERO_FILL_BYTES + 2 * 4096);
  t.true(rebuilt(img).equals(bytes));
  img.close();
  const over = buildElfCore({ loads: [...loads, { gpa: 2 ** 42, data: pages(2 ** 42, 1), memLength: 2 * 4096 }] });
  const path = tmpFile(over.bytes);
  const err = t.throws(() => openElfDump(new RandomAccessFile(path)), { instanceOf: MigError });
  t.is(err?.code, 'IMAGE_BAD_FIELD');
  t.like(err?.data, { file: path, offset: over.layout.ph(3) + 40, field: 'program header 3 p_memsz' });
  t.regex(err!.message, /totals 0x10000001000 bytes/);
});

test('mutation: any single-byte corruption of the headers and notes opens and rebuilds exactly, or throws a MigError', (t) => {
  const { bytes, layout } = buildElfCore({ ...SPEC64, loads: SPEC64.loads.slice(0, 2) });
  const end = layout.noteOffset + layout.noteSize;
  let opened = 0;
  for (let pos = 0; pos < end; pos += pos < layout.noteOffset ? 1 : 7) {
    for (const v of [0x00, 0xff, bytes[pos] ^ 0x10]) {
      if (v === bytes[pos]) continue;
      const b = Buffer.from(bytes);
      b[pos] = v;
      try {
        const img = open(b);
        opened++;
        if (!rebuilt(img).equals(b)) t.fail(`byte ${pos} = ${v}: rebuild differs`);
        img.close();
      } catch (e) {
        if (!(e instanceof MigError)) t.fail(`byte ${pos} = ${v}: ${(e as Error).stack}`);
      }
    }
  }
  t.true(opened > 100);
});

// ---- probing: the ELF magic sends a file to the ELF reader (issue 13) -----------------------------

/** SPEC64 with one header byte/halfword changed, padded to a multiple of 4 KiB (so raw would accept it). */
function elfWith(mutate: (b: Buffer) => void): string {
  const { bytes } = buildElfCore(SPEC64);
  mutate(bytes);
  const padded = Buffer.concat([bytes, Buffer.alloc((4096 - (bytes.length % 4096)) % 4096)]);
  return tmpFile(padded, 'not-core.elf');
}

for (const [name, mutate, code, offset, field] of [
  ['EI_CLASS 3', (b: Buffer) => { b[4] = 3; }, 'IMAGE_BAD_FIELD', 4, 'e_ident[EI_CLASS]'],
  ['EI_CLASS 0', (b: Buffer) => { b[4] = 0; }, 'IMAGE_BAD_FIELD', 4, 'e_ident[EI_CLASS]'],
  ['EI_DATA 2 (big-endian)', (b: Buffer) => { b[5] = 2; }, 'IMAGE_UNSUPPORTED', 5, 'e_ident[EI_DATA]'],
  ['EI_DATA 0', (b: Buffer) => { b[5] = 0; }, 'IMAGE_BAD_FIELD', 5, 'e_ident[EI_DATA]'],
  ['e_type ET_EXEC', (b: Buffer) => { b.writeUInt16LE(2, 16); }, 'IMAGE_BAD_FIELD', 16, 'e_type'],
] as const) {
  test(`probe: an ELF with ${name} and a 4 KiB-multiple size is refused by the ELF reader, not read as raw`, (t) => {
    const path = elfWith(mutate);
    t.is(fs.statSync(path).size % 4096, 0);
    const err = t.throws(() => openImage(path), { instanceOf: MigError });
    t.is(err?.code, code, err?.message);
    t.is(err?.data.offset, offset);
    t.is(err?.data.field, field);
    t.true(err!.message.startsWith(path), err?.message);
    const r = mig('info', '--json', path);
    t.is(r.status, 3, r.stdout + r.stderr);
    t.is(JSON.parse(r.stdout).code, code);
    t.is(mig('info', '--format', 'raw', path).status, 0, '--format raw still reads it as raw');
  });
}
