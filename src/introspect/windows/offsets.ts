/**
 * Windows kernel structure layouts, one table per build and paging kernel, kept apart from the logic
 * that reads them (house style 6; memflow-win32's offsets crate). No PDB is read: every offset below
 * was read from the published layouts named in its comment, and the tables are checked where they
 * load (`struct()` asserts every field fits its structure; `assertLayout` the cross-structure facts).
 *
 * Sources (read at): volatility 328a178e `volatility/plugins/overlays/windows/`
 *   - W7SP1      = win7_sp1_x86_vtypes.py          (7601, ntkrnlmp: non-PAE, _MMPTE 4 bytes)
 *   - W7SP1_23418 = win7_sp1_x86_BBA98F40_vtypes.py (7601.23418, non-PAE; same offsets as W7SP1 for
 *                   every field here, _EPROCESS 0x2d8)
 *   - W7SP1_PAE  = win7_sp1_x86_24000_vtypes.py    (7601.24000, ntkrpamp: PAE, _MMPTE 8 bytes)
 *   - W7SP0      = win7_sp0_x86_vtypes.py          (7600, non-PAE)
 *   - VISTA2     = vista_sp2_x86_vtypes.py         (6002, ntkrnlmp: non-PAE, _MMPTE 4 bytes), with
 *                  vista.py (VistaSP1KDBG: KDBG size 0x330 from build 6001; Vistax86DTB: the
 *                  _KPROCESS signature 03 00 20 00). Checked again against ntdiff/headers 34fa37e4
 *                  WinVista_SP2/x86/System32/ntoskrnl.exe/Standalone/_MMPFN.h (PDB-derived; equal).
 *                  No PAE (ntkrpamp) Vista layout is published in these sources: Vista PAE is refused.
 *   - XP3        = xp_sp3_x86_vtypes.py            (2600, ntkrnlmp: non-PAE, _MMPTE 4 bytes), with xp.py
 *                  (DTB signature 03 00 1b 00, KDBG needle size 0x290). Its _MMPFN bit fields also
 *                  match the NT 5.x memory manager's own header (Windows Server 2003 sources,
 *                  selfrender/Windows-Server-2003 b80a07e2 base/ntos/mm/mi.h: _MMPFNENTRY
 *                  PrototypePte bit 3, PageLocation bits 8–10; u4 PteFrame 26 bits). MemProcFS'
 *                  PFN code starts at build 6000 and does not cover XP. No XP PAE (ntkrnlpa) layout
 *                  is published in these sources: XP PAE is refused.
 *   - KDBG       = kdbg_vtypes.py, and volatility3 a1961401 symbols/windows/kdbg.json (identical)
 * MemProcFS c3aa8106 vmm/mm/mm_vad.c (`_MMVAD32_7`, ControlArea.FilePointer 0x24 for 32-bit ≤ 7601)
 * and vmm/mm/mm_pfn.c (u3 PageLocation byte, u4 bits) agree with them.
 */

/** A structure: its size and field offsets (the widths are checked at load, then dropped). */
export type Struct<F extends string> = { readonly size: number } & { readonly [K in F]: number };

/** Field [offset, bytes]; throws at load when a field does not fit the structure's size. */
function struct<F extends string>(name: string, size: number, fields: Record<F, readonly [number, number]>): Struct<F> {
  const out: Record<string, number> = { size };
  for (const [f, [off, bytes]] of Object.entries(fields) as [string, readonly [number, number]][]) {
    if (!(off >= 0 && bytes > 0 && off + bytes <= size)) throw new Error(`offset table: ${name}.${f} at 0x${off.toString(16)} (+${bytes}) does not fit in 0x${size.toString(16)} bytes`);
    out[f] = off;
  }
  return Object.freeze(out) as Struct<F>;
}

/**
 * _KDDEBUGGER_DATA64 (the same on every build that has the field; x86 stores pointers zero-extended
 * in the ULONG64 slots). Fields named Mm…/Ps… hold the *address* of the kernel variable (one more
 * read gives its value: rekall plugins/windows/pfn.py `MmPfnDatabase.dereference().dereference()`,
 * MemProcFS PDB_GetSymbolPTR); KernBase is the value itself.
 */
export const KDBG = struct('_KDDEBUGGER_DATA64', 0x340, {
  // Header.List is a LIST_ENTRY64 (KDBG _DBGKD_DEBUG_DATA_HEADER64), but an x86 kernel links it
  // into its 32-bit list as a native LIST_ENTRY: Flink at +0, Blink at +4, and +0x8..+0xF stay zero
  // (V2 windows.py AbstractKDBGMod: the 32-bit needle is 8 zero bytes then 'KDBG'; B5).
  listFlink: [0x00, 4],
  listBlink: [0x04, 4],
  listUpper: [0x08, 8], // zero on x86; on x64 the upper half of Blink (0xfffff800…, V2's 64-bit needle)
  ownerTag: [0x10, 4], // Header.OwnerTag 'KDBG' (0x4742444b) — KDBG
  headerSize: [0x14, 4], // Header.Size (ULONG) — KDBG
  kernBase: [0x18, 8], // KernBase — KDBG
  psLoadedModuleList: [0x48, 8], // PsLoadedModuleList — KDBG
  psActiveProcessHead: [0x50, 8], // PsActiveProcessHead — KDBG
  mmPfnDatabase: [0xc0, 8], // MmPfnDatabase — KDBG
  mmSubsectionBase: [0xd8, 8], // MmSubsectionBase — KDBG
  mmLowestPhysicalPage: [0xe8, 8], // MmLowestPhysicalPage — KDBG
  mmHighestPhysicalPage: [0xf0, 8], // MmHighestPhysicalPage — KDBG
  mmNumberOfPhysicalPages: [0xf8, 8], // MmNumberOfPhysicalPages — KDBG
  mmNonPagedPoolStart: [0x110, 8], // MmNonPagedPoolStart — KDBG
  mmNonPagedPoolEnd: [0x118, 8], // MmNonPagedPoolEnd (exclusive) — KDBG
  mmPagedPoolStart: [0x120, 8], // MmPagedPoolStart — KDBG
  mmPagedPoolEnd: [0x128, 8], // MmPagedPoolEnd (the last byte) — KDBG
  mmSystemRangeStart: [0x1d0, 8], // MmSystemRangeStart — KDBG
  ntBuildLab: [0x208, 8], // NtBuildLab (char *, "7601.17514.x86fre…") — KDBG; V2 overlay: pointer to String
  cmNtCSDVersion: [0x268, 8], // CmNtCSDVersion (ULONG *, service pack << 8) — KDBG; V2 `ServicePack`
  mmPhysicalMemoryBlock: [0x270, 8], // MmPhysicalMemoryBlock (_PHYSICAL_MEMORY_DESCRIPTOR **) — KDBG
  sizeEProcess: [0x2a8, 2], // SizeEProcess (USHORT) — KDBG
  offsetEprocessPeb: [0x2aa, 2], // OffsetEprocessPeb — KDBG
  offsetEprocessDirectoryTableBase: [0x2ae, 2], // OffsetEprocessDirectoryTableBase — KDBG
});

/** 'KDBG' as a little-endian u32 (V2 kdbg_vtypes.py `is_valid`: OwnerTag == 0x4742444B). */
export const KDBG_OWNER_TAG = 0x4742444b;

/**
 * _KDDEBUGGER_DATA64 Header.Size by Windows generation: what the x86 needle carries after 'KDBG'
 * (V2 overlays/windows/windows.py AbstractKDBGMod: XP 0x290; win2003.py 0x318; vista.py VistaKDBG
 * 0x328 (6000), VistaSP1KDBG 0x330 (build ≥ 6001); win7.py 0x340). Used to name what an
 * unsupported image holds.
 */
export const KDBG_SIZES: ReadonlyMap<number, string> = new Map([
  [0x290, 'Windows XP'],
  [0x318, 'Windows Server 2003'],
  [0x328, 'Windows Vista RTM'],
  [0x330, 'Windows Vista SP1/SP2 / Server 2008'],
  [0x340, 'Windows 7 / Server 2008 R2'],
]);

/**
 * _KUSER_SHARED_DATA at VA 0xFFDF0000 on x86 (W7SP1, W7SP1_PAE, W7SP0 — identical; VISTA2 and XP3
 * have every field below at the same offset, their structures ending at 0x3b8 / 0x338). Windows 7
 * (and Vista, XP) has
 * no NtBuildNumber here: 0x248–0x263 is Reserved2[7] in all three (NtBuildNumber at 0x260 only from
 * Windows 10: V2 win10_x86_vtypes.py). The build comes from KDBG's NtBuildLab.
 */
export const KUSER_SHARED_DATA_VA = 0xffdf0000;
export const KUSER = struct('_KUSER_SHARED_DATA', 0x5f0, {
  imageNumberLow: [0x2c, 2], // ImageNumberLow (0x14c = IMAGE_FILE_MACHINE_I386) — W7SP1, W7SP1_PAE
  imageNumberHigh: [0x2e, 2], // ImageNumberHigh — W7SP1, W7SP1_PAE
  ntSystemRoot: [0x30, 520], // NtSystemRoot WCHAR[260] — W7SP1, W7SP1_PAE
  ntProductType: [0x264, 4], // NtProductType — W7SP1, W7SP1_PAE
  productTypeIsValid: [0x268, 1], // ProductTypeIsValid — W7SP1, W7SP1_PAE
  ntMajorVersion: [0x26c, 4], // NtMajorVersion — W7SP1, W7SP1_PAE
  ntMinorVersion: [0x270, 4], // NtMinorVersion — W7SP1, W7SP1_PAE
  numberOfPhysicalPages: [0x2e8, 4], // NumberOfPhysicalPages — W7SP1, W7SP1_PAE
});

/** _PHYSICAL_MEMORY_DESCRIPTOR and its _PHYSICAL_MEMORY_RUN (x86: ULONG fields) — W7SP1, W7SP1_PAE. */
export const PHYSICAL_MEMORY_DESCRIPTOR = struct('_PHYSICAL_MEMORY_DESCRIPTOR', 0x10, {
  numberOfRuns: [0x0, 4],
  numberOfPages: [0x4, 4],
  run: [0x8, 8],
});
export const PHYSICAL_MEMORY_RUN = struct('_PHYSICAL_MEMORY_RUN', 0x8, { basePage: [0x0, 4], pageCount: [0x4, 4] });

/** _MMPFN.u3.e1 PageLocation values (MemProcFS vmm/mm/mm_pfn.h `MMPFN_TYPE`; rekall common.py). */
export const PageLocation = {
  Zeroed: 0,
  Free: 1,
  Standby: 2,
  Modified: 3,
  ModifiedNoWrite: 4,
  Bad: 5,
  Active: 6,
  Transition: 7,
} as const;
export const PAGE_LOCATION_NAMES = ['Zeroed', 'Free', 'Standby', 'Modified', 'ModifiedNoWrite', 'Bad', 'Active', 'Transition'] as const;

/** _MMVAD_FLAGS.VadType values (V2 plugins/vadinfo.py); 2 = VadImageMap (MEM_IMAGE). */
export const VAD_TYPE_IMAGE_MAP = 2;

/** A bit field: (u32 >>> shift) & mask. */
export interface BitField {
  readonly shift: number;
  readonly mask: number;
}

/**
 * How _MMPFN's bit fields are read: offsets within the entry and bit positions. They moved between
 * XP (u3.e1 a ULONG: PrototypePte bit 3, PageLocation bits 8–10; u4 PteFrame 26 bits; no priority)
 * and Vista/7 (u3.e1 two bytes: PageLocation byte 0 bits 0–2, Priority byte 1 bits 0–2; u4
 * PteFrame 25 bits, PrototypePte bit 27).
 */
export interface PfnBits {
  /** The byte whose bits 0–2 are PageLocation. */
  readonly pageLocationByte: number;
  /** The ULONG holding PrototypePte, and its bit. */
  readonly prototypePte: readonly [offset: number, bit: number];
  /** The ULONG holding PteFrame, and its mask (from bit 0). */
  readonly pteFrame: readonly [offset: number, mask: number];
  /** The byte whose bits 0–2 are the standby list priority (Vista+); undefined: one standby list (XP). */
  readonly priorityByte?: number;
}

/**
 * The VAD tree's shape: where its root is, how a MEM_IMAGE view is told, what a view's section
 * pointer points at, and how the control area names its file.
 */
export interface VadShape {
  /**
   * _EPROCESS.VadRoot + this holds the root node's address: 8 on Vista/7 (VadRoot is an
   * _MM_AVL_TABLE whose BalancedRoot.RightChild is the root), 0 on XP (VadRoot is the root).
   */
  readonly rootPointer: number;
  /** Bytes of _EPROCESS.VadRoot (0x20 _MM_AVL_TABLE; 4, a pointer, on XP). */
  readonly vadRootBytes: number;
  /** _MMVAD_FLAGS: MEM_IMAGE ⇔ field == imageValue (Vista/7 VadType bits 20–22 == 2; XP ImageMap bit 20 == 1). */
  readonly image: BitField & { readonly value: number };
  /** What _MMVAD.section points at: a _SUBSECTION (Vista/7: its ControlArea at +0) or the _CONTROL_AREA itself (XP). */
  readonly sectionPointer: 'subsection' | 'controlArea';
  /** _CONTROL_AREA.FilePointer & this = the _FILE_OBJECT: an _EX_FAST_REF on Vista/7 (RefCnt bits 0–2), a plain pointer on XP. */
  readonly filePointerMask: number;
}

/** Everything the Windows module reads, for one build on one paging kernel. */
export interface WindowsLayout {
  /** For messages and details: 'Windows 7 SP1 x86 (7601), PAE'. */
  readonly name: string;
  readonly major: number;
  readonly minor: number;
  readonly build: number;
  readonly pae: boolean;
  /** KDBG Header.Size this build carries. */
  readonly kdbgSize: number;
  /** sizeof(_MMPTE): 4 non-PAE, 8 PAE. */
  readonly mmpteBytes: 4 | 8;
  /** PTE self-map: PTEs at selfMapBase + (va >> 12) · mmpteBytes; the page directories at pdSelfMap. */
  readonly selfMapBase: number;
  readonly selfMapEnd: number;
  readonly pdSelfMap: number;
  readonly pdSelfMapEnd: number;
  readonly dispatcherHeader: Struct<'type' | 'headerSize'>;
  /**
   * _KPROCESS.Header.Size of a process (sizeof(_KPROCESS) / 4): with Type 3 the signature the
   * Idle/System _EPROCESS scan looks for (V2 DTBSignature: 0x26 win7.py, 0x20 vista.py).
   */
  readonly kprocessHeaderSize: number;
  readonly eprocess: Struct<'directoryTableBase' | 'uniqueProcessId' | 'activeProcessLinks' | 'inheritedFromUniqueProcessId' | 'imageFileName' | 'peb' | 'vadRoot'>;
  /** ImageFileName: UCHAR[15] on Windows 7, [16] on Vista (the name is NUL-terminated either way). */
  readonly imageFileNameBytes: number;
  readonly mmpfn: Struct<'flink' | 'blink' | 'pteAddress' | 'referenceCount' | 'e1' | 'originalPte' | 'u4'>;
  readonly pfnBits: PfnBits;
  /** Vista/7 only: XP has no _MM_AVL_TABLE (vad.rootPointer says where the root is). */
  readonly mmAvlTable?: Struct<'balancedRootRightChild' | 'numberGenericTableElements'>;
  readonly vad: VadShape;
  readonly mmvadShort: Struct<'parent' | 'leftChild' | 'rightChild' | 'startingVpn' | 'endingVpn' | 'vadFlags'>;
  /** `section`: Subsection (Vista/7) or ControlArea (XP), as vad.sectionPointer says. */
  readonly mmvad: Struct<'section' | 'firstPrototypePte' | 'lastContiguousPte'>;
  readonly subsection: Struct<'controlArea' | 'subsectionBase' | 'nextSubsection' | 'ptesInSubsection'>;
  readonly controlArea: Struct<'segment' | 'flags' | 'filePointer'>;
  readonly segment: Struct<'totalNumberOfPtes' | 'prototypePte'>;
  readonly fileObject: Struct<'type' | 'fileName'>;
  readonly unicodeString: Struct<'length' | 'maximumLength' | 'buffer'>;
}

/** Bit fields the same in every table here (W7SP1, W7SP1_PAE, W7SP0, W7SP1_23418, VISTA2 and XP3 agree); the rest are per table (PfnBits, VadShape). */
export const BITS = Object.freeze({
  /** PageLocation: 3 bits (MMLISTS 0–7) wherever PfnBits.pageLocationByte puts them. */
  pageLocationMask: 0x7,
  /** The standby list priority: 3 bits (Vista/7 _MMPFNENTRY byte 1). */
  priorityMask: 0x7,
  /** _MMVAD_FLAGS: PrivateMemory bit 31 (XP, Vista, 7). */
  privateMemoryBit: 31,
  /** _MM_AVL_TABLE +0x14: DepthOfTree 0–4, Unused 5–7, NumberGenericTableElements 8–31. */
  avlElementsShift: 8,
  /** _MMSECTION_FLAGS (_CONTROL_AREA.u.Flags): Image bit 5, File bit 7. */
  sectionImageBit: 5,
  sectionFileBit: 7,
  /** _EX_FAST_REF: RefCnt in bits 0–2 on x86. */
  fastRefMask: 0x7,
  /** _MMVAD_SHORT.u1: Balance in bits 0–1 of the Parent pointer. */
  parentBalanceMask: 0x3,
});

/** _FILE_OBJECT.Type: IO_TYPE_FILE (wdm.h; 5). Used only as a plausibility check. */
export const IO_TYPE_FILE = 5;

/**
 * Vista/7 _MMPFN bit fields at `m`'s offsets: u3.e1 (_MMPFNENTRY) byte 0 PageLocation 0–2, byte 1
 * Priority 0–2; u4 PteFrame 0–24, PrototypePte 27 (W7SP1 __unnamed_14fd/_14ff, W7SP1_PAE, VISTA2
 * __unnamed_1432; ntdiff Vista SP2 _MMPFN.h; MemProcFS mm_pfn.c).
 */
const avlPfnBits = (m: { e1: number; u4: number }): PfnBits => Object.freeze({ pageLocationByte: m.e1, priorityByte: m.e1 + 1, prototypePte: [m.u4, 27] as const, pteFrame: [m.u4, 0x1ffffff] as const });

/**
 * Vista/7 VAD shape: VadRoot an _MM_AVL_TABLE (root = BalancedRoot.RightChild, MemProcFS mm_vad.c),
 * _MMVAD_FLAGS.VadType bits 20–22 == 2 VadImageMap (V2 vadinfo.py), _MMVAD.Subsection,
 * FilePointer an _EX_FAST_REF (RefCnt bits 0–2) — W7SP1, W7SP1_PAE, W7SP0, VISTA2.
 */
const AVL_VADS: VadShape = Object.freeze({
  rootPointer: 0x8,
  vadRootBytes: 0x20,
  image: Object.freeze({ shift: 20, mask: 0x7, value: VAD_TYPE_IMAGE_MAP }),
  sectionPointer: 'subsection',
  filePointerMask: ~0x7 >>> 0,
});

// Structures shared by every Windows 7 x86 table below (offsets identical in W7SP1, W7SP1_PAE,
// W7SP0 and W7SP1_23418; sizes where they differ are given per table).
const W7_DISPATCHER_HEADER = struct('_DISPATCHER_HEADER', 0x10, {
  type: [0x0, 1], // Type (3 = ProcessObject) — W7SP1
  headerSize: [0x2, 1], // Size in dwords (0x26 = sizeof(_KPROCESS) 0x98 / 4) — W7SP1; V2 win7.py DTBSignature "\x03\x00\x26\x00"
});
const w7Eprocess = (size: number) => struct('_EPROCESS', size, {
  directoryTableBase: [0x18, 4], // Pcb (_KPROCESS @0) .DirectoryTableBase @0x18 — W7SP1, W7SP1_PAE
  uniqueProcessId: [0xb4, 4], // UniqueProcessId — W7SP1, W7SP1_PAE
  activeProcessLinks: [0xb8, 8], // ActiveProcessLinks (_LIST_ENTRY) — W7SP1, W7SP1_PAE
  inheritedFromUniqueProcessId: [0x140, 4], // InheritedFromUniqueProcessId — W7SP1, W7SP1_PAE
  imageFileName: [0x16c, 15], // ImageFileName UCHAR[15] — W7SP1, W7SP1_PAE
  peb: [0x1a8, 4], // Peb — W7SP1, W7SP1_PAE
  vadRoot: [0x278, 0x20], // VadRoot (_MM_AVL_TABLE, 0x20) — W7SP1, W7SP1_PAE
});
const W7_MM_AVL_TABLE = struct('_MM_AVL_TABLE', 0x20, {
  balancedRootRightChild: [0x8, 4], // BalancedRoot (_MMADDRESS_NODE @0) .RightChild @8: the tree's root — W7SP1; MemProcFS mm_vad.c
  numberGenericTableElements: [0x14, 4], // DepthOfTree:5, Unused:3, NumberGenericTableElements:24 — W7SP1
});
const W7_MMVAD_SHORT = struct('_MMVAD_SHORT', 0x20, {
  parent: [0x0, 4], // u1: Parent | Balance:2 — W7SP1 (__unnamed_1581)
  leftChild: [0x4, 4], // LeftChild — W7SP1, W7SP1_PAE
  rightChild: [0x8, 4], // RightChild
  startingVpn: [0xc, 4], // StartingVpn
  endingVpn: [0x10, 4], // EndingVpn (inclusive)
  vadFlags: [0x14, 4], // u.VadFlags (_MMVAD_FLAGS)
});
const W7_MMVAD = struct('_MMVAD', 0x3c, {
  section: [0x24, 4], // Subsection — W7SP1, W7SP1_PAE; MemProcFS _MMVAD32_7
  firstPrototypePte: [0x28, 4], // FirstPrototypePte
  lastContiguousPte: [0x2c, 4], // LastContiguousPte
});
const W7_SUBSECTION = struct('_SUBSECTION', 0x20, {
  controlArea: [0x0, 4], // ControlArea — W7SP1, W7SP1_PAE
  subsectionBase: [0x4, 4], // SubsectionBase (_MMPTE *)
  nextSubsection: [0x8, 4], // NextSubsection
  ptesInSubsection: [0xc, 4], // PtesInSubsection
});
const W7_CONTROL_AREA = struct('_CONTROL_AREA', 0x50, {
  segment: [0x0, 4], // Segment — W7SP1, W7SP1_PAE
  flags: [0x1c, 4], // u.Flags (_MMSECTION_FLAGS) — W7SP1, W7SP1_PAE
  filePointer: [0x24, 4], // FilePointer (_EX_FAST_REF) — W7SP1, W7SP1_PAE; MemProcFS mm_vad.c (32-bit ≤ 7601: 0x24)
});
const w7Segment = (size: number) => struct('_SEGMENT', size, {
  totalNumberOfPtes: [0x4, 4], // TotalNumberOfPtes — W7SP1, W7SP1_PAE
  prototypePte: [0x28, 4], // PrototypePte (_MMPTE *) — W7SP1, W7SP1_PAE
});
const W7_FILE_OBJECT = struct('_FILE_OBJECT', 0x80, {
  type: [0x0, 2], // Type (IO_TYPE_FILE) — W7SP1, W7SP1_PAE
  fileName: [0x30, 8], // FileName (_UNICODE_STRING) — W7SP1, W7SP1_PAE
});
const UNICODE_STRING_32 = struct('_UNICODE_STRING', 0x8, {
  length: [0x0, 2], // Length (bytes) — W7SP1
  maximumLength: [0x2, 2], // MaximumLength
  buffer: [0x4, 4], // Buffer (WCHAR *)
});

/** Windows 7 SP1 x86, non-PAE kernel (ntkrnlmp). */
export const WIN7_SP1_X86: WindowsLayout = Object.freeze({
  name: 'Windows 7 SP1 x86 (7601), non-PAE',
  major: 6,
  minor: 1,
  build: 7601,
  pae: false,
  kdbgSize: 0x340, // V2 win7.py Win7KDBG kdbgsize
  mmpteBytes: 4, // _MMPTE 0x4 — W7SP1
  // Self-map (V2 overlays/windows/windows.py IA32 check; guest-introspection.md B5): PTEs from
  // 0xC0000000 (4 MiB: 2^20 PTEs × 4), the page directory at 0xC0300000.
  selfMapBase: 0xc0000000,
  selfMapEnd: 0xc0400000,
  pdSelfMap: 0xc0300000,
  pdSelfMapEnd: 0xc0301000,
  dispatcherHeader: W7_DISPATCHER_HEADER,
  kprocessHeaderSize: 0x26, // sizeof(_KPROCESS) 0x98 / 4 — W7SP1; V2 win7.py DTBSignature 03 00 26 00
  eprocess: w7Eprocess(0x2c0), // _EPROCESS 0x2c0 — W7SP1 (0x2d8 in W7SP1_23418; offsets equal)
  imageFileNameBytes: 15,
  mmpfn: struct('_MMPFN', 0x18, {
    flink: [0x0, 4], // u1.Flink (next PFN on a list) — W7SP1
    blink: [0x4, 4], // u2.Blink / ShareCount — W7SP1
    pteAddress: [0x8, 4], // PteAddress (VA of the PTE or prototype PTE) — W7SP1
    referenceCount: [0xc, 2], // u3.ReferenceCount — W7SP1
    e1: [0xe, 2], // u3.e1 (_MMPFNENTRY, 2 bytes): byte 0 PageLocation 0–2, WriteInProgress 3, Modified 4, ReadInProgress 5, CacheAttribute 6–7; byte 1 Priority 0–2, Rom 3, InPageError 4, KernelStack 5, RemovalRequested 6, ParityError 7 — W7SP1
    originalPte: [0x10, 4], // OriginalPte (_MMPTE, 4 bytes) — W7SP1
    u4: [0x14, 4], // u4: PteFrame 0–24, PfnImageVerified 25, AweAllocation 26, PrototypePte 27, PageColor 28–31 — W7SP1
  }),
  pfnBits: avlPfnBits({ e1: 0xe, u4: 0x14 }),
  mmAvlTable: W7_MM_AVL_TABLE,
  vad: AVL_VADS,
  mmvadShort: W7_MMVAD_SHORT,
  mmvad: W7_MMVAD,
  subsection: W7_SUBSECTION,
  controlArea: W7_CONTROL_AREA,
  segment: w7Segment(0x30), // _SEGMENT 0x30 — W7SP1
  fileObject: W7_FILE_OBJECT,
  unicodeString: UNICODE_STRING_32,
});

/** Windows 7 SP1 x86, PAE kernel (ntkrpamp; the default on NX-capable CPUs). */
export const WIN7_SP1_X86_PAE: WindowsLayout = Object.freeze({
  name: 'Windows 7 SP1 x86 (7601), PAE',
  major: 6,
  minor: 1,
  build: 7601,
  pae: true,
  kdbgSize: 0x340,
  mmpteBytes: 8, // _MMPTE 0x8 — W7SP1_PAE
  // PAE self-map: 8 MiB of 8-byte PTEs from 0xC0000000; the four page directories at 0xC0600000.
  selfMapBase: 0xc0000000,
  selfMapEnd: 0xc0800000,
  pdSelfMap: 0xc0600000,
  pdSelfMapEnd: 0xc0604000,
  dispatcherHeader: W7_DISPATCHER_HEADER,
  kprocessHeaderSize: 0x26, // sizeof(_KPROCESS) 0x98 / 4 — W7SP1_PAE
  eprocess: w7Eprocess(0x2e0), // _EPROCESS 0x2e0 in the 7601.24000 profile (the only PAE one published); offsets equal W7SP1
  imageFileNameBytes: 15,
  mmpfn: struct('_MMPFN', 0x1c, {
    flink: [0x0, 4], // u1.Flink — W7SP1_PAE
    blink: [0x4, 4], // u2.Blink — W7SP1_PAE
    pteAddress: [0x8, 4], // PteAddress — W7SP1_PAE
    referenceCount: [0xc, 2], // u3.ReferenceCount — W7SP1_PAE
    e1: [0xe, 2], // u3.e1: byte 0 PageLocation 0–2, byte 1 Priority 0–2 — W7SP1_PAE
    originalPte: [0x10, 8], // OriginalPte (_MMPTE, 8 bytes) — W7SP1_PAE
    u4: [0x18, 4], // u4 (PteFrame 0–24, PrototypePte 27) — W7SP1_PAE
  }),
  pfnBits: avlPfnBits({ e1: 0xe, u4: 0x18 }),
  mmAvlTable: W7_MM_AVL_TABLE,
  vad: AVL_VADS,
  mmvadShort: W7_MMVAD_SHORT,
  mmvad: W7_MMVAD,
  subsection: W7_SUBSECTION,
  controlArea: W7_CONTROL_AREA,
  segment: w7Segment(0x38), // _SEGMENT 0x38 (ThePtes 8-byte aligned at 0x30) — W7SP1_PAE
  fileObject: W7_FILE_OBJECT,
  unicodeString: UNICODE_STRING_32,
});

/** Windows 7 RTM (SP0) x86, non-PAE: every offset here equals W7SP1's in win7_sp0_x86_vtypes.py. */
export const WIN7_SP0_X86: WindowsLayout = Object.freeze({
  ...WIN7_SP1_X86,
  name: 'Windows 7 SP0 x86 (7600), non-PAE',
  build: 7600,
  eprocess: w7Eprocess(0x2c0), // _EPROCESS 0x2c0 — W7SP0
});

/**
 * Windows Vista SP2 x86, non-PAE kernel (ntkrnlmp, build 6002). Against Windows 7: a smaller
 * _KPROCESS (0x80: the Idle/System signature is 03 00 20 00) and _EPROCESS (every field below
 * moved), _MMVAD 0x30 (no ViewLinks/VadsProcess; Subsection and the prototype-PTE fields where
 * Windows 7 has them), _CONTROL_AREA 0x48 (FilePointer still an _EX_FAST_REF at 0x24), KDBG 0x330.
 * The same _MMPFN, _MM_AVL_TABLE tree shape, _MMVAD_SHORT, _MMVAD_FLAGS (VadType 20–22),
 * _SUBSECTION, _SEGMENT and _FILE_OBJECT, so the logic is Windows 7's.
 */
export const VISTA_SP2_X86: WindowsLayout = Object.freeze({
  name: 'Windows Vista SP2 x86 (6002), non-PAE',
  major: 6,
  minor: 0,
  build: 6002,
  pae: false,
  kdbgSize: 0x330, // V2 vista.py VistaSP1KDBG (build >= 6001) kdbgsize
  mmpteBytes: 4, // _MMPTE 0x4 — VISTA2
  selfMapBase: 0xc0000000,
  selfMapEnd: 0xc0400000,
  pdSelfMap: 0xc0300000,
  pdSelfMapEnd: 0xc0301000,
  dispatcherHeader: struct('_DISPATCHER_HEADER', 0x10, {
    type: [0x0, 1], // Type — VISTA2
    headerSize: [0x2, 1], // Size — VISTA2
  }),
  kprocessHeaderSize: 0x20, // sizeof(_KPROCESS) 0x80 / 4 — VISTA2; V2 vista.py Vistax86DTB "\x03\x00\x20\x00"
  eprocess: struct('_EPROCESS', 0x270, {
    directoryTableBase: [0x18, 4], // Pcb (_KPROCESS @0) .DirectoryTableBase @0x18 — VISTA2
    uniqueProcessId: [0x9c, 4], // UniqueProcessId — VISTA2
    activeProcessLinks: [0xa0, 8], // ActiveProcessLinks — VISTA2
    inheritedFromUniqueProcessId: [0x124, 4], // InheritedFromUniqueProcessId — VISTA2
    imageFileName: [0x14c, 16], // ImageFileName UCHAR[16] — VISTA2
    peb: [0x188, 4], // Peb — VISTA2
    vadRoot: [0x238, 0x20], // VadRoot (_MM_AVL_TABLE, 0x20) — VISTA2
  }),
  imageFileNameBytes: 16,
  mmpfn: struct('_MMPFN', 0x18, {
    flink: [0x0, 4], // u1.Flink — VISTA2 (ntdiff _MMPFN.h equal)
    blink: [0x4, 4], // u2.Blink / ShareCount — VISTA2
    pteAddress: [0x8, 4], // PteAddress — VISTA2
    referenceCount: [0xc, 2], // u3.ReferenceCount — VISTA2
    e1: [0xe, 2], // u3.e1 (_MMPFNENTRY): byte 0 PageLocation 0–2, byte 1 Priority 0–2 — VISTA2
    originalPte: [0x10, 4], // OriginalPte (_MMPTE, 4 bytes) — VISTA2
    u4: [0x14, 4], // u4: PteFrame 0–24, PrototypePte 27 — VISTA2 (__unnamed_1432)
  }),
  pfnBits: avlPfnBits({ e1: 0xe, u4: 0x14 }),
  vad: AVL_VADS,
  mmAvlTable: struct('_MM_AVL_TABLE', 0x20, {
    balancedRootRightChild: [0x8, 4], // BalancedRoot (_MMADDRESS_NODE @0) .RightChild @8 — VISTA2
    numberGenericTableElements: [0x14, 4], // DepthOfTree:5, Unused:3, NumberGenericTableElements:24 — VISTA2
  }),
  mmvadShort: struct('_MMVAD_SHORT', 0x20, {
    parent: [0x0, 4], // u1: Parent | Balance:2 — VISTA2 (__unnamed_149d)
    leftChild: [0x4, 4], // LeftChild — VISTA2
    rightChild: [0x8, 4], // RightChild — VISTA2
    startingVpn: [0xc, 4], // StartingVpn — VISTA2
    endingVpn: [0x10, 4], // EndingVpn — VISTA2
    vadFlags: [0x14, 4], // u.VadFlags (_MMVAD_FLAGS: VadType 20–22, PrivateMemory 31) — VISTA2
  }),
  mmvad: struct('_MMVAD', 0x30, {
    section: [0x24, 4], // Subsection — VISTA2
    firstPrototypePte: [0x28, 4], // FirstPrototypePte — VISTA2
    lastContiguousPte: [0x2c, 4], // LastContiguousPte — VISTA2
  }),
  subsection: struct('_SUBSECTION', 0x20, {
    controlArea: [0x0, 4], // ControlArea — VISTA2
    subsectionBase: [0x4, 4], // SubsectionBase — VISTA2
    nextSubsection: [0x8, 4], // NextSubsection — VISTA2
    ptesInSubsection: [0xc, 4], // PtesInSubsection — VISTA2
  }),
  controlArea: struct('_CONTROL_AREA', 0x48, {
    segment: [0x0, 4], // Segment — VISTA2
    flags: [0x1c, 4], // u.Flags (_MMSECTION_FLAGS: Image 5, File 7) — VISTA2
    filePointer: [0x24, 4], // FilePointer (_EX_FAST_REF, RefCnt bits 0–2) — VISTA2
  }),
  segment: struct('_SEGMENT', 0x30, {
    totalNumberOfPtes: [0x4, 4], // TotalNumberOfPtes — VISTA2
    prototypePte: [0x28, 4], // PrototypePte — VISTA2
  }),
  fileObject: struct('_FILE_OBJECT', 0x80, {
    type: [0x0, 2], // Type — VISTA2
    fileName: [0x30, 8], // FileName (_UNICODE_STRING) — VISTA2
  }),
  unicodeString: UNICODE_STRING_32,
});

/**
 * Windows XP SP3 x86, non-PAE kernel (ntkrnlmp, build 2600). Structurally older than Vista/7, all
 * of it data here: _MMPFN keeps PteAddress at 4 and Blink at 8, its flags in a ULONG u3.e1
 * (PrototypePte bit 3, PageLocation bits 8–10) and PteFrame in 26 bits of u4, with no standby
 * priority (one standby list); _EPROCESS.VadRoot points straight at the root _MMVAD (no
 * _MM_AVL_TABLE), whose nodes start with StartingVpn/EndingVpn and then Parent/LeftChild/RightChild;
 * _MMVAD_FLAGS has an ImageMap bit (20) instead of a VadType field; _MMVAD names its _CONTROL_AREA
 * directly (no Subsection), whose FilePointer is a plain pointer; _SUBSECTION and _SEGMENT fields
 * sit elsewhere; KDBG is 0x290 bytes (no Size…/Offset… fields at 0x2a8+).
 */
export const XP_SP3_X86: WindowsLayout = Object.freeze({
  name: 'Windows XP SP3 x86 (2600), non-PAE',
  major: 5,
  minor: 1,
  build: 2600,
  pae: false,
  kdbgSize: 0x290, // V2 windows.py AbstractKDBGMod kdbgsize 0x290; xp.py KDBGHeader '…KDBG\x90\x02'
  mmpteBytes: 4, // _MMPTE 0x4 — XP3
  selfMapBase: 0xc0000000,
  selfMapEnd: 0xc0400000,
  pdSelfMap: 0xc0300000,
  pdSelfMapEnd: 0xc0301000,
  dispatcherHeader: struct('_DISPATCHER_HEADER', 0x10, {
    type: [0x0, 1], // Type — XP3
    headerSize: [0x2, 1], // Size — XP3
  }),
  kprocessHeaderSize: 0x1b, // sizeof(_KPROCESS) 0x6c / 4 — XP3; V2 xp.py DTBSignature "\x03\x00\x1b\x00"
  eprocess: struct('_EPROCESS', 0x260, {
    directoryTableBase: [0x18, 4], // Pcb.DirectoryTableBase[0] (ULONG[2] @0x18) — XP3
    uniqueProcessId: [0x84, 4], // UniqueProcessId — XP3
    activeProcessLinks: [0x88, 8], // ActiveProcessLinks — XP3
    inheritedFromUniqueProcessId: [0x14c, 4], // InheritedFromUniqueProcessId — XP3
    imageFileName: [0x174, 16], // ImageFileName UCHAR[16] — XP3
    peb: [0x1b0, 4], // Peb — XP3
    vadRoot: [0x11c, 4], // VadRoot (void *: the root _MMVAD) — XP3
  }),
  imageFileNameBytes: 16,
  mmpfn: struct('_MMPFN', 0x18, {
    flink: [0x0, 4], // u1.Flink — XP3 (__unnamed_1317)
    pteAddress: [0x4, 4], // PteAddress — XP3
    blink: [0x8, 4], // u2.Blink / ShareCount — XP3 (__unnamed_1319)
    e1: [0xc, 4], // u3.e1 (_MMPFNENTRY, a ULONG): Modified 0, ReadInProgress 1, WriteInProgress 2, PrototypePte 3, PageColor 4–6, ParityError 7, PageLocation 8–10, … — XP3
    referenceCount: [0xe, 2], // u3.e2.ReferenceCount (overlays e1's upper 16 bits, DontUse) — XP3
    originalPte: [0x10, 4], // OriginalPte (_MMPTE, 4 bytes) — XP3
    u4: [0x14, 4], // u4: PteFrame 0–25, InPageError 26, VerifierAllocation 27, AweAllocation 28, LockCharged 29, KernelStack 30 — XP3 (__unnamed_1325)
  }),
  pfnBits: Object.freeze({
    pageLocationByte: 0xd, // e1 bits 8–10 = byte 0xd bits 0–2 — XP3; S03 mi.h _MMPFNENTRY
    prototypePte: [0xc, 3] as const, // e1 bit 3 — XP3; S03 mi.h
    pteFrame: [0x14, 0x3ffffff] as const, // u4 bits 0–25 — XP3; S03 mi.h (PteFrame: 26, MM_NO_PTE_FRAME 0x3FFFFFF)
  }),
  vad: Object.freeze({
    rootPointer: 0, // VadRoot is the root node — XP3 (V2 vadinfo: VadRoot.dereference_as('_MMVAD_SHORT'))
    vadRootBytes: 4,
    image: Object.freeze({ shift: 20, mask: 0x1, value: 1 }), // _MMVAD_FLAGS.ImageMap bit 20 — XP3
    sectionPointer: 'controlArea', // _MMVAD.ControlArea — XP3
    filePointerMask: 0xffffffff, // _CONTROL_AREA.FilePointer: _FILE_OBJECT * — XP3 (MemProcFS masks it as an _EX_FAST_REF on every build; on an aligned object the same)
  }),
  // The node layout also in MemProcFS c3aa8106 vmm/mm/mm_vad.c `_MMVAD32_XP` (after the pool header):
  // StartingVpn, EndingVpn, Parent, LeftChild, RightChild, flags (ImageMap 20, PrivateMemory 31),
  // ControlArea, FirstPrototypePte, LastContiguousPte; its subsections at ControlArea + sizeof(_CONTROL_AREA).
  mmvadShort: struct('_MMVAD_SHORT', 0x18, {
    startingVpn: [0x0, 4], // StartingVpn — XP3
    endingVpn: [0x4, 4], // EndingVpn — XP3
    parent: [0x8, 4], // Parent (a plain pointer, no balance bits) — XP3
    leftChild: [0xc, 4], // LeftChild — XP3
    rightChild: [0x10, 4], // RightChild — XP3
    vadFlags: [0x14, 4], // u.VadFlags (_MMVAD_FLAGS: ImageMap 20, PrivateMemory 31) — XP3
  }),
  mmvad: struct('_MMVAD', 0x28, {
    section: [0x18, 4], // ControlArea — XP3
    firstPrototypePte: [0x1c, 4], // FirstPrototypePte — XP3
    lastContiguousPte: [0x20, 4], // LastContiguousPte — XP3
  }),
  subsection: struct('_SUBSECTION', 0x20, {
    controlArea: [0x0, 4], // ControlArea — XP3
    subsectionBase: [0x10, 4], // SubsectionBase — XP3
    ptesInSubsection: [0x18, 4], // PtesInSubsection — XP3
    nextSubsection: [0x1c, 4], // NextSubsection — XP3
  }),
  controlArea: struct('_CONTROL_AREA', 0x30, {
    segment: [0x0, 4], // Segment — XP3
    flags: [0x20, 4], // u.Flags (_MMSECTION_FLAGS: Image 5, File 7) — XP3
    filePointer: [0x24, 4], // FilePointer (_FILE_OBJECT *) — XP3
  }),
  segment: struct('_SEGMENT', 0x40, {
    totalNumberOfPtes: [0x4, 4], // TotalNumberOfPtes — XP3
    prototypePte: [0x34, 4], // PrototypePte — XP3 (ThePtes at 0x38)
  }),
  fileObject: struct('_FILE_OBJECT', 0x70, {
    type: [0x0, 2], // Type — XP3
    fileName: [0x30, 8], // FileName (_UNICODE_STRING) — XP3
  }),
  unicodeString: UNICODE_STRING_32,
});

/** The layouts mig knows, by build and paging kernel. */
export const LAYOUTS: readonly WindowsLayout[] = Object.freeze([WIN7_SP1_X86, WIN7_SP1_X86_PAE, WIN7_SP0_X86, VISTA_SP2_X86, XP_SP3_X86]);

/** The table for a build on a paging kernel, or undefined. */
export function layoutFor(build: number, pae: boolean): WindowsLayout | undefined {
  return LAYOUTS.find((l) => l.build === build && l.pae === pae);
}

/** Cross-structure facts every table must satisfy (checked at load below, and by the tests). */
export function assertLayout(l: WindowsLayout): void {
  const fail = (what: string) => {
    throw new Error(`offset table ${l.name}: ${what}`);
  };
  if (l.mmpfn.originalPte + l.mmpteBytes > l.mmpfn.u4) fail('_MMPFN.OriginalPte overlaps u4');
  if (l.mmpfn.u4 + 4 !== l.mmpfn.size) fail('_MMPFN.u4 is not the last field');
  if (l.eprocess.imageFileName + l.imageFileNameBytes > l.eprocess.size) fail('ImageFileName past _EPROCESS');
  if (l.eprocess.vadRoot + l.vad.vadRootBytes > l.eprocess.size) fail('VadRoot past _EPROCESS');
  if (l.mmAvlTable && l.mmAvlTable.size !== l.vad.vadRootBytes) fail('VadRoot is not an _MM_AVL_TABLE');
  if (l.vad.rootPointer + 4 > l.vad.vadRootBytes) fail('the VAD root pointer is past VadRoot');
  if (l.mmvad.section < l.mmvadShort.size) fail('_MMVAD fields overlap _MMVAD_SHORT');
  const b = l.pfnBits;
  if (b.pageLocationByte + 1 > l.mmpfn.size || b.prototypePte[0] + 4 > l.mmpfn.size || b.pteFrame[0] + 4 > l.mmpfn.size || (b.priorityByte ?? 0) + 1 > l.mmpfn.size) fail('_MMPFN bit fields past the entry');
  if (l.selfMapEnd - l.selfMapBase !== 2 ** 20 * l.mmpteBytes) fail('self-map size is not 2^20 PTEs');
  if (l.pdSelfMap !== l.selfMapBase + (l.selfMapBase / 4096) * l.mmpteBytes) fail('page-directory self-map is not the PTE of the self-map');
  if (l.pdSelfMapEnd - l.pdSelfMap !== (l.pae ? 4 : 1) * 4096) fail('page-directory self-map size');
  if (l.kdbgSize > KDBG.size) fail('KDBG larger than the fields known');
  if (l.kprocessHeaderSize * 4 > l.eprocess.uniqueProcessId) fail('_KPROCESS (Header.Size · 4) overlaps _EPROCESS fields');
  if (l.kprocessHeaderSize * 4 <= l.eprocess.directoryTableBase) fail('DirectoryTableBase is not in _KPROCESS');
}

for (const l of LAYOUTS) assertLayout(l);
