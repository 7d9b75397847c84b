/**
 * Windows 7 SP1 x86 (build 7601) and Windows Vista SP2 x86 (build 6002) structure layouts the
 * synthetic image generator writes (windows7-image.ts): tables apart from logic (house style 6).
 * Per build (`W7`, `VISTA2`: what does not depend on the paging mode) and per paging kernel
 * (`Win7Layout`): ntkrnlmp (non-PAE, 4-byte PTEs) and, for Windows 7 only, ntkrpamp (PAE, 8-byte
 * PTEs); they differ only where sizeof(MMPTE) does. A field a build does not have is −1 (`ABSENT`).
 *
 * Sources, as read (short names used below):
 * - V2: volatility 2 (volatilityfoundation/volatility @328a178e) overlays/windows/
 *   win7_sp1_x86_vtypes.py (ntkrnlmp 7601), win7_sp1_x86_24000_vtypes.py (ntosx86, PAE, 7601.24000),
 *   kdbg_vtypes.py, vad_vtypes.py, win7.py, windows.py.
 * - NTD: ntdiff/headers Win7_SP1/x86/System32/ntoskrnl.exe (PDB-derived headers, non-PAE).
 * - V2V: volatility 2 @328a178e overlays/windows/vista_sp2_x86_vtypes.py (ntkrnlmp 6002, non-PAE)
 *   and vista.py (KDBG 0x330 from build 6001, DTB signature 03 00 20 00); NTDV: ntdiff/headers
 *   WinVista_SP2/x86/System32/ntoskrnl.exe (_MMPFN.h read: equal to V2V). Vista has no published
 *   PAE (ntkrpamp) layout in these sources, so the generator writes Vista non-PAE only.
 * - V3: volatility3 @a1961401 framework/symbols/windows/kdbg.json.
 * - MPF: ufrisk/MemProcFS @c3aa810 vmm/mm/mm_win.c, mm_vad.c, mm_pfn.c, vmmwininit.c.
 * - S03: Windows Server 2003 sources (selfrender/Windows-Server-2003) base/ntos/kd64/kddata.c,
 *   kdinit.c, base/ntos/mm/pfnlist.c: how the fields are filled (an older kernel: behaviour, not
 *   Win7 offsets).
 * - ROS: ReactOS ntoskrnl/include/internal/i386/mm.h (a Windows-compatible layout, not Windows).
 * Tags not in these sources (MmPd, MmSm, MmLd, IoNm, Ntff, Obtb, Devi, Toke, ObjT) are plausible, unverified.
 * Items no source states for Win7 are marked (inferred); see the notes in windows7-image.ts.
 */

export interface Win7Layout {
  /** Kernel image name the layout is for. */
  kernel: 'ntkrnlmp.exe' | 'ntkrpamp.exe';
  pae: boolean;
  /** sizeof(_MMPTE): 4 (non-PAE) or 8 (PAE). V2 _MMPTE. */
  pteSize: 4 | 8;
  /** _MMPFN (V2 both files; NTD _MMPFN.h non-PAE). e2 is −1 (ABSENT) where u3.e1 is one ULONG (XP). */
  mmpfn: { size: number; u1: number; u2: number; pteAddress: number; u3RefCount: number; e1: number; e2: number; originalPte: number; u4: number };
  /**
   * How _MMPFN's flags are laid out: 'nt6' (Vista/7: u3.e1 bytes — PageLocation 0–2, Modified 4,
   * ReadInProgress 5; Priority 0–2, KernelStack 5 in the next byte; u4 PteFrame 0–24, PrototypePte
   * 27) or 'nt5' (XP: u3.e1 a ULONG — Modified 0, ReadInProgress 1, PrototypePte 3, PageLocation
   * 8–10; u4 PteFrame 0–25, KernelStack 30; no priority).
   */
  pfnFormat: 'nt6' | 'nt5';
  /** _SEGMENT (V2): the prototype PTE array ThePtes follows the header (PAE: 8-byte aligned). */
  segment: { controlArea: number; totalNumberOfPtes: number; segmentFlags: number; numberOfCommittedPages: number; sizeOfSegment: number; prototypePte: number; thePtes: number };
  /** Self-map (V2 windows.py IA32 valid-AS check; reference doc B5). */
  pteBase: number;
  pdeBase: number;
  /** The PDE that maps the page directory (or PD 3) onto itself. */
  selfMapPde: number;
  /** Hyperspace (per process; ROS HYPER_SPACE) and its working set list page (ROS MI_WORKING_SET_LIST) (inferred). */
  hyperSpace: number;
  workingSetList: number;
}

/** A field the build does not have. */
export const ABSENT = -1;

/** Fields that do not depend on the paging mode: Windows 7 SP1. */
export const W7 = {
  name: 'Windows 7 SP1 x86',
  build: 7601,
  /** NtMajorVersion / NtMinorVersion (_KUSER_SHARED_DATA, PEB OSMajorVersion / OSMinorVersion). */
  ntMajor: 6,
  ntMinor: 1,
  /** NtBuildNumber of a free build: 0xF0000000 | 7601 (S03 kdinit.c: KdVersionBlock.MajorVersion = NtBuildNumber >> 28). */
  ntBuildNumber: 0xf0001db1,
  ntBuildLab: '7601.17514.x86fre.win7sp1_rtm.101119-1850',
  /** CmNtCSDVersion: service pack << 8 (V2 kdbg_vtypes.py ServicePack = (csd >> 8)). */
  csdVersion: 0x100,

  /** _KDDEBUGGER_DATA64 (V2 kdbg_vtypes.py = V3 kdbg.json; S03 kddata.c for PaeEnabled 0x36). */
  kdbg: {
    size: 0x340,
    listFlink: 0x0,
    listBlink: 0x4,
    ownerTag: 0x10,
    sizeField: 0x14,
    kernBase: 0x18,
    breakpointWithStatus: 0x20,
    thCallbackStack: 0x30,
    nextCallback: 0x32,
    framePointer: 0x34,
    paeEnabled: 0x36,
    kiCallUserMode: 0x38,
    psLoadedModuleList: 0x48,
    psActiveProcessHead: 0x50,
    pspCidTable: 0x58,
    keTimeIncrement: 0x78,
    mmSystemCacheStart: 0xa8,
    mmPfnDatabase: 0xc0,
    mmLowestPhysicalPage: 0xe8,
    mmHighestPhysicalPage: 0xf0,
    mmNumberOfPhysicalPages: 0xf8,
    mmNonPagedPoolStart: 0x110,
    mmNonPagedPoolEnd: 0x118,
    mmPagedPoolStart: 0x120,
    mmPagedPoolEnd: 0x128,
    mmPageSize: 0x138,
    mmZeroedPageListHead: 0x180,
    mmFreePageListHead: 0x188,
    mmStandbyPageListHead: 0x190,
    mmModifiedPageListHead: 0x198,
    mmModifiedNoWritePageListHead: 0x1a0,
    mmAvailablePages: 0x1a8,
    mmHighestUserAddress: 0x1c8,
    mmSystemRangeStart: 0x1d0,
    mmUserProbeAddress: 0x1d8,
    ntBuildLab: 0x208,
    kiProcessorBlock: 0x218,
    cmNtCSDVersion: 0x268,
    mmPhysicalMemoryBlock: 0x270,
    sizeEProcess: 0x2a8,
    offsetEprocessPeb: 0x2aa,
    offsetEprocessParentCID: 0x2ac,
    offsetEprocessDirectoryTableBase: 0x2ae,
    sizeEThread: 0x2c0,
    mmBadPagesDetected: 0x320,
  },
  /** 'KDBG' little-endian (V2 kdbg_vtypes.py is_valid). */
  kdbgTag: 0x4742444b,

  /** _DBGKD_GET_VERSION64 (V2 win7_sp1_x86_vtypes.py; S03 kdinit.c fills it, addresses sign-extended). */
  versionBlock: { size: 0x28, majorVersion: 0x0, minorVersion: 0x2, protocolVersion: 0x4, flags: 0x6, machineType: 0x8, maxStateChange: 0xb, maxManipulate: 0xc, kernBase: 0x10, psLoadedModuleList: 0x18, debuggerDataList: 0x20 },

  /** _KUSER_SHARED_DATA (V2 = NTD). Win7 has no NtBuildNumber here (0x248–0x263 is Reserved2[7]; NtBuildNumber @0x260 is Windows 10). */
  kuser: {
    kernelVa: 0xffdf0000,
    userVa: 0x7ffe0000,
    tickCountMultiplier: 0x4,
    interruptTime: 0x8,
    systemTime: 0x14,
    imageNumberLow: 0x2c,
    imageNumberHigh: 0x2e,
    ntSystemRoot: 0x30,
    ntProductType: 0x264,
    productTypeIsValid: 0x268,
    ntMajorVersion: 0x26c,
    ntMinorVersion: 0x270,
    processorFeatures: 0x274,
    suiteMask: 0x2d0,
    kdDebuggerEnabled: 0x2d4,
    nxSupportPolicy: 0x2d5,
    numberOfPhysicalPages: 0x2e8,
    systemCall: 0x300,
    systemCallReturn: 0x304,
    tickCount: 0x320,
    cookie: 0x330,
    activeProcessorCount: 0x3c0 as number,
    activeGroupCount: 0x3c4 as number,
    size: 0x5f0,
  },

  /** _KPCR / _KPRCB (V2): SelfPcr, Prcb, KdVersionBlock, PrcbData. */
  kpcr: { selfPcr: 0x1c, prcb: 0x20, irql: 0x24, kdVersionBlock: 0x34, majorVersion: 0x44, minorVersion: 0x46, prcbData: 0x120 },

  /** _KPROCESS (V2): Header (_DISPATCHER_HEADER Type 3, Size 0x26 dwords = 0x98 bytes; V2 win7.py DTBSignature 03 00 26 00). Affinity is a _KAFFINITY_EX (`affinity` below). */
  kprocess: { size: 0x98, headerType: 0x0, headerSize: 0x2, signalState: 0x4, waitListHead: 0x8, profileListHead: 0x10, directoryTableBase: 0x18, threadListHead: 0x2c, affinity: 0x38, basePriority: 0x60, processListEntry: 0x78 as number },
  /** _DISPATCHER_HEADER Type of a process (ProcessObject) and its Size in dwords. */
  processHeaderType: 3,
  processHeaderSize: 0x26,

  /** _EPROCESS (V2 both kernels up to 0x2bc; NTD). SizeEProcess 0x2c0 (the 7601.24000 PAE profile adds fields up to 0x2e0). */
  eprocess: {
    size: 0x2c0,
    createTime: 0xa0,
    uniqueProcessId: 0xb4,
    activeProcessLinks: 0xb8,
    virtualSize: 0xe0,
    objectTable: 0xf4,
    token: 0xf8,
    workingSetPage: 0xfc,
    sectionBaseAddress: 0x12c,
    inheritedFromUniqueProcessId: 0x140,
    pageDirectoryPte: 0x160,
    imageFileName: 0x16c,
    threadListHead: 0x188,
    paeTop: 0x194,
    activeThreads: 0x198,
    peb: 0x1a8,
    vm: 0x1f0,
    vmWorkingSetSize: 0x1f0 + 0x34,
    mmProcessLinks: 0x25c as number,
    flags: 0x270,
    exitStatus: 0x274,
    vadRoot: 0x278,
    /** XP only: VadHint, NumberOfVads. */
    vadHint: ABSENT as number,
    numberOfVads: ABSENT as number,
  },

  /** _MM_AVL_TABLE / _MMADDRESS_NODE (V2; MI_MAKE_PARENT packs a 2-bit balance into Parent: S03/WRK). */
  avl: { tableSize: 0x20 as number, parent: 0x0 as number, left: 0x4 as number, right: 0x8 as number, startingVpn: 0xc as number, endingVpn: 0x10 as number, depthAndCount: 0x14 as number, nodeHint: 0x18 as number, nodeFreeHint: 0x1c as number },
  /** The 8 standby lists by priority (MmStandbyPageListByPriority; KDBG's MmStandbyPageListHead points at the array: inferred). */
  standbyLists: 8,

  /** _MMVAD_SHORT 0x20, _MMVAD 0x3c, _MMVAD_LONG 0x48 (V2 both kernels; MPF _MMVAD32_7). */
  vad: { shortSize: 0x20, size: 0x3c, longSize: 0x48, flags: 0x14, pushLock: 0x18 as number, flags3: 0x1c as number, flags2: 0x20, subsection: 0x24 as number, controlArea: ABSENT as number, firstPrototypePte: 0x28, lastContiguousPte: 0x2c, viewLinks: 0x30 as number, vadsProcess: 0x38 as number },
  /** _MMVAD_FLAGS bits: CommitCharge 0–18, NoChange 19, VadType 20–22, MemCommit 23, Protection 24–28, PrivateMemory 31. */
  vadFlags: { commitChargeMask: 0x7ffff, vadTypeShift: 20, memCommit: (1 << 23) as number, protectionShift: 24, privateMemory: 0x80000000 },
  /** _MMVAD_FLAGS2: LongVad bit 28, Inherit 30, CopyOnWrite 31. */
  vadFlags2: { longVad: 1 << 28, inherit: 1 << 30, copyOnWrite: 0x80000000 },
  /** VadType (V2 plugins/vadinfo.py; MPF _MMVAD_TYPE). */
  vadType: { none: 0, imageMap: 2 as number },

  /** _CONTROL_AREA 0x50 (V2; MPF: FilePointer 0x24 on 32-bit up to 7601). */
  controlArea: { size: 0x50, segment: 0x0, dereferenceList: 0x4, numberOfSectionReferences: 0xc, numberOfPfnReferences: 0x10, numberOfMappedViews: 0x14, numberOfUserReferences: 0x18 as number, numberOfSubsections: ABSENT as number, flags: 0x1c as number, filePointer: 0x24, viewList: 0x48 as number },
  /** FilePointer is an _EX_FAST_REF (RefCnt in bits 0–2). */
  filePointerFastRef: true as boolean,
  /** _MMSECTION_FLAGS bits (V2): Image 5, File 7, Accessed 14. */
  sectionFlags: { image: 1 << 5, file: 1 << 7, commit: 1 << 13, accessed: 1 << 14 },
  /** _SUBSECTION 0x20 / _MSUBSECTION 0x38 (V2 non-PAE; the 7601.24000 PAE _MSUBSECTION is 0x3c). */
  subsection: { size: 0x20, msubsectionSize: 0x38 as number, controlArea: 0x0, subsectionBase: 0x4 as number, nextSubsection: 0x8 as number, ptesInSubsection: 0xc as number, flags: 0x14 as number, startingSector: 0x18 as number, numberOfFullSectors: 0x1c as number },
  /** _MMSUBSECTION_FLAGS.Protection: bits 1–5 (V2). */
  subsectionProtectionShift: 1 as number,
  /** _MAPPED_FILE_SEGMENT 0x20 (V2): the segment of a data-file control area (no prototype PTEs in it). */
  mappedFileSegment: { size: 0x20 as number, controlArea: 0x0, totalNumberOfPtes: 0x4, sizeOfSegment: 0x10 },

  /** _FILE_OBJECT 0x80 and _UNICODE_STRING 8 (V2). */
  fileObject: { size: 0x80, type: 0x0, size2: 0x2, deviceObject: 0x4, fsContext: 0xc, sectionObjectPointer: 0x14, flags: 0x2c, fileName: 0x30 },
  /** IO_TYPE_FILE (_FILE_OBJECT.Type). */
  fileObjectType: 5,
  /** _SECTION_OBJECT_POINTERS (V2): DataSectionObject, SharedCacheMap, ImageSectionObject. */
  sectionObjectPointers: { size: 0xc, dataSectionObject: 0x0, sharedCacheMap: 0x4, imageSectionObject: 0x8 },
  unicodeString: { size: 8, length: 0x0, maximumLength: 0x2, buffer: 0x4 },

  /** _POOL_HEADER (V2): u16 PreviousSize:9|PoolIndex:7, u16 BlockSize:9|PoolType:7 (8-byte units), tag @4. */
  poolHeader: { size: 8, blockSizeShift: 0, poolTypeShift: 9, tag: 0x4 },
  /** PoolType stored +1 for an allocated block (S03 pool.c): NonPagedPool 0 → 1, PagedPool 1 → 2. */
  poolTypeNonPaged: 1,
  poolTypePaged: 2,
  /**
   * _OBJECT_HEADER 0x18 up to Body (V2); optional headers below it in InfoMask order (V2 win7.py).
   * Windows 7 names the type by TypeIndex; Vista by a Type pointer and the quota header by
   * QuotaInfoOffset (its distance below the header).
   */
  objectHeader: { bodyOffset: 0x18, pointerCount: 0x0, handleCount: 0x4, typePointer: ABSENT as number, typeIndex: 0xc as number, quotaInfoOffset: ABSENT as number, infoMask: 0xe as number, flags: 0xf, quotaInfoSize: 0x10 },
  /** Object type indexes (V2 win7.py type_map). */
  objectType: { process: 7 as number, file: 28 as number },
  /** InfoMask QuotaInfo bit (V2 win7.py optional_header_mask). */
  infoMaskQuota: 0x08 as number,

  /** _LDR_DATA_TABLE_ENTRY 0x78 (V2). */
  ldrEntry: { size: 0x78, inLoadOrderLinks: 0x0, dllBase: 0x18, entryPoint: 0x1c, sizeOfImage: 0x20, fullDllName: 0x24, baseDllName: 0x2c, flags: 0x34, loadCount: 0x38 },
  /** _PHYSICAL_MEMORY_DESCRIPTOR / _PHYSICAL_MEMORY_RUN (V2). */
  physicalMemoryDescriptor: { numberOfRuns: 0x0, numberOfPages: 0x4, run: 0x8, runSize: 0x8 },
  /** _MMPFNLIST 0x14 (V2): Total, ListName, Flink, Blink (PFNs), Lock. */
  mmpfnlist: { size: 0x14, total: 0x0, listName: 0x4, flink: 0x8, blink: 0xc, lock: 0x10 as number },
  /** _TEB (V2 _TEB / _NT_TIB): StackBase, StackLimit, Self, ClientId, ProcessEnvironmentBlock. */
  teb: { stackBase: 0x4, stackLimit: 0x8, self: 0x18, clientId: 0x20, peb: 0x30 },
  /** _HEAP (V2): the segment signature 0xffeeffee at +8. */
  heap: { segmentSignature: 0x8 as number, heap: 0x18 as number, baseAddress: 0x1c as number, numberOfPages: 0x20 as number, signature: 0xffeeffee },
  /** _KAFFINITY_EX (V2): Count, Size, Reserved, Bitmap[1]. sizeof(_ETHREAD) 0x2b8, _HANDLE_TABLE 0x3c (V2). */
  affinity: { count: 0x0 as number, size: 0x2 as number, bitmap: 0x8 },
  ethreadSize: 0x2b8,
  handleTableSize: 0x3c,
  /** _PEB fields (V2). */
  peb: { imageBaseAddress: 0x8, ldr: 0xc, processParameters: 0x10, processHeap: 0x18, numberOfProcessors: 0x64, numberOfHeaps: 0x88, maximumNumberOfHeaps: 0x8c, processHeaps: 0x90, osMajorVersion: 0xa4, osMinorVersion: 0xa8, osBuildNumber: 0xac, osPlatformId: 0xb0 },
} as const;

type Widen<T> = T extends number ? number : T extends string ? string : { -readonly [K in keyof T]: Widen<T[K]> };
/** The paging-independent half of a build's layout (W7, VISTA2). */
export type WinGenBuild = Widen<typeof W7>;

/**
 * Windows Vista SP2 x86 (6002), from V2V (every value read there; NTDV agrees on _MMPFN). Against
 * W7: _KPROCESS 0x80 (Header.Size 0x20; Affinity a plain ULONG), _EPROCESS fields moved, _MMVAD
 * 0x30 (no ViewLinks/VadsProcess), _CONTROL_AREA 0x48 (no ViewList), _MMPFNLIST 0x10 (no Lock),
 * _OBJECT_HEADER with a Type pointer and QuotaInfoOffset, _KUSER_SHARED_DATA 0x3b8 (no
 * ActiveProcessorCount / ActiveGroupCount), KDBG 0x330.
 */
export const VISTA2: WinGenBuild = {
  ...W7,
  name: 'Windows Vista SP2 x86',
  build: 6002,
  ntMajor: 6,
  ntMinor: 0,
  /** 0xF0000000 | 6002 (free build; S03 kdinit.c). */
  ntBuildNumber: 0xf000176a,
  /** The SP2 RTM kernel's build lab (6002.18005, 2009-04-10) (inferred: the string is not in V2V; only its first field, the build, is read). */
  ntBuildLab: '6002.18005.x86fre.lh_sp2rtm.090410-1830',
  csdVersion: 0x200,
  /** KDBG: same fields (kdbg_vtypes.py), Header.Size 0x330 (V2 vista.py VistaSP1KDBG, build >= 6001). */
  kdbg: { ...W7.kdbg, size: 0x330 },
  kuser: { ...W7.kuser, activeProcessorCount: ABSENT, activeGroupCount: ABSENT, size: 0x3b8 },
  /** _KPROCESS 0x80 (V2V; vista.py Vistax86DTB 03 00 20 00): Affinity a ULONG at 0x5c. */
  kprocess: { size: 0x80, headerType: 0x0, headerSize: 0x2, signalState: 0x4, waitListHead: 0x8, profileListHead: 0x10, directoryTableBase: 0x18, threadListHead: 0x50, affinity: 0x5c, basePriority: 0x64, processListEntry: 0x70 },
  processHeaderSize: 0x20,
  /** _EPROCESS 0x270 (V2V); Vm 0x1d0, Vm.WorkingSetSize at +0x38. */
  eprocess: {
    size: 0x270,
    createTime: 0x88,
    uniqueProcessId: 0x9c,
    activeProcessLinks: 0xa0,
    virtualSize: 0xc8,
    objectTable: 0xdc,
    token: 0xe0,
    workingSetPage: 0xe4,
    sectionBaseAddress: 0x114,
    inheritedFromUniqueProcessId: 0x124,
    pageDirectoryPte: 0x140,
    imageFileName: 0x14c,
    threadListHead: 0x168,
    paeTop: 0x174,
    activeThreads: 0x178,
    peb: 0x188,
    vm: 0x1d0,
    vmWorkingSetSize: 0x1d0 + 0x38,
    mmProcessLinks: 0x218,
    flags: 0x228,
    exitStatus: 0x22c,
    vadRoot: 0x238,
    vadHint: ABSENT,
    numberOfVads: ABSENT,
  },
  /** _MMVAD_SHORT 0x20, _MMVAD 0x30, _MMVAD_LONG 0x3c (u3 list at 0x30) (V2V). */
  vad: { ...W7.vad, size: 0x30, longSize: 0x3c, viewLinks: ABSENT, vadsProcess: ABSENT },
  /** _CONTROL_AREA 0x48 (V2V): FilePointer _EX_FAST_REF 0x24; no ViewList. */
  controlArea: { ...W7.controlArea, size: 0x48, viewList: ABSENT },
  /** _MAPPED_FILE_SEGMENT 0x28 (V2V; fields used at the W7 offsets). */
  mappedFileSegment: { ...W7.mappedFileSegment, size: 0x28 },
  /** _OBJECT_HEADER (V2V): Type pointer 0x8, QuotaInfoOffset 0xe; Body 0x18. */
  objectHeader: { ...W7.objectHeader, typePointer: 0x8, typeIndex: ABSENT, quotaInfoOffset: 0xe, infoMask: ABSENT },
  objectType: { process: ABSENT, file: ABSENT },
  infoMaskQuota: ABSENT,
  /** _LDR_DATA_TABLE_ENTRY 0x68 (V2V; the fields used are at the W7 offsets). */
  ldrEntry: { ...W7.ldrEntry, size: 0x68 },
  /** _MMPFNLIST 0x10 (V2V): no Lock. */
  mmpfnlist: { ...W7.mmpfnlist, size: 0x10, lock: ABSENT },
  /** _KPROCESS.Affinity is a ULONG (V2V): the mask at +0. */
  affinity: { count: ABSENT, size: ABSENT, bitmap: 0x0 },
  ethreadSize: 0x288,
  handleTableSize: 0x38,
};

/** PageLocation / MMLISTS (V2 _MMPFNLIST.ListName; MPF mm_pfn.h). */
export const PageLocation = { Zeroed: 0, Free: 1, Standby: 2, Modified: 3, ModifiedNoWrite: 4, Bad: 5, Active: 6, Transition: 7 } as const;

/** MM_EMPTY_LIST: the end of a PFN list (S03 pfnlist.c; WRK i386 mi386.h). */
export const MM_EMPTY_LIST = 0xffffffff;

/**
 * Page protections as the MM encodes them in software PTEs (bits 5–9) and VadFlags.Protection
 * (MM_READONLY 1, MM_EXECUTE 2, MM_EXECUTE_READ 3, MM_READWRITE 4, MM_WRITECOPY 5,
 * MM_EXECUTE_READWRITE 6, MM_EXECUTE_WRITECOPY 7).
 */
export const MmProtect = { readOnly: 1, execute: 2, executeRead: 3, readWrite: 4, writeCopy: 5, executeReadWrite: 6, executeWriteCopy: 7 } as const;

/**
 * Windows PTE formats on x86 (V2 _MMPTE_* both kernels; MPF mm_win.c decoders):
 * - valid: P=1; bit 11 is the MP kernels' software Write bit (V2 _MMPTE_HARDWARE.Write).
 * - transition: P=0, Prototype(10)=0, Transition(11)=1, Protection 5–9, frame in 12+.
 * - prototype: P=0, bit 10 = 1. Non-PAE: ProtoAddressLow bits 1–8 = address bits 2–9,
 *   ProtoAddressHigh bits 11–31 = address bits 10–30, base 0x80000000 (MPF MMWINX86_PTE_PROTOTYPE).
 *   PAE: ProtoAddress = bits 32–63 (the VA), Protection 11–15. "Look up the VAD" = address field all
 *   ones (MPF: 0xfffff non-PAE, 0xffffffff PAE).
 * - subsection (a prototype PTE of a non-resident section page): P=0, bit 10 = 1. PAE:
 *   SubsectionAddress bits 32–63. Non-PAE: SubsectionAddressLow bits 1–9, High 11–31; the base and
 *   scale used here (0x80000000, address bits 1–30 as for prototypes) are (inferred).
 */
export const WinPte = {
  valid: 0x1,
  write: 0x2,
  owner: 0x4,
  accessed: 0x20,
  dirty: 0x40,
  large: 0x80,
  global: 0x100,
  copyOnWrite: 0x200,
  prototype: 0x400,
  transition: 0x800,
  swWrite: 0x800,
  protectionShift: 5,
  paeProtoProtectionShift: 11,
  nxHi: 0x80000000,
  /** Kernel page-directory entries (MPF VmmWinInit_DTB_FindValidate_X86 counts entries with low byte 0x63 / 0xe3). */
  kernelPde: 0x63,
  /** User page-directory entries (MPF: PDE 0 of the System directory has low byte 0x67). */
  userPde: 0x67,
} as const;

export const WIN7_SP1_X86: Win7Layout = Object.freeze({
  kernel: 'ntkrnlmp.exe',
  pae: false,
  pteSize: 4,
  mmpfn: Object.freeze({ size: 0x18, u1: 0x0, u2: 0x4, pteAddress: 0x8, u3RefCount: 0xc, e1: 0xe, e2: 0xf, originalPte: 0x10, u4: 0x14 }),
  pfnFormat: 'nt6',
  segment: Object.freeze({ controlArea: 0x0, totalNumberOfPtes: 0x4, segmentFlags: 0x8, numberOfCommittedPages: 0xc, sizeOfSegment: 0x10, prototypePte: 0x28, thePtes: 0x2c }),
  pteBase: 0xc0000000,
  pdeBase: 0xc0300000,
  selfMapPde: 0xc0300c00,
  hyperSpace: 0xc0400000,
  workingSetList: 0xc0502000,
}) as Win7Layout;

export const WIN7_SP1_X86_PAE: Win7Layout = Object.freeze({
  kernel: 'ntkrpamp.exe',
  pae: true,
  pteSize: 8,
  mmpfn: Object.freeze({ size: 0x1c, u1: 0x0, u2: 0x4, pteAddress: 0x8, u3RefCount: 0xc, e1: 0xe, e2: 0xf, originalPte: 0x10, u4: 0x18 }),
  pfnFormat: 'nt6',
  segment: Object.freeze({ controlArea: 0x0, totalNumberOfPtes: 0x4, segmentFlags: 0x8, numberOfCommittedPages: 0xc, sizeOfSegment: 0x10, prototypePte: 0x28, thePtes: 0x30 }),
  pteBase: 0xc0000000,
  pdeBase: 0xc0600000,
  selfMapPde: 0xc0603018,
  hyperSpace: 0xc0800000,
  workingSetList: 0xc0902000,
}) as Win7Layout;

/** Vista SP2 non-PAE (ntkrnlmp 6002): _MMPFN, _SEGMENT and the self-map as Windows 7's non-PAE kernel (V2V, NTDV _MMPFN.h). */
export const VISTA_SP2_X86: Win7Layout = Object.freeze({
  kernel: 'ntkrnlmp.exe',
  pae: false,
  pteSize: 4, // _MMPTE 0x4 (V2V)
  mmpfn: Object.freeze({ size: 0x18, u1: 0x0, u2: 0x4, pteAddress: 0x8, u3RefCount: 0xc, e1: 0xe, e2: 0xf, originalPte: 0x10, u4: 0x14 }), // V2V, NTDV
  pfnFormat: 'nt6',
  segment: Object.freeze({ controlArea: 0x0, totalNumberOfPtes: 0x4, segmentFlags: 0x8, numberOfCommittedPages: 0xc, sizeOfSegment: 0x10, prototypePte: 0x28, thePtes: 0x2c }), // _SEGMENT 0x30 (V2V)
  pteBase: 0xc0000000,
  pdeBase: 0xc0300000,
  selfMapPde: 0xc0300c00,
  hyperSpace: 0xc0400000,
  workingSetList: 0xc0502000,
}) as Win7Layout;

/**
 * Windows XP SP3 x86 (2600), from V2X: volatility 2 @328a178e overlays/windows/xp_sp3_x86_vtypes.py
 * (ntkrnlmp, non-PAE) and xp.py (KDBG 0x290, DTB signature 03 00 1b 00); MPF mm_vad.c
 * `_MMVAD32_XP` agrees on the VAD node. Against VISTA2: _KPROCESS 0x6c (no ProcessListEntry),
 * _EPROCESS fields moved (no MmProcessLinks; VadRoot a pointer to the root _MMVAD, NumberOfVads at
 * 0x240), VAD nodes StartingVpn/EndingVpn first then Parent/LeftChild/RightChild (no balance bits,
 * no _MM_AVL_TABLE), _MMVAD_FLAGS.ImageMap (bit 20; MemCommit bit 30), _MMVAD.ControlArea (no
 * Subsection), _CONTROL_AREA 0x30 (Flags 0x20, FilePointer a plain pointer), _SUBSECTION fields
 * moved (Protection bits 4–8 of u at 0x4), no _MSUBSECTION / _MAPPED_FILE_SEGMENT (a data file's
 * prototype PTEs are its _SEGMENT's), _SEGMENT 0x40 (PrototypePte 0x34, ThePtes 0x38), one standby
 * list, KDBG 0x290 (nothing from 0x290 on: no SizeEProcess/Offset… fields), _KUSER_SHARED_DATA
 * 0x338. XP has no published PAE (ntkrnlpa) layout in these sources: XP is written non-PAE only.
 */
export const XP3: WinGenBuild = {
  ...VISTA2,
  name: 'Windows XP SP3 x86',
  build: 2600,
  ntMajor: 5,
  ntMinor: 1,
  /** 0xF0000000 | 2600 (free build; S03 kdinit.c). */
  ntBuildNumber: 0xf0000a28,
  /** The SP3 RTM kernel's build lab (inferred: not in V2X; only its first field, the build, is read). */
  ntBuildLab: '2600.xpsp.080413-2111',
  csdVersion: 0x300,
  /** KDBG: the same fields up to 0x290 (kdbg_vtypes.py), Header.Size 0x290 (V2 windows.py AbstractKDBGMod, xp.py). */
  kdbg: { ...W7.kdbg, size: 0x290 },
  kuser: { ...W7.kuser, activeProcessorCount: ABSENT, activeGroupCount: ABSENT, size: 0x338 },
  /** _KPROCESS 0x6c (V2X; xp.py DTBSignature 03 00 1b 00): DirectoryTableBase[2] at 0x18, Affinity a ULONG. */
  kprocess: { size: 0x6c, headerType: 0x0, headerSize: 0x2, signalState: 0x4, waitListHead: 0x8, profileListHead: 0x10, directoryTableBase: 0x18, threadListHead: 0x50, affinity: 0x5c, basePriority: 0x62, processListEntry: ABSENT },
  processHeaderSize: 0x1b,
  /** _EPROCESS 0x260 (V2X); Vm 0x1f8, Vm.WorkingSetSize at +0x14. */
  eprocess: {
    size: 0x260,
    createTime: 0x70,
    uniqueProcessId: 0x84,
    activeProcessLinks: 0x88,
    virtualSize: 0xb0,
    objectTable: 0xc4,
    token: 0xc8,
    workingSetPage: 0xec,
    sectionBaseAddress: 0x13c,
    inheritedFromUniqueProcessId: 0x14c,
    pageDirectoryPte: 0x168,
    imageFileName: 0x174,
    threadListHead: 0x190,
    paeTop: 0x19c,
    activeThreads: 0x1a0,
    peb: 0x1b0,
    vm: 0x1f8,
    vmWorkingSetSize: 0x1f8 + 0x14,
    mmProcessLinks: ABSENT,
    flags: 0x248,
    exitStatus: 0x24c,
    vadRoot: 0x11c,
    vadHint: 0x120,
    numberOfVads: 0x240,
  },
  /** VAD nodes (V2X _MMVAD_SHORT; MPF _MMVAD32_XP): no _MM_AVL_TABLE (tableSize ABSENT), VadRoot → the root node. */
  avl: { tableSize: ABSENT, parent: 0x8, left: 0xc, right: 0x10, startingVpn: 0x0, endingVpn: 0x4, depthAndCount: ABSENT, nodeHint: ABSENT, nodeFreeHint: ABSENT },
  standbyLists: 1,
  /** _MMVAD_SHORT 0x18, _MMVAD 0x28, _MMVAD_LONG 0x34 (u3 at 0x28) (V2X). */
  vad: { shortSize: 0x18, size: 0x28, longSize: 0x34, flags: 0x14, pushLock: ABSENT, flags3: ABSENT, flags2: 0x24, subsection: ABSENT, controlArea: 0x18, firstPrototypePte: 0x1c, lastContiguousPte: 0x20, viewLinks: ABSENT, vadsProcess: ABSENT },
  /** _MMVAD_FLAGS (V2X; MPF): CommitCharge 0–18, ImageMap 20, Protection 24–28, MemCommit 30, PrivateMemory 31. */
  vadFlags: { commitChargeMask: 0x7ffff, vadTypeShift: 20, memCommit: 1 << 30, protectionShift: 24, privateMemory: 0x80000000 },
  /** ImageMap is one bit: 1 at vadTypeShift. */
  vadType: { none: 0, imageMap: 1 },
  /** _CONTROL_AREA 0x30 (V2X): NumberOfSubsections u16 0x18, NumberOfUserReferences 0x1c, Flags 0x20, FilePointer 0x24 (a _FILE_OBJECT *). */
  controlArea: { size: 0x30, segment: 0x0, dereferenceList: 0x4, numberOfSectionReferences: 0xc, numberOfPfnReferences: 0x10, numberOfMappedViews: 0x14, numberOfUserReferences: 0x1c, numberOfSubsections: 0x18, flags: 0x20, filePointer: 0x24, viewList: ABSENT },
  filePointerFastRef: false,
  /** _SUBSECTION 0x20 (V2X); no _MSUBSECTION (msubsectionSize: a data file's subsections are _SUBSECTIONs). */
  subsection: { size: 0x20, msubsectionSize: 0x20, controlArea: 0x0, subsectionBase: 0x10, nextSubsection: 0x1c, ptesInSubsection: 0x18, flags: 0x4, startingSector: 0x8, numberOfFullSectors: 0xc },
  /** _MMSUBSECTION_FLAGS.Protection bits 4–8 (V2X). */
  subsectionProtectionShift: 4,
  /** No _MAPPED_FILE_SEGMENT in V2X: a data file's control area has a _SEGMENT with its prototype PTEs. */
  mappedFileSegment: { ...W7.mappedFileSegment, size: ABSENT },
  /** _LDR_DATA_TABLE_ENTRY 0x50 (V2X; the fields used at the W7 offsets). */
  ldrEntry: { ...W7.ldrEntry, size: 0x50 },
  /** _FILE_OBJECT 0x70 (V2X; the fields used at the W7 offsets). */
  fileObject: { ...W7.fileObject, size: 0x70 },
  /** _HEAP (V2X): Signature at 0x8, but its value is not in V2X and the segment fields differ: no heap header written (ABSENT). */
  heap: { segmentSignature: ABSENT, heap: ABSENT, baseAddress: ABSENT, numberOfPages: ABSENT, signature: 0 },
  ethreadSize: 0x258,
  handleTableSize: 0x44,
};

/** XP SP3 non-PAE (ntkrnlmp 2600): _MMPFN (V2X) in the 'nt5' format, _SEGMENT 0x40, the non-PAE self-map. */
export const XP_SP3_X86: Win7Layout = Object.freeze({
  kernel: 'ntkrnlmp.exe',
  pae: false,
  pteSize: 4, // _MMPTE 0x4 (V2X)
  // u1 Flink 0, PteAddress 4, u2 Blink 8, u3.e1 ULONG 0xc (e2 ReferenceCount u16 at 0xe), OriginalPte 0x10, u4 0x14 (V2X).
  mmpfn: Object.freeze({ size: 0x18, u1: 0x0, u2: 0x8, pteAddress: 0x4, u3RefCount: 0xe, e1: 0xc, e2: ABSENT, originalPte: 0x10, u4: 0x14 }),
  pfnFormat: 'nt5',
  // _SEGMENT 0x40 (V2X): SegmentPteTemplate 0x18, NumberOfCommittedPages 0x1c, PrototypePte 0x34, ThePtes 0x38; no SegmentFlags (NonExtendedPtes at 0x8).
  segment: Object.freeze({ controlArea: 0x0, totalNumberOfPtes: 0x4, segmentFlags: ABSENT, numberOfCommittedPages: 0x1c, sizeOfSegment: 0x10, prototypePte: 0x34, thePtes: 0x38 }),
  pteBase: 0xc0000000,
  pdeBase: 0xc0300000,
  selfMapPde: 0xc0300c00,
  hyperSpace: 0xc0400000,
  workingSetList: 0xc0502000,
}) as Win7Layout;

/** Pool tags as little-endian u32 of their 4 characters; protected tags have bit 31 set (V2 windows.py PoolTagModification: Win7's 'Proc', 'File' ... are protected). */
export function poolTag(s: string, protectedTag = false): number {
  const b = Buffer.from(s, 'latin1');
  return (b.readUInt32LE(0) | (protectedTag ? 0x80000000 : 0)) >>> 0;
}
