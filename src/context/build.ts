/**
 * Building a context: the dictionary of guest file contents (executables, shared libraries, and
 * whatever `--include` adds) that later stages match memory pages against. Both migration hosts
 * build it from the same disk image, so it never crosses the wire; its content digest is what the
 * two sides compare.
 *
 *   buildContext(source)  directory tree, ext2/3/4 image or NTFS image → files in memory, sorted, hashed, laid out
 *   writeContext(result)  → CTX file (docs/format/context.md), atomically (temp file + rename)
 *
 * The digest depends only on the selected paths and their bytes: not on mtimes, owners, build
 * time, or whether the source was a directory or an image of it.
 *
 * The default selection follows the guest (tree.ts): an NTFS image, or a directory holding
 * `Windows/System32` (any case), gets the Windows roots and PE files; anything else the Linux
 * roots and ELF files. So a directory and an image of the same guest choose the same defaults.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MigError, UsageError } from '../util/errors.js';
import { writeAtomically } from '../util/sink.js';
import { registerTemp } from '../util/temp-files.js';
import { isDiskImage, resolveDisk } from './disk.js';
import { extractDirs, isExtImage, makeOwnerAccessible } from './ext4.js';
import { alignPage, CTX_HEADER_SIZE, digestPrefix, encodeHeader, encodeTable } from './format.js';
import { extractNtfsDirs, isNtfsImage, NTFS_OEM_ID } from './ntfs.js';
import {
  collectTree, makeSelection, MAX_FILE_BYTES, resolveDir, walkDirs, WINDOWS_MARKER,
  type GuestOs, type SkippedFile, type TreeFile,
} from './tree.js';

/** 'disk': a qcow2 file or a partitioned raw disk, reduced to one ext or NTFS file system (disk.ts). */
export type ContextSourceKind = 'directory' | 'ext4' | 'ntfs' | 'disk';

export interface ContextBuildOptions {
  /** Extra root-relative globs (`*`, `?`, `**`) whose regular files are added whatever their content. */
  include?: string[];
  /** Called after each selected file is read, with running totals. */
  onProgress?: (files: number, bytes: number) => void;
}

export interface ContextBuildFile {
  /** Root-relative path (UTF-8 decoding of pathBytes, for display and lookups). */
  path: string;
  pathBytes: Buffer;
  size: number;
  sha256: Buffer;
  elf: boolean;
  pe: boolean;
  /** Offset in the content area: a multiple of 4096, shared by files with equal content; 0 when empty. */
  offset: number;
}

export interface ContextBuildResult {
  source: string;
  sourceKind: ContextSourceKind;
  /** For a disk: how the file system was reached (qcow2 conversion, partition, loop device). */
  disk?: { fs: 'ext4' | 'ntfs'; via: string[] };
  /** Whose default roots and executable format were used (Linux: ELF under usr/bin…; Windows: PE under Windows/System32…). */
  defaults: GuestOs;
  /** In byte-wise order of pathBytes. */
  files: ContextBuildFile[];
  /** Distinct contents in content-area order; each starts at `offset` and is zero-padded to 4096. */
  blobs: { offset: number; data: Buffer }[];
  /** Sum of file sizes. */
  fileBytes: number;
  /** Bytes of the content area (distinct contents, each page-padded). */
  contentBytes: number;
  digest: Buffer;
  /** Selected files left out, in byte-wise path order: larger than MAX_FILE_BYTES (1 GiB). */
  skipped: { path: string; size: number; reason: 'too-large' }[];
  elapsedMs: number;
}

/** Decide what `source` is: a directory, or a file/block device holding an ext2/3/4 or NTFS file system (by content). */
export function sourceKind(source: string): ContextSourceKind {
  let st: fs.Stats;
  try {
    st = fs.statSync(source);
  } catch (e) {
    throw new UsageError(`cannot open ${source}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: source });
  }
  if (st.isDirectory()) return 'directory';
  let kind: ContextSourceKind | undefined;
  try {
    if (st.isFile() || st.isBlockDevice()) kind = isExtImage(source) ? 'ext4' : isNtfsImage(source) ? 'ntfs' : undefined;
  } catch (e) {
    throw new UsageError(`cannot read ${source}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: source });
  }
  if (kind) return kind;
  let disk = false;
  try {
    disk = (st.isFile() || st.isBlockDevice()) && isDiskImage(source);
  } catch (e) {
    throw new UsageError(`cannot read ${source}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: source });
  }
  if (disk) return 'disk';
  throw new UsageError(`${source} is neither a directory nor an ext2/3/4 or NTFS file-system image (no superblock magic 0xef53 at byte 1080, no NTFS boot sector with OEM id ${JSON.stringify(NTFS_OEM_ID)} at byte 3), nor a qcow2 or partitioned disk holding one`, { file: source });
}

/** The default selection a source gets: Windows for NTFS, and for a directory holding Windows/System32 (any case). */
export function guestOs(source: string, kind: Exclude<ContextSourceKind, 'disk'>): GuestOs {
  if (kind === 'ntfs') return 'windows';
  if (kind === 'ext4') return 'linux';
  return resolveDir(source, makeSelection([], 'windows'), WINDOWS_MARKER).length > 0 ? 'windows' : 'linux';
}

/** Remove a scratch tree, making it writable first if an unprivileged extraction left it locked. */
function removeTree(dir: string): void {
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch {
    makeOwnerAccessible(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function buildContext(source: string, opts: ContextBuildOptions = {}): Promise<ContextBuildResult> {
  const t0 = performance.now();
  const kind = sourceKind(source);
  let defaults: GuestOs = kind === 'disk' ? 'linux' : guestOs(source, kind);
  let diskInfo: ContextBuildResult['disk'];
  let files = 0;
  let bytes = 0;
  const onFile = opts.onProgress && ((f: TreeFile) => opts.onProgress!(++files, (bytes += f.data.length)));
  const skippedFiles: SkippedFile[] = [];
  const onSkip = (s: SkippedFile) => skippedFiles.push(s);

  let tree: TreeFile[];
  if (kind === 'directory') {
    tree = collectTree(source, makeSelection(opts.include, defaults), onFile, onSkip);
  } else {
    // Registered before it exists: a signal that stops the build (under the CLI's supervisor) removes it.
    const work = path.join(os.tmpdir(), `mig-context-${process.pid}-${randomBytes(6).toString('hex')}`);
    registerTemp(work);
    fs.mkdirSync(work, { mode: 0o700 });
    let release = () => undefined as void;
    try {
      const root = path.join(work, 'root');
      fs.mkdirSync(root);
      let fsKind = kind as 'ext4' | 'ntfs' | 'disk';
      let fsPath = source;
      if (kind === 'disk') {
        const d = resolveDisk(source, work);
        release = d.release;
        fsKind = d.kind;
        fsPath = d.path;
        defaults = guestOs(fsPath, d.kind);
        diskInfo = { fs: d.kind, via: d.via };
      }
      const sel = makeSelection(opts.include, defaults);
      if (fsKind === 'ext4') await extractDirs(fsPath, walkDirs(sel), root, work);
      else await extractNtfsDirs(fsPath, sel, root, work);
      tree = collectTree(root, sel, onFile, onSkip);
    } finally {
      release();
      removeTree(work);
    }
  }
  const skipped = skippedFiles.sort((a, b) => Buffer.compare(a.pathBytes, b.pathBytes))
    .map((s) => ({ path: s.pathBytes.toString('utf8'), size: s.size, reason: s.reason }));
  return { ...layOut(tree), source, sourceKind: kind, disk: diskInfo, defaults, skipped, elapsedMs: Math.round(performance.now() - t0) };
}

/** Sort, hash, share equal contents, place each distinct content on a page boundary, and digest. */
export function layOut(tree: (Omit<TreeFile, 'pe'> & { pe?: boolean })[]): Omit<ContextBuildResult, 'source' | 'sourceKind' | 'defaults' | 'elapsedMs' | 'skipped'> {
  const sorted = [...tree].sort((a, b) => Buffer.compare(a.pathBytes, b.pathBytes));
  const files: ContextBuildFile[] = [];
  const blobs: { offset: number; data: Buffer }[] = [];
  const placed = new Map<string, number>();
  const digest = createHash('sha256');
  let cursor = 0;
  let fileBytes = 0;
  for (let i = 0; i < sorted.length; i++) {
    const f = sorted[i];
    if (i > 0 && sorted[i - 1].pathBytes.equals(f.pathBytes)) {
      throw new MigError('INTERNAL', `context: path ${f.pathBytes.toString()} selected twice`);
    }
    const sha256 = createHash('sha256').update(f.data).digest();
    let offset = 0;
    if (f.data.length > 0) {
      const key = sha256.toString('hex') + ':' + f.data.length;
      const known = placed.get(key);
      if (known !== undefined) offset = known;
      else {
        offset = cursor;
        placed.set(key, offset);
        blobs.push({ offset, data: f.data });
        cursor += alignPage(f.data.length);
      }
    }
    digest.update(digestPrefix(f.pathBytes, f.data.length)).update(f.data);
    fileBytes += f.data.length;
    files.push({ path: f.pathBytes.toString('utf8'), pathBytes: f.pathBytes, size: f.data.length, sha256, elf: f.elf, pe: f.pe ?? false, offset });
  }
  return { files, blobs, fileBytes, contentBytes: cursor, digest: digest.digest() };
}

export interface ContextWriteInfo {
  path: string;
  fileSize: number;
}

/** Write `result` as a CTX file at `outPath`: nothing appears under that name unless all of it was written. */
export function writeContext(result: ContextBuildResult, outPath: string): ContextWriteInfo {
  const table = encodeTable(result.files);
  const contentOffset = alignPage(CTX_HEADER_SIZE + table.length);
  const header = encodeHeader({
    fileCount: result.files.length,
    tableLength: table.length,
    contentOffset,
    contentLength: result.contentBytes,
    fileBytes: result.fileBytes,
    digest: result.digest,
    tableSha256: createHash('sha256').update(table).digest(),
  });
  const zeros = Buffer.alloc(4096);
  try {
    writeAtomically(outPath, (sink) => {
      sink.write(header);
      sink.write(table);
      sink.write(zeros.subarray(0, contentOffset - CTX_HEADER_SIZE - table.length));
      let at = 0;
      for (const b of result.blobs) {
        if (b.offset !== at) throw new MigError('INTERNAL', `context: blob at ${b.offset}, expected ${at}`);
        sink.write(b.data);
        const padded = alignPage(b.data.length);
        sink.write(zeros.subarray(0, padded - b.data.length));
        at += padded;
      }
      if (at !== result.contentBytes) throw new MigError('INTERNAL', `context: wrote ${at} content bytes, expected ${result.contentBytes}`);
    });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (!(e instanceof MigError) && err.syscall === 'open') throw new UsageError(`cannot create ${outPath}: ${err.code}`, { file: outPath });
    throw e;
  }
  return { path: outPath, fileSize: contentOffset + result.contentBytes };
}
