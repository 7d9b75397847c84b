/**
 * QEMU `dump-guest-memory` ELF cores (`virsh dump --memory-only --format elf`): ELF64 and ELF32,
 * EM_X86_64 and EM_386. Spec: docs/format/elf-dump.md. PT_LOADs become the guest-physical view
 * (p_paddr = GPA); PT_NOTEs give per-vCPU state (NT_PRSTATUS + QEMU CPU state) and VMCOREINFO.
 * Every byte outside PT_LOAD file data is kept verbatim as metadata, so writeElfDump rebuilds the
 * file byte for byte from the metadata plus page contents taken from any PhysicalMemory.
 */
import { AddressFault, ImageErrorCode, ImageFormatError, UnsupportedImageError } from '../util/errors.js';
import { RandomAccessFile } from '../util/file.js';
import { PAGE_SIZE, PhysicalMemory } from '../mem/physical-memory.js';
import { SegmentMemory } from '../mem/segment-map.js';
import type { ByteSink, CpuState, OpenedImage, RamBlockInfo } from './types.js';

export const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
export const ET_CORE = 4;
export const EM_386 = 3;
export const EM_X86_64 = 62;
export const PT_LOAD = 1;
export const PT_NOTE = 4;
export const PN_XNUM = 0xffff;
export const NT_PRSTATUS = 1;
/** Bytes outside PT_LOAD data kept in memory (headers, notes, .shstrtab). QEMU writes far less. */
export const MAX_METADATA_BYTES = 64 << 20;
/** writeElfDump streams through forEachPageBatch only when it would skip at most this many zero-fill bytes. */
const STREAM_MAX_TAIL_BYTES = 64 << 20;
/** Guest-physical addresses are at most 52 bits (x86 MAXPHYADDR). */
const MAX_GPA = 2 ** 52;

/** Field offsets per ELF class (ELF gABI); `word` is the size of addresses and offsets. */
interface ElfLayout {
  bits: 32 | 64;
  word: 4 | 8;
  ehdrSize: number;
  phentsize: number;
  shentsize: number;
  e_phoff: number;
  e_shoff: number;
  e_phentsize: number;
  e_phnum: number;
  e_shentsize: number;
  e_shnum: number;
  p_offset: number;
  p_paddr: number;
  p_filesz: number;
  p_memsz: number;
  sh_info: number;
}
const ELF64: ElfLayout = {
  bits: 64, word: 8, ehdrSize: 64, phentsize: 56, shentsize: 64, e_phoff: 32, e_shoff: 40, e_phentsize: 54,
  e_phnum: 56, e_shentsize: 58, e_shnum: 60, p_offset: 8, p_paddr: 24, p_filesz: 32, p_memsz: 40, sh_info: 44,
};
const ELF32: ElfLayout = {
  bits: 32, word: 4, ehdrSize: 52, phentsize: 32, shentsize: 40, e_phoff: 28, e_shoff: 32, e_phentsize: 42,
  e_phnum: 44, e_shentsize: 46, e_shnum: 48, p_offset: 4, p_paddr: 12, p_filesz: 16, p_memsz: 20, sh_info: 28,
};

/**
 * NT_PRSTATUS desc layouts by e_machine (QEMU target/i386/arch_dump.c). The i386 layout is also
 * used inside ELFCLASS64 files when vCPU 0 is not in long mode but RAM reaches above 4 GiB.
 */
const PRSTATUS: Record<number, { name: string; size: number; word: 4 | 8; rip: number; rsp: number; gsBase?: number }> = {
  // pad[32], pid, pad[76], then 27 u64 regs at 112: rip is reg 16, rsp 19, gs_base 22.
  [EM_X86_64]: { name: 'x86-64', size: 336, word: 8, rip: 112 + 16 * 8, rsp: 112 + 19 * 8, gsBase: 112 + 22 * 8 },
  // pad[24], pid, pad[44], then user_regs_struct at 72: eip at +48, esp at +60.
  [EM_386]: { name: 'i386', size: 144, word: 4, rip: 72 + 48, rsp: 72 + 60 },
};

/** QEMUCPUState v1 (arch_dump.c): all fields u64, identical in ELF32 and ELF64 dumps. */
const QCPU = { rsp: 56, rip: 136, gsBase: 248 + 16, cr0: 392, cr2: 408, cr3: 416, cr4: 424, kernelGsBase: 432, minSize: 432, kgsSize: 440 };

export interface ElfHeaderInfo {
  bits: 32 | 64;
  machine: number;
  phoff: number;
  /** Real number of program headers (from section header 0's sh_info when e_phnum is PN_XNUM). */
  phnum: number;
  xnum: boolean;
}

/** One PT_LOAD: file bytes [fileOffset, +fileLength) back GPA [gpa, +fileLength); the rest of memLength is zero. */
export interface ElfLoad {
  /** Program header index. */
  phdr: number;
  fileOffset: number;
  fileLength: number;
  gpa: number;
  memLength: number;
}

export interface ElfDumpParts {
  fileSize: number;
  /** Every byte that is not PT_LOAD file data, verbatim, ascending by offset. */
  metadata: { fileOffset: number; bytes: Buffer }[];
  /** PT_LOADs in program-header order. */
  loads: ElfLoad[];
}

export interface ElfDump {
  header: ElfHeaderInfo;
  parts: ElfDumpParts;
  cpus: CpuState[];
  vmcoreinfo?: string;
}

export function probeElfDump(head: Buffer): boolean {
  return head.length >= 18 && head.subarray(0, 4).equals(ELF_MAGIC) && (head[4] === 1 || head[4] === 2) && head[5] === 1 &&
    head.readUInt16LE(16) === ET_CORE;
}

/** An address-sized field; values ≥ 2^53 come back unsafe and are rejected by callers that use them. */
function word(buf: Buffer, off: number, size: 4 | 8): number {
  return size === 4 ? buf.readUInt32LE(off) : buf.readUInt32LE(off + 4) * 0x100000000 + buf.readUInt32LE(off);
}

const align4 = (n: number) => n + ((4 - (n % 4)) % 4);
const hex = (n: number) => `0x${n.toString(16)}`;

export function parseElfDump(file: RandomAccessFile): ElfDump {
  const fail = (code: string, what: string, offset: number, field: string) => new ImageFormatError(code, what, { file: file.path, offset, field });
  const ident = file.read(0, 16, 'ELF header e_ident');
  if (!ident.subarray(0, 4).equals(ELF_MAGIC)) {
    throw fail(ImageErrorCode.BAD_MAGIC, `not an ELF file (magic ${ident.toString('hex', 0, 4)})`, 0, 'ELF header magic');
  }
  if (ident[4] !== 1 && ident[4] !== 2) throw fail(ImageErrorCode.BAD_FIELD, `EI_CLASS ${ident[4]} is neither ELFCLASS32 nor ELFCLASS64`, 4, 'e_ident[EI_CLASS]');
  if (ident[5] === 2) throw new UnsupportedImageError('big-endian ELF file; QEMU x86 dumps are little-endian', { file: file.path, offset: 5, field: 'e_ident[EI_DATA]' });
  if (ident[5] !== 1) throw fail(ImageErrorCode.BAD_FIELD, `EI_DATA ${ident[5]} is not ELFDATA2LSB`, 5, 'e_ident[EI_DATA]');
  const L = ident[4] === 2 ? ELF64 : ELF32;
  const eh = file.read(0, L.ehdrSize, `ELF${L.bits} header`);
  // e_ehsize is deliberately not checked: QEMU 7.2 writes sizeof(pointer) = 8 there.
  const type = eh.readUInt16LE(16);
  if (type !== ET_CORE) throw fail(ImageErrorCode.BAD_FIELD, `e_type ${type} is not ET_CORE (4): not a memory dump`, 16, 'e_type');
  const machine = eh.readUInt16LE(18);
  if (!PRSTATUS[machine]) {
    throw new UnsupportedImageError(`e_machine ${machine}: mig reads x86 dumps only (EM_X86_64, EM_386)`, { file: file.path, offset: 18, field: 'e_machine' });
  }
  const phoff = word(eh, L.e_phoff, L.word);
  if (!Number.isSafeInteger(phoff) || phoff > file.size) {
    const exact = L.word === 8 ? eh.readBigUInt64LE(L.e_phoff) : phoff;
    throw fail(ImageErrorCode.TRUNCATED, `e_phoff ${exact} is past the end of the file (${file.size} bytes)`, L.e_phoff, 'e_phoff');
  }
  let phnum = eh.readUInt16LE(L.e_phnum);
  let countAt = L.e_phnum;
  let countField = 'e_phnum';
  const xnum = phnum === PN_XNUM;
  if (xnum) {
    // The real count is in section header 0's sh_info (gABI "Extended program header numbering").
    const shoff = word(eh, L.e_shoff, L.word);
    const shentsize = eh.readUInt16LE(L.e_shentsize);
    if (shoff === 0) {
      throw fail(ImageErrorCode.BAD_FIELD, 'e_phnum is PN_XNUM but the file has no section header 0 to hold the count', L.e_shoff, 'e_shoff');
    }
    if (shentsize !== L.shentsize) throw fail(ImageErrorCode.BAD_FIELD, `e_shentsize ${shentsize} is not ${L.shentsize}`, L.e_shentsize, 'e_shentsize');
    if (!Number.isSafeInteger(shoff) || shoff + shentsize > file.size) {
      throw fail(ImageErrorCode.TRUNCATED, `section header 0 at e_shoff ${shoff} runs past the end of the file (${file.size} bytes)`, L.e_shoff, 'e_shoff');
    }
    phnum = file.read(shoff, shentsize, 'section header 0').readUInt32LE(L.sh_info);
    countAt = shoff + L.sh_info;
    countField = 'section header 0 sh_info';
    if (phnum < PN_XNUM) throw fail(ImageErrorCode.BAD_FIELD, `e_phnum is PN_XNUM but sh_info holds ${phnum} (< 65535)`, countAt, countField);
  }
  const phentsize = eh.readUInt16LE(L.e_phentsize);
  if (phnum > 0 && phentsize !== L.phentsize) throw fail(ImageErrorCode.BAD_FIELD, `e_phentsize ${phentsize} is not ${L.phentsize}`, L.e_phentsize, 'e_phentsize');
  const tableBytes = phnum * L.phentsize;
  if (phoff + tableBytes > file.size) {
    throw fail(ImageErrorCode.TRUNCATED, `${phnum} program headers at e_phoff ${phoff} need ${tableBytes} bytes but the file ends at ${file.size}`, countAt, countField);
  }
  if (tableBytes > MAX_METADATA_BYTES) {
    throw new UnsupportedImageError(`${phnum} program headers exceed mig's ${MAX_METADATA_BYTES >> 20} MiB metadata limit`, { file: file.path, offset: countAt, field: countField });
  }
  const header: ElfHeaderInfo = { bits: L.bits, machine, phoff, phnum, xnum };
  const ph = file.read(phoff, tableBytes, 'program header table');
  const loads: ElfLoad[] = [];
  const notes: { phdr: number; offset: number; size: number }[] = [];
  for (let i = 0; i < phnum; i++) {
    const base = i * L.phentsize;
    const type = ph.readUInt32LE(base);
    if (type !== PT_LOAD && type !== PT_NOTE) continue;
    const at = (f: 'p_offset' | 'p_paddr' | 'p_filesz' | 'p_memsz') => phoff + base + L[f];
    const get = (f: 'p_offset' | 'p_paddr' | 'p_filesz' | 'p_memsz') => {
      const v = word(ph, base + L[f], L.word);
      if (!Number.isSafeInteger(v)) throw fail(ImageErrorCode.BAD_FIELD, `${f} 0x${ph.readBigUInt64LE(base + L[f]).toString(16)} is too large`, at(f), `program header ${i} ${f}`);
      return v;
    };
    const filesz = get('p_filesz');
    // p_offset is meaningless without file data (QEMU writes -1 for filtered-out ranges).
    const offset = filesz > 0 ? get('p_offset') : 0;
    const kind = type === PT_LOAD ? 'PT_LOAD' : 'PT_NOTE';
    if (offset + filesz > file.size) {
      throw fail(ImageErrorCode.TRUNCATED, `${kind} data at ${hex(offset)}+${hex(filesz)} runs past the end of the file (${file.size} bytes)`, at('p_offset'), `program header ${i} p_offset`);
    }
    if (type === PT_NOTE) {
      if (filesz > MAX_METADATA_BYTES) throw new UnsupportedImageError(`PT_NOTE of ${filesz} bytes exceeds mig's metadata limit`, { file: file.path, offset: at('p_filesz'), field: `program header ${i} p_filesz` });
      notes.push({ phdr: i, offset, size: filesz });
      continue;
    }
    const gpa = get('p_paddr');
    const memsz = get('p_memsz');
    if (filesz > memsz) throw fail(ImageErrorCode.BAD_FIELD, `p_filesz ${hex(filesz)} is larger than p_memsz ${hex(memsz)}`, at('p_filesz'), `program header ${i} p_filesz`);
    if (gpa % PAGE_SIZE !== 0 || memsz % PAGE_SIZE !== 0) {
      const f = gpa % PAGE_SIZE !== 0 ? 'p_paddr' : 'p_memsz';
      throw new UnsupportedImageError(`PT_LOAD ${hex(gpa)}+${hex(memsz)} is not 4 KiB-aligned; mig maps whole pages only`, { file: file.path, offset: at(f), field: `program header ${i} ${f}` });
    }
    if (gpa + memsz > MAX_GPA) throw fail(ImageErrorCode.BAD_FIELD, `PT_LOAD ${hex(gpa)}+${hex(memsz)} ends beyond 2^52`, at('p_memsz'), `program header ${i} p_memsz`);
    loads.push({ phdr: i, fileOffset: offset, fileLength: filesz, gpa, memLength: memsz });
  }
  const phAt = (l: ElfLoad, f: 'p_paddr' | 'p_offset') => phoff + l.phdr * L.phentsize + L[f];
  const byGpa = loads.filter((l) => l.memLength > 0).sort((a, b) => a.gpa - b.gpa);
  for (let k = 1; k < byGpa.length; k++) {
    const [p, l] = [byGpa[k - 1], byGpa[k]];
    if (p.gpa + p.memLength > l.gpa) {
      throw fail(ImageErrorCode.BAD_FIELD, `PT_LOAD GPA ${hex(l.gpa)}+${hex(l.memLength)} overlaps program header ${p.phdr} (${hex(p.gpa)}+${hex(p.memLength)})`, phAt(l, 'p_paddr'), `program header ${l.phdr} p_paddr`);
    }
  }
  const byFile = loads.filter((l) => l.fileLength > 0).sort((a, b) => a.fileOffset - b.fileOffset);
  for (let k = 1; k < byFile.length; k++) {
    const [p, l] = [byFile[k - 1], byFile[k]];
    if (p.fileOffset + p.fileLength > l.fileOffset) {
      throw fail(ImageErrorCode.BAD_FIELD, `PT_LOAD file data ${hex(l.fileOffset)}+${hex(l.fileLength)} overlaps that of program header ${p.phdr}`, phAt(l, 'p_offset'), `program header ${l.phdr} p_offset`);
    }
  }
  const parts: ElfDumpParts = { fileSize: file.size, metadata: readMetadata(file, byFile), loads };
  const dump: ElfDump = { header, parts, cpus: [] };
  for (const n of notes) parseNotes(file, n, machine, dump);
  return dump;
}

/** Read the complement of the PT_LOAD file ranges (sorted, disjoint), refusing more than MAX_METADATA_BYTES. */
function readMetadata(file: RandomAccessFile, byFile: ElfLoad[]): ElfDumpParts['metadata'] {
  const gaps: { fileOffset: number; length: number }[] = [];
  let pos = 0;
  for (const l of [...byFile, { fileOffset: file.size, fileLength: 0 }]) {
    if (l.fileOffset > pos) gaps.push({ fileOffset: pos, length: l.fileOffset - pos });
    pos = l.fileOffset + l.fileLength;
  }
  const total = gaps.reduce((s, g) => s + g.length, 0);
  if (total > MAX_METADATA_BYTES) {
    const big = gaps.reduce((a, b) => (b.length > a.length ? b : a));
    throw new UnsupportedImageError(`${total} bytes of the file lie outside PT_LOAD data (largest run ${big.length} bytes here); mig keeps at most ${MAX_METADATA_BYTES >> 20} MiB of headers and notes`,
      { file: file.path, offset: big.fileOffset, field: 'non-PT_LOAD bytes' });
  }
  return gaps.map((g) => ({ fileOffset: g.fileOffset, bytes: file.read(g.fileOffset, g.length, 'ELF metadata') }));
}

/** Walk one PT_NOTE segment (4-byte aligned Elf_Nhdr records) and fill dump.cpus / dump.vmcoreinfo. */
function parseNotes(file: RandomAccessFile, seg: { phdr: number; offset: number; size: number }, machine: number, dump: ElfDump): void {
  const buf = file.read(seg.offset, seg.size, `program header ${seg.phdr} PT_NOTE`);
  const fail = (code: string, what: string, offset: number, field: string) => new ImageFormatError(code, what, { file: file.path, offset: seg.offset + offset, field });
  const cpu = (i: number) => (dump.cpus[i] ??= { index: i });
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
    } else if (name === 'VMCOREINFO' && dump.vmcoreinfo === undefined) {
      dump.vmcoreinfo = desc.toString('utf8').replace(/\0+$/, '');
    }
    pos = Math.min(seg.size, descStart + align4(descsz));
  }
}

/**
 * Write an ELF dump from its parts: metadata verbatim, PT_LOAD file data from `memory`. When loads
 * ascend by GPA in file order and zero-filled tails (p_memsz - p_filesz) are small (always, for
 * QEMU) pages stream through forEachPageBatch; otherwise only the file-backed pages are fetched
 * with readPage. Throws AddressFault when `memory` lacks a page a PT_LOAD needs.
 */
export function writeElfDump(parts: ElfDumpParts, memory: PhysicalMemory, sink: ByteSink): void {
  type Piece = { at: number; meta?: Buffer; load?: ElfLoad };
  const pieces: Piece[] = [
    ...parts.metadata.map((m) => ({ at: m.fileOffset, meta: m.bytes })),
    ...parts.loads.filter((l) => l.fileLength > 0).map((l) => ({ at: l.fileOffset, load: l })),
  ].sort((a, b) => a.at - b.at);
  let end = 0;
  for (const p of pieces) {
    if (p.at !== end) throw new Error(`internal: ELF parts do not tile the file at ${end}`);
    end += p.meta ? p.meta.length : p.load!.fileLength;
  }
  if (end !== parts.fileSize) throw new Error(`internal: ELF parts cover ${end} of ${parts.fileSize} bytes`);
  const missing = (gpa: number, len: number) => new AddressFault(gpa, len, 'needed to rebuild the ELF dump but absent from the memory');
  const fileLoads = pieces.filter((p) => p.load).map((p) => p.load!);
  const tails = parts.loads.reduce((n, l) => n + l.memLength - l.fileLength, 0);
  if (tails <= STREAM_MAX_TAIL_BYTES && fileLoads.every((l, i) => i === 0 || l.gpa > fileLoads[i - 1].gpa)) {
    let k = 0;
    let done = 0;
    const flushMeta = () => {
      while (k < pieces.length && pieces[k].meta) sink.write(pieces[k++].meta!);
    };
    flushMeta();
    if (k < pieces.length) {
      memory.forEachPageBatch((pfn, count, bytes) => {
        const start = pfn * PAGE_SIZE;
        const stop = start + count * PAGE_SIZE;
        while (k < pieces.length) {
          const l = pieces[k].load!;
          const want = l.gpa + done;
          if (want >= stop) return;
          if (want < start) throw missing(want, Math.min(start, l.gpa + l.fileLength) - want);
          const n = Math.min(stop, l.gpa + l.fileLength) - want;
          sink.write(bytes.subarray(want - start, want - start + n));
          done += n;
          if (done === l.fileLength) {
            k++;
            done = 0;
            flushMeta();
          }
        }
      });
    }
    if (k < pieces.length) throw missing(pieces[k].load!.gpa + done, pieces[k].load!.fileLength - done);
    return;
  }
  const buf = Buffer.allocUnsafe(256 * PAGE_SIZE);
  for (const p of pieces) {
    if (p.meta) {
      sink.write(p.meta);
      continue;
    }
    const l = p.load!;
    for (let off = 0; off < l.fileLength; off += buf.length) {
      const n = Math.min(buf.length, l.fileLength - off);
      for (let q = 0; q * PAGE_SIZE < n; q++) {
        const gpa = l.gpa + off + q * PAGE_SIZE;
        if (!memory.readPage(gpa / PAGE_SIZE, buf, q * PAGE_SIZE)) throw missing(gpa, PAGE_SIZE);
      }
      sink.write(buf.subarray(0, n));
    }
  }
}

/** The guest-physical view of a parsed dump: one linear segment per non-empty PT_LOAD. */
export function elfDumpMemory(file: RandomAccessFile, parts: ElfDumpParts): SegmentMemory {
  return new SegmentMemory(file, parts.loads.map((l) => ({ kind: 'linear', gpa: l.gpa, length: l.memLength, fileOffset: l.fileOffset, fileLength: l.fileLength })));
}

export function openElfDump(file: RandomAccessFile): OpenedImage & { parts: ElfDumpParts; header: ElfHeaderInfo } {
  const dump = parseElfDump(file);
  const { parts } = dump;
  const memory = elfDumpMemory(file, parts);
  const ramBlocks: RamBlockInfo[] = parts.loads.map((l, k) => ({
    name: `load[${k}]`, length: l.memLength, main: true, map: l.memLength > 0 ? [{ offset: 0, gpa: l.gpa, length: l.memLength }] : [],
  }));
  return {
    format: 'elf-dump',
    path: file.path,
    fileSize: file.size,
    memory,
    ramBlocks,
    ramBytes: parts.loads.reduce((s, l) => s + l.memLength, 0),
    cpus: dump.cpus.filter((c) => c !== undefined),
    vmcoreinfo: dump.vmcoreinfo,
    header: dump.header,
    parts,
    rebuild: (sink: ByteSink) => writeElfDump(parts, memory, sink),
    close: () => file.close(),
  };
}
