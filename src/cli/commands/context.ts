/**
 * `mig context build <dir | ext4 image | NTFS image> -o CTX [--include GLOB]... [--json]`: build the
 * context (guest executables and shared libraries or DLLs, plus any --include files) that memory
 * pages are matched against, and write it as a CTX file (docs/format/context.md). An ext4 image is
 * read with debugfs, an NTFS image with ntfs-3g's ntfsls and ntfscat; neither is mounted.
 * Prints files, bytes, the content digest and the time taken; progress goes to stderr when stderr
 * is a terminal.
 */
import { Command } from 'commander';
import { buildContext, writeContext, type ContextSourceKind } from '../../context/build.js';
import { MAX_FILE_BYTES, type GuestOs } from '../../context/tree.js';
import { mib, printJson } from '../output.js';
import { checkOutputPath } from '../../util/sink.js';

export interface ContextBuildSummary {
  output: string;
  source: string;
  sourceKind: ContextSourceKind;
  /** A disk image: the file system used and how it was reached. */
  disk?: { fs: 'ext4' | 'ntfs'; via: string[] };
  /** Default selection used: linux (ELF under usr/bin, lib, …) or windows (PE under Windows/System32, Program Files). */
  defaults: GuestOs;
  include: string[];
  files: number;
  elfFiles: number;
  peFiles: number;
  /** Distinct contents stored (hard links and other equal files share one). */
  uniqueContents: number;
  fileBytes: number;
  contentBytes: number;
  fileSize: number;
  digest: string;
  /** Selected files left out of the context (larger than 1 GiB), by path. */
  skipped: { path: string; size: number; reason: 'too-large' }[];
  seconds: number;
}

/** Build and write a context, reporting progress through `progress` (a line of text) if given. */
export async function contextBuild(source: string, output: string, include: string[], progress?: (line: string) => void): Promise<ContextBuildSummary> {
  const t0 = performance.now();
  checkOutputPath(output); // before the source is read
  let last = 0;
  progress?.(`reading ${source}…`);
  const r = await buildContext(source, {
    include,
    onProgress: progress && ((files, bytes) => {
      const now = performance.now();
      if (now - last < 100) return;
      last = now;
      progress(`reading: ${files} files, ${mib(bytes)}`);
    }),
  });
  progress?.('writing…');
  const w = writeContext(r, output);
  return {
    output: w.path,
    source,
    sourceKind: r.sourceKind,
    disk: r.disk,
    defaults: r.defaults,
    include,
    files: r.files.length,
    elfFiles: r.files.filter((f) => f.elf).length,
    peFiles: r.files.filter((f) => f.pe).length,
    uniqueContents: r.blobs.length,
    fileBytes: r.fileBytes,
    contentBytes: r.contentBytes,
    fileSize: w.fileSize,
    digest: r.digest.toString('hex'),
    skipped: r.skipped,
    seconds: Math.round(performance.now() - t0) / 1000,
  };
}

const SOURCE_NAMES: Record<ContextSourceKind, string> = { directory: 'directory', ext4: 'ext4 image', ntfs: 'NTFS image', disk: 'disk image' };

function printText(s: ContextBuildSummary): void {
  const lines: [string, string][] = [
    ['output', `${s.output} (${s.fileSize} bytes, ${mib(s.fileSize)})`],
    ['source', `${s.source} (${SOURCE_NAMES[s.sourceKind]}, ${s.defaults === 'windows' ? 'Windows defaults: PE files under Windows/System32, Program Files' : 'Linux defaults: ELF files under usr/bin, lib, …'})`],
    ...(s.disk ? [['file system', `${s.disk.fs}: ${s.disk.via.join('; ')}`] as [string, string]] : []),
    ['files', `${s.files} (${s.elfFiles} ELF${s.peFiles ? `, ${s.peFiles} PE` : ''}), ${s.uniqueContents} distinct contents`],
    ['bytes', `${s.fileBytes} in files (${mib(s.fileBytes)}), ${s.contentBytes} stored page-aligned`],
    ['digest', `sha256:${s.digest}`],
    ...(s.skipped.length ? [['skipped', `${s.skipped.length} files larger than ${MAX_FILE_BYTES / 2 ** 30} GiB (not in the context): ${s.skipped.map((x) => `${x.path} (${x.size} bytes)`).join(', ')}`] as [string, string]] : []),
    ['seconds', s.seconds.toFixed(2)],
  ];
  for (const [k, v] of lines) process.stdout.write(`${k.padEnd(10)}${v}\n`);
}

export function registerContext(program: Command): void {
  const context = program
    .command('context')
    .description('the dictionary of guest file contents that memory pages are matched against');
  context
    .command('build')
    .description('build a context from a guest root directory, an ext2/3/4 or NTFS file-system image, or a whole disk (qcow2 or raw, MBR or GPT: the largest ext partition, else the largest NTFS one), never mounted. '
      + 'Default selection: Linux guests: ELF files under usr/bin, usr/sbin, bin, sbin, usr/lib, lib, usr/libexec, usr/lib64, lib64; '
      + 'Windows guests (an NTFS image, or a directory holding Windows/System32): PE files (EXEs, DLLs, drivers) under '
      + 'Windows/System32, Program Files and Program Files (x86), names matched case-insensitively')
    .argument('<source>', 'guest root directory, an ext2/3/4 image (read with debugfs, package e2fsprogs), an NTFS image '
      + '(read with ntfsls and ntfscat, package ntfs-3g), or a disk image holding one (qcow2 through qemu-img; an NTFS partition through a loop device, as root); told apart by content')
    .requiredOption('-o, --output <ctx>', 'CTX file to write (atomically)')
    .option('--include <glob>', 'also add regular files whose root-relative path matches GLOB (*, ?, **; case-sensitive, / between components), e.g. \'usr/share/**\' or \'Windows/Fonts/*.ttf\'; repeatable',
      (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--json', 'print a JSON object instead of text')
    .action(async (source: string, o: { output: string; include: string[]; json?: boolean }) => {
      const tty = process.stderr.isTTY === true;
      const progress = tty ? (line: string) => process.stderr.write(`\r\x1b[K${line}`) : undefined;
      try {
        const s = await contextBuild(source, o.output, o.include, progress);
        if (tty) process.stderr.write('\r\x1b[K');
        if (o.json) printJson(s);
        else printText(s);
      } catch (e) {
        if (tty) process.stderr.write('\r\x1b[K');
        throw e;
      }
    });
}
