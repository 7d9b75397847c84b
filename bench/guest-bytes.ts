/**
 * Benchmark (not a test): one guest's save image as a migration would send it, for guests that
 * `make bench` does not run the full compressor matrix on (the i386 guests). Per guest:
 * - introspection: the page map's build time next to one batched read of the image's memory
 *   (median of 3, warm page cache), paging mode, agreement with the guest's kpageflags;
 * - bytes of save1.img: gzip -6, zstd -3 --long=31, zstd -3 --long=31 --patch-from=<the guest's
 *   /usr as a tar>, and mig encode with the page map from introspection and a context of the
 *   guest's /usr and /etc (what `mig context build` makes of its disk), side by side in one run.
 * Usage: node dist/bench/guest-bytes.js <guest-dir>...   (JSON to bench/results/guest-bytes.json)
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeImage } from '../src/codec/encode.js';
import { buildContext, writeContext } from '../src/context/build.js';
import { writeAtomically } from '../src/util/sink.js';
import { compareWithKpageflags } from '../test/helpers/accuracy.js';
import { compress, pageMapVsReadFile } from './timing.js';

const dirs = process.argv.slice(2).filter((d) => fs.existsSync(path.join(d, 'manifest.json')));
if (!dirs.length) {
  console.error('usage: guest-bytes.js <guest-dir>...  (e.g. /var/cache/mig/vm-images/mig-i386)');
  process.exit(2);
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mig-bench-guest-'));


/** The guest's /usr as one tar (debugfs rdump, no mount). */
function usrTar(rootfs: string): string {
  const tree = path.join(tmp, 'tree');
  fs.rmSync(tree, { recursive: true, force: true });
  fs.mkdirSync(tree);
  const r = spawnSync('debugfs', ['-R', `rdump /usr ${tree}`, rootfs], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0 || !fs.existsSync(path.join(tree, 'usr'))) throw new Error(`debugfs rdump /usr of ${rootfs} failed: ${r.stderr}`);
  const tar = path.join(tmp, 'usr.tar');
  const t = spawnSync('tar', ['--sort=name', '--numeric-owner', '-C', tree, '-cf', tar, 'usr']);
  if (t.status !== 0) throw new Error(`tar of ${tree}/usr failed`);
  fs.rmSync(tree, { recursive: true, force: true });
  return tar;
}

interface Row {
  guest: string;
  kernel: string;
  paging: string;
  pageMapS: number;
  readS: number;
  agreement: number;
  imageBytes: number;
  gzip6: number;
  zstd3long: number;
  patchUsr: number;
  mig: number;
  migEncodeS: number;
  migVsGzip6: number;
  migVsPatch: number;
}
const rows: Row[] = [];
try {
  for (const dir of dirs) {
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { name: string; kernelRelease: string; common?: { rootfs?: string } };
    const save = path.join(dir, 'save1.img');
    const rootfs = manifest.common?.rootfs ?? path.join(dir, '..', 'common', 'rootfs.ext4');
    const timed = pageMapVsReadFile(save);
    const built = timed.built;
    const acc = compareWithKpageflags(built.map, fs.readFileSync(path.join(dir, 'kpageflags.bin')));
    const tar = usrTar(rootfs);
    const ctx = path.join(tmp, 'ctx');
    writeContext(await buildContext(rootfs, { include: ['usr/**', 'etc/**'] }), ctx);
    const gzip6 = await compress(['gzip', '-6'], save);
    const zstd3long = await compress(['zstd', '-q', '-T1', '-3', '--long=31'], save);
    const patch = await compress(['zstd', '-q', '-T1', '-3', '--long=31', `--patch-from=${tar}`], save);
    const out = path.join(tmp, 'out.mig');
    const t0 = performance.now();
    const s = writeAtomically(out, (sink) => encodeImage(save, sink, { context: ctx, pageMap: built.map }));
    const migEncodeS = (performance.now() - t0) / 1000;
    fs.rmSync(out);
    rows.push({
      guest: manifest.name, kernel: manifest.kernelRelease, paging: built.paging.mode,
      pageMapS: Number(timed.pageMapS.toFixed(3)), readS: Number(timed.readS.toFixed(3)), agreement: Number(acc.overall.toFixed(4)),
      imageBytes: s.imageBytes, gzip6: gzip6.bytes, zstd3long: zstd3long.bytes, patchUsr: patch.bytes, mig: s.outputBytes, migEncodeS: Number(migEncodeS.toFixed(2)),
      migVsGzip6: Number((s.outputBytes / gzip6.bytes).toFixed(3)), migVsPatch: Number((s.outputBytes / patch.bytes).toFixed(3)),
    });
    process.stderr.write(`[${manifest.name}] done\n`);
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.log('\nIntrospection on each guest\'s save1.img: page map vs one read of its memory (median of 3, warm), agreement with kpageflags\n');
console.log('| guest | kernel | paging | page map s | read s | agreement |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.guest} | ${r.kernel} | ${r.paging} | ${r.pageMapS} | ${r.readS} | ${r.agreement} |`);
console.log('\nBytes of save1.img, same run (mig: introspection page map + context of the guest\'s /usr and /etc)\n');
console.log('| guest | image | gzip -6 | zstd -3 --long=31 | zstd -3 --long=31 --patch-from=usr.tar | mig | mig encode s | mig / gzip -6 | mig / patch-from |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.guest} | ${r.imageBytes} | ${r.gzip6} | ${r.zstd3long} | ${r.patchUsr} | ${r.mig} | ${r.migEncodeS} | ${r.migVsGzip6} | ${r.migVsPatch} |`);
const outDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/results');
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, 'guest-bytes.json'), JSON.stringify({ rows, date: new Date().toISOString() }, null, 2));
