#!/usr/bin/env node
/**
 * The `mig` command. encode, decode, analyze and context run under a supervisor (supervise.ts: a child process does
 * the work, this one removes its temp files when a signal stops it); everything else runs here.
 * Kept small: the supervisor starts without loading the commands.
 */
import { isSupervisedChild, needsSupervisor, supervise } from './supervise.js';

if (needsSupervisor(process.argv) && !isSupervisedChild()) {
  process.exitCode = await supervise(process.argv);
} else {
  const { run } = await import('./program.js');
  run(process.argv);
}
