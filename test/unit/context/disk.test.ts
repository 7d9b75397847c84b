/**
 * `mig context build` of whole disks (src/context/disk.ts): a raw disk with an MBR or a GPT whose
 * second partition holds the guest's ext4 root, the same disk as qcow2, and an NTFS partition after
 * a small one, all give the same CTX as the file system (or the directory) on its own; a disk with
 * no usable file system is refused naming what it found.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildContext } from '../../../src/context/build.js';
import { partitions } from '../../../src/context/disk.js';
import { ntfsImageFromFiles } from '../../helpers/ntfs-image.js';
import { tmpPath } from '../../helpers/tmp.js';
import { windows7Image } from '../../helpers/windows7-image.js';

const MiB = 1 << 20;

/** An ext4 image of a small Linux-like tree (an ELF under usr/bin, a library, a config file). */
function ext4Image(): { image: string; tree: string } {
  const tree = tmpPath('tree');
  fs.mkdirSync(path.join(tree, 'usr/bin'), { recursive: true });
  fs.mkdirSync(path.join(tree, 'usr/lib'), { recursive: true });
  fs.mkdirSync(path.join(tree, 'etc'), { recursive: true });
  const elf = (n: number) => Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.alloc(20000 + n, n)]);
  fs.writeFileSync(path.join(tree, 'usr/bin/tool'), elf(1));
  fs.writeFileSync(path.join(tree, 'usr/lib/libx.so'), elf(2));
  fs.writeFileSync(path.join(tree, 'etc/conf'), 'x=1\n');
  const image = tmpPath('root.ext4');
  const r = spawnSync('mkfs.ext4', ['-q', '-F', '-d', tree, image, '8M'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mkfs.ext4: ${r.stderr}`);
  return { image, tree };
}

/** A disk of `size` bytes with the file systems placed at the given offsets, and a partition table. */
function disk(kind: 'mbr' | 'gpt', parts: { at: number; image?: string; size: number; type?: number }[], size: number): string {
  const file = tmpPath(`${kind}.disk`);
  const fd = fs.openSync(file, 'w');
  try {
    fs.ftruncateSync(fd, size);
    const mbr = Buffer.alloc(512);
    mbr.writeUInt16LE(0xaa55, 510);
    if (kind === 'mbr') {
      parts.forEach((p, i) => {
        const e = 446 + i * 16;
        mbr[e + 4] = p.type ?? 0x83;
        mbr.writeUInt32LE(p.at / 512, e + 8);
        mbr.writeUInt32LE(p.size / 512, e + 12);
      });
    } else {
      mbr[446 + 4] = 0xee;
      mbr.writeUInt32LE(1, 446 + 8);
      mbr.writeUInt32LE(size / 512 - 1, 446 + 12);
      const h = Buffer.alloc(512);
      h.write('EFI PART', 0, 'latin1');
      h.writeBigUInt64LE(2n, 72); // entries at LBA 2
      h.writeUInt32LE(128, 80);
      h.writeUInt32LE(128, 84);
      fs.writeSync(fd, h, 0, 512, 512);
      const entries = Buffer.alloc(128 * 128);
      parts.forEach((p, i) => {
        const e = i * 128;
        entries.fill(0x11 + i, e, e + 16); // type GUID (not zero: used)
        entries.writeBigUInt64LE(BigInt(p.at / 512), e + 32);
        entries.writeBigUInt64LE(BigInt((p.at + p.size) / 512 - 1), e + 40);
      });
      fs.writeSync(fd, entries, 0, entries.length, 1024);
    }
    fs.writeSync(fd, mbr, 0, 512, 0);
    for (const p of parts) if (p.image) fs.writeSync(fd, fs.readFileSync(p.image), 0, fs.statSync(p.image).size, p.at);
  } finally {
    fs.closeSync(fd);
  }
  return file;
}

test('MBR and GPT disks with the root in partition 2, and the GPT disk as qcow2: the same context as the ext4 image and the directory', async (t) => {
  const { image, tree } = ext4Image();
  const want = await buildContext(image, {});
  const dir = await buildContext(tree, {});
  t.deepEqual(want.digest, dir.digest);
  t.true(want.files.length >= 2);
  const boot = { at: 1 * MiB, size: 2 * MiB }; // an empty "boot" partition first
  const root = { at: 4 * MiB, size: 8 * MiB, image };
  for (const kind of ['mbr', 'gpt'] as const) {
    const d = disk(kind, [boot, root], 16 * MiB);
    const ps = partitions(d);
    t.deepEqual(ps.map((p) => [p.index, p.start, p.fs]), [[1, MiB, undefined], [2, 4 * MiB, 'ext4']], kind);
    const got = await buildContext(d, {});
    t.is(got.sourceKind, 'disk');
    t.deepEqual(got.digest, want.digest, kind);
    t.regex(got.disk!.via.join(' '), /partition 2 \(ext4\) at byte 4194304/);
    if (kind === 'gpt') {
      const q = tmpPath('gpt.qcow2');
      t.is(spawnSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', d, q]).status, 0);
      const fromQcow = await buildContext(q, {});
      t.deepEqual(fromQcow.digest, want.digest);
      t.regex(fromQcow.disk!.via[0], /qcow2, converted to raw/);
    }
  }
});

test('an NTFS partition (through a loop device) gives the NTFS image\'s context with Windows defaults', async (t) => {
  const files = windows7Image({ pae: false, ramMiB: 48, seed: 2 }).files;
  const ntfs = ntfsImageFromFiles(files);
  const want = await buildContext(ntfs, {});
  const size = fs.statSync(ntfs).size;
  const at = 1 * MiB;
  const d = disk('mbr', [{ at, size: Math.ceil(size / MiB) * MiB, image: ntfs, type: 0x07 }], at + Math.ceil(size / MiB) * MiB + MiB);
  const got = await buildContext(d, {});
  t.is(got.defaults, 'windows');
  t.deepEqual(got.digest, want.digest);
  t.regex(got.disk!.via.join('; '), /partition 1 \(ntfs\) at byte 1048576, \d+ bytes; read through \/dev\/loop\d+/);
  // The loop device is detached afterwards.
  const dev = got.disk!.via.join(' ').match(/\/dev\/loop\d+/)![0];
  const still = spawnSync('losetup', ['-j', d], { encoding: 'utf8' }).stdout;
  t.false(still.includes(dev), still);
});

test('a disk with a partition table but no usable file system is refused, naming what was found', async (t) => {
  const d = disk('mbr', [{ at: MiB, size: 2 * MiB }], 4 * MiB);
  // Not a disk the builder takes: sourceKind refuses it.
  const e = await t.throwsAsync(buildContext(d, {}));
  t.regex(e!.message, /neither a directory nor an ext2\/3\/4 or NTFS file-system image .* nor a qcow2 or partitioned disk holding one/);
});
