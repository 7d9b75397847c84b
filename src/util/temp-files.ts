/**
 * Temp paths a supervisor removes if this process is killed (src/cli/supervise.ts): `mig encode`
 * and `mig decode` run as a supervised child, which registers every temp file or directory before
 * creating it. Without a supervisor registerTemp does nothing.
 */
import * as fs from 'node:fs';

/** Environment variable that tells a supervised child which fd registers temp paths. */
export const SUPERVISOR_FD_ENV = 'MIG_SUPERVISOR_FD';

/** One registration line to the supervisor, if this process has one (else nothing). */
function tell(m: { temp: string } | { helper: number }): void {
  const fd = Number(process.env[SUPERVISOR_FD_ENV]);
  if (!Number.isInteger(fd) || fd < 3) return;
  try {
    fs.writeSync(fd, JSON.stringify(m) + '\n');
  } catch {
    // No supervisor listening (the variable set by hand): nothing to tell.
  }
}

/**
 * Tell the supervisor (if any) that process `pid` (a helper tool this process started: debugfs,
 * ntfscat) works for it: if a signal stops this process, the supervisor kills the helper too before
 * it removes the temp paths, so the helper does not go on writing into them.
 */
export function registerHelper(pid: number | undefined): void {
  if (pid !== undefined) tell({ helper: pid });
}

/** Tell the supervisor (if any) that `p` is about to be created as a temp file or directory. */
export function registerTemp(p: string): void {
  tell({ temp: p });
}
