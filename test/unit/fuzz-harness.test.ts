/**
 * The fuzz harness (test/fuzz/) in `make test`: its detectors catch what they claim to (a self-test
 * target that throws, hangs, over-allocates, leaks an fd, leaves a file, ends its thread, writes past
 * the output cap), cases are reproducible from (seed, target, number), and a short deterministic run
 * of every target (a few hundred cases, fixed seed) finds nothing new. `make fuzz` runs the long version.
 */
import test from 'ava';
import { CaseRunner, failuresOf, fuzzTarget, listReproducers, PENDING_DIR, prepare, release, scratchRoot } from '../fuzz/harness.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng } from '../fuzz/rng.js';
import { TARGETS, targetByName } from '../fuzz/targets/index.js';
import { SELFTEST } from '../fuzz/targets/selftest.js';

test.serial('the detectors: non-MigError, oracle, hang, memory, fd leak, leftover file, dead thread; MigError and the output cap are not failures', async (t) => {
  const target = targetByName('selftest');
  const work = fs.mkdtempSync(path.join(scratchRoot(), 'mig-fuzz-selftest-'));
  const runner = new CaseRunner({ target: 'selftest', tmp: path.join(work, 'w'), resources: {}, outputCap: 64 << 20 }, 3000);
  try {
    const kinds = async (what: number) => {
      const r = await runner.run(Buffer.from([what]), {});
      return { r, kinds: failuresOf(target, r, target.budget(1, {}, Buffer.alloc(1))).map((f) => f.kind) };
    };
    t.deepEqual((await kinds(SELFTEST.ok)).kinds, []);
    const mig = await kinds(SELFTEST.mig);
    t.deepEqual(mig.kinds, []);
    t.is(mig.r.type === 'result' && mig.r.outcome.kind, 'mig');
    t.deepEqual((await kinds(SELFTEST.typeError)).kinds, ['error']);
    t.deepEqual((await kinds(SELFTEST.oracle)).kinds, ['oracle']);
    t.deepEqual((await kinds(SELFTEST.hang)).kinds, ['hang']);
    t.deepEqual((await kinds(SELFTEST.ok)).kinds, [], 'a new worker after the hang');
    t.deepEqual((await kinds(SELFTEST.memory)).kinds, ['memory']);
    t.deepEqual((await kinds(SELFTEST.fdLeak)).kinds, ['fd-leak']);
    t.deepEqual((await kinds(SELFTEST.leftover)).kinds, ['leftover']);
    t.deepEqual((await kinds(SELFTEST.exitThread)).kinds, ['crash']);
    const out = await kinds(SELFTEST.output);
    t.deepEqual(out.kinds, []);
    t.deepEqual(out.r.type === 'result' && out.r.outcome, { kind: 'ok', capped: 'output cap' });
  } finally {
    await runner.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
});

test.serial('a case is a function of (seed, target, number): the same bytes every time', async (t) => {
  for (const name of ['qemu-stream', 'mig-decode', 'introspect']) {
    const p = await prepare(targetByName(name));
    try {
      const gen = (i: number) => p.target.mutate(p.seeds[0], new Rng(`x:${name}:${i}`), p.seeds);
      for (const i of [0, 7, 99]) {
        const [a, b] = [gen(i), gen(i)];
        t.true(a.bytes.equals(b.bytes), `${name} case ${i}`);
        t.deepEqual(a.desc, b.desc);
      }
    } finally {
      await release(p);
    }
  }
});

// Bugs already reported to their owners (test/fuzz/pending/) are known; anything else is new.
const known = new Set(listReproducers(PENDING_DIR).map((r) => r.meta.failure.signature).filter((x): x is string => !!x));

for (const target of TARGETS) {
  test.serial(`short deterministic run: ${target.name}, 300 cases, nothing new`, async (t) => {
    const s = await fuzzTarget(target, { seed: 'make-test', cases: 300, save: false, known });
    t.is(s.cases, 300);
    t.is(s.seedsAccepted, s.seeds, 'every seed is accepted as it is');
    t.true(s.accepted > 0 && Object.values(s.refused).reduce((a, b) => a + b, 0) > 0, 'mutants both accepted and refused');
    for (const [sig, n] of Object.entries(s.known)) t.log(`known (test/fuzz/pending/): ${n} × ${sig}`);
    t.deepEqual(s.distinct.map((f) => `${f.kind}: ${f.message.split('\n')[0]} (case ${f.case})`), []);
  });
}
