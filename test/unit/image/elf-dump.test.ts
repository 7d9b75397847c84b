import test from 'ava';
import { RandomAccessFile } from '../../../src/util/file.js';
import { AddressFault } from '../../../src/util/errors.js';
import { SegmentMemory } from '../../../src/mem/segment-map.js';
import { parseElfDump, probeElfDump, writeElfDump } from '../../../src/image/elf-dump.js';
import { BufferSink } from '../../../src/util/sink.js';
import { buildElfCore, EM_386, pages, stampedPage, tinyLoads } from '../../helpers/elf-writer.js';
import { tmpFile } from '../../helpers/tmp.js';
import { mig } from '../../helpers/cli.js';
import { countPages } from '../../helpers/count-pages.js';
import { imageInfo } from '../../../src/cli/commands/info.js';
import { CPUS, openElf as open, rebuilt, SPEC64, VMCOREINFO } from '../../helpers/elf-fixtures.js';



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

for (const bits of [32, 64] as const) {
  test(`ELF${bits} / EM_386, a PAE guest: the QEMU note's CR0/CR3/CR4 exact (CR3 32-byte aligned, not page aligned)`, (t) => {
    // Like the real mig-i386-pae (ELF64, default BIOS) and mig-i386 (ELF32, pflash) dumps: QEMUCPUState
    // has the same u64 layout in both classes; qemu-system-i386 zero-extends its 32-bit registers.
    const cpu = { rip: 0xd492fcf3n, rsp: 0xc2a01f00n, cr0: 0x80050033n, cr3: 0x1c3a880n, cr4: 0x350ef0n };
    const loads = [{ gpa: 0, data: pages(0, 2) }, ...(bits === 64 ? [{ gpa: 0xfffc0000, data: pages(0xfffc0000, 1) }] : [])];
    const { bytes } = buildElfCore({ bits, machine: EM_386, loads, cpus: [cpu], vmcoreinfo: VMCOREINFO });
    const img = open(bytes);
    t.like(img.header, { bits, machine: EM_386 });
    t.like(img.cpus[0], { cr0: cpu.cr0, cr3: 0x1c3a880n, cr4: cpu.cr4, rip: cpu.rip, rsp: cpu.rsp });
    t.is((img.cpus[0].cr4! >> 5n) & 1n, 1n, 'CR4.PAE');
    t.is(img.vmcoreinfo, VMCOREINFO);
    t.true(rebuilt(img).equals(bytes));
  });
}

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

// Malformed input: elf-dump-errors.test.ts. kdump recognition: kdump.test.ts.

// ---- zero-fill tails are counted, not read (issue 13: p_filesz 0, p_memsz 1 TiB took > 60 s in info) ----

const TiB = 2 ** 40;
for (const [name, data, zeroInFile] of [
  ['p_filesz 0', Buffer.alloc(0), 0],
  ['two file pages', pages(0, 2, 0x41), 0],
  ['a partial file page (100 bytes)', Buffer.alloc(100, 0x7f), 0],
] as const) {
  test(`zero-fill tail of 1 TiB with ${name}: reported as one zero run, counted without reading`, (t) => {
    const { bytes } = buildElfCore({ loads: [{ gpa: 0, data, memLength: TiB }], cpus: [{ rip: 0xffffffff81000000n, cr3: 0x1000n }] });
    const img = open(bytes);
    const total = TiB / 4096;
    const filePages = Math.ceil(data.length / 4096);
    let delivered = 0;
    const runs: [number, number][] = [];
    img.memory.forEachPageBatch((pfn, count) => {
      t.is(pfn, delivered, 'ascending');
      delivered += count;
      if (delivered > filePages) throw new Error(`read ${delivered} pages of a ${filePages}-page file`);
    }, 1024, (pfn, count) => runs.push([pfn, count]));
    t.is(delivered, filePages);
    t.deepEqual(runs, [[filePages, total - filePages]]);
    t.deepEqual(countPages(img.memory), { total, zero: total - filePages + zeroInFile, nonZero: filePages - zeroInFile });
    // Without onZeroRun every page still comes through fn (other consumers are unchanged).
    let first = 0;
    try {
      img.memory.forEachPageBatch((_pfn, count) => {
        first += count;
        throw new Error('stop');
      }, 4);
    } catch { /* stopped after one batch */ }
    t.is(first, Math.min(4, total));
    img.close();
    const info = imageInfo(tmpFile(bytes, 'tail.elf'));
    t.deepEqual(info.pages, { total, zero: total - filePages + zeroInFile, nonZero: filePages - zeroInFile });
  });
}

test('mig info on a 1 TiB zero-fill ELF exits 0 and counts its pages as zero', (t) => {
  const { bytes } = buildElfCore({ loads: [{ gpa: 0, data: Buffer.alloc(0), memLength: TiB }], cpus: [{ rip: 0xffffffff81000000n, cr3: 0x1000n }] });
  const r = mig('info', '--json', tmpFile(bytes, 'tail.elf'));
  t.is(r.status, 0, r.stderr);
  t.deepEqual(JSON.parse(r.stdout).pages, { total: TiB / 4096, zero: TiB / 4096, nonZero: 0 });
});
