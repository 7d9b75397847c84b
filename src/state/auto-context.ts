/**
 * A domain's context built from its own disks (issue: migration at its best with no flags), kept in
 * the state dir as `<state>/contexts/<domain>.auto.ctx` with `<domain>.auto.json` beside it (which
 * disk it came from, that disk's identity then, the digest). Both ends of a migration call this with
 * the same disk paths; the migration uses the context only when their digests agree.
 *
 * Reuse: the stored context is used again while the disk file's identity (size, modification time,
 * inode) is what it was when the context was built — a read-only root disk, or one the guest has not
 * written since. A disk being written changes its mtime, so the context is rebuilt from it; a build
 * during which the disk changed (size, mtime or inode differ after it) may hold torn files and is
 * not used: tried once more, then the disk is passed over with that reason (a context is in any
 * case used only when both ends hold the same bytes, and the image's SHA-256 is checked after).
 *
 * The disk taken is the first of the domain's disks (in XML order) that `mig context build` reads:
 * an ext2/3/4 or NTFS file system, or a qcow2/partitioned disk holding one; others (swap, data disks
 * without a file system) are passed over and named in `skipped`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildContext, sourceKind, writeContext } from '../context/build.js';
import { readContextHeader } from '../context/open.js';
import { checkDomainName, stateSubdir, writeFileAtomic } from './dir.js';
import { fileIdentity, sameIdentity, type FileIdentity } from '../util/file.js';

export interface AutoContext {
  path: string;
  digest: string;
  /** The disk it was built from. */
  disk: string;
  files: number;
  bytes: number;
  /** Seconds spent now (reading the stored one, or building it). */
  seconds: number;
  /** Reused from an earlier migration (the disk unchanged since). */
  reused: boolean;
  /** Disks passed over, and why. */
  skipped: { disk: string; why: string }[];
}

interface Sidecar {
  disk: string;
  identity: FileIdentity;
  digest: string;
  files: number;
  builtAt: string;
}

/** Build (or reuse) the domain's context from its disks; throws an Error saying why when no disk gives one. */
export async function autoContextFor(stateDir: string, domain: string, disks: readonly string[]): Promise<AutoContext> {
  const t0 = performance.now();
  checkDomainName(domain);
  const dir = stateSubdir(stateDir, 'contexts');
  const ctxPath = path.join(dir, `${domain}.auto.ctx`);
  const sidePath = path.join(dir, `${domain}.auto.json`);
  const skipped: AutoContext['skipped'] = [];
  for (const disk of disks) {
    let id: Sidecar['identity'];
    try {
      id = fileIdentity(disk);
      sourceKind(disk);
    } catch (e) {
      skipped.push({ disk, why: (e as Error).message });
      continue;
    }
    // The stored one, while the disk is unchanged since it was built.
    try {
      const side = JSON.parse(fs.readFileSync(sidePath, 'utf8')) as Sidecar;
      if (side.disk === disk && sameIdentity(side.identity, id)) {
        const h = readContextHeader(ctxPath);
        if (h.digest.toString('hex') === side.digest) {
          return { path: ctxPath, digest: side.digest, disk, files: side.files, bytes: h.fileSize, seconds: (performance.now() - t0) / 1000, reused: true, skipped };
        }
      }
    } catch { /* none stored, or unreadable: build it */ }
    // A disk written while it is read may give torn files: the build counts only when the disk's
    // identity (size, mtime, inode) is the same after it as before. Once more if not; then passed over.
    let built: Awaited<ReturnType<typeof buildContext>> | undefined;
    let why: string | undefined;
    for (let attempt = 0; attempt < 2 && !built; attempt++) {
      try {
        const b = await buildContext(disk, {});
        const after = fileIdentity(disk);
        if (sameIdentity(after, id)) built = b;
        else {
          why = 'the disk was written while it was read (a running guest writing it): its files may be torn; pass --context, or migrate when it is idle';
          id = after;
        }
      } catch (e) {
        why = (e as Error).message;
        break;
      }
    }
    if (!built) {
      skipped.push({ disk, why: why ?? 'no context' });
      continue;
    }
    if (built.files.length === 0) {
      skipped.push({ disk, why: 'no executables or libraries under the default roots' });
      continue;
    }
    const w = writeContext(built, ctxPath);
    const digest = built.digest.toString('hex');
    writeFileAtomic(sidePath, JSON.stringify({ disk, identity: id, digest, files: built.files.length, builtAt: new Date().toISOString() } satisfies Sidecar, null, 2) + '\n');
    return { path: ctxPath, digest, disk, files: built.files.length, bytes: w.fileSize, seconds: (performance.now() - t0) / 1000, reused: false, skipped };
  }
  throw new Error(`no disk of ${domain} gives a context: ${skipped.map((s) => `${s.disk}: ${s.why}`).join('; ') || 'it has no disks'}`);
}
