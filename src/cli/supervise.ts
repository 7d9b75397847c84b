/**
 * Signals during `mig encode` / `mig decode` (and `mig analyze`, `mig context build`, which write
 * output files and, for a disk image, a scratch tree). The work is synchronous (the codec never yields to
 * the event loop), so a signal handler in the process doing it would run only after the work is
 * done. Instead that process is a child of a supervisor that only waits:
 *
 * - The child runs the same command line with stdio inherited (pipes, `-o -` and `-` behave as
 *   before) and fd 3 a pipe to the supervisor. Before it creates a temp file or directory it writes
 *   the path there (registerTemp in src/util/temp-files.ts, synchronously, so the path is known
 *   before the file exists).
 * - On SIGINT, SIGTERM or SIGHUP the supervisor kills the child (SIGKILL: the work stops even inside
 *   a blocking read), removes every temp path the child registered, and exits 128 + the signal's
 *   number (130, 143, 129). A Ctrl-C in a terminal reaches both; the child dies of it the same way.
 * - Otherwise it exits with the child's status; a child killed by a signal (the OOM killer) is
 *   cleaned up after the same way and reported as 128 + that signal.
 * The outputs themselves only ever appear by rename on success (AtomicFileSink), so nothing
 * partial is left under an output's name either way.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { fileURLToPath } from 'node:url';
import { sleepSync } from '../util/fd.js';
import { SUPERVISOR_FD_ENV } from '../util/temp-files.js';
import { codecChildEnv } from '../util/memory-env.js';

/** Commands that write temp files or scratch trees: the codec's, analyze's output files, context build's extraction. */
const SUPERVISED_COMMANDS = new Set(['encode', 'decode', 'analyze', 'context']);
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Whether this command line runs under a supervisor (encode, decode, analyze, context). */
export function needsSupervisor(argv: string[]): boolean {
  return SUPERVISED_COMMANDS.has(argv[2]);
}

/** Whether this process is the supervised child. */
export function isSupervisedChild(): boolean {
  return process.env[SUPERVISOR_FD_ENV] !== undefined;
}

/** Run argv's command in a child and supervise it; resolves to the exit status. */
export function supervise(argv: string[]): Promise<number> {
  const main = fileURLToPath(new URL('./main.js', import.meta.url));
  const child = spawn(process.execPath, [...process.execArgv, main, ...argv.slice(2)], {
    stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
    env: { ...codecChildEnv(), [SUPERVISOR_FD_ENV]: '3' },
  });
  const temps = new Set<string>();
  const helpers = new Set<number>();
  let partial = '';
  const reg = child.stdio[3]!;
  reg.on('data', (chunk: Buffer) => {
    partial += chunk.toString('utf8');
    let i: number;
    while ((i = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, i);
      partial = partial.slice(i + 1);
      try {
        const m = JSON.parse(line) as { temp?: unknown; helper?: unknown };
        if (typeof m.temp === 'string') temps.add(m.temp);
        if (typeof m.helper === 'number' && Number.isInteger(m.helper) && m.helper > 1) helpers.add(m.helper);
      } catch { /* not a registration */ }
    }
  });
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    signalled ??= sig;
    child.kill('SIGKILL');
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  // A helper the child started (debugfs, ntfscat) may outlive it for a moment and still be creating
  // entries in a scratch tree while it is removed (rmSync then fails with ENOTEMPTY): retry until the
  // path is gone (a tool cannot recreate a tree whose top directory is gone), for up to 5 s.
  const removeTemps = () => {
    // Helpers the child registered (they may be finished: then the kill finds no process, or at worst
    // a recycled pid of the same user within this instant, which is why only registered ones are killed).
    for (const pid of helpers) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch { /* already gone */ }
    }
    for (const p of temps) {
      for (let attempt = 0; attempt < 100; attempt++) {
        try {
          fs.rmSync(p, { recursive: true, force: true });
        } catch { /* ENOTEMPTY while something still writes into it: try again */ }
        if (!fs.existsSync(p)) break;
        sleepSync(50);
      }
    }
  };
  return new Promise((resolve) => {
    child.on('error', (e) => {
      process.stderr.write(`mig: cannot start the ${argv[2]} process: ${e.message}\n`);
      resolve(70);
    });
    // 'close': the child is gone and fd 3 is drained (every registration read).
    child.on('close', (code, sig) => {
      for (const s of SIGNALS) process.off(s, onSignal);
      const stoppedBy = signalled ?? sig ?? undefined;
      if (stoppedBy) {
        removeTemps();
        resolve(128 + (os.constants.signals[stoppedBy] ?? 0));
      } else {
        resolve(code ?? 70);
      }
    });
  });
}
