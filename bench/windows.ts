/**
 * Benchmark (not a test): 32-bit Windows 7 SP1 guests, on images from the generator built from the
 * published layouts (test/helpers/windows7-image.ts; no Windows guest can run here). Per paging mode
 * (non-PAE, PAE), a 512 MiB guest written as QEMU's ELF dump:
 * - introspection: the page map's build time next to one batched read of the image's memory (median
 *   of 3, warm page cache), agreement with the generator's truth;
 * - bytes, side by side in one run: gzip -6, zstd -3 --long=31, zstd -3 --long=31 --patch-from=<the
 *   guest's files as one tar: its DLLs, executables, drivers, fonts, NLS and prefetch files> and
 *   --patch-from=<the PE files `mig context build` takes from the guest's NTFS disk by default>, and
 *   mig per technique added: generic (no page map, no context), + context of all the files, + page
 *   map (free pages dropped), + the NTFS disk's default context and the page map, + all the files'
 *   context and the page map; the last one's pages per type and technique.
 * Usage: node dist/bench/windows.js [--ram MiB]   (JSON to bench/results/windows.json)
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeImage, type EncodeSummary } from '../src/codec/encode.js';
import { buildContext, writeContext } from '../src/context/build.js';
import { PageTypeCode } from '../src/introspect/pagemap.js';
import { writeAtomically } from '../src/util/sink.js';
import { saveWindows7Image, windows7Image, WIN7_PAGE_CLASSES } from '../test/helpers/windows7-image.js';
import { ntfsImageFromDir } from '../test/helpers/ntfs-image.js';
import { compress, pageMapVsReadFile } from './timing.js';

const ramArg = process.argv.indexOf('--ram');
const ramMiB = ramArg > 0 ? Number(process.argv[ramArg + 1]) : 512;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mig-bench-windows-'));


interface Line { name: string; bytes: number; wallS: number }
interface Row {
  paging: string;
  imageBytes: number;
  pageMapS: number;
  readS: number;
  agreement: number;
  lines: Line[];
  techniques: EncodeSummary['techniques'];
  byType: EncodeSummary['byType'];
}
const rows: Row[] = [];
try {
  for (const pae of [false, true]) {
    const dir = path.join(tmp, pae ? 'pae' : 'nonpae');
    process.stderr.write(`[${pae ? 'PAE' : 'non-PAE'}] generating a ${ramMiB} MiB Windows 7 SP1 x86 image\n`);
    const w = saveWindows7Image(dir, windows7Image({ pae, ramMiB, seed: 1 }));
    const dump = w.elf;
    const timed = pageMapVsReadFile(dump);
    const built = timed.built;
    // Agreement with the generator's truth (its standby class as `standby`; an all-zero untyped page as other).
    const standby = WIN7_PAGE_CLASSES.indexOf('standby');
    let agree = 0;
    const truth = w.image.truth.types;
    for (let p = 0; p < truth.length; p++) {
      const want = w.image.truthWindows[p] === standby ? PageTypeCode.standby : truth[p];
      let got = built.map.types[p];
      if (got === PageTypeCode.zero && want === PageTypeCode.other) got = want;
      if (got === want) agree++;
    }
    const tar = path.join(tmp, 'files.tar');
    if (spawnSync('tar', ['--sort=name', '--numeric-owner', '-C', w.filesDir, '-cf', tar, '.']).status !== 0) throw new Error(`tar of ${w.filesDir} failed`);
    const ctx = path.join(tmp, 'files.ctx');
    writeContext(await buildContext(w.filesDir, { include: ['**'] }), ctx);
    // What a user gets with no flag: `mig context build` of the guest's NTFS disk (PE files under
    // Windows/System32 and Program Files), and zstd --patch-from= a tar of exactly those files.
    const ntfs = ntfsImageFromDir(w.filesDir, path.join(tmp, 'disk.ntfs'));
    const peCtx = path.join(tmp, 'pe.ctx');
    const pe = await buildContext(ntfs, {});
    writeContext(pe, peCtx);
    fs.rmSync(ntfs);
    const peTar = path.join(tmp, 'pe.tar');
    if (spawnSync('tar', ['--sort=name', '--numeric-owner', '-C', w.filesDir, '-cf', peTar, ...pe.files.map((f) => f.path)]).status !== 0) throw new Error('tar of the PE files failed');
    const lines: Line[] = [];
    lines.push({ name: 'gzip -6', ...(await compress(['gzip', '-6'], dump)) });
    lines.push({ name: 'zstd -3 --long=31', ...(await compress(['zstd', '-q', '-T1', '-3', '--long=31'], dump)) });
    lines.push({ name: 'zstd -3 --long=31 --patch-from=files.tar', ...(await compress(['zstd', '-q', '-T1', '-3', '--long=31', `--patch-from=${tar}`], dump)) });
    lines.push({ name: `zstd -3 --long=31 --patch-from=pe.tar (${pe.files.length} PE files)`, ...(await compress(['zstd', '-q', '-T1', '-3', '--long=31', `--patch-from=${peTar}`], dump)) });
    let last: EncodeSummary | undefined;
    for (const [name, o] of [
      ['mig, generic', {}],
      ['mig + context', { context: ctx }],
      ['mig + page map (free dropped)', { pageMap: built.map }],
      ['mig + context of the NTFS disk (defaults) + page map', { context: peCtx, pageMap: built.map }],
      ['mig + context + page map', { context: ctx, pageMap: built.map }],
    ] as const) {
      const out = path.join(tmp, 'out.mig');
      const t0 = performance.now();
      last = writeAtomically(out, (sink) => encodeImage(dump, sink, o));
      lines.push({ name, bytes: last.outputBytes, wallS: (performance.now() - t0) / 1000 });
      fs.rmSync(out);
    }
    rows.push({
      paging: built.paging.mode, imageBytes: fs.statSync(dump).size,
      pageMapS: Number(timed.pageMapS.toFixed(3)), readS: Number(timed.readS.toFixed(3)), agreement: Number((agree / truth.length).toFixed(4)),
      lines, techniques: last!.techniques, byType: last!.byType,
    });
    fs.rmSync(dir, { recursive: true, force: true });
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(`\nWindows 7 SP1 x86, ${ramMiB} MiB guests from the generator (ELF dump): page map vs one read of its memory (median of 3, warm), agreement with the truth\n`);
console.log('| paging | image bytes | page map s | read s | agreement |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.paging} | ${r.imageBytes} | ${r.pageMapS} | ${r.readS} | ${r.agreement} |`);
for (const r of rows) {
  const gz = r.lines[0].bytes;
  const patch = r.lines[2].bytes;
  console.log(`\nBytes, ${r.paging} (same run)\n`);
  console.log('| line | bytes | vs gzip -6 | vs patch-from | wall s |');
  console.log('|---|--:|--:|--:|--:|');
  for (const l of r.lines) console.log(`| ${l.name} | ${l.bytes} | ${(l.bytes / gz).toFixed(3)} | ${(l.bytes / patch).toFixed(3)} | ${l.wallS.toFixed(2)} |`);
  console.log(`\nmig + context + page map, ${r.paging}: per technique\n`);
  console.log('| technique | pages | MiB in | bytes out |');
  console.log('|---|--:|--:|--:|');
  for (const [k, t] of Object.entries(r.techniques)) console.log(`| ${k} | ${t.pages} | ${(t.bytesIn / 1048576).toFixed(1)} | ${t.bytesOut} |`);
  const names = ['zero', 'free', 'duplicate', 'baseline', 'context', 'history', 'literal'] as const;
  console.log(`\npages by type and technique\n`);
  console.log(`| type | ${names.join(' | ')} |`);
  console.log(`|---|${names.map(() => '--:').join('|')}|`);
  for (const [type, row] of Object.entries(r.byType ?? {})) console.log(`| ${type} | ${names.map((n) => row?.[n] ?? '').join(' | ')} |`);
}
const outDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/results');
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, 'windows.json'), JSON.stringify({ ramMiB, rows, date: new Date().toISOString() }, null, 2));
