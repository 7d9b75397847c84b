/**
 * A target that misbehaves on purpose, so that the harness's detectors are themselves tested
 * (test/unit/fuzz-harness.test.ts): the input's first byte picks what exec does. Not run by `make fuzz`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MigError } from '../../../src/util/errors.js';
import { FuzzOracleError, type Target } from '../target.js';

export const SELFTEST = { ok: 0, mig: 1, typeError: 2, hang: 3, memory: 4, fdLeak: 5, leftover: 6, exitThread: 7, oracle: 8, output: 9 } as const;

let kept: Buffer[] = [];

export const selftestTarget: Target = {
  name: 'selftest',
  about: 'the harness checking itself (internal; first byte: 0 ok, 1 MigError, 2 TypeError, 3 hang, 4 allocate 160 MiB, 5 leak an fd, 6 leave a file, 7 end the thread, 8 oracle, 9 write 80 MiB)',
  fileName: 'input',
  seeds: () => [{ name: 'ok', bytes: Buffer.from([0]) }],
  mutate: (seed) => ({ bytes: seed.bytes, params: {}, seed: seed.name, desc: [] }),
  exec(p, _params, env) {
    const what = fs.readFileSync(p)[0];
    switch (what) {
      case SELFTEST.mig: throw new MigError('IMAGE_BAD_FIELD', 'refused');
      case SELFTEST.typeError: return (undefined as unknown as { x: number }).x as unknown as void;
      case SELFTEST.hang: for (;;);
      case SELFTEST.memory: kept = [Buffer.allocUnsafe(160 << 20)]; return;
      case SELFTEST.fdLeak: fs.openSync(p, 'r'); return;
      case SELFTEST.leftover: fs.writeFileSync(path.join(env.tmp, '.out.img.tmp-1'), 'x'); return;
      case SELFTEST.exitThread: process.exit(3);
      case SELFTEST.oracle: throw new FuzzOracleError('an invariant broke');
      case SELFTEST.output: {
        const fd = fs.openSync(path.join(env.tmp, 'out.img'), 'w');
        try {
          for (let i = 0; i < 80; i++) fs.writeSync(fd, Buffer.alloc(1 << 20));
        } finally {
          fs.closeSync(fd);
        }
        return;
      }
      default:
        kept = [];
    }
  },
  budget: () => 64 << 20,
};
