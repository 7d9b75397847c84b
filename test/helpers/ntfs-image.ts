/**
 * NTFS disk images for tests and benchmarks, made without mounting anything: mkntfs formats a
 * sparse file, then wimlib (Debian package wimtools, which writes NTFS volumes through libntfs-3g)
 * captures a directory tree into a WIM archive (uncompressed) and applies it to the volume.
 * ntfs-3g's own ntfscp writes only regular files into directories that already exist, so it cannot
 * lay out a tree; wimlib can, and turns symlinks into NTFS reparse points (symlink tag) the way
 * Windows stores them. `addNamedStream` writes an alternate data stream with ntfscp.
 *
 *   ntfsImageFromFiles(windows7Image(...).files)  Windows path → bytes, e.g. \Windows\System32\ntdll.dll
 *   ntfsImageFromDir(dir)                          any directory tree (names with spaces, non-ASCII, symlinks)
 *
 * Both return the image path. The image is sparse and sized to the content (about 1.5× the
 * page-rounded file bytes plus 8 KiB per file and 16 MiB for the file system's own metadata).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpPath } from './tmp.js';

/** Write `files` (Windows paths, `\`-separated from the volume root) under `dir`. */
export function writeWindowsFiles(dir: string, files: ReadonlyMap<string, Buffer>): void {
  for (const [p, b] of files) {
    const dest = path.join(dir, ...p.split('\\').filter(Boolean));
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, b);
  }
}

/** Bytes and entries below `dir` (lstat: symlinks count as entries, not as their targets). */
function treeSize(dir: string): { bytes: number; entries: number } {
  let bytes = 0;
  let entries = 0;
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop()!;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      entries++;
      const p = path.join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) bytes += Math.ceil(fs.lstatSync(p).size / 4096) * 4096;
    }
  }
  return { bytes, entries };
}

/** An NTFS image holding the tree under `dir` (regular files, directories, symlinks as reparse points). */
export function ntfsImageFromDir(dir: string, out = tmpPath('ntfs.img')): string {
  const { bytes, entries } = treeSize(dir);
  const size = Math.ceil((16 * 2 ** 20 + 1.5 * (bytes + entries * 8192)) / 2 ** 20) * 2 ** 20;
  fs.rmSync(out, { force: true });
  fs.writeFileSync(out, '');
  fs.truncateSync(out, size);
  const wim = `${out}.wim`;
  try {
    // -F: not a block device; -Q: quick (no zeroing); -q: quiet. The geometry warnings on stderr are expected.
    execFileSync('mkntfs', ['-F', '-Q', '-q', out], { stdio: 'pipe' });
    execFileSync('wimcapture', [dir, wim, '--compress=none'], { stdio: 'pipe' });
    execFileSync('wimapply', [wim, out], { stdio: 'pipe' });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`making an NTFS image of ${dir}: ${err.stderr?.toString().trim() || err.message}`);
  } finally {
    fs.rmSync(wim, { force: true });
  }
  return out;
}

/** An NTFS image holding `files` (Windows path → bytes), e.g. windows7Image(...).files. */
export function ntfsImageFromFiles(files: ReadonlyMap<string, Buffer>, out = tmpPath('ntfs.img')): string {
  const dir = tmpPath('ntfs-tree');
  try {
    writeWindowsFiles(dir, files);
    return ntfsImageFromDir(dir, out);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Add the alternate data stream `file:stream` (ntfscp -N) to an existing file of the image. */
export function addNamedStream(image: string, ntfsPath: string, stream: string, data: Buffer): void {
  const src = tmpPath('stream');
  fs.writeFileSync(src, data);
  try {
    execFileSync('ntfscp', ['-q', '-N', stream, image, src, ntfsPath], { stdio: 'pipe' });
  } finally {
    fs.rmSync(src, { force: true });
  }
}
