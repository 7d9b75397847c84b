/**
 * Which guest files go into a context, and reading them from a directory tree.
 *
 * Selection: every regular file below one of the default roots whose content is an executable of
 * the guest's OS — ELF (\x7fELF) below DEFAULT_ROOTS for Linux, PE ("MZ" whose e_lfanew points at
 * "PE\0\0") below WINDOWS_ROOTS for Windows (executables, shared libraries, DLLs, drivers,
 * loadable modules: the pages the guest maps executable) — plus every regular file whose
 * root-relative path matches an `--include` glob. Which defaults apply is the source's choice
 * (build.ts): an NTFS image or a directory holding `Windows/System32` is Windows, anything else Linux.
 * Windows roots and the directories walked for a Windows guest are matched against real names
 * case-insensitively (ASCII letters, as NTFS compares them); Linux roots and globs are exact.
 * Symlinks are never followed — neither files nor directories, including the roots themselves
 * (on merged-/usr systems `bin` → `usr/bin`, so those files are found once, under usr/bin) and
 * any directory above a root or glob prefix. Sockets, FIFOs and devices are skipped.
 *
 * Only the directories the selection can reach are walked (the roots and each glob's fixed
 * prefix, nested ones collapsed), so `--include 'etc/**'` does not walk /usr/share. Paths are
 * handled as raw bytes end to end; globs are tested against their UTF-8 decoding.
 */
import * as fs from 'node:fs';
import { UsageError } from '../util/errors.js';
import { ELF_MAGIC, isPeFile } from './format.js';
import { collapseDirs, compileGlob, isUnder, type Glob } from './glob.js';

/**
 * Largest file a context takes (1 GiB). A build holds every selected file in memory, and one Buffer
 * holds at most 4 GiB; executables and libraries are far smaller. A selected file larger than this
 * is skipped (reported by name in the build summary) and never read past its magic (for PE: the
 * DOS header and the 4-byte signature e_lfanew points at); the
 * rule depends only on the file's size, so both migration hosts skip the same files.
 */
export const MAX_FILE_BYTES = 2 ** 30;

/** A selected file left out of the context, and why. */
export interface SkippedFile {
  pathBytes: Buffer;
  size: number;
  reason: 'too-large';
}

/** The guest OS whose default roots and executable format a selection uses. */
export type GuestOs = 'linux' | 'windows';

/** Roots whose ELF files are selected by default on a Linux guest (relative to the file-system root). */
export const DEFAULT_ROOTS: readonly string[] = [
  'usr/bin', 'usr/sbin', 'bin', 'sbin', 'usr/lib', 'lib', 'usr/libexec', 'usr/lib64', 'lib64',
];

/**
 * Roots whose PE files are selected by default on a Windows guest (`\Windows\System32`,
 * `\Program Files`, `\Program Files (x86)`), matched case-insensitively against real names.
 */
export const WINDOWS_ROOTS: readonly string[] = ['Windows/System32', 'Program Files', 'Program Files (x86)'];

/** The directory whose presence makes a directory source a Windows guest (folded; see foldAscii). */
export const WINDOWS_MARKER = 'windows/system32';

export interface Selection {
  os: GuestOs;
  roots: readonly string[];
  includes: Glob[];
}

export function makeSelection(include: readonly string[] = [], os: GuestOs = 'linux'): Selection {
  return { os, roots: os === 'windows' ? WINDOWS_ROOTS : DEFAULT_ROOTS, includes: include.map(compileGlob) };
}

/** ASCII case folding (A–Z → a–z): how Windows roots and walked directories meet real names. */
export function foldAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/**
 * The directories to walk (or to extract from an image): roots and glob prefixes, nested ones
 * dropped. For Windows they are folded (foldAscii) before collapsing, and each component is then
 * matched against the real names case-insensitively (`nameMatches`), so `Windows` and
 * `WINDOWS/Fonts` do not walk one directory twice.
 */
export function walkDirs(sel: Selection): string[] {
  const dirs = [...sel.roots, ...sel.includes.map((g) => g.prefix)];
  return collapseDirs(sel.os === 'windows' ? dirs.map(foldAscii) : dirs);
}

/** Whether the real directory name `name` stands for the walkDirs component `want`. */
export function nameMatches(sel: Selection, name: Buffer, want: string): boolean {
  return sel.os === 'windows' ? foldAscii(name.toString('utf8')) === want : name.equals(Buffer.from(want));
}

/** Whether a file at `path` can be selected, and whether only as the OS's executable (content decides). */
export function classify(sel: Selection, path: string): 'no' | 'if-exec' | 'yes' {
  if (sel.includes.some((g) => g.test(path))) return 'yes';
  if (sel.os === 'windows') {
    const folded = foldAscii(path);
    return sel.roots.some((r) => isUnder(folded, foldAscii(r))) ? 'if-exec' : 'no';
  }
  return sel.roots.some((r) => isUnder(path, r)) ? 'if-exec' : 'no';
}

export interface TreeFile {
  /** Root-relative path bytes, no leading `/`. */
  pathBytes: Buffer;
  data: Buffer;
  /** The content starts with the ELF magic. */
  elf: boolean;
  /** The content is a PE image (isPeFile). */
  pe: boolean;
}

/** The ELF and PE flags of a file's whole content. */
export function execFlags(data: Buffer): { elf: boolean; pe: boolean } {
  const elf = data.length >= 4 && data.readUInt32LE(0) === ELF_MAGIC;
  return { elf, pe: !elf && isPeFile(data.length, (o, n) => data.subarray(o, o + n)) };
}

const SLASH = Buffer.from('/');

function fail(what: string, p: Buffer | string, e: unknown): never {
  const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  throw new UsageError(`cannot ${what} ${p.toString()}: ${code}`, { file: p.toString() });
}

/** The root-relative directory `rel` of `top`: its path and entries (names as bytes); a failure names it. */
function listDir(top: Buffer, rel: Buffer): { abs: Buffer; entries: fs.Dirent[] } {
  const abs = rel.length ? Buffer.concat([top, SLASH, rel]) : top;
  try {
    return { abs, entries: fs.readdirSync(abs, { withFileTypes: true, encoding: 'buffer' }) as unknown as fs.Dirent[] };
  } catch (e) {
    fail('list directory', abs, e);
  }
}

/** Follow `rel` from `top` component by component with lstat; true when every one is a real directory. */
function isPlainDir(top: Buffer, rel: string): boolean {
  if (rel === '') return true;
  let p = top;
  for (const seg of rel.split('/')) {
    p = Buffer.concat([p, SLASH, Buffer.from(seg)]);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
      fail('stat', p, e);
    }
    if (!st.isDirectory()) return false;
  }
  return true;
}

/**
 * Read a whole regular file, or, when `need` names an executable format the file is not, only its
 * magic (then undefined); a file it would select but that is larger than MAX_FILE_BYTES is not
 * read: `{ tooLarge: size }`.
 */
function readSelected(abs: Buffer, need: 'elf' | 'pe' | undefined): { data: Buffer; elf: boolean; pe: boolean } | { tooLarge: number } | undefined {
  let fd: number;
  try {
    fd = fs.openSync(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (e) {
    fail('open', abs, e);
  }
  try {
    const size = fs.fstatSync(fd).size;
    /** Bytes [offset, offset + length) of the file; zeros past a short read (a file that shrank). */
    const readAt = (offset: number, length: number): Buffer => {
      const b = Buffer.alloc(length);
      fs.readSync(fd, b, 0, length, offset);
      return b;
    };
    if (need === 'elf' && !(size >= 4 && readAt(0, 4).readUInt32LE(0) === ELF_MAGIC)) return undefined;
    if (need === 'pe' && !isPeFile(size, readAt)) return undefined;
    if (size > MAX_FILE_BYTES) return { tooLarge: size };
    const data = Buffer.allocUnsafe(size);
    let done = 0;
    while (done < size) {
      const r = fs.readSync(fd, data, done, size - done, done);
      if (r === 0) break;
      done += r;
    }
    const whole = done === size ? data : data.subarray(0, done);
    return { data: whole, ...execFlags(whole) };
  } catch (e) {
    fail('read', abs, e);
  } finally {
    fs.closeSync(fd);
  }
}

/** Names of the real directories (not symlinks to one) in the root-relative directory `rel` of `top`. */
function realSubdirs(top: Buffer, rel: Buffer): Buffer[] {
  const { abs, entries } = listDir(top, rel);
  const out: Buffer[] = [];
  for (const ent of entries) {
    const name = ent.name as unknown as Buffer;
    if (ent.isDirectory() || (!ent.isSymbolicLink() && !ent.isFile() && fs.lstatSync(Buffer.concat([abs, SLASH, name])).isDirectory())) out.push(name);
  }
  return out;
}

/**
 * The real root-relative directories of `top` that the walkDirs entry `dir` stands for: for Linux
 * `dir` itself when every component is a real directory; for Windows every chain of real
 * directories whose names fold to its components (sorted byte-wise). Symlinks are never followed.
 */
export function resolveDir(top: string, sel: Selection, dir: string): Buffer[] {
  const topBuf = Buffer.from(top.replace(/\/+$/, '') || '/');
  if (sel.os !== 'windows') return isPlainDir(topBuf, dir) ? [Buffer.from(dir)] : [];
  let cur: Buffer[] = [Buffer.alloc(0)];
  if (dir === '') return cur;
  for (const seg of dir.split('/')) {
    const next: Buffer[] = [];
    for (const rel of cur) {
      for (const name of realSubdirs(topBuf, rel)) {
        if (nameMatches(sel, name, seg)) next.push(rel.length ? Buffer.concat([rel, SLASH, name]) : name);
      }
    }
    cur = next;
  }
  return cur.sort(Buffer.compare);
}

/**
 * Walk `top` (a directory holding a guest file-system tree) and return the selected files in walk
 * order (callers sort). `onFile` sees each selected file as it is read; `onSkip` each selected file
 * left out (larger than MAX_FILE_BYTES).
 */
export function collectTree(top: string, sel: Selection, onFile?: (f: TreeFile) => void, onSkip?: (s: SkippedFile) => void): TreeFile[] {
  const topBuf = Buffer.from(top.replace(/\/+$/, '') || '/');
  const out: TreeFile[] = [];
  for (const dir of walkDirs(sel).flatMap((d) => resolveDir(top, sel, d))) {
    const stack: Buffer[] = [dir];
    while (stack.length) {
      const rel = stack.pop()!;
      for (const ent of listDir(topBuf, rel).entries) {
        const name = ent.name as unknown as Buffer;
        const childRel = rel.length ? Buffer.concat([rel, SLASH, name]) : Buffer.from(name);
        let kind: 'dir' | 'file' | 'other';
        if (ent.isDirectory()) kind = 'dir';
        else if (ent.isFile()) kind = 'file';
        else if (ent.isSymbolicLink() || ent.isFIFO() || ent.isSocket() || ent.isBlockDevice() || ent.isCharacterDevice()) kind = 'other';
        else {
          // d_type unknown on this file system: ask lstat.
          const st = fs.lstatSync(Buffer.concat([topBuf, SLASH, childRel]));
          kind = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
        }
        if (kind === 'dir') stack.push(childRel);
        if (kind !== 'file') continue;
        const how = classify(sel, childRel.toString('utf8'));
        if (how === 'no') continue;
        const need = how === 'yes' ? undefined : sel.os === 'windows' ? 'pe' : 'elf';
        const r = readSelected(Buffer.concat([topBuf, SLASH, childRel]), need);
        if (!r) continue;
        if ('tooLarge' in r) {
          onSkip?.({ pathBytes: childRel, size: r.tooLarge, reason: 'too-large' });
          continue;
        }
        const f = { pathBytes: childRel, data: r.data, elf: r.elf, pe: r.pe };
        out.push(f);
        onFile?.(f);
      }
    }
  }
  return out;
}
