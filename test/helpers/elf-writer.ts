/**
 * Fixture builder: QEMU-like `dump-guest-memory` ELF cores synthesised in code, laid out as QEMU 7.2
 * writes them: Ehdr | Shdr[2] (null, .shstrtab) | Phdr[1+N] (PT_NOTE, PT_LOADs) | notes | memory |
 * "\0.shstrtab\0". Written independently of src/image/elf-dump.ts so it can serve as an oracle;
 * `layout` returns the offsets tests need to corrupt single fields.
 */
export const EM_386 = 3;
export const EM_X86_64 = 62;

export interface LoadSpec {
  gpa: number;
  /** File bytes of the segment (p_filesz = data.length). */
  data: Buffer;
  /** p_memsz; defaults to data.length. */
  memLength?: number;
}

export interface CpuSpec {
  rip: bigint;
  cr3: bigint;
  rsp?: bigint;
  cr0?: bigint;
  cr4?: bigint;
  gsBase?: bigint;
  kernelGsBase?: bigint;
}

export interface ElfSpec {
  bits?: 32 | 64;
  /** Defaults to EM_X86_64 for ELF64, EM_386 for ELF32. */
  machine?: number;
  loads: LoadSpec[];
  cpus?: CpuSpec[];
  vmcoreinfo?: string;
  /** e_ehsize; QEMU 7.2 writes 8 (sizeof a pointer), the default here. */
  ehsize?: number;
  /** QEMUCPUState size: 440 (QEMU ≥ 3.1, with kernel_gs_base) or 432 (older). */
  qemuStateSize?: number;
}

/** Per-class sizes and field offsets (ELF gABI). */
export const L64 = {
  ehdr: 64, phent: 56, shent: 64, e_phoff: 32, e_shoff: 40, e_ehsize: 52, e_phentsize: 54, e_phnum: 56, e_shentsize: 58, e_shnum: 60, e_shstrndx: 62,
  p_offset: 8, p_vaddr: 16, p_paddr: 24, p_filesz: 32, p_memsz: 40, sh_info: 44, sh_offset: 24, sh_size: 32,
};
export const L32: typeof L64 = {
  ehdr: 52, phent: 32, shent: 40, e_phoff: 28, e_shoff: 32, e_ehsize: 40, e_phentsize: 42, e_phnum: 44, e_shentsize: 46, e_shnum: 48, e_shstrndx: 50,
  p_offset: 4, p_vaddr: 8, p_paddr: 12, p_filesz: 16, p_memsz: 20, sh_info: 28, sh_offset: 16, sh_size: 20,
};

export interface ElfLayout {
  L: typeof L64;
  shoff: number;
  phoff: number;
  phnum: number;
  noteOffset: number;
  noteSize: number;
  /** File offset of each load's data. */
  loadOffsets: number[];
  /** File offset of each note's header, in order: PRSTATUS ×n, QEMU ×n, VMCOREINFO. */
  noteOffsets: number[];
  shstrtabOffset: number;
  /** Offset of program header i (0 = PT_NOTE, 1+k = load k). */
  ph(i: number): number;
}

const SHSTRTAB = Buffer.from('\0.shstrtab\0', 'latin1');

function note(name: string, type: number, desc: Buffer): Buffer {
  const nameBytes = Buffer.from(name + '\0', 'latin1');
  const pad = (n: number) => (n + 3) & ~3;
  const b = Buffer.alloc(12 + pad(nameBytes.length) + pad(desc.length));
  b.writeUInt32LE(nameBytes.length, 0);
  b.writeUInt32LE(desc.length, 4);
  b.writeUInt32LE(type, 8);
  nameBytes.copy(b, 12);
  desc.copy(b, 12 + pad(nameBytes.length));
  return b;
}

/** NT_PRSTATUS desc as target/i386/arch_dump.c fills it. */
function prstatus(machine: number, id: number, c: CpuSpec): Buffer {
  if (machine === EM_X86_64) {
    const d = Buffer.alloc(336);
    d.writeUInt32LE(id, 32);
    const reg = (i: number, v: bigint) => d.writeBigUInt64LE(v, 112 + i * 8);
    reg(16, c.rip);
    reg(17, 0x10n); // cs
    reg(19, c.rsp ?? 0n);
    reg(22, c.gsBase ?? 0n);
    return d;
  }
  const d = Buffer.alloc(144);
  d.writeUInt32LE(id, 24);
  d.writeUInt32LE(Number(c.rip & 0xffffffffn), 72 + 48);
  d.writeUInt32LE(Number((c.rsp ?? 0n) & 0xffffffffn), 72 + 60);
  return d;
}

/** QEMUCPUState v1. */
function qemuState(c: CpuSpec, size: number): Buffer {
  const d = Buffer.alloc(size);
  d.writeUInt32LE(1, 0);
  d.writeUInt32LE(size, 4);
  d.writeBigUInt64LE(c.rsp ?? 0n, 56);
  d.writeBigUInt64LE(c.rip, 136);
  d.writeBigUInt64LE(c.gsBase ?? 0n, 248 + 16);
  d.writeBigUInt64LE(c.cr0 ?? 0x80050033n, 392);
  d.writeBigUInt64LE(c.cr3, 416);
  d.writeBigUInt64LE(c.cr4 ?? 0x3606f0n, 424);
  if (size >= 440) d.writeBigUInt64LE(c.kernelGsBase ?? 0n, 432);
  return d;
}

export function buildElfCore(spec: ElfSpec): { bytes: Buffer; layout: ElfLayout } {
  const bits = spec.bits ?? 64;
  const L = bits === 64 ? L64 : L32;
  const machine = spec.machine ?? (bits === 64 ? EM_X86_64 : EM_386);
  const cpus = spec.cpus ?? [];
  const notes: Buffer[] = [
    ...cpus.map((c, i) => note('CORE', 1, prstatus(machine, i + 1, c))),
    ...cpus.map((c) => note('QEMU', 0, qemuState(c, spec.qemuStateSize ?? 440))),
  ];
  if (spec.vmcoreinfo !== undefined) notes.push(note('VMCOREINFO', 0, Buffer.from(spec.vmcoreinfo, 'utf8')));
  const noteBytes = Buffer.concat(notes);
  const phnum = 1 + spec.loads.length;
  const shoff = L.ehdr;
  const phoff = shoff + 2 * L.shent;
  const noteOffset = phoff + phnum * L.phent;
  const memoryOffset = noteOffset + noteBytes.length;
  const loadOffsets: number[] = [];
  let pos = memoryOffset;
  for (const l of spec.loads) {
    loadOffsets.push(pos);
    pos += l.data.length;
  }
  const shstrtabOffset = pos;
  const out = Buffer.alloc(shstrtabOffset + SHSTRTAB.length);
  const w = (off: number, v: number) => (bits === 64 ? out.writeBigUInt64LE(BigInt(v), off) : out.writeUInt32LE(v, off));
  // ELF header
  out.set([0x7f, 0x45, 0x4c, 0x46, bits === 64 ? 2 : 1, 1, 1], 0);
  out.writeUInt16LE(4, 16); // ET_CORE
  out.writeUInt16LE(machine, 18);
  out.writeUInt32LE(1, 20); // EV_CURRENT
  w(L.e_phoff, phoff);
  w(L.e_shoff, shoff);
  out.writeUInt16LE(spec.ehsize ?? 8, L.e_ehsize);
  out.writeUInt16LE(L.phent, L.e_phentsize);
  out.writeUInt16LE(Math.min(phnum, 0xffff), L.e_phnum); // PN_XNUM when it does not fit
  out.writeUInt16LE(L.shent, L.e_shentsize);
  out.writeUInt16LE(2, L.e_shnum);
  out.writeUInt16LE(1, L.e_shstrndx);
  // Section headers: [0] null with sh_info = phnum (QEMU 7.2 always sets it), [1] .shstrtab.
  out.writeUInt32LE(phnum, shoff + L.sh_info);
  const sh1 = shoff + L.shent;
  out.writeUInt32LE(1, sh1); // sh_name
  out.writeUInt32LE(3, sh1 + 4); // SHT_STRTAB
  w(sh1 + L.sh_offset, shstrtabOffset);
  w(sh1 + L.sh_size, SHSTRTAB.length);
  // Program headers: PT_NOTE, then one PT_LOAD per load (p_vaddr = p_paddr, flags/align 0).
  const ph = (i: number) => phoff + i * L.phent;
  out.writeUInt32LE(4, ph(0));
  w(ph(0) + L.p_offset, noteOffset);
  w(ph(0) + L.p_filesz, noteBytes.length);
  w(ph(0) + L.p_memsz, noteBytes.length);
  spec.loads.forEach((l, k) => {
    const p = ph(1 + k);
    out.writeUInt32LE(1, p);
    w(p + L.p_offset, loadOffsets[k]);
    w(p + L.p_vaddr, l.gpa);
    w(p + L.p_paddr, l.gpa);
    w(p + L.p_filesz, l.data.length);
    w(p + L.p_memsz, l.memLength ?? l.data.length);
    l.data.copy(out, loadOffsets[k]);
  });
  noteBytes.copy(out, noteOffset);
  SHSTRTAB.copy(out, shstrtabOffset);
  const noteOffsets: number[] = [];
  notes.reduce((at, n) => (noteOffsets.push(at), at + n.length), noteOffset);
  return { bytes: out, layout: { L, shoff, phoff, phnum, noteOffset, noteSize: noteBytes.length, loadOffsets, noteOffsets, shstrtabOffset, ph } };
}

/** A page of `fill` bytes with its GPA stamped in the first 8 bytes (so misplaced pages show). */
export function stampedPage(gpa: number, fill: number): Buffer {
  const b = Buffer.alloc(4096, fill);
  b.writeBigUInt64LE(BigInt(gpa), 0);
  return b;
}

/** `n` pages starting at gpa, each stamped. */
export function pages(gpa: number, n: number, fill = 0x5a): Buffer {
  return Buffer.concat(Array.from({ length: n }, (_, i) => stampedPage(gpa + i * 4096, (fill + i) & 0xff)));
}

/** Many one-page PT_LOADs with only `bytesEach` file bytes each (the rest zero-filled): PN_XNUM fixtures. */
export function tinyLoads(count: number, bytesEach = 8): LoadSpec[] {
  if (bytesEach < 4) throw new Error('tinyLoads: bytesEach must be at least 4');
  return Array.from({ length: count }, (_, i) => {
    const data = Buffer.alloc(bytesEach, (i * 7) & 0xff);
    data.writeUInt32LE(i, 0);
    return { gpa: i * 2 * 4096, data, memLength: 4096 };
  });
}
