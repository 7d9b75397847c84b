/**
 * QEMU `dump-guest-memory` ELF cores (`virsh dump --memory-only --format elf`): ELF64 and ELF32,
 * EM_X86_64 and EM_386. Spec: docs/format/elf-dump.md. PT_LOADs become the guest-physical view
 * (p_paddr = GPA); PT_NOTEs give per-vCPU state (NT_PRSTATUS + QEMU CPU state) and VMCOREINFO.
 * Every byte outside PT_LOAD file data is kept verbatim as metadata, so writeElfDump rebuilds the
 * file byte for byte from the metadata plus page contents taken from any PhysicalMemory.
 * This module: probe, ELF/program headers, parts and memory view. Notes: elf-notes.ts; rewrite: elf-write.ts.
 */
import { ImageErrorCode, ImageFormatError, UnsupportedImageError } from '../util/errors.js';
import { RandomAccessFile } from '../util/file.js';
import { PAGE_SIZE } from '../mem/physical-memory.js';
import { SegmentMemory } from '../mem/segment-map.js';
import { parseNotes, PRSTATUS, type ElfNoteSegment } from './elf-notes.js';
import { writeElfDump, type ElfDumpParts, type ElfLoad } from './elf-write.js';
import { linearSlots } from './slots.js';
import type { ByteSink, CpuState, OpenedImage, RamBlockInfo } from './types.js';

export { EM_386, EM_X86_64, NT_PRSTATUS } from './elf-notes.js';
export { writeElfDump } from './elf-write.js';

export const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
export const ET_CORE = 4;
export const PT_LOAD = 1;
export const PT_NOTE = 4;
export const PN_XNUM = 0xffff;
/** Bytes outside PT_LOAD data kept in memory (headers, notes, .shstrtab). QEMU writes far less. */
export const MAX_METADATA_BYTES = 64 << 20;
/** Guest-physical addresses are at most 52 bits (x86 MAXPHYADDR). */
const MAX_GPA = 2 ** 52;
/**
 * Bound on the zero-fill of a dump, Σ (p_memsz − p_filesz) over its PT_LOADs. QEMU writes
 * p_filesz = p_memsz except for filtered dumps (`begin`/`length`), and the x86 guests mig handles
 * are far smaller than 1 TiB. Without it a malformed p_memsz (up to 2^52) with a tiny p_filesz makes
 * a memory view of petabytes of zeros, and any page walk (`mig info` counting zero pages) never ends.
 */
export const MAX_ZERO_FILL_BYTES = 2 ** 40;

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

export interface ElfHeaderInfo {
  bits: 32 | 64;
  machine: number;
  phoff: number;
  /** Real number of program headers (from section header 0's sh_info when e_phnum is PN_XNUM). */
  phnum: number;
  xnum: boolean;
}

export type { ElfDumpParts, ElfLoad } from './elf-write.js';

export interface ElfDump {
  header: ElfHeaderInfo;
  parts: ElfDumpParts;
  cpus: CpuState[];
  vmcoreinfo?: string;
}

/**
 * The ELF magic alone claims the file: class, byte order and e_type are the reader's to check, so an
 * ELF that is not a little-endian core is refused there (IMAGE_BAD_FIELD / IMAGE_UNSUPPORTED) rather
 * than falling through to `raw`. (Raw memory starts with the real-mode IVT, never `\x7fELF`.)
 */
export function probeElfDump(head: Buffer): boolean {
  return head.length >= 4 && head.subarray(0, 4).equals(ELF_MAGIC);
}

/** An address-sized field; values ≥ 2^53 come back unsafe and are rejected by callers that use them. */
function word(buf: Buffer, off: number, size: 4 | 8): number {
  return size === 4 ? buf.readUInt32LE(off) : buf.readUInt32LE(off + 4) * 0x100000000 + buf.readUInt32LE(off);
}

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
  const notes: ElfNoteSegment[] = [];
  let zeroFill = 0;
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
    zeroFill += memsz - filesz;
    if (zeroFill > MAX_ZERO_FILL_BYTES) {
      throw fail(ImageErrorCode.BAD_FIELD, `PT_LOAD zero-fill (p_memsz - p_filesz) totals ${hex(zeroFill)} bytes up to here, more than mig's ${MAX_ZERO_FILL_BYTES / 2 ** 40} TiB limit`,
        at('p_memsz'), `program header ${i} p_memsz`);
    }
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
    // Whole pages of each PT_LOAD's file data (a partial last page, never written by QEMU, stays structure).
    pageSlots: () => linearSlots(parts.loads.filter((l) => l.fileLength >= PAGE_SIZE)
      .map((l) => ({ fileOffset: l.fileOffset, pages: Math.floor(l.fileLength / PAGE_SIZE), pfn0: l.gpa / PAGE_SIZE }))),
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
