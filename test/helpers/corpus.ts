/**
 * The real test guests built by vm-images/ (`make vm-small`, `make vm-large`). Tests that need one
 * fail with a clear message when it is missing: `make test` builds the small guest first.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const VM_CACHE = process.env.VM_CACHE || '/var/cache/mig/vm-images';

export interface GuestManifest {
  name: string;
  memMiB: number;
  accel: 'kvm' | 'tcg';
  machine: string;
  kernelRelease: string;
  dir: string;
  files: { save1: string; dump: string; save2: string; kpageflags: string; domainXml: string };
  serialLog: string;
  serialLogOnRestore: string;
  heartbeat: { beforeSave1: number; firstAfterRestore: number; beforeSave2: number; intervalSeconds: number; pattern: string };
  kpageflags: { pfns: number; maxPfn: number; bytes: number };
  dumpHasVmcoreinfo: boolean;
}

export interface Guest {
  manifest: GuestManifest;
  path(file: keyof GuestManifest['files']): string;
}

export function loadGuest(name: 'mig-small' | 'mig-large'): Guest {
  const dir = path.join(VM_CACHE, name);
  const m = path.join(dir, 'manifest.json');
  if (!fs.existsSync(m)) {
    throw new Error(`guest ${name} is not built (no ${m}); run \`make ${name === 'mig-small' ? 'vm-small' : 'vm-large'}\` (VM_CACHE=${VM_CACHE})`);
  }
  const manifest = JSON.parse(fs.readFileSync(m, 'utf8')) as GuestManifest;
  return { manifest, path: (f) => path.join(dir, manifest.files[f]) };
}
