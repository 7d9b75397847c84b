/**
 * The paging mode and the kernel's page-table root (the System DTB) of a 32-bit Windows image.
 *
 * Candidates, in order:
 *   1. the container's vCPU state (CR0/CR4 → mode, CR3 → root: `rootSource` 'container-cpu');
 *   2. what the physical scan found (scan.ts; `rootSource` 'scan'): the System and Idle _EPROCESS'
 *      DirectoryTableBase, each tried as a PAE PDPT and as a non-PAE page directory (LibVMI
 *      os/windows/core.c `find_page_mode` tries the modes and keeps the one that maps the kernel);
 *      then self-mapping page directories (non-PAE PDE 0x300; PAE PD #3 → its PDPT, first in the page
 *      before PD #0 as the boot loader lays them out — MemProcFS `VmmWinInit_DTB_FindValidate_X86PAE`,
 *      volatility3 `DtbSelfRefPae` — else anywhere in memory).
 * A candidate is kept only when it maps KDBG's virtual address to the physical address the scan
 * found it at, and 0xFFDF0000 to a _KUSER_SHARED_DATA page. KDBG's own VA comes from its list
 * (Header.List → KdpDebuggerDataListHead → back to KDBG), else from the kernel image being
 * physically contiguous (KernBase's frame + KDBG's distance from it).
 */
import { PAGE_SIZE, PhysicalMemory } from '../../mem/physical-memory.js';
import { IntrospectionError, IntrospectionErrorCode } from '../../util/errors.js';
import type { CpuRegisters, RootSource } from '../os.js';
import { entryAddressMasks, entryPfn, pagingModeFromControlRegisters, PagingMode, rootFromCr3, X86_NONPAE, X86_PAE } from '../x86/paging.js';

const PAE_MASKS = entryAddressMasks(X86_PAE);
/** Physical address a PAE entry points to. */
const paeTarget = (lo: number, hi: number) => entryPfn(lo, hi, PAE_MASKS) * PAGE_SIZE;
import { describeKdbg, Kdbg } from './kdbg.js';
import { KUSER, KUSER_SHARED_DATA_VA } from './offsets.js';
import type { WindowsScan } from './scan.js';
import { hex, KernelSpace } from './vmem.js';

export interface KernelRoot {
  space: KernelSpace;
  kdbg: Kdbg;
  /** Virtual address of the KDBG block, and how it was found. */
  kdbgVa: number;
  kdbgVaFrom: 'list' | 'kernel-image';
  rootSource: RootSource;
  /** What _KUSER_SHARED_DATA says. */
  kuser: { pa: number; major: number; minor: number; machine: number; productType: number };
  /** Candidates that were tried and failed, one line each (reported when nothing works, warned otherwise). */
  rejected: string[];
}

interface Candidate {
  mode: PagingMode;
  rootPa: number;
  source: RootSource;
  what: string;
}

/** Candidates from the container's vCPUs (each distinct CR3 once). */
export function cpuCandidates(cpus: readonly CpuRegisters[] | undefined): { candidates: Candidate[]; notes: string[] } {
  const candidates: Candidate[] = [];
  const notes: string[] = [];
  const seen = new Set<string>();
  for (const c of cpus ?? []) {
    if (c.cr0 === undefined || c.cr3 === undefined || c.cr4 === undefined) continue;
    const mode = pagingModeFromControlRegisters({ cr0: c.cr0, cr4: c.cr4, efer: c.efer });
    if (!mode) {
      notes.push(`vCPU ${c.index}: paging off (CR0 ${hex(Number(c.cr0 & 0xffffffffn))})`);
      continue;
    }
    if (mode !== X86_NONPAE && mode !== X86_PAE) {
      notes.push(`vCPU ${c.index}: ${mode.name} (a 32-bit kernel runs non-PAE or PAE paging)`);
      continue;
    }
    const rootPa = rootFromCr3(c.cr3, mode);
    const key = `${mode.name}/${rootPa}`;
    if (seen.has(key)) continue;
    seen.add(key);
    candidates.push({ mode, rootPa, source: 'container-cpu', what: `vCPU ${c.index} CR3 ${hex(rootPa)} (${mode.name})` });
  }
  return { candidates, notes };
}

/**
 * Candidates from the scan, lazily (a pass over memory for a PAE PDPT only when everything before
 * it failed): the System/Idle DTB in both modes, then the self-maps.
 */
export function* scanCandidates(mem: PhysicalMemory, scan: WindowsScan): Generator<Candidate> {
  const procs = [...scan.eprocess].sort((a, b) => (a.name === b.name ? 0 : a.name === 'System' ? -1 : 1));
  for (const p of procs) {
    yield { mode: X86_PAE, rootPa: p.dtb, source: 'scan', what: `${p.name} _EPROCESS at physical ${hex(p.pa)}: DirectoryTableBase ${hex(p.dtb)} as a PAE PDPT` };
    if (p.dtb % PAGE_SIZE === 0) yield { mode: X86_NONPAE, rootPa: p.dtb, source: 'scan', what: `${p.name} _EPROCESS at physical ${hex(p.pa)}: DirectoryTableBase ${hex(p.dtb)} as a non-PAE page directory` };
  }
  for (const pa of scan.nonPaeSelfMaps) yield { mode: X86_NONPAE, rootPa: pa, source: 'scan', what: `self-mapping page directory at ${hex(pa)}` };
  if (scan.paeSelfMaps.length > 0) {
    for (const { pd3, pdpt } of paeRoots(mem, scan.paeSelfMaps)) yield { mode: X86_PAE, rootPa: pdpt, source: 'scan', what: `PAE PDPT at ${hex(pdpt)} of the self-mapping PD #3 at ${hex(pd3)}` };
  }
}

/**
 * PDPTs of self-mapping PAE PD #3 pages: the four PDs are PD #3's entries 0–3; the PDPT holds
 * exactly those four (P set, reserved bits clear). First the page before PD #0 (the boot layout),
 * then a pass over memory for the rest (32-byte aligned).
 */
export function paeRoots(mem: PhysicalMemory, pd3s: readonly number[]): { pd3: number; pdpt: number }[] {
  const out: { pd3: number; pdpt: number }[] = [];
  const pending = new Map<number, { pd3: number; pds: number[] }>();
  for (const pd3 of pd3s) {
    let b: Buffer;
    try {
      b = mem.read(pd3, 32);
    } catch {
      continue;
    }
    const pds = [0, 1, 2, 3].map((i) => paeTarget(b.readUInt32LE(i * 8), b.readUInt32LE(i * 8 + 4)));
    const contiguous = pds[0] - PAGE_SIZE;
    if (contiguous >= 0 && isPdpt(mem, contiguous, pds)) out.push({ pd3, pdpt: contiguous });
    else pending.set(pds[0], { pd3, pds });
  }
  if (pending.size === 0) return out;
  mem.forEachPageBatch((firstPfn, count, bytes) => {
    for (let off = 0; off < count * PAGE_SIZE; off += 32) {
      const lo = bytes.readUInt32LE(off);
      if ((lo & 1) === 0) continue;
      const p = pending.get(paeTarget(lo, bytes.readUInt32LE(off + 4)));
      if (p && pdptMatches(bytes, off, p.pds)) out.push({ pd3: p.pd3, pdpt: firstPfn * PAGE_SIZE + off });
    }
  });
  return out;
}

function isPdpt(mem: PhysicalMemory, pa: number, pds: number[]): boolean {
  try {
    return pdptMatches(mem.read(pa, 32), 0, pds);
  } catch {
    return false;
  }
}

/** Four PDPTEs naming pds[0..3], P set, reserved bits 1–2 and 5–8 clear (SDM §4.4.1). */
function pdptMatches(b: Buffer, off: number, pds: number[]): boolean {
  for (let i = 0; i < 4; i++) {
    const lo = b.readUInt32LE(off + i * 8);
    const hi = b.readUInt32LE(off + i * 8 + 4);
    if ((lo & 1) === 0 || (lo & 0x1e6) !== 0 || (hi & 0xfff00000) !== 0) return false;
    if (paeTarget(lo, hi) !== pds[i]) return false;
  }
  return true;
}

/** KDBG's virtual address in this address space, or undefined. */
export function kdbgVirtualAddress(space: KernelSpace, k: Kdbg): { va: number; from: KernelRoot['kdbgVaFrom'] } | undefined {
  // Header.List: KDBG ↔ KdpDebuggerDataListHead; the head's Flink (and its Blink) name KDBG.
  for (const va of [space.tryU32(k.listFlink), space.tryU32((k.listBlink + 4) >>> 0)]) {
    if (va !== undefined && va >= 0x80000000 && space.vtop(va) === k.pa) return { va, from: 'list' };
  }
  // KDBG is in ntoskrnl's .data; the boot loader loads the image into contiguous frames.
  const kernPa = space.vtop(k.kernBase);
  if (kernPa >= 0 && k.pa >= kernPa && k.pa - kernPa < 64 * 2 ** 20) {
    const va = k.kernBase + (k.pa - kernPa);
    if (va < 2 ** 32 && space.vtop(va) === k.pa) return { va, from: 'kernel-image' };
  }
  return undefined;
}

/** _KUSER_SHARED_DATA through the page tables, or why not. */
export function readKuser(space: KernelSpace): KernelRoot['kuser'] | string {
  const pa = space.vtop(KUSER_SHARED_DATA_VA);
  if (pa < 0) return `0xffdf0000 (_KUSER_SHARED_DATA) is not mapped`;
  const b = space.tryRead(KUSER_SHARED_DATA_VA, KUSER.numberOfPhysicalPages + 4);
  if (!b) return `0xffdf0000 (_KUSER_SHARED_DATA) is not readable`;
  const machine = b.readUInt16LE(KUSER.imageNumberLow);
  const major = b.readUInt32LE(KUSER.ntMajorVersion);
  const minor = b.readUInt32LE(KUSER.ntMinorVersion);
  if (machine !== 0x14c || b.readUInt16LE(KUSER.imageNumberHigh) !== 0x14c) return `0xffdf0000 → ${hex(pa)} is not an i386 _KUSER_SHARED_DATA (ImageNumberLow ${hex(machine)})`;
  if (major < 5 || major > 10) return `0xffdf0000 → ${hex(pa)}: NtMajorVersion ${major} is not a Windows version`;
  return { pa, major, minor, machine, productType: b.readUInt32LE(KUSER.ntProductType) };
}

/** Try one root: KDBG maps, _KUSER_SHARED_DATA maps. Returns the root or why not. */
export function checkRoot(mem: PhysicalMemory, c: Candidate, kdbgs: readonly Kdbg[]): KernelRoot | string {
  if (!mem.isPresent(Math.floor(c.rootPa / PAGE_SIZE))) return `${c.what}: the root is not in the image`;
  const space = new KernelSpace(mem, c.mode, c.rootPa);
  const why: string[] = [];
  for (const k of kdbgs) {
    const at = kdbgVirtualAddress(space, k);
    if (!at) {
      why.push(`does not map ${describeKdbg(k)} (neither through its list nor from KernBase ${hex(k.kernBase)})`);
      continue;
    }
    const kuser = readKuser(space);
    if (typeof kuser === 'string') {
      why.push(kuser);
      continue;
    }
    return { space, kdbg: k, kdbgVa: at.va, kdbgVaFrom: at.from, rootSource: c.source, kuser, rejected: [] };
  }
  return `${c.what}: ${why.join('; ') || 'no x86 KDBG to check it against'}`;
}

/** The first candidate that checks out; IntrospectionError listing every rejected one when none does. */
export function findKernelRoot(mem: PhysicalMemory, cpus: readonly CpuRegisters[] | undefined, scan: WindowsScan, kdbgs: readonly Kdbg[]): KernelRoot {
  const { candidates, notes } = cpuCandidates(cpus);
  const rejected: string[] = [...notes];
  const tryAll = (list: Iterable<Candidate>): KernelRoot | undefined => {
    for (const c of list) {
      const r = checkRoot(mem, c, kdbgs);
      if (typeof r !== 'string') return r;
      rejected.push(r);
    }
    return undefined;
  };
  const found = tryAll(candidates) ?? tryAll(scanCandidates(mem, scan));
  if (found) {
    found.rejected = rejected;
    return found;
  }
  throw new IntrospectionError(IntrospectionErrorCode.MISSING,
    `Windows x86: no page-table root maps the kernel (${rejected.length} candidate(s): ${rejected.slice(0, 8).join('; ') || 'none — no vCPU state, no Idle/System _EPROCESS and no self-mapping page directory in memory'})`,
    { candidates: rejected.length });
}
