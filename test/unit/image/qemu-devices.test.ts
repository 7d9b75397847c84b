/**
 * vCPU registers from the device-state tail of a QEMU stream (qemu-devices.ts), on streams built in
 * code with the `cpu` vmdesc of both QEMU targets: qemu-system-x86_64 writes target_ulong fields as
 * 8 bytes, qemu-system-i386 (libvirt `<type arch='i686'>`) as 4 bytes. The field lists follow what
 * QEMU 7.2 writes (checked against the vmdesc JSON of real i386 and x86-64 save images).
 */
import test from 'ava';
import { RandomAccessFile } from '../../../src/util/file.js';
import { cpuStatesFromTail } from '../../../src/image/qemu-devices.js';
import { openQemuStream } from '../../../src/image/qemu-stream.js';
import { Bytes, page, StreamBuilder } from '../../helpers/stream-writer.js';
import { tmpFile } from '../../helpers/tmp.js';

interface Regs { eip: bigint; cr0: bigint; cr2: bigint; cr3: bigint; cr4: bigint }

/** A `cpu` section body and its vmdesc entry: regs[8], eip, fpregs_format, cr0, cr2, cr3, cr4, xcr0 (u64 in both targets). */
function cpuSection(word: 4 | 8, r: Regs, instanceId: number, crSize: number = word) {
  const b = new Bytes();
  const put = (v: bigint, size: number) => (size === 8 ? b.u64(v) : size === 4 ? b.u32(Number(v)) : b.u16(Number(v & 0xffffn)));
  for (let i = 0; i < 8; i++) put(BigInt(0x1000 + i), word);
  put(r.eip, word);
  b.u16(0xffff);
  put(r.cr0, crSize);
  put(r.cr2, crSize);
  put(r.cr3, crSize);
  put(r.cr4, crSize);
  b.u64(7n);
  const t = (size: number) => `uint${size * 8}`;
  const device = {
    name: 'cpu', instance_id: instanceId, vmsd_name: 'cpu', version: 12,
    fields: [
      { name: 'env.regs', array_len: 8, type: t(word), size: word },
      { name: 'env.eip', type: t(word), size: word },
      { name: 'env.fpregs_format_vmstate', type: 'uint16', size: 2 },
      ...['env.cr[0]', 'env.cr[2]', 'env.cr[3]', 'env.cr[4]'].map((name) => ({ name, type: t(crSize), size: crSize })),
      { name: 'env.xcr0', type: 'uint64', size: 8 },
    ],
  };
  return { body: b.build(), device };
}

function stream(word: 4 | 8, cpus: Regs[], crSize: number = word): Buffer {
  const s = new StreamBuilder().header({ machine: 'pc-i440fx-7.2' }).ramStart([{ idstr: 'pc.ram', length: 8192 }]);
  s.ramSection(3, [{ block: 'pc.ram', offset: 0, data: page(1) }]);
  const devices = cpus.map((r, i) => cpuSection(word, r, i, crSize));
  devices.forEach((d, i) => s.device('cpu', d.body, i));
  s.eof(JSON.stringify({ page_size: 4096, devices: devices.map((d) => d.device) }));
  return s.build();
}

const PAE: Regs = { eip: 0xc10a2b3cn, cr0: 0x80050033n, cr2: 0xb7f0e000n, cr3: 0x123da60n, cr4: 0x6f0n };
const NONPAE: Regs = { eip: 0xc1001234n, cr0: 0x80050033n, cr2: 0n, cr3: 0x1d6e000n, cr4: 0x690n };

test('i386 target: 4-byte target_ulong CR0/CR2/CR3/CR4/EIP, a PAE CR3 read exactly (32-byte aligned)', (t) => {
  const img = openQemuStream(new RandomAccessFile(tmpFile(stream(4, [PAE, NONPAE]))));
  try {
    t.is(img.cpus.length, 2);
    t.deepEqual(img.cpus[0], { index: 0, rip: PAE.eip, cr0: PAE.cr0, cr2: PAE.cr2, cr3: 0x123da60n, cr4: PAE.cr4 });
    t.deepEqual(img.cpus[1], { index: 1, rip: NONPAE.eip, cr0: NONPAE.cr0, cr2: NONPAE.cr2, cr3: NONPAE.cr3, cr4: NONPAE.cr4 });
    t.is(img.cpus[0].cr3! & 0x1fn, 0n);
    t.not(img.cpus[0].cr3! & 0xfffn, 0n, 'not page aligned: PAE PDPT address');
    t.is((img.cpus[0].cr4! >> 5n) & 1n, 1n, 'CR4.PAE');
    t.is((img.cpus[1].cr4! >> 5n) & 1n, 0n);
  } finally {
    img.close();
  }
});

test('x86-64 target: 8-byte fields as before', (t) => {
  const r: Regs = { eip: 0xffffffff81e0e3f2n, cr0: 0x80050033n, cr2: 0x7f1234567000n, cr3: 0x10c4c000n, cr4: 0x3506f0n };
  const img = openQemuStream(new RandomAccessFile(tmpFile(stream(8, [r]))));
  try {
    t.deepEqual(img.cpus, [{ index: 0, rip: r.eip, cr0: r.cr0, cr2: r.cr2, cr3: r.cr3, cr4: r.cr4 }]);
  } finally {
    img.close();
  }
});

test('a register field of another size is not read (no CR3: no CPU state)', (t) => {
  const img = openQemuStream(new RandomAccessFile(tmpFile(stream(4, [PAE], 2))));
  try {
    t.deepEqual(img.cpus, []);
  } finally {
    img.close();
  }
});

test('no vmdesc: no CPU state, no error', (t) => {
  t.deepEqual(cpuStatesFromTail(Buffer.from([0x00])), []);
});

// ---- a hostile VMDESCRIPTION JSON (issue 13 fuzzing): the walk stops at the entry, never throws ----

/** Two x86-64 `cpu` sections whose vmdesc the caller damages (JSON values of any type). */
function damagedVmdesc(edit: (devices: Record<string, unknown>[]) => void): Buffer {
  const r = (i: number): Regs => ({ eip: 0xffffffff81000000n + BigInt(i), cr0: 0x80050033n, cr2: 0n, cr3: 0x1000000n * BigInt(i + 1), cr4: 0x3506f0n });
  const s = new StreamBuilder().header().ramStart([{ idstr: 'pc.ram', length: 8192 }]);
  s.ramSection(3, [{ block: 'pc.ram', offset: 0, data: page(1) }]);
  const devices = [0, 1].map((i) => cpuSection(8, r(i), i));
  devices.forEach((d, i) => s.device('cpu', d.body, i));
  const desc = JSON.parse(JSON.stringify(devices.map((d) => d.device))) as Record<string, unknown>[];
  edit(desc);
  // "@nested N@" stands for subsections nested N deep (written as text: JSON.stringify would overflow).
  const json = JSON.stringify({ page_size: 4096, devices: desc }).replace(/"@nested (\d+)@"/, (_m, n) =>
    '{"vmsd_name":"s","fields":[],"subsections":['.repeat(Number(n)) + '{"vmsd_name":"leaf","fields":[]}' + ']}'.repeat(Number(n)));
  s.eof(json);
  return s.build();
}

const f = (d: Record<string, unknown>[], k: number) => (d[1].fields as Record<string, unknown>[])[k];

for (const [name, edit] of [
  ['fields not an array (-1e300)', (d) => { d[1].fields = -1e300; }],
  ['fields an object', (d) => { d[1].fields = { 0: { name: 'x', size: 8 } }; }],
  ['a device entry null', (d) => { d[1] = null as never; }],
  ['a field entry null', (d) => { (d[1].fields as unknown[])[2] = null; }],
  ['a field size 0.5', (d) => { f(d, 2).size = 0.5; }],
  ['a field size 1.5', (d) => { f(d, 2).size = 1.5; }],
  ['a field size 1e-9', (d) => { f(d, 2).size = 1e-9; }],
  ['a field size -2', (d) => { f(d, 2).size = -2; }],
  ['a field size 2^60', (d) => { f(d, 2).size = 2 ** 60; }],
  ['a field size "2"', (d) => { f(d, 2).size = '2'; }],
  ['array_len -1', (d) => { f(d, 0).array_len = -1; }],
  ['array_len 0.5', (d) => { f(d, 0).array_len = 0.5; }],
  ['a field name not a string', (d) => { f(d, 4).name = ['env.cr[0]']; }],
  ['device name an array', (d) => { d[1].name = []; }],
  ['instance_id a string', (d) => { d[1].instance_id = '1'; }],
  ['subsections an object', (d) => { d[1].subsections = {}; }],
  ['a subsection vmsd_name null', (d) => { d[1].subsections = [{ vmsd_name: null, fields: [] }]; }],
  ['a subsection vmsd_name longer than 255 bytes', (d) => { d[1].subsections = [{ vmsd_name: 'x'.repeat(256), fields: [] }]; }],
  ['subsections nested 5000 deep', (d) => { d[1].subsections = ['@nested 5000@']; }],
] as [string, (d: Record<string, unknown>[]) => void][]) {
  test(`vmdesc with ${name} on the second cpu: the first is read, no error`, (t) => {
    const buf = damagedVmdesc(edit);
    let img: ReturnType<typeof openQemuStream> | undefined;
    t.notThrows(() => {
      img = openQemuStream(new RandomAccessFile(tmpFile(buf)));
    });
    try {
      t.deepEqual(img!.cpus.map((c) => c.index), [0], 'the walk stops at the damaged entry');
      t.is(img!.cpus[0].cr3, 0x1000000n);
    } finally {
      img?.close();
    }
  });
}

test('vmdesc damaged in the first cpu entry: no CPU state, no error', (t) => {
  const buf = damagedVmdesc((d) => { (d[0].fields as Record<string, unknown>[])[1].size = 0.5; });
  const img = openQemuStream(new RandomAccessFile(tmpFile(buf)));
  t.deepEqual(img.cpus, []);
  img.close();
});
