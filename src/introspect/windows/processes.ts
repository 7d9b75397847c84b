/**
 * Processes and their address spaces (guest-introspection.md B7): the process list
 * (PsActiveProcessHead → _EPROCESS.ActiveProcessLinks), each process's VAD tree (_EPROCESS.VadRoot:
 * on Vista/7 an AVL tree of _MMVAD_SHORT/_MMVAD hanging off BalancedRoot.RightChild — MemProcFS
 * mm_vad.c; on XP VadRoot points at the root node itself; offsets.ts VadShape says which),
 * and for each mapped view its section: Subsection → _CONTROL_AREA (Flags.Image / Flags.File,
 * FilePointer → _FILE_OBJECT.FileName) and the prototype-PTE ranges of the section (the view's
 * FirstPrototypePte…LastContiguousPte, each subsection's SubsectionBase + PtesInSubsection, the
 * segment's PrototypePte + TotalNumberOfPtes), which is how a PFN whose PteAddress is a prototype
 * PTE is traced back to an image, a data file or pagefile-backed shared memory (pfn.ts).
 *
 * Every walk is bounded: a list or tree that revisits a node, points outside mapped memory or runs
 * past its bound throws an IntrospectionError naming the structure and its address.
 */
import { IntrospectionError, IntrospectionErrorCode } from '../../util/errors.js';
import { Kdbg } from './kdbg.js';
import { BITS, IO_TYPE_FILE, WindowsLayout } from './offsets.js';
import { hex, KernelSpace, unmapped } from './vmem.js';

export type SectionKind = 'image' | 'file' | 'pagefile';

export interface Vad {
  startVpn: number;
  /** Inclusive. */
  endVpn: number;
  /** A MEM_IMAGE view (Vista/7 VadType VadImageMap; XP the ImageMap flag: offsets.ts VadShape). */
  image: boolean;
  privateMemory: boolean;
  /** For mapped views: the section's control area (VA), else 0. */
  controlArea: number;
  /** For mapped views: FirstPrototypePte … LastContiguousPte (VAs; 0 when absent). */
  firstProto: number;
  lastProto: number;
}

export interface Section {
  controlArea: number;
  kind: SectionKind;
  file?: string;
  /** [start, end) VAs of prototype PTEs that belong to the section. */
  protoRanges: [number, number][];
}

export interface WindowsProcess {
  eprocess: number;
  pid: number;
  ppid: number;
  name: string;
  /** DirectoryTableBase (physical; a PAE PDPT is 32-byte aligned). */
  dtb: number;
  vads: Vad[];
  /** The VAD tree could not be walked (the message); vads holds what was read before. */
  vadError?: string;
}

/** Bounds on walks (a hostile count or a cycle costs at most this much). */
export const WALK_LIMITS = { processes: 65536, vadsPerProcess: 1 << 18, subsectionsPerSection: 4096, protoPtesPerRange: 1 << 22, fileNameBytes: 2048 } as const;

/** The process list, in list order. Throws IntrospectionError for a broken list. */
export function listProcesses(space: KernelSpace, l: WindowsLayout, k: Kdbg): WindowsProcess[] {
  const E = l.eprocess;
  const head = k.psActiveProcessHead;
  const seen = new Set<number>([head]);
  const out: WindowsProcess[] = [];
  let link = space.u32(head, 'PsActiveProcessHead (the process list head)');
  while (link !== head) {
    if (seen.has(link)) throw walkError(`process list: _EPROCESS.ActiveProcessLinks at ${hex(link)} is reached twice (a cycle that does not return to PsActiveProcessHead ${hex(head)})`, 'ActiveProcessLinks', link);
    if (out.length >= WALK_LIMITS.processes) throw walkError(`process list: more than ${WALK_LIMITS.processes} processes from PsActiveProcessHead ${hex(head)}`, 'ActiveProcessLinks', link);
    seen.add(link);
    const ep = (link - E.activeProcessLinks) >>> 0;
    const b = space.tryRead(ep, E.imageFileName + l.imageFileNameBytes);
    if (!b) throw unmapped(`_EPROCESS (process list entry ${out.length}, ActiveProcessLinks ${hex(link)})`, ep);
    const name = b.toString('latin1', E.imageFileName, E.imageFileName + l.imageFileNameBytes).replace(/\0.*$/s, '');
    out.push({
      eprocess: ep,
      pid: b.readUInt32LE(E.uniqueProcessId),
      ppid: b.readUInt32LE(E.inheritedFromUniqueProcessId),
      name,
      dtb: b.readUInt32LE(E.directoryTableBase),
      vads: [],
    });
    link = b.readUInt32LE(E.activeProcessLinks);
  }
  return out;
}

/** A process's VAD tree, in address order. Throws IntrospectionError for a broken tree. */
export function walkVads(space: KernelSpace, l: WindowsLayout, p: WindowsProcess): Vad[] {
  const V = l.mmvadShort;
  const table = p.eprocess + l.eprocess.vadRoot;
  const what = `VAD tree of ${p.name} (pid ${p.pid}, _EPROCESS ${hex(p.eprocess)})`;
  // Vista/7: VadRoot is an _MM_AVL_TABLE, the root its BalancedRoot.RightChild; XP: VadRoot is the root.
  const rootAt = table + l.vad.rootPointer;
  const root = space.u32(rootAt, `${what}: ${l.mmAvlTable ? 'VadRoot.BalancedRoot.RightChild' : 'VadRoot'}`);
  const out: Vad[] = [];
  const seen = new Set<number>();
  // In-order traversal with an explicit stack: no recursion depth to exhaust on a degenerate tree.
  const stack: number[] = [];
  let node = root;
  while (node !== 0 || stack.length > 0) {
    while (node !== 0) {
      if (seen.has(node)) throw walkError(`${what}: node ${hex(node)} is reached twice (a cycle)`, 'VAD', node);
      if (seen.size >= WALK_LIMITS.vadsPerProcess) throw walkError(`${what}: more than ${WALK_LIMITS.vadsPerProcess} nodes`, 'VAD', node);
      seen.add(node);
      stack.push(node);
      node = space.u32(node + V.leftChild, `${what}: _MMVAD_SHORT.LeftChild of ${hex(node)}`);
    }
    const n = stack.pop()!;
    const b = space.tryRead(n, V.size);
    if (!b) throw unmapped(`${what}: _MMVAD_SHORT`, n);
    const start = b.readUInt32LE(V.startingVpn);
    const end = b.readUInt32LE(V.endingVpn);
    const flags = b.readUInt32LE(V.vadFlags);
    if (end < start || end >= 0x100000) throw walkError(`${what}: VAD ${hex(n)} spans VPN ${hex(start)}–${hex(end)}, not a user range`, 'VAD', n);
    const privateMemory = (flags >>> BITS.privateMemoryBit) & 1;
    let controlArea = 0, firstProto = 0, lastProto = 0;
    if (!privateMemory) {
      // A mapped view is an _MMVAD (or _MMVAD_LONG): Subsection and the view's prototype PTEs follow the short part.
      // Vista/7: Subsection → its ControlArea; XP: the ControlArea itself (VadShape.sectionPointer).
      const M = l.mmvad;
      const m = space.tryRead(n + M.section, M.lastContiguousPte + 4 - M.section);
      if (m) {
        const sec = m.readUInt32LE(0);
        const ca = sec < 0x80000000 ? undefined : l.vad.sectionPointer === 'controlArea' ? sec : space.tryU32(sec + l.subsection.controlArea);
        if (ca !== undefined && ca >= 0x80000000) controlArea = ca;
        firstProto = m.readUInt32LE(M.firstPrototypePte - M.section);
        lastProto = m.readUInt32LE(M.lastContiguousPte - M.section);
      }
    }
    const I = l.vad.image;
    out.push({ startVpn: start, endVpn: end, image: ((flags >>> I.shift) & I.mask) === I.value, privateMemory: privateMemory === 1, controlArea, firstProto, lastProto });
    node = b.readUInt32LE(V.rightChild);
  }
  return out;
}

/**
 * The sections behind every mapped view of these processes, keyed by control area. Unreadable
 * parts are skipped (a section without a readable control area is not recorded).
 */
export function collectSections(space: KernelSpace, l: WindowsLayout, procs: readonly WindowsProcess[]): Map<number, Section> {
  const sections = new Map<number, Section>();
  for (const p of procs) {
    for (const v of p.vads) {
      if (v.controlArea === 0) continue;
      let s = sections.get(v.controlArea);
      if (!s) {
        s = readSection(space, l, v.controlArea, v.image);
        if (!s) continue;
        sections.set(v.controlArea, s);
      } else if (v.image) {
        s.kind = 'image';
      }
      // The view's own prototype PTEs (MemProcFS: LastContiguousPte − FirstPrototypePte + sizeof(MMPTE)).
      if (v.firstProto >= 0x80000000 && v.lastProto >= v.firstProto && (v.lastProto - v.firstProto) / l.mmpteBytes < WALK_LIMITS.protoPtesPerRange) {
        addRange(s, v.firstProto, v.lastProto + l.mmpteBytes);
      }
    }
  }
  return sections;
}

/** One control area: kind, file name, subsection and segment prototype-PTE ranges. */
export function readSection(space: KernelSpace, l: WindowsLayout, ca: number, imageVad: boolean): Section | undefined {
  const C = l.controlArea;
  const b = space.tryRead(ca, C.size);
  if (!b) return undefined;
  const flags = b.readUInt32LE(C.flags);
  const image = imageVad || ((flags >>> BITS.sectionImageBit) & 1) === 1;
  const file = ((flags >>> BITS.sectionFileBit) & 1) === 1;
  const kind: SectionKind = image ? 'image' : file ? 'file' : 'pagefile';
  const s: Section = { controlArea: ca, kind, protoRanges: [] };
  const fo = (b.readUInt32LE(C.filePointer) & l.vad.filePointerMask) >>> 0;
  if ((image || file) && fo >= 0x80000000) s.file = fileName(space, l, fo);
  const pte = l.mmpteBytes;
  // Segment: the section's prototype PTEs (inline for images).
  const seg = b.readUInt32LE(C.segment);
  if (seg >= 0x80000000) {
    const total = space.tryU32(seg + l.segment.totalNumberOfPtes);
    const proto = space.tryU32(seg + l.segment.prototypePte);
    if (total !== undefined && proto !== undefined && proto >= 0x80000000 && total > 0 && total <= WALK_LIMITS.protoPtesPerRange) addRange(s, proto, proto + total * pte);
  }
  // Subsections: for image and data-file sections they follow the control area (_SUBSECTION array
  // right after it), linked by NextSubsection; each names its own prototype PTEs.
  const S = l.subsection;
  const seen = new Set<number>();
  for (let sub = (ca + C.size) >>> 0; sub !== 0 && seen.size < WALK_LIMITS.subsectionsPerSection; ) {
    if (seen.has(sub)) break;
    seen.add(sub);
    const sb = space.tryRead(sub, S.size);
    if (!sb || sb.readUInt32LE(S.controlArea) !== ca) break;
    const base = sb.readUInt32LE(S.subsectionBase);
    const n = sb.readUInt32LE(S.ptesInSubsection);
    if (base >= 0x80000000 && n > 0 && n <= WALK_LIMITS.protoPtesPerRange) addRange(s, base, base + n * pte);
    sub = sb.readUInt32LE(S.nextSubsection);
  }
  return s;
}

function addRange(s: Section, start: number, end: number): void {
  if (end > 2 ** 32) end = 2 ** 32;
  if (end > start) s.protoRanges.push([start, end]);
}

/** _FILE_OBJECT.FileName as a string, or undefined when unreadable. */
export function fileName(space: KernelSpace, l: WindowsLayout, fo: number): string | undefined {
  const t = space.tryRead(fo, l.fileObject.fileName + l.unicodeString.size);
  if (!t || t.readUInt16LE(l.fileObject.type) !== IO_TYPE_FILE) return undefined;
  const us = l.fileObject.fileName;
  const len = t.readUInt16LE(us + l.unicodeString.length);
  const buf = t.readUInt32LE(us + l.unicodeString.buffer);
  if (len === 0 || len % 2 !== 0 || len > WALK_LIMITS.fileNameBytes || buf < 0x80000000) return undefined;
  const s = space.tryRead(buf, len);
  return s ? s.toString('utf16le') : undefined;
}

function walkError(message: string, structure: string, va: number): IntrospectionError {
  return new IntrospectionError(IntrospectionErrorCode.INCONSISTENT, message, { structure, va: va >>> 0 });
}
