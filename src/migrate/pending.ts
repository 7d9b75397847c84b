/**
 * Pending-state I/O: saves/<domain>.json records a migration that saved its domain here and has not
 * finished, so that a later run (after a crash or SIGKILL) knows how to resume or settle it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { processAlive, writeFileAtomic } from '../state/dir.js';
import { MigrateError } from './errors.js';

/** saves/<domain>.json: a migration that saved its domain and has not committed yet. */
export interface PendingMigration {
  id: string;
  destination: string;
  image: string;
  baseline: { digest: string; kind: 'domain' | 'blank' } | null;
  context: string | null;
  /** Free-page list of the encoder (file offsets zeroed before the image is kept as a baseline); null: none. */
  freeList?: string | null;
  /**
   * saving: libvirt's save was under way (its outcome decides: wait for the job, then as saved);
   * saved (or absent: older records): the domain is saved here, not committed (--resume sends it);
   * committed: the commit line went out (the destination may run it: ask there before anything).
   */
  phase?: 'saving' | 'saved' | 'committed';
  pid: number;
  savedAt: string;
}

/** The pending migration of `domain` left by a process that is gone (with its save image), or undefined. */
export function readPending(saves: string, domain: string): PendingMigration | undefined {
  let p: PendingMigration;
  try {
    p = JSON.parse(fs.readFileSync(path.join(saves, `${domain}.json`), 'utf8')) as PendingMigration;
  } catch {
    return undefined;
  }
  if (typeof p !== 'object' || p === null || typeof p.id !== 'string' || !/^[0-9a-f]{32}$/.test(p.id) || typeof p.destination !== 'string') return undefined;
  if (p.image !== path.join(saves, `${domain}.img`) || !fs.existsSync(p.image)) return undefined;
  if (Number.isInteger(p.pid) && p.pid !== process.pid && processAlive(p.pid)) {
    throw new MigrateError('BUSY', `a migration of ${domain} is running (process ${p.pid})`);
  }
  if (p.context !== null && typeof p.context !== 'string') return undefined;
  if (p.baseline !== null && (typeof p.baseline !== 'object' || typeof p.baseline.digest !== 'string')) return undefined;
  if (p.phase !== undefined && p.phase !== 'saving' && p.phase !== 'saved' && p.phase !== 'committed') return undefined;
  if (p.freeList !== undefined && p.freeList !== null && p.freeList !== path.join(saves, `${domain}.free`)) return undefined;
  return p;
}

/** Write the record (atomically: a crash leaves the old one or the new one). */
export function writePending(file: string, p: PendingMigration): void {
  writeFileAtomic(file, JSON.stringify(p, null, 2) + '\n');
}
