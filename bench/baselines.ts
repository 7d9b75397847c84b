/**
 * Benchmark (not a test): general-purpose compressor baselines for the images of one vm-images
 * guest — the numbers mig has to beat. One compressor at a time, input warm in the page cache,
 * output counted from a pipe (never written to disk), CPU from /usr/bin/time (wait4 rusage),
 * every line round-tripped once (decompress | cmp) and its decompression timed (to /dev/null).
 * Usage: node dist/bench/baselines.js <guest-dir> [--only a,b] [--json FILE] [--md FILE]
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const IMAGES = ['save1.img', 'dump.elf', 'save2.img'];
const Z = ['zstd', '-q', '-T1'];
const ZD = ['zstd', '-qd', '--long=31'];
interface Line { id: string; label: string; c: string[]; d: string[]; ref?: 'rootfs' | 'save1' }
const LINES: Line[] = [
  { id: 'gzip-1', label: 'gzip -1', c: ['gzip', '-1'], d: ['gzip', '-d'] },
  { id: 'gzip-6', label: 'gzip -6', c: ['gzip', '-6'], d: ['gzip', '-d'] },
  { id: 'zstd-3', label: 'zstd -3', c: [...Z, '-3'], d: ['zstd', '-qd'] },
  { id: 'zstd-3-long', label: 'zstd -3 --long=31', c: [...Z, '-3', '--long=31'], d: ZD },
  { id: 'zstd-19-long', label: 'zstd -19 --long=31', c: [...Z, '-19', '--long=31'], d: ZD },
  { id: 'xz-6', label: 'xz -6 -T1', c: ['xz', '-6', '-T1'], d: ['xz', '-d'] },
  { id: 'patch-rootfs', label: 'zstd -3 --long=31 --patch-from=rootfs.tar', c: [...Z, '-3', '--long=31'], d: ZD, ref: 'rootfs' },
  { id: 'patch-save1', label: 'zstd -3 --long=31 --patch-from=save1.img', c: [...Z, '-3', '--long=31'], d: ZD, ref: 'save1' },
];

const USAGE = 'usage: node dist/bench/baselines.js <guest-dir> [--only a,b] [--json FILE] [--md FILE]\n'
  + `  lines: ${LINES.map((l) => l.id).join(', ')}`;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let work = '';
let current: ChildProcess | undefined;

/** Runs argv to completion; stdout goes to onData (a pipe) or /dev/null, stdin comes from `input`. Resolves to wall seconds. */
function run(argv: string[], input?: Buffer, onData?: (b: Buffer) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(argv[0], argv.slice(1), { stdio: [input ? 'pipe' : 'ignore', onData ? 'pipe' : 'ignore', 'pipe'], detached: true });
    current = child;
    let err = '';
    child.stderr!.on('data', (b: Buffer) => { err = (err + b.toString()).slice(-2000); });
    if (onData) child.stdout!.on('data', onData);
    if (input) { child.stdin!.on('error', () => {}); child.stdin!.end(input); }
    child.on('error', reject);
    child.on('close', (code, sig) => {
      current = undefined;
      if (code === 0) return resolve(Number(process.hrtime.bigint() - t0) / 1e9);
      const tail = err.trim().split('\n').slice(-3).join(' / ');
      const cmd = (argv[0] === '/usr/bin/time' ? argv.slice(5) : argv).join(' ');
      reject(new Error(`${cmd}: ${sig ?? `exit ${code}`}${tail ? `: ${tail}` : ''}`));
    });
  });
}

interface Usage { wallS: number; userS: number; sysS: number; cpuS: number; maxRssKiB: number }
/** Runs argv under /usr/bin/time; keeps its stdout in memory when `keep`. */
async function timed(argv: string[], input?: Buffer, keep = false): Promise<Usage & { data?: Buffer }> {
  const tf = path.join(work, 'time');
  const chunks: Buffer[] = [];
  const wallS = await run(['/usr/bin/time', '-f', '%U %S %M', '-o', tf, ...argv], input, keep ? (b) => chunks.push(b) : undefined);
  const [userS, sysS, maxRssKiB] = fs.readFileSync(tf, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  return { wallS: round(wallS, 3), userS, sysS, cpuS: round(userS + sysS, 2), maxRssKiB, data: keep ? Buffer.concat(chunks) : undefined };
}

const round = (x: number, d: number) => Number(x.toFixed(d));
const version = (cmd: string, arg: string) => {
  const r = spawnSync(cmd, [arg], { encoding: 'utf8' });
  return /(\d+\.\d+(\.\d+)?)/.exec(`${r.stdout ?? ''}${r.stderr ?? ''}`)?.[1] ?? 'unknown';
};
/** Reads a file to /dev/null so the lines that follow read it from the page cache; returns MB/s of that read. */
async function warm(file: string): Promise<number> {
  return round(fs.statSync(file).size / 1e6 / await run(['cat', file]), 0);
}

/** The guest's file-system content as one tar (debugfs rdump, no mount), cached in $TMPDIR by rootfs size+mtime. */
async function rootfsTar(rootfs: string) {
  const st = fs.statSync(rootfs);
  const tar = path.join(os.tmpdir(), `mig-bench-rootfs-${st.size}-${Math.round(st.mtimeMs)}.tar`);
  const cached = fs.existsSync(tar);
  const t0 = Date.now();
  if (!cached) {
    const tree = path.join(work, 'rootfs');
    fs.mkdirSync(tree);
    process.stderr.write(`building ${tar} from ${rootfs} (debugfs rdump + tar)\n`);
    await run(['debugfs', '-R', `rdump / ${tree}`, rootfs]);
    if (!fs.existsSync(path.join(tree, 'etc'))) throw new Error(`debugfs rdump of ${rootfs} produced no /etc`);
    const partial = path.join(work, 'rootfs.tar'); // same file system as the cache: rename is atomic
    await run(['tar', '--sort=name', '--numeric-owner', '-C', tree, '-cf', partial, '.']);
    fs.renameSync(partial, tar);
    fs.rmSync(tree, { recursive: true, force: true });
  }
  return { path: tar, bytes: fs.statSync(tar).size, ext4Path: rootfs, ext4Bytes: st.size, cached, buildS: cached ? 0 : (Date.now() - t0) / 1000 };
}

type Row = Awaited<ReturnType<typeof measure>>;
async function measure(line: Line, file: string, bytes: number, ref: string | undefined) {
  const patch = ref ? [`--patch-from=${ref}`] : [];
  const cArgv = [...line.c, ...patch, '-c', file];
  const dArgv = [...line.d, ...patch, '-c'];
  const c = await timed(cArgv, undefined, true);
  const data = c.data!;
  try {
    await run(['bash', '-c', 'set -o pipefail; "${@:2}" | cmp -s - "$1"', 'verify', file, ...dArgv], data);
  } catch (e) {
    throw new Error(`round trip failed for ${line.label} on ${file} (${(e as Error).message})`);
  }
  const d = await timed(dArgv, data);
  const { data: _, ...cu } = c;
  return {
    id: line.id, label: line.label, argv: cArgv, ref: ref ?? null, outBytes: data.length, ratio: round(bytes / data.length, 3),
    vsGzip6: null as number | null, ...cu, inMBps: round(bytes / 1e6 / c.wallS, 1), roundTrip: 'ok' as const,
    decomp: { argv: dArgv, wallS: round(d.wallS, 3), cpuS: d.cpuS, maxRssKiB: d.maxRssKiB, outMBps: round(bytes / 1e6 / d.wallS, 0) },
  };
}

function mdTable(img: { name: string; bytes: number; rows: Row[] }): string {
  const f = (x: number, d = 2) => x.toFixed(d);
  const head = `### ${img.name} — ${img.bytes.toLocaleString('en-US')} bytes (${(img.bytes / 2 ** 20).toFixed(0)} MiB); round trip (decompress | cmp) ok for all ${img.rows.length} lines\n\n`
    + '| line | output bytes | ratio | size vs gzip -6 | wall s | CPU s | input MB/s | RSS MiB | decomp s | decomp MB/s |\n'
    + '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n';
  return head + img.rows.map((r) => `| ${r.label} | ${r.outBytes.toLocaleString('en-US')} | ${f(r.ratio)}× | ${r.vsGzip6 === null ? '–' : `${f(r.vsGzip6 * 100, 1)} %`} `
    + `| ${f(r.wallS)} | ${f(r.cpuS)} | ${f(r.inMBps, 1)} | ${f(r.maxRssKiB / 1024, 0)} | ${f(r.decomp.wallS)} | ${r.decomp.outMBps} |`).join('\n') + '\n';
}

function writeAtomic(file: string, text: string): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(`${file}.tmp-${process.pid}`, text);
  fs.renameSync(`${file}.tmp-${process.pid}`, file);
}

async function main(): Promise<void> {
  const { values: o, positionals } = parseArgs({ allowPositionals: true, options: { only: { type: 'string' }, json: { type: 'string' }, md: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (o.help || positionals.length !== 1) throw new Error(USAGE);
  const dir = path.resolve(positionals[0]);
  const guest = path.basename(dir);
  const missing = [dir, ...IMAGES.map((n) => path.join(dir, n))].find((f) => !fs.existsSync(f));
  if (missing) throw new Error(`${missing} not found — build the guest images first: make vm-large (or make vm-small)`);
  const only = o.only?.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = only?.filter((id) => !LINES.some((l) => l.id === id));
  if (bad?.length) throw new Error(`unknown line(s) in --only: ${bad.join(', ')}\n${USAGE}`);
  const lines = LINES.filter((l) => !only || only.includes(l.id));
  const mf = path.join(dir, 'manifest.json');
  const manifest = (fs.existsSync(mf) ? JSON.parse(fs.readFileSync(mf, 'utf8')) : {}) as { common?: { rootfs?: string } };
  const ext4 = manifest.common?.rootfs ?? path.join(dir, '..', 'common', 'rootfs.ext4');
  if (lines.some((l) => l.ref === 'rootfs') && !fs.existsSync(ext4)) throw new Error(`${ext4} not found — build it with make vm-large`);

  const t0 = Date.now();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'mig-baselines-'));
  const machine = { nproc: os.availableParallelism(), ramBytes: os.totalmem(), cpuModel: os.cpus()[0]?.model ?? 'unknown', kernel: os.release(), node: process.version };
  const tools = { gzip: version('gzip', '--version'), zstd: version('zstd', '--version'), xz: version('xz', '--version'), tar: version('tar', '--version'), debugfs: version('debugfs', '-V') };
  const rootfs = lines.some((l) => l.ref === 'rootfs') ? await rootfsTar(ext4) : null;
  const images: { name: string; bytes: number; warmReadMBps: number; rows: Row[] }[] = [];
  for (const name of IMAGES) {
    const file = path.join(dir, name);
    const bytes = fs.statSync(file).size;
    const rows: Row[] = [];
    for (const line of lines) {
      if (line.ref === 'save1' && name !== 'save2.img') continue;
      const ref = line.ref === 'rootfs' ? rootfs!.path : line.ref === 'save1' ? path.join(dir, 'save1.img') : undefined;
      if (ref) await warm(ref);
      const warmReadMBps = await warm(file);
      if (!rows.length) images.push({ name, bytes, warmReadMBps, rows });
      const r = await measure(line, file, bytes, ref);
      rows.push(r);
      process.stderr.write(`[${guest}/${name}] ${line.label}: ${r.outBytes} B, ${r.ratio.toFixed(2)}×, ${r.wallS.toFixed(1)} s wall, ${r.cpuS.toFixed(1)} s CPU, decomp ${r.decomp.wallS.toFixed(1)} s\n`);
    }
    const g6 = rows.find((r) => r.id === 'gzip-6');
    for (const r of rows) r.vsGzip6 = g6 ? round(r.outBytes / g6.outBytes, 4) : null;
  }
  const totalS = round((Date.now() - t0) / 1000, 1);
  const gib = (b: number) => (b / 2 ** 30).toFixed(1);
  const env = `machine: nproc=${machine.nproc}, RAM ${gib(machine.ramBytes)} GiB, CPU ${machine.cpuModel}, Linux ${machine.kernel}, node ${machine.node}\n`
    + `tools: ${Object.entries(tools).map(([k, v]) => `${k} ${v}`).join(', ')}\n`
    + (rootfs ? `rootfs ref: ${rootfs.path} (${rootfs.bytes.toLocaleString('en-US')} bytes tar of ${rootfs.ext4Path}, ${rootfs.cached ? 'cached' : `built in ${rootfs.buildS.toFixed(1)} s`})\n` : '')
    + `total run: ${totalS} s\n`;
  const md = `## Compressor baselines — ${guest} (${new Date().toISOString()})\n\n${env}\n${images.map(mdTable).join('\n')}`;
  const result = { guest, dir, date: new Date().toISOString(), totalS, machine, tools, rootfs, lines: lines.map((l) => l.id), images };
  writeAtomic(o.json ?? path.join(root, 'bench', 'results', `baselines-${guest}.json`), JSON.stringify(result, null, 2) + '\n');
  if (o.md) writeAtomic(o.md, md);
  process.stdout.write(md);
}

function cleanup(): void {
  if (current?.pid) try { process.kill(-current.pid, 'SIGTERM'); } catch { /* already gone */ }
  if (work) fs.rmSync(work, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { cleanup(); process.exit(130); });
main().then(cleanup, (e: Error) => { cleanup(); console.error(`baselines: ${e.message}`); process.exitCode = 1; });
