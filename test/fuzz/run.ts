#!/usr/bin/env node
/**
 * The fuzz runner.
 *
 *   node dist/test/fuzz/run.js [--target T[,T…]] [--cases N|T=N,… | --seconds S] [--seed X] [--timeout-ms MS]
 *                              [--output-cap BYTES] [--no-save] [--json FILE] [--why N]
 *   node dist/test/fuzz/run.js --replay [corpus|pending]
 *   node dist/test/fuzz/run.js --list
 *
 * One worker thread per target, targets one after the other (the machine's other cores stay free).
 * Failures are saved as reproducers (test/fuzz/corpus/ or test/fuzz/pending/, see harness.ts); the
 * exit status is 1 when any case failed. Figures: docs/reliability.md, "Fuzzing".
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CORPUS_DIR, DEFAULT_OUTPUT_CAP, DEFAULT_TIMEOUT_MS, fuzzTarget, listReproducers, PENDING_DIR, REPO_ROOT, scratchRoot, type TargetStats } from './harness.js';
import { replayReproducers } from './replay.js';
import { TARGETS, targetByName } from './targets/index.js';

function usage(msg?: string): never {
  if (msg) console.error(`run.js: ${msg}`);
  console.error('usage: node dist/test/fuzz/run.js [--target T[,T…]] [--cases N|T=N,… | --seconds S] [--seed X] [--timeout-ms MS] [--output-cap BYTES] [--no-save] [--json FILE] [--why N] | --replay [corpus|pending] | --list');
  process.exit(2);
}

function parseArgs(argv: string[]) {
  const o: { targets: string[]; casesFor: Record<string, number>; cases?: number; seconds?: number; seed: string; timeoutMs: number; outputCap: number; save: boolean; json?: string; replay?: string; list: boolean; why: number } = {
    targets: TARGETS.map((t) => t.name), casesFor: {}, seed: '1', timeoutMs: DEFAULT_TIMEOUT_MS, outputCap: DEFAULT_OUTPUT_CAP, save: true, list: false, why: 0,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => argv[++i] ?? usage(`${a} needs a value`);
    const num = () => {
      const v = Number(val());
      if (!Number.isFinite(v) || v < 0) usage(`${a} needs a non-negative number`);
      return v;
    };
    switch (a) {
      case '--target': o.targets = val().split(',').map((t) => targetByName(t.trim()).name); break;
      case '--cases': {
        // N for every target, or T=N[,T=N…] for some
        const v = val();
        if (/^\d+$/.test(v)) o.cases = Number(v);
        else for (const kv of v.split(',')) {
          const [t, n] = kv.split('=');
          if (!/^\d+$/.test(n ?? '')) usage(`--cases ${v}: expected N or TARGET=N,…`);
          o.casesFor[targetByName(t.trim()).name] = Number(n);
        }
        break;
      }
      case '--seconds': o.seconds = num(); break;
      case '--seed': o.seed = val(); break;
      case '--timeout-ms': o.timeoutMs = num(); break;
      case '--output-cap': o.outputCap = num(); break;
      case '--no-save': o.save = false; break;
      case '--json': o.json = val(); break;
      case '--replay': o.replay = argv[i + 1] && !argv[i + 1].startsWith('--') ? argv[++i] : 'corpus'; break;
      case '--list': o.list = true; break;
      case '--why': o.why = num(); break;
      case '-h': case '--help': usage();
      default: usage(`unknown argument ${a}`);
    }
  }
  if ((o.cases !== undefined || Object.keys(o.casesFor).length) && o.seconds !== undefined) usage('give --cases or --seconds, not both');
  return o;
}

const pad = (s: string | number, n: number) => String(s).padStart(n);

function line(s: TargetStats): string {
  const fails = Object.values(s.failures).reduce((a, b) => a + b, 0);
  const refused = Object.values(s.refused).reduce((a, b) => a + b, 0);
  const capped = Object.values(s.capped).reduce((a, b) => a + b, 0);
  return `${s.target.padEnd(15)} ${pad(s.cases, 8)} ${pad(s.seconds.toFixed(1), 8)} ${pad(Math.round(s.cases / Math.max(s.seconds, 1e-9)), 6)}/s ${pad(s.accepted, 7)} ${pad(refused, 7)} ${pad(capped, 6)} ${pad(fails, 5)} ${pad(s.failures.crash + s.failures.error, 6)} ${pad(s.failures.hang, 5)} ${pad(s.failures.memory, 4)} ${pad(s.maxCaseMs.toFixed(0), 7)} ${pad(s.maxAllocDeltaMiB.toFixed(0), 6)} ${pad(s.peakRssMiB.toFixed(0), 6)}`;
}
const HEADER = `${'target'.padEnd(15)} ${pad('cases', 8)} ${pad('seconds', 8)} ${pad('rate', 8)} ${pad('accept', 7)} ${pad('refuse', 7)} ${pad('capped', 6)} ${pad('fail', 5)} ${pad('crash', 6)} ${pad('hang', 5)} ${pad('mem', 4)} ${pad('max ms', 7)} ${pad('Δ MiB', 6)} ${pad('RSS', 6)}`;

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (o.list) {
    for (const t of TARGETS) console.log(`${t.name.padEnd(15)} ${t.about}`);
    return;
  }
  if (o.replay) {
    const root = o.replay === 'pending' ? PENDING_DIR : o.replay === 'corpus' ? CORPUS_DIR : path.resolve(o.replay);
    const reps = listReproducers(root);
    const results = await replayReproducers(reps);
    let bad = 0;
    for (const r of results) {
      const ok = !r.failures.length;
      if (!ok) bad++;
      console.log(`${ok ? 'ok  ' : 'FAIL'} ${path.relative(REPO_ROOT, r.rep.bin)}: ${r.summary}`);
    }
    console.log(`${results.length} reproducers, ${bad} still failing`);
    process.exitCode = bad ? 1 : 0;
    return;
  }
  // Bugs already reported to their owners (test/fuzz/pending/): known, not failures of this run.
  const known = new Set(listReproducers(PENDING_DIR).map((r) => r.meta.failure.signature).filter((x): x is string => !!x));
  console.log(`mig fuzz: seed ${o.seed}, ${o.cases !== undefined ? `${o.cases} cases` : o.seconds !== undefined ? `${o.seconds} s` : '1000 cases'} per target, one worker thread, per-case budget ${o.timeoutMs} ms, scratch ${scratchRoot()}`);
  console.log(HEADER);
  const all: TargetStats[] = [];
  const t0 = Date.now();
  for (const name of o.targets) {
    const s = await fuzzTarget(targetByName(name), {
      seed: o.seed, cases: o.casesFor[name] ?? o.cases, seconds: o.seconds, known, timeoutMs: o.timeoutMs, outputCap: o.outputCap, save: o.save,
      log: (l) => console.log(l),
      progress: (p) => process.stderr.write(`  … ${p.target}: ${p.cases} cases, ${p.seconds.toFixed(0)} s\n`),
    });
    all.push(s);
    console.log(line(s));
  }
  const total = all.reduce((n, s) => n + Object.values(s.failures).reduce((a, b) => a + b, 0), 0);
  const knownCases = all.reduce((n, s) => n + Object.values(s.known).reduce((a, b) => a + b, 0), 0);
  console.log(`total: ${all.reduce((n, s) => n + s.cases, 0)} cases in ${((Date.now() - t0) / 1000).toFixed(0)} s, ${total} failing (new), ${knownCases} hitting known pending bugs (test/fuzz/pending/), peak RSS ${Math.max(...all.map((s) => s.peakRssMiB)).toFixed(0)} MiB`);
  for (const s of all) {
    const codes = Object.entries(s.refused).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ');
    console.log(`  ${s.target}: seeds ${s.seedsAccepted}/${s.seeds} accepted; refused: ${codes || 'none'}${Object.keys(s.capped).length ? `; capped: ${JSON.stringify(s.capped)}` : ''}`);
    for (const [sig, n] of Object.entries(s.known)) console.log(`      known (pending): ${n} × ${sig}`);
    if (o.why) {
      const why = Object.entries(s.refusedWhy).sort((a, b) => b[1] - a[1]);
      for (const [w, n] of why.slice(0, o.why)) console.log(`      ${pad(n, 7)}  ${w}`);
      if (why.length > o.why) console.log(`      … ${why.length - o.why} more reasons`);
    }
  }
  if (o.json) {
    fs.writeFileSync(o.json, JSON.stringify({ seed: o.seed, date: new Date().toISOString(), node: process.version, targets: all.map((s) => ({ ...s, distinct: s.distinct.map((f) => ({ kind: f.kind, message: f.message, owner: f.owner, file: f.file && path.relative(REPO_ROOT, f.file) })) })) }, null, 2) + '\n');
  }
  process.exitCode = total ? 1 : 0;
}

main().catch((e) => {
  console.error(e);
  process.exit(70);
});
