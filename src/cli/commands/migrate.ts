/**
 * `mig migrate <domain> <[user@]host[:port]>` (source) and `mig receive` (destination, run by migrate
 * through ssh; the protocol is in src/migrate/protocol.ts and docs/migrate.md).
 */
import { Command } from 'commander';
import { createRequire } from 'node:module';
// The migration modules (ssh2, the libvirt binding) load when a migration command runs, not with every command.
import type { MigrateProgress, MigrateResult } from '../../migrate/migrate.js';
import { writeMessage } from '../../migrate/control-fd.js';
import { resolveStateDir } from '../../state/dir.js';
import { MigError } from '../../util/errors.js';
import { mib, printJson } from '../output.js';
import { positiveOption, intOption } from '../options.js';

const pkg = createRequire(import.meta.url)('../../../../package.json') as { version: string };

/** Stage, bytes, rate and ETA on stderr when it is a terminal. */
function ttyProgress(): { update: (p: MigrateProgress) => void; done: () => void } {
  if (!process.stderr.isTTY) return { update: () => {}, done: () => {} };
  let last = 0;
  let shown = false;
  let t0 = 0;
  return {
    update(p) {
      const now = Date.now();
      if (p.stage === 'transfer' && !t0) t0 = now;
      if (now - last < 200 && p.stage === 'transfer') return;
      last = now;
      shown = true;
      let s = p.stage === 'resume' ? 'link lost: reconnecting' : `${p.stage}`;
      if (p.stage === 'transfer') {
        const el = (now - t0) / 1000;
        const rate = p.bytesSent / Math.max(el, 0.001);
        // Bytes still to send over the rate so far; the stream's size is estimated until the encoder is done.
        const left = p.streamBytes > 0 ? Math.max(0, p.streamBytes - p.bytesSent) : NaN;
        const eta = rate > 0 ? left / rate : NaN;
        const of = p.streamBytes > 0 ? ` of ${p.streamKnown ? '' : '~'}${mib(p.streamBytes)}` : '';
        s += `: ${mib(p.bytesSent)}${of} sent, ${(rate / 1048576).toFixed(1)} MiB/s, ${p.streamKnown ? 'encoded' : `${(p.encoded * 100).toFixed(0)} % encoded`}${Number.isFinite(eta) ? `, ETA ${eta.toFixed(0)} s` : ''}`;
      }
      process.stderr.write(`\r${s}\x1b[K`);
    },
    done() {
      if (shown) process.stderr.write('\n');
    },
  };
}

function printResult(r: MigrateResult): void {
  const w = process.stdout;
  w.write(`${r.domain} → ${r.destination} (${r.destinationHost}): running there\n`);
  w.write(`sent ${r.bytesSent} bytes (${mib(r.bytesSent)}) for a ${mib(r.imageBytes)} image, ${(r.ratio * 100).toFixed(2)} %`);
  w.write(`; baseline ${r.baseline ? `${r.baseline.digest.slice(0, 16)} (${r.baseline.kind})` : 'none'}; context ${r.context ? `${r.context.digest.slice(0, 16)} (${r.context.source === 'disks' ? `from ${r.context.disk}, ${r.context.reused ? 'reused' : `built in ${r.context.seconds} s`}` : r.context.source})` : 'none'}\n`);
  const s = r.stages;
  w.write(`preflight ${s.preflight.toFixed(2)} s, save ${s.save.toFixed(2)} s, encode+transfer+decode ${s.transfer.toFixed(2)} s, restore ${s.restore.toFixed(2)} s, baseline store ${s.store.toFixed(2)} s, total ${s.total.toFixed(2)} s\n`);
  const lv = Object.entries(r.level.frames);
  if (lv.length) w.write(`level ${r.level.mode}: ${lv.map(([l, n]) => `${n} frame${n === 1 ? '' : 's'} at ${l}`).join(', ')}\n`);
  if (r.downtime !== null) w.write(`downtime ${r.downtime.toFixed(2)} s (domain paused for the save → running on the destination)\n`);
  if (r.freePagesDropped) w.write(`${r.freePagesDropped} free pages not sent (zeros on the destination)\n`);
  else if (r.pageMap?.source === 'none') w.write(`no page map (${r.pageMap.error}): free pages were sent\n`);
  for (const [k, t] of Object.entries(r.techniques)) if (t.pages || t.bytesIn) w.write(`  ${k.padEnd(10)} ${String(t.pages).padStart(8)} pages  ${mib(t.bytesIn).padStart(10)} in  ${String(Math.round(t.bytesOut)).padStart(11)} bytes out\n`);
  for (const x of r.resumes) w.write(`  resumed after ${x.afterSeconds.toFixed(1)} s from .mig offset ${x.offset}${x.frame !== null ? ` (frame ${x.frame})` : ''}\n`);
  for (const x of r.warnings) process.stderr.write(`mig: warning: ${x}\n`);
}

const zstdLevel = intOption('--level', 1, 19);
function levelOption(v: string): number | 'auto' {
  return v === 'auto' ? 'auto' : zstdLevel(v);
}

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('move a running domain to another host: save, MiG-encode over ssh to `mig receive`, restore there (disks must already be there)')
    .argument('<domain>', 'libvirt domain name')
    .argument('<destination>', '[user@]host[:port] reachable by ssh')
    .option('--connect <uri>', 'source libvirt URI', 'qemu:///system')
    .option('--dest-connect <uri>', 'libvirt URI on the destination (default: its mig receive default, qemu:///system)')
    .option('--context <ctx>', 'a context file (mig context build); the destination must hold one with the same digest in <state dir>/contexts (default: <state dir>/contexts/<domain>.ctx when the destination holds it too, else one both ends build from the domain\'s own disks, kept as <state dir>/contexts/<domain>.auto.ctx and reused while the disk is unchanged, when their digests agree)')
    .option('--no-context', 'no context: not the domain\'s own, not one from its disks')
    .option('--bandwidth <mbps>', 'limit the transfer to this many megabits per second', positiveOption('--bandwidth'))
    .option('--identity <file>', 'ssh private key (default: ~/.ssh/id_ed25519, id_ecdsa, id_rsa; or the agent)')
    .option('--known-hosts <file>', 'known_hosts file to check the host key against (default: ~/.ssh/known_hosts, /etc/ssh/ssh_known_hosts)')
    .option('--remote-mig <cmd>', 'how to run mig on the destination (a shell command)', 'mig')
    .option('--keep-source', 'keep the source\'s save image (state dir saves/) and a persistent source definition')
    .option('--resume', 'when the link is lost, reconnect and go on from the last frame the destination acknowledged (the source stays saved meanwhile; restored if no link comes back within --resume-window); also finishes a migration whose process was killed after saving the domain')
    .option('--resume-window <seconds>', 'with --resume: how long to keep reconnecting after the link is lost', positiveOption('--resume-window'), 120)
    .option('--free-pages <mode>', 'drop: pages the guest has free (found by introspection of the saved image) are not sent and arrive as zeros; keep: send every page', 'drop')
    .option('--threads <n>', 'encoder threads', positiveOption('--threads'))
    .option('--level <n|auto>', 'entropy level of the encoder (zstd 1..19), or auto: the level follows the link, higher while the link is the bottleneck, lower while it waits for the encoder (with --resume: 3, the stream must be the same when a later run finishes it)', levelOption, 'auto')
    .option('--no-stream-restore', 'restore on the destination only after the whole image is decoded (default: libvirt restores it paused while it is decoded, and the commit resumes it; always off with --resume)')
    .option('--state-dir <dir>', 'state dir (default: $MIG_STATE_DIR or /var/lib/mig)')
    .option('--json', 'print the result as JSON')
    .action(async (domain: string, destination: string, o: {
      level: number | 'auto'; streamRestore: boolean;
      connect: string; destConnect?: string; context?: string | false; bandwidth?: number; identity?: string; knownHosts?: string;
      remoteMig: string; keepSource?: boolean; resume?: boolean; resumeWindow: number; freePages: string; threads?: number; stateDir?: string; json?: boolean;
    }) => {
      if (o.freePages !== 'drop' && o.freePages !== 'keep') throw new MigError('USAGE', `--free-pages must be drop or keep, not ${o.freePages}`);
      const bar = o.json ? { update: () => {}, done: () => {} } : ttyProgress();
      try {
        const { migrate } = await import('../../migrate/migrate.js');
        const r = await migrate({
          domain, destination, connect: o.connect, destConnect: o.destConnect, context: o.context, bandwidth: o.bandwidth,
          identity: o.identity, knownHosts: o.knownHosts, remoteMig: o.remoteMig, keepSource: o.keepSource,
          resume: o.resume, resumeWindowSeconds: o.resumeWindow, freePages: o.freePages, level: o.level, streamRestore: o.streamRestore,
          stateDir: resolveStateDir(o.stateDir), threads: o.threads ? Math.floor(o.threads) : undefined, onProgress: bar.update,
        });
        bar.done();
        if (o.json) printJson(r);
        else printResult(r);
      } catch (e) {
        bar.done();
        throw e;
      }
    });

  program
    .command('receive')
    .description('the destination end of mig migrate (run through ssh; speaks a line protocol on stdin/stdout)')
    .option('--preflight', 'answer what this host holds (contexts, baselines) and which of the requested disks are missing')
    .option('--status', 'answer the state of a domain')
    .option('--connect <uri>', 'libvirt URI to restore into', 'qemu:///system')
    .option('--threads <n>', 'decoder threads', positiveOption('--threads'))
    .option('--state-dir <dir>', 'state dir (default: $MIG_STATE_DIR or /var/lib/mig)')
    .action(async (o: { preflight?: boolean; status?: boolean; connect: string; threads?: number; stateDir?: string }) => {
      const opts = { stateDir: resolveStateDir(o.stateDir), connect: o.connect, migVersion: pkg.version, threads: o.threads ? Math.floor(o.threads) : undefined };
      try {
        const { preflight, receive, status } = await import('../../migrate/receive.js');
        if (o.preflight) await preflight(opts);
        else if (o.status) await status(opts);
        else await receive(opts);
      } catch (e) {
        const err = e instanceof MigError ? e : new MigError('INTERNAL', String((e as Error).stack ?? e));
        try {
          writeMessage(1, { event: 'error', code: err.code, message: err.message });
        } catch { /* the source is gone */ }
        throw e;
      }
    });
}
