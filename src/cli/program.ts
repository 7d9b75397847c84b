/**
 * mig — semantic compression for quick migration of libvirt/QEMU VMs. The CLI only composes:
 * each command lives in src/cli/commands/ and calls the pipeline stages. The entry point is
 * main.ts (which runs encode/decode under a supervisor, supervise.ts).
 */
import { Command, CommanderError } from 'commander';
import { createRequire } from 'node:module';
import { MigError } from '../util/errors.js';
import { registerInfo } from './commands/info.js';
import { registerCodec } from './commands/codec.js';
import { registerContext } from './commands/context.js';
import { registerAnalyze } from './commands/analyze.js';
import { registerBaseline } from './commands/baseline.js';
import { registerMigrate } from './commands/migrate.js';
import { exitStatusFor, ExitStatus } from './exit.js';
import { printJson } from './output.js';

const pkg = createRequire(import.meta.url)('../../../package.json') as { version: string };

export function buildProgram(): Command {
  const program = new Command('mig')
    .description('MiG: move saved VM memory in far fewer bytes (libvirt/QEMU)')
    .version(pkg.version)
    .showHelpAfterError()
    .exitOverride();
  registerInfo(program);
  registerCodec(program);
  registerContext(program);
  registerAnalyze(program);
  registerBaseline(program);
  registerMigrate(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv);
    return ExitStatus.OK;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? ExitStatus.OK : ExitStatus.USAGE;
    if (json) printJson(e instanceof MigError ? e.toJSON() : { error: 'InternalError', code: 'INTERNAL', message: String(e) });
    if (e instanceof MigError) process.stderr.write(`mig: ${e.message}\n`);
    else process.stderr.write(`mig: internal error: ${(e as Error).stack ?? e}\n`);
    return exitStatusFor(e);
  }
}

/** Run the command line in this process and set the exit status. */
export function run(argv: string[]): void {
  // A reader that closed the pipe early (`mig info --json x | head`) is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(ExitStatus.OK);
    throw e;
  });
  main(argv).then((code) => {
    process.exitCode = code;
  });
}
