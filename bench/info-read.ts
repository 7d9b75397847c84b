/**
 * Benchmark (not a test): reader throughput. For each image of a vm-images guest, time
 * `cat image > /dev/null` and `mig info --json image` in the same run, same file, warm page cache,
 * median of N runs, and print MB/s and the ratio (target: mig info ≥ 0.5 × cat).
 * Usage: node dist/bench/info-read.js <guest-cache-dir> [runs]
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = process.argv[2];
const runs = Number(process.argv[3] ?? 5);
if (!dir || !fs.existsSync(dir)) {
  console.error('usage: info-read.js <guest-cache-dir> [runs]  (e.g. /var/cache/mig/vm-images/mig-large)');
  process.exit(2);
}
const mig = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');

let lastStdout = '';
function timeIt(cmd: string, args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
  lastStdout = r.stdout;
  return Number(process.hrtime.bigint() - t0) / 1e9;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const rows: { image: string; bytes: number; catMBps: number; migMBps: number; ratio: number; inProcessMBps: number; inProcessRatio: number }[] = [];
for (const name of ['save1.img', 'dump.elf', 'save2.img']) {
  const file = path.join(dir, name);
  if (!fs.existsSync(file)) continue;
  const bytes = fs.statSync(file).size;
  timeIt('sh', ['-c', `cat "${file}" > /dev/null`]); // warm the page cache
  const cat: number[] = [];
  const info: number[] = [];
  const inProcess: number[] = [];
  for (let i = 0; i < runs; i++) {
    cat.push(timeIt('sh', ['-c', `cat "${file}" > /dev/null`]));
    info.push(timeIt(process.execPath, [mig, 'info', '--json', file]));
    inProcess.push((JSON.parse(lastStdout) as { elapsedMs: number }).elapsedMs / 1000);
  }
  const catMBps = bytes / 1e6 / median(cat);
  const migMBps = bytes / 1e6 / median(info);
  const inMBps = bytes / 1e6 / median(inProcess);
  rows.push({
    image: name, bytes, catMBps: Math.round(catMBps), migMBps: Math.round(migMBps), ratio: Number((migMBps / catMBps).toFixed(2)),
    inProcessMBps: Math.round(inMBps), inProcessRatio: Number((inMBps / catMBps).toFixed(2)),
  });
}

console.log(`\nReader throughput, ${path.basename(dir)}, median of ${runs} runs (warm page cache; mig info includes Node start-up)\n`);
console.log('| image | bytes | cat MB/s | mig info MB/s (process) | ratio | mig info MB/s (reading only) | ratio (target ≥ 0.5) |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.image} | ${r.bytes} | ${r.catMBps} | ${r.migMBps} | ${r.ratio} | ${r.inProcessMBps} | ${r.inProcessRatio} |`);
console.log('\n"process" includes Node start-up and module loading (~0.1 s); "reading only" is the time mig info reports for opening, parsing and counting.');
const outDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/results');
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, 'info-read.json'), JSON.stringify({ guest: path.basename(dir), runs, rows, date: new Date().toISOString() }, null, 2));
