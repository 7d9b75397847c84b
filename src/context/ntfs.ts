/**
 * Reading a Windows guest's NTFS disk image without mounting it: ntfs-3g's userspace tools (Debian
 * package ntfs-3g; libntfs-3g opens the image read-only, no FUSE, no kernel driver) copy the files
 * a context can select into a private directory, which the directory walker (tree.ts) then reads
 * exactly as it reads a real tree.
 *
 *   1. `ntfsls -a -F -i -l -p <dir>` per directory the selection can reach (walkDirs, components
 *      matched case-insensitively): every name (Win32, Win32+DOS and POSIX names; DOS-only 8.3
 *      aliases are not listed) with its MFT record number, the length of its unnamed $DATA, and a
 *      `/` after directories. libntfs-3g's readdir checks each index entry before using it, and
 *      never marks a reparse point (junction, directory symlink) as a directory, so none is entered.
 *   2. `ntfscat -r -i 0` streams the $MFT's raw bytes once (-r: as on disk, no fixups applied and
 *      no warnings for never-used records; the option is in ntfscat's option table, not its
 *      --help), up to the highest record a candidate file (one under a default root, or matching
 *      an --include glob) has; each candidate's record is checked (FILE magic, update-sequence
 *      fixups, in use, a base record, attribute bounds) and read for the one fact ntfsls does not print: whether it is a reparse point (FILE_ATTRIBUTE_REPARSE_POINT in
 *      $STANDARD_INFORMATION, or a $REPARSE_POINT attribute). Reparse points (symlinks, junctions,
 *      mount points, WOF/dedup/cloud stubs) are skipped like symlinks in a directory source. A
 *      record that is a directory where ntfsls listed a file fails the build. (ntfsinfo could tell
 *      reparse points from a directory's index dump, but refuses indexes over 64 KiB, which a real
 *      System32 has.)
 *   3. `ntfscat -i <record>` writes each remaining candidate's unnamed $DATA into the scratch tree,
 *      started from EXTRACT_JOBS shell scripts; its length must equal the one ntfsls listed. Named
 *      streams (alternate data streams) are never read: the unnamed $DATA is what a process maps.
 *      A file over MAX_FILE_BYTES is still extracted here and then skipped by name (tree.ts), as
 *      from an ext4 image.
 *
 * Every tool runs with a time limit and an output cap; any failure (not installed, exit status,
 * a signal, anything on stderr) fails the build with the tool's first stderr line, naming the
 * image. A directory reached twice (a cycle in a damaged index) fails it too.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MigError } from '../util/errors.js';
import { registerHelper } from '../util/temp-files.js';
import { classify, nameMatches, walkDirs, type Selection } from './tree.js';

/** The OEM id at byte 3 of an NTFS boot sector. */
export const NTFS_OEM_ID = 'NTFS    ';
/** MFT record number of the root directory (FILE_root). */
export const NTFS_ROOT_RECORD = 5;
/** FILE_ATTRIBUTE_REPARSE_POINT in $STANDARD_INFORMATION's file attributes (u32 at value + 0x20). */
const FILE_ATTR_REPARSE_POINT = 0x400;
/** Attribute types: $STANDARD_INFORMATION, $REPARSE_POINT, end marker. */
const AT_STANDARD_INFORMATION = 0x10;
const AT_REPARSE_POINT = 0xc0;
const AT_END = 0xffffffff;
/** MFT record header flags. */
const MFT_RECORD_IN_USE = 1;
const MFT_RECORD_IS_DIRECTORY = 2;
/** "FILE" read as a u32 LE. */
const FILE_MAGIC = 0x454c4946;
/** Update-sequence stride: the last u16 of every 512 bytes of a record is a fixup. */
const NTFS_BLOCK = 512;
/** ntfscat processes run at once (shell scripts, each running its share one after the other). */
const EXTRACT_JOBS = 4;
/** Per tool run: wall-clock limit (extraction scripts get more per file and MiB) and stdout cap. */
const TOOL_TIMEOUT_MS = 10 * 60 * 1000;
const LISTING_CAP = 256 * 2 ** 20;

/** What the boot sector says about the volume's layout. */
export interface NtfsGeometry {
  bytesPerSector: number;
  clusterSize: number;
  /** Bytes per MFT record (1024 on every Windows volume so far). */
  mftRecordSize: number;
}

/**
 * The geometry of the NTFS boot sector at the start of `file`, or undefined when there is none:
 * OEM id "NTFS    " at byte 3, bytes per sector (u16 at 0x0b) a power of two in 256…4096,
 * sectors per cluster (u8 at 0x0d) a power of two up to 128 or a shift 2^(256 − n) for n ≥ 0xf4,
 * a cluster of at most 2 MiB, clusters per MFT record (i8 at 0x40: n clusters, or 2^−n bytes when
 * negative) giving a power-of-two record of 512…65536 bytes, and the 0x55 0xaa signature at 510.
 */
export function ntfsGeometry(file: string): NtfsGeometry | undefined {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(512);
    if (fs.readSync(fd, b, 0, 512, 0) !== 512) return undefined;
    if (b.toString('latin1', 3, 11) !== NTFS_OEM_ID || b[510] !== 0x55 || b[511] !== 0xaa) return undefined;
    const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;
    const bytesPerSector = b.readUInt16LE(0x0b);
    if (bytesPerSector < 256 || bytesPerSector > 4096 || !pow2(bytesPerSector)) return undefined;
    const spcByte = b[0x0d];
    let spc: number;
    if (spcByte <= 128 && pow2(spcByte)) spc = spcByte;
    else if (spcByte >= 0xf4) spc = 2 ** (256 - spcByte);
    else return undefined;
    const clusterSize = bytesPerSector * spc;
    if (clusterSize > 2 * 2 ** 20) return undefined;
    const cpr = b.readInt8(0x40);
    const mftRecordSize = cpr > 0 ? cpr * clusterSize : cpr < 0 && cpr >= -31 ? 2 ** -cpr : 0;
    if (mftRecordSize < NTFS_BLOCK || mftRecordSize > 65536 || !pow2(mftRecordSize)) return undefined;
    return { bytesPerSector, clusterSize, mftRecordSize };
  } finally {
    fs.closeSync(fd);
  }
}

/** True when `file` starts with an NTFS boot sector (ntfsGeometry). */
export function isNtfsImage(file: string): boolean {
  return ntfsGeometry(file) !== undefined;
}

/** An ntfs-3g tool failure: not installed, volume unreadable, or output that does not add up. */
export class NtfsError extends MigError {
  constructor(image: string, detail: string, data: Record<string, unknown> = {}) {
    super('CONTEXT_SOURCE', `${image}: ${detail}`, { file: image, ...data });
  }
}

interface ToolOptions {
  /** Working directory of the child. */
  cwd?: string;
  /** Wall-clock limit (default TOOL_TIMEOUT_MS). */
  timeoutMs?: number;
  /** What failed, for messages, from the stdout captured so far (default: the command line). */
  label?: (stdout: string) => string;
  /** Each stdout chunk goes here (nothing is captured, no cap); `stop()` ends the tool early, as success. */
  onStdout?: (chunk: Buffer, stop: () => void) => void;
}

/** Run an ntfs-3g tool on `image`; stdout is returned (at most LISTING_CAP bytes) unless `o.onStdout` takes it. */
function runTool(image: string, tool: string, args: string[], o: ToolOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: o.cwd,
      // UTF-8 names whatever the caller's locale.
      env: { ...process.env, LC_ALL: 'C.UTF-8', LANG: 'C.UTF-8' },
    });
    registerHelper(child.pid);
    // Our own timer (spawn's `timeout` option keeps a process alive for its whole length when the
    // tool is missing): cleared on close or error, and unref'd.
    let timedOut = false;
    const timeoutMs = o.timeoutMs ?? TOOL_TIMEOUT_MS;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    timer.unref();
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let overflow = false;
    let stopped = false;
    const stop = () => {
      stopped = true;
      child.kill('SIGKILL');
    };
    child.stdout!.on('data', (d: Buffer) => {
      if (stopped) return;
      if (o.onStdout) return o.onStdout(d, stop);
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
        ? `${tool} not found on PATH; install the Debian package ntfs-3g (its ntfsls and ntfscat read NTFS images without mounting them)`
        : `${tool}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const lines = Buffer.concat(err).toString('utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '');
      // The first line, and libntfs-3g's "Failed to mount …" verdict when it comes later.
      const verdict = lines.slice(1).find((l) => l.startsWith('Failed to mount'));
      const first = (lines[0] ?? '') + (verdict ? `; ${verdict}` : '');
      const cmd = o.label ? o.label(Buffer.concat(out).toString('utf8')) : `${tool} ${args.join(' ')}`;
      if (overflow) reject(new NtfsError(image, `${cmd}: printed more than ${LISTING_CAP} bytes (a damaged or looping index?)`));
      else if (stopped && !timedOut) resolve('');
      else if (signal) reject(new NtfsError(image, `${cmd}: killed by ${signal}${timedOut ? ` (time limit ${Math.round(timeoutMs / 1000)} s)` : ''}${first ? `: ${first}` : ''}`));
      else if (code !== 0) reject(new NtfsError(image, `${cmd}: exit status ${code}: ${first || '(no message)'}`, { stderr: lines.slice(0, 10) }));
      else if (lines.length) reject(new NtfsError(image, `${cmd}: ${first}`, { stderr: lines.slice(0, 10) }));
      else resolve(Buffer.concat(out).toString('utf8'));
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

/** List one directory (by NTFS path) with ntfsls. */
async function listDir(image: string, ntfsPath: string): Promise<NtfsEntry[]> {
  return parseNtfsls(image, ntfsPath, await runTool(image, 'ntfsls', ['-a', '-F', '-i', '-l', '-p', ntfsPath, image]));
}

/** What a candidate's MFT record says. */
export interface MftRecordInfo {
  reparse: boolean;
  directory: boolean;
}

/**
 * Check one MFT record (`rec`, a copy: its fixups are applied in place) and read whether it is a
 * reparse point and a directory; `{ bad }` names what is wrong with it.
 */
export function parseMftRecord(rec: Buffer): MftRecordInfo | { bad: string } {
  const size = rec.length;
  if (rec.readUInt32LE(0) !== FILE_MAGIC) return { bad: `magic is ${JSON.stringify(rec.toString('latin1', 0, 4))}, not "FILE"` };
  const usaOfs = rec.readUInt16LE(4);
  const usaCount = rec.readUInt16LE(6);
  if (usaCount !== size / NTFS_BLOCK + 1) return { bad: `update sequence count ${usaCount}, expected ${size / NTFS_BLOCK + 1} for a ${size}-byte record` };
  if (usaOfs < 0x28 || usaOfs % 2 || usaOfs + 2 * usaCount > NTFS_BLOCK - 2) return { bad: `update sequence offset ${usaOfs} is outside the first sector` };
  const usn = rec.readUInt16LE(usaOfs);
  for (let i = 1; i < usaCount; i++) {
    const at = i * NTFS_BLOCK - 2;
    if (rec.readUInt16LE(at) !== usn) return { bad: `sector ${i - 1} does not end with the update sequence number (a torn write)` };
    rec.writeUInt16LE(rec.readUInt16LE(usaOfs + 2 * i), at);
  }
  const flags = rec.readUInt16LE(0x16);
  if (!(flags & MFT_RECORD_IN_USE)) return { bad: 'not in use (a deleted file)' };
  if (rec.readUInt32LE(0x20) !== 0 || rec.readUInt16LE(0x24) !== 0) return { bad: 'an extension record, not a base record' };
  const bytesInUse = rec.readUInt32LE(0x18);
  if (bytesInUse > size || bytesInUse < 0x38) return { bad: `bytes in use ${bytesInUse} is outside 56…${size}` };
  let at = rec.readUInt16LE(0x14);
  if (at < usaOfs + 2 * usaCount || at % 8) return { bad: `attributes offset ${at} overlaps the header or is not 8-aligned` };
  let reparse = false;
  let sawStandard = false;
  // Each attribute takes at least 16 bytes, so this ends within bytesInUse / 16 steps.
  for (;;) {
    if (at + 4 > bytesInUse) return { bad: `attribute at ${at} runs past the bytes in use (${bytesInUse}) before the end marker` };
    const type = rec.readUInt32LE(at);
    if (type === AT_END) break;
    if (at + 16 > bytesInUse) return { bad: `attribute header at ${at} runs past the bytes in use (${bytesInUse})` };
    const len = rec.readUInt32LE(at + 4);
    if (len < 16 || len % 8 || at + len > bytesInUse) return { bad: `attribute 0x${type.toString(16)} at ${at}: length ${len} is not 8-aligned, below 16, or runs past the bytes in use` };
    if (type === AT_REPARSE_POINT) reparse = true;
    if (type === AT_STANDARD_INFORMATION) {
      if (rec[at + 8] !== 0) return { bad: '$STANDARD_INFORMATION is non-resident' };
      if (len < 0x18) return { bad: `$STANDARD_INFORMATION header of ${len} bytes` };
      const valueLength = rec.readUInt32LE(at + 0x10);
      const valueOffset = rec.readUInt16LE(at + 0x14);
      if (valueLength < 0x24 || valueOffset + valueLength > len) return { bad: `$STANDARD_INFORMATION value of ${valueLength} bytes at ${valueOffset} does not fit its ${len}-byte attribute` };
      if (rec.readUInt32LE(at + valueOffset + 0x20) & FILE_ATTR_REPARSE_POINT) reparse = true;
      sawStandard = true;
    }
    at += len;
  }
  if (!sawStandard) return { bad: 'no $STANDARD_INFORMATION attribute' };
  return { reparse, directory: (flags & MFT_RECORD_IS_DIRECTORY) !== 0 };
}

/**
 * Read the MFT records `records` (sorted, distinct) by streaming the $MFT's raw data with
 * `ntfscat -r -i 0`, stopping after the last one. Each record is `recordSize` bytes at
 * record × recordSize; a record past the end of the $MFT fails.
 */
async function readMftRecords(image: string, records: number[], recordSize: number): Promise<Map<number, MftRecordInfo>> {
  const out = new Map<number, MftRecordInfo>();
  if (records.length === 0) return out;
  const last = records[records.length - 1];
  if ((last + 1) * recordSize > Number.MAX_SAFE_INTEGER) throw new NtfsError(image, `MFT record ${last} lies past any possible $MFT`);
  let wi = 0;
  let pos = 0;
  let cur: Buffer | undefined;
  let fill = 0;
  let bad: NtfsError | undefined;
  await runTool(image, 'ntfscat', ['-r', '-i', '0', image], {
    onStdout: (chunk, stop) => {
      let off = 0;
      while (off < chunk.length && wi < records.length && !bad) {
        const start = records[wi] * recordSize;
        const abs = pos + off;
        if (abs < start) {
          off += Math.min(chunk.length - off, start - abs);
          continue;
        }
        cur ??= Buffer.alloc(recordSize);
        const n = Math.min(recordSize - fill, chunk.length - off);
        chunk.copy(cur, fill, off, off + n);
        fill += n;
        off += n;
        if (fill === recordSize) {
          const r = parseMftRecord(cur);
          if ('bad' in r) bad = new NtfsError(image, `MFT record ${records[wi]}: ${r.bad}`);
          else out.set(records[wi], r);
          cur = undefined;
          fill = 0;
          wi++;
        }
      }
      pos += chunk.length;
      if (wi === records.length || bad) stop();
    },
  });
  if (bad) throw bad;
  if (wi < records.length) throw new NtfsError(image, `MFT record ${records[wi]} is past the end of the $MFT (${pos} bytes, ${recordSize}-byte records)`);
  return out;
}

interface Extraction {
  record: number;
  size: number;
  ntfsPath: string;
  dest: Buffer;
}

/**
 * Write the unnamed $DATA of each file into place with ntfscat; lengths must match the listing.
 * The ntfscat runs are started by EXTRACT_JOBS shell scripts (a process started from Node costs
 * about four times one started from sh), each writing to numbered files in `work/ntfscat`, which
 * are then checked and renamed into place (same file system), so no guest name is ever quoted.
 */
async function extractFiles(image: string, jobs: Extraction[], work: string): Promise<void> {
  if (jobs.length === 0) return;
  const outDir = path.join(work, 'ntfscat');
  fs.mkdirSync(outDir, { mode: 0o700 });
  const batches: number[][] = Array.from({ length: Math.min(EXTRACT_JOBS, jobs.length) }, () => []);
  jobs.forEach((_, i) => batches[i % batches.length].push(i));
  const results = await Promise.allSettled(batches.map((batch, b) => {
    const script = path.join(work, `ntfscat-${b}.sh`);
    // -e: stop at the first failure; -C: never overwrite; "$1" is the image. Each success is echoed.
    fs.writeFileSync(script, 'set -eC\n' + batch.map((i) => `ntfscat -i ${jobs[i].record} "$1" > ${i}\necho ${i}\n`).join(''));
    const bytes = batch.reduce((a, i) => a + jobs[i].size, 0);
    return runTool(image, 'sh', [script, image], {
      cwd: outDir,
      timeoutMs: TOOL_TIMEOUT_MS + batch.length * 1000 + (bytes / 2 ** 20) * 1000,
      label: (stdout) => {
        const j = jobs[batch[stdout.split('\n').filter((l) => l !== '').length]];
        return j ? `ntfscat -i ${j.record} (${j.ntfsPath})` : `ntfscat (${batch.length} files)`;
      },
    });
  }));
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected) throw rejected.reason;
  jobs.forEach((j, i) => {
    const tmp = path.join(outDir, String(i));
    const got = fs.lstatSync(tmp).size;
    if (got !== j.size) throw new NtfsError(image, `ntfscat -i ${j.record} (${j.ntfsPath}): wrote ${got} bytes, ntfsls lists ${j.size}`);
    fs.renameSync(tmp, j.dest);
  });
}

const SLASH = Buffer.from('/');

/**
 * Copy what `sel` can select from the NTFS `image` into the existing empty directory `into`, at
 * the same root-relative paths with the volume's real names: the directories walkDirs(sel) names
 * (matched like resolveDir in tree.ts: real directories only, never through a reparse point) and,
 * below them, every directory and every file classify() does not rule out, reparse points left out.
 */
export async function extractNtfsDirs(image: string, sel: Selection, into: string, work: string): Promise<void> {
  const geometry = ntfsGeometry(image);
  if (!geometry) throw new NtfsError(image, 'no NTFS boot sector (it changed since the source was recognised?)');
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

  const candidates: Extraction[] = [];
  const seen = new Set<number>();
  const stack = [...starts];
  while (stack.length) {
    const d = stack.pop()!;
    if (seen.has(d.record)) throw new NtfsError(image, `${d.ntfsPath}: directory record ${d.record} is reached twice (a cycle or a hard-linked directory in a damaged index)`);
    seen.add(d.record);
    fs.mkdirSync(Buffer.concat([Buffer.from(into), SLASH, d.rel]), { recursive: true, mode: 0o700 });
    for (const e of await list(d)) {
      const c = child(d, e);
      if (e.dir) stack.push(c);
      else if (classify(sel, c.rel.toString('utf8')) !== 'no') {
        candidates.push({ record: e.record, size: e.size, ntfsPath: c.ntfsPath, dest: Buffer.concat([Buffer.from(into), SLASH, c.rel]) });
      }
    }
  }

  // One pass over the $MFT for what ntfsls does not say: which candidates are reparse points.
  const records = [...new Set(candidates.map((j) => j.record))].sort((a, b) => a - b);
  const info = await readMftRecords(image, records, geometry.mftRecordSize);
  const jobs: Extraction[] = [];
  for (const j of candidates) {
    const r = info.get(j.record)!;
    if (r.reparse) continue;
    if (r.directory) throw new NtfsError(image, `${j.ntfsPath}: ntfsls lists a file, MFT record ${j.record} is a directory`);
    jobs.push(j);
  }
  await extractFiles(image, jobs, work);
}

