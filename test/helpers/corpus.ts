/**
 * The real test guests built by vm-images/ (`make vm-small`, `make vm-large`, `make vm-i386`,
 * `make vm-i386-pae`). Tests that need one fail with a clear message when it is missing: `make test`
 * builds them all first.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const VM_CACHE = process.env.VM_CACHE || '/var/cache/mig/vm-images';

export type GuestName = 'mig-small' | 'mig-large' | 'mig-i386' | 'mig-i386-pae';

/** The make target that builds each guest. */
export const GUEST_TARGETS: Record<GuestName, string> = {
  'mig-small': 'vm-small',
  'mig-large': 'vm-large',
  'mig-i386': 'vm-i386',
  'mig-i386-pae': 'vm-i386-pae',
};

export interface GuestManifest {
  name: string;
  memMiB: number;
  accel: 'kvm' | 'tcg';
  machine: string;
  kernelRelease: string;
  /**
   * Guest architecture (libvirt `<type arch>`), kernel flavour (Debian's linux-image-<flavour>),
   * the paging mode that kernel uses, the dump's ELF class and machine, and the firmware
   * ('seabios-rom': QEMU's default BIOS ROM; 'seabios-pflash': SeaBIOS as a read-only pflash device).
   */
  arch: 'x86_64' | 'i686';
  kernelFlavour: 'amd64' | '686' | '686-pae';
  expectedPaging: 'x86-64 4-level' | 'x86 non-PAE' | 'x86 PAE';
  dumpElfClass: 32 | 64;
  dumpElfMachine: 'EM_386' | 'EM_X86_64';
  firmware: 'seabios-rom' | 'seabios-pflash';
  /** What the guest's /proc/cpuinfo showed (MIG-CPU line): machine (uname -m), pae, nx, lm (0/1). */
  guestCpu: { machine?: string; pae?: number; nx?: number; lm?: number };
  /** false when the build skipped the activity phase and save2 (SAVE2=0): files.save2 is absent. */
  save2Captured: boolean;
  dir: string;
  files: { save1: string; dump: string; save2?: string; kpageflags: string; domainXml: string; pagemap?: string };
  serialLog: string;
  serialLogOnRestore: string;
  heartbeat: { beforeSave1: number; firstAfterRestore: number; beforeSave2: number | null; intervalSeconds: number; pattern: string };
  kpageflags: { pfns: number; maxPfn: number; bytes: number };
  /** The in-guest /proc/PID/pagemap sample (files.pagemap), when the build took one (PAGEMAP > 0). */
  pagemap?: { perProcess: number; records: number; unixTime: number; processes: { pid: number; comm?: string; mappings?: number; presentPages?: number; sampled?: number; error?: string }[] };
  dumpHasVmcoreinfo: boolean;
}

export interface Guest {
  manifest: GuestManifest;
  /** Absolute path of one of the guest's files; throws when this build did not capture it (save2, pagemap). */
  path(file: keyof GuestManifest['files']): string;
}

export function loadGuest(name: GuestName): Guest {
  const dir = path.join(VM_CACHE, name);
  const m = path.join(dir, 'manifest.json');
  if (!fs.existsSync(m)) {
    throw new Error(`guest ${name} is not built (no ${m}); run \`make ${GUEST_TARGETS[name]}\` (VM_CACHE=${VM_CACHE})`);
  }
  const manifest = JSON.parse(fs.readFileSync(m, 'utf8')) as GuestManifest;
  return {
    manifest,
    path: (f) => {
      const file = manifest.files[f];
      if (file === undefined) throw new Error(`guest ${name} has no ${f} capture (see ${m})`);
      return path.join(dir, file);
    },
  };
}
