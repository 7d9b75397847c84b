/**
 * The Windows offset tables (src/introspect/windows/offsets.ts) against the published layouts they
 * cite: every value here was read again from volatility's win7_sp1_x86_vtypes.py (non-PAE),
 * win7_sp1_x86_24000_vtypes.py (PAE), win7_sp0_x86_vtypes.py, vista_sp2_x86_vtypes.py (+ vista.py
 * for the KDBG size and DTB signature), xp_sp3_x86_vtypes.py (+ xp.py) and kdbg_vtypes.py /
 * volatility3 kdbg.json; the
 * cross-structure facts hold for every table; the generator's own tables agree on every shared offset.
 */
import test from 'ava';
import { assertLayout, BITS, IO_TYPE_FILE, KDBG, KDBG_SIZES, KUSER, layoutFor, LAYOUTS, VAD_TYPE_IMAGE_MAP, VISTA_SP2_X86, WIN7_SP0_X86, WIN7_SP1_X86, WIN7_SP1_X86_PAE, WindowsLayout, XP_SP3_X86 } from '../../../src/introspect/windows/offsets.js';
import { PfnDatabase } from '../../helpers/windows7-memory.js';
import { ABSENT, VISTA2, VISTA_SP2_X86 as GEN_VISTA, W7, WIN7_SP1_X86 as GEN_NONPAE, WIN7_SP1_X86_PAE as GEN_PAE, Win7Layout, WinGenBuild, XP3, XP_SP3_X86 as GEN_XP } from '../../helpers/windows7-offsets.js';

test('_KDDEBUGGER_DATA64 fields (kdbg.json / kdbg_vtypes.py)', (t) => {
  t.like(KDBG, {
    size: 0x340, listFlink: 0x0, listBlink: 0x4, listUpper: 0x8, ownerTag: 0x10, headerSize: 0x14, kernBase: 0x18, psLoadedModuleList: 0x48, psActiveProcessHead: 0x50,
    mmPfnDatabase: 0xc0, mmSubsectionBase: 0xd8, mmLowestPhysicalPage: 0xe8, mmHighestPhysicalPage: 0xf0, mmNumberOfPhysicalPages: 0xf8, mmNonPagedPoolStart: 0x110, mmNonPagedPoolEnd: 0x118, mmPagedPoolStart: 0x120, mmPagedPoolEnd: 0x128, mmSystemRangeStart: 0x1d0,
    ntBuildLab: 0x208, cmNtCSDVersion: 0x268, mmPhysicalMemoryBlock: 0x270, sizeEProcess: 0x2a8, offsetEprocessPeb: 0x2aa, offsetEprocessDirectoryTableBase: 0x2ae,
  });
});

test('_KUSER_SHARED_DATA (Windows 7 x86: no NtBuildNumber)', (t) => {
  t.like(KUSER, { size: 0x5f0, imageNumberLow: 0x2c, imageNumberHigh: 0x2e, ntSystemRoot: 0x30, ntProductType: 0x264, productTypeIsValid: 0x268, ntMajorVersion: 0x26c, ntMinorVersion: 0x270, numberOfPhysicalPages: 0x2e8 });
  t.false('ntBuildNumber' in KUSER);
});

const common = (l: WindowsLayout) => ({
  eprocess: { directoryTableBase: 0x18, uniqueProcessId: 0xb4, activeProcessLinks: 0xb8, inheritedFromUniqueProcessId: 0x140, imageFileName: 0x16c, peb: 0x1a8, vadRoot: 0x278 },
  mmAvlTable: { size: 0x20, balancedRootRightChild: 0x8, numberGenericTableElements: 0x14 },
  mmvadShort: { size: 0x20, parent: 0x0, leftChild: 0x4, rightChild: 0x8, startingVpn: 0xc, endingVpn: 0x10, vadFlags: 0x14 },
  mmvad: { size: 0x3c, section: 0x24, firstPrototypePte: 0x28, lastContiguousPte: 0x2c },
  vad: { rootPointer: 0x8, vadRootBytes: 0x20, image: { shift: 20, mask: 7, value: 2 }, sectionPointer: 'subsection', filePointerMask: 0xfffffff8 },
  subsection: { size: 0x20, controlArea: 0x0, subsectionBase: 0x4, nextSubsection: 0x8, ptesInSubsection: 0xc },
  controlArea: { size: 0x50, segment: 0x0, flags: 0x1c, filePointer: 0x24 },
  segment: { totalNumberOfPtes: 0x4, prototypePte: 0x28 },
  fileObject: { size: 0x80, type: 0x0, fileName: 0x30 },
  unicodeString: { size: 0x8, length: 0x0, maximumLength: 0x2, buffer: 0x4 },
  dispatcherHeader: { type: 0x0, headerSize: 0x2 },
  kdbgSize: 0x340,
  imageFileNameBytes: 15,
  name: l.name,
});

test('Windows 7 SP1 x86 non-PAE (win7_sp1_x86_vtypes.py)', (t) => {
  t.like(WIN7_SP1_X86, common(WIN7_SP1_X86));
  t.like(WIN7_SP1_X86, { build: 7601, pae: false, mmpteBytes: 4, selfMapBase: 0xc0000000, selfMapEnd: 0xc0400000, pdSelfMap: 0xc0300000 });
  t.like(WIN7_SP1_X86.mmpfn, { size: 0x18, flink: 0x0, blink: 0x4, pteAddress: 0x8, referenceCount: 0xc, e1: 0xe, originalPte: 0x10, u4: 0x14 });
  t.deepEqual(WIN7_SP1_X86.pfnBits, { pageLocationByte: 0xe, priorityByte: 0xf, prototypePte: [0x14, 27], pteFrame: [0x14, 0x1ffffff] });
  t.is(WIN7_SP1_X86.eprocess.size, 0x2c0);
  t.is(WIN7_SP1_X86.segment.size, 0x30);
});

test('Windows 7 SP1 x86 PAE (win7_sp1_x86_24000_vtypes.py): 8-byte OriginalPte, u4 at 0x18', (t) => {
  t.like(WIN7_SP1_X86_PAE, common(WIN7_SP1_X86_PAE));
  t.like(WIN7_SP1_X86_PAE, { build: 7601, pae: true, mmpteBytes: 8, selfMapBase: 0xc0000000, selfMapEnd: 0xc0800000, pdSelfMap: 0xc0600000, pdSelfMapEnd: 0xc0604000 });
  t.like(WIN7_SP1_X86_PAE.mmpfn, { size: 0x1c, flink: 0x0, blink: 0x4, pteAddress: 0x8, e1: 0xe, originalPte: 0x10, u4: 0x18 });
  t.deepEqual(WIN7_SP1_X86_PAE.pfnBits, { pageLocationByte: 0xe, priorityByte: 0xf, prototypePte: [0x18, 27], pteFrame: [0x18, 0x1ffffff] });
  t.is(WIN7_SP1_X86_PAE.segment.size, 0x38);
});

test('Windows 7 SP0 x86 non-PAE (win7_sp0_x86_vtypes.py) equals SP1 but for the build', (t) => {
  t.like(WIN7_SP0_X86, common(WIN7_SP0_X86));
  t.is(WIN7_SP0_X86.build, 7600);
  t.deepEqual(WIN7_SP0_X86.mmpfn, WIN7_SP1_X86.mmpfn);
});

test('Windows Vista SP2 x86 non-PAE (vista_sp2_x86_vtypes.py, vista.py)', (t) => {
  const l = VISTA_SP2_X86;
  t.like(l, { name: 'Windows Vista SP2 x86 (6002), non-PAE', major: 6, minor: 0, build: 6002, pae: false, kdbgSize: 0x330, mmpteBytes: 4, kprocessHeaderSize: 0x20, imageFileNameBytes: 16 });
  t.like(l, { selfMapBase: 0xc0000000, selfMapEnd: 0xc0400000, pdSelfMap: 0xc0300000, pdSelfMapEnd: 0xc0301000 });
  t.like(l.dispatcherHeader, { type: 0x0, headerSize: 0x2 });
  t.like(l.eprocess, { size: 0x270, directoryTableBase: 0x18, uniqueProcessId: 0x9c, activeProcessLinks: 0xa0, inheritedFromUniqueProcessId: 0x124, imageFileName: 0x14c, peb: 0x188, vadRoot: 0x238 });
  t.like(l.mmpfn, { size: 0x18, flink: 0x0, blink: 0x4, pteAddress: 0x8, referenceCount: 0xc, e1: 0xe, originalPte: 0x10, u4: 0x14 });
  t.deepEqual(l.pfnBits, { pageLocationByte: 0xe, priorityByte: 0xf, prototypePte: [0x14, 27], pteFrame: [0x14, 0x1ffffff] });
  t.like(l.mmAvlTable, { size: 0x20, balancedRootRightChild: 0x8, numberGenericTableElements: 0x14 });
  t.like(l.vad, { rootPointer: 0x8, vadRootBytes: 0x20, image: { shift: 20, mask: 7, value: 2 }, sectionPointer: 'subsection', filePointerMask: 0xfffffff8 });
  t.like(l.mmvadShort, { size: 0x20, parent: 0x0, leftChild: 0x4, rightChild: 0x8, startingVpn: 0xc, endingVpn: 0x10, vadFlags: 0x14 });
  t.like(l.mmvad, { size: 0x30, section: 0x24, firstPrototypePte: 0x28, lastContiguousPte: 0x2c });
  t.like(l.subsection, { size: 0x20, controlArea: 0x0, subsectionBase: 0x4, nextSubsection: 0x8, ptesInSubsection: 0xc });
  t.like(l.controlArea, { size: 0x48, segment: 0x0, flags: 0x1c, filePointer: 0x24 });
  t.like(l.segment, { size: 0x30, totalNumberOfPtes: 0x4, prototypePte: 0x28 });
  t.like(l.fileObject, { size: 0x80, type: 0x0, fileName: 0x30 });
  t.like(l.unicodeString, { size: 0x8, length: 0x0, maximumLength: 0x2, buffer: 0x4 });
  t.is(KDBG_SIZES.get(0x330), 'Windows Vista SP1/SP2 / Server 2008');
  // Windows 7's _KPROCESS signature is not Vista's: the scan looks for both.
  t.is(WIN7_SP1_X86.kprocessHeaderSize, 0x26);
});

test('Windows XP SP3 x86 non-PAE (xp_sp3_x86_vtypes.py, xp.py): the NT 5.1 shapes', (t) => {
  const l = XP_SP3_X86;
  t.like(l, { name: 'Windows XP SP3 x86 (2600), non-PAE', major: 5, minor: 1, build: 2600, pae: false, kdbgSize: 0x290, mmpteBytes: 4, kprocessHeaderSize: 0x1b, imageFileNameBytes: 16 });
  t.like(l, { selfMapBase: 0xc0000000, selfMapEnd: 0xc0400000, pdSelfMap: 0xc0300000, pdSelfMapEnd: 0xc0301000 });
  t.like(l.eprocess, { size: 0x260, directoryTableBase: 0x18, uniqueProcessId: 0x84, activeProcessLinks: 0x88, inheritedFromUniqueProcessId: 0x14c, imageFileName: 0x174, peb: 0x1b0, vadRoot: 0x11c });
  t.like(l.mmpfn, { size: 0x18, flink: 0x0, pteAddress: 0x4, blink: 0x8, e1: 0xc, referenceCount: 0xe, originalPte: 0x10, u4: 0x14 });
  // u3.e1 a ULONG: PrototypePte bit 3, PageLocation bits 8–10; u4 PteFrame 26 bits; no priority.
  t.deepEqual(l.pfnBits, { pageLocationByte: 0xd, prototypePte: [0xc, 3], pteFrame: [0x14, 0x3ffffff] });
  t.is(l.mmAvlTable, undefined);
  t.like(l.vad, { rootPointer: 0, vadRootBytes: 4, image: { shift: 20, mask: 1, value: 1 }, sectionPointer: 'controlArea', filePointerMask: 0xffffffff });
  t.like(l.mmvadShort, { size: 0x18, startingVpn: 0x0, endingVpn: 0x4, parent: 0x8, leftChild: 0xc, rightChild: 0x10, vadFlags: 0x14 });
  t.like(l.mmvad, { size: 0x28, section: 0x18, firstPrototypePte: 0x1c, lastContiguousPte: 0x20 });
  t.like(l.subsection, { size: 0x20, controlArea: 0x0, subsectionBase: 0x10, ptesInSubsection: 0x18, nextSubsection: 0x1c });
  t.like(l.controlArea, { size: 0x30, segment: 0x0, flags: 0x20, filePointer: 0x24 });
  t.like(l.segment, { size: 0x40, totalNumberOfPtes: 0x4, prototypePte: 0x34 });
  t.like(l.fileObject, { size: 0x70, type: 0x0, fileName: 0x30 });
  t.is(KDBG_SIZES.get(0x290), 'Windows XP');
});

test('bit fields (_MMPFNENTRY, u4, _MMVAD_FLAGS, _MMSECTION_FLAGS)', (t) => {
  t.like(BITS, { pageLocationMask: 7, priorityMask: 7, privateMemoryBit: 31, avlElementsShift: 8, sectionImageBit: 5, sectionFileBit: 7, fastRefMask: 7 });
  for (const l of [WIN7_SP1_X86, WIN7_SP1_X86_PAE, WIN7_SP0_X86, VISTA_SP2_X86]) {
    // Vista/7: PteFrame u4 bits 0–24, PrototypePte u4 bit 27; VadType bits 20–22 == VadImageMap.
    t.deepEqual(l.pfnBits.pteFrame, [l.mmpfn.u4, 0x1ffffff], l.name);
    t.deepEqual(l.pfnBits.prototypePte, [l.mmpfn.u4, 27], l.name);
    t.deepEqual(l.vad.image, { shift: 20, mask: 7, value: VAD_TYPE_IMAGE_MAP }, l.name);
  }
});

test('every table passes its cross-structure checks; a broken one is refused', (t) => {
  for (const l of LAYOUTS) t.notThrows(() => assertLayout(l), l.name);
  t.throws(() => assertLayout({ ...WIN7_SP1_X86_PAE, mmpfn: { ...WIN7_SP1_X86_PAE.mmpfn, u4: 0x14 } }), { message: /OriginalPte overlaps u4/ });
  t.throws(() => assertLayout({ ...WIN7_SP1_X86, pdSelfMap: 0xc0600000 }), { message: /self-map/ });
});

test('layoutFor: by build and paging kernel; SP0 PAE has no verified table', (t) => {
  t.is(layoutFor(7601, false), WIN7_SP1_X86);
  t.is(layoutFor(7601, true), WIN7_SP1_X86_PAE);
  t.is(layoutFor(7600, false), WIN7_SP0_X86);
  t.is(layoutFor(7600, true), undefined);
  t.is(layoutFor(6002, false), VISTA_SP2_X86);
  t.is(layoutFor(6002, true), undefined, 'no published Vista PAE (ntkrpamp) layout');
  t.is(layoutFor(6001, false), undefined);
  t.is(layoutFor(2600, false), XP_SP3_X86);
  t.is(layoutFor(2600, true), undefined, 'no published XP PAE (ntkrnlpa) layout');
  t.is(layoutFor(9600, false), undefined);
});

test('the generator (test/helpers/windows7-offsets.ts, written apart from the same sources) agrees on every shared offset', (t) => {
  const g = W7;
  const pairs: [string, number, number][] = [];
  const add = (what: string, mine: number, theirs: number) => pairs.push([what, mine, theirs]);
  for (const k of ['listFlink', 'listBlink', 'ownerTag', 'kernBase', 'psLoadedModuleList', 'psActiveProcessHead', 'mmPfnDatabase', 'mmLowestPhysicalPage', 'mmHighestPhysicalPage', 'mmNumberOfPhysicalPages', 'mmNonPagedPoolStart', 'mmNonPagedPoolEnd', 'mmPagedPoolStart', 'mmPagedPoolEnd', 'mmSystemRangeStart', 'ntBuildLab', 'cmNtCSDVersion', 'mmPhysicalMemoryBlock', 'sizeEProcess', 'offsetEprocessPeb', 'offsetEprocessDirectoryTableBase'] as const) add(`KDBG.${k}`, KDBG[k], g.kdbg[k]);
  add('KDBG.headerSize', KDBG.headerSize, g.kdbg.sizeField);
  add('KDBG size', KDBG.size, g.kdbg.size);
  for (const k of ['imageNumberLow', 'imageNumberHigh', 'ntSystemRoot', 'ntProductType', 'productTypeIsValid', 'ntMajorVersion', 'ntMinorVersion', 'numberOfPhysicalPages', 'size'] as const) add(`KUSER.${k}`, KUSER[k], g.kuser[k]);
  const tables: [WindowsLayout, WinGenBuild, Win7Layout, string][] = [
    [WIN7_SP1_X86, W7, GEN_NONPAE, 'Windows 7 non-PAE'],
    [WIN7_SP1_X86_PAE, W7, GEN_PAE, 'Windows 7 PAE'],
    [VISTA_SP2_X86, VISTA2, GEN_VISTA, 'Vista SP2 non-PAE'],
    [XP_SP3_X86, XP3, GEN_XP, 'XP SP3 non-PAE'],
  ];
  for (const [l, g, gl, n] of tables) {
    add(`${n} KDBG size`, l.kdbgSize, g.kdbg.size);
    add(`${n} build`, l.build, g.build);
    add(`${n} NtMajorVersion`, l.major, g.ntMajor);
    add(`${n} NtMinorVersion`, l.minor, g.ntMinor);
    // SizeEProcess: the PAE 7601.24000 profile's _EPROCESS (0x2e0) is larger than the SP1 RTM one the generator writes.
    if (!l.pae) add(`${n} _EPROCESS size`, l.eprocess.size, g.eprocess.size);
    add(`${n} _KPROCESS Header.Size`, l.kprocessHeaderSize, g.processHeaderSize);
    for (const [mine, theirs] of [['flink', 'u1'], ['blink', 'u2'], ['pteAddress', 'pteAddress'], ['referenceCount', 'u3RefCount'], ['e1', 'e1'], ['originalPte', 'originalPte'], ['u4', 'u4'], ['size', 'size']] as const) add(`${n} _MMPFN.${mine}`, l.mmpfn[mine], gl.mmpfn[theirs]);
    // The generator's 'nt5' e1 is the ULONG (PageLocation in its second byte); 'nt6' e1 is the PageLocation byte.
    add(`${n} _MMPFN PageLocation byte`, l.pfnBits.pageLocationByte, gl.mmpfn.e1 + (gl.pfnFormat === 'nt5' ? 1 : 0));
    add(`${n} _MMPFN Priority byte`, l.pfnBits.priorityByte ?? ABSENT, gl.mmpfn.e2);
    add(`${n} _MMPTE`, l.mmpteBytes, gl.pteSize);
    add(`${n} _SEGMENT.TotalNumberOfPtes`, l.segment.totalNumberOfPtes, gl.segment.totalNumberOfPtes);
    add(`${n} _SEGMENT.PrototypePte`, l.segment.prototypePte, gl.segment.prototypePte);
    add(`${n} PTE self-map`, l.selfMapBase, gl.pteBase);
    add(`${n} PD self-map`, l.pdSelfMap, gl.pdeBase);
    add(`${n} self-referencing PDE (the PDE of the page-directory self-map)`, l.pdSelfMap + Math.floor(l.pdSelfMap / (l.pae ? 2 ** 21 : 2 ** 22)) * l.mmpteBytes, gl.selfMapPde);
    for (const [mine, theirs] of [['directoryTableBase', g.kprocess.directoryTableBase], ['uniqueProcessId', g.eprocess.uniqueProcessId], ['activeProcessLinks', g.eprocess.activeProcessLinks], ['inheritedFromUniqueProcessId', g.eprocess.inheritedFromUniqueProcessId], ['imageFileName', g.eprocess.imageFileName], ['peb', g.eprocess.peb], ['vadRoot', g.eprocess.vadRoot]] as const) add(`${n} _EPROCESS.${mine}`, l.eprocess[mine], theirs);
    if (l.mmAvlTable) {
      add(`${n} _MM_AVL_TABLE.BalancedRoot.RightChild`, l.mmAvlTable.balancedRootRightChild, g.avl.right);
      add(`${n} _MM_AVL_TABLE count`, l.mmAvlTable.numberGenericTableElements, g.avl.depthAndCount);
      add(`${n} _MM_AVL_TABLE size`, l.mmAvlTable.size, g.avl.tableSize);
    } else {
      add(`${n} no _MM_AVL_TABLE`, ABSENT, g.avl.tableSize);
    }
    // The root: BalancedRoot.RightChild of the table (Vista/7), VadRoot itself (XP).
    add(`${n} VAD root pointer`, l.vad.rootPointer, g.avl.tableSize === ABSENT ? 0 : g.avl.right);
    add(`${n} view → ControlArea directly`, l.vad.sectionPointer === 'controlArea' ? 1 : 0, g.vad.subsection === ABSENT ? 1 : 0);
    add(`${n} FilePointer an _EX_FAST_REF`, l.vad.filePointerMask === 0xfffffff8 ? 1 : 0, g.filePointerFastRef ? 1 : 0);
    add(`${n} VadType shift`, l.vad.image.shift, g.vadFlags.vadTypeShift);
    add(`${n} VadImageMap`, l.vad.image.value, g.vadType.imageMap);
    for (const [mine, theirs] of [['parent', g.avl.parent], ['leftChild', g.avl.left], ['rightChild', g.avl.right], ['startingVpn', g.avl.startingVpn], ['endingVpn', g.avl.endingVpn], ['vadFlags', g.vad.flags], ['size', g.vad.shortSize]] as const) add(`${n} _MMVAD_SHORT.${mine}`, l.mmvadShort[mine], theirs);
    for (const [mine, theirs] of [['section', g.vad.subsection !== ABSENT ? g.vad.subsection : g.vad.controlArea], ['firstPrototypePte', g.vad.firstPrototypePte], ['lastContiguousPte', g.vad.lastContiguousPte], ['size', g.vad.size]] as const) add(`${n} _MMVAD.${mine}`, l.mmvad[mine], theirs);
    for (const k of ['controlArea', 'subsectionBase', 'nextSubsection', 'ptesInSubsection', 'size'] as const) add(`${n} _SUBSECTION.${k}`, l.subsection[k], g.subsection[k]);
    for (const k of ['segment', 'flags', 'filePointer', 'size'] as const) add(`${n} _CONTROL_AREA.${k}`, l.controlArea[k], g.controlArea[k]);
    add(`${n} _FILE_OBJECT.Type`, l.fileObject.type, g.fileObject.type);
    add(`${n} _FILE_OBJECT.FileName`, l.fileObject.fileName, g.fileObject.fileName);
    for (const k of ['length', 'maximumLength', 'buffer', 'size'] as const) add(`${n} _UNICODE_STRING.${k}`, l.unicodeString[k], g.unicodeString[k]);
    add(`${n} _DISPATCHER_HEADER.Type`, l.dispatcherHeader.type, g.kprocess.headerType);
    add(`${n} _DISPATCHER_HEADER.Size`, l.dispatcherHeader.headerSize, g.kprocess.headerSize);
  }
  add('PrivateMemory bit', 2 ** BITS.privateMemoryBit, g.vadFlags.privateMemory);
  add('section Image bit', 2 ** BITS.sectionImageBit, g.sectionFlags.image);
  add('section File bit', 2 ** BITS.sectionFileBit, g.sectionFlags.file);
  add('VadImageMap', VAD_TYPE_IMAGE_MAP, g.vadType.imageMap);
  add('IO_TYPE_FILE', IO_TYPE_FILE, g.fileObjectType);
  const differ = pairs.filter(([, a, b]) => a !== b).map(([w, a, b]) => `${w}: mine 0x${a.toString(16)}, generator 0x${b.toString(16)}`);
  t.deepEqual(differ, []);
  t.log(`${pairs.length} offsets compared`);
});

test("_MMPFN bit fields: entries the generator serialises (its own encoding per format) decode with each table's PfnBits", (t) => {
  const pairs: [WindowsLayout, Win7Layout][] = [[WIN7_SP1_X86, GEN_NONPAE], [WIN7_SP1_X86_PAE, GEN_PAE], [VISTA_SP2_X86, GEN_VISTA], [XP_SP3_X86, GEN_XP]];
  for (const [l, gl] of pairs) {
    const db = new PfnDatabase(8, gl);
    // pfn i: PageLocation i, PrototypePte on odd PFNs, PteFrame near the field's top, priority i, kernel stack on 6.
    for (let i = 0; i < 8; i++) {
      const s = { pteVa: 0xc0001000 + i * 4, pteFrame: db.frameMask - i, proto: i % 2 === 1, priority: i, modified: i === 3, kernelStack: i === 6 };
      if (i === 6) db.active(i, s);
      else db.append({ name: i, total: 0, flink: 0xffffffff, blink: 0xffffffff, va: 0 }, i, s);
    }
    const b = db.serialize();
    const B = l.pfnBits;
    for (let i = 0; i < 8; i++) {
      const o = i * l.mmpfn.size;
      const want = i === 6 ? 6 : i;
      t.is(b[o + B.pageLocationByte] & BITS.pageLocationMask, want, `${l.name} pfn ${i} PageLocation`);
      t.is((b.readUInt32LE(o + B.prototypePte[0]) >>> B.prototypePte[1]) & 1, i % 2, `${l.name} pfn ${i} PrototypePte`);
      t.is((b.readUInt32LE(o + B.pteFrame[0]) & B.pteFrame[1]) >>> 0, db.frameMask - i, `${l.name} pfn ${i} PteFrame`);
      t.is(b.readUInt32LE(o + l.mmpfn.pteAddress), 0xc0001000 + i * 4, `${l.name} pfn ${i} PteAddress`);
      if (B.priorityByte !== undefined) t.is(b[o + B.priorityByte] & BITS.priorityMask, i, `${l.name} pfn ${i} Priority`);
    }
    t.is(B.pteFrame[1], db.frameMask, `${l.name}: PteFrame width`);
  }
});
