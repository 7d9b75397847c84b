/**
 * `mig baseline list|add|rm|gc`: the per-domain baselines kept under the state dir (src/state/).
 * A migration leaves the VM's image as its baseline on both ends; `add` registers one by hand (or
 * from the libvirt hook), `add --blank IMAGE --os NAME` a freshly booted VM as the blank baseline of an OS.
 */
import { Command } from 'commander';
import { BaselineStore } from '../../state/baselines.js';
import { resolveStateDir } from '../../state/dir.js';
import { parseAge, parseSize } from '../../state/retention.js';
import { UsageError } from '../../util/errors.js';
import { mib, printJson, table } from '../output.js';
import { intOption, parsedOption } from '../options.js';

const stateDirOption = '--state-dir <dir>';
const stateDirHelp = 'state dir (default: $MIG_STATE_DIR or /var/lib/mig)';

export function registerBaseline(program: Command): void {
  const cmd = program.command('baseline').description('baselines kept for repeated migrations (per domain, and blank ones per OS)');

  cmd.command('list')
    .description('list the baselines in the state dir')
    .option(stateDirOption, stateDirHelp)
    .option('--json', 'print as JSON')
    .action((o: { stateDir?: string; json?: boolean }) => {
      const store = new BaselineStore(resolveStateDir(o.stateDir));
      const list = store.list();
      if (o.json) return printJson({ stateDir: store.stateDir, baselines: list });
      if (list.length === 0) return void process.stdout.write(`no baselines in ${store.stateDir}\n`);
      table(['digest', 'size', 'added', 'latest for', 'blank for', 'in history of'],
        list.map((b) => [b.digest.slice(0, 16), mib(b.bytes), b.addedAt.replace(/\.\d+Z$/, 'Z'), b.latestFor.join(',') || '-', b.blankFor.join(',') || '-', b.domains.join(',') || '-']));
    });

  cmd.command('add')
    .description('store an image as a domain\'s newest baseline (--domain), or as the blank baseline of an OS (--blank IMAGE --os NAME)')
    .argument('[image]', 'a saved image of the domain (libvirt save image or any format mig reads)')
    .option('--domain <name>', 'the domain the image belongs to')
    .option('--blank <image>', 'a freshly booted VM\'s image to register as the blank baseline of --os')
    .option('--os <name>', 'OS name for --blank (e.g. debian-12)')
    .option('--origin <origin>', 'recorded with the entry: add | hook', 'add')
    .option(stateDirOption, stateDirHelp)
    .option('--json', 'print the result as JSON')
    .action((image: string | undefined, o: { domain?: string; blank?: string; os?: string; origin: string; stateDir?: string; json?: boolean }) => {
      const store = new BaselineStore(resolveStateDir(o.stateDir));
      if (o.origin !== 'add' && o.origin !== 'hook') throw new UsageError(`--origin must be add or hook, not ${o.origin}`);
      let r: Record<string, unknown>;
      if (o.blank !== undefined) {
        if (!o.os) throw new UsageError('--blank IMAGE needs --os NAME');
        if (image !== undefined || o.domain !== undefined) throw new UsageError('--blank takes no other image and no --domain');
        r = { os: o.os, digest: store.addBlank(o.os, o.blank), image: o.blank };
      } else {
        if (image === undefined || o.domain === undefined) throw new UsageError('usage: mig baseline add IMAGE --domain NAME, or mig baseline add --blank IMAGE --os NAME');
        r = { domain: o.domain, digest: store.addForDomain(o.domain, image, { origin: o.origin }), image };
      }
      if (o.json) printJson(r);
      else process.stdout.write(`${r.image}: baseline ${r.digest} ${r.os ? `(blank, OS ${r.os})` : `for domain ${r.domain}`}\n`);
    });

  cmd.command('rm')
    .description('remove a baseline by digest, a domain\'s history (--domain), or a blank baseline (--os)')
    .argument('[digest]', 'SHA-256 of the baseline image')
    .option('--domain <name>', 'forget every baseline of this domain')
    .option('--os <name>', 'forget the blank baseline of this OS')
    .option(stateDirOption, stateDirHelp)
    .option('--json', 'print the result as JSON')
    .action((digest: string | undefined, o: { domain?: string; os?: string; stateDir?: string; json?: boolean }) => {
      if ([digest, o.domain, o.os].filter((x) => x !== undefined).length !== 1) throw new UsageError('give exactly one of DIGEST, --domain NAME, --os NAME');
      const store = new BaselineStore(resolveStateDir(o.stateDir));
      const deleted = store.remove({ digest, domain: o.domain, os: o.os });
      if (o.json) printJson({ deletedImages: deleted });
      else process.stdout.write(`${deleted.length} image(s) deleted${deleted.length ? `: ${deleted.join(' ')}` : ''}\n`);
    });

  cmd.command('gc')
    .description('apply a retention policy to per-domain baselines (blank baselines are kept), then delete images nothing refers to')
    .option('--keep <n>', 'keep at most N baselines per domain (newest first)', intOption('--keep', 0))
    .option('--max-age <age>', 'drop domain baselines older than this (e.g. 30d, 12h)', parsedOption(parseAge))
    .option('--max-size <size>', 'drop the oldest domain baselines until the store holds at most this much (e.g. 20G)', parsedOption(parseSize))
    .option('--dry-run', 'only print what would be removed')
    .option(stateDirOption, stateDirHelp)
    .option('--json', 'print the result as JSON')
    .action((o: { keep?: number; maxAge?: number; maxSize?: number; dryRun?: boolean; stateDir?: string; json?: boolean }) => {
      const store = new BaselineStore(resolveStateDir(o.stateDir));
      const plan = store.gc({ keep: o.keep, maxAgeMs: o.maxAge, maxBytes: o.maxSize }, o.dryRun);
      const r = { dryRun: !!o.dryRun, dropped: plan.drop.map((e) => ({ domain: e.domain, digest: e.digest, addedAt: new Date(e.addedAt).toISOString() })), deletedImages: plan.deleteImages, keptBytes: plan.keptBytes };
      if (o.json) return printJson(r);
      for (const d of r.dropped) process.stdout.write(`${o.dryRun ? 'would drop' : 'dropped'} ${d.domain} ${d.digest} (${d.addedAt})\n`);
      process.stdout.write(`${r.deletedImages.length} image(s) ${o.dryRun ? 'would be ' : ''}deleted, ${mib(r.keptBytes)} kept\n`);
    });
}
