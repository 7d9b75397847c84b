/**
 * KDBG: the kernel debugger data block (_KDDEBUGGER_DATA64, OwnerTag 'KDBG') that every Windows
 * kernel keeps in its .data so that a debugger without symbols finds the process list, the PFN
 * database and the rest (guest-introspection.md B5; volatility kdbgscan, volatility3 kdbg.json,
 * LibVMI os/windows/kdbg.c).
 *
 * Needles (V2 overlays/windows/windows.py AbstractKDBGMod.modification):
 *   - x86: `00×8 'KDBG' <size>` — an x86 kernel links Header.List into its 32-bit list as a native
 *     LIST_ENTRY, so Flink/Blink are the u32s at +0x0/+0x4 (kernel pointers, non-zero) and the rest
 *     of the LIST_ENTRY64, +0x8..+0xF, is zero.
 *   - x64: `00 f8 ff ff 'KDBG' <size>` — Blink's upper half right before the tag (recognised only to
 *     refuse 64-bit Windows by name).
 * Then OwnerTag at +0x10 and Header.Size (a ULONG, 0x340 on Windows 7) at +0x14.
 */
import { KDBG, KDBG_OWNER_TAG } from './offsets.js';

/** What a KDBG block says, with the 64-bit slots cut to the 32 bits x86 uses. */
export interface Kdbg {
  /** Guest-physical address of the block. */
  pa: number;
  /** Header.Size: 0x340 on Windows 7. */
  size: number;
  /** Which needle matched: an x86 kernel's, or an x64 kernel's. */
  bits: 32 | 64;
  listFlink: number;
  listBlink: number;
  kernBase: number;
  psLoadedModuleList: number;
  psActiveProcessHead: number;
  mmPfnDatabase: number;
  mmSubsectionBase: number;
  mmLowestPhysicalPage: number;
  mmHighestPhysicalPage: number;
  mmNumberOfPhysicalPages: number;
  mmNonPagedPoolStart: number;
  mmNonPagedPoolEnd: number;
  mmPagedPoolStart: number;
  mmPagedPoolEnd: number;
  mmSystemRangeStart: number;
  ntBuildLab: number;
  cmNtCSDVersion: number;
  mmPhysicalMemoryBlock: number;
  /** The USHORT Size…/Offset… fields (0 when the block is too short to hold them). */
  sizeEProcess: number;
  offsetEprocessPeb: number;
  offsetEprocessDirectoryTableBase: number;
}

/** Bytes of the block read to get every field above. */
export const KDBG_READ_BYTES = KDBG.offsetEprocessDirectoryTableBase + 2;

/** Header.Size values accepted as a KDBG at all (known sizes run 0x290…0x380; unknown ones are reported, not used). */
const MIN_SIZE = 0x100;
const MAX_SIZE = 0x1000;

/**
 * Which needle `b[off..off+0x18)` matches: 32 (x86), 64 (x64) or 0. The tag and a plausible size are
 * required either way; x86 needs the eight zero bytes at +0x8 and two kernel pointers at +0x0/+0x4.
 */
export function needleBits(b: Buffer, off: number): 32 | 64 | 0 {
  if (off < 0 || off + 0x18 > b.length) return 0;
  if (b.readUInt32LE(off + KDBG.ownerTag) !== KDBG_OWNER_TAG) return 0;
  const size = b.readUInt32LE(off + KDBG.headerSize);
  if (size < MIN_SIZE || size > MAX_SIZE || size % 8 !== 0) return 0;
  const w0 = b.readUInt32LE(off), w1 = b.readUInt32LE(off + 4), w2 = b.readUInt32LE(off + 8), w3 = b.readUInt32LE(off + 12);
  if (w2 === 0 && w3 === 0 && w0 >= 0x80000000 && w1 >= 0x80000000) return 32;
  if (w1 >= 0xffff8000 && w3 >= 0xffff8000) return 64;
  return 0;
}

/** Parse a block found at guest-physical `pa`; b[off..] holds its header and, ideally, KDBG_READ_BYTES. */
export function parseKdbg(b: Buffer, off: number, pa: number): Kdbg | undefined {
  const bits = needleBits(b, off);
  if (bits === 0) return undefined;
  const size = b.readUInt32LE(off + KDBG.headerSize);
  // A field is read only when both the buffer and the block (Header.Size) hold it.
  const has = (field: number, width: number) => off + field + width <= b.length && field + width <= size;
  const u32 = (field: number) => (has(field, 4) ? b.readUInt32LE(off + field) : 0);
  const u16 = (field: number) => (has(field, 2) ? b.readUInt16LE(off + field) : 0);
  return {
    pa,
    size,
    bits,
    listFlink: u32(KDBG.listFlink),
    listBlink: u32(KDBG.listBlink),
    kernBase: u32(KDBG.kernBase),
    psLoadedModuleList: u32(KDBG.psLoadedModuleList),
    psActiveProcessHead: u32(KDBG.psActiveProcessHead),
    mmPfnDatabase: u32(KDBG.mmPfnDatabase),
    mmSubsectionBase: u32(KDBG.mmSubsectionBase),
    mmLowestPhysicalPage: u32(KDBG.mmLowestPhysicalPage),
    mmHighestPhysicalPage: u32(KDBG.mmHighestPhysicalPage),
    mmNumberOfPhysicalPages: u32(KDBG.mmNumberOfPhysicalPages),
    mmNonPagedPoolStart: u32(KDBG.mmNonPagedPoolStart),
    mmNonPagedPoolEnd: u32(KDBG.mmNonPagedPoolEnd),
    mmPagedPoolStart: u32(KDBG.mmPagedPoolStart),
    mmPagedPoolEnd: u32(KDBG.mmPagedPoolEnd),
    mmSystemRangeStart: u32(KDBG.mmSystemRangeStart),
    ntBuildLab: u32(KDBG.ntBuildLab),
    cmNtCSDVersion: u32(KDBG.cmNtCSDVersion),
    mmPhysicalMemoryBlock: u32(KDBG.mmPhysicalMemoryBlock),
    sizeEProcess: u16(KDBG.sizeEProcess),
    offsetEprocessPeb: u16(KDBG.offsetEprocessPeb),
    offsetEprocessDirectoryTableBase: u16(KDBG.offsetEprocessDirectoryTableBase),
  };
}

/** The x86 fields this module dereferences are kernel addresses (≥ 0x80000000). */
export function kdbgPointersPlausible(k: Kdbg): boolean {
  const kp = (v: number) => v >= 0x80000000;
  return k.bits === 32 && kp(k.kernBase) && kp(k.psActiveProcessHead) && kp(k.mmPfnDatabase) && kp(k.mmHighestPhysicalPage);
}

/** "KDBG at 0x… (Header.Size 0x340, x86)" for messages. */
export function describeKdbg(k: Kdbg): string {
  return `KDBG at physical 0x${k.pa.toString(16)} (Header.Size 0x${k.size.toString(16)}, ${k.bits === 32 ? 'x86' : 'x64'})`;
}
