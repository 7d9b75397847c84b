/**
 * The state dir (default /var/lib/mig; `--state-dir`, env MIG_STATE_DIR): where mig keeps baselines,
 * contexts, incoming images and logs. Layout (docs/migrate.md):
 *
 *     baselines/images/<sha256>        baseline image files, named by the SHA-256 of their bytes
 *     baselines/images/<sha256>.json   their metadata (bytes, addedAt)
 *     baselines/domains/<domain>.json  per-domain history, newest first: [{digest, addedAt, origin}]
 *     baselines/blank/<os>.json        blank baselines: a freshly booted VM of an OS
 *     contexts/*.ctx                   contexts (mig context build) this host offers
 *     incoming/                        images being received (mig receive); saves/: images being sent
 *     log/                             the libvirt hook's log
 *     lock                             held by writers of the store (pid inside)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MigError } from '../util/errors.js';
import { sleepSync as sleep } from '../util/fd.js';

/** State files are written like every mig output (temp file, fsync, rename), private (0600). */
export { writeFileAtomic } from '../util/sink.js';

export const DEFAULT_STATE_DIR = '/var/lib/mig';

export function resolveStateDir(option?: string): string {
  return path.resolve(option || process.env.MIG_STATE_DIR || DEFAULT_STATE_DIR);
}

export class StateError extends MigError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('STATE', message, data);
  }
}

/** Create `sub` under the state dir (mode 0700: images hold guest memory) and return its path. */
export function stateSubdir(stateDir: string, ...sub: string[]): string {
  const p = path.join(stateDir, ...sub);
  try {
    fs.mkdirSync(p, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new StateError(`cannot create ${p} in the state dir: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { path: p });
  }
  return p;
}


export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * An exclusive lock file (`O_CREAT|O_EXCL`, our pid inside). A lock whose holder is dead is taken
 * over; a live holder is waited for up to `timeoutMs`, then StateError names it.
 */
export function acquireLock(file: string, timeoutMs = 30_000): () => void {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = fs.openSync(file, 'wx', 0o600);
      fs.writeSync(fd, `${process.pid}\n`);
      fs.closeSync(fd);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        try {
          if (Number(fs.readFileSync(file, 'utf8')) === process.pid) fs.rmSync(file, { force: true });
        } catch { /* already gone */ }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new StateError(`cannot create lock ${file}: ${(e as NodeJS.ErrnoException).code}`, { lock: file });
    }
    let holder = NaN;
    try {
      holder = Number(fs.readFileSync(file, 'utf8').trim());
    } catch { /* vanished between open and read: retry */ }
    if (Number.isInteger(holder) && holder > 0 && !processAlive(holder)) {
      // Stale: take it over by renaming it away first, so two waiters cannot both remove a fresh lock.
      const stale = `${file}.stale-${process.pid}`;
      try {
        fs.renameSync(file, stale);
        if (Number(fs.readFileSync(stale, 'utf8').trim()) !== holder) fs.renameSync(stale, file);
        else fs.rmSync(stale, { force: true });
      } catch { /* someone else got there */ }
      continue;
    }
    if (Date.now() > deadline) throw new StateError(`${file} is held by process ${holder} (waited ${timeoutMs / 1000} s)`, { lock: file, pid: holder });
    sleep(50);
  }
}

export function withLock<T>(file: string, fn: () => T, timeoutMs?: number): T {
  const release = acquireLock(file, timeoutMs);
  try {
    return fn();
  } finally {
    release();
  }
}

/**
 * Libvirt domain names as mig accepts them for anything that becomes a path or a lookup key (and OS
 * names of blank baselines: the same rule). hooks/qemu repeats this rule in bash: keep them equal.
 */
export const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.+:-]{0,127}$/;

function isSafeName(name: unknown): name is string {
  return typeof name === 'string' && SAFE_NAME.test(name) && !name.includes('..');
}

export function checkDomainName(name: string): string {
  if (!isSafeName(name)) {
    throw new MigError('BAD_DOMAIN_NAME', `invalid domain name ${JSON.stringify(name)}: mig accepts 1-128 characters of A-Z a-z 0-9 _ . + : -, not starting with . or -, without ".."`, { domain: name });
  }
  return name;
}

/** OS names of blank baselines: the same rule. */
export function checkOsName(name: string): string {
  if (!isSafeName(name)) {
    throw new MigError('USAGE', `invalid OS name ${JSON.stringify(name)}: use A-Z a-z 0-9 _ . + : -`, { os: name });
  }
  return name;
}
