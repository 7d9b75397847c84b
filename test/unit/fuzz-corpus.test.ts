/**
 * Every reproducer the fuzzer kept under test/fuzz/corpus/ (a crash, hang, over-allocation, fd leak or
 * error that was not a MigError, since fixed) is replayed in the same worker, time and memory budget:
 * each must now be refused with a MigError or accepted. Finds not fixed yet are kept under
 * test/fuzz/pending/ and are not replayed here; fixed, they move here (docs/reliability.md, "Fuzzing").
 */
import test from 'ava';
import * as path from 'node:path';
import { CORPUS_DIR, listReproducers, REPO_ROOT } from '../fuzz/harness.js';
import { replayReproducers } from '../fuzz/replay.js';

const reps = listReproducers(CORPUS_DIR);

test('the corpus holds only reproducers of fixed bugs (none marked known), each with its failure', (t) => {
  // A find the harness saved under pending/ (owner elsewhere) moves here once its owner has fixed it.
  for (const r of reps) {
    const name = path.relative(REPO_ROOT, r.bin);
    t.truthy(r.meta.failure?.kind, name);
    t.falsy(r.meta.known, `${name}: marked known (unfixed): it belongs under test/fuzz/pending/`);
  }
  t.pass();
});

test('every saved reproducer now gives a MigError or succeeds, within budget', async (t) => {
  const results = await replayReproducers(reps);
  for (const r of results) t.log(`${path.relative(REPO_ROOT, r.rep.bin)}: ${r.summary}`);
  t.deepEqual(results.filter((r) => r.failures.length).map((r) => `${path.relative(REPO_ROOT, r.rep.bin)}: ${r.summary}: ${r.failures.map((f) => f.message).join('; ')}`), []);
});
