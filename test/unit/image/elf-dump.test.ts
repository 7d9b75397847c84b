import test, { ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import { RandomAccessFile } from '../../../src/util/file.js';
import { AddressFault, MigError } from '../../../src/util/errors.js';
import { SegmentMemory } from '../../../src/mem/segment-map.js';
import { MAX_METADATA_BYTES, openElfDump, parseElfDump, probeElfDump, writeElfDump } from '../../../src/image/elf-dump.js';
import { KDUMP_UNSUPPORTED_MESSAGE, openKdump, probeKdump } from '../../../src/image/kdump.js';
import { BufferSink } from '../../../src/util/sink.js';
import { buildElfCore, CpuSpec, EM_386, ElfSpec, pages, stampedPage, tinyLoads } from '../../helpers/elf-writer.js';
import { tmpFile } from '../../helpers/tmp.js';

const CPUS: CpuSpec[] = [
  { rip: 0xffffffff81e0b1a2n, rsp: 0xffffffff82a03e88n, cr3: 0x10a000n, gsBase: 0xffff88803ec00000n, kernelGsBase: 0x7f0000001000n },
  { rip: 0xffffffff81e0c000n, rsp: 0xffffc90000083e90n, cr3: 0x2f3e000n },
];
const VMCOREINFO = 'OSRELEASE=6.1.0-18-amd64\nPAGESIZE=4096\nSYMBOL(swapper_pg_dir)=ffffffff8260a000\nNUMBER(phys_base)=0\n';

/** Three loads like a small q35 guest: low RAM, RAM above 1 MiB, and RAM above 4 GiB. */
const SPEC64: ElfSpec = {
  loads: [
    { gpa: 0, data: pages(0, 4, 0x10) },
    { gpa: 0x100000, data: pages(0x100000, 8, 0x20) },
    { gpa: 0x100000000, data: pages(0x100000000, 2, 0x30) },
  ],
  cpus: CPUS,
  vmcoreinfo: VMCOREINFO,
};

const open = (buf: Buffer) => openElfDump(new RandomAccessFile(tmpFile(buf, 'dump.elf')));

function rebuilt(img: { rebuild(s: BufferSink): void }): Buffer {
  const sink = new BufferSink();
  img.rebuild(sink);
  return sink.toBuffer();
}

test('ELF64: probe, loads, memory, CPUs, VMCOREINFO, byte-exact rebuild', (t) => {
  const { bytes, layout } = buildElfCore(SPEC64);
  t.true(probeElfDump(bytes));
  const img = open(bytes);
  t.is(img.format, 'elf-dump');
  t.deepEqual(img.header, { bits: 64, machine: 62, phoff: layout.phoff, phnum: 4, xnum: false });
  t.is(img.ramBytes, 14 * 4096);
  t.deepEqual(img.ramBlocks.map((b) => [b.name, b.length, b.map[0].gpa]), [['load[0]', 16384, 0], ['load[1]', 32768, 0x100000], ['load[2]', 8192, 0x100000000]]);
  t.deepEqual(img.memory.runs, [{ gpa: 0, length: 16384 }, { gpa: 0x100000, length: 32768 }, { gpa: 0x100000000, length: 8192 }]);
  t.deepEqual(img.memory.read(0x103000, 4096), pages(0x100000, 8, 0x20).subarray(0x3000, 0x4000));
  t.deepEqual(img.memory.read(0x100000ff8, 16), pages(0x100000000, 2, 0x30).subarray(0xff8, 0x1008), 'read across a page boundary');
  const out = Buffer.alloc(4096);
  t.true(img.memory.readPage(0x100001, out));
  t.deepEqual(out, stampedPage(0x100001000, 0x31));
  t.false(img.memory.readPage(4, out), 'GPA 0x4000 is a hole');
  t.throws(() => img.memory.read(0x3ff0, 32), { instanceOf: AddressFault });
  t.throws(() => img.memory.read(0x200000, 1), { instanceOf: AddressFault });
  t.is(img.cpus.length, 2);
  t.like(img.cpus[0], { index: 0, rip: CPUS[0].rip, rsp: CPUS[0].rsp, cr3: 0x10a000n, cr0: 0x80050033n, cr4: 0x3606f0n, gsBase: CPUS[0].gsBase, kernelGsBase: CPUS[0].kernelGsBase });
  t.like(img.cpus[1], { index: 1, rip: CPUS[1].rip, cr3: 0x2f3e000n });
  t.is(img.vmcoreinfo, VMCOREINFO);
  t.true(rebuilt(img).equals(bytes));
  img.close();
});

test('ELF32 / EM_386: i386 prstatus layout, QEMU note CR3, rebuild', (t) => {
  const cpus = [{ rip: 0xc1000123n, rsp: 0xc15fff00n, cr3: 0x1ab000n }];
  const { bytes } = buildElfCore({ bits: 32, loads: [{ gpa: 0, data: pages(0, 3) }, { gpa: 0xfffc0000, data: pages(0xfffc0000, 1) }], cpus });
  t.true(probeElfDump(bytes));
  const img = open(bytes);
  t.like(img.header, { bits: 32, machine: EM_386, phnum: 3 });
  t.like(img.cpus[0], { rip: 0xc1000123n, rsp: 0xc15fff00n, cr3: 0x1ab000n });
  t.is(img.cpus[0].gsBase, 0n, 'from the QEMU note: i386 prstatus has no gs_base');
  t.is(img.vmcoreinfo, undefined);
  t.deepEqual(img.memory.read(0xfffc0000, 4096), stampedPage(0xfffc0000, 0x5a));
  t.true(rebuilt(img).equals(bytes));
});

test('ELFCLASS64 with EM_386 (32-bit guest with RAM above 4 GiB) uses the i386 prstatus', (t) => {
  const { bytes } = buildElfCore({ bits: 64, machine: EM_386, loads: [{ gpa: 0x100000000, data: pages(0x100000000, 1) }], cpus: [{ rip: 0xc0100000n, cr3: 0x5000n }] });
  const img = open(bytes);
  t.like(img.cpus[0], { rip: 0xc0100000n, cr3: 0x5000n });
  t.true(rebuilt(img).equals(bytes));
});

test('QEMU < 3.1 CPU state (size 432, no kernel_gs_base); e_ehsize 64 accepted too', (t) => {
  const { bytes } = buildElfCore({ ...SPEC64, qemuStateSize: 432, ehsize: 64 });
  const img = open(bytes);
  t.is(img.cpus[0].cr3, 0x10a000n);
  t.is(img.cpus[0].kernelGsBase, undefined);
  t.true(rebuilt(img).equals(bytes));
});

test('PN_XNUM: 65535 tiny PT_LOADs, count from section header 0', (t) => {
  const loads = tinyLoads(65535);
  const { bytes } = buildElfCore({ loads, cpus: CPUS.slice(0, 1) });
  t.is(bytes.readUInt16LE(56), 0xffff);
  const img = open(bytes);
  t.deepEqual(img.header, { bits: 64, machine: 62, phoff: 64 + 128, phnum: 65536, xnum: true });
  t.is(img.ramBlocks.length, 65535);
  t.is(img.ramBytes, 65535 * 4096);
  const i = 40000;
  const page = img.memory.read(loads[i].gpa, 4096);
  t.deepEqual(page.subarray(0, 8), loads[i].data);
  t.true(page.subarray(8).every((b) => b === 0), 'p_filesz < p_memsz tail reads as zero');
  t.false(img.memory.isPresent(loads[i].gpa / 4096 + 1));
  t.true(rebuilt(img).equals(bytes));
});

test('p_filesz < p_memsz: tail zero-filled, rebuild writes only the file part', (t) => {
  const { bytes } = buildElfCore({ loads: [{ gpa: 0x200000, data: Buffer.alloc(5000, 0xab), memLength: 3 * 4096 }, { gpa: 0, data: pages(0, 1) }] });
  const img = open(bytes);
  t.is(img.ramBytes, 4 * 4096);
  const m = img.memory.read(0x200000, 3 * 4096);
  t.true(m.subarray(0, 5000).every((b) => b === 0xab));
  t.true(m.subarray(5000).every((b) => b === 0));
  t.true(rebuilt(img).equals(bytes), 'loads out of GPA order in the file take the readPage path');
  const inOrder = buildElfCore({ loads: [{ gpa: 0, data: pages(0, 1) }, { gpa: 0x200000, data: Buffer.alloc(5000, 0xab), memLength: 3 * 4096 }, { gpa: 0x300000, data: pages(0x300000, 2) }] });
  t.true(rebuilt(open(inOrder.bytes)).equals(inOrder.bytes), 'streaming path skips the zero-filled tail');
});

test('writeElfDump takes PT_LOAD bytes from the given memory; a missing page is an AddressFault', (t) => {
  const { bytes, layout } = buildElfCore(SPEC64);
  const img = open(bytes);
  const other = Buffer.from(bytes);
  other.fill(0xee, layout.loadOffsets[1] + 4096, layout.loadOffsets[1] + 8192);
  const otherMem = new SegmentMemory(new RandomAccessFile(tmpFile(other)), img.parts.loads.map((l) => ({ kind: 'linear', gpa: l.gpa, length: l.memLength, fileOffset: l.fileOffset, fileLength: l.fileLength })));
  const sink = new BufferSink();
  writeElfDump(img.parts, otherMem, sink);
  t.true(sink.toBuffer().equals(other));
  const partial = new SegmentMemory(new RandomAccessFile(tmpFile(bytes)), [{ kind: 'linear', gpa: 0, length: 16384, fileOffset: layout.loadOffsets[0], fileLength: 16384 }]);
  const err = t.throws(() => writeElfDump(img.parts, partial, new BufferSink()), { instanceOf: AddressFault });
  t.is(err?.data.gpa, 0x100000);
});

test('metadata regions are every non-PT_LOAD byte', (t) => {
  const { bytes, layout } = buildElfCore(SPEC64);
  const { parts } = parseElfDump(new RandomAccessFile(tmpFile(bytes)));
  t.deepEqual(parts.metadata.map((m) => [m.fileOffset, m.bytes.length]), [[0, layout.loadOffsets[0]], [layout.shstrtabOffset, 11]]);
  t.is(parts.metadata[1].bytes.toString('latin1'), '\0.shstrtab\0');
});

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

// ---- kdump ---------------------------------------------------------------------------------

test('kdump: flattened and plain headers are recognised and refused with advice', (t) => {
  const flat = Buffer.alloc(4096 + 32);
  flat.write('makedumpfile', 0, 'latin1');
  flat.writeBigUInt64BE(1n, 16);
  flat.writeBigUInt64BE(1n, 24);
  const plain = Buffer.alloc(8192);
  plain.write('KDUMP   ', 0, 'latin1');
  for (const [buf, field] of [[flat, 'makedumpfile flattened header signature'], [plain, 'kdump header signature']] as const) {
    t.true(probeKdump(buf));
    t.false(probeElfDump(buf));
    const path = tmpFile(buf);
    const err = t.throws(() => openKdump(new RandomAccessFile(path)), { instanceOf: MigError });
    t.is(err?.code, 'IMAGE_UNSUPPORTED');
    t.like(err?.data, { file: path, offset: 0, field });
    t.true(err!.message.endsWith(KDUMP_UNSUPPORTED_MESSAGE));
  }
  t.false(probeKdump(buildElfCore(SPEC64).bytes));
  t.false(probeKdump(Buffer.from('makedumpfilex')));
  t.false(probeKdump(Buffer.from('KDUMP')));
  const err = t.throws(() => openKdump(new RandomAccessFile(tmpFile(Buffer.from('QEVM\0\0\0\x03')))), { instanceOf: MigError });
  t.is(err?.code, 'IMAGE_BAD_MAGIC');
});
