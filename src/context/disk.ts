/**
 * Whole-disk sources for `mig context build`: what a domain's disk actually is — a qcow2 file, or a
 * raw disk with an MBR or GPT partition table — reduced to one file system the ext4 or NTFS reader
 * takes:
 *
 * - qcow2 (magic `QFI\xfb`): converted to a sparse raw file in the build's scratch directory with
 *   `qemu-img convert` (qemu-utils). Weighed against the alternatives: qemu-nbd needs the nbd kernel
 *   module and a free /dev/nbdN (neither is here), and a qcow2 cluster reader of our own would still
 *   have to hand debugfs and ntfs-3g a file; the conversion costs one read of the allocated data.
 * - A file system at offset 0 (an ext2/3/4 superblock or an NTFS boot sector): used as it is.
 * - A partition table: MBR (0x55AA, four primary entries; extended partitions are not followed) or
 *   GPT (protective MBR type 0xEE, "EFI PART" header at LBA 1, its entry array; sizes bounded by the
 *   file). Each partition is probed for an ext superblock or an NTFS boot sector at its start; the
 *   largest ext file system is taken (the root, not /boot), else the largest NTFS one (the Windows
 *   volume, not the recovery partition). An ext file system at an offset is read by debugfs as
 *   `FILE?offset=N` (e2fsprogs' unix I/O option); an NTFS one through a read-only loop device over
 *   the partition (ntfs-3g's tools take no offset; needs root), detached afterwards.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MigError, UsageError } from '../util/errors.js';
import { blockDeviceSize } from '../util/file.js';
import { EXT_MAGIC, EXT_MAGIC_OFFSET } from './ext4.js';
import { NTFS_OEM_ID } from './ntfs.js';

const SECTOR = 512;
const QCOW2_MAGIC = Buffer.from([0x51, 0x46, 0x49, 0xfb]);

export interface Partition {
  /** 1-based, as a partition table numbers them. */
  index: number;
  start: number;
  size: number;
  fs?: 'ext4' | 'ntfs';
}

/** A file system found in a disk: where the readers should look, and how to undo what it took. */
export interface DiskFileSystem {
  kind: 'ext4' | 'ntfs';
  /** What to give the reader: the file, `FILE?offset=N` (debugfs), or a loop device. */
  path: string;
  /** How it was found, for the build summary: 'qcow2 → raw', 'partition 2 of 3 (GPT) at byte 1048576', … */
  via: string[];
  release(): void;
}

function readAt(fd: number, pos: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  const n = fs.readSync(fd, b, 0, len, pos);
  return b.subarray(0, n);
}

/** ext or NTFS at byte `start` of the open file, or undefined. */
function fsAt(fd: number, start: number): 'ext4' | 'ntfs' | undefined {
  const m = readAt(fd, start + EXT_MAGIC_OFFSET, 2);
  if (m.length === 2 && m.readUInt16LE(0) === EXT_MAGIC) return 'ext4';
  const b = readAt(fd, start, SECTOR);
  if (b.length === SECTOR && b.toString('latin1', 3, 11) === NTFS_OEM_ID && b.readUInt16LE(510) === 0xaa55) return 'ntfs';
  return undefined;
}

export function isQcow2(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    return readAt(fd, 0, 4).equals(QCOW2_MAGIC);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The partitions of a raw disk image (MBR or GPT), each probed for a file system; [] when the file
 * has no partition table. Every entry is bounded by the file's size (a partition past the end is
 * cut to it, one starting past it dropped); at most 128 GPT entries are read.
 */
export function partitions(file: string): Partition[] {
  const fd = fs.openSync(file, 'r');
  try {
    const st = fs.fstatSync(fd);
    const size = st.isBlockDevice() ? blockDeviceSize(st, file) : st.size;
    const mbr = readAt(fd, 0, SECTOR);
    if (mbr.length < SECTOR || mbr.readUInt16LE(510) !== 0xaa55) return [];
    const out: Partition[] = [];
    const add = (index: number, startLba: number, sectors: number) => {
      const start = startLba * SECTOR;
      if (sectors === 0 || start >= size || start === 0) return;
      out.push({ index, start, size: Math.min(sectors * SECTOR, size - start) });
    };
    const types = [0, 1, 2, 3].map((i) => mbr[446 + i * 16 + 4]);
    if (types.includes(0xee)) {
      const h = readAt(fd, SECTOR, 92);
      if (h.length < 92 || h.toString('latin1', 0, 8) !== 'EFI PART') return [];
      const entriesLba = Number(h.readBigUInt64LE(72));
      const count = Math.min(h.readUInt32LE(80), 128);
      const entrySize = h.readUInt32LE(84);
      if (entrySize < 128 || entrySize > 4096 || entriesLba * SECTOR >= size) return [];
      const table = readAt(fd, entriesLba * SECTOR, count * entrySize);
      for (let i = 0; i < count && (i + 1) * entrySize <= table.length; i++) {
        const e = table.subarray(i * entrySize, (i + 1) * entrySize);
        if (e.subarray(0, 16).every((x) => x === 0)) continue; // unused entry
        const first = Number(e.readBigUInt64LE(32));
        const last = Number(e.readBigUInt64LE(40));
        if (last >= first) add(i + 1, first, last - first + 1);
      }
    } else {
      for (let i = 0; i < 4; i++) {
        const e = mbr.subarray(446 + i * 16, 462 + i * 16);
        if (e[4] === 0 || e[4] === 0x05 || e[4] === 0x0f || e[4] === 0x85) continue; // empty, extended
        add(i + 1, e.readUInt32LE(8), e.readUInt32LE(12));
      }
    }
    for (const p of out) p.fs = fsAt(fd, p.start);
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

/** Whether `file` is a disk this module resolves: qcow2, or a raw disk with a partition holding ext or NTFS. */
export function isDiskImage(file: string): boolean {
  if (isQcow2(file)) return true;
  return partitions(file).some((p) => p.fs !== undefined);
}

/**
 * The file system to build a context from, in `work` (the build's registered scratch directory) for
 * anything it has to make (the raw copy of a qcow2).
 */
export function resolveDisk(source: string, work: string): DiskFileSystem {
  const via: string[] = [];
  let raw = source;
  if (isQcow2(source)) {
    raw = path.join(work, 'disk.raw');
    const r = spawnSync('qemu-img', ['convert', '-q', '-f', 'qcow2', '-O', 'raw', '-S', '4k', source, raw], { encoding: 'utf8' });
    if (r.error) throw new MigError('CONTEXT_SOURCE', `${source}: cannot run qemu-img (${(r.error as NodeJS.ErrnoException).code}): install the Debian package qemu-utils`, { file: source });
    if (r.status !== 0) throw new MigError('CONTEXT_SOURCE', `${source}: qemu-img convert failed: ${(r.stderr.trim().split('\n')[0] ?? '') || `exit ${r.status}`}`, { file: source });
    via.push('qcow2, converted to raw with qemu-img');
  }
  const fd = fs.openSync(raw, 'r');
  let whole: 'ext4' | 'ntfs' | undefined;
  try {
    whole = fsAt(fd, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (whole) return { kind: whole, path: raw, via, release: () => undefined };
  const parts = partitions(raw);
  const pick = (k: 'ext4' | 'ntfs') => parts.filter((p) => p.fs === k).sort((a, b) => b.size - a.size)[0];
  const p = pick('ext4') ?? pick('ntfs');
  if (!p) {
    const what = parts.length ? `${parts.length} partition(s), none holding an ext2/3/4 or NTFS file system` : 'no file system at its start and no MBR/GPT partition table';
    throw new UsageError(`${source}: ${what}${via.length ? ` (${via.join('; ')})` : ''}`, { file: source });
  }
  via.push(`partition ${p.index} (${p.fs}) at byte ${p.start}, ${p.size} bytes`);
  if (p.fs === 'ext4') return { kind: 'ext4', path: `${raw}?offset=${p.start}`, via, release: () => undefined };
  const lo = spawnSync('losetup', ['--find', '--show', '--read-only', '--offset', String(p.start), '--sizelimit', String(p.size), raw], { encoding: 'utf8' });
  if (lo.status !== 0) {
    throw new MigError('CONTEXT_SOURCE', `${source}: the NTFS file system in partition ${p.index} needs a loop device (ntfs-3g's tools read no offset), and losetup failed: ${(lo.stderr ?? '').trim().split('\n')[0] || (lo.error as Error)?.message}; run as root, or give the partition as a file`, { file: source });
  }
  const dev = lo.stdout.trim();
  via.push(`read through ${dev}`);
  return { kind: 'ntfs', path: dev, via, release: () => void spawnSync('losetup', ['-d', dev]) };
}
