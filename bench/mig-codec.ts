/**
 * Benchmark (not a test): mig encode/decode on a vm-images guest — bytes, encode and decode wall
 * and CPU time — for save1 (no baseline), dump.elf, and save2 against save1 (repeated migration).
 * Usage: node dist/bench/mig-codec.js <guest-dir> [threads]  (prints markdown; JSON to bench/results/)
 * When bench/results/baselines-<guest>.json exists (bench/baselines.ts, run first by `make bench`),
 * also prints mig next to gzip/zstd/xz/--patch-from on the same images, the migration-time model
 * and the issue's targets.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeImage } from '../src/codec/encode.js';
import { decodeImage } from '../src/codec/decode.js';
import { writeAtomically } from '../src/util/sink.js';
import type { EncodeOptions } from '../src/codec/encode.js';
import { buildContext, writeContext } from '../src/context/build.js';
import { openImage } from '../src/image/probe.js';
import { PAGE_TYPES } from '../src/introspect/pagemap.js';
import { introspect } from '../src/introspect/index.js';

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

interface Row { case: string; file: string; threads: number; imageBytes: number; migBytes: number; ratio: number; frames: number; encodeWall: number; encodeCpu: number; decodeWall: number; decodeMBps: number; techniques: unknown }
const rows: Row[] = [];
let residue: ReturnType<typeof residueByType> = [];
const TECH = ['zero', 'free', 'duplicate', 'baseline', 'context', 'history', 'literal', 'structure'];
const COLORS: Record<string, string> = { zero: '#bbb', free: '#8c8', duplicate: '#69c', baseline: '#c9c', context: '#fc6', history: '#6cc', literal: '#e66', structure: '#666' };
// The context: the guest's disk, executables + all of /usr and /etc (what the workload reads).
const rootfs = path.join(dir, '..', 'common', 'rootfs.ext4');
const ctxPath = path.join(tmp, 'rootfs.ctx');
const ct0 = performance.now();
writeContext(await buildContext(rootfs, { include: ['usr/**', 'etc/**'] }), ctxPath);
const contextSeconds = (performance.now() - ct0) / 1000;
// The page map mig encode builds itself: guest introspection of save1.img (it agrees with the guest's
// own /proc/kpageflags on this guest, docs/introspection.md; used for save1 and dump, not for save2).
const pageMap = (() => {
  const img = openImage(path.join(dir, 'save1.img'));
  try {
    return introspect(img, { zero: false }).map;
  } finally {
    img.close();
  }
})();
// Side by side in this run (the codec issue's yardsticks): zstd --patch-from=<the same files as the
// context, as a tar> on save1.img, one thread and all cores, and `cat save1.img > file && sync` on the
// same disk as the decoder's output.
const tree = path.join(tmp, 'tree');
fs.mkdirSync(tree);
for (const d of ['/usr', '/etc']) {
  const r = spawnSync('debugfs', ['-R', `rdump ${d} ${tree}`, rootfs], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`debugfs rdump ${d} of ${rootfs} failed: ${r.stderr}`);
}
const ctxTar = path.join(tmp, 'context.tar');
if (spawnSync('tar', ['--sort=name', '--numeric-owner', '-C', tree, '-cf', ctxTar, 'usr', 'etc']).status !== 0) throw new Error('tar of the context files failed');
fs.rmSync(tree, { recursive: true, force: true });
/** Wall seconds of a command (best of 2) and the bytes it wrote to stdout. */
function timed(argv: string[]): { wallS: number; bytes: number } {
  let best = Infinity;
  let bytes = 0;
  for (let i = 0; i < 2; i++) {
    const t = performance.now();
    const r = spawnSync(argv[0], argv.slice(1), { maxBuffer: 4 << 30 });
    if (r.status !== 0) throw new Error(`${argv.join(' ')}: exit ${r.status}: ${r.stderr}`);
    best = Math.min(best, (performance.now() - t) / 1000);
    bytes = r.stdout.length;
  }
  return { wallS: best, bytes };
}
const save1 = path.join(dir, 'save1.img');
const catOut = path.join(tmp, 'cat.img');
const yard = {
  patch1: timed(['zstd', '-q', '-T1', '-3', '--long=31', `--patch-from=${ctxTar}`, '-c', save1]),
  patchAll: timed(['zstd', '-q', '-T0', '-3', '--long=31', `--patch-from=${ctxTar}`, '-c', save1]),
  catSync: timed(['sh', '-c', `cat '${save1}' > '${catOut}' && sync '${catOut}' && rm '${catOut}'`]),
};
// The targets are measured as a user runs mig: the CLI (process start, introspection, the context's
// index cache from the first run), best of 2, next to the zstd and cat processes above.
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
function cliTimed(args: string[], before?: () => void): { wallS: number; stdout: string } {
  let best = Infinity;
  let stdout = '';
  for (let i = 0; i < 2; i++) {
    before?.();
    const t = performance.now();
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`mig ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
    best = Math.min(best, (performance.now() - t) / 1000);
    stdout = r.stdout;
  }
  return { wallS: best, stdout };
}
const cliMig = path.join(tmp, 'cli.mig');
const cliOut = path.join(tmp, 'cli.img');
const cliEncode1 = cliTimed(['encode', save1, '--context', ctxPath, '--threads', '1', '-o', cliMig, '--json']);
const cliEncodeAll = cliTimed(['encode', save1, '--context', ctxPath, '-o', cliMig, '--json']);
const cliDecode = cliTimed(['decode', cliMig, '--context', ctxPath, '-o', cliOut], () => fs.rmSync(cliOut, { force: true }));
fs.rmSync(cliOut, { force: true });
const cli = { encode1: cliEncode1.wallS, encodeAll: cliEncodeAll.wallS, decode: cliDecode.wallS, bytes: (JSON.parse(cliEncodeAll.stdout) as { outputBytes: number }).outputBytes };
process.stderr.write(`[${path.basename(dir)}] mig CLI: encode ${cli.encode1.toFixed(2)} s (1 thread), ${cli.encodeAll.toFixed(2)} s (${threads}), decode ${cli.decode.toFixed(2)} s, ${cli.bytes} B\n`);

// Where the literal residue comes from: its bytes per page type (the default case: context, free pages dropped).
const RESIDUE_CASE = 'save1.img + context + free pages dropped, 1 thread';
const residueDir = path.join(tmp, 'residue');
fs.mkdirSync(residueDir);
const residueFds = new Map<number, number>();
// Buffered per type (a write per literal run would slow the case it observes).
const residueBufs = new Map<number, { buf: Buffer; used: number }>();
const flushResidue = (type: number) => {
  const r = residueBufs.get(type)!;
  let fd = residueFds.get(type);
  if (fd === undefined) residueFds.set(type, (fd = fs.openSync(path.join(residueDir, PAGE_TYPES[type]), 'w')));
  fs.writeSync(fd, r.buf, 0, r.used);
  r.used = 0;
};
const onLiteral = (type: number, b: Uint8Array) => {
  let r = residueBufs.get(type);
  if (!r) residueBufs.set(type, (r = { buf: Buffer.allocUnsafe(4 << 20), used: 0 }));
  if (r.used + b.length > r.buf.length) flushResidue(type);
  r.buf.set(b, r.used);
  r.used += b.length;
};

const cases: [string, string, EncodeOptions][] = [
  ['save1.img, whole pages only (--no-subpage)', 'save1.img', { subpage: false }],
  ['save1.img', 'save1.img', {}],
  ['save1.img + context', 'save1.img', { context: ctxPath }],
  ['save1.img + context, 1 thread', 'save1.img', { context: ctxPath, threads: 1 }],
  ['save1.img + context + free pages dropped', 'save1.img', { context: ctxPath, pageMap }],
  ['save1.img + context + free pages dropped, 1 thread', 'save1.img', { context: ctxPath, pageMap, threads: 1 }],
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
    const s = writeAtomically(mig, (sink) => encodeImage(src, sink, { threads, ...opts, onLiteral: name === RESIDUE_CASE ? onLiteral : undefined }));
    const encodeWall = (performance.now() - t0) / 1000;
    const encodeCpu = cpu() - c0;
    c0 = cpu();
    t0 = performance.now();
    decodeImage(mig, out, { baseline: opts.baseline, context: opts.context, threads });
    const decodeWall = (performance.now() - t0) / 1000;
    rows.push({
      case: name, file, threads: opts.threads ?? threads, imageBytes: s.imageBytes, migBytes: s.outputBytes, ratio: Number(s.ratio.toFixed(4)), frames: s.frames,
      encodeWall: Number(encodeWall.toFixed(2)), encodeCpu: Number(encodeCpu.toFixed(2)), decodeWall: Number(decodeWall.toFixed(2)),
      decodeMBps: Math.round(s.imageBytes / 1e6 / decodeWall), techniques: s.techniques,
    });
    fs.rmSync(out);
    fs.rmSync(mig);
    process.stderr.write(`[${path.basename(dir)}] ${name}: ${s.outputBytes} B, encode ${encodeWall.toFixed(1)} s, decode ${decodeWall.toFixed(1)} s\n`);
  }
  for (const type of residueBufs.keys()) flushResidue(type);
  for (const fd of residueFds.values()) fs.closeSync(fd);
  residue = residueByType();
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
/**
 * The literal residue of RESIDUE_CASE per page type, coded by mig's coder (zstd -3 in 4 MiB frames,
 * here as one stream per type) and by the strongest general-purpose settings: whether a better coder
 * would close the bytes gap, or whether the content itself is what is left.
 */
function residueByType(): { type: string; bytes: number; zstd3: number; zstd19long: number; xz9: number }[] {
  const out: { type: string; bytes: number; zstd3: number; zstd19long: number; xz9: number }[] = [];
  const coded = (argv: string[], f: string) => {
    const r = spawnSync(argv[0], [...argv.slice(1), f], { maxBuffer: 1 << 30 });
    if (r.status !== 0) throw new Error(`${argv.join(' ')} ${f}: exit ${r.status}`);
    return r.stdout.length;
  };
  for (const type of [...residueFds.keys()].sort((a, b) => a - b)) {
    const f = path.join(residueDir, PAGE_TYPES[type]);
    const bytes = fs.statSync(f).size;
    out.push({ type: PAGE_TYPES[type], bytes, zstd3: coded(['zstd', '-q', '-T1', '-3', '-c'], f), zstd19long: coded(['zstd', '-q', '-T1', '-19', '--long=27', '-c'], f), xz9: coded(['xz', '-T1', '-9', '-c'], f) });
    process.stderr.write(`[${path.basename(dir)}] residue ${PAGE_TYPES[type]}: ${bytes} B\n`);
  }
  return out;
}

console.log(`\nmig codec v1, ${path.basename(dir)} (${threads} thread(s), zstd -3 per 4 MiB frame; context built in ${contextSeconds.toFixed(1)} s, not counted)\n`);
console.log('| case | image bytes | mig bytes | ratio | encode s (wall/CPU) | decode s | decode MB/s |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.case} | ${r.imageBytes} | ${r.migBytes} | ${r.ratio} | ${r.encodeWall} / ${r.encodeCpu} | ${r.decodeWall} | ${r.decodeMBps} |`);
const outDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/results');
fs.mkdirSync(outDir, { recursive: true });
const comparison = compare();
fs.writeFileSync(path.join(outDir, `mig-codec-${path.basename(dir)}.json`), JSON.stringify({ threads, contextSeconds, pageMap: 'introspection of save1.img', yardsticks: yard, cli, rows, residue, comparison, date: new Date().toISOString() }, null, 2));
console.log(`\nliteral residue by page type (${RESIDUE_CASE}; each type's residue as one stream):\n`);
console.log('| page type | residue bytes | zstd -3 | zstd -19 --long=27 | xz -9 | xz -9 / zstd -3 |');
console.log('|---|--:|--:|--:|--:|--:|');
const sum = (k: 'bytes' | 'zstd3' | 'zstd19long' | 'xz9') => residue.reduce((n, r) => n + r[k], 0);
for (const r of [...residue, { type: 'all', bytes: sum('bytes'), zstd3: sum('zstd3'), zstd19long: sum('zstd19long'), xz9: sum('xz9') }]) {
  console.log(`| ${r.type} | ${r.bytes.toLocaleString('en-US')} | ${r.zstd3.toLocaleString('en-US')} | ${r.zstd19long.toLocaleString('en-US')} | ${r.xz9.toLocaleString('en-US')} | ${(r.xz9 / r.zstd3).toFixed(3)} |`);
}
console.log('\nbytes out per technique (MiB in → bytes out):\n');
console.log('| case | ' + TECH.join(' | ') + ' |');
console.log('|---|' + TECH.map(() => '---').join('|') + '|');
for (const r of rows) {
  const t = r.techniques as Record<string, { pages: number; bytesIn: number; bytesOut: number }>;
  console.log(`| ${r.case} | ` + TECH.map((k) => `${(t[k].bytesIn / 1048576).toFixed(0)} → ${(t[k].bytesOut / 1048576).toFixed(1)} MiB`).join(' | ') + ' |');
}
fs.writeFileSync(path.join(outDir, `mig-codec-${path.basename(dir)}.svg`), techniqueChart(rows));
console.log(`\nchart: bench/results/mig-codec-${path.basename(dir)}.svg`);

/**
 * mig next to the compressor lines of bench/baselines.ts on the same images, the migration-time
 * model and the targets. Migration time at B Mbps = max(encode, transfer, decode) + decode of the
 * last frame: save, encode, transfer and decode overlap (a pipeline), so the slowest stage sets
 * the pace and only the last frame's decoding is left after the last byte arrives. Compressor
 * lines: the same with their compress/decompress walls and one 4 MiB chunk as the tail.
 */
function compare() {
  const bf = path.join(outDir, `baselines-${path.basename(dir)}.json`);
  if (!fs.existsSync(bf)) {
    console.log(`\n(no ${bf}: run bench/baselines.js first for the comparison with gzip/zstd/xz)`);
    const targets = codecTargets();
    printTargets(targets);
    return { targets };
  }
  interface BRow { id: string; label: string; outBytes: number; wallS: number; cpuS: number; decomp: { wallS: number } }
  const b = JSON.parse(fs.readFileSync(bf, 'utf8')) as { date: string; images: { name: string; bytes: number; rows: BRow[] }[] };
  const bw = [10, 100, 1000];
  const model = (bytes: number, enc: number, dec: number, tail: number) => bw.map((m) => Number((Math.max(enc, (bytes * 8) / (m * 1e6), dec) + tail).toFixed(1)));
  const out: Record<string, unknown>[] = [];
  for (const img of b.images) {
    const g6 = img.rows.find((r) => r.id === 'gzip-6')?.outBytes;
    const pf = img.rows.find((r) => r.id === (img.name === 'save2.img' ? 'patch-save1' : 'patch-rootfs'));
    const lines = [
      ...img.rows.map((r) => ({ line: r.label, bytes: r.outBytes, encodeWall: r.wallS, encodeCpu: r.cpuS, decodeWall: r.decomp.wallS, tail: r.decomp.wallS * (4 << 20) / img.bytes })),
      ...rows.filter((r) => r.file === img.name).map((r) => ({ line: `mig: ${r.case}${r.threads > 1 && !r.case.includes('thread') ? `, ${r.threads} threads` : ''}`, bytes: r.migBytes, encodeWall: r.encodeWall, encodeCpu: r.encodeCpu, decodeWall: r.decodeWall, tail: r.decodeWall / r.frames })),
    ];
    console.log(`\n### ${img.name} — ${img.bytes.toLocaleString('en-US')} bytes; compressors from ${b.date}, mig from this run\n`);
    console.log(`| line | bytes | vs gzip -6 | vs ${pf?.label.replace(/^zstd -3 --long=31 /, '') ?? 'patch-from'} | encode wall s | encode CPU s | decode wall s | migration s at ${bw.join(' / ')} Mbps |`);
    console.log('|---|--:|--:|--:|--:|--:|--:|--:|');
    for (const l of lines) {
      const t = model(l.bytes, l.encodeWall, l.decodeWall, l.tail);
      const row = { image: img.name, ...l, vsGzip6: g6 ? Number((l.bytes / g6).toFixed(3)) : null, vsPatchFrom: pf ? Number((l.bytes / pf.outBytes).toFixed(3)) : null, migrationS: Object.fromEntries(bw.map((m, i) => [`${m}Mbps`, t[i]])) };
      out.push(row);
      console.log(`| ${l.line} | ${l.bytes.toLocaleString('en-US')} | ${row.vsGzip6 ?? '–'} | ${row.vsPatchFrom ?? '–'} | ${l.encodeWall.toFixed(1)} | ${l.encodeCpu.toFixed(1)} | ${l.decodeWall.toFixed(1)} | ${t.join(' / ')} |`);
    }
  }
  // The targets of the codec issue (yardsticks measured in this run).
  const targets = codecTargets();
  printTargets(targets);
  return { baselines: bf, lines: out, targets };
}


/**
 * The codec issue's targets, against the yardsticks measured in this run: encode wall on 1 thread
 * ≤ 0.8 × zstd -3 -T1 --long=31 --patch-from=<context tar>, on all cores ≤ 0.5 × it; decode to a
 * file, fsync included, ≥ 600 MB/s or ≤ 1.5 × `cat image > file && sync`; bytes ≤ 0.60 × that
 * zstd --patch-from's.
 */
function codecTargets(): { target: string; value: number; limit: number; pass: boolean }[] {
  const best = rows.find((r) => r.case === 'save1.img + context + free pages dropped');
  const one = rows.find((r) => r.case === 'save1.img + context + free pages dropped, 1 thread');
  const t: { target: string; value: number; limit: number; pass?: boolean }[] = [];
  if (one && best && one.migBytes !== cli.bytes) throw new Error(`mig encode (CLI) sent ${cli.bytes} B, encodeImage ${one.migBytes} B: not the same encoding`);
  t.push({ target: `mig encode (CLI), 1 thread: wall ${cli.encode1.toFixed(2)} s ≤ 0.8 × zstd -T1 --patch-from=context.tar (${yard.patch1.wallS.toFixed(2)} s)`, value: cli.encode1 / yard.patch1.wallS, limit: 0.8 });
  t.push({ target: `mig encode (CLI), ${threads} threads: wall ${cli.encodeAll.toFixed(2)} s ≤ 0.5 × zstd -T1 --patch-from=context.tar`, value: cli.encodeAll / yard.patch1.wallS, limit: 0.5 });
  const mbps = Math.round(fs.statSync(save1).size / 1e6 / cli.decode);
  const vsCat = cli.decode / yard.catSync.wallS;
  t.push({ target: `mig decode (CLI) to a file: ${cli.decode.toFixed(2)} s = ${mbps} MB/s ≥ 600 MB/s, or ≤ 1.5 × cat+sync (${yard.catSync.wallS.toFixed(2)} s): ratio to cat+sync`, value: vsCat, limit: 1.5, pass: mbps >= 600 || vsCat <= 1.5 });
  t.push({ target: `bytes ≤ 0.60 × zstd --patch-from=context.tar (${yard.patch1.bytes} B)`, value: cli.bytes / yard.patch1.bytes, limit: 0.6 });
  return t.map((x) => ({ ...x, pass: x.pass ?? x.value <= x.limit }));
}

function printTargets(targets: ReturnType<typeof codecTargets>): void {
  console.log(`\n### Targets (codec issue; yardsticks from this run: zstd -T1 ${yard.patch1.wallS.toFixed(2)} s, -T0 ${yard.patchAll.wallS.toFixed(2)} s, cat+sync ${yard.catSync.wallS.toFixed(2)} s)\n\n| target | measured | |\n|---|--:|---|`);
  for (const t of targets) console.log(`| ${t.target} | ${t.value.toFixed(3)} | ${t.pass ? 'PASS' : 'FAIL'} |`);
}

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
