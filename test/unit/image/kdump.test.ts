/** kdump-compressed and makedumpfile-flattened dumps are recognised and refused with advice. */
import test from 'ava';
import { RandomAccessFile } from '../../../src/util/file.js';
import { MigError } from '../../../src/util/errors.js';
import { probeElfDump } from '../../../src/image/elf-dump.js';
import { KDUMP_UNSUPPORTED_MESSAGE, openKdump, probeKdump } from '../../../src/image/kdump.js';
import { buildElfCore, CpuSpec, ElfSpec, pages } from '../../helpers/elf-writer.js';
import { tmpFile } from '../../helpers/tmp.js';

// The ELF dump fixture of elf-dump.test.ts, to show kdump probing does not claim it.
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
