/**
 * Contexts from a Windows guest's NTFS disk image (issue 11 §3/§4), read with ntfs-3g's tools and
 * never mounted: detection by the boot sector, the Windows default selection (PE files under
 * Windows/System32, Program Files, Program Files (x86), matched case-insensitively), the generated
 * Windows 7 guest's files (test/helpers/windows7-image.ts) in an image made by mkntfs + wimlib
 * (test/helpers/ntfs-image.ts), byte-identical CTX files from the image and from the same tree as
 * a directory, names with spaces and non-ASCII letters, reparse points and alternate data streams
 * left out, --include, and failures that name the image and leave no output.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildContext, sourceKind, writeContext } from '../../../src/context/build.js';
import { isPeFile } from '../../../src/context/format.js';
import { isNtfsImage, ntfsGeometry, parseMftRecord } from '../../../src/context/ntfs.js';
import { openContext } from '../../../src/context/open.js';
import { assertSameContext, verifyContext } from '../../helpers/verify-context.js';
import { MIG, mig } from '../../helpers/cli.js';
import { addNamedStream, ntfsImageFromDir, ntfsImageFromFiles, writeWindowsFiles } from '../../helpers/ntfs-image.js';
import { tmpPath } from '../../helpers/tmp.js';
import { windows7Image } from '../../helpers/windows7-image.js';

/** A minimal PE: DOS header with e_lfanew = 0x80, "PE\0\0" there, then filler. */
function pe(seed: number, len = 3000): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (i * 13 + seed * 5) & 0xff;
  b.write('MZ', 0, 'latin1');
  b.writeUInt32LE(0x80, 0x3c);
  b.write('PE\0\0', 0x80, 'latin1');
  return b;
}

/** The PE rule written out independently of isPeFile: MZ, e_lfanew in bounds, "PE\0\0" there. */
function looksPe(b: Buffer): boolean {
  if (b.length < 0x40 || b.toString('latin1', 0, 2) !== 'MZ') return false;
  const at = b.readUInt32LE(0x3c);
  return at + 4 <= b.length && b.toString('latin1', at, at + 4) === 'PE\0\0';
}

const win7 = windows7Image({ pae: false, ramMiB: 64, seed: 1 });

/** The Windows 7 guest's files as a directory tree and as an NTFS image of it. */
const guest = (() => {
  const dir = tmpPath('win7-files');
  writeWindowsFiles(dir, win7.files);
  return { dir, image: ntfsImageFromFiles(win7.files) };
})();

/** A small Windows tree with the awkward cases, as a directory and as an image. */
function makeOddTree(): { dir: string; image: string } {
  const dir = tmpPath('odd');
  const w = (rel: string, data: string | Buffer) => {
    fs.mkdirSync(path.join(dir, path.dirname(rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), data);
  };
  w('Windows/System32/kernel32.dll', pe(1));
  w('Windows/System32/drivers/etc/hosts', '127.0.0.1 localhost\r\n'); // not PE: left out by default
  w('Windows/System32/truncated.dll', pe(2).subarray(0, 0x82)); // e_lfanew points past the end
  w('Windows/System32/de-DE/Schrift Ärger.dll', pe(3)); // space and non-ASCII
  w('Windows/System32/中文 目录/工具.exe', pe(4));
  w('Windows/Fonts/segoe ui.ttf', 'font');
  w('Program Files/Common Files/Système/ç.dll', pe(5));
  w('Program Files (x86)/Old App/app.exe', pe(6, 5000));
  w('Program Files (x86)/Old App/readme.txt', 'MZ but not a PE');
  w('Users/Public/tool.exe', pe(7)); // not under a default root
  w('Windows/explorer.exe', pe(8)); // \Windows itself is not a root
  fs.symlinkSync('kernel32.dll', path.join(dir, 'Windows/System32/kernel32-link.dll')); // a reparse point in the image
  fs.symlinkSync('../../Users', path.join(dir, 'Program Files/Users-junction'));
  const image = ntfsImageFromDir(dir);
  addNamedStream(image, '/Windows/System32/kernel32.dll', 'Zone.Identifier', pe(9)); // an ADS: never part of the content
  return { dir, image };
}

const ODD_DEFAULT = [
  'Program Files (x86)/Old App/app.exe',
  'Program Files/Common Files/Système/ç.dll',
  'Windows/System32/de-DE/Schrift Ärger.dll',
  'Windows/System32/kernel32.dll',
  'Windows/System32/中文 目录/工具.exe',
];

const sortBytes = (a: string[]) => [...a].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));

async function sameCtx(t: import('ava').ExecutionContext, dir: string, image: string, include: string[] = []) {
  const a = await buildContext(dir, { include });
  const b = await buildContext(image, { include });
  t.is(a.sourceKind, 'directory');
  t.is(b.sourceKind, 'ntfs');
  t.is(a.defaults, 'windows');
  t.is(b.defaults, 'windows');
  assertSameContext(t, a, b);
  return b;
}

// ---- detection --------------------------------------------------------------------------------

test('NTFS images are recognised by the boot sector, whatever their name', (t) => {
  t.true(isNtfsImage(guest.image));
  t.is(sourceKind(guest.image), 'ntfs');
  const renamed = tmpPath('disk.ext4');
  fs.copyFileSync(guest.image, renamed);
  t.is(sourceKind(renamed), 'ntfs');
  // OEM id alone is not enough: bytes per sector 0, or no 55 AA signature, is not NTFS.
  const head = fs.readFileSync(guest.image).subarray(0, 4096);
  const badBps = Buffer.from(head);
  badBps.writeUInt16LE(0, 0x0b);
  const noSig = Buffer.from(head);
  noSig[510] = 0;
  const badSpc = Buffer.from(head);
  badSpc[0x0d] = 3;
  for (const [name, bytes] of [['bps', badBps], ['sig', noSig], ['spc', badSpc]] as const) {
    const f = tmpPath(`not-ntfs-${name}`);
    fs.writeFileSync(f, bytes);
    t.false(isNtfsImage(f), name);
    t.throws(() => sourceKind(f), { code: 'USAGE', message: /neither a directory nor an ext2\/3\/4 or NTFS file-system image/ });
  }
  const short = tmpPath('short');
  fs.writeFileSync(short, head.subarray(0, 100));
  t.false(isNtfsImage(short));
});

test('PE detection checks e_lfanew against the file size before reading there', (t) => {
  const rd = (b: Buffer) => (o: number, n: number) => b.subarray(o, o + n);
  const p = pe(1, 200);
  t.true(isPeFile(p.length, rd(p)));
  const far = Buffer.from(p);
  far.writeUInt32LE(0xfffffffc, 0x3c);
  t.false(isPeFile(far.length, rd(far)));
  const edge = Buffer.from(p);
  edge.writeUInt32LE(p.length - 4, 0x3c);
  edge.write('PE\0\0', p.length - 4, 'latin1');
  t.true(isPeFile(edge.length, rd(edge)), 'signature in the last 4 bytes');
  edge.writeUInt32LE(p.length - 3, 0x3c);
  t.false(isPeFile(edge.length, rd(edge)), 'signature would run 1 byte past the end');
  t.false(isPeFile(0x3f, rd(p.subarray(0, 0x3f))), 'shorter than the DOS header');
  const mzOnly = Buffer.from(p);
  mzOnly.write('XX', 0x80, 'latin1');
  t.false(isPeFile(mzOnly.length, rd(mzOnly)));
});

/** A 1024-byte MFT record as on disk: FILE, update sequence at 0x30 (USN 7), in use, $STANDARD_INFORMATION, end. */
function mftRecord(o: { fileAttributes?: number; flags?: number; reparseAttr?: boolean } = {}): Buffer {
  const r = Buffer.alloc(1024);
  r.write('FILE', 0, 'latin1');
  r.writeUInt16LE(0x30, 4);
  r.writeUInt16LE(3, 6);
  r.writeUInt16LE(0x38, 0x14);
  r.writeUInt16LE(o.flags ?? 1, 0x16);
  let at = 0x38;
  r.writeUInt32LE(0x10, at); // $STANDARD_INFORMATION, resident, 0x48-byte value at 0x18
  r.writeUInt32LE(0x60, at + 4);
  r.writeUInt32LE(0x48, at + 0x10);
  r.writeUInt16LE(0x18, at + 0x14);
  r.writeUInt32LE(o.fileAttributes ?? 0x20, at + 0x18 + 0x20);
  at += 0x60;
  if (o.reparseAttr) {
    r.writeUInt32LE(0xc0, at);
    r.writeUInt32LE(0x20, at + 4);
    at += 0x20;
  }
  r.writeUInt32LE(0xffffffff, at);
  r.writeUInt32LE(at + 8, 0x18);
  r.writeUInt32LE(1024, 0x1c);
  // Update sequence: USN 7 at 0x30; the real last u16 of each sector saved at 0x32, 0x34.
  r.writeUInt16LE(7, 0x30);
  for (const i of [1, 2]) {
    r.writeUInt16LE(r.readUInt16LE(i * 512 - 2), 0x30 + 2 * i);
    r.writeUInt16LE(7, i * 512 - 2);
  }
  return r;
}

test('MFT records: reparse points and directories are read; damaged records are named, never trusted', (t) => {
  t.deepEqual(parseMftRecord(mftRecord()), { reparse: false, directory: false });
  t.deepEqual(parseMftRecord(mftRecord({ fileAttributes: 0x420 })), { reparse: true, directory: false });
  t.deepEqual(parseMftRecord(mftRecord({ reparseAttr: true })), { reparse: true, directory: false });
  t.deepEqual(parseMftRecord(mftRecord({ flags: 3 })), { reparse: false, directory: true });
  const bad = (mutate: (r: Buffer) => void, why: RegExp, o = {}) => {
    const r = mftRecord(o);
    mutate(r);
    const got = parseMftRecord(r);
    t.true('bad' in got && why.test(got.bad), `${JSON.stringify(got)} vs ${why}`);
  };
  bad((r) => r.write('BAAD', 0, 'latin1'), /magic is "BAAD"/);
  bad((r) => r.writeUInt16LE(8, 1022), /sector 1 does not end with the update sequence number/);
  bad((r) => r.writeUInt16LE(9, 6), /update sequence count 9/);
  bad((r) => r.writeUInt16LE(600, 4), /update sequence offset 600/);
  bad(() => undefined, /not in use/, { flags: 0 });
  bad((r) => r.writeUInt32LE(12, 0x20), /extension record/);
  bad((r) => r.writeUInt32LE(5000, 0x18), /bytes in use 5000/);
  bad((r) => r.writeUInt32LE(0, 0x38 + 4), /length 0/);
  bad((r) => r.writeUInt32LE(0x10000, 0x38 + 4), /runs past the bytes in use/);
  bad((r) => r.writeUInt32LE(0x60, 0x38 + 0x10), /value of 96 bytes at 24 does not fit/);
  bad((r) => (r[0x38 + 8] = 1), /non-resident/);
  bad((r) => r.writeUInt32LE(0x80, 0x38), /no \$STANDARD_INFORMATION/);
  bad((r) => r.writeUInt32LE(0x30, 0x38 + 0x60), /before the end marker|runs past/);
});

test('the boot sector gives the MFT record size', (t) => {
  t.deepEqual(ntfsGeometry(guest.image), { bytesPerSector: 512, clusterSize: 4096, mftRecordSize: 1024 });
  const head = Buffer.from(fs.readFileSync(guest.image).subarray(0, 512));
  head.writeInt8(-40, 0x40); // 2^40-byte records: not NTFS
  const f = tmpPath('bad-record-size');
  fs.writeFileSync(f, head);
  t.is(ntfsGeometry(f), undefined);
});

// ---- the generated Windows 7 guest ------------------------------------------------------------

test('Windows 7 guest: the image gives exactly the PE files under Windows/System32 and Program Files', async (t) => {
  const want = [...win7.files]
    .filter(([p, b]) => /^\\(windows\\system32|program files|program files \(x86\))\\/i.test(p) && looksPe(b))
    .map(([p]) => p.slice(1).replace(/\\/g, '/'));
  const notPe = [...win7.files].filter(([p, b]) => /^\\windows\\system32\\/i.test(p) && !looksPe(b)).map(([p]) => p);
  t.true(notPe.length > 0, 'the guest has non-PE files under System32 (NLS tables)');
  const r = await sameCtx(t, guest.dir, guest.image);
  t.deepEqual(r.files.map((f) => f.path), sortBytes(want));
  t.is(r.files.length, 43);
  t.true(r.files.every((f) => f.pe && !f.elf));
  for (const f of r.files) t.true(win7.files.get('\\' + f.path.replace(/\//g, '\\'))!.length === f.size, f.path);
  t.is(r.fileBytes, want.reduce((a, p) => a + win7.files.get('\\' + p.replace(/\//g, '\\'))!.length, 0));
  // The files outside the roots (explorer.exe, the side-by-side comctl32) are not in it.
  t.false(r.files.some((f) => /explorer\.exe|winsxs/i.test(f.path)));
  // The CTX verifies (PE flags against content, SHA-256s, digest).
  const out = tmpPath('win7.ctx');
  writeContext(r, out);
  const c = openContext(out);
  try {
    t.is(verifyContext(c).digest, r.digest.toString('hex'));
    t.true(c.entries.every((e) => e.pe));
    t.true(c.read(c.find('Windows/System32/ntdll.dll')!).equals(win7.files.get('\\Windows\\System32\\ntdll.dll')!));
  } finally {
    c.close();
  }
});

test('Windows 7 guest: --include adds non-PE files (case-sensitive globs), from the image as from the directory', async (t) => {
  const r = await sameCtx(t, guest.dir, guest.image, ['Windows/System32/*.nls', 'Windows/System32/*.NLS', 'Windows/Fonts/**', 'windows/explorer.exe']);
  const extra = r.files.filter((f) => !f.pe).map((f) => f.path);
  t.deepEqual(extra, ['Windows/Fonts/segoeui.ttf', 'Windows/Fonts/tahoma.ttf', 'Windows/System32/C_1252.NLS', 'Windows/System32/locale.nls']);
  t.false(r.files.some((f) => f.path === 'Windows/explorer.exe'), 'globs match real names exactly');
  t.is(r.files.length, 43 + 4);
});

// ---- awkward names, reparse points, streams, case ---------------------------------------------

test('names with spaces and non-ASCII letters survive; reparse points, streams and non-PE files are left out', async (t) => {
  const { dir, image } = makeOddTree();
  const r = await sameCtx(t, dir, image);
  t.deepEqual(r.files.map((f) => f.path), ODD_DEFAULT);
  const k32 = r.files.find((f) => f.path === 'Windows/System32/kernel32.dll')!;
  t.is(k32.size, 3000, 'the unnamed $DATA only, not the Zone.Identifier stream');
  t.deepEqual(r.files.find((f) => f.path.endsWith('工具.exe'))!.pathBytes, Buffer.from('Windows/System32/中文 目录/工具.exe'));
  // A non-PE file under System32 is taken only when an --include names it; a symlink (reparse point) never.
  const inc = await sameCtx(t, dir, image, ['Windows/System32/**', 'Program Files/**']);
  t.deepEqual(inc.files.map((f) => f.path), sortBytes([...ODD_DEFAULT, 'Windows/System32/drivers/etc/hosts', 'Windows/System32/truncated.dll']));
  t.false(inc.files.some((f) => /link|junction/.test(f.path)));
  t.false(inc.files.find((f) => f.path === 'Windows/System32/truncated.dll')!.pe, 'e_lfanew past the end: not PE');
});

test('a directory of 800 DLLs (an index past 64 KiB, as a real System32 has) gives the same context as the tree', async (t) => {
  const dir = tmpPath('many');
  fs.mkdirSync(path.join(dir, 'Windows/System32'), { recursive: true });
  for (let i = 0; i < 800; i++) fs.writeFileSync(path.join(dir, `Windows/System32/library-with-a-long-name-${i}.dll`), pe(i, 300));
  const r = await sameCtx(t, dir, ntfsImageFromDir(dir));
  t.is(r.files.length, 800);
});

test('the Windows roots match real names whatever their case; a directory needs Windows/System32 to get Windows defaults', async (t) => {
  const dir = tmpPath('case');
  fs.mkdirSync(path.join(dir, 'WINDOWS/system32'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'program files'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'WINDOWS/system32/A.DLL'), pe(1));
  fs.writeFileSync(path.join(dir, 'program files/b.exe'), pe(2));
  const r = await sameCtx(t, dir, ntfsImageFromDir(dir));
  t.deepEqual(r.files.map((f) => f.path), ['WINDOWS/system32/A.DLL', 'program files/b.exe']);
  // Without Windows/System32 a directory is a Linux guest: its PE files are not selected.
  const other = tmpPath('no-system32');
  fs.mkdirSync(path.join(other, 'Program Files'), { recursive: true });
  fs.writeFileSync(path.join(other, 'Program Files/b.exe'), pe(2));
  const l = await buildContext(other);
  t.is(l.defaults, 'linux');
  t.deepEqual(l.files, []);
  // A Windows/System32 that is a symlink does not count.
  const linked = tmpPath('linked');
  fs.mkdirSync(path.join(linked, 'Windows'), { recursive: true });
  fs.symlinkSync(path.join(dir, 'WINDOWS/system32'), path.join(linked, 'Windows/System32'));
  t.is((await buildContext(linked)).defaults, 'linux');
});

// ---- CLI and failures ---------------------------------------------------------------------------

test('mig context build on an NTFS image: summary with PE count and the Windows defaults', (t) => {
  const out = tmpPath('cli-ntfs.ctx');
  const j = mig('context', 'build', guest.image, '-o', out, '--json');
  t.is(j.status, 0, j.stderr);
  const s = JSON.parse(j.stdout);
  t.like(s, { sourceKind: 'ntfs', defaults: 'windows', files: 43, elfFiles: 0, peFiles: 43 });
  const txt = mig('context', 'build', guest.image, '-o', tmpPath('cli-ntfs2.ctx'));
  t.is(txt.status, 0, txt.stderr);
  t.regex(txt.stdout, /^source {4}.* \(NTFS image, Windows defaults: PE files under Windows\/System32, Program Files\)$/m);
  t.regex(txt.stdout, /^files {5}43 \(0 ELF, 43 PE\), 43 distinct contents$/m);
});

test('a truncated NTFS image fails with the file named and ntfs-3g\'s message; no CTX file appears', (t) => {
  const cut = tmpPath('cut.ntfs');
  fs.writeFileSync(cut, fs.readFileSync(guest.image).subarray(0, 64 * 1024));
  t.true(isNtfsImage(cut), 'the boot sector is intact');
  const out = tmpPath('cut.ctx');
  const r = mig('context', 'build', cut, '-o', out);
  t.not(r.status, 0);
  t.true(r.stderr.includes(cut), r.stderr);
  t.regex(r.stderr, /ntfsls .*: exit status 2: .*Failed to mount '.*cut\.ntfs': Input\/output error/);
  t.regex(r.stderr, /^mig: \S*cut\.ntfs: ntfsls/m);
  t.false(fs.existsSync(out));
  t.deepEqual(fs.readdirSync(path.dirname(out)).filter((n) => n.includes('cut.ctx')), []);
});

test('a damaged MFT record of a selected file fails the build, naming the image', async (t) => {
  // Overwrite the whole MFT copy region after the system records: directory listings still parse
  // from the index, but the files' records are gone.
  const img = tmpPath('mft.ntfs');
  fs.copyFileSync(guest.image, img);
  const boot = Buffer.alloc(512);
  const fd = fs.openSync(img, 'r+');
  try {
    fs.readSync(fd, boot, 0, 512, 0);
    const cluster = boot.readUInt16LE(0x0b) * boot[0x0d];
    const mft = Number(boot.readBigUInt64LE(0x30)) * cluster;
    fs.writeSync(fd, Buffer.alloc(64 * 1024, 0xee), 0, 64 * 1024, mft + 64 * 1024); // records 64 … 127
  } finally {
    fs.closeSync(fd);
  }
  const err = await t.throwsAsync(buildContext(img));
  t.is((err as { code?: string }).code, 'CONTEXT_SOURCE');
  t.true(err!.message.startsWith(`${img}: `), err!.message);
});

test('without ntfs-3g on PATH the message names the Debian package', (t) => {
  const out = tmpPath('nopath.ctx');
  const r = spawnSync(process.execPath, [MIG, 'context', 'build', guest.image, '-o', out], { encoding: 'utf8', env: { ...process.env, PATH: '/nonexistent' } });
  t.not(r.status, 0);
  t.regex(r.stderr, /not found on PATH; install the Debian package ntfs-3g/);
  t.false(fs.existsSync(out));
});
