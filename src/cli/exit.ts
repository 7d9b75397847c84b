/**
 * Exit statuses. 0 success; 1 other mig errors; 2 usage (bad option, unreadable file);
 * 3 bad or unsupported input (image or .mig); 70 an internal error (a bug: please report it).
 * With --json, errors are printed to stdout as {"error", "code", "message", ...} too.
 */
import { MigError } from '../util/errors.js';

export const ExitStatus = { OK: 0, ERROR: 1, USAGE: 2, BAD_IMAGE: 3, INTERNAL: 70 } as const;

export function exitStatusFor(e: unknown): number {
  if (!(e instanceof MigError) || e.code === 'INTERNAL') return ExitStatus.INTERNAL;
  if (e.code === 'USAGE') return ExitStatus.USAGE;
  if (e.code.startsWith('IMAGE_') || e.code === 'MIG_CORRUPT') return ExitStatus.BAD_IMAGE;
  return ExitStatus.ERROR;
}
