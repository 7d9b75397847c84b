/**
 * Benchmark (not a test): mig encode/decode on a vm-images guest — bytes, encode and decode wall
 * and CPU time — for save1 (no baseline), dump.elf, and save2 against save1 (repeated migration).
 * Usage: node dist/bench/mig-codec.js <guest-dir> [threads]  (prints markdown; JSON to bench/results/)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeImage } from '../src/codec/encode.js';
import { decodeImage } from '../src/codec/decode.js';
import { writeAtomically } from '../src/util/sink.js';
import type { EncodeOptions } from '../src/codec/encode.js';
import { buildContext, writeContext } from '../src/context/build.js';
import { pageMapFromKpageflags } from '../src/introspect/linux/kpageflags.js';

const dir = process.argv[2];
const threads = Number(process.argv[3] ?? os.availableParallelism());
if (!dir || !fs.existsSync(path.join(dir, 'manifest.json'))) {
  console.error('usage: mig-codec.js <guest-dir>  (build it with `make vm-large`)');
  process.exit(2);
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mig-bench-'));
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

interface Row { case: string; imageBytes: number; migBytes: number; ratio: number; encodeWall: number; encodeCpu: number; decodeWall: number; decodeMBps: number; techniques: unknown }
const rows: Row[] = [];
const TECH = ['zero', 'free', 'duplicate', 'baseline', 'context', 'literal', 'structure'];
const COLORS: Record<string, string> = { zero: '#bbb', free: '#8c8', duplicate: '#69c', baseline: '#c9c', context: '#fc6', literal: '#e66', structure: '#666' };
// The context: the guest's disk, executables + all of /usr and /etc (what the workload reads).
const rootfs = path.join(dir, '..', 'common', 'rootfs.ext4');
const ctxPath = path.join(tmp, 'rootfs.ctx');
const ct0 = performance.now();
writeContext(await buildContext(rootfs, { include: ['usr/**', 'etc/**'] }), ctxPath);
const contextSeconds = (performance.now() - ct0) / 1000;
// A page map from the guest's own /proc/kpageflags, taken right before save1/dump (not valid for save2).
const pageMap = pageMapFromKpageflags(fs.readFileSync(path.join(dir, 'kpageflags.bin')));
const cases: [string, string, EncodeOptions][] = [
  ['save1.img', 'save1.img', {}],
  ['save1.img + context', 'save1.img', { context: ctxPath }],
  ['save1.img + context + free pages dropped', 'save1.img', { context: ctxPath, pageMap }],
  ['dump.elf + context + free pages dropped', 'dump.elf', { context: ctxPath, pageMap }],
  ['save2.img + baseline save1.img', 'save2.img', { baseline: path.join(dir, 'save1.img') }],
  ['save2.img + baseline + context', 'save2.img', { baseline: path.join(dir, 'save1.img'), context: ctxPath }],
];
try {
  for (const [name, file, opts] of cases) {
    const src = path.join(dir, file);
    const mig = path.join(tmp, 'out.mig');
    const out = path.join(tmp, 'out.img');
    let c0 = cpu();
    let t0 = performance.now();
    const s = writeAtomically(mig, (sink) => encodeImage(src, sink, { ...opts, threads }));
    const encodeWall = (performance.now() - t0) / 1000;
    const encodeCpu = cpu() - c0;
    c0 = cpu();
    t0 = performance.now();
    decodeImage(mig, out, { baseline: opts.baseline, context: opts.context });
    const decodeWall = (performance.now() - t0) / 1000;
    rows.push({
      case: name, imageBytes: s.imageBytes, migBytes: s.outputBytes, ratio: Number(s.ratio.toFixed(4)),
      encodeWall: Number(encodeWall.toFixed(2)), encodeCpu: Number(encodeCpu.toFixed(2)), decodeWall: Number(decodeWall.toFixed(2)),
      decodeMBps: Math.round(s.imageBytes / 1e6 / decodeWall), techniques: s.techniques,
    });
    fs.rmSync(out);
    fs.rmSync(mig);
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(`\nmig codec v1, ${path.basename(dir)} (${threads} thread(s), zstd -3 per 4 MiB frame; context built in ${contextSeconds.toFixed(1)} s, not counted)\n`);
console.log('| case | image bytes | mig bytes | ratio | encode s (wall/CPU) | decode s | decode MB/s |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.case} | ${r.imageBytes} | ${r.migBytes} | ${r.ratio} | ${r.encodeWall} / ${r.encodeCpu} | ${r.decodeWall} | ${r.decodeMBps} |`);
const outDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/results');
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, `mig-codec-${path.basename(dir)}.json`), JSON.stringify({ threads, contextSeconds, rows, date: new Date().toISOString() }, null, 2));
console.log('\nbytes out per technique (MiB in → bytes out):\n');
console.log('| case | ' + TECH.join(' | ') + ' |');
console.log('|---|' + TECH.map(() => '---').join('|') + '|');
for (const r of rows) {
  const t = r.techniques as Record<string, { pages: number; bytesIn: number; bytesOut: number }>;
  console.log(`| ${r.case} | ` + TECH.map((k) => `${(t[k].bytesIn / 1048576).toFixed(0)} → ${(t[k].bytesOut / 1048576).toFixed(1)} MiB`).join(' | ') + ' |');
}
fs.writeFileSync(path.join(outDir, `mig-codec-${path.basename(dir)}.svg`), techniqueChart(rows));
console.log(`\nchart: bench/results/mig-codec-${path.basename(dir)}.svg`);


/** Stacked bars per case: how the image's bytes are sent (input MiB per technique), with bytes out. */
function techniqueChart(rs: Row[]): string {
  const W = 900;
  const barH = 26;
  const left = 330;
  const top = 40;
  const max = Math.max(...rs.map((r) => r.imageBytes));
  const scale = (W - left - 40) / max;
  const parts: string[] = [];
  rs.forEach((r, i) => {
    const y = top + i * (barH + 18);
    const t = r.techniques as Record<string, { bytesIn: number }>;
    let x = left;
    parts.push(`<text x="${left - 8}" y="${y + 17}" text-anchor="end" font-size="12">${r.case}</text>`);
    for (const k of TECH) {
      const w = t[k].bytesIn * scale;
      if (w > 0.5) parts.push(`<rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[k]}"><title>${k}: ${(t[k].bytesIn / 1048576).toFixed(1)} MiB</title></rect>`);
      x += w;
    }
    parts.push(`<text x="${left + 4}" y="${y + barH + 12}" font-size="10">→ ${(r.migBytes / 1048576).toFixed(1)} MiB sent (${(r.ratio * 100).toFixed(1)} % of ${(r.imageBytes / 1048576).toFixed(0)} MiB)</text>`);
  });
  const legendY = top + rs.length * (barH + 18) + 10;
  TECH.forEach((k, i) => {
    parts.push(`<rect x="${left + i * 80}" y="${legendY}" width="12" height="12" fill="${COLORS[k]}"/><text x="${left + i * 80 + 16}" y="${legendY + 11}" font-size="11">${k}</text>`);
  });
  const H = legendY + 30;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/><text x="10" y="22" font-size="15">mig: image bytes by how they are sent</text>${parts.join('')}</svg>\n`;
}
