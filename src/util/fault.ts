/**
 * Fault points for the fault-injection tests (test/integration/faults.test.ts, docs/reliability.md
 * "Faults in migration"): `MIG_FAULT_PAUSE=<stage>@<dir>` makes `mig migrate` or `mig receive` stop at
 * that stage, once: it writes `<dir>/<stage>.paused` (its pid inside) and waits until
 * `<dir>/<stage>.go` exists, so that a test can kill it, or restart a daemon, at a known point and then
 * let it go on. Unset (production), every fault point returns at once and touches nothing; a
 * malformed value is ignored. A stage pauses once per fault dir (the first process to reach it). Stage names are those listed in docs/reliability.md.
 */
import * as fs from 'node:fs';
import { sleepSync } from './fd.js';
import * as path from 'node:path';

const spec = /^([a-z-]+)@(\/.+)$/.exec(process.env.MIG_FAULT_PAUSE ?? '');
let fired = false;

/** The pause to take at `stage`, if this process was asked to stop there and has not yet. */
function armed(stage: string): { paused: string; go: string } | undefined {
  if (!spec || fired || spec[1] !== stage) return undefined;
  fired = true;
  const paused = path.join(spec[2], `${stage}.paused`);
  // Once per fault dir: a later process at the same stage (a resumed receive) goes on.
  try {
    fs.writeFileSync(paused, `${process.pid}\n`, { flag: 'wx' });
  } catch {
    return undefined;
  }
  return { paused, go: path.join(spec[2], `${stage}.go`) };
}

/** Pause at `stage` (event loop running: pending I/O and libvirt calls go on). */
export async function faultPoint(stage: string): Promise<void> {
  const a = armed(stage);
  if (!a) return;
  while (!fs.existsSync(a.go)) await new Promise((r) => setTimeout(r, 20));
}

/** Pause at `stage`, blocking the thread (for synchronous code such as the decoder's callbacks). */
export function faultPointSync(stage: string): void {
  const a = armed(stage);
  if (!a) return;
  while (!fs.existsSync(a.go)) sleepSync(20);
}

/**
 * Test-only behaviours named in `MIG_FAULT_FLAGS` (comma-separated; unset in production: false):
 * `end-digest` makes migrate's encoder send an END frame whose image SHA-256 has one bit flipped and
 * whose frame checksum matches it, so every frame verifies and only the whole image does not.
 */
export function faultFlag(name: string): boolean {
  return (process.env.MIG_FAULT_FLAGS ?? '').split(',').includes(name);
}
