/**
 * PT_NOTE segments of QEMU ELF dumps: Elf_Nhdr records (identical in ELF32 and ELF64) carrying
 * per-vCPU state (NT_PRSTATUS + the QEMU CPU-state note) and the guest's VMCOREINFO text.
 * Spec: docs/format/elf-dump.md, "Notes (PT_NOTE)". Used by parseElfDump (elf-dump.ts).
 */
import { ImageErrorCode, ImageFormatError } from '../util/errors.js';
import { RandomAccessFile } from '../util/file.js';
import type { CpuState } from './types.js';

export const EM_386 = 3;
export const EM_X86_64 = 62;
export const NT_PRSTATUS = 1;

/**
 * NT_PRSTATUS desc layouts by e_machine (QEMU target/i386/arch_dump.c). The i386 layout is also
 * used inside ELFCLASS64 files when vCPU 0 is not in long mode but RAM reaches above 4 GiB.
 * The machines listed here are the ones mig reads.
 */
export const PRSTATUS: Record<number, { name: string; size: number; word: 4 | 8; rip: number; rsp: number; gsBase?: number }> = {
  // pad[32], pid, pad[76], then 27 u64 regs at 112: rip is reg 16, rsp 19, gs_base 22.
  [EM_X86_64]: { name: 'x86-64', size: 336, word: 8, rip: 112 + 16 * 8, rsp: 112 + 19 * 8, gsBase: 112 + 22 * 8 },
  // pad[24], pid, pad[44], then user_regs_struct at 72: eip at +48, esp at +60.
  [EM_386]: { name: 'i386', size: 144, word: 4, rip: 72 + 48, rsp: 72 + 60 },
};

/** QEMUCPUState v1 (arch_dump.c): all fields u64, identical in ELF32 and ELF64 dumps. */
const QCPU = { rsp: 56, rip: 136, gsBase: 248 + 16, cr0: 392, cr2: 408, cr3: 416, cr4: 424, kernelGsBase: 432, minSize: 432, kgsSize: 440 };

/** One PT_NOTE segment: program header index and its file data. */
export interface ElfNoteSegment {
  phdr: number;
  offset: number;
  size: number;
}

/** What the notes yield; filled across all PT_NOTE segments of a file. `cpus` may be sparse. */
export interface ElfNotes {
  cpus: CpuState[];
  vmcoreinfo?: string;
}

const align4 = (n: number) => n + ((4 - (n % 4)) % 4);

/** Walk one PT_NOTE segment (4-byte aligned Elf_Nhdr records) and fill out.cpus / out.vmcoreinfo. */
export function parseNotes(file: RandomAccessFile, seg: ElfNoteSegment, machine: number, out: ElfNotes): void {
  const buf = file.read(seg.offset, seg.size, `program header ${seg.phdr} PT_NOTE`);
  const fail = (code: string, what: string, offset: number, field: string) => new ImageFormatError(code, what, { file: file.path, offset: seg.offset + offset, field });
  const cpu = (i: number) => (out.cpus[i] ??= { index: i });
  let prstatus = 0;
  let qemu = 0;
  for (let pos = 0, n = 0; pos < seg.size; n++) {
    const f = (name: string) => `program header ${seg.phdr} note ${n} ${name}`;
    if (seg.size - pos < 12) throw fail(ImageErrorCode.TRUNCATED, `note header needs 12 bytes but the PT_NOTE segment ends at ${seg.offset + seg.size}`, pos, f('header'));
    const namesz = buf.readUInt32LE(pos);
    const descsz = buf.readUInt32LE(pos + 4);
    const type = buf.readUInt32LE(pos + 8);
    const nameStart = pos + 12;
    if (nameStart + namesz > seg.size) throw fail(ImageErrorCode.TRUNCATED, `n_namesz ${namesz} runs past the end of the PT_NOTE segment`, pos, f('n_namesz'));
    const descStart = nameStart + align4(namesz);
    if (descStart + descsz > seg.size) {
      throw fail(ImageErrorCode.TRUNCATED, `n_descsz ${descsz} runs past the end of the PT_NOTE segment (${seg.offset + seg.size})`, pos + 4, f('n_descsz'));
    }
    const name = buf.toString('latin1', nameStart, nameStart + namesz).replace(/\0+$/, '');
    const desc = buf.subarray(descStart, descStart + descsz);
    if (name === 'CORE' && type === NT_PRSTATUS) {
      const p = PRSTATUS[machine];
      if (descsz < p.size) throw fail(ImageErrorCode.BAD_FIELD, `NT_PRSTATUS desc of ${descsz} bytes is smaller than an ${p.name} prstatus (${p.size})`, pos + 4, f('n_descsz'));
      const rd = (o: number) => (p.word === 8 ? desc.readBigUInt64LE(o) : BigInt(desc.readUInt32LE(o)));
      const c = cpu(prstatus++);
      c.rip = rd(p.rip);
      c.rsp = rd(p.rsp);
      if (p.gsBase !== undefined) c.gsBase = rd(p.gsBase);
    } else if (name === 'QEMU' && type === 0) {
      // The i-th QEMU note describes the same vCPU as the i-th NT_PRSTATUS.
      const c = cpu(qemu++);
      if (descsz < 8) throw fail(ImageErrorCode.BAD_FIELD, `QEMU CPU state of ${descsz} bytes has no version/size`, pos + 4, f('n_descsz'));
      const size = desc.readUInt32LE(4);
      // Version 1 is the only layout; fields are added at the end and announced by `size`.
      if (desc.readUInt32LE(0) === 1) {
        if (size < QCPU.minSize || size > descsz) throw fail(ImageErrorCode.BAD_FIELD, `QEMU CPU state size ${size} is not within ${QCPU.minSize}..${descsz}`, descStart + 4, f('QEMUCPUState size'));
        const rd = (o: number) => desc.readBigUInt64LE(o);
        c.rip ??= rd(QCPU.rip);
        c.rsp ??= rd(QCPU.rsp);
        c.gsBase ??= rd(QCPU.gsBase);
        c.cr0 = rd(QCPU.cr0);
        c.cr2 = rd(QCPU.cr2);
        c.cr3 = rd(QCPU.cr3);
        c.cr4 = rd(QCPU.cr4);
        if (size >= QCPU.kgsSize) c.kernelGsBase = rd(QCPU.kernelGsBase);
      }
    } else if (name === 'VMCOREINFO' && out.vmcoreinfo === undefined) {
      out.vmcoreinfo = desc.toString('utf8').replace(/\0+$/, '');
    }
    pos = Math.min(seg.size, descStart + align4(descsz));
  }
}
