/**
 * The fuzz engine (parent thread): builds a target's resources and seeds, derives case N's input
 * from (run seed, target, N) with the target's mutator, runs it in a worker thread with a time and a
 * memory budget, and keeps every distinct failure as a reproducer:
 *
 *   test/fuzz/corpus/<target>/<hash>.bin + .json   failures in code this project fixes here (replayed by make test)
 *   test/fuzz/pending/<target>/<hash>.bin + .json  failures in src/image/** and src/introspect/** (not pagemap.ts):
 *                                                  kept for their owners, not replayed
 *
 * A failure is: an exception that is not a MigError, a broken invariant (FuzzOracleError), a case
 * that does not finish within the time budget (hang: the worker is terminated), a worker that dies
 * (crash, including V8 running out of heap), memory growth past the target's budget (the isolate's
 * heap + external memory across the case, and the process RSS sampled every 5 ms while it runs), a
 * file descriptor left open, or a temp file left behind.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { Rng } from './rng.js';
import type { FuzzCase, Params, Seed, Target } from './target.js';
import type { CaseResult, Outcome, WorkerInit } from './worker.js';

export const REPO_ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');
export const CORPUS_DIR = path.join(REPO_ROOT, 'test/fuzz/corpus');
export const PENDING_DIR = path.join(REPO_ROOT, 'test/fuzz/pending');

export type FailureKind = 'error' | 'oracle' | 'hang' | 'crash' | 'memory' | 'fd-leak' | 'leftover';

export interface Failure {
  kind: FailureKind;
  /** What identifies the bug across inputs: the throw site in mig's code, or the kind of failure. */
  signature: string;
  message: string;
  stack?: string;
  owner: string;
  target: string;
  runSeed: string;
  case: number;
  seedInput: string;
  mutations: string[];
  params: Params;
  bytes: Buffer;
  /** Where the reproducer was saved. */
  file?: string;
}

export interface TargetStats {
  target: string;
  cases: number;
  seconds: number;
  seeds: number;
  seedsAccepted: number;
  accepted: number;
  refused: Record<string, number>;
  /** Why cases were refused: the MigError's message with file, offsets and numbers taken out (coverage at a glance). */
  refusedWhy: Record<string, number>;
  capped: Record<string, number>;
  failures: Record<FailureKind, number>;
  distinct: Failure[];
  /** Cases whose only failures are known pending bugs, by signature. */
  known: Record<string, number>;
  maxCaseMs: number;
  slowCases: number;
  maxAllocDeltaMiB: number;
  maxRssDeltaMiB: number;
  peakRssMiB: number;
}

export interface RunOptions {
  seed: string;
  cases?: number;
  seconds?: number;
  /** Per-case time budget (ms). */
  timeoutMs?: number;
  /** Bytes of output a case may write (see worker.ts). */
  outputCap?: number;
  /** Save reproducers (default true). */
  save?: boolean;
  /**
   * Signatures of failures already kept under pending/ (bugs reported to their owners): counted as
   * known, not saved again.
   */
  known?: ReadonlySet<string>;
  log?: (line: string) => void;
  /** Progress callback every few seconds. */
  progress?: (s: TargetStats) => void;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_OUTPUT_CAP = 64 << 20;
const MiB = 1 << 20;

/** Scratch space: $MIG_FUZZ_TMP, else /dev/shm (tmpfs) when writable, else $TMPDIR. */
export function scratchRoot(): string {
  const env = process.env.MIG_FUZZ_TMP;
  if (env) return env;
  try {
    fs.accessSync('/dev/shm', fs.constants.W_OK);
    return '/dev/shm';
  } catch {
    return os.tmpdir();
  }
}

export type RunResult = (CaseResult & { rssDelta: number }) | { type: 'hang'; ms: number } | { type: 'crash'; message: string; stack: string; ms: number };

/** One worker thread for one target; restarted after a hang or a crash. */
export class CaseRunner {
  private worker?: Worker;
  private nextId = 0;

  constructor(private readonly init: WorkerInit, private readonly timeoutMs: number) {}

  private async start(): Promise<Worker> {
    const w = new Worker(new URL('./worker.js', import.meta.url), {
      workerData: this.init,
      resourceLimits: { maxOldGenerationSizeMb: 1536, maxYoungGenerationSizeMb: 64 },
      stdout: false,
      stderr: false,
    });
    await new Promise<void>((resolve, reject) => {
      const onMsg = (m: { type: string }) => {
        if (m.type === 'ready') {
          w.off('error', reject);
          resolve();
        }
      };
      w.once('message', onMsg);
      w.once('error', reject);
    });
    this.worker = w;
    return w;
  }

  async run(bytes: Buffer, params: Params): Promise<RunResult> {
    const w = this.worker ?? (await this.start());
    const id = ++this.nextId;
    const rss0 = process.memoryUsage.rss();
    let peak = rss0;
    const t0 = performance.now();
    return new Promise<RunResult>((resolve) => {
      let done = false;
      const sample = setInterval(() => {
        const r = process.memoryUsage.rss();
        if (r > peak) peak = r;
      }, 5);
      const finish = (r: RunResult) => {
        if (done) return;
        done = true;
        clearInterval(sample);
        clearTimeout(timer);
        w.off('message', onMsg);
        w.off('error', onErr);
        w.off('exit', onExit);
        resolve(r);
      };
      const timer = setTimeout(() => {
        this.worker = undefined;
        finish({ type: 'hang', ms: performance.now() - t0 });
        void w.terminate();
      }, this.timeoutMs);
      const onMsg = (m: CaseResult) => {
        if (m.type !== 'result' || m.id !== id) return;
        const r = process.memoryUsage.rss();
        if (r > peak) peak = r;
        finish({ ...m, rssDelta: peak - rss0 });
      };
      const onErr = (e: Error) => {
        this.worker = undefined;
        finish({ type: 'crash', message: `${(e as NodeJS.ErrnoException).code ?? e.name}: ${e.message}`, stack: e.stack ?? '', ms: performance.now() - t0 });
        void w.terminate();
      };
      const onExit = (code: number) => {
        this.worker = undefined;
        finish({ type: 'crash', message: `worker thread exited with code ${code}`, stack: '', ms: performance.now() - t0 });
      };
      w.on('message', onMsg);
      w.once('error', onErr);
      w.once('exit', onExit);
      w.postMessage({ type: 'case', id, bytes, params });
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}

/** Where a failure belongs: the first frame in mig's code, else the target's own module. */
const TARGET_OWNER: Record<string, string> = {
  'libvirt-save': 'src/image', 'qemu-stream': 'src/image', 'elf-dump': 'src/image', raw: 'src/image',
  'mig-decode': 'src/codec', 'mig-decode-ref': 'src/codec', pagemap: 'src/introspect/pagemap.ts', context: 'src/context', introspect: 'src/introspect',
};

export function ownerOf(target: string, stack: string | undefined): string {
  const m = /\/dist\/(src\/[^:)\s]+)\.js:\d+/.exec(stack ?? '');
  return m ? `${m[1]}.ts` : TARGET_OWNER[target] ?? 'unknown';
}

/** Failures in these are kept under pending/ for their owners (the engineers working there), not fixed here. */
export function isPendingOwner(owner: string): boolean {
  return owner.startsWith('src/image') || owner.startsWith('src/mem') || (owner.startsWith('src/introspect') && owner !== 'src/introspect/pagemap.ts');
}

const norm = (s: string) => s.replace(/0x[0-9a-f]+/gi, 'X').replace(/\d+/g, 'N').replace(/"[^"]*"/g, 'S').slice(0, 160);

/**
 * The first frame in mig's own code (the throw site, or the call into Node that threw) as
 * "function (src/….ts)": stable while the file is edited around it, unlike a line number.
 */
export function firstSrcFrame(stack: string): string {
  const m = /at (?:(?:new )?([^\s(]+) \()?file:\/\/[^\s)]*\/dist\/(src\/[^:)\s]+)\.js:\d+/.exec(stack);
  return m ? `${m[1] ?? '<anonymous>'} (${m[2]}.ts)` : '';
}

/** The failures a result holds (usually none). */
export function failuresOf(target: Target, r: RunResult, budget: number): { kind: FailureKind; message: string; stack?: string; signature: string }[] {
  if (r.type === 'hang') return [{ kind: 'hang', message: `no result within the time budget (${Math.round(r.ms)} ms)`, signature: 'hang' }];
  if (r.type === 'crash') return [{ kind: 'crash', message: r.message, stack: r.stack, signature: `crash: ${norm(r.message)}` }];
  const out: { kind: FailureKind; message: string; stack?: string; signature: string }[] = [];
  const o: Outcome = r.outcome;
  if (o.kind === 'error' || o.kind === 'oracle') {
    // One reproducer per function of mig's code that throws (the message varies with the input); oracles by message.
    const at = firstSrcFrame(o.stack);
    const signature = o.kind === 'error' && at ? `error: ${o.name} in ${at}` : `${o.kind}: ${o.name}: ${norm(o.message)}${at ? ` in ${at}` : ''}`;
    out.push({ kind: o.kind, message: `${o.name}: ${o.message}`, stack: o.stack, signature });
  }
  const grew = Math.max(r.allocDelta, r.rssDelta);
  if (grew > budget) {
    out.push({ kind: 'memory', message: `memory grew by ${(grew / MiB).toFixed(1)} MiB in the case (heap+external ${(r.allocDelta / MiB).toFixed(1)}, RSS ${(r.rssDelta / MiB).toFixed(1)}); budget ${(budget / MiB).toFixed(1)} MiB`, signature: 'memory' });
  }
  if (r.leakedFds.length) out.push({ kind: 'fd-leak', message: `file descriptors left open: ${r.leakedFds.join(', ')}`, signature: `fd-leak: ${o.kind === 'mig' ? o.code : o.kind}` });
  if (r.leftovers.length) out.push({ kind: 'leftover', message: `files left behind: ${r.leftovers.join(', ')}`, signature: `leftover: ${norm(r.leftovers.join(','))}` });
  return out;
}

/** A refusal message without the file, offsets and values: "offset N (0xN), field: what" → "field: what". */
export function whyOf(message: string): string {
  return message.replace(/^.*?: offset \d+( \(0x[0-9a-f]+\))?(, |: )/, '').replace(/^[^ ]*\/[^ ]*: /, '')
    .replace(/\b[0-9a-f]{16,}\b/g, 'H').replace(/0x[0-9a-f]+/gi, 'X').replace(/-?\d+/g, 'N').replace(/"[^"]*"/g, 'S').slice(0, 90);
}

export function reproducerName(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

/** Write <dir>/<target>/<hash>.bin and .json. Returns the .bin path. */
export function saveReproducer(f: Failure): string {
  const pending = isPendingOwner(f.owner);
  const dir = path.join(pending ? PENDING_DIR : CORPUS_DIR, f.target);
  fs.mkdirSync(dir, { recursive: true });
  const base = path.join(dir, reproducerName(f.bytes));
  fs.writeFileSync(`${base}.bin`, f.bytes);
  const meta = {
    target: f.target,
    runSeed: f.runSeed,
    case: f.case,
    seedInput: f.seedInput,
    params: f.params,
    mutations: f.mutations,
    failure: { kind: f.kind, message: f.message, signature: f.signature, stack: f.stack?.split('\n').slice(0, 10).join('\n') },
    owner: f.owner,
    ...(pending ? { known: true } : {}),
    found: new Date().toISOString().slice(0, 10),
  };
  fs.writeFileSync(`${base}.json`, JSON.stringify(meta, null, 2) + '\n');
  return `${base}.bin`;
}

export interface Prepared {
  target: Target;
  work: string;
  resources: Record<string, string>;
  seeds: Seed[];
  runner: CaseRunner;
}

/** Resources, seeds and a worker for a target, in a fresh scratch directory. */
export async function prepare(target: Target, opts: Pick<RunOptions, 'timeoutMs' | 'outputCap'> = {}): Promise<Prepared> {
  const work = fs.mkdtempSync(path.join(scratchRoot(), `mig-fuzz-${target.name}-`));
  const resDir = path.join(work, 'res');
  let resources: Record<string, string>;
  let seeds: Seed[];
  try {
    fs.mkdirSync(resDir);
    resources = (await target.resources?.(resDir)) ?? {};
    seeds = await target.seeds(resources);
  } catch (e) {
    fs.rmSync(work, { recursive: true, force: true });
    throw e;
  }
  const runner = new CaseRunner({ target: target.name, tmp: path.join(work, 'w'), resources, outputCap: opts.outputCap ?? DEFAULT_OUTPUT_CAP }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  return { target, work, resources, seeds, runner };
}

export async function release(p: Prepared): Promise<void> {
  await p.runner.close();
  fs.rmSync(p.work, { recursive: true, force: true });
}

const emptyFailures = (): Record<FailureKind, number> => ({ error: 0, oracle: 0, hang: 0, crash: 0, memory: 0, 'fd-leak': 0, leftover: 0 });

/** Run one target for a number of cases or seconds. */
export async function fuzzTarget(target: Target, opts: RunOptions): Promise<TargetStats> {
  const p = await prepare(target, opts);
  const stats: TargetStats = {
    target: target.name, cases: 0, seconds: 0, seeds: p.seeds.length, seedsAccepted: 0, accepted: 0, refused: {}, refusedWhy: {}, capped: {}, failures: emptyFailures(), distinct: [], known: {},
    maxCaseMs: 0, slowCases: 0, maxAllocDeltaMiB: 0, maxRssDeltaMiB: 0, peakRssMiB: 0,
  };
  const seen = new Set<string>();
  const t0 = performance.now();
  let lastProgress = t0;
  try {
    // The seeds themselves must be accepted: a seed the reader refuses would make every case a refusal.
    for (const s of p.seeds) {
      const r = await p.runner.run(s.bytes, s.params ?? {});
      if (r.type === 'result' && r.outcome.kind === 'ok') stats.seedsAccepted++;
      else opts.log?.(`  seed "${s.name}" of ${target.name} is not accepted: ${JSON.stringify(r.type === 'result' ? r.outcome : r).slice(0, 300)}`);
    }
    const tStart = performance.now();
    for (let i = 0; ; i++) {
      if (opts.cases !== undefined && i >= opts.cases) break;
      if (opts.seconds !== undefined && performance.now() - tStart >= opts.seconds * 1000) break;
      if (opts.cases === undefined && opts.seconds === undefined && i >= 1000) break;
      const rng = new Rng(`${opts.seed}:${target.name}:${i}`);
      const c: FuzzCase = target.mutate(p.seeds[0], rng, p.seeds);
      const budget = target.budget(c.bytes.length, c.params, c.bytes.subarray(0, 4096));
      const r = await p.runner.run(c.bytes, c.params);
      stats.cases++;
      const ms = r.type === 'result' ? r.ms : r.ms;
      stats.maxCaseMs = Math.max(stats.maxCaseMs, ms);
      if (ms > 1000) stats.slowCases++;
      if (r.type === 'result') {
        stats.maxAllocDeltaMiB = Math.max(stats.maxAllocDeltaMiB, r.allocDelta / MiB);
        stats.maxRssDeltaMiB = Math.max(stats.maxRssDeltaMiB, r.rssDelta / MiB);
        if (r.outcome.kind === 'ok') {
          stats.accepted++;
          if (r.outcome.capped) stats.capped[r.outcome.capped] = (stats.capped[r.outcome.capped] ?? 0) + 1;
        } else if (r.outcome.kind === 'mig') {
          stats.refused[r.outcome.code] = (stats.refused[r.outcome.code] ?? 0) + 1;
          const why = `${r.outcome.code}: ${whyOf(r.outcome.message)}`;
          stats.refusedWhy[why] = (stats.refusedWhy[why] ?? 0) + 1;
        }
      }
      stats.peakRssMiB = Math.max(stats.peakRssMiB, process.memoryUsage.rss() / MiB);
      for (const f of failuresOf(target, r, budget)) {
        const key = f.signature;
        if (opts.known?.has(key)) {
          stats.known[key] = (stats.known[key] ?? 0) + 1;
          continue;
        }
        stats.failures[f.kind]++;
        if (seen.has(key)) continue;
        seen.add(key);
        const failure: Failure = {
          ...f, owner: ownerOf(target.name, f.stack), target: target.name, runSeed: opts.seed, case: i, seedInput: c.seed, mutations: c.desc, params: c.params, bytes: c.bytes,
        };
        if (opts.save !== false) failure.file = saveReproducer(failure);
        stats.distinct.push(failure);
        opts.log?.(`  FAIL ${target.name} case ${i}: ${f.kind}: ${f.message.split('\n')[0].slice(0, 200)}${failure.file ? ` -> ${path.relative(REPO_ROOT, failure.file)}` : ''}`);
      }
      if (opts.progress && performance.now() - lastProgress > 10_000) {
        lastProgress = performance.now();
        stats.seconds = (lastProgress - tStart) / 1000;
        opts.progress(stats);
      }
    }
    stats.seconds = (performance.now() - tStart) / 1000;
  } finally {
    await release(p);
  }
  return stats;
}

export interface Reproducer {
  target: string;
  bin: string;
  json: string;
  meta: { target: string; params: Params; failure: { kind: string; message: string; signature?: string }; owner: string; known?: boolean };
}

/** The reproducers kept under a directory (corpus/ or pending/), by target. */
export function listReproducers(root: string): Reproducer[] {
  if (!fs.existsSync(root)) return [];
  const out: Reproducer[] = [];
  for (const t of fs.readdirSync(root).sort()) {
    const dir = path.join(root, t);
    if (!fs.statSync(dir).isDirectory()) continue;
    for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
      const json = path.join(dir, f);
      out.push({ target: t, json, bin: json.replace(/\.json$/, '.bin'), meta: JSON.parse(fs.readFileSync(json, 'utf8')) });
    }
  }
  return out;
}
