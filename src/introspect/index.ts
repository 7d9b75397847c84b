/**
 * Guest introspection's one entry: `introspect(image)` asks each OS module for its cheap probe, in
 * order, builds the page map with the first that recognises the memory, and returns one result
 * shape whatever the OS (os, release, arch, paging mode and root, page map, details). Callers
 * (analyze, encode, migrate, bench) never branch on the OS. See docs/introspection.md and
 * src/introspect/README.md (adding an OS, adding a paging mode).
 *
 * Takes the image structurally (memory + what the container knows: VMCOREINFO note, vCPU control
 * registers) so that introspection does not depend on the readers.
 */
import { isZeroPage, PAGE_SIZE, PhysicalMemory } from '../mem/physical-memory.js';
import { IntrospectionError, IntrospectionErrorCode, MigError } from '../util/errors.js';
import { linux, LinuxDetails } from './linux/index.js';
import { findVmcoreinfo, FoundVmcoreinfo, pagingModeNameFromVmcoreinfo, VmcoreinfoHints, VmcoreinfoSource } from './linux/vmcoreinfo.js';
import { windows } from './windows/index.js';
import type { CpuRegisters, IntrospectableImage, IntrospectOptions, OsIntrospection, OsModule } from './os.js';
import { PageMap, PageTypeCode } from './pagemap.js';
import { PAGING_MODES, pagingModeFromControlRegisters, rootFromCr3 } from './x86/paging.js';

export type { CpuRegisters, IntrospectableImage, IntrospectOptions, OsIntrospection } from './os.js';
export { markPcpFree, pfnSpan } from './os.js';
export type { LinuxDetails } from './linux/index.js';
export type { VmcoreinfoSource } from './linux/vmcoreinfo.js';
/** The per-page VMCOREINFO test, for callers that look at every page anyway (see `describeGuest`'s `seen`). */
export { vmcoreinfoInPage } from './linux/vmcoreinfo.js';

/** The OS modules, probed in this order: Linux (VMCOREINFO), then 32-bit Windows (KDBG + _KUSER_SHARED_DATA). */
const MODULES: readonly OsModule<unknown, unknown>[] = [linux as OsModule<unknown, unknown>, windows as OsModule<unknown, unknown>];

/** What the container's vCPU 0 says about paging, next to what the OS module walked. */
export interface CpuPaging {
  /** From CR0/CR4 (and EFER when the container has it); undefined when paging is off or unknown. */
  mode?: string;
  cr3: string;
  cr4?: string;
  /** The OS module's mode is consistent with the registers. */
  agrees: boolean;
}

export interface Introspection extends OsIntrospection<LinuxDetails> {
  seconds: number;
  /** From the container's CPU state, when it has one. */
  cpuPaging?: CpuPaging;
}

/** The page map of an opened image, or an IntrospectionError that says why not. */
export function introspect(image: IntrospectableImage, opts: IntrospectOptions = {}): Introspection {
  const t0 = performance.now();
  for (const m of MODULES) {
    const probed = m.probe(image, opts);
    if (probed === undefined) continue;
    const r = m.build(image, probed, opts) as OsIntrospection<LinuxDetails>;
    if (opts.zero !== false) markZeroPages(image.memory, r.map);
    const cpuPaging = cpuPagingOf(image.cpus, r.paging.mode);
    if (cpuPaging && !cpuPaging.agrees) {
      r.warnings.push(`vCPU ${image.cpus![0].index} runs ${cpuPaging.mode ?? 'without paging'} (CR4 ${cpuPaging.cr4 ?? '?'}) but the ${r.os} kernel describes ${r.paging.mode}`);
    }
    return { ...r, cpuPaging, seconds: (performance.now() - t0) / 1000 };
  }
  throw new IntrospectionError(IntrospectionErrorCode.NO_VMCOREINFO,
    'no supported guest OS: no VMCOREINFO found (no ELF note, no vmcoreinfo device address, and no VMCOREINFO page in guest memory): not a Linux guest, or a kernel built without CONFIG_CRASH_CORE; and no 32-bit Windows kernel (no KDBG with a _KUSER_SHARED_DATA page)');
}

/** What the guest says of itself without a page map: its VMCOREINFO and paging mode (`describeGuest`). */
export interface GuestSummary {
  vmcoreinfo?: { source: VmcoreinfoSource; gpa?: number; osRelease?: string; pageSize?: number };
  /**
   * vCPU 0's control registers ('container-cpu', with the root from its CR3; without EFER, CR4.PAE is
   * told apart from long mode by VMCOREINFO when present), else VMCOREINFO alone.
   */
  paging?: { mode: string; source: 'container-cpu' | 'vmcoreinfo'; root?: number };
}

/**
 * The guest's VMCOREINFO, found as the Linux module's probe finds it (`findVmcoreinfo`: the
 * container's ELF note, the vmcoreinfo device's note, a page the caller already saw, a scan unless
 * `scan: false`), and the paging mode it and the vCPU registers describe. Cheap: builds no page map
 * (`mig info`).
 */
export function describeGuest(image: IntrospectableImage, opts: { seen?: VmcoreinfoHints['seen']; scan?: boolean } = {}): GuestSummary {
  let found: FoundVmcoreinfo | undefined;
  try {
    found = findVmcoreinfo(image.memory, { noteText: image.vmcoreinfo, noteGpa: image.vmcoreinfoNoteGpa, seen: opts.seen }, { scan: opts.scan });
  } catch (e) {
    if (!(e instanceof IntrospectionError && e.code === IntrospectionErrorCode.NO_VMCOREINFO)) throw e;
  }
  const v = found?.vmcoreinfo;
  const fromV = v ? pagingModeNameFromVmcoreinfo(v) : undefined;
  let paging: GuestSummary['paging'];
  const cp = cpuPagingOf(image.cpus, fromV ?? '');
  if (cp?.mode !== undefined) {
    const mode = PAGING_MODES.find((m) => m.name === cp.mode)!;
    paging = { mode: cp.mode, source: 'container-cpu', root: rootFromCr3(BigInt(cp.cr3), mode) };
  } else if (fromV !== undefined) paging = { mode: fromV, source: 'vmcoreinfo' };
  return {
    vmcoreinfo: found && v ? { source: found.source, gpa: found.gpa, osRelease: v.osRelease, pageSize: v.pageSize } : undefined,
    paging,
  };
}

/** The paging mode vCPU 0's control registers select, compared with the mode the OS module used. */
export function cpuPagingOf(cpus: readonly CpuRegisters[] | undefined, osMode: string): CpuPaging | undefined {
  const c = cpus?.find((x) => x.cr3 !== undefined && x.cr0 !== undefined && x.cr4 !== undefined);
  if (!c) return undefined;
  const mode = pagingModeFromControlRegisters({ cr0: Number(c.cr0! & 0xffffffffn), cr4: Number(c.cr4! & 0xffffffffn), efer: c.efer !== undefined ? Number(c.efer & 0xffffffffn) : undefined });
  let name: string | undefined = mode?.name;
  let agrees = name === osMode;
  // Without EFER, CR4.PAE alone does not tell PAE from long mode: either is consistent with it.
  if (!agrees && mode && c.efer === undefined && (c.cr4! & 0x20n) !== 0n && (osMode === 'x86 PAE' || osMode.startsWith('x86-64'))) {
    agrees = true;
    name = osMode;
  }
  return { mode: name, cr3: '0x' + c.cr3!.toString(16), cr4: '0x' + c.cr4!.toString(16), agrees };
}

/** `other` pages whose content is all zero become `zero` (reads only those pages). */
export function markZeroPages(mem: PhysicalMemory, map: PageMap): number {
  const types = map.types;
  const buf = Buffer.allocUnsafe(PAGE_SIZE);
  let n = 0;
  for (let pfn = 0; pfn < types.length; pfn++) {
    if (types[pfn] !== PageTypeCode.other) continue;
    if (mem.readPage(pfn, buf) && isZeroPage(buf)) {
      types[pfn] = PageTypeCode.zero;
      n++;
    }
  }
  return n;
}

/** Why the page map could not be built, in one line (for "mig: no page map (<reason>)"). */
export function pageMapFailureReason(e: unknown): string {
  if (e instanceof IntrospectionError || e instanceof MigError) return e.message;
  return `internal error: ${(e as Error)?.message ?? e}`;
}
