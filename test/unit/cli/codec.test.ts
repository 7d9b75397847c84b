/**
 * `mig encode` / `mig decode` on hostile inputs and outputs: page maps, special files, output
 * paths. Each refusal is a usage error (exit 2) naming the file, with no output and no temp file.
 */
import test from 'ava';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mig, MIG } from '../../helpers/cli.js';
import { page } from '../../helpers/stream-writer.js';
import { tmpFile, tmpPath } from '../../helpers/tmp.js';

/** A raw image of 256 pages (guest-physical span 256 page frames). */
const rawImage = () => tmpFile(Buffer.concat(Array.from({ length: 256 }, (_, i) => (i % 4 === 0 ? Buffer.alloc(4096) : page(i)))), 'raw.img');

/** Nothing named after `out` in its directory: no output, no temp file. */
function noOutput(t: import('ava').ExecutionContext, out: string): void {
  t.deepEqual(fs.readdirSync(path.dirname(out)).filter((f) => f.includes(path.basename(out))), []);
}

test('encode --page-map: a run past the image, a prototype key as type, /dev/zero and /dev/urandom are usage errors', (t) => {
  const img = rawImage();
  const cases: [string, RegExp][] = [
    [tmpFile(Buffer.from('0 4294967296 free\n'), 'huge.map'), /: line 1: count 4294967296 out of range \(the image has 256 page frames\)/],
    [tmpFile(Buffer.from('0 256 constructor\n'), 'proto.map'), /: line 1: unknown page type/],
    ['/dev/zero', /^mig: page map \/dev\/zero is not a regular file \(a character device\)$/m],
    ['/dev/urandom', /^mig: page map \/dev\/urandom is not a regular file \(a character device\)$/m],
  ];
  for (const [map, re] of cases) {
    const out = tmpPath('pm.mig');
    const t0 = Date.now();
    const r = mig('encode', img, '-o', out, '--page-map', map);
    t.is(r.status, 2, `${map}: ${r.stderr}`);
    t.regex(r.stderr, re);
    t.true(r.stderr.includes(map), 'names the page map');
    t.true(Date.now() - t0 < 15_000);
    noOutput(t, out);
  }
  const ok = tmpFile(Buffer.from('0 128 free\n128 128 anon\n'), 'ok.map');
  const r = mig('encode', img, '-o', tmpPath('ok.mig'), '--page-map', ok, '--json');
  t.is(r.status, 0, r.stderr);
  t.is(JSON.parse(r.stdout).freePagesDropped, 96, 'the non-zero pages of 0..127');
});

/** Run mig with a time limit: a hang (status null) fails instead of blocking the suite. */
function migWithin(ms: number, ...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [MIG, ...args], { encoding: 'utf8', timeout: ms });
  return { status: r.status, stderr: r.stderr };
}

test('FIFOs and endless files as random-access inputs are usage errors at once: image, --baseline, --context, info', (t) => {
  const img = rawImage();
  const fifo = tmpPath('in.fifo');
  execFileSync('mkfifo', [fifo]);
  const runs: [string[], string][] = [
    [['info', fifo], fifo],
    [['info', '/dev/zero'], '/dev/zero'],
    [['encode', fifo, '-o', tmpPath('f.mig'), '--no-introspect'], fifo],
    [['encode', '/dev/urandom', '-o', tmpPath('u.mig'), '--no-introspect'], '/dev/urandom'],
    [['encode', img, '-o', tmpPath('b.mig'), '--no-introspect', '--baseline', fifo], fifo],
    [['encode', img, '-o', tmpPath('c.mig'), '--no-introspect', '--context', fifo], fifo],
  ];
  for (const [args, file] of runs) {
    const r = migWithin(20_000, ...args);
    t.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    t.true(r.stderr.startsWith(`mig: ${file} is a `), r.stderr);
  }
  // decode: the .mig is read front to back, so a FIFO is a stream like stdin; the baseline is not.
  const migFile = tmpPath('ok.mig');
  t.is(mig('encode', img, '-o', migFile, '--no-introspect', '--baseline', img).status, 0);
  const d = migWithin(20_000, 'decode', migFile, '-o', tmpPath('d.img'), '--baseline', fifo);
  t.is(d.status, 2, d.stderr);
  t.true(d.stderr.startsWith(`mig: ${fifo} is a FIFO`), d.stderr);
  const dir = migWithin(20_000, 'decode', path.dirname(fifo), '-o', tmpPath('dir.img'));
  t.is(dir.status, 2);
  t.is(dir.stderr, `mig: ${path.dirname(fifo)} is a directory, not a regular file or a FIFO\n`);
  const zero = migWithin(20_000, 'decode', '/dev/zero', '-o', tmpPath('zero.img'));
  t.is(zero.status, 2);
});

test('decode reads a .mig from a FIFO (a stream, like stdin)', async (t) => {
  const img = rawImage();
  const migFile = tmpPath('f.mig');
  t.is(mig('encode', img, '-o', migFile, '--no-introspect').status, 0);
  const fifo = tmpPath('mig.fifo');
  execFileSync('mkfifo', [fifo]);
  const out = tmpPath('from-fifo.img');
  const writer = spawn('sh', ['-c', `cat '${migFile}' > '${fifo}'`]);
  const r = migWithin(30_000, 'decode', fifo, '-o', out);
  await new Promise((res) => writer.on('exit', res));
  t.is(r.status, 0, r.stderr);
  t.true(fs.readFileSync(out).equals(fs.readFileSync(img)));
});

// ---- output paths: checked before any work; never a directory, device, FIFO or symlink replaced ----

/** Output paths that must be refused, with what the message says; each case made fresh. */
function badOutputs(): [string, string, () => void][] {
  const base = tmpPath('outs');
  fs.mkdirSync(base);
  const dir = path.join(base, 'adir');
  fs.mkdirSync(dir);
  const file = path.join(base, 'afile');
  fs.writeFileSync(file, 'keep');
  const fifo = path.join(base, 'afifo');
  execFileSync('mkfifo', [fifo]);
  const target = path.join(base, 'target');
  fs.writeFileSync(target, 'target bytes');
  const link = path.join(base, 'alink');
  fs.symlinkSync(target, link);
  const unchanged = () => {
    if (!fs.lstatSync(fifo).isFIFO()) throw new Error('the FIFO was replaced');
    if (!fs.lstatSync(link).isSymbolicLink() || fs.readFileSync(target, 'utf8') !== 'target bytes') throw new Error('the symlink or its target was changed');
    if (!fs.lstatSync('/dev/null').isCharacterDevice()) throw new Error('/dev/null was replaced');
    if (fs.readFileSync(file, 'utf8') !== 'keep') throw new Error('the file was changed');
  };
  return [
    [path.join(base, 'missing', 'x'), `directory ${path.join(base, 'missing')} does not exist`, unchanged],
    [`${dir}/`, 'the path names a directory (it ends in /)', unchanged],
    [dir, 'it is a directory', unchanged],
    [path.join(file, 'x'), 'a component of the path is not a directory', unchanged],
    [fifo, 'it is a FIFO; mig writes only regular files', unchanged],
    ['/dev/null', 'it is a character device; mig writes only regular files', unchanged],
    [link, `it is a symbolic link (to ${target}); mig replaces its output by rename and would replace the link itself`, unchanged],
  ];
}

function refusesOutputs(t: import('ava').ExecutionContext, run: (out: string) => { status: number | null; stderr: string }): void {
  for (const [out, what, unchanged] of badOutputs()) {
    const r = run(out);
    t.is(r.status, 2, `${out}: ${r.stderr}`);
    t.true(r.stderr.startsWith(`mig: cannot write ${out}: ${what}`), r.stderr);
    t.notThrows(unchanged);
    const dir = path.dirname(out.replace(/\/$/, ''));
    if (fs.existsSync(dir) && fs.statSync(dir).isDirectory()) t.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('.tmp-')), [], 'no temp file');
  }
}

test('decode -o: missing directory, directory, device, FIFO, symlink are usage errors before anything is decoded', (t) => {
  const img = rawImage();
  const migFile = tmpPath('o.mig');
  t.is(mig('encode', img, '-o', migFile, '--no-introspect').status, 0);
  refusesOutputs(t, (out) => migWithin(20_000, 'decode', migFile, '-o', out));
  // Checked before the input is read: a decode from a FIFO nobody writes to does not wait.
  const fifo = tmpPath('never-written.fifo');
  execFileSync('mkfifo', [fifo]);
  const r = migWithin(20_000, 'decode', fifo, '-o', path.join(tmpPath('nodir'), 'x.img'));
  t.is(r.status, 2, r.stderr);
});

test('encode -o: the same refusals, before the image is read', (t) => {
  const img = rawImage();
  refusesOutputs(t, (out) => migWithin(20_000, 'encode', img, '-o', out, '--no-introspect'));
  // Before stdin is spooled: nothing is read from it.
  const r = spawnSync(process.execPath, [MIG, 'encode', '-', '-o', '/dev/null'], { encoding: 'utf8', input: 'x'.repeat(100), timeout: 20_000 });
  t.is(r.status, 2, r.stderr);
});

test('analyze --report/--page-map and context build -o: the same refusals', (t) => {
  const img = rawImage();
  refusesOutputs(t, (out) => migWithin(20_000, 'analyze', img, '--page-map', out));
  // --report keeps its .svg/.html check; a directory named x.svg is still a directory.
  const svgDir = tmpPath('d.svg');
  fs.mkdirSync(svgDir);
  const rep = migWithin(20_000, 'analyze', img, '--report', svgDir);
  t.is(rep.status, 2);
  t.true(rep.stderr.startsWith(`mig: cannot write ${svgDir}: it is a directory`), rep.stderr);
  const missing = migWithin(20_000, 'analyze', img, '--report', '/nonexistent-dir/r.svg');
  t.is(missing.status, 2);
  t.true(missing.stderr.startsWith('mig: cannot write /nonexistent-dir/r.svg: directory /nonexistent-dir does not exist'), missing.stderr);
  const tree = tmpPath('tree');
  fs.mkdirSync(path.join(tree, 'usr/bin'), { recursive: true });
  refusesOutputs(t, (out) => migWithin(20_000, 'context', 'build', tree, '-o', out));
});

test('-o - (standard output) still works for encode and decode', (t) => {
  const img = rawImage();
  const enc = spawnSync(process.execPath, [MIG, 'encode', img, '-o', '-', '--no-introspect'], { maxBuffer: 1 << 26 });
  t.is(enc.status, 0, String(enc.stderr));
  const dec = spawnSync(process.execPath, [MIG, 'decode', '-', '-o', '-'], { input: enc.stdout, maxBuffer: 1 << 26 });
  t.is(dec.status, 0, String(dec.stderr));
  t.true(Buffer.from(dec.stdout).equals(fs.readFileSync(img)));
});

test('a context, to a file and to standard output, with one thread and two: the same image (CTX runs read from the mapped context)', (t) => {
  // A guest tree whose files the image holds: page-aligned copies (CTX runs) and an unaligned one (PATCH from the context).
  const tree = tmpPath('ctx-tree');
  fs.mkdirSync(path.join(tree, 'usr/lib'), { recursive: true });
  const lib = Buffer.concat(Array.from({ length: 300 }, (_, i) => page(7000 + i)));
  fs.writeFileSync(path.join(tree, 'usr/lib/libx.so'), Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), lib.subarray(4)]));
  const ctx = tmpPath('t.ctx');
  t.is(spawnSync(process.execPath, [MIG, 'context', 'build', tree, '-o', ctx]).status, 0);
  const image = Buffer.concat([page(1), fs.readFileSync(path.join(tree, 'usr/lib/libx.so')), page(2), Buffer.concat([Buffer.alloc(100, 9), lib.subarray(8192, 8192 + 3996)]), page(3)]);
  const img = tmpFile(image, 'ctx-raw.img');
  const out: Buffer[] = [];
  for (const threads of ['1', '2']) {
    const mig = tmpPath(`ctx-${threads}.mig`);
    const enc = spawnSync(process.execPath, [MIG, 'encode', img, '-o', mig, '--no-introspect', '--context', ctx, '--threads', threads, '--json'], { encoding: 'utf8' });
    t.is(enc.status, 0, enc.stderr);
    t.true(JSON.parse(enc.stdout).techniques.context.pages >= 290, enc.stdout);
    out.push(fs.readFileSync(mig));
    const file = tmpPath(`ctx-${threads}.img`);
    const dec = spawnSync(process.execPath, [MIG, 'decode', mig, '--context', ctx, '-o', file, '--threads', threads]);
    t.is(dec.status, 0, String(dec.stderr));
    t.true(fs.readFileSync(file).equals(image), `decoded to a file, ${threads} thread(s)`);
    const std = spawnSync(process.execPath, [MIG, 'decode', mig, '--context', ctx, '-o', '-', '--threads', threads], { maxBuffer: 1 << 26 });
    t.is(std.status, 0, String(std.stderr));
    t.true(Buffer.from(std.stdout).equals(image), `decoded to standard output, ${threads} thread(s)`);
  }
  t.true(out[0].equals(out[1]), 'the .mig does not depend on the thread count');
});
