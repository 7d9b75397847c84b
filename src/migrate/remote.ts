/**
 * The source's one-shot requests to `mig receive` over ssh: the preflight (what the destination
 * holds, `--preflight`) and the domain's state there (`--status`, on a connection of its own). The
 * receive channel itself is migrate.ts's (with receiver-events.ts and spool.ts).
 */
import type { Client } from 'ssh2';
import { connectSsh, execCollect, shellQuote, type Destination } from '../transport/ssh.js';
import { MigrateError } from './errors.js';
import { encodeMessage, PROTOCOL_VERSION, type PreflightReply, type PreflightRequest } from './protocol.js';

/** How to run the receiver there: --remote-mig, --dest-connect. */
export interface RemoteMig {
  remoteMig: string;
  destConnect?: string;
  identity?: string;
  knownHosts?: string;
}

/** The command line of `mig receive` on the destination; `mode` is '', ' --preflight' or ' --status'. */
export function receiveCommand(o: RemoteMig, mode: string): string {
  return `${o.remoteMig} receive${o.destConnect ? ` --connect ${shellQuote(o.destConnect)}` : ''}${mode}`;
}

export async function runPreflight(client: Client, o: RemoteMig, domain: string, disks: string[], where: string, autoContext: boolean): Promise<PreflightReply> {
  const r = await execCollect(client, receiveCommand(o, ' --preflight'), encodeMessage({ domain, disks, autoContext } satisfies PreflightRequest).toString('utf8'));
  const last = r.stdout.trim().split('\n').pop() ?? '';
  let reply: (PreflightReply & { event?: string; code?: string; message?: string }) | undefined;
  try {
    reply = JSON.parse(last);
  } catch { /* below */ }
  if (r.status === 127 || (!reply && /not found|No such file/i.test(r.stderr))) {
    throw new MigrateError('REMOTE_MIG', `cannot run "${o.remoteMig}" on ${where} (${r.stderr.trim() || `exit ${r.status}`}); install mig there (make install) or pass --remote-mig CMD`);
  }
  if (!reply || r.status !== 0 || reply.event === 'error') {
    throw new MigrateError('PREFLIGHT', `preflight on ${where} failed: ${reply?.message ?? (r.stderr.trim() || `exit ${r.status}`)}`);
  }
  if (reply.protocol !== PROTOCOL_VERSION) throw new MigrateError('PROTOCOL', `${where} speaks migration protocol ${reply.protocol}, this mig ${PROTOCOL_VERSION}; use the same mig version on both ends`);
  return reply;
}

/** The domain's state on the destination (`mig receive --status` over a new connection), 'unknown' when it cannot be asked. */
export async function askDestinationState(dest: Destination, o: RemoteMig, domain: string): Promise<string> {
  try {
    const c2 = await connectSsh(dest, { identity: o.identity, knownHosts: o.knownHosts, readyTimeout: 15_000 });
    try {
      const r = await execCollect(c2, receiveCommand(o, ' --status'), encodeMessage({ domain }).toString('utf8'));
      return (JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { state?: string }).state ?? 'unknown';
    } finally {
      c2.end();
    }
  } catch {
    return 'unknown';
  }
}
