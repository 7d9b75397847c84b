/** The ELF dump fixture shared by the ELF and kdump tests: two vCPUs, VMCOREINFO, three loads. */
import { RandomAccessFile } from '../../src/util/file.js';
import { openElfDump } from '../../src/image/elf-dump.js';
import { BufferSink } from '../../src/util/sink.js';
import { CpuSpec, ElfSpec, pages } from './elf-writer.js';
import { tmpFile } from './tmp.js';

export const CPUS: CpuSpec[] = [
  { rip: 0xffffffff81e0b1a2n, rsp: 0xffffffff82a03e88n, cr3: 0x10a000n, gsBase: 0xffff88803ec00000n, kernelGsBase: 0x7f0000001000n },
  { rip: 0xffffffff81e0c000n, rsp: 0xffffc90000083e90n, cr3: 0x2f3e000n },
];
export const VMCOREINFO = 'OSRELEASE=6.1.0-18-amd64\nPAGESIZE=4096\nSYMBOL(swapper_pg_dir)=ffffffff8260a000\nNUMBER(phys_base)=0\n';

/** Three loads like a small q35 guest: low RAM, RAM above 1 MiB, and RAM above 4 GiB. */
export const SPEC64: ElfSpec = {
  loads: [
    { gpa: 0, data: pages(0, 4, 0x10) },
    { gpa: 0x100000, data: pages(0x100000, 8, 0x20) },
    { gpa: 0x100000000, data: pages(0x100000000, 2, 0x30) },
  ],
  cpus: CPUS,
  vmcoreinfo: VMCOREINFO,
};

export const openElf = (buf: Buffer) => openElfDump(new RandomAccessFile(tmpFile(buf, 'dump.elf')));

export function rebuilt(img: { rebuild(s: BufferSink): void }): Buffer {
  const sink = new BufferSink();
  img.rebuild(sink);
  return sink.toBuffer();
}
