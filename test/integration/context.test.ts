/**
 * Context from the real guest disk (vm-images/: common/rootfs.ext4, Debian bookworm with python3):
 * built without mounting, plausible in size, identical across builds, verified end to end, and
 * python3's binary in it byte-equal to what `debugfs dump` extracts on its own.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildContext, writeContext } from '../../src/context/build.js';
import { openContext } from '../../src/context/open.js';
import { verifyContext } from '../helpers/verify-context.js';
import { sha256File } from '../helpers/compare.js';
import { VM_CACHE } from '../helpers/corpus.js';
import { tmpPath } from '../helpers/tmp.js';

const ROOTFS = path.join(VM_CACHE, 'common', 'rootfs.ext4');
const MiB = 1 << 20;

function requireRootfs(): void {
  if (!fs.existsSync(ROOTFS)) throw new Error(`no guest disk at ${ROOTFS}; run \`make vm-small\` (VM_CACHE=${VM_CACHE})`);
}

test.serial('context of the real guest rootfs: hundreds of ELF files, tens of MB, the same digest twice, verified', async (t) => {
  t.timeout(10 * 60_000);
  requireRootfs();
  const outs = [tmpPath('rootfs-1.ctx'), tmpPath('rootfs-2.ctx')];
  const digests: string[] = [];
  for (const out of outs) {
    const t0 = performance.now();
    const r = await buildContext(ROOTFS);
    const w = writeContext(r, out);
    const s = (performance.now() - t0) / 1000;
    digests.push(r.digest.toString('hex'));
    t.log(`build + write: ${s.toFixed(2)} s; ${r.files.length} files (${r.blobs.length} distinct), ${(r.fileBytes / MiB).toFixed(1)} MiB in files, CTX ${(w.fileSize / MiB).toFixed(1)} MiB`);
  }
  t.is(digests[1], digests[0]);
  t.is(sha256File(outs[1]), sha256File(outs[0]), 'byte-identical CTX files');

  const c = openContext(outs[0]);
  try {
    const n = c.entries.length;
    t.true(n >= 300 && n <= 20000, `${n} files`);
    t.true(c.entries.every((e) => e.elf), 'only ELF files by default');
    t.false(c.entries.some((e) => e.path.endsWith('.py')), 'no python sources by default');
    t.true(c.header.fileBytes >= 20 * MiB && c.header.fileBytes <= 2048 * MiB, `${c.header.fileBytes} bytes`);
    t.truthy(c.find('usr/lib/x86_64-linux-gnu/libc.so.6'), 'libc');
    t.falsy(c.find('bin/ls'), 'merged /usr: bin is a symlink and is not followed');
    t.truthy(c.find('usr/bin/ls'));

    const py = c.entries.filter((e) => /^usr\/bin\/python3(\.\d+)?$/.test(e.path));
    t.true(py.length >= 1, 'usr/bin/python3* is present');
    const dumped = tmpPath('python3');
    execFileSync('debugfs', ['-R', `dump /${py[0].path} ${dumped}`, ROOTFS], { stdio: 'pipe' });
    t.true(c.read(py[0]).equals(fs.readFileSync(dumped)), `${py[0].path} matches debugfs dump`);

    const t0 = performance.now();
    t.is(verifyContext(c).digest, digests[0]);
    t.log(`verify: ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  } finally {
    c.close();
  }
});

test.serial('--include adds python sources from the real rootfs', async (t) => {
  t.timeout(10 * 60_000);
  requireRootfs();
  const t0 = performance.now();
  const r = await buildContext(ROOTFS, { include: ['usr/lib/python3*/**/*.py', 'etc/**'] });
  const py = r.files.filter((f) => f.path.endsWith('.py'));
  t.log(`with includes: ${((performance.now() - t0) / 1000).toFixed(2)} s; ${r.files.length} files, ${py.length} .py, ${(r.fileBytes / MiB).toFixed(1)} MiB`);
  t.true(py.length >= 100, `${py.length} python sources`);
  t.deepEqual(py.filter((f) => !/^(usr\/lib\/python3[^/]*|etc)\//.test(f.path)).map((f) => f.path), [], 'each .py matched one of the globs');
  t.truthy(r.files.find((f) => f.path === 'etc/passwd'));
  t.truthy(r.files.find((f) => f.path === 'usr/lib/x86_64-linux-gnu/libc.so.6' && f.elf));
});

test.serial('SIGTERM during `mig context build` of the disk image: the scratch tree and the temp output are removed, exit 143', async (t) => {
  requireRootfs();
  const { spawn, spawnSync } = await import('node:child_process');
  const os = await import('node:os');
  const { MIG } = await import('../helpers/cli.js');
  const { waitFor } = await import('../helpers/wait.js');
  const dir = tmpPath('ctx-sig');
  fs.mkdirSync(dir);
  const c = spawn(process.execPath, [MIG, 'context', 'build', ROOTFS, '-o', path.join(dir, 'c.ctx'), '--include', 'usr/**'], { stdio: 'ignore' });
  const done = new Promise<number | null>((resolve) => c.on('exit', (code) => resolve(code)));
  // The supervised child's scratch tree is named by its pid (other tests build contexts concurrently).
  let worker = '';
  const ours = () => (worker ? fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith(`mig-context-${worker}-`)) : []);
  // Mid-extraction: the scratch tree exists (debugfs is writing into it).
  t.true(await waitFor(() => {
    worker ||= spawnSync('pgrep', ['-P', String(c.pid)], { encoding: 'utf8' }).stdout.trim().split('\n')[0] ?? '';
    return ours().length > 0;
  }, 30_000), 'the scratch tree appears');
  c.kill('SIGTERM');
  t.is(await done, 143);
  t.deepEqual(ours(), [], 'scratch tree removed');
  t.deepEqual(fs.readdirSync(dir), [], 'no output, no temp file');
});
