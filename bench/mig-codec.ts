/**
 * Benchmark (not a test): mig encode/decode on a vm-images guest — bytes, encode and decode wall
 * and CPU time — for save1 (no baseline), dump.elf, and save2 against save1 (repeated migration).
 * Usage: node dist/bench/mig-codec.js <guest-dir>  (prints markdown; JSON to bench/results/)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeImage } from '../src/codec/encode.js';
import { decodeImage } from '../src/codec/decode.js';
import { writeAtomically } from '../src/util/sink.js';

const dir = process.argv[2];
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
const cases: [string, string, string | undefined][] = [
  ['save1.img', 'save1.img', undefined],
  ['dump.elf', 'dump.elf', undefined],
  ['save2.img (baseline save1.img)', 'save2.img', 'save1.img'],
];
try {
  for (const [name, file, base] of cases) {
    const src = path.join(dir, file);
    const baseline = base ? path.join(dir, base) : undefined;
    const mig = path.join(tmp, 'out.mig');
    const out = path.join(tmp, 'out.img');
    let c0 = cpu();
    let t0 = performance.now();
    const s = writeAtomically(mig, (sink) => encodeImage(src, sink, { baseline }));
    const encodeWall = (performance.now() - t0) / 1000;
    const encodeCpu = cpu() - c0;
    c0 = cpu();
    t0 = performance.now();
    decodeImage(mig, out, { baseline });
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
console.log(`\nmig codec v1, ${path.basename(dir)} (1 thread, zstd -3 per 4 MiB frame, no context yet)\n`);
console.log('| case | image bytes | mig bytes | ratio | encode s (wall/CPU) | decode s | decode MB/s |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.case} | ${r.imageBytes} | ${r.migBytes} | ${r.ratio} | ${r.encodeWall} / ${r.encodeCpu} | ${r.decodeWall} | ${r.decodeMBps} |`);
const outDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/results');
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, `mig-codec-${path.basename(dir)}.json`), JSON.stringify({ rows, date: new Date().toISOString() }, null, 2));
