/**
 * Context builder: selection from a generated guest tree (ELF under the roots, symlinks, hard
 * links, FIFOs, non-UTF-8 names, --include globs), digest stability, byte-identical CTX files from
 * a directory and from an ext4 image of it (mkfs.ext4 -d, never mounted), the CTX round trip, the
 * CLI command, and failures that leave no output behind. Malformed CTX files: format.test.ts.
 */
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildContext, writeContext } from '../../../src/context/build.js';
import { CTX_PAGE } from '../../../src/context/format.js';
import { compileGlob } from '../../../src/context/glob.js';
import { openContext, readContextHeader } from '../../../src/context/open.js';
import { assertSameContext, verifyContext } from '../../helpers/verify-context.js';
import { MigError } from '../../../src/util/errors.js';
import { tmpPath } from '../../helpers/tmp.js';

const elf = (seed: number, len: number) => {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  b.write('\x7fELF', 0, 'latin1');
  return b;
};
const ODD_NAME = Buffer.concat([Buffer.from('usr/lib/'), Buffer.from([0xff, 0x41]), Buffer.from('.so')]);

/** A small merged-/usr guest tree. */
function makeTree(): string {
  const root = tmpPath('tree');
  const w = (rel: string, data: string | Buffer) => {
    fs.mkdirSync(path.join(root, path.dirname(rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), data);
  };
  w('usr/bin/tool', elf(1, 10000));
  w('usr/bin/script.sh', '#!/bin/sh\necho hi\n');
  w('usr/sbin/daemon', elf(2, 5000));
  w('usr/lib/libx.so.1', elf(3, 4096));
  w('usr/lib/python3.11/mod.py', 'print(1)\n');
  w('usr/lib/python3.11/lib-dynload/_x.so', elf(4, 777));
  w('usr/share/doc/readme', 'docs\n');
  w('usr/share/elfish', elf(5, 100));
  w('opt/app/bin', elf(6, 100));
  w('etc/hostname', 'guest\n');
  w('etc/conf.d/a.conf', 'a=1\n');
  w('etc/empty', '');
  fs.writeFileSync(Buffer.concat([Buffer.from(root + '/'), ODD_NAME]), elf(7, 300));
  fs.linkSync(path.join(root, 'usr/bin/tool'), path.join(root, 'usr/bin/tool-hardlink'));
  fs.symlinkSync('tool', path.join(root, 'usr/bin/tool-symlink'));
  fs.symlinkSync('../share', path.join(root, 'usr/lib/share-link'));
  fs.symlinkSync('usr/bin', path.join(root, 'bin'));
  fs.symlinkSync('usr/lib', path.join(root, 'lib'));
  execFileSync('mkfifo', [path.join(root, 'usr/lib/fifo')]);
  return root;
}

function mkfs(dir: string): string {
  const img = tmpPath('fs.ext4');
  execFileSync('mkfs.ext4', ['-q', '-F', '-d', dir, img, '16M'], { stdio: 'pipe' });
  return img;
}

const DEFAULT_PATHS = ['usr/bin/tool', 'usr/bin/tool-hardlink', 'usr/lib/libx.so.1', 'usr/lib/python3.11/lib-dynload/_x.so', 'usr/lib/\ufffdA.so', 'usr/sbin/daemon'];
const INCLUDE = ['etc/**', '**/*.py', 'usr/share/doc/*', 'lib/**'];
const INCLUDE_EXTRA = ['etc/conf.d/a.conf', 'etc/empty', 'etc/hostname', 'usr/lib/python3.11/mod.py', 'usr/share/doc/readme'];

test('default selection: ELF files under the roots; symlinks, FIFOs and non-ELF files are skipped; order is byte-wise', async (t) => {
  const r = await buildContext(makeTree());
  t.is(r.sourceKind, 'directory');
  // Byte order: 0xff sorts after "p" and "l", so the non-UTF-8 name comes after python3.11.
  t.deepEqual(r.files.map((f) => f.path), DEFAULT_PATHS);
  t.true(r.files[4].pathBytes.equals(ODD_NAME));
  t.true(r.files.every((f) => f.elf));
  const [tool, hard] = r.files;
  t.is(tool.offset, hard.offset, 'hard links share one stored copy');
  t.is(r.blobs.length, 5);
  t.is(r.fileBytes, 10000 * 2 + 4096 + 777 + 300 + 5000);
  t.is(r.contentBytes, (3 + 1 + 1 + 1 + 2) * CTX_PAGE);
  t.true(r.blobs.every((b) => b.offset % CTX_PAGE === 0));
});

test('--include globs add any regular file; a symlinked directory on the way is not followed', async (t) => {
  const progress: number[] = [];
  const r = await buildContext(makeTree(), { include: INCLUDE, onProgress: (n) => progress.push(n) });
  t.deepEqual(r.files.map((f) => f.path), [...INCLUDE_EXTRA, ...DEFAULT_PATHS].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
  const empty = r.files.find((f) => f.path === 'etc/empty')!;
  t.deepEqual([empty.size, empty.offset, empty.elf], [0, 0, false]);
  t.false(r.files.find((f) => f.path === 'etc/hostname')!.elf);
  t.is(progress.length, r.files.length);
});

test('glob syntax: *, ?, ** and fixed prefixes', (t) => {
  const cases: [string, string, boolean][] = [
    ['usr/share/**', 'usr/share/a/b.txt', true], ['usr/share/**', 'usr/share', false], ['usr/share/**', 'usr/shared/x', false],
    ['**/*.py', 'x.py', true], ['**/*.py', 'a/b/x.py', true], ['**/*.py', 'a/b/x.pyc', false],
    ['etc/*.conf', 'etc/a.conf', true], ['etc/*.conf', 'etc/d/a.conf', false], ['etc/?.conf', 'etc/a.conf', true], ['etc/?.conf', 'etc/ab.conf', false],
    ['a/**/b', 'a/b', true], ['a/**/b', 'a/x/y/b', true], ['a/**/b', 'a/xb', false], ['/etc/hostname', 'etc/hostname', true], ['a.b', 'axb', false],
  ];
  for (const [g, p, want] of cases) t.is(compileGlob(g).test(p), want, `${g} vs ${p}`);
  t.is(compileGlob('usr/share/**').prefix, 'usr/share');
  t.is(compileGlob('**/*.py').prefix, '');
  t.is(compileGlob('etc/hostname').prefix, 'etc');
  for (const g of ['', '/', 'a/../b', 'a**b']) t.throws(() => compileGlob(g), { instanceOf: MigError, code: 'USAGE' });
});

test('digest: stable across builds, mtimes and modes; changes with content or paths', async (t) => {
  const dir = makeTree();
  const d = async () => (await buildContext(dir, { include: INCLUDE })).digest.toString('hex');
  const first = await d();
  t.is(await d(), first);
  fs.utimesSync(path.join(dir, 'usr/bin/tool'), new Date(0), new Date(0));
  fs.chmodSync(path.join(dir, 'usr/lib/libx.so.1'), 0o600);
  t.is(await d(), first, 'mtimes and modes do not matter');
  const lib = path.join(dir, 'usr/lib/libx.so.1');
  const bytes = fs.readFileSync(lib);
  bytes[100] ^= 1;
  fs.writeFileSync(lib, bytes);
  const changed = await d();
  t.not(changed, first);
  fs.renameSync(path.join(dir, 'etc/hostname'), path.join(dir, 'etc/hostname2'));
  t.not(await d(), changed);
});

test('a directory and an ext4 image of it give byte-identical CTX files', async (t) => {
  const dir = makeTree();
  const img = mkfs(dir);
  for (const include of [[], INCLUDE]) {
    const a = await buildContext(dir, { include });
    const b = await buildContext(img, { include });
    t.is(b.sourceKind, 'ext4');
    assertSameContext(t, a, b);
  }
});

test('CTX round trip: header, table, content, verification', async (t) => {
  const r = await buildContext(makeTree(), { include: INCLUDE });
  const out = tmpPath('ctx');
  const w = writeContext(r, out);
  t.is(fs.statSync(out).size, w.fileSize);
  const h = readContextHeader(out);
  t.is(h.fileCount, r.files.length);
  t.is(h.contentOffset % CTX_PAGE, 0);
  t.is(h.fileBytes, r.fileBytes);
  t.true(h.digest.equals(r.digest));
  const c = openContext(out);
  try {
    t.deepEqual(c.entries.map((e) => [e.pathBytes.toString('hex'), e.size, e.offset, e.elf]), r.files.map((f) => [f.pathBytes.toString('hex'), f.size, f.offset, f.elf]));
    t.true(c.read(c.find('usr/bin/tool')!).equals(elf(1, 10000)));
    t.is(c.read(c.find('etc/hostname')!).toString(), 'guest\n');
    t.is(c.find('usr/bin/nope'), undefined);
    t.is(verifyContext(c).digest, r.digest.toString('hex'));
  } finally {
    c.close();
  }
  t.deepEqual(fs.readdirSync(path.dirname(out)).filter((n) => n.includes('.tmp-')), [], 'no temp file left');
});

// ---- failures leave nothing behind ----------------------------------------------------------

test('sources that are neither a directory nor an ext4 image, and unwritable outputs, are usage errors', async (t) => {
  const junk = tmpPath('junk');
  fs.writeFileSync(junk, Buffer.alloc(4096, 1));
  await t.throwsAsync(buildContext(junk), { code: 'USAGE', message: /neither a directory nor an ext2\/3\/4/ });
  await t.throwsAsync(buildContext(tmpPath('missing')), { code: 'USAGE', message: /ENOENT/ });
  const r = await buildContext(makeTree());
  const out = path.join(tmpPath('nodir'), 'x.ctx');
  t.throws(() => writeContext(r, out), { code: 'USAGE', message: /^cannot write .*x\.ctx: directory .* does not exist$/ });
  t.false(fs.existsSync(out));
});

test('a broken ext4 image fails the build with the debugfs message, and no CTX file appears', async (t) => {
  const img = mkfs(makeTree());
  const cut = tmpPath('cut.ext4');
  fs.writeFileSync(cut, fs.readFileSync(img).subarray(0, 64 * 1024));
  const out = tmpPath('cut.ctx');
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', cliScript(['context', 'build', cut, '-o', out, '--json'])], { encoding: 'utf8' });
  t.not(r.status, 0);
  t.regex(r.stderr, /CONTEXT_SOURCE .*debugfs/);
  t.false(fs.existsSync(out));
  t.deepEqual(fs.readdirSync(path.dirname(out)).filter((n) => n.includes('cut.ctx')), []);
});

test('a failure while writing removes the temp file', async (t) => {
  const r = await buildContext(makeTree());
  r.blobs[1].offset += CTX_PAGE; // inconsistent layout: writeContext refuses half-way through
  const out = tmpPath('half.ctx');
  t.throws(() => writeContext(r, out), { code: 'INTERNAL' });
  t.deepEqual(fs.readdirSync(path.dirname(out)).filter((n) => n.includes('half.ctx')), []);
});

// ---- CLI (registerContext in a scratch program; main.ts wires it for real) -----------------

function cliScript(args: string[]): string {
  const dist = path.resolve(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), '../../..');
  return `import { Command } from 'commander';
import { registerContext } from ${JSON.stringify(path.join(dist, 'src/cli/commands/context.js'))};
const p = new Command('mig').exitOverride();
registerContext(p);
try { await p.parseAsync(${JSON.stringify(['node', 'mig', ...args])}); }
catch (e) { process.stderr.write(e.code + ' ' + e.message + '\\n'); process.exitCode = 1; }`;
}

test('mig context build --json prints the summary', async (t) => {
  const out = tmpPath('cli.ctx');
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', cliScript(['context', 'build', makeTree(), '-o', out, '--include', 'etc/**', '--include', '**/*.py', '--json'])], { encoding: 'utf8', cwd: process.cwd() });
  t.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  t.like(j, { output: out, sourceKind: 'directory', include: ['etc/**', '**/*.py'], files: 10, elfFiles: 6, uniqueContents: 8, fileSize: fs.statSync(out).size });
  t.is(j.digest, readContextHeader(out).digest.toString('hex'));
  t.is(r.stderr, '', 'no progress output when stderr is not a terminal');
});

// ---- files too large for a context ------------------------------------------------------------

test('a 5 GiB (sparse) file is skipped by name, never read; the rest of the context is built', async (t) => {
  const root = makeTree();
  const big = path.join(root, 'usr/lib/huge.so'); // ELF magic under a default root: selected
  const fd = fs.openSync(big, 'w');
  fs.writeSync(fd, elf(9, 4096));
  fs.ftruncateSync(fd, 5 * 2 ** 30);
  fs.closeSync(fd);
  fs.writeFileSync(path.join(root, 'etc/big.conf'), 'x'); // included by glob, made too large below
  fs.truncateSync(path.join(root, 'etc/big.conf'), 2 ** 30 + 1);
  const small = await buildContext(makeTree(), { include: INCLUDE });
  const r = await buildContext(root, { include: INCLUDE });
  t.deepEqual(r.skipped, [
    { path: 'etc/big.conf', size: 2 ** 30 + 1, reason: 'too-large' },
    { path: 'usr/lib/huge.so', size: 5 * 2 ** 30, reason: 'too-large' },
  ]);
  t.false(r.files.some((f) => f.path === 'usr/lib/huge.so' || f.path === 'etc/big.conf'));
  t.deepEqual(r.digest, small.digest, 'the same context as the tree without them');
  // The CLI names them (text and --json) and exits 0.
  const out = tmpPath('skip.ctx');
  const j = spawnSync(process.execPath, ['--input-type=module', '-e', cliScript(['context', 'build', root, '-o', out, '--json'])], { encoding: 'utf8' });
  t.is(j.status, 0, j.stderr);
  t.deepEqual((JSON.parse(j.stdout) as { skipped: unknown }).skipped, [{ path: 'usr/lib/huge.so', size: 5 * 2 ** 30, reason: 'too-large' }]);
  const txt = spawnSync(process.execPath, ['--input-type=module', '-e', cliScript(['context', 'build', root, '-o', tmpPath('skip2.ctx')])], { encoding: 'utf8' });
  t.is(txt.status, 0, txt.stderr);
  t.regex(txt.stdout, /^skipped {3}1 files larger than 1 GiB \(not in the context\): usr\/lib\/huge\.so \(5368709120 bytes\)$/m);
});
