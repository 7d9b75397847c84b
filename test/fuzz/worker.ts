/**
 * The fuzz worker thread: runs one case at a time for one target, in-process, and reports how it
 * ended. The parent thread owns the clock (a case that does not answer in time is a hang: the parent
 * terminates this thread) and samples the process's RSS while a case runs.
 *
 * Around each case the worker:
 * - writes the input to its scratch directory (tmpfs when there is one);
 * - caps what mig writes through fs.writeSync (a .mig may legitimately announce a 4 TiB image; the
 *   fuzzer stops such a case at FUZZ_OUTPUT_CAP bytes and counts it as capped, not failed);
 * - classifies the outcome: success, a MigError (fine), a FuzzOracleError (an invariant broke), or
 *   anything else thrown (a bug);
 * - measures the growth of the isolate's heap and external (ArrayBuffer) memory across the case;
 * - checks that no file descriptor into the scratch directory is left open and no file other than
 *   the input (and a successful output) is left behind, then empties the directory.
 */
import * as fs from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { MigError } from '../../src/util/errors.js';
import { FuzzOracleError, type Params } from './target.js';
import { targetByName } from './targets/index.js';

export interface WorkerInit {
  target: string;
  tmp: string;
  resources: Record<string, string>;
  outputCap: number;
}

export interface CaseMessage {
  type: 'case';
  id: number;
  bytes: Uint8Array;
  params: Params;
}

export type Outcome =
  | { kind: 'ok'; capped?: string }
  | { kind: 'mig'; code: string; message: string }
  | { kind: 'oracle' | 'error'; name: string; message: string; stack: string };

export interface CaseResult {
  type: 'result';
  id: number;
  outcome: Outcome;
  ms: number;
  /** Growth of heapUsed + external across the case, bytes. */
  allocDelta: number;
  leakedFds: string[];
  leftovers: string[];
}

class OutputCapReached extends Error {}

const init = workerData as WorkerInit;
const target = targetByName(init.target);
const input = path.join(init.tmp, target.fileName);

// The output cap: every fs.writeSync of mig (sinks, checkpoints) goes through here while a case runs.
const require = createRequire(import.meta.url);
const fsCjs = require('node:fs') as typeof fs;
const writeSync = fsCjs.writeSync;
let capOn = false;
let written = 0;
(fsCjs as { writeSync: unknown }).writeSync = function patched(fd: number, buf: string | NodeJS.ArrayBufferView, ...rest: unknown[]) {
  if (capOn) {
    const n = typeof buf === 'string' ? Buffer.byteLength(buf) : typeof rest[1] === 'number' ? rest[1] : buf.byteLength - (typeof rest[0] === 'number' ? rest[0] : 0);
    written += n;
    if (written > init.outputCap) throw new OutputCapReached(`output cap of ${init.outputCap} bytes reached`);
  }
  return (writeSync as (...a: unknown[]) => number).call(fsCjs, fd, buf, ...rest);
};
syncBuiltinESMExports();

function openFdsInto(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const l = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (l.startsWith(dir)) out.set(fd, l);
    } catch {
      // closed meanwhile (the readdir's own fd)
    }
  }
  return out;
}

function clean(dir: string, keep: string): void {
  for (const e of fs.readdirSync(dir)) if (e !== keep) fs.rmSync(path.join(dir, e), { recursive: true, force: true });
}

function outcomeOf(e: unknown): Outcome {
  if (e instanceof OutputCapReached) return { kind: 'ok', capped: 'output cap' };
  if (e instanceof MigError) return { kind: 'mig', code: e.code, message: e.message };
  const err = e instanceof Error ? e : new Error(String(e));
  return { kind: e instanceof FuzzOracleError ? 'oracle' : 'error', name: err.name, message: err.message, stack: err.stack ?? '' };
}

fs.mkdirSync(init.tmp, { recursive: true });
const env = { tmp: init.tmp, resources: init.resources };

parentPort!.on('message', (m: CaseMessage) => {
  fs.writeFileSync(input, m.bytes);
  const fdsBefore = openFdsInto(init.tmp);
  const before = process.memoryUsage();
  const t0 = performance.now();
  let outcome: Outcome;
  written = 0;
  capOn = true;
  try {
    const note = target.exec(input, m.params, env);
    outcome = { kind: 'ok', capped: note?.capped };
  } catch (e) {
    outcome = outcomeOf(e);
  } finally {
    capOn = false;
  }
  const ms = performance.now() - t0;
  const after = process.memoryUsage();
  const leaked = [...openFdsInto(init.tmp)].filter(([fd]) => !fdsBefore.has(fd));
  const leakedFds = leaked.map(([fd, l]) => `fd ${fd} -> ${l}`);
  for (const [fd] of leaked) fs.closeSync(Number(fd)); // reported; closed so the next cases are not affected
  const allowed = new Set([target.fileName, 'ckpt', ...(outcome.kind === 'ok' ? ['out.img'] : [])]);
  const leftovers = fs.readdirSync(init.tmp).filter((f) => !allowed.has(f));
  clean(init.tmp, target.fileName);
  const r: CaseResult = {
    type: 'result', id: m.id, outcome, ms,
    allocDelta: after.heapUsed + after.external - (before.heapUsed + before.external),
    leakedFds, leftovers,
  };
  parentPort!.postMessage(r);
});
parentPort!.postMessage({ type: 'ready' });
