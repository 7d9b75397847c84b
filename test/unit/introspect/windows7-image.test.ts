/**
 * The synthetic Windows 7 SP1 x86 images (test/helpers/windows7-image.ts) are self-consistent by the
 * rules Windows introspection will use, on both paging modes: the System directory maps the kernel
 * through large pages and maps itself; the DTB scans of MemProcFS and volatility find it; KDBG is
 * found by its needle and points at the process list, the PFN database and the page lists; every
 * process's VAD tree is a balanced, tagged AVL tree whose views lead to file names, and its
 * directory reaches exactly the resident pages the generator placed (valid, transition, prototype);
 * the page lists hold exactly the pages the truth calls zeroed/free/standby/modified; every PFN
 * record in use leads back through PteAddress/PteFrame to the entry that maps the page; and the
 * ELF32/raw wrappers open with openImage and give the same memory.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openImage } from '../../../src/image/probe.js';
import { PAGE_TYPES } from '../../../src/introspect/pagemap.js';
import { isPrototypePte, isTransitionPte, windowsPagingMode } from '../../../src/introspect/windows/paging.js';
import { PageTableWalker, X86_NONPAE, X86_PAE } from '../../../src/introspect/x86/paging.js';
import { tmpPath } from '../../helpers/tmp.js';
import { saveWindows7Image, WC, WIN7_CLASS_TYPES, WIN7_PAGE_CLASSES, Windows7Image, windows7Image, writeWindows7Image } from '../../helpers/windows7-image.js';
import { genLayouts, WinGenBuildName } from '../../helpers/windows7-gen.js';
import { ABSENT, MM_EMPTY_LIST, PageLocation, poolTag } from '../../helpers/windows7-offsets.js';

const OPTS = { ramMiB: 64, seed: 7 } as const;

/** The builds and paging modes the generator writes (Vista SP2: non-PAE only, no published PAE layout). */
interface Cfg {
  name: string;
  pae: boolean;
  build: WinGenBuildName;
}
const CONFIGS: Cfg[] = [
  { name: 'non-PAE', pae: false, build: 'win7sp1' },
  { name: 'PAE', pae: true, build: 'win7sp1' },
  { name: 'Vista SP2 non-PAE', pae: false, build: 'vistasp2' },
  { name: 'XP SP3 non-PAE', pae: false, build: 'xpsp3' },
];
/** What volatility says each build's kernel carries: the _KPROCESS signature's Size byte (win7.py, vista.py, xp.py), KDBG Header.Size, service pack. */
const EXPECT: Record<WinGenBuildName, { dtbSize: number; kdbgSize: number; sp: number }> = {
  win7sp1: { dtbSize: 0x26, kdbgSize: 0x340, sp: 1 },
  vistasp2: { dtbSize: 0x20, kdbgSize: 0x330, sp: 2 },
  xpsp3: { dtbSize: 0x1b, kdbgSize: 0x290, sp: 3 },
};
const WIN7_NONPAE = CONFIGS[0];

const cache = new Map<string, { img: Windows7Image; ms: number }>();
function gen(cfg: Cfg): { img: Windows7Image; ms: number } {
  let c = cache.get(cfg.name);
  if (!c) {
    const t0 = process.cpuUsage();
    const img = windows7Image({ pae: cfg.pae, build: cfg.build, ...OPTS });
    const u = process.cpuUsage(t0);
    c = { img, ms: (u.user + u.system) / 1000 };
    cache.set(cfg.name, c);
  }
  return c;
}

/** Reads through the System directory (Windows validity) and raw PTE lookups in any directory. */
class View {
  readonly raw: Buffer;
  readonly pae: boolean;
  readonly pteSize: number;
  readonly sys: PageTableWalker;

  constructor(readonly img: Windows7Image) {
    this.raw = img.raw();
    this.pae = img.layout.pae;
    this.pteSize = this.pae ? 8 : 4;
    this.sys = this.walker(img.layout.systemDtb);
  }

  walker(dtb: number): PageTableWalker {
    return new PageTableWalker(this.img.mem, windowsPagingMode(this.pae ? X86_PAE : X86_NONPAE), dtb);
  }

  pa(va: number, w = this.sys): number {
    const pa = w.translate(BigInt(va >>> 0));
    if (pa < 0) throw new Error(`VA 0x${va.toString(16)} not mapped`);
    return pa;
  }

  bytes(va: number, n: number, w = this.sys): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; ) {
      const k = Math.min(n - i, 4096 - ((va + i) % 4096));
      const pa = this.pa(va + i, w);
      this.raw.copy(out, i, pa, pa + k);
      i += k;
    }
    return out;
  }

  u8 = (va: number) => this.raw[this.pa(va)];
  u16 = (va: number) => this.bytes(va, 2).readUInt16LE(0);
  u32 = (va: number) => this.bytes(va, 4).readUInt32LE(0);
  u64 = (va: number) => this.bytes(va, 8).readBigUInt64LE(0);

  ustr(va: number): string {
    const len = this.u16(va);
    return this.bytes(this.u32(va + 4), len).toString('utf16le');
  }

  /** An entry as (lo, hi) at a physical address. */
  entry(pa: number): [number, number] {
    return [this.raw.readUInt32LE(pa), this.pae ? this.raw.readUInt32LE(pa + 4) : 0];
  }

  /** The leaf entry for `va` under `dtb`: its address and words, `large` for a PS directory entry; null when no table. */
  pte(dtb: number, va: number): { pa: number; lo: number; hi: number; large: boolean } | null {
    if (this.pae) {
      const [p0] = this.entry((dtb - (dtb % 32)) + Math.floor(va / 2 ** 30) * 8);
      if (!(p0 & 1)) return null;
      const pdePa = (p0 & 0xfffff000) + ((va >>> 21) & 0x1ff) * 8;
      const [d0, d1] = this.entry(pdePa);
      if (!(d0 & 1)) return null;
      if (d0 & 0x80) return { pa: pdePa, lo: d0, hi: d1, large: true };
      const pa = (d0 & 0xfffff000) + ((va >>> 12) & 0x1ff) * 8;
      const [lo, hi] = this.entry(pa);
      return { pa, lo, hi, large: false };
    }
    const pdePa = dtb + (va >>> 22) * 4;
    const [d] = this.entry(pdePa);
    if (!(d & 1)) return null;
    if (d & 0x80) return { pa: pdePa, lo: d, hi: 0, large: true };
    const pa = (d & 0xfffff000) + ((va >>> 12) & 0x3ff) * 4;
    const [lo] = this.entry(pa);
    return { pa, lo, hi: 0, large: false };
  }

  /** The frame a valid or transition entry names. */
  frame(lo: number, hi: number): number {
    return (hi & 0xf) * 2 ** 20 + (lo >>> 12);
  }

  /**
   * _MMPFN fields of a PFN, read through MmPfnDatabase: Vista/7 _MMPFNENTRY bytes and u4 (PteFrame
   * 0–24, PrototypePte 27), or XP's (V2 xp_sp3: u3.e1 ULONG Modified 0, PrototypePte 3,
   * PageLocation 8–10; u4 PteFrame 0–25, KernelStack 30; no priority).
   */
  pfn(pfn: number): { u1: number; u2: number; pteAddress: number; ref: number; location: number; modified: boolean; priority: number; kernelStack: boolean; pteFrame: number; prototype: boolean; raw: Buffer } {
    const M = this.img.offsets.mmpfn;
    const b = this.bytes(this.img.layout.pfnDatabase + pfn * M.size, M.size);
    const u4 = b.readUInt32LE(M.u4);
    if (this.img.offsets.pfnFormat === 'nt5') {
      const e1 = b.readUInt32LE(M.e1);
      return {
        u1: b.readUInt32LE(M.u1),
        u2: b.readUInt32LE(M.u2),
        pteAddress: b.readUInt32LE(M.pteAddress),
        ref: b.readUInt16LE(M.u3RefCount),
        location: (e1 >>> 8) & 7,
        modified: (e1 & 1) !== 0,
        priority: 0,
        kernelStack: ((u4 >>> 30) & 1) === 1,
        pteFrame: u4 & 0x3ffffff,
        prototype: ((e1 >>> 3) & 1) === 1,
        raw: b,
      };
    }
    return {
      u1: b.readUInt32LE(M.u1),
      u2: b.readUInt32LE(M.u2),
      pteAddress: b.readUInt32LE(M.pteAddress),
      ref: b.readUInt16LE(M.u3RefCount),
      location: b[M.e1] & 7,
      modified: (b[M.e1] & 0x10) !== 0,
      priority: b[M.e2] & 7,
      kernelStack: (b[M.e2] & 0x20) !== 0,
      pteFrame: u4 & 0x1ffffff,
      prototype: ((u4 >>> 27) & 1) === 1,
      raw: b,
    };
  }
}

const views = new Map<string, View>();
const view = (cfg: Cfg) => {
  let v = views.get(cfg.name);
  if (!v) views.set(cfg.name, (v = new View(gen(cfg).img)));
  return v;
};

const sha = (b: Uint8Array) => createHash('sha1').update(b).digest('hex');

for (const cfg of CONFIGS) {
  const { name, pae } = cfg;
  /** The generator's own table for this build (W7, VISTA2). */
  const W7 = genLayouts(cfg.build, pae).B;

  test(`${name}: generated deterministically, small and fast`, (t) => {
    const { img, ms } = gen(cfg);
    t.log(`${name}: ${ms.toFixed(0)} ms CPU for ${OPTS.ramMiB} MiB`);
    t.true(ms < 15000, `generation took ${ms} ms CPU`);
    t.is(img.raw().length, OPTS.ramMiB << 20);
    const again = windows7Image({ pae, build: cfg.build, ...OPTS, seed: 8 });
    t.not(sha(again.raw()), sha(img.raw()), 'another seed gives another image');
    t.is(img.offsets.pae, pae);
    t.is(img.cpu.cr4 & 0x20, pae ? 0x20 : 0, 'CR4.PAE');
    t.is(img.cpu.cr0 >>> 31, 1, 'CR0.PG');
    t.is(img.cpu.cr3, img.layout.systemDtb);
  });

  test(`${name}: the truth types every PFN, with each Windows class present`, (t) => {
    const { img } = gen(cfg);
    const L = img.layout;
    t.is(img.truth.pfns, L.ramPages);
    t.is(img.truthWindows.length, L.ramPages);
    const seen = new Set<number>();
    for (let p = 0; p < L.ramPages; p++) {
      const c = WIN7_PAGE_CLASSES[img.truthWindows[p]];
      seen.add(img.truthWindows[p]);
      const want = WIN7_CLASS_TYPES[c];
      if (want !== 'owner') t.is(img.truth.type(p), want, `PFN ${p} (${c})`);
      const managed = L.physicalRuns.some(([s, n]) => p >= s && p < s + n);
      t.is(c === 'unmanaged', !managed, `PFN ${p} managed=${managed} class ${c}`);
    }
    t.deepEqual([...seen].sort((a, b) => a - b), WIN7_PAGE_CLASSES.map((_, i) => i), 'every class occurs');
    for (const ty of ['free', 'image', 'cache', 'anon', 'shmem', 'pagetable', 'kernel', 'slab', 'hwpoison', 'other'] as const) t.true(img.truth.count(ty) > 0, ty);
    t.true(PAGE_TYPES.includes('free'));
    // Owner types of standby pages: file pages (cache, image) and private ones (anon).
    const standbyTypes = new Set<string>();
    for (let p = 0; p < L.ramPages; p++) if (img.truthWindows[p] === WC.standby) standbyTypes.add(img.truth.type(p));
    t.deepEqual([...standbyTypes].sort(), ['anon', 'cache', 'image']);
  });

  test(`${name}: the System directory maps KernBase to the PE image with large pages and maps itself`, (t) => {
    const v = view(cfg);
    const L = v.img.layout;
    const o = v.img.offsets;
    const kb = v.pa(L.kernBase);
    t.is(v.raw.toString('latin1', kb, kb + 2), 'MZ');
    const lfanew = v.raw.readUInt32LE(kb + 0x3c);
    t.is(v.raw.toString('latin1', kb + lfanew, kb + lfanew + 4), 'PE\0\0');
    t.is(v.raw.readUInt32LE(kb + lfanew + 24 + 28), L.kernBase, 'OptionalHeader.ImageBase');
    t.is(v.sys.last.order, pae ? 9 : 10, 'kernel mapped with a large page');
    t.is(kb, L.kernBase - 0x80000000);
    const big = v.pte(L.systemDtb, L.kernBase)!;
    t.true(big.large);
    t.is(big.lo & 0xfff, 0x9e3);
    // Self-map: the directory (PAE: each of the four PDs) is the page at the PD self-map VA.
    if (pae) {
      for (let i = 0; i < 4; i++) t.is(v.pa(o.pdeBase + i * 0x1000), L.systemPdPfns[i] * 4096);
      t.is(Number(v.u64(o.selfMapPde) & 0xfffff000n), L.systemPdPfns[3] * 4096);
      // MemProcFS VmmWinInit_DTB_FindValidate_X86PAE: PDPT then its PDs, rest of the page zero.
      const page = v.raw.subarray(L.systemDtb, L.systemDtb + 4096);
      for (let i = 0; i < 4; i++) t.is(page.readBigUInt64LE(8 * i), BigInt(L.systemDtb + (i << 12) + 0x1001));
      t.true(page.subarray(32).every((b) => b === 0));
    } else {
      t.is(v.pa(0xc0300000), L.systemDtb);
      t.is(v.u32(o.selfMapPde) & 0xfffff003, L.systemDtb | 3);
      // MemProcFS VmmWinInit_DTB_FindValidate_X86: self-ref at 0xC00, PDE 0 a user table, >16 kernel PDEs 0x63/0xe3.
      const page = v.raw.subarray(L.systemDtb, L.systemDtb + 4096);
      t.is(page[0], 0x67);
      let c = 0;
      for (let i = 0x800; i < 0x1000; i += 4) if (page[i] === 0x63 || page[i] === 0xe3) c++;
      t.true(c > 16, `${c} kernel PDEs`);
      // Scanning the low 16 MiB upwards finds it first; every other hit is a process's directory.
      const hits: number[] = [];
      for (let pa = 0; pa < 0x1000000; pa += 4096) {
        const p = v.raw.subarray(pa, pa + 4096);
        if ((p.readUInt32LE(0xc00) & 0xfffff003) === pa + 3 && p[0] === 0x67) hits.push(pa);
      }
      t.is(hits[0], L.systemDtb);
      for (const h of hits) t.true(L.processes.some((p) => p.dtb === h), `0x${h.toString(16)}`);
    }
    // volatility 2's IA32 valid-AS check; KUSER_SHARED_DATA shared with every process.
    t.is(v.pa(pae ? 0xc0600000 : 0xc0300000), L.systemPdPfns[0] * 4096);
    const kuser = v.pa(W7.kuser.kernelVa);
    t.is(kuser, L.kuserPfn * 4096);
    for (const p of L.processes.slice(1)) t.is(v.pa(W7.kuser.userVa, v.walker(p.dtb)), kuser, p.name);
    t.is(v.u32(W7.kuser.kernelVa + W7.kuser.ntMajorVersion), cfg.build === 'xpsp3' ? 5 : 6);
    t.is(v.u32(W7.kuser.kernelVa + W7.kuser.ntMinorVersion), cfg.build === 'win7sp1' ? 1 : cfg.build === 'xpsp3' ? 1 : 0);
    t.is(v.bytes(W7.kuser.kernelVa + W7.kuser.ntSystemRoot, 20).toString('utf16le'), 'C:\\Windows');
  });

  test(`${name}: the Idle process is found by the DTB signature scan`, (t) => {
    const v = view(cfg);
    const L = v.img.layout;
    // V2 DTBSignature: 03 00 26 00 (win7.py), 03 00 20 00 (vista.py), 03 00 1b 00 (xp.py).
    const sig = Buffer.from([3, 0, EXPECT[cfg.build].dtbSize, 0]);
    t.is(sig[2], W7.processHeaderSize);
    const E = W7.eprocess;
    const found: number[] = [];
    for (let at = v.raw.indexOf(sig); at >= 0; at = v.raw.indexOf(sig, at + 1)) {
      if (v.raw.toString('latin1', at + E.imageFileName, at + E.imageFileName + 4) !== 'Idle') continue;
      if (v.raw.readUInt32LE(at + E.uniqueProcessId) !== 0 || v.raw.readUInt32LE(at + E.peb) !== 0) continue;
      found.push(v.raw.readUInt32LE(at + W7.kprocess.directoryTableBase));
    }
    t.deepEqual(found, [L.systemDtb]);
    t.is(v.pa(L.idleEprocess) - (v.pa(L.idleEprocess) % 8), v.pa(L.idleEprocess));
  });

  test(`${name}: KDBG is found by its needle and its fields point where they should`, (t) => {
    const v = view(cfg);
    const L = v.img.layout;
    const K = W7.kdbg;
    // V2's x86 needle: 8 zero bytes, 'KDBG', Header.Size (0x340 win7.py, 0x330 vista.py VistaSP1KDBG).
    const size = EXPECT[cfg.build].kdbgSize;
    t.is(K.size, size);
    const needle = Buffer.concat([Buffer.alloc(8), Buffer.from('KDBG', 'latin1'), Buffer.from([size & 0xff, size >> 8])]);
    const hits: number[] = [];
    for (let at = v.raw.indexOf(needle); at >= 0; at = v.raw.indexOf(needle, at + 1)) hits.push(at - 8);
    t.deepEqual(hits, [v.pa(L.kdbg)], 'one KDBG');
    const kdbg = L.kdbg;
    const q = (off: number) => v.u64(kdbg + off);
    const a = (off: number) => {
      const x = q(off);
      t.is(x >> 32n, 0n, `upper half of +0x${off.toString(16)}`);
      return Number(x);
    };
    // The 32-bit list links and the list head they are on.
    const head = v.u32(kdbg);
    t.is(v.u32(kdbg + 4), head);
    t.not(head, 0);
    t.is(v.u32(head), kdbg);
    t.is(v.u32(head + 4), kdbg);
    t.is(a(K.kernBase), L.kernBase);
    t.is(v.u16(kdbg + K.paeEnabled), pae ? 1 : 0);
    if (K.size > K.offsetEprocessDirectoryTableBase) {
      t.is(v.u16(kdbg + K.sizeEProcess), W7.eprocess.size);
      t.is(v.u16(kdbg + K.offsetEprocessPeb), W7.eprocess.peb);
      t.is(v.u16(kdbg + K.offsetEprocessDirectoryTableBase), 0x18);
      t.is(v.u16(kdbg + K.offsetEprocessParentCID), W7.eprocess.inheritedFromUniqueProcessId);
    }
    t.is(Number(q(K.mmPageSize)), 0x1000);
    t.is(v.u32(a(K.mmPfnDatabase)), L.pfnDatabase);
    t.is(v.u32(a(K.mmHighestPhysicalPage)), L.highestPfn);
    t.is(v.u32(a(K.mmNumberOfPhysicalPages)), L.physicalRuns.reduce((s, [, c]) => s + c, 0));
    t.is(v.u32(a(K.cmNtCSDVersion)) >> 8, EXPECT[cfg.build].sp, 'service pack');
    t.true(v.bytes(a(K.ntBuildLab), 40).toString('latin1').startsWith(`${W7.build}.`));
    // MmPhysicalMemoryBlock → the descriptor's runs.
    const pmd = v.u32(a(K.mmPhysicalMemoryBlock));
    const runs: [number, number][] = [];
    for (let i = 0; i < v.u32(pmd); i++) runs.push([v.u32(pmd + 8 + 8 * i), v.u32(pmd + 12 + 8 * i)]);
    t.deepEqual(runs, L.physicalRuns);
    // KdVersionBlock: the build, sign-extended addresses.
    t.is(v.u16(L.versionBlock + W7.versionBlock.minorVersion), W7.build);
    t.is(v.u64(L.versionBlock + W7.versionBlock.kernBase), 0xffffffff00000000n | BigInt(L.kernBase));
    // PsLoadedModuleList: the kernel first, then hal.
    const mods: [number, string][] = [];
    const ml = a(K.psLoadedModuleList);
    for (let e = v.u32(ml), n = 0; e !== ml && n < 64; e = v.u32(e), n++) mods.push([v.u32(e + W7.ldrEntry.dllBase), v.ustr(e + W7.ldrEntry.baseDllName)]);
    t.deepEqual(mods.slice(0, 2), [[L.kernBase, pae ? 'ntkrnlpa.exe' : 'ntoskrnl.exe'], [L.halBase, 'hal.dll']]);
    t.true(mods.some(([, n]) => n === 'Ntfs.sys'));
    for (const [base, n] of mods) t.is(v.bytes(base, 2).toString('latin1'), 'MZ', n);
    // PsActiveProcessHead → every process, in creation order, with its DTB, name, PID, parent, PEB.
    const head2 = a(K.psActiveProcessHead);
    const procs: [string, number, number, number, number][] = [];
    let prev = head2;
    for (let e = v.u32(head2), n = 0; e !== head2; e = v.u32(e), n++) {
      t.true(n < 100);
      t.is(v.u32(e + 4), prev, 'Blink');
      prev = e;
      const ep = e - W7.eprocess.activeProcessLinks;
      const O = W7.objectHeader;
      if (O.typeIndex !== ABSENT) t.is(v.u32(ep - O.bodyOffset + O.typeIndex) & 0xff, W7.objectType.process);
      if (O.typePointer !== ABSENT) t.is(v.bytes(v.u32(ep - O.bodyOffset + O.typePointer) - 4, 4).toString('latin1'), 'Obj\xd4', 'Vista: Type → an _OBJECT_TYPE');
      if (O.quotaInfoOffset !== ABSENT) t.is(v.u8(ep - O.bodyOffset + O.quotaInfoOffset), O.quotaInfoSize);
      t.is(v.u32(ep - W7.objectHeader.bodyOffset - W7.objectHeader.quotaInfoSize - 4), poolTag('Proc', true), 'pool tag Pro\\xe3');
      t.is(v.u8(ep), 3);
      t.is(v.u8(ep + 2), W7.processHeaderSize);
      const nm = v.bytes(ep + W7.eprocess.imageFileName, 15).toString('latin1').replace(/\0.*$/, '');
      procs.push([nm, v.u32(ep + W7.eprocess.uniqueProcessId), v.u32(ep + W7.kprocess.directoryTableBase), v.u32(ep + W7.eprocess.inheritedFromUniqueProcessId), v.u32(ep + W7.eprocess.peb)]);
    }
    t.deepEqual(procs, L.processes.map((p) => [p.name, p.pid, p.dtb, p.ppid, p.peb]));
    t.is(procs[0][0], 'System');
    t.is(procs[0][1], 4);
    // The list heads KDBG names are _MMPFNLISTs with their ListName.
    t.is(v.u32(a(K.mmZeroedPageListHead) + 4), PageLocation.Zeroed);
    t.is(v.u32(a(K.mmFreePageListHead) + 4), PageLocation.Free);
    for (let i = 0; i < W7.standbyLists; i++) t.is(v.u32(a(K.mmStandbyPageListHead) + i * W7.mmpfnlist.size + 4), PageLocation.Standby);
    t.is(v.u32(a(K.mmModifiedPageListHead) + 4), PageLocation.Modified);
    t.is(v.u32(a(K.mmModifiedNoWritePageListHead) + 4), PageLocation.ModifiedNoWrite);
  });

  test(`${name}: processes have balanced, tagged VAD trees whose views lead to their files`, (t) => {
    const v = view(cfg);
    const L = v.img.layout;
    const A = W7.avl;
    // Vista/7: VadRoot an _MM_AVL_TABLE (sentinel, count, balance bits in Parent); XP: VadRoot → the root node, NumberOfVads apart.
    const table = A.tableSize !== ABSENT;
    for (const p of L.processes) {
      const root = p.eprocess + W7.eprocess.vadRoot;
      if (table) {
        t.is(v.u32(root + A.parent), root, `${p.name}: sentinel parent`);
        t.is(v.u32(root + A.depthAndCount) >>> 8, p.vads.length, `${p.name}: NumberGenericTableElements`);
      } else {
        t.is(v.u32(p.eprocess + W7.eprocess.numberOfVads), p.vads.length, `${p.name}: NumberOfVads`);
      }
      const nodes: number[] = [];
      const height = (n: number, parent: number, depth: number): number => {
        if (!n) return 0;
        t.true(depth < 64);
        const par = v.u32(n + A.parent);
        t.is(table ? (par & ~3) >>> 0 : par, parent, 'parent link');
        const hl = height(v.u32(n + A.left), n, depth + 1);
        nodes.push(n);
        const hr = height(v.u32(n + A.right), n, depth + 1);
        if (table) t.is(((par & 3) << 30) >> 30, hr - hl, 'balance in the parent bits');
        t.true(Math.abs(hr - hl) <= 1);
        return 1 + Math.max(hl, hr);
      };
      const h = table ? height(v.u32(root + A.right), root, 0) : height(v.u32(root), 0, 0);
      if (table) t.is(v.u32(root + A.depthAndCount) & 0x1f, h, 'DepthOfTree');
      t.deepEqual(nodes, p.vads.map((x) => x.node), `${p.name}: in-order = ascending`);
      p.vads.forEach((vad, i) => {
        const n = vad.node;
        t.is(v.bytes(n - 4, 4).toString('latin1'), vad.tag);
        t.is(v.u32(n + A.startingVpn), vad.start / 4096);
        t.is(v.u32(n + A.endingVpn), (vad.end + 1) / 4096 - 1);
        if (i) t.true(vad.start > p.vads[i - 1].end);
        const flags = v.u32(n + W7.vad.flags);
        t.is((flags >>> 20) & 7, vad.kind === 'image' ? W7.vadType.imageMap : 0, 'VadType (XP: ImageMap bit 20)');
        t.is(flags >>> 31, vad.kind === 'private' ? 1 : 0, 'PrivateMemory');
        t.is((flags >>> 24) & 0x1f, vad.protection, 'Protection');
        if (vad.tag === 'VadS') return;
        // Vista/7: Subsection → ControlArea; XP: the ControlArea itself.
        const ca = W7.vad.subsection !== ABSENT ? v.u32(v.u32(n + W7.vad.subsection)) : v.u32(n + W7.vad.controlArea);
        const sec = L.sections[vad.section!];
        t.is(ca, sec.controlArea);
        t.is(v.bytes(ca - 4, 4).toString('latin1'), vad.kind === 'image' ? 'MmCi' : 'MmCa');
        t.is(v.u32(n + W7.vad.firstPrototypePte), sec.subsections[0].protoBase);
        if (W7.vad.vadsProcess !== ABSENT) t.is(v.u32(n + W7.vad.vadsProcess), p.eprocess);
        const fp = v.u32(ca + W7.controlArea.filePointer) & ~7;
        if (vad.kind === 'pagefile') {
          t.is(fp, 0);
          return;
        }
        t.is(v.u16(fp), W7.fileObjectType);
        t.is(v.ustr(fp + W7.fileObject.fileName), vad.path!);
        t.is(v.bytes(fp - W7.objectHeader.bodyOffset - 4, 4).toString('latin1'), 'Fil\xe5');
      });
      // Image views: ntdll everywhere.
      if (p.pid !== 4) t.true(p.vads.some((x) => x.kind === 'image' && x.path!.endsWith('\\ntdll.dll')));
    }
  });

  test(`${name}: every process's directory reaches exactly its resident pages (valid, transition, prototype)`, (t) => {
    const v = view(cfg);
    const L = v.img.layout;
    const o = v.img.offsets;
    for (const p of L.processes.slice(1)) {
      const found: string[] = [];
      let kinds = new Set<string>();
      for (const vad of p.vads) {
        const sec = vad.section !== undefined ? L.sections[vad.section] : undefined;
        for (let va = vad.start; va < vad.end; va += 4096) {
          const e = v.pte(p.dtb, va);
          if (!e || (e.lo === 0 && e.hi === 0)) continue;
          t.false(e.large);
          let pfn = -1;
          let via = '';
          if (e.lo & 1) [pfn, via] = [v.frame(e.lo, e.hi), 'valid'];
          else if (isTransitionPte(e.lo)) [pfn, via] = [v.frame(e.lo, e.hi), 'transition'];
          else if (isPrototypePte(e.lo)) {
            t.truthy(sec, `prototype PTE outside a section view at 0x${va.toString(16)}`);
            const idx = (va - vad.start) / 4096;
            const sub = sec!.subsections.find((s) => idx >= s.first && idx < s.first + s.count)!;
            const proto = sub.protoBase + (idx - sub.first) * o.pteSize;
            const addr = pae ? e.hi : ((0x80000000 | ((e.lo >>> 1) & 0x7ffffc00) | ((e.lo << 1) & 0x3fc)) >>> 0);
            const lookup = pae ? e.hi === 0xffffffff : e.lo >>> 12 === 0xfffff;
            via = lookup ? 'vad-prototype' : 'prototype';
            if (!lookup) t.is(addr, proto, 'prototype PTE address = the VAD’s prototype PTE');
            const [plo, phi] = v.entry(v.pa(proto));
            if (plo & 1 || isTransitionPte(plo)) pfn = v.frame(plo, phi);
          } else continue; // paged out / demand zero
          if (pfn < 0) continue;
          kinds.add(via);
          found.push(`${va.toString(16)}:${pfn}:${via}`);
          t.not(v.img.truth.type(pfn), 'free', `resident page ${pfn} typed free`);
        }
      }
      // KUSER_SHARED_DATA is a VAD of its own; the working set list is kernel space.
      const want = p.pages.map((x) => `${x.va.toString(16)}:${x.pfn}:${x.via}`);
      t.deepEqual(found.sort(), want.sort(), p.name);
      if (p.name === 'explorer.exe') t.deepEqual([...kinds].sort(), ['prototype', 'transition', 'vad-prototype', 'valid']);
      kinds = new Set();
      // Hyperspace: this process's working set list page, and EPROCESS.WorkingSetPage.
      t.is(v.pa(o.workingSetList, v.walker(p.dtb)), p.workingSetListPfn * 4096);
      t.is(v.u32(p.eprocess + W7.eprocess.workingSetPage), p.workingSetListPfn);
      if (pae) {
        t.is(p.dtb % 32, 0);
        t.not(p.dtb % 4096, 0, 'PAE process PDPTs share a page');
        t.is(v.pa(v.u32(p.eprocess + W7.eprocess.paeTop)), p.dtb);
      }
    }
  });

  test(`${name}: page-list walks visit exactly the pages the truth calls zeroed, free, standby, modified, bad`, (t) => {
    const v = view(cfg);
    const L = v.img.layout;
    const K = W7.kdbg;
    const kdbgAddr = (off: number) => Number(v.u64(L.kdbg + off));
    const walk = (headVa: number, location: number, priority?: number): number[] => {
      const total = v.u32(headVa);
      t.is(v.u32(headVa + 4), location);
      const out: number[] = [];
      let prev = MM_EMPTY_LIST;
      for (let p = v.u32(headVa + 8); p !== MM_EMPTY_LIST; ) {
        t.true(out.length <= L.highestPfn, 'list cycle');
        const e = v.pfn(p);
        t.is(e.location, location, `PFN ${p} PageLocation`);
        t.is(e.u2, prev, `PFN ${p} Blink`);
        if (priority !== undefined) t.is(e.priority, priority);
        out.push(p);
        prev = p;
        p = e.u1;
      }
      t.is(v.u32(headVa + 12), prev, 'head Blink = last');
      t.is(total, out.length, 'Total');
      return out;
    };
    const ofClass = (c: keyof typeof WC) => {
      const out: number[] = [];
      for (let p = 0; p < L.ramPages; p++) if (v.img.truthWindows[p] === WC[c]) out.push(p);
      return out;
    };
    const sorted = (a: number[]) => [...a].sort((x, y) => x - y);
    const zeroed = walk(kdbgAddr(K.mmZeroedPageListHead), PageLocation.Zeroed);
    const free = walk(kdbgAddr(K.mmFreePageListHead), PageLocation.Free);
    const nStandby = W7.standbyLists;
    const standby = Array.from({ length: nStandby }, (_, i) => walk(kdbgAddr(K.mmStandbyPageListHead) + i * W7.mmpfnlist.size, PageLocation.Standby, nStandby > 1 ? i : undefined)).flat();
    const modified = walk(kdbgAddr(K.mmModifiedPageListHead), PageLocation.Modified);
    const mnw = walk(kdbgAddr(K.mmModifiedNoWritePageListHead), PageLocation.ModifiedNoWrite);
    const bad = walk(L.lists.bad, PageLocation.Bad);
    t.deepEqual(sorted(zeroed), ofClass('zeroed'));
    t.deepEqual(sorted(free), ofClass('free'));
    t.deepEqual(sorted(standby), ofClass('standby'));
    t.deepEqual(sorted(modified), ofClass('modified'));
    t.deepEqual(sorted(mnw), ofClass('modified-no-write'));
    t.deepEqual(sorted(bad), ofClass('bad'));
    t.true(standby.length > L.ramPages * 0.1, `${standby.length} standby pages`);
    t.is(v.u32(Number(v.u64(L.kdbg + K.mmAvailablePages))), zeroed.length + free.length + standby.length);
    // Contents: zeroed pages are zero, free pages mostly hold stale data, modified pages are dirty.
    for (const p of zeroed) t.true(v.raw.subarray(p * 4096, p * 4096 + 4096).every((b) => b === 0));
    const nonZeroFree = free.filter((p) => v.raw.subarray(p * 4096, p * 4096 + 4096).some((b) => b !== 0)).length;
    t.true(nonZeroFree > free.length * 0.9, `${nonZeroFree}/${free.length} free pages hold data`);
    for (const p of [...modified, ...mnw]) t.true(v.pfn(p).modified);
    // Lists run in arrival order, not by address.
    t.notDeepEqual(zeroed, sorted(zeroed));
    // Transition (in-flight) pages are on no list.
    for (const p of ofClass('transition')) t.is(v.pfn(p).location, PageLocation.Transition);
    // Pages Windows does not manage have all-zero records (reading PageLocation 0 = Zeroed: not proof).
    for (const p of [0, 0x9f, 0xa0, 0xff]) t.true(v.pfn(p).raw.every((b) => b === 0));
  });

  test(`${name}: PFN records lead back through PteAddress/PteFrame to the entry that maps the page`, (t) => {
    const v = view(cfg);
    const L = v.img.layout;
    const o = v.img.offsets;
    const inUse: number[] = [PageLocation.Active, PageLocation.Standby, PageLocation.Modified, PageLocation.ModifiedNoWrite, PageLocation.Transition];
    const pdptPages = new Set([L.systemDtb >> 12, ...L.processes.map((p) => Math.floor(p.dtb / 4096))]);
    const selfMapEnd = o.pteBase + (pae ? 0x800000 : 0x400000);
    let checked = 0;
    let protoChecked = 0;
    for (let pfn = 0; pfn <= L.highestPfn; pfn++) {
      const cls = WIN7_PAGE_CLASSES[v.img.truthWindows[pfn]];
      const e = v.pfn(pfn);
      if (!inUse.includes(e.location) || cls === 'zeroed') continue;
      checked++;
      const ptePa = e.pteFrame * 4096 + (e.pteAddress & 0xfff);
      const [lo, hi] = v.entry(ptePa);
      if (e.prototype) {
        // A section page: PteAddress is its prototype PTE, in paged pool, mapped by the System directory there.
        t.is(v.pa(e.pteAddress), ptePa, `PFN ${pfn}: prototype PTE address`);
        t.true(e.pteAddress >= L.pools.paged[0] && e.pteAddress < L.pools.paged[1]);
        protoChecked++;
      }
      if (lo & 1 && lo & 0x80 && !e.prototype && cls === 'kernel-image') {
        // A large page: the record names the PDE.
        const first = v.frame(lo, hi) - (v.frame(lo, hi) % (pae ? 512 : 1024));
        t.true(pfn >= first && pfn < first + (pae ? 512 : 1024), `PFN ${pfn} in its large page`);
        continue;
      }
      t.true(lo & 1 ? true : isTransitionPte(lo), `PFN ${pfn} (${cls}): entry 0x${lo.toString(16)} valid or transition`);
      t.is(v.frame(lo, hi), pfn, `PFN ${pfn} (${cls}): the entry names the page`);
      if (e.prototype) continue;
      // The mapped VA from PteAddress: in the self-map ⇔ a page table (PDPT pages sit in pool/boot VA).
      const va = ((e.pteAddress - o.pteBase) / o.pteSize) * 4096;
      const inSelfMap = va >= o.pteBase && va < selfMapEnd;
      if (!pdptPages.has(pfn)) t.is(inSelfMap, cls === 'page-table', `PFN ${pfn} (${cls}) mapped at 0x${va.toString(16)}`);
      if (cls === 'private') t.true(va < 0x80000000, 'private pages map user VAs');
      if (cls === 'kernel-stack') t.true(e.kernelStack);
    }
    t.true(checked > 4000);
    t.true(protoChecked > 500);
  });

  test(`${name}: resident section pages hold their files' bytes (image layout or file pages)`, (t) => {
    const v = view(cfg);
    const img = v.img;
    let n = 0;
    for (const s of img.layout.sections) {
      if (s.kind === 'pagefile') continue;
      const file = img.files.get(s.path!)!;
      t.truthy(file, s.path);
      const expect = (i: number): Buffer => {
        const out = Buffer.alloc(4096);
        if (s.kind === 'data') file.copy(out, 0, i * 4096, Math.min(file.length, i * 4096 + 4096));
        else {
          // Map the file: headers, then each section's raw data at its RVA.
          const lfanew = file.readUInt32LE(0x3c);
          const nsec = file.readUInt16LE(lfanew + 6);
          const sizeOfHeaders = file.readUInt32LE(lfanew + 24 + 60);
          const st = lfanew + 24 + file.readUInt16LE(lfanew + 20);
          if (i === 0) file.copy(out, 0, 0, sizeOfHeaders);
          for (let k = 0; k < nsec; k++) {
            const h = st + 40 * k;
            const [vsz, rva, rawSize, rawPtr] = [file.readUInt32LE(h + 8), file.readUInt32LE(h + 12), file.readUInt32LE(h + 16), file.readUInt32LE(h + 20)];
            const lo = Math.max(rva, i * 4096);
            const hi = Math.min(rva + Math.min(vsz, rawSize), i * 4096 + 4096);
            if (lo < hi) file.copy(out, lo - i * 4096, rawPtr + lo - rva, rawPtr + hi - rva);
          }
        }
        return out;
      };
      s.pfns.forEach((pfn, i) => {
        if (pfn < 0) return;
        n++;
        t.true(v.raw.subarray(pfn * 4096, pfn * 4096 + 4096).equals(expect(i)), `${s.path} page ${i}`);
      });
    }
    t.true(n > 3000);
  });

  test(`${name}: the ELF32 and raw wrappers open with openImage and give the same memory`, (t) => {
    const { img } = gen(cfg);
    const dir = tmpPath(`win7-${cfg.build}-${pae ? 'pae' : 'nonpae'}`);
    const w = saveWindows7Image(dir, img);
    const want = sha(img.raw());
    const elf = openImage(w.elf);
    try {
      t.is(elf.format, 'elf-dump');
      t.is(elf.ramBytes, img.layout.ramPages * 4096);
      t.is(elf.cpus[0].cr3, BigInt(img.cpu.cr3));
      t.is(elf.cpus[0].cr4, BigInt(img.cpu.cr4));
      t.is(elf.cpus[0].cr0, BigInt(img.cpu.cr0));
      const h = createHash('sha1');
      let pages = 0;
      elf.memory.forEachPageBatch((first, count, bytes) => {
        t.is(first, pages);
        pages += count;
        h.update(bytes.subarray(0, count * 4096));
      });
      t.is(pages, img.layout.ramPages);
      t.is(h.digest('hex'), want);
    } finally {
      elf.close();
    }
    const head = fs.readFileSync(w.elf).subarray(0, 20);
    t.is(head[4], 1, 'ELFCLASS32');
    t.is(head.readUInt16LE(18), 3, 'EM_386');
    const raw = openImage(w.raw);
    try {
      t.is(raw.format, 'raw');
      t.is(sha(fs.readFileSync(w.raw)), want);
    } finally {
      raw.close();
    }
    const ntdll = path.join(w.filesDir, 'Windows', 'System32', 'ntdll.dll');
    t.true(fs.readFileSync(ntdll).equals(img.files.get('\\Windows\\System32\\ntdll.dll')!));
    t.true(fs.existsSync(path.join(dir, 'truth.pagemap')));
    fs.rmSync(dir, { recursive: true, force: true });
  });
}

test('writeWindows7Image: the same options give the same image', (t) => {
  const dir = tmpPath('win7-write');
  const w = writeWindows7Image(dir, { pae: false, ...OPTS });
  t.is(sha(fs.readFileSync(w.raw)), sha(gen(WIN7_NONPAE).img.raw()));
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'truth-windows.json'), 'utf8')) as { classes: string[]; runs: [number, number, string][] };
  t.deepEqual(json.classes, [...WIN7_PAGE_CLASSES]);
  t.is(json.runs.reduce((a, r) => a + r[1], 0), gen(WIN7_NONPAE).img.layout.ramPages);
  fs.rmSync(dir, { recursive: true, force: true });
});
