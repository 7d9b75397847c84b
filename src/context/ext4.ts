/**
 * Reading a guest's ext2/3/4 disk image without mounting it: e2fsprogs' `debugfs` (read-only by
 * default) copies the directories a context needs into a private directory, which the directory
 * walker (tree.ts) then reads exactly as it reads a real tree.
 *
 * Two debugfs runs, each with a command file (`-f`), so the image is opened twice in total:
 *   1. `stat` every directory on the way to each directory to extract. debugfs resolves symlinks
 *      in the middle of a path, the directory walker does not; a directory is extracted only when
 *      it and all its ancestors are real directories ("Type: directory"), so an image and the same
 *      tree on disk select the same files.
 *   2. `rdump <dir> <native parent>` per directory ("/" dumps the root's contents in place).
 *      rdump recreates symlinks as symlinks, skips device nodes, FIFOs and sockets, and writes hard
 *      links as separate copies (the context stores equal contents once anyway).
 * debugfs reports errors on stderr and exits 0, so any stderr line other than its banner (and the
 * ownership/permission warnings rdump prints when not run as root) fails the build.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MigError } from '../util/errors.js';
import { registerHelper } from '../util/temp-files.js';

/** Byte offset of s_magic: superblock at 1024, magic at 0x38 inside it. */
export const EXT_MAGIC_OFFSET = 1024 + 0x38;
export const EXT_MAGIC = 0xef53;

/** True when `file` is a regular file or block device holding an ext2/3/4 superblock magic. */
export function isExtImage(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(2);
    return fs.readSync(fd, b, 0, 2, EXT_MAGIC_OFFSET) === 2 && b.readUInt16LE(0) === EXT_MAGIC;
  } finally {
    fs.closeSync(fd);
  }
}

/** A debugfs failure: not installed, image unreadable, or an error printed for one of its commands. */
export class DebugfsError extends MigError {
  constructor(image: string, detail: string, data: Record<string, unknown> = {}) {
    super('CONTEXT_SOURCE', `${image}: debugfs: ${detail}`, { file: image, ...data });
  }
}

/** Quote an argument for debugfs's command parser (libss): double quotes, `""` for a literal quote. */
function q(arg: string): string {
  if (/[\n\0]/.test(arg)) throw new DebugfsError('(command)', `cannot pass a path with a newline or NUL: ${JSON.stringify(arg)}`);
  return `"${arg.replace(/"/g, '""')}"`;
}

interface DebugfsRun {
  stdout: string;
  stderrLines: string[];
}

async function runDebugfs(image: string, commands: string[], cmdFile: string): Promise<DebugfsRun> {
  fs.writeFileSync(cmdFile, commands.join('\n') + '\n');
  return new Promise((resolve, reject) => {
    const child = spawn('debugfs', ['-f', cmdFile, image], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DEBUGFS_PAGER: '__none__', PAGER: '__none__' },
    });
    registerHelper(child.pid);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(new DebugfsError(image, e.code === 'ENOENT'
        ? 'not found on PATH; install e2fsprogs (debugfs reads ext4 images without mounting them)'
        : e.message));
    });
    child.on('close', (code, signal) => {
      const stderrLines = Buffer.concat(err).toString('utf8').split('\n').map((l) => l.trimEnd())
        .filter((l) => l !== '' && !/^debugfs \d+\.\d+/.test(l));
      if (code !== 0) {
        reject(new DebugfsError(image, `exited with ${signal ?? code}: ${summarize(stderrLines)}`));
        return;
      }
      resolve({ stdout: Buffer.concat(out).toString('utf8'), stderrLines });
    });
  });
}

/** debugfs repeats itself ("Filesystem not open" per command): distinct lines, at most three. */
function summarize(lines: string[]): string {
  const distinct = [...new Set(lines)];
  return distinct.slice(0, 3).join('; ') + (distinct.length > 3 ? ` (+${distinct.length - 3} more)` : '');
}

/** Every ancestor-or-self of the root-relative directory `dir` ("a/b" → ["a", "a/b"]). */
function lineage(dir: string): string[] {
  const segs = dir === '' ? [] : dir.split('/');
  return segs.map((_, i) => segs.slice(0, i + 1).join('/'));
}

/** The inode type debugfs `stat` reports for each path ('missing' when not found). */
async function statTypes(image: string, paths: string[], cmdFile: string): Promise<Map<string, string>> {
  const types = new Map<string, string>();
  if (paths.length === 0) return types;
  const run = await runDebugfs(image, paths.map((p) => `stat ${q('/' + p)}`), cmdFile);
  const bad = run.stderrLines.filter((l) => !/File not found by ext2_lookup/.test(l));
  if (bad.length) throw new DebugfsError(image, summarize(bad), { stderr: bad });
  // In -f mode debugfs echoes each command as "debugfs: <command>" before its output.
  const sections = run.stdout.split(/^debugfs: .*$/m).slice(1);
  if (sections.length !== paths.length) {
    throw new DebugfsError(image, `expected ${paths.length} stat results, got ${sections.length}`);
  }
  paths.forEach((p, i) => types.set(p, /Type: (\S+)/.exec(sections[i])?.[1] ?? 'missing'));
  return types;
}

/**
 * Copy the root-relative directories `dirs` (already collapsed: none inside another) of `image`
 * into the existing empty directory `into`, at the same relative paths. Directories that are
 * missing, or that have a symlink or non-directory on the way, are skipped. `work` is a private
 * scratch directory for the command files.
 */
export async function extractDirs(image: string, dirs: string[], into: string, work: string): Promise<void> {
  const wanted = [...new Set(dirs.flatMap(lineage))];
  const types = await statTypes(image, wanted, path.join(work, 'stat.cmd'));
  const plain = dirs.filter((d) => lineage(d).every((p) => types.get(p) === 'directory'));
  if (plain.length === 0) return;

  const commands: string[] = [];
  for (const d of plain) {
    if (d === '') {
      commands.push(`rdump / ${q(into)}`);
      continue;
    }
    const parent = path.join(into, path.dirname(d));
    fs.mkdirSync(parent, { recursive: true });
    commands.push(`rdump ${q('/' + d)} ${q(parent)}`);
  }
  const run = await runDebugfs(image, commands, path.join(work, 'rdump.cmd'));
  const benign = /while (changing ownership|setting permissions|setting times) of /;
  const bad = run.stderrLines.filter((l) => !benign.test(l));
  if (bad.length) throw new DebugfsError(image, summarize(bad), { stderr: bad });
  // Not root: rdump could not chown, and copied modes may deny us reading files or removing dirs.
  if (process.getuid?.() !== 0) makeOwnerAccessible(into);
}

/** chmod u+rwX over a tree we own (after an unprivileged rdump), so it can be read and removed. */
export function makeOwnerAccessible(top: string): void {
  const stack: Buffer[] = [Buffer.from(top)];
  while (stack.length) {
    const d = stack.pop()!;
    fs.chmodSync(d, 0o700);
    for (const e of fs.readdirSync(d, { withFileTypes: true, encoding: 'buffer' }) as unknown as fs.Dirent[]) {
      const p = Buffer.concat([d, Buffer.from('/'), e.name as unknown as Buffer]);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) fs.chmodSync(p, 0o600);
    }
  }
}
