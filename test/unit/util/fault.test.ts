/**
 * Fault points (src/util/fault.ts): inert without MIG_FAULT_PAUSE; with it, the first process of a
 * fault dir to reach the stage says so in <stage>.paused and waits for <stage>.go; a second process
 * at the same stage goes on. Run in child processes (the variable is read when the module loads).
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpPath } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';

const FAULT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src/util/fault.js');

/** A child that passes fault point `stage` (async and sync) and prints "done". */
function child(env: Record<string, string>, stage: string): Promise<{ code: number | null; out: string; ms: number }> {
  const t0 = Date.now();
  const code = `const f = await import(${JSON.stringify(FAULT)}); await f.faultPoint(${JSON.stringify(stage)}); f.faultPointSync(${JSON.stringify(stage)}); console.log('done');`;
  const p = spawn(process.execPath, ['--input-type=module', '-e', code], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.on('data', (b: Buffer) => (out += b));
  return new Promise((resolve) => p.on('close', (c) => resolve({ code: c, out, ms: Date.now() - t0 })));
}

test('without MIG_FAULT_PAUSE, or with a malformed one, fault points return at once and write nothing', async (t) => {
  const dir = tmpPath('fault-none');
  fs.mkdirSync(dir);
  for (const env of [{}, { MIG_FAULT_PAUSE: 'save' }, { MIG_FAULT_PAUSE: `save@relative/${dir}` }, { MIG_FAULT_PAUSE: `other@${dir}` }]) {
    const r = await child({ MIG_FAULT_PAUSE: '', ...env }, 'save');
    t.is(r.code, 0);
    t.is(r.out, 'done\n');
  }
  t.deepEqual(fs.readdirSync(dir), []);
});

test('the stage pauses once per fault dir: <stage>.paused names the pid, <stage>.go lets it on; a second process goes through', async (t) => {
  const dir = tmpPath('fault-pause');
  fs.mkdirSync(dir);
  const env = { MIG_FAULT_PAUSE: `transfer@${dir}` };
  const first = child(env, 'transfer');
  t.true(await waitFor(() => fs.existsSync(path.join(dir, 'transfer.paused')), 10_000));
  const pid = Number(fs.readFileSync(path.join(dir, 'transfer.paused'), 'utf8'));
  t.true(pid > 0);
  // Paused: no output yet; a second process at the same stage is not held.
  const second = await child(env, 'transfer');
  t.is(second.out, 'done\n');
  fs.writeFileSync(path.join(dir, 'transfer.go'), '');
  const r = await first;
  t.is(r.code, 0);
  t.is(r.out, 'done\n', 'the async point paused once; the sync point of the same stage did not pause again');
});
