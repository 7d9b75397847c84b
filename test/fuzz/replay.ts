/** Replay saved reproducers through the same worker, time and memory budget as the fuzzer. */
import * as fs from 'node:fs';
import { failuresOf, prepare, release, type Prepared, type Reproducer, type RunResult } from './harness.js';
import { targetByName } from './targets/index.js';

export interface Replayed {
  rep: Reproducer;
  result: RunResult;
  failures: ReturnType<typeof failuresOf>;
  /** What happened, in a few words: "accepted", "MIG_CORRUPT", "error: TypeError: …". */
  summary: string;
}

export async function replayReproducers(reps: readonly Reproducer[]): Promise<Replayed[]> {
  const prepared = new Map<string, Prepared>();
  const out: Replayed[] = [];
  try {
    for (const rep of reps) {
      const target = targetByName(rep.meta.target ?? rep.target);
      let p = prepared.get(target.name);
      if (!p) {
        p = await prepare(target);
        prepared.set(target.name, p);
      }
      const bytes = fs.readFileSync(rep.bin);
      const params = rep.meta.params ?? {};
      const result = await p.runner.run(bytes, params);
      const failures = failuresOf(target, result, target.budget(bytes.length, params, bytes.subarray(0, 4096)));
      let summary: string;
      if (result.type !== 'result') summary = result.type;
      else if (result.outcome.kind === 'ok') summary = result.outcome.capped ? `accepted (${result.outcome.capped})` : 'accepted';
      else if (result.outcome.kind === 'mig') summary = result.outcome.code;
      else summary = `${result.outcome.kind}: ${result.outcome.name}: ${result.outcome.message.slice(0, 160)}`;
      if (failures.length && result.type === 'result' && (result.outcome.kind === 'ok' || result.outcome.kind === 'mig')) summary += ` + ${failures.map((f) => f.kind).join(', ')}`;
      out.push({ rep, result, failures, summary });
    }
  } finally {
    for (const p of prepared.values()) await release(p);
  }
  return out;
}
