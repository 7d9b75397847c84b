/**
 * Which Windows this is, from the kernel's own data once a page table is known:
 *   - NtMajorVersion / NtMinorVersion from _KUSER_SHARED_DATA (dtb.ts `readKuser`);
 *   - the build from NtBuildLab (KDBG +0x208, the address of a string such as
 *     "7601.17514.x86fre.win7sp1_rtm.101119-1850"; V2 kdbg_vtypes.py overlay: pointer to String),
 *     else from _DBGKD_GET_VERSION64 next to KDBG (MinorVersion is the build; V2
 *     `dbgkd_find_version64`: the one whose KernBase and PsLoadedModuleList equal KDBG's);
 *     Windows 7's _KUSER_SHARED_DATA has no NtBuildNumber (offsets.ts);
 *   - the service pack from CmNtCSDVersion (KDBG +0x268, address of a ULONG: SP << 8; V2 `ServicePack`).
 * Then the offset table for the build and paging kernel, or a refusal naming what was found.
 */
import { IntrospectionError, IntrospectionErrorCode } from '../../util/errors.js';
import type { KernelRoot } from './dtb.js';
import { Kdbg } from './kdbg.js';
import { KDBG_SIZES, LAYOUTS, layoutFor, WindowsLayout } from './offsets.js';
import { hex, KernelSpace } from './vmem.js';

export interface WindowsVersion {
  major: number;
  minor: number;
  build?: number;
  buildFrom?: 'NtBuildLab' | 'DBGKD_GET_VERSION64';
  /** NtBuildLab as read (e.g. "7601.17514.x86fre.win7sp1_rtm.101119-1850"). */
  buildLab?: string;
  servicePack?: number;
}

/** _DBGKD_GET_VERSION64 (V2 win7_sp1_x86_vtypes.py, 0x28 bytes): MinorVersion +2, MachineType +8, KernBase +0x10, PsLoadedModuleList +0x18. */
const DBGKD = { minorVersion: 0x2, machineType: 0x8, kernBase: 0x10, psLoadedModuleList: 0x18, size: 0x28 } as const;

export function readVersion(space: KernelSpace, root: KernelRoot): WindowsVersion {
  const k = root.kdbg;
  const v: WindowsVersion = { major: root.kuser.major, minor: root.kuser.minor };
  const lab = k.ntBuildLab >= 0x80000000 ? space.tryRead(k.ntBuildLab, 64) : undefined;
  if (lab) {
    const s = lab.toString('latin1', 0, Math.max(0, lab.indexOf(0)) || lab.length);
    const m = /^(\d{4,5})\./.exec(s);
    if (m) {
      v.build = Number(m[1]);
      v.buildFrom = 'NtBuildLab';
      v.buildLab = s;
    }
  }
  if (v.build === undefined) {
    const b = dbgkdBuild(space, root.kdbgVa, k);
    if (b !== undefined) {
      v.build = b;
      v.buildFrom = 'DBGKD_GET_VERSION64';
    }
  }
  const csd = k.cmNtCSDVersion >= 0x80000000 ? space.tryU32(k.cmNtCSDVersion) : undefined;
  if (csd !== undefined) v.servicePack = (csd >>> 8) & 0xff;
  return v;
}

/** _DBGKD_GET_VERSION64 within 8 pages either side of KDBG (byte by byte, as V2 does; 4-byte steps here: it holds ULONG64s). */
function dbgkdBuild(space: KernelSpace, kdbgVa: number, k: Kdbg): number | undefined {
  const start = Math.max(0x80000000, (kdbgVa & ~0xfff) - 8 * 4096);
  for (let page = start; page < kdbgVa + 8 * 4096 && page < 2 ** 32; page += 4096) {
    const b = space.tryRead(page, 4096 + DBGKD.size);
    if (!b) continue;
    for (let o = 0; o + DBGKD.size <= b.length; o += 4) {
      if (b.readUInt32LE(o + DBGKD.kernBase) !== k.kernBase || b.readUInt32LE(o + DBGKD.psLoadedModuleList) !== k.psLoadedModuleList) continue;
      if (b.readUInt16LE(o + DBGKD.machineType) !== 0x14c) continue;
      const build = b.readUInt16LE(o + DBGKD.minorVersion);
      if (build >= 2195 && build < 30000) return build;
    }
  }
  return undefined;
}

/** The offset table for what was found, or INTROSPECT_UNSUPPORTED naming it (version, build, paging, KDBG size). */
export function selectLayout(v: WindowsVersion, pae: boolean, k: Kdbg): WindowsLayout {
  const what = `Windows NT ${v.major}.${v.minor}${v.build !== undefined ? ` build ${v.build}` : ', build unknown (NtBuildLab unreadable, no _DBGKD_GET_VERSION64 next to KDBG)'}` +
    `${v.servicePack ? ` SP${v.servicePack}` : ''}, ${pae ? 'PAE' : 'non-PAE'} kernel, KDBG Header.Size ${hex(k.size)}` +
    `${KDBG_SIZES.has(k.size) ? ` (${KDBG_SIZES.get(k.size)})` : ''}`;
  const known = LAYOUTS.map((l) => l.name).join('; ');
  const l = v.build !== undefined ? layoutFor(v.build, pae) : undefined;
  if (!l) throw new IntrospectionError(IntrospectionErrorCode.UNSUPPORTED, `${what}: no offset table for it (known: ${known})`, { major: v.major, minor: v.minor, build: v.build, pae, kdbgSize: k.size });
  if (l.major !== v.major || l.minor !== v.minor) {
    throw new IntrospectionError(IntrospectionErrorCode.INCONSISTENT, `${what}: build ${v.build} is ${l.name} but _KUSER_SHARED_DATA says NT ${v.major}.${v.minor}`, { major: v.major, minor: v.minor, build: v.build });
  }
  if (k.size !== l.kdbgSize) {
    throw new IntrospectionError(IntrospectionErrorCode.UNSUPPORTED, `${what}: ${l.name} has a KDBG of ${hex(l.kdbgSize)} bytes`, { build: v.build, kdbgSize: k.size });
  }
  // KDBG carries a few offsets of its own kernel: they must agree with the table.
  if (k.offsetEprocessDirectoryTableBase !== 0 && k.offsetEprocessDirectoryTableBase !== l.eprocess.directoryTableBase) {
    throw new IntrospectionError(IntrospectionErrorCode.INCONSISTENT, `${what}: KDBG's OffsetEprocessDirectoryTableBase is ${hex(k.offsetEprocessDirectoryTableBase)}, the ${l.name} table has ${hex(l.eprocess.directoryTableBase)}`, { build: v.build });
  }
  if (k.offsetEprocessPeb !== 0 && k.offsetEprocessPeb !== l.eprocess.peb) {
    throw new IntrospectionError(IntrospectionErrorCode.INCONSISTENT, `${what}: KDBG's OffsetEprocessPeb is ${hex(k.offsetEprocessPeb)}, the ${l.name} table has ${hex(l.eprocess.peb)}`, { build: v.build });
  }
  return l;
}
