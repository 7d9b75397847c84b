/**
 * Reading a Windows guest's NTFS disk image without mounting it: ntfs-3g's userspace tools (Debian
 * package ntfs-3g; libntfs-3g opens the image read-only, no FUSE, no kernel driver) copy the files
 * a context can select into a private directory, which the directory walker (tree.ts) then reads
 * exactly as it reads a real tree.
 *
 * Per directory the selection can reach (walkDirs, each component matched case-insensitively):
 *   - `ntfsls -a -F -i -l -p <dir>`: every name (Win32, Win32+DOS and POSIX names; DOS-only 8.3
 *     aliases are not listed) with its MFT record number, the size of its unnamed $DATA, and a `/`
 *     after directories. libntfs-3g's readdir checks each index entry before using it.
 *   - `ntfsinfo -v -t -i <record>`, for a directory holding a file the selection may take: its
 *     index entries again, for the one fact ntfsls does not print, the REPARSE_POINT attribute
 *     (ntfsls shows a junction or symlink as a non-directory, but not whether a non-directory is
 *     one). Both listings must name the same records with the same directory bit, or the build
 *     fails (a damaged index, or a name ntfsls mangled).
 * Reparse points (symlinks, junctions, mount points, WOF/dedup stubs) are skipped like symlinks in
 * a directory source: never followed, never stored. Named streams (alternate data streams) are not
 * listed and not read: only a file's unnamed $DATA is its content, as a Windows process maps it.
 * Then `ntfscat -i <record>` writes each file the selection may take (under a default root, or
 * matching an --include glob) into the scratch tree, at most EXTRACT_JOBS at a time; its length
 * must equal the size ntfsls listed. A file over MAX_FILE_BYTES is still extracted here and then
 * skipped by name (tree.ts), as from an ext4 image.
 *
 * Every tool runs with a time limit and an output cap; any failure (not installed, exit status,
 * a signal, anything on stderr) fails the build with the tool's first stderr line, naming the
 * image. A directory reached twice (a cycle in a damaged index) fails it too.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { MigError } from '../util/errors.js';
import { classify, nameMatches, walkDirs, type Selection } from './tree.js';

/** The OEM id at byte 3 of an NTFS boot sector. */
export const NTFS_OEM_ID = 'NTFS    ';
/** MFT record number of the root directory (FILE_root). */
export const NTFS_ROOT_RECORD = 5;
/** FILE_ATTRIBUTE_REPARSE_POINT in a $FILE_NAME's file attributes. */
const FILE_ATTR_REPARSE_POINT = 0x400;
/** FILE_ATTR_I30_INDEX_PRESENT (ntfs-3g's name for a directory's $FILE_NAME attribute bit). */
const FILE_ATTR_I30_INDEX_PRESENT = 0x10000000;
/** ntfscat processes run at once. */
const EXTRACT_JOBS = 4;
/** Per tool run: wall-clock limit and stdout cap (a listing of a huge or looping index). */
const TOOL_TIMEOUT_MS = 10 * 60 * 1000;
const LISTING_CAP = 256 * 2 ** 20;

/**
 * True when `file` starts with an NTFS boot sector: OEM id "NTFS    " at byte 3, bytes per sector
 * (u16 at 0x0b) a power of two in 256…4096, sectors per cluster (u8 at 0x0d) a power of two up to
 * 128 or a shift 2^(256 − n) for n in 0xf4…0xff (clusters of 4 KiB…2 MiB and up), a cluster of at
 * most 2 MiB, and the 0x55 0xaa boot signature at byte 510.
 */
export function isNtfsImage(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(512);
    if (fs.readSync(fd, b, 0, 512, 0) !== 512) return false;
    if (b.toString('latin1', 3, 11) !== NTFS_OEM_ID) return false;
    const bps = b.readUInt16LE(0x0b);
    if (bps < 256 || bps > 4096 || (bps & (bps - 1)) !== 0) return false;
    const spcByte = b[0x0d];
    let spc: number;
    if (spcByte >= 1 && spcByte <= 128 && (spcByte & (spcByte - 1)) === 0) spc = spcByte;
    else if (spcByte >= 0xf4) spc = 2 ** (256 - spcByte);
    else return false;
    if (bps * spc > 2 * 2 ** 20) return false;
    return b[510] === 0x55 && b[511] === 0xaa;
  } finally {
    fs.closeSync(fd);
  }
}

/** An ntfs-3g tool failure: not installed, volume unreadable, or output that does not add up. */
export class NtfsError extends MigError {
  constructor(image: string, detail: string, data: Record<string, unknown> = {}) {
    super('CONTEXT_SOURCE', `${image}: ${detail}`, { file: image, ...data });
  }
}

interface ToolRun {
  stdout: string;
}

/** Run an ntfs-3g tool on `image`; stdout is captured (capped) unless `stdoutFd` takes it. */
function runTool(image: string, tool: string, args: string[], stdoutFd?: number): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, {
      stdio: ['ignore', stdoutFd ?? 'pipe', 'pipe'],
      // UTF-8 names whatever the caller's locale; no pager, no colours.
      env: { ...process.env, LC_ALL: 'C.UTF-8', LANG: 'C.UTF-8' },
    });
    // Our own timer (spawn's `timeout` option keeps a process alive for its whole length when the
    // tool is missing): cleared on close or error, and unref'd.
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, TOOL_TIMEOUT_MS);
    timer.unref();
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let overflow = false;
    child.stdout?.on('data', (d: Buffer) => {
      outBytes += d.length;
      if (outBytes > LISTING_CAP) {
        overflow = true;
        child.kill('SIGKILL');
      } else out.push(d);
    });
    child.stderr!.on('data', (d: Buffer) => {
      if (errBytes < 65536) err.push(d);
      errBytes += d.length;
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new NtfsError(image, e.code === 'ENOENT'
        ? `${tool} not found on PATH; install the Debian package ntfs-3g (its ntfsls, ntfsinfo and ntfscat read NTFS images without mounting them)`
        : `${tool}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const lines = Buffer.concat(err).toString('utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '');
      // The first line, and libntfs-3g's "Failed to mount …" verdict when it comes later.
      const verdict = lines.slice(1).find((l) => l.startsWith('Failed to mount'));
      const first = (lines[0] ?? '') + (verdict ? `; ${verdict}` : '');
      const cmd = `${tool} ${args.join(' ')}`;
      if (overflow) reject(new NtfsError(image, `${cmd}: printed more than ${LISTING_CAP} bytes (a damaged or looping index?)`));
      else if (signal) reject(new NtfsError(image, `${cmd}: killed by ${signal}${timedOut ? ` (time limit ${TOOL_TIMEOUT_MS / 1000} s)` : ''}${first ? `: ${first}` : ''}`));
      else if (code !== 0) reject(new NtfsError(image, `${cmd}: exit status ${code}: ${first || '(no message)'}`, { stderr: lines.slice(0, 10) }));
      else if (lines.length) reject(new NtfsError(image, `${cmd}: ${first}`, { stderr: lines.slice(0, 10) }));
      else resolve({ stdout: Buffer.concat(out).toString('utf8') });
    });
  });
}

/** One name in an NTFS directory as ntfsls lists it. */
export interface NtfsEntry {
  name: string;
  record: number;
  dir: boolean;
  /** Length of the unnamed $DATA (0 for directories). */
  size: number;
}

/**
 * Parse `ntfsls -F -i -l` output: "%7llu    %8lld <Mon dd HH:MM YYYY> name" per line, a `/` after
 * directory names; `.` and `..` are dropped. A name holds neither `/` nor NUL (NTFS forbids both).
 */
export function parseNtfsls(image: string, dir: string, text: string): NtfsEntry[] {
  const out: NtfsEntry[] = [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (const line of lines) {
    const m = /^ *(\d+) +(\d+) [A-Z][a-z]{2} [ \d]\d \d\d:\d\d -?\d+ (.+)$/.exec(line);
    if (!m) throw new NtfsError(image, `ntfsls ${dir}: cannot parse the line ${JSON.stringify(line)}`);
    const dirFlag = m[3].endsWith('/');
    const name = dirFlag ? m[3].slice(0, -1) : m[3];
    if (name === '.' || name === '..') continue;
    if (name === '' || name.includes('/') || name.includes('\0')) throw new NtfsError(image, `${dir}: invalid file name ${JSON.stringify(m[3])} (record ${m[1]})`);
    const record = Number(m[1]);
    const size = Number(m[2]);
    if (!Number.isSafeInteger(record) || !Number.isSafeInteger(size)) throw new NtfsError(image, `ntfsls ${dir}: record or size out of range in ${JSON.stringify(line)}`);
    out.push({ name, record, dir: dirFlag, size });
  }
  return out;
}

/**
 * Parse `ntfsinfo -v -t -i <dir>` output: for each index entry, its FILE record number and the
 * file attributes of its $FILE_NAME key ("File attributes: <names> (0x%08x)"). Returns record →
 * attributes (OR over a record's names).
 */
export function parseNtfsinfoIndex(image: string, dir: string, text: string): Map<number, number> {
  const attrs = new Map<number, number>();
  let record: number | undefined;
  for (const line of text.split('\n')) {
    const r = /^\t\tFILE record number:\t (\d+) \(0x[0-9a-f]+\)$/.exec(line);
    if (r) {
      if (record !== undefined) throw new NtfsError(image, `ntfsinfo ${dir}: index entry for record ${record} has no file attributes`);
      record = Number(r[1]);
      continue;
    }
    const a = /^\t\tFile attributes:\t.*\(0x([0-9a-f]{8})\)$/.exec(line);
    if (a && record !== undefined) {
      attrs.set(record, (attrs.get(record) ?? 0) | parseInt(a[1], 16));
      record = undefined;
    }
  }
  if (record !== undefined) throw new NtfsError(image, `ntfsinfo ${dir}: index entry for record ${record} has no file attributes`);
  return attrs;
}

/** List one directory (by NTFS path) with ntfsls. */
async function listDir(image: string, ntfsPath: string): Promise<NtfsEntry[]> {
  const ls = await runTool(image, 'ntfsls', ['-a', '-F', '-i', '-l', '-p', ntfsPath, image]);
  return parseNtfsls(image, ntfsPath, ls.stdout);
}

/**
 * The records of `entries` (ntfsls's listing of the directory at `ntfsPath`, MFT record `record`)
 * that are reparse points, from ntfsinfo's dump of the same index; the two must agree on every
 * record and, for the others, on which are directories.
 */
async function reparsePoints(image: string, ntfsPath: string, record: number, entries: NtfsEntry[]): Promise<Set<number>> {
  const info = await runTool(image, 'ntfsinfo', ['-v', '-t', '-i', String(record), image]);
  const attrs = parseNtfsinfoIndex(image, ntfsPath, info.stdout);
  const out = new Set<number>();
  for (const e of entries) {
    const a = attrs.get(e.record);
    if (a === undefined) throw new NtfsError(image, `${ntfsPath}: ntfsls lists ${JSON.stringify(e.name)} (record ${e.record}), the directory's index dump (ntfsinfo) does not`);
    if (a & FILE_ATTR_REPARSE_POINT) {
      out.add(e.record);
      continue;
    }
    // ntfs-3g lists a reparse point as a non-directory whatever it points at; otherwise the bits must agree.
    if (((a & FILE_ATTR_I30_INDEX_PRESENT) !== 0) !== e.dir) {
      throw new NtfsError(image, `${ntfsPath}: ${JSON.stringify(e.name)} (record ${e.record}) is ${e.dir ? '' : 'not '}a directory to ntfsls but its index entry says otherwise`);
    }
  }
  return out;
}

interface Extraction {
  record: number;
  size: number;
  ntfsPath: string;
  dest: Buffer;
}

/** Write the unnamed $DATA of each file with ntfscat, EXTRACT_JOBS at a time; lengths must match the listing. */
async function extractFiles(image: string, jobs: Extraction[]): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < jobs.length && !failed) {
      const j = jobs[next++];
      let fd: number;
      try {
        fd = fs.openSync(j.dest, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
      } catch (e) {
        throw new NtfsError(image, `cannot create the scratch copy of ${j.ntfsPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      try {
        await runTool(image, 'ntfscat', ['-i', String(j.record), image], fd);
        const got = fs.fstatSync(fd).size;
        if (got !== j.size) throw new NtfsError(image, `ntfscat ${j.ntfsPath} (record ${j.record}): wrote ${got} bytes, ntfsls lists ${j.size}`);
      } catch (e) {
        failed = true; // the other workers take no new file
        throw e;
      } finally {
        fs.closeSync(fd);
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(EXTRACT_JOBS, jobs.length) }, worker));
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected) throw rejected.reason;
}

const SLASH = Buffer.from('/');

/**
 * Copy what `sel` can select from the NTFS `image` into the existing empty directory `into`, at
 * the same root-relative paths with the volume's real names: the directories walkDirs(sel) names
 * (matched like resolveDir in tree.ts: real directories only, never through a reparse point) and,
 * below them, every directory and every file classify() does not rule out, reparse points left out.
 */
export async function extractNtfsDirs(image: string, sel: Selection, into: string): Promise<void> {
  type Dir = { rel: Buffer; ntfsPath: string; record: number };
  const listings = new Map<number, NtfsEntry[]>();
  const list = async (d: Dir) => {
    let l = listings.get(d.record);
    if (!l) listings.set(d.record, (l = await listDir(image, d.ntfsPath)));
    return l;
  };
  const child = (d: Dir, e: NtfsEntry): Dir => ({
    rel: d.rel.length ? Buffer.concat([d.rel, SLASH, Buffer.from(e.name)]) : Buffer.from(e.name),
    ntfsPath: d.ntfsPath === '/' ? `/${e.name}` : `${d.ntfsPath}/${e.name}`,
    record: e.record,
  });
  const root: Dir = { rel: Buffer.alloc(0), ntfsPath: '/', record: NTFS_ROOT_RECORD };

  // Resolve each walk directory component by component, as resolveDir does on a real tree. ntfsls
  // never marks a reparse point (junction, directory symlink) as a directory, so none is entered.
  const starts: Dir[] = [];
  for (const dir of walkDirs(sel)) {
    let cur: Dir[] = [root];
    for (const seg of dir === '' ? [] : dir.split('/')) {
      const next: Dir[] = [];
      for (const d of cur) {
        for (const e of await list(d)) if (e.dir && nameMatches(sel, Buffer.from(e.name), seg)) next.push(child(d, e));
      }
      cur = next;
    }
    starts.push(...cur);
  }

  const jobs: Extraction[] = [];
  const seen = new Set<number>();
  const stack = [...starts];
  while (stack.length) {
    const d = stack.pop()!;
    if (seen.has(d.record)) throw new NtfsError(image, `${d.ntfsPath}: directory record ${d.record} is reached twice (a cycle or a hard-linked directory in a damaged index)`);
    seen.add(d.record);
    const abs = Buffer.concat([Buffer.from(into), SLASH, d.rel]);
    fs.mkdirSync(abs, { recursive: true, mode: 0o700 });
    const entries = await list(d);
    const candidates: { e: NtfsEntry; c: Dir }[] = [];
    for (const e of entries) {
      const c = child(d, e);
      if (e.dir) stack.push(c);
      else if (classify(sel, c.rel.toString('utf8')) !== 'no') candidates.push({ e, c });
    }
    // Only a directory holding a file the selection may take needs the second listing.
    const reparse = candidates.length ? await reparsePoints(image, d.ntfsPath, d.record, entries) : new Set<number>();
    for (const { e, c } of candidates) {
      if (reparse.has(e.record)) continue;
      jobs.push({ record: e.record, size: e.size, ntfsPath: c.ntfsPath, dest: Buffer.concat([Buffer.from(into), SLASH, c.rel]) });
    }
  }
  await extractFiles(image, jobs);
}

