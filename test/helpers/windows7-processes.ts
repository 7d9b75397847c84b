/**
 * Processes of a synthetic Windows 7 x86 guest (windows7-image.ts): _EPROCESS objects, VAD trees,
 * sections (control areas, subsections, segments with their prototype PTEs, file objects), the
 * user pages with their PTEs (valid, transition, prototype), the process directories, and the
 * resident/standby/modified state of every section page.
 */
import { PageType } from '../../src/introspect/pagemap.js';
import { fillHeapPage, fillStackPage, Rng, utf16Words } from './windows7-content.js';
import { PfnState, PteCodec, WinSpace } from './windows7-memory.js';
import { ABSENT, MmProtect, PageLocation, poolTag, WinPte } from './windows7-offsets.js';
import type { PeImage } from './windows7-pe.js';
import { UserPteKind, Win7Gen, Win7PageClass, Win7ProcessLayout, Win7ProcessSpec, Win7SectionLayout, Win7VadLayout } from './windows7-gen.js';
import { CACHED_ONLY, CACHED_STANDBY_SHARE, KernelParts } from './windows7-kernel.js';

export interface ProcessPlan {
  processes: Win7ProcessLayout[];
  sections: Win7SectionLayout[];
  /** A sample of file pages (stale contents of free pages). */
  filePages: Uint8Array[];
}

const S32 = '\\Windows\\System32\\';
const BASE = ['ntdll.dll', 'kernel32.dll', 'KernelBase.dll'];
const SVC = [...BASE, 'advapi32.dll', 'msvcrt.dll', 'sechost.dll', 'rpcrt4.dll'];
const GUI = [...SVC, 'user32.dll', 'gdi32.dll'];

export const DEFAULT_PROCESSES: readonly Win7ProcessSpec[] = [
  { name: 'smss.exe', pid: 260, ppid: 4, dlls: ['ntdll.dll'], heapPages: 6 },
  { name: 'csrss.exe', pid: 340, ppid: 324, dlls: ['ntdll.dll', 'csrsrv.dll', 'basesrv.dll', 'winsrv.dll', 'KernelBase.dll', 'kernel32.dll', 'user32.dll', 'gdi32.dll'], gui: true, heapPages: 40 },
  { name: 'wininit.exe', pid: 400, ppid: 324, dlls: GUI, heapPages: 16 },
  { name: 'services.exe', pid: 476, ppid: 400, dlls: SVC, heapPages: 32 },
  { name: 'lsass.exe', pid: 488, ppid: 400, dlls: [...SVC, 'lsasrv.dll'], heapPages: 48 },
  { name: 'svchost.exe', pid: 620, ppid: 476, dlls: [...SVC, 'ole32.dll'], heapPages: 24 },
  { name: 'svchost.exe', pid: 688, ppid: 476, dlls: [...SVC, 'ole32.dll'], heapPages: 32 },
  { name: 'explorer.exe', pid: 1496, ppid: 1468, image: '\\Windows\\explorer.exe', dlls: [...GUI, 'ole32.dll', 'shlwapi.dll', 'shell32.dll', 'comctl32.dll'], gui: true, heapPages: 160 },
  { name: 'notepad.exe', pid: 1956, ppid: 1496, dlls: [...GUI, 'comctl32.dll', 'shlwapi.dll'], gui: true, heapPages: 24 },
];

type SectionKind = 'image' | 'data' | 'pagefile';

interface Section {
  idx: number;
  kind: SectionKind;
  path?: string;
  n: number;
  protoVa: number;
  ca: number;
  seg: number;
  fo: number;
  /** Subsections: VA, first prototype index, count, MM protection, VA of their first prototype PTE. */
  subs: { va: number; first: number; count: number; protection: number; base: number }[];
  image?: PeImage;
  bytes?: Buffer;
  pfns: Int32Array;
  /** Valid mappings per page, and trimmed (prototype-PTE) references. */
  valid: Uint16Array;
  trimmed: Uint16Array;
  /** A page's forced state (transition / modified-no-write), set by the extras pass. */
  forced: Uint8Array;
}

interface VadPlan {
  start: number;
  pages: number;
  kind: Win7VadLayout['kind'];
  protection: number;
  tag: Win7VadLayout['tag'];
  section?: Section;
  /** Prototype index of the view's first page. */
  first: number;
  commit: number;
  memCommit: boolean;
  node: number;
}

type PtePlanKind = 'valid' | 'standby' | 'modified' | 'pagefile' | 'proto' | 'vad-proto';

interface PagePlan {
  va: number;
  pte: PtePlanKind;
  /** Private page (its own PFN) or a section page (resolved later). */
  pfn: number;
  section?: Section;
  index?: number;
  protection: number;
  rw: boolean;
  exec: boolean;
  /** Private page class/type (private, image for copy-on-write copies). */
  cls?: Win7PageClass;
  type?: PageType;
}

interface Proc {
  spec: Required<Win7ProcessSpec>;
  eprocess: number;
  dtb: number;
  pdPfns: number[];
  wslPfn: number;
  peb: number;
  vads: VadPlan[];
  pages: PagePlan[];
  layout: Win7ProcessLayout;
}

const PROT_SHIFT = WinPte.protectionShift;
/** Pages per subsection of a mapped data file (each with its own prototype PTE array). */
const DATA_SUBSECTION_PAGES = 256;

export function buildWin7Processes(g: Win7Gen, k: KernelParts, specs?: readonly Win7ProcessSpec[]): ProcessPlan {
  const b = new ProcessBuilder(g, k);
  return b.run(specs ?? DEFAULT_PROCESSES);
}

class ProcessBuilder {
  private readonly r: Rng;
  private readonly sections: Section[] = [];
  private readonly byPath = new Map<string, Section>();
  private readonly procs: Proc[] = [];
  private pdptPage = -1;
  private pdptSlot = 128;
  private systemLayout!: Win7ProcessLayout;
  private fileDevice = 0;
  private gdiShared?: Section;
  /** Vista: the _OBJECT_TYPE block each object header's Type points at. */
  private readonly typeObjects = new Map<string, number>();

  constructor(private readonly g: Win7Gen, private readonly k: KernelParts) {
    this.r = g.rng.fork('processes');
  }

  run(specs: readonly Win7ProcessSpec[]): ProcessPlan {
    const g = this.g;
    this.fileDevice = g.npp.alloc(0xb8, poolTag('Devi', true));
    this.idleAndSystem();
    for (const s of specs) this.planProcess(s);
    this.cachedOnlyFiles();
    this.resolveSections();
    g.npp.finish();
    g.pp.finish();
    // From here on no kernel page tables may appear: process directories copy the kernel PDEs.
    g.kernelFrozen = true;
    for (const p of this.procs) this.buildSpace(p);
    const filePages: Uint8Array[] = [];
    for (const s of this.sections) for (let i = 0; i < s.n && filePages.length < 400; i += 7) filePages.push(this.content(s, i));
    return {
      processes: [this.systemLayout, ...this.procs.map((p) => p.layout)],
      sections: this.sections.map((s) => ({
        kind: s.kind, path: s.path, controlArea: s.ca, segment: s.seg, firstProto: s.protoVa, ptes: s.n, fileObject: s.fo, pfns: s.pfns,
        subsections: s.subs.map((u) => ({ va: u.va, first: u.first, count: u.count, protoBase: u.base })),
      })),
      filePages,
    };
  }

  // ---- kernel objects -----------------------------------------------------------------------

  /** An _EPROCESS with its quota and object headers in nonpaged pool ('Pro\xe3'). */
  private allocEprocess(): number {
    const O = this.g.B.objectHeader;
    const body = this.g.npp.alloc(O.quotaInfoSize + O.bodyOffset + this.g.B.eprocess.size, poolTag('Proc', true));
    const kvm = this.g.kvm;
    kvm.u32(body + 4, 0x1000); // QuotaInfo.NonPagedPoolCharge
    const oh = body + O.quotaInfoSize;
    kvm.u32(oh + O.pointerCount, 0x20 + this.r.int(0x200));
    kvm.u32(oh + O.handleCount, 2 + this.r.int(30));
    this.objectType(oh, 'process');
    // The quota header right below: Windows 7 by InfoMask, Vista by QuotaInfoOffset (its distance).
    if (O.infoMask !== ABSENT) kvm.u8(oh + O.infoMask, this.g.B.infoMaskQuota);
    if (O.quotaInfoOffset !== ABSENT) kvm.u8(oh + O.quotaInfoOffset, O.quotaInfoSize);
    return oh + O.bodyOffset;
  }

  /**
   * The object's type: Windows 7's TypeIndex (V2 win7.py type_map), or Vista's Type pointer to the
   * type's _OBJECT_TYPE (a nonpaged 'ObjT' block per type here; its contents are not written).
   */
  private objectType(oh: number, kind: 'process' | 'file'): void {
    const O = this.g.B.objectHeader;
    if (O.typeIndex !== ABSENT) this.g.kvm.u8(oh + O.typeIndex, this.g.B.objectType[kind]);
    if (O.typePointer !== ABSENT) {
      let t = this.typeObjects.get(kind);
      if (t === undefined) this.typeObjects.set(kind, (t = this.g.npp.alloc(0x90, poolTag('ObjT', true))));
      this.g.kvm.u32(oh + O.typePointer, t);
    }
  }

  private writeEprocess(va: number, o: { name: string; pid: number; ppid: number; dtb: number; peb: number; wslPfn: number; paeTop?: number; sectionBase: number; listed: boolean; threads: number }): void {
    const kvm = this.g.kvm;
    const P = this.g.B.kprocess;
    const E = this.g.B.eprocess;
    kvm.u8(va + P.headerType, this.g.B.processHeaderType);
    kvm.u8(va + P.headerSize, this.g.B.processHeaderSize);
    kvm.emptyList(va + P.waitListHead);
    kvm.emptyList(va + P.profileListHead);
    kvm.u32(va + P.directoryTableBase, o.dtb);
    kvm.emptyList(va + P.threadListHead);
    // Windows 7: a _KAFFINITY_EX (Count, Size, Bitmap); Vista: a ULONG mask.
    const AF = this.g.B.affinity;
    if (AF.count !== ABSENT) kvm.u16(va + P.affinity + AF.count, 1);
    if (AF.size !== ABSENT) kvm.u16(va + P.affinity + AF.size, 1);
    kvm.u32(va + P.affinity + AF.bitmap, 1);
    kvm.u8(va + P.basePriority, 8);
    kvm.u64(va + E.createTime, 0x01cd3b8f00000000n + BigInt(o.pid) * 0x98968n);
    kvm.u32(va + E.uniqueProcessId, o.pid);
    kvm.u32(va + E.workingSetPage, o.wslPfn);
    kvm.u32(va + E.sectionBaseAddress, o.sectionBase);
    kvm.u32(va + E.inheritedFromUniqueProcessId, o.ppid);
    kvm.write(va + E.imageFileName, Buffer.from(o.name.slice(0, 14).padEnd(15, '\0'), 'latin1'));
    kvm.emptyList(va + E.threadListHead);
    if (o.paeTop !== undefined) kvm.u32(va + E.paeTop, o.paeTop);
    kvm.u32(va + E.activeThreads, o.threads);
    kvm.u32(va + E.peb, o.peb);
    kvm.u32(va + E.exitStatus, 0x103); // STATUS_PENDING
    // Empty VAD table: the sentinel's Parent points at itself (MmCreateProcessAddressSpace). XP has no
    // table: VadRoot is the root node's address, 0 while there is none.
    if (this.g.B.avl.tableSize !== ABSENT) kvm.u32(va + E.vadRoot + this.g.B.avl.parent, va + E.vadRoot);
    if (o.listed) {
      kvm.insertTail(this.g.vars.PsActiveProcessHead, va + E.activeProcessLinks);
      if (P.processListEntry !== ABSENT) kvm.insertTail(this.g.vars.KiProcessListHead, va + P.processListEntry);
      if (E.mmProcessLinks !== ABSENT) kvm.insertTail(this.g.vars.MmProcessList, va + E.mmProcessLinks);
      const ht = this.g.pp.alloc(this.g.B.handleTableSize, poolTag('Obtb'));
      kvm.u32(va + E.objectTable, ht);
      const token = this.g.pp.alloc(0x1e0, poolTag('Toke', true));
      kvm.u32(va + E.token, (token | 7) >>> 0);
    }
  }

  private idleAndSystem(): void {
    const g = this.g;
    const L = g.L;
    this.writeEprocess(this.k.idle, { name: 'Idle', pid: 0, ppid: 0, dtb: g.systemDtb, peb: 0, wslPfn: this.k.systemWslPfn, paeTop: L.pae ? g.vars.systemPaeTop : undefined, sectionBase: 0, listed: false, threads: 1 });
    const sys = this.allocEprocess();
    this.writeEprocess(sys, { name: 'System', pid: 4, ppid: 0, dtb: g.systemDtb, peb: 0, wslPfn: this.k.systemWslPfn, paeTop: L.pae ? g.vars.systemPaeTop : undefined, sectionBase: 0, listed: true, threads: 80 });
    g.kernelStack(3, this.k.kernelCode);
    g.vars.systemEprocess = sys;
    this.systemLayout = {
      name: 'System', pid: 4, ppid: 0, eprocess: sys, dtb: g.systemDtb, pdPfns: g.systemPdPfns, peb: 0, workingSetListPfn: this.k.systemWslPfn, vads: [], pages: [],
    };
  }

  /** File object ('Fil\xe5', object header TypeIndex 28) naming `path`, with its section object pointers. */
  private fileObject(path: string): number {
    const g = this.g;
    const O = this.g.B.objectHeader;
    const F = this.g.B.fileObject;
    const body = g.npp.alloc(O.bodyOffset + F.size, poolTag('File', true));
    g.kvm.u32(body + O.pointerCount, 1 + this.r.int(8));
    this.objectType(body, 'file');
    const fo = body + O.bodyOffset;
    g.kvm.u16(fo + F.type, this.g.B.fileObjectType);
    g.kvm.u16(fo + F.size2, F.size);
    g.kvm.u32(fo + F.deviceObject, this.fileDevice);
    const fcb = g.npp.alloc(0x100, poolTag('Ntff'));
    g.kvm.u32(fo + F.fsContext, fcb);
    g.kvm.u32(fo + F.sectionObjectPointer, fcb + 0x60);
    g.kvm.u32(fo + F.flags, 0x00040042);
    const name = g.pp.alloc(2 * path.length + 2, poolTag('IoNm'));
    g.kvm.unicodeString(fo + F.fileName, path, name);
    return fo;
  }

  private section(kind: SectionKind, path?: string): Section {
    const key = `${kind}:${path ?? this.sections.length}`;
    const have = this.byPath.get(key);
    if (have) return have;
    const g = this.g;
    const L = g.L;
    const CA = this.g.B.controlArea;
    const SS = this.g.B.subsection;
    const image = kind === 'image' ? g.images.get(path!) : undefined;
    const bytes = kind === 'data' ? g.files.get(path!) : undefined;
    if (kind === 'image' && !image) throw new Error(`no image ${path}`);
    if (kind === 'data' && !bytes) throw new Error(`no file ${path}`);
    const n = image ? image.sizeOfImage / 4096 : bytes ? Math.ceil(bytes.length / 4096) : 16;
    // Subsections: an image has one for the headers and one per PE section.
    const subSpecs: { first: number; count: number; protection: number }[] = [];
    if (image) {
      subSpecs.push({ first: 0, count: 1, protection: MmProtect.readOnly });
      for (const s of image.sections) {
        const prot = s.characteristics & 0x20 ? MmProtect.executeRead : s.characteristics & 0x80000000 ? MmProtect.writeCopy : MmProtect.readOnly;
        subSpecs.push({ first: s.rva / 4096, count: Math.ceil(s.virtualSize / 4096), protection: prot });
      }
    } else if (kind === 'data') {
      // A mapped data file's prototype PTEs come per subsection (MSUBSECTIONs of at most 256 pages here).
      for (let f = 0; f < n; f += DATA_SUBSECTION_PAGES) subSpecs.push({ first: f, count: Math.min(DATA_SUBSECTION_PAGES, n - f), protection: MmProtect.readOnly });
    } else subSpecs.push({ first: 0, count: n, protection: MmProtect.readWrite });
    const subSize = kind === 'data' ? SS.msubsectionSize : SS.size;
    const caTag = poolTag(kind === 'image' ? 'MmCi' : 'MmCa');
    const ca = g.npp.alloc(CA.size + subSize * subSpecs.length, caTag);
    const fo = path ? this.fileObject(path) : 0;
    // Segment and prototype PTEs (paged pool 'MmSt'); on Vista/7 a data file has a _MAPPED_FILE_SEGMENT
    // and its PTEs apart; XP has no _MAPPED_FILE_SEGMENT: its data files' PTEs are the segment's too.
    let seg: number;
    let protoVa: number;
    const bases: number[] = [];
    if (kind === 'data' && this.g.B.mappedFileSegment.size !== ABSENT) {
      seg = g.pp.alloc(this.g.B.mappedFileSegment.size, poolTag('MmSm'));
      for (const sp of subSpecs) bases.push(g.pp.alloc(sp.count * L.pteSize, poolTag('MmSt')));
      protoVa = bases[0];
      g.kvm.u32(seg + this.g.B.mappedFileSegment.controlArea, ca);
      g.kvm.u32(seg + this.g.B.mappedFileSegment.totalNumberOfPtes, n);
      g.kvm.u64(seg + this.g.B.mappedFileSegment.sizeOfSegment, BigInt(bytes!.length));
    } else {
      // A segment larger than a pool page (an XP data file's, whose PTEs are all in it) is a big-page
      // allocation: whole pages, no pool header in them.
      const segBytes = L.segment.thePtes + n * L.pteSize;
      seg = segBytes + 8 > 4096 ? g.pp.allocPages(Math.ceil(segBytes / 4096)) : g.pp.alloc(segBytes, poolTag('MmSt'));
      protoVa = seg + L.segment.thePtes;
      g.kvm.u32(seg + L.segment.controlArea, ca);
      g.kvm.u32(seg + L.segment.totalNumberOfPtes, n);
      g.kvm.u64(seg + L.segment.sizeOfSegment, BigInt(n * 4096));
      g.kvm.u32(seg + L.segment.prototypePte, protoVa);
      for (const sp of subSpecs) bases.push(protoVa + sp.first * L.pteSize);
    }
    g.kvm.u32(ca + CA.segment, seg);
    g.kvm.u32(ca + CA.numberOfSectionReferences, 1);
    g.kvm.u32(ca + CA.flags, (kind === 'image' ? this.g.B.sectionFlags.image : 0) | (path ? this.g.B.sectionFlags.file : this.g.B.sectionFlags.commit) | this.g.B.sectionFlags.accessed);
    // Vista/7: an _EX_FAST_REF (RefCnt in bits 0–2); XP: a plain _FILE_OBJECT pointer.
    g.kvm.u32(ca + CA.filePointer, fo ? (this.g.B.filePointerFastRef ? (fo | (1 + this.r.int(6))) >>> 0 : fo) : 0);
    if (CA.viewList !== ABSENT) g.kvm.emptyList(ca + CA.viewList);
    if (CA.numberOfSubsections !== ABSENT) g.kvm.u16(ca + CA.numberOfSubsections, subSpecs.length);
    const subs: Section['subs'] = [];
    subSpecs.forEach((s, i) => {
      const va = ca + CA.size + i * subSize;
      subs.push({ va, ...s, base: bases[i] });
      g.kvm.u32(va + SS.controlArea, ca);
      g.kvm.u32(va + SS.subsectionBase, bases[i]);
      g.kvm.u32(va + SS.nextSubsection, i + 1 < subSpecs.length ? va + subSize : 0);
      g.kvm.u32(va + SS.ptesInSubsection, s.count);
      g.kvm.u32(va + SS.flags, s.protection << this.g.B.subsectionProtectionShift);
      g.kvm.u32(va + SS.startingSector, image ? (image.sections[i - 1]?.rawOffset ?? 0) / 512 : s.first * 8);
    });
    if (fo) {
      // SectionObjectPointer (inside the FCB): ImageSectionObject / DataSectionObject → the control area.
      const sop = g.kvm.read32(fo + this.g.B.fileObject.sectionObjectPointer);
      g.kvm.u32(sop + (kind === 'image' ? this.g.B.sectionObjectPointers.imageSectionObject : this.g.B.sectionObjectPointers.dataSectionObject), ca);
    }
    const s: Section = {
      idx: this.sections.length, kind, path, n, protoVa, ca, seg, fo, subs, image, bytes,
      pfns: new Int32Array(n).fill(-1), valid: new Uint16Array(n), trimmed: new Uint16Array(n), forced: new Uint8Array(n),
    };
    this.sections.push(s);
    this.byPath.set(key, s);
    return s;
  }

  /** The 4 KiB of section page i (image layout for images, file bytes for data, heap-like for pagefile). */
  content(s: Section, i: number): Buffer {
    if (s.image) return s.image.image.subarray(i * 4096, i * 4096 + 4096);
    if (s.bytes) {
      const out = Buffer.alloc(4096);
      s.bytes.copy(out, 0, i * 4096, Math.min(s.bytes.length, i * 4096 + 4096));
      return out;
    }
    const out = Buffer.alloc(4096);
    fillHeapPage(this.r.fork(`shared${i}`), out, 0, 0x7f6f0000, s.n * 4096, 0x5a5a1234);
    return out;
  }

  /** VA of section page i's prototype PTE. */
  private protoOf(s: Section, i: number): number {
    const sub = this.subsectionOf(s, i);
    return sub.base + (i - sub.first) * this.g.L.pteSize;
  }

  private subsectionOf(s: Section, i: number): Section['subs'][number] {
    for (const sub of s.subs) if (i >= sub.first && i < sub.first + sub.count) return sub;
    return s.subs[0];
  }

  // ---- processes ----------------------------------------------------------------------------

  private dllPath(base: string): string {
    for (const p of this.g.images.keys()) if (p.toLowerCase().endsWith('\\' + base.toLowerCase())) return p;
    throw new Error(`unknown DLL ${base}`);
  }

  private planProcess(spec0: Win7ProcessSpec): void {
    const g = this.g;
    const L = g.L;
    const r = this.r.fork(`proc ${spec0.name} ${spec0.pid ?? ''}`);
    const spec: Required<Win7ProcessSpec> = {
      name: spec0.name,
      pid: spec0.pid ?? 1000 + 4 * this.procs.length * 17,
      ppid: spec0.ppid ?? 4,
      image: spec0.image ?? S32 + spec0.name,
      dlls: spec0.dlls ?? BASE,
      gui: spec0.gui ?? false,
      heapPages: spec0.heapPages ?? 16,
    };
    const eprocess = this.allocEprocess();
    // Directory pages and, for PAE, a 32-byte PDPT slot in a shared nonpaged page.
    let dtb: number;
    let paeTop: number | undefined;
    const pdPfns: number[] = [];
    if (L.pae) {
      if (this.pdptSlot >= 128) {
        this.pdptPage = g.npp.allocPages(1);
        g.claim(Math.floor(g.kvm.pa(this.pdptPage) / 4096), 'page-table');
        this.pdptSlot = 1;
      }
      paeTop = this.pdptPage + 32 * this.pdptSlot++;
      dtb = g.kvm.pa(paeTop);
      for (let i = 0; i < 4; i++) pdPfns.push(g.phys.any());
    } else {
      pdPfns.push(g.phys.any());
      dtb = pdPfns[0] * 4096;
    }
    const wslPfn = g.phys.any();
    g.claim(wslPfn, 'kernel');
    g.kernelStack(3, this.k.kernelCode);

    // ---- the address space plan ----
    const vads: VadPlan[] = [];
    const pages: PagePlan[] = [];
    let cursor = 0x00030000 + 0x10000 * r.int(4);
    const low = (bytes: number) => {
      const va = cursor;
      cursor += Math.ceil(bytes / 0x10000) * 0x10000 + 0x10000 * r.int(2);
      return va;
    };
    const exe = this.section('image', spec.image);
    const dllSections = spec.dlls.map((d) => this.section('image', this.dllPath(d)));
    const codeRanges: [number, number][] = [exe, ...dllSections].map((s) => {
      const t = s.image!.sections[0];
      return [s.image!.imageBase + t.rva, s.image!.imageBase + t.rva + t.virtualSize];
    });

    const privateVad = (start: number, reservePages: number, commitPages: number, fromTop: boolean, protection: number, fill: (pfn: number, va: number, i: number) => void, o: { memCommit?: boolean; alwaysValid?: number } = {}) => {
      vads.push({ start, pages: reservePages, kind: 'private', protection, tag: 'VadS', first: 0, commit: commitPages, memCommit: o.memCommit ?? false, node: 0 });
      for (let i = 0; i < commitPages; i++) {
        const page = fromTop ? reservePages - 1 - i : i;
        const va = start + page * 4096;
        const x = r.u32() / 4294967296;
        const pte: PtePlanKind = i < (o.alwaysValid ?? 1) || x < 0.72 ? 'valid' : x < 0.8 ? 'standby' : x < 0.86 ? 'modified' : 'pagefile';
        let pfn = -1;
        if (pte !== 'pagefile') {
          pfn = g.phys.any();
          fill(pfn, va, i);
        }
        pages.push({ va, pte, pfn, protection, rw: protection === MmProtect.readWrite, exec: false, cls: 'private', type: 'anon' });
      }
    };

    // Process parameters and environment.
    const params = low(0x10000);
    privateVad(params, 16, 2, false, MmProtect.readWrite, (pfn) => {
      const buf = g.mem.page(pfn);
      let o = 0x290;
      for (let k = 0; k < 30 && o < 4000; k++) {
        const s = utf16Words(r, r.range(2, 6), k % 3 ? '\\' : '=');
        s.copy(buf, o, 0, Math.min(s.length, 4096 - o));
        o += s.length;
      }
    }, { memCommit: true, alwaysValid: 2 });
    // The main thread's stack: 256 KiB reserved, the top committed.
    const stack = low(0x40000);
    const stackPages = 4 + r.int(10);
    privateVad(stack, 64, stackPages, true, MmProtect.readWrite, (pfn, va, i) => fillStackPage(r, g.mem.page(pfn), 0, va, codeRanges, i === 0 ? 0x200 + r.int(0x400) : 0), { alwaysValid: 2 });
    // The process heap.
    const heapReserve = spec.heapPages > 96 ? 256 : 128;
    const heap = low(heapReserve * 4096);
    const heapKey = r.u32();
    privateVad(heap, heapReserve, Math.min(spec.heapPages, heapReserve), false, MmProtect.readWrite, (pfn, _va, i) => {
      const buf = g.mem.page(pfn);
      fillHeapPage(r, buf, 0, heap, heapReserve * 4096, heapKey);
      if (i === 0) {
        // The _HEAP (its first segment) heads the first page.
        buf.fill(0, 0, 0x140);
        const H = this.g.B.heap;
        if (H.segmentSignature !== ABSENT) buf.writeUInt32LE(H.signature, H.segmentSignature);
        if (H.heap !== ABSENT) buf.writeUInt32LE(heap, H.heap);
        if (H.baseAddress !== ABSENT) buf.writeUInt32LE(heap, H.baseAddress);
        if (H.numberOfPages !== ABSENT) buf.writeUInt32LE(heapReserve, H.numberOfPages);
      }
    }, { alwaysValid: 1 });
    // Views of data files: every process has locale.nls; GUI processes sorting tables, code page, a font.
    const dataFiles = [S32 + 'locale.nls', ...(spec.gui ? [S32 + 'C_1252.NLS', '\\Windows\\Globalization\\Sorting\\SortDefault.nls', '\\Windows\\Fonts\\segoeui.ttf'] : [])];
    for (const f of dataFiles) {
      const s = this.section('data', f);
      const va = low(s.n * 4096);
      this.sectionView(vads, pages, r, s, va, 'mapped', MmProtect.readOnly, 'Vad ');
    }
    // A CRT heap and a VirtualAlloc'd block; a reserved-only region.
    const crt = low(0x10000);
    const crtKey = r.u32();
    privateVad(crt, 16, 2 + r.int(5), false, MmProtect.readWrite, (pfn) => fillHeapPage(r, g.mem.page(pfn), 0, crt, 0x10000, crtKey));
    const misc = low(0x10000);
    privateVad(misc, 16, 1 + r.int(4), false, MmProtect.readWrite, (pfn) => r.fill(g.mem.page(pfn), 0, 512 * r.range(1, 8)), { memCommit: true });
    const reserved = low(0x100000);
    vads.push({ start: reserved, pages: 256, kind: 'private', protection: MmProtect.readWrite, tag: 'VadS', first: 0, commit: 0, memCommit: false, node: 0 });
    if (cursor >= 0x00a00000) throw new Error('user low region overflow');
    // Images: the EXE and its DLLs (execute-writecopy views, VadType ImageMap).
    for (const s of [exe, ...dllSections]) this.sectionView(vads, pages, r, s, s.image!.imageBase, 'image', MmProtect.executeWriteCopy, 'Vad ');
    // The GDI shared handle table (pagefile-backed section) in GUI processes.
    if (spec.gui) {
      this.gdiShared ??= this.section('pagefile');
      const own = spec.name === 'csrss.exe';
      this.sectionView(vads, pages, r, this.gdiShared, 0x7f6f0000, 'pagefile', own ? MmProtect.readWrite : MmProtect.readOnly, spec.name === 'explorer.exe' ? 'Vadl' : 'Vad ');
    }
    // PEB, TEB, KUSER_SHARED_DATA.
    const peb = 0x7ffd0000 + 0x1000 * r.range(1, 13);
    const teb = 0x7ffdf000;
    const pebPfn = g.phys.any();
    const tebPfn = g.phys.any();
    vads.push({ start: peb, pages: 1, kind: 'private', protection: MmProtect.readWrite, tag: 'VadS', first: 0, commit: 1, memCommit: true, node: 0 });
    vads.push({ start: teb, pages: 1, kind: 'private', protection: MmProtect.readWrite, tag: 'VadS', first: 0, commit: 1, memCommit: true, node: 0 });
    pages.push({ va: peb, pte: 'valid', pfn: pebPfn, protection: MmProtect.readWrite, rw: true, exec: false, cls: 'private', type: 'anon' });
    pages.push({ va: teb, pte: 'valid', pfn: tebPfn, protection: MmProtect.readWrite, rw: true, exec: false, cls: 'private', type: 'anon' });
    this.writePeb(pebPfn, exe.image!.imageBase, heap, params, r);
    this.writeTeb(tebPfn, teb, peb, stack + 64 * 4096, stack + (64 - stackPages) * 4096, spec.pid, r);
    vads.push({ start: this.g.B.kuser.userVa, pages: 1, kind: 'private', protection: MmProtect.readOnly, tag: 'VadS', first: 0, commit: 1, memCommit: true, node: 0 });
    pages.push({ va: this.g.B.kuser.userVa, pte: 'valid', pfn: this.k.kuserPfn, protection: MmProtect.readOnly, rw: false, exec: false });

    vads.sort((a, b) => a.start - b.start);
    for (let i = 1; i < vads.length; i++) if (vads[i].start < vads[i - 1].start + vads[i - 1].pages * 4096) throw new Error(`${spec.name}: overlapping VADs`);
    // VAD nodes.
    for (const v of vads) {
      const size = v.tag === 'VadS' ? this.g.B.vad.shortSize : v.tag === 'Vadl' ? this.g.B.vad.longSize : this.g.B.vad.size;
      v.node = g.npp.alloc(size, poolTag(v.tag));
    }
    this.writeVads(eprocess, vads);
    this.writeEprocess(eprocess, { name: spec.name, pid: spec.pid, ppid: spec.ppid, dtb, peb, wslPfn, paeTop, sectionBase: exe.image!.imageBase, listed: true, threads: 1 });
    g.kvm.u32(eprocess + this.g.B.eprocess.virtualSize, vads.reduce((a, v) => a + v.pages * 4096, 0));
    const layout: Win7ProcessLayout = {
      name: spec.name, pid: spec.pid, ppid: spec.ppid, eprocess, dtb, pdPfns, peb, workingSetListPfn: wslPfn,
      vads: vads.map((v) => ({ start: v.start, end: v.start + v.pages * 4096 - 1, node: v.node, tag: v.tag, kind: v.kind, protection: v.protection, path: v.section?.path, section: v.section?.idx })),
      pages: [],
    };
    this.procs.push({ spec, eprocess, dtb, pdPfns, wslPfn, peb, vads, pages, layout });
  }

  /** Plan a view of a section: which pages this process touched, kept, trimmed or copied on write. */
  private sectionView(vads: VadPlan[], pages: PagePlan[], r: Rng, s: Section, start: number, kind: 'image' | 'mapped' | 'pagefile', protection: number, tag: VadPlan['tag']): void {
    vads.push({ start, pages: s.n, kind, protection, tag, section: s, first: 0, commit: 0, memCommit: false, node: 0 });
    const v = vads[vads.length - 1];
    for (let i = 0; i < s.n; i++) {
      const sub = this.subsectionOf(s, i);
      let p: number;
      if (s.kind === 'image') p = i === 0 ? 0.9 : sub.protection === MmProtect.executeRead ? 0.5 : sub.protection === MmProtect.writeCopy ? 0.7 : 0.35;
      else if (s.kind === 'pagefile') p = protection === MmProtect.readWrite ? 0.9 : 0.5;
      else p = 0.35;
      const va = start + i * 4096;
      const exec = sub.protection === MmProtect.executeRead;
      if (r.chance(p)) {
        if (s.kind === 'image' && sub.protection === MmProtect.writeCopy && r.chance(0.3)) {
          // Written: a private copy (copy-on-write), typed image (mapped in a MEM_IMAGE view).
          const pfn = this.g.phys.any();
          const c = this.g.mem.page(pfn);
          this.content(s, i).copy(c);
          for (let k = 0; k < 24; k++) c.writeUInt32LE(r.u32(), r.int(1024) * 4);
          pages.push({ va, pte: 'valid', pfn, protection: MmProtect.readWrite, rw: true, exec: false, cls: 'image', type: 'image' });
          v.commit++;
          continue;
        }
        const valid = r.chance(0.8);
        if (valid) s.valid[i]++;
        else s.trimmed[i]++;
        pages.push({ va, pte: valid ? 'valid' : 'proto', pfn: -1, section: s, index: i, protection: sub.protection === MmProtect.writeCopy ? MmProtect.writeCopy : protection === MmProtect.readWrite ? MmProtect.readWrite : sub.protection, rw: protection === MmProtect.readWrite, exec });
      } else if (r.chance(0.04)) {
        pages.push({ va, pte: 'vad-proto', pfn: -1, section: s, index: i, protection, rw: false, exec });
      }
    }
  }

  private writePeb(pfn: number, imageBase: number, heap: number, params: number, r: Rng): void {
    const b = this.g.mem.page(pfn);
    const P = this.g.B.peb;
    b.writeUInt32LE(imageBase, P.imageBaseAddress);
    b.writeUInt32LE(heap + 0x200, P.ldr);
    b.writeUInt32LE(params, P.processParameters);
    b.writeUInt32LE(heap, P.processHeap);
    b.writeUInt32LE(1, P.numberOfProcessors);
    b.writeUInt32LE(2, P.numberOfHeaps);
    b.writeUInt32LE(16, P.maximumNumberOfHeaps);
    b.writeUInt32LE(0x7ffd0000 + (pfn & 0xf) * 0x10 + 0x500, P.processHeaps);
    b.writeUInt32LE(this.g.B.ntMajor, P.osMajorVersion);
    b.writeUInt32LE(this.g.B.ntMinor, P.osMinorVersion);
    b.writeUInt16LE(this.g.B.build, P.osBuildNumber);
    b.writeUInt32LE(2, P.osPlatformId);
    b.writeUInt32LE(heap, 0x500);
    b.writeUInt32LE(heap + 0x10000 * r.range(1, 4), 0x504);
  }

  private writeTeb(pfn: number, teb: number, peb: number, stackBase: number, stackLimit: number, pid: number, r: Rng): void {
    const b = this.g.mem.page(pfn);
    const T = this.g.B.teb;
    b.writeUInt32LE(stackBase - 0x100 - r.int(0x200), 0);
    b.writeUInt32LE(stackBase, T.stackBase);
    b.writeUInt32LE(stackLimit, T.stackLimit);
    b.writeUInt32LE(teb, T.self);
    b.writeUInt32LE(pid, T.clientId);
    b.writeUInt32LE(pid + 4, T.clientId + 4);
    b.writeUInt32LE(peb, T.peb);
  }

  /**
   * VAD nodes and the balanced tree (a valid AVL tree; Parent carries the 2-bit balance,
   * MI_MAKE_PARENT). XP: the same balanced shape with plain Parent pointers (the root's 0: inferred)
   * and VadRoot the root node's address, VadHint and NumberOfVads beside it (V2X _EPROCESS).
   */
  private writeVads(eprocess: number, vads: VadPlan[]): void {
    const kvm = this.g.kvm;
    const V = this.g.B.vad;
    const A = this.g.B.avl;
    const F = this.g.B.vadFlags;
    const root = eprocess + this.g.B.eprocess.vadRoot;
    const table = A.tableSize !== ABSENT;
    const height = new Map<number, number>();
    const build = (lo: number, hi: number, parent: number): number => {
      if (lo > hi) return -1;
      const mid = (lo + hi) >> 1;
      const left = build(lo, mid - 1, vads[mid].node);
      const right = build(mid + 1, hi, vads[mid].node);
      const hl = left < 0 ? 0 : height.get(left)!;
      const hr = right < 0 ? 0 : height.get(right)!;
      height.set(mid, 1 + Math.max(hl, hr));
      const balance = hr - hl;
      const n = vads[mid].node;
      kvm.u32(n + A.parent, table ? (parent | (balance & 3)) >>> 0 : parent);
      kvm.u32(n + A.left, left < 0 ? 0 : vads[left].node);
      kvm.u32(n + A.right, right < 0 ? 0 : vads[right].node);
      return mid;
    };
    const top = build(0, vads.length - 1, table ? root : 0);
    if (table) {
      kvm.u32(root + A.parent, root);
      kvm.u32(root + A.left, 0);
      kvm.u32(root + A.right, top < 0 ? 0 : vads[top].node);
      kvm.u32(root + A.depthAndCount, ((top < 0 ? 0 : height.get(top)!) | (vads.length << 8)) >>> 0);
      kvm.u32(root + A.nodeHint, top < 0 ? 0 : vads[top].node);
    } else {
      const E = this.g.B.eprocess;
      kvm.u32(root, top < 0 ? 0 : vads[top].node);
      kvm.u32(eprocess + E.vadHint, top < 0 ? 0 : vads[top].node);
      kvm.u32(eprocess + E.numberOfVads, vads.length);
    }
    for (const v of vads) {
      const n = v.node;
      kvm.u32(n + A.startingVpn, v.start / 4096);
      kvm.u32(n + A.endingVpn, v.start / 4096 + v.pages - 1);
      const vadType = v.kind === 'image' ? this.g.B.vadType.imageMap : this.g.B.vadType.none;
      const flags = (v.commit & F.commitChargeMask) | (vadType << F.vadTypeShift) | (v.memCommit ? F.memCommit : 0) | (v.protection << F.protectionShift) | (v.kind === 'private' ? F.privateMemory : 0);
      kvm.u32(n + V.flags, flags >>> 0);
      if (v.tag === 'VadS') continue;
      const s = v.section!;
      const pte = this.g.L.pteSize;
      kvm.u32(n + V.flags2, (v.tag === 'Vadl' ? this.g.B.vadFlags2.longVad : 0) | (v.kind === 'image' ? this.g.B.vadFlags2.inherit : 0));
      // The view's first subsection; LastContiguousPte ends where that subsection's array ends.
      const sub = this.subsectionOf(s, v.first);
      const lastContiguous = Math.min(v.first + v.pages, sub.first + sub.count) - 1;
      // Vista/7: the Subsection; XP: the ControlArea itself.
      if (V.subsection !== ABSENT) kvm.u32(n + V.subsection, sub.va);
      if (V.controlArea !== ABSENT) kvm.u32(n + V.controlArea, s.ca);
      kvm.u32(n + V.firstPrototypePte, this.protoOf(s, v.first));
      kvm.u32(n + V.lastContiguousPte, sub.base + (lastContiguous - sub.first) * pte);
      // Windows 7 links each view on its control area's ViewList; Vista's _MMVAD has no such fields.
      if (V.viewLinks !== ABSENT && this.g.B.controlArea.viewList !== ABSENT) kvm.insertTail(s.ca + this.g.B.controlArea.viewList, n + V.viewLinks);
      if (V.vadsProcess !== ABSENT) kvm.u32(n + V.vadsProcess, eprocess);
      kvm.u32(s.ca + this.g.B.controlArea.numberOfMappedViews, kvm.read32(s.ca + this.g.B.controlArea.numberOfMappedViews) + 1);
      kvm.u32(s.ca + this.g.B.controlArea.numberOfUserReferences, kvm.read32(s.ca + this.g.B.controlArea.numberOfUserReferences) + 1);
      if (v.tag === 'Vadl') kvm.emptyList(n + this.g.B.vad.size);
    }
  }

  // ---- section pages ------------------------------------------------------------------------

  /** Files only in the cache (SuperFetch prefetch, earlier reads) and a few pages in odd states. */
  private cachedOnlyFiles(): void {
    for (const p of this.g.files.keys()) {
      if (!CACHED_ONLY.test(p)) continue;
      this.section('data', p);
    }
    // Two pages being read (Transition) and two dirty pages that may not be written yet.
    const sort = this.byPath.get('data:\\Windows\\Globalization\\Sorting\\SortDefault.nls') ?? this.sections.find((s) => s.kind === 'data')!;
    let n = 0;
    for (let i = sort.n - 1; i >= 0 && n < 2; i--) if (!sort.valid[i] && !sort.trimmed[i]) (sort.forced[i] = 1), n++;
    const pf = [...this.byPath.values()].find((s) => s.path && /Prefetch/.test(s.path))!;
    pf.forced[0] = 2;
    pf.forced[1] = 2;
  }

  /** Decide and materialise every section page: active, standby, modified, transition or absent. */
  private resolveSections(): void {
    const g = this.g;
    const L = g.L;
    const r = this.r.fork('sections');
    for (const s of this.sections) {
      for (let i = 0; i < s.n; i++) {
        const sub = this.subsectionOf(s, i);
        const protoPteVa = this.protoOf(s, i);
        const protoPtePa = g.kvm.pa(protoPteVa);
        const pteFrame = Math.floor(protoPtePa / 4096);
        const owner: PageType = s.kind === 'image' ? 'image' : s.kind === 'data' ? 'cache' : 'shmem';
        const activeClass: Win7PageClass = s.kind === 'image' ? 'image' : s.kind === 'data' ? 'mapped-file' : 'pagefile-section';
        const [oLo, oHi] = s.kind === 'pagefile' ? PteCodec.demandZero(sub.protection) : PteCodec.subsection(L.pae, sub.va, sub.protection);
        let state: 'none' | 'active' | 'standby' | 'modified' | 'transition' | 'mnw' = 'none';
        if (s.forced[i] === 1) state = 'transition';
        else if (s.forced[i] === 2) state = 'mnw';
        else if (s.valid[i] > 0) state = 'active';
        else if (s.trimmed[i] > 0) state = s.kind === 'pagefile' ? (r.chance(0.5) ? 'modified' : 'standby') : r.chance(0.65) ? 'standby' : 'none';
        else if (s.kind !== 'pagefile' && r.chance(s.image ? 0.12 : s.path && CACHED_ONLY.test(s.path) ? CACHED_STANDBY_SHARE : 0.55)) state = 'standby';
        if (state === 'none') {
          g.kvm.write(protoPteVa, pteBytes(L.pae, oLo, oHi));
          continue;
        }
        const pfn = g.phys.any();
        s.pfns[i] = pfn;
        this.content(s, i).copy(g.mem.page(pfn));
        const base: PfnState = { pteVa: protoPteVa, pteFrame, proto: true, origLo: oLo, origHi: oHi };
        if (state === 'active') {
          const [lo, hi] = userPte(L.pae, pfn, sub.protection === MmProtect.readWrite, sub.protection === MmProtect.executeRead);
          g.kvm.write(protoPteVa, pteBytes(L.pae, lo, hi));
          g.claim(pfn, activeClass);
          g.db.active(pfn, { ...base, share: s.valid[i], ref: s.valid[i], modified: s.kind === 'pagefile' });
        } else {
          const [lo, hi] = PteCodec.transition(pfn, sub.protection);
          g.kvm.write(protoPteVa, pteBytes(L.pae, lo, hi));
          if (state === 'standby') {
            const priority = s.trimmed[i] > 0 ? 5 : r.pick([2, 3, 4, 5, 5, 6]);
            g.claim(pfn, 'standby', owner);
            // A pagefile-backed page on standby was written out: OriginalPte is its paging-file PTE.
            const [sLo, sHi] = s.kind === 'pagefile' ? PteCodec.pagefile(L.pae, 0x100 + i, sub.protection) : [oLo, oHi];
            g.queue(g.standbyList(priority), pfn, { ...base, priority, origLo: sLo, origHi: sHi });
          } else if (state === 'modified') {
            g.claim(pfn, 'modified', owner);
            g.queue(g.lists.modified, pfn, { ...base, modified: true });
          } else if (state === 'mnw') {
            g.claim(pfn, 'modified-no-write', owner);
            g.queue(g.lists.modifiedNoWrite, pfn, { ...base, modified: true });
          } else {
            g.claim(pfn, 'transition', owner);
            g.db.active(pfn, { ...base, share: 0, ref: 1, readInProgress: true }, PageLocation.Transition);
          }
        }
      }
      g.kvm.u32(s.ca + this.g.B.controlArea.numberOfPfnReferences, s.pfns.reduce((a, p) => a + (p >= 0 ? 1 : 0), 0));
    }
  }

  // ---- address spaces -----------------------------------------------------------------------

  /** The process directory (kernel PDEs copied from System), hyperspace, and every user PTE. */
  private buildSpace(p: Proc): void {
    const g = this.g;
    const L = g.L;
    const r = this.r.fork(`space ${p.spec.pid}`);
    const space = new WinSpace(g.mem, L, p.dtb, () => g.allocTable(), (t) => g.tableRecord(t.pfn, t.pdeVa, t.pdPfn));
    g.initDirectory(space, p.pdPfns);
    // Kernel half: the System directory's entries, except the self-map and hyperspace.
    if (L.pae) {
      const sys2 = g.mem.page(g.systemPdPfns[2]);
      g.mem.page(p.pdPfns[2]).set(sys2);
      const sys3 = g.mem.page(g.systemPdPfns[3]);
      const own3 = g.mem.page(p.pdPfns[3]);
      sys3.copy(own3, 5 * 8, 5 * 8, 4096);
    } else {
      const sys = g.mem.page(g.systemPdPfns[0]);
      const own = g.mem.page(p.pdPfns[0]);
      sys.copy(own, 0x200 * 4, 0x200 * 4, 0x300 * 4);
      sys.copy(own, 0x302 * 4, 0x302 * 4, 4096);
    }
    // Hyperspace: the working set list page (not global: per process).
    const [wlo, whi] = userPte(L.pae, p.wslPfn, true, false);
    const w = space.setPte(L.workingSetList, (wlo & ~WinPte.owner) >>> 0, whi, false);
    g.db.active(p.wslPfn, { pteVa: space.pteVa(L.workingSetList), pteFrame: w.ptPfn, share: 1 });
    // User pages.
    const wsle: number[] = [];
    for (const pg of p.pages) {
      let lo: number;
      let hi: number;
      let pfn = pg.pfn;
      let via: UserPteKind | undefined;
      if (pg.section) {
        const s = pg.section;
        const protoPteVa = this.protoOf(s, pg.index!);
        pfn = s.pfns[pg.index!];
        if (pg.pte === 'valid') {
          [lo, hi] = userPte(L.pae, pfn, pg.rw, pg.exec, pg.protection === MmProtect.writeCopy);
          via = 'valid';
        } else if (pg.pte === 'vad-proto' || (pg.pte === 'proto' && r.chance(0.15))) {
          [lo, hi] = PteCodec.vadPrototype(L.pae, pg.protection);
          via = 'vad-prototype';
        } else {
          [lo, hi] = PteCodec.prototype(L.pae, protoPteVa, pg.protection);
          via = 'prototype';
        }
        space.setPte(pg.va, lo, hi, true);
        if (pfn >= 0) p.layout.pages.push({ va: pg.va, pfn, via });
        if (via === 'valid') wsle.push(pg.va);
        continue;
      }
      if (pg.pte === 'pagefile') {
        [lo, hi] = PteCodec.pagefile(L.pae, 0x200 + r.int(0x40000), pg.protection);
        space.setPte(pg.va, lo, hi, true);
        continue;
      }
      if (pg.pte === 'valid') [lo, hi] = userPte(L.pae, pfn, pg.rw, pg.exec);
      else [lo, hi] = PteCodec.transition(pfn, pg.protection);
      const { ptPfn } = space.setPte(pg.va, lo, hi, true);
      if (pfn === this.k.kuserPfn) {
        p.layout.pages.push({ va: pg.va, pfn, via: 'valid' });
        continue;
      }
      const base: PfnState = { pteVa: space.pteVa(pg.va), pteFrame: ptPfn };
      if (pg.pte === 'valid') {
        g.claim(pfn, pg.cls!, pg.type);
        g.db.active(pfn, { ...base, share: 1, wsIndex: wsle.length + 1, modified: pg.rw, origLo: pg.protection << PROT_SHIFT });
        wsle.push(pg.va);
        p.layout.pages.push({ va: pg.va, pfn, via: 'valid' });
      } else if (pg.pte === 'standby') {
        g.claim(pfn, 'standby', pg.type);
        const [olo, ohi] = PteCodec.pagefile(L.pae, 0x200 + r.int(0x40000), pg.protection);
        g.queue(g.standbyList(5), pfn, { ...base, priority: 5, origLo: olo, origHi: ohi });
        p.layout.pages.push({ va: pg.va, pfn, via: 'transition' });
      } else {
        g.claim(pfn, 'modified', pg.type);
        g.queue(g.lists.modified, pfn, { ...base, modified: true, priority: 5, origLo: pg.protection << PROT_SHIFT });
        p.layout.pages.push({ va: pg.va, pfn, via: 'transition' });
      }
    }
    // The working set list: a header then one entry per valid page (VA | valid).
    const wb = g.mem.page(p.wslPfn);
    wb.writeUInt32LE(wsle.length, 0);
    wb.writeUInt32LE(L.workingSetList + 0x80, 0x10);
    wsle.slice(0, (4096 - 0x80) / 4).forEach((va, i) => wb.writeUInt32LE((va | 1) >>> 0, 0x80 + 4 * i));
    g.kvm.u32(p.eprocess + this.g.B.eprocess.vmWorkingSetSize, wsle.length);
  }
}

/** A user PTE: valid, accessed; writable ones dirty with the MP Write bit; copy-on-write marked; NX (PAE) unless executable. */
function userPte(pae: boolean, pfn: number, rw: boolean, exec: boolean, cow = false): [number, number] {
  let lo = (pfn % 0x100000) * 4096 + WinPte.valid + WinPte.owner + WinPte.accessed;
  if (rw) lo += WinPte.write + WinPte.dirty + WinPte.swWrite;
  if (cow) lo += WinPte.copyOnWrite;
  const hi = Math.floor(pfn / 0x100000) | (pae && !exec ? WinPte.nxHi : 0);
  return [lo >>> 0, hi >>> 0];
}

function pteBytes(pae: boolean, lo: number, hi: number): Buffer {
  const b = Buffer.alloc(pae ? 8 : 4);
  b.writeUInt32LE(lo >>> 0, 0);
  if (pae) b.writeUInt32LE(hi >>> 0, 4);
  return b;
}
