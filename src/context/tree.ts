/**
 * Which guest files go into a context, and reading them from a directory tree.
 *
 * Selection: every regular file that starts with the ELF magic (\x7fELF) below one of the
 * DEFAULT_ROOTS (executables, shared libraries, loadable modules: the pages the guest maps
 * executable), plus every regular file whose root-relative path matches an `--include` glob.
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
import { ELF_MAGIC } from './format.js';
import { collapseDirs, compileGlob, isUnder, type Glob } from './glob.js';

/**
 * Largest file a context takes (1 GiB). A build holds every selected file in memory, and one Buffer
 * holds at most 4 GiB; executables and libraries are far smaller. A selected file larger than this
 * is skipped (reported by name in the build summary) and never read past its first 4 bytes; the
 * rule depends only on the file's size, so both migration hosts skip the same files.
 */
export const MAX_FILE_BYTES = 2 ** 30;

/** A selected file left out of the context, and why. */
export interface SkippedFile {
  pathBytes: Buffer;
  size: number;
  reason: 'too-large';
}

/** Roots whose ELF files are selected by default (relative to the file-system root). */
export const DEFAULT_ROOTS: readonly string[] = [
  'usr/bin', 'usr/sbin', 'bin', 'sbin', 'usr/lib', 'lib', 'usr/libexec', 'usr/lib64', 'lib64',
];

export interface Selection {
  roots: readonly string[];
  includes: Glob[];
}

export function makeSelection(include: readonly string[] = []): Selection {
  return { roots: DEFAULT_ROOTS, includes: include.map(compileGlob) };
}

/** The directories to walk (or to extract from an image): roots and glob prefixes, nested ones dropped. */
export function walkDirs(sel: Selection): string[] {
  return collapseDirs([...sel.roots, ...sel.includes.map((g) => g.prefix)]);
}

/** Whether a file at `path` can be selected, and whether only as an ELF file (content decides). */
export function classify(sel: Selection, path: string): 'no' | 'if-elf' | 'yes' {
  if (sel.includes.some((g) => g.test(path))) return 'yes';
  return sel.roots.some((r) => isUnder(path, r)) ? 'if-elf' : 'no';
}

export interface TreeFile {
  /** Root-relative path bytes, no leading `/`. */
  pathBytes: Buffer;
  data: Buffer;
  elf: boolean;
}

const SLASH = Buffer.from('/');

function fail(what: string, p: Buffer | string, e: unknown): never {
  const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  throw new UsageError(`cannot ${what} ${p.toString()}: ${code}`, { file: p.toString() });
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
 * Read a whole regular file, or only its magic when `elfOnly` and it is not ELF (then undefined);
 * a file it would select but that is larger than MAX_FILE_BYTES is not read: `{ tooLarge: size }`.
 */
function readSelected(abs: Buffer, elfOnly: boolean): { data: Buffer; elf: boolean } | { tooLarge: number } | undefined {
  let fd: number;
  try {
    fd = fs.openSync(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (e) {
    fail('open', abs, e);
  }
  try {
    const size = fs.fstatSync(fd).size;
    const head = Buffer.alloc(4);
    const n = size >= 4 ? fs.readSync(fd, head, 0, 4, 0) : 0;
    const elf = n === 4 && head.readUInt32LE(0) === ELF_MAGIC;
    if (elfOnly && !elf) return undefined;
    if (size > MAX_FILE_BYTES) return { tooLarge: size };
    const data = Buffer.allocUnsafe(size);
    let done = 0;
    while (done < size) {
      const r = fs.readSync(fd, data, done, size - done, done);
      if (r === 0) break;
      done += r;
    }
    return { data: done === size ? data : data.subarray(0, done), elf };
  } catch (e) {
    fail('read', abs, e);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Walk `top` (a directory holding a guest file-system tree) and return the selected files in walk
 * order (callers sort). `onFile` sees each selected file as it is read; `onSkip` each selected file
 * left out (larger than MAX_FILE_BYTES).
 */
export function collectTree(top: string, sel: Selection, onFile?: (f: TreeFile) => void, onSkip?: (s: SkippedFile) => void): TreeFile[] {
  const topBuf = Buffer.from(top.replace(/\/+$/, '') || '/');
  const out: TreeFile[] = [];
  for (const dir of walkDirs(sel)) {
    if (!isPlainDir(topBuf, dir)) continue;
    const stack: Buffer[] = [Buffer.from(dir)];
    while (stack.length) {
      const rel = stack.pop()!;
      const abs = rel.length ? Buffer.concat([topBuf, SLASH, rel]) : topBuf;
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(abs, { withFileTypes: true, encoding: 'buffer' }) as unknown as fs.Dirent[];
      } catch (e) {
        fail('list directory', abs, e);
      }
      for (const ent of entries) {
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
        const r = readSelected(Buffer.concat([topBuf, SLASH, childRel]), how === 'if-elf');
        if (!r) continue;
        if ('tooLarge' in r) {
          onSkip?.({ pathBytes: childRel, size: r.tooLarge, reason: 'too-large' });
          continue;
        }
        const f = { pathBytes: childRel, data: r.data, elf: r.elf };
        out.push(f);
        onFile?.(f);
      }
    }
  }
  return out;
}
