/**
 * One pass over guest-physical memory for what a 32-bit Windows kernel always leaves there, found
 * without page tables (guest-introspection.md B5):
 *   - KDBG blocks (kdbg.ts needles),
 *   - _KUSER_SHARED_DATA pages (ImageNumberLow = ImageNumberHigh = 0x14c i386 or 0x8664 AMD64,
 *     NtMajorVersion 5–10, NtMinorVersion 0–3; whether NtSystemRoot reads "X:\" is recorded), the
 *     probe's confirmation that the memory is Windows,
 *   - the Idle and System _EPROCESS (V2 overlays/basic.py VolatilityDTB with each known layout's
 *     DTBSignature, `03 00 <sizeof(_KPROCESS)/4> 00`: _DISPATCHER_HEADER Type 3, Size 0x26 dwords on
 *     Windows 7 (win7.py), 0x20 on Vista (vista.py); ImageFileName "Idle", UniqueProcessId 0, Peb 0 —
 *     and "System", PID 4, at that layout's offsets), whose DirectoryTableBase is the kernel's,
 *   - page directories that map themselves (the self-map): non-PAE PDE 0x300 (MemProcFS
 *     vmmwininit.c `VmmWinInit_DTB_FindValidate_X86`: `dword[0xC00] & 0xfffff003 == pa | 3`), PAE
 *     PD #3 entry 3 (volatility3 automagic/windows.py `DtbSelfRefPae`, valid_range [3]).
 * Every list is capped: a hostile image full of lookalikes costs a bounded amount of work.
 */
import { PAGE_SIZE, PhysicalMemory } from '../../mem/physical-memory.js';
import { AddressFault } from '../../util/errors.js';
import { entryAddressMasks, entryPfn, X86_PAE } from '../x86/paging.js';
import { Kdbg, KDBG_READ_BYTES, needleBits, parseKdbg } from './kdbg.js';
import { KUSER, LAYOUTS, WindowsLayout } from './offsets.js';

export interface EprocessHit {
  /** Guest-physical address of the _EPROCESS. */
  pa: number;
  name: 'Idle' | 'System';
  pid: number;
  dtb: number;
}

export interface WindowsScan {
  kdbg: Kdbg[];
  /** Pages that look like _KUSER_SHARED_DATA, with the machine they name. */
  kuser: { pfn: number; machine: number; major: number; minor: number; systemRoot: boolean }[];
  eprocess: EprocessHit[];
  /** Non-PAE page directories whose entry 0x300 points at themselves. */
  nonPaeSelfMaps: number[];
  /** PAE page directories whose entry 3 points at themselves (PD #3 of a 4-PD set). */
  paeSelfMaps: number[];
}

/** Caps on each list (hits past them are not collected). */
export const SCAN_LIMITS = { kdbg: 64, kuser: 16, eprocess: 32, selfMaps: 256 } as const;

const PAE_MASKS = entryAddressMasks(X86_PAE);
const TAG = Buffer.from('KDBG', 'latin1');
/** One DTB signature per _KPROCESS size among the known layouts, with the _EPROCESS offsets to check a hit with. */
const SIGNATURES: { sig: Buffer; E: WindowsLayout['eprocess'] }[] = [];
for (const l of LAYOUTS) {
  if (SIGNATURES.some((s) => s.sig[2] === l.kprocessHeaderSize)) continue;
  SIGNATURES.push({ sig: Buffer.from([3, 0, l.kprocessHeaderSize, 0]), E: l.eprocess });
}
const MACHINE_I386 = 0x14c;
const MACHINE_AMD64 = 0x8664;

/** Scan every present page once. */
export function scanWindows(mem: PhysicalMemory): WindowsScan {
  const out: WindowsScan = { kdbg: [], kuser: [], eprocess: [], nonPaeSelfMaps: [], paeSelfMaps: [] };
  const seenKdbg = new Set<number>();
  mem.forEachPageBatch((firstPfn, count, bytes) => {
    const base = firstPfn * PAGE_SIZE;
    const len = count * PAGE_SIZE;
    // KDBG tags (4-byte aligned; the block starts 0x10 before).
    for (let at = bytes.indexOf(TAG, 0); at >= 0 && at < len; at = bytes.indexOf(TAG, at + 1)) {
      if (at % 4 !== 0 || out.kdbg.length >= SCAN_LIMITS.kdbg) continue;
      const pa = base + at - 0x10;
      if (pa < 0 || seenKdbg.has(pa)) continue;
      const k = kdbgAt(mem, bytes, at - 0x10, len, pa);
      if (k) {
        seenKdbg.add(pa);
        out.kdbg.push(k);
      }
    }
    // Idle / System _EPROCESS, per known _KPROCESS size.
    for (const { sig, E } of SIGNATURES) {
      for (let at = bytes.indexOf(sig, 0); at >= 0 && at < len; at = bytes.indexOf(sig, at + 1)) {
        if (at % 8 !== 0 || out.eprocess.length >= SCAN_LIMITS.eprocess) continue;
        const hit = eprocessAt(mem, bytes, at, len, base + at, E);
        if (hit) out.eprocess.push(hit);
      }
    }
    // Per page: a few u32 reads through one view of the batch (house style 9).
    const w = bytes.byteOffset % 4 === 0 ? new Uint32Array(bytes.buffer, bytes.byteOffset, len >>> 2) : Uint32Array.from({ length: len >>> 2 }, (_, i) => bytes.readUInt32LE(i * 4));
    for (let i = 0; i < count; i++) {
      const o = i * (PAGE_SIZE >>> 2);
      const pfn = firstPfn + i;
      const pa = pfn * PAGE_SIZE;
      // _KUSER_SHARED_DATA: machine in both ImageNumber halves (one u32 at +0x2c), a version.
      const mm = w[o + (KUSER.imageNumberLow >>> 2)];
      if ((mm === MACHINE_I386 * 0x10001 || mm === MACHINE_AMD64 * 0x10001) && out.kuser.length < SCAN_LIMITS.kuser) {
        const major = w[o + (KUSER.ntMajorVersion >>> 2)];
        const minor = w[o + (KUSER.ntMinorVersion >>> 2)];
        if (major >= 5 && major <= 10 && minor <= 3) out.kuser.push({ pfn, machine: mm & 0xffff, major, minor, systemRoot: isSystemRoot(bytes, i * PAGE_SIZE + KUSER.ntSystemRoot) });
      }
      // Self-maps. Non-PAE: PDE 0x300 = this page | P | RW.
      if ((w[o + 0x300] & 0xfffff003) === ((pa | 3) >>> 0) && pa < 2 ** 32 && out.nonPaeSelfMaps.length < SCAN_LIMITS.selfMaps) out.nonPaeSelfMaps.push(pa);
      // PAE PD #3: entry 3 = this page | P, entries 0–2 present (PD #0–#2 through the self-map).
      const lo = w[o + 6];
      if ((lo & 1) === 1 && entryPfn(lo, w[o + 7], PAE_MASKS) === pfn && (w[o] & w[o + 2] & w[o + 4] & 1) === 1 && out.paeSelfMaps.length < SCAN_LIMITS.selfMaps) out.paeSelfMaps.push(pa);
    }
  });
  return out;
}

/** NtSystemRoot (WCHAR[260] at +0x30) begins with a drive letter, ':' and '\'. */
function isSystemRoot(b: Buffer, off: number): boolean {
  const c = b.readUInt16LE(off) | 0x20;
  return c >= 0x61 && c <= 0x7a && b.readUInt16LE(off + 2) === 0x3a && b.readUInt16LE(off + 4) === 0x5c;
}

/** The bytes [off, off+n) of the batch when they are in it, else read from memory (a block across a batch edge). */
function bytesAt(mem: PhysicalMemory, batch: Buffer, off: number, batchLen: number, pa: number, n: number): { b: Buffer; o: number } | undefined {
  if (off >= 0 && off + n <= batchLen) return { b: batch, o: off };
  try {
    return { b: mem.read(pa, n), o: 0 };
  } catch (e) {
    if (e instanceof AddressFault) return undefined;
    throw e;
  }
}

function kdbgAt(mem: PhysicalMemory, batch: Buffer, off: number, batchLen: number, pa: number): Kdbg | undefined {
  const head = bytesAt(mem, batch, off, batchLen, pa, 0x18);
  if (!head || needleBits(head.b, head.o) === 0) return undefined;
  // The whole block when memory holds it, else just what the batch has.
  const full = bytesAt(mem, batch, off, batchLen, pa, KDBG_READ_BYTES) ?? head;
  return parseKdbg(full.b, full.o, pa);
}

function eprocessAt(mem: PhysicalMemory, batch: Buffer, off: number, batchLen: number, pa: number, E: WindowsLayout['eprocess']): EprocessHit | undefined {
  const r = bytesAt(mem, batch, off, batchLen, pa, Math.max(E.imageFileName + 16, E.peb + 4));
  if (!r) return undefined;
  const { b, o } = r;
  const name = b.toString('latin1', o + E.imageFileName, o + E.imageFileName + 8);
  const pid = b.readUInt32LE(o + E.uniqueProcessId);
  const peb = b.readUInt32LE(o + E.peb);
  const dtb = b.readUInt32LE(o + E.directoryTableBase);
  let which: EprocessHit['name'];
  if (name.startsWith('Idle\0') && pid === 0) which = 'Idle';
  else if (name.startsWith('System\0') && pid === 4) which = 'System';
  else return undefined;
  if (peb !== 0 || dtb === 0 || dtb % 32 !== 0) return undefined;
  return { pa, name: which, pid, dtb };
}
