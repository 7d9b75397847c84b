/**
 * The source's requests to `mig receive` over ssh outside the transfer: the preflight (what the
 * destination holds: first line of the receive channel, or `--preflight` of an older mig) and the
 * domain's state there (`--status`, on a connection of its own). The receive channel's transfer is
 * migrate.ts's (with receiver-events.ts and spool.ts).
 */
import type { Client, ClientChannel } from 'ssh2';
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
  return checkProtocol(reply, where);
}

function checkProtocol(reply: PreflightReply, where: string): PreflightReply {
  if (reply.protocol !== PROTOCOL_VERSION) throw new MigrateError('PROTOCOL', `${where} speaks migration protocol ${reply.protocol}, this mig ${PROTOCOL_VERSION}; use the same mig version on both ends`);
  return reply;
}

/**
 * The preflight as the first line of the receive channel (opened ahead): one remote mig answers it
 * and then the receive request, instead of a second ssh session and Node start (~0.5 s here).
 * Undefined when that receiver answers with an error event (an older mig, which takes the line for a
 * receive request, or a failure): the caller then asks with `mig receive --preflight`, which reports
 * a failure as before. The channel closing first is the preflight's failure (REMOTE_MIG when mig
 * is not there to run).
 */
export function preflightOnChannel(ch: ClientChannel, req: PreflightRequest, o: RemoteMig, where: string): Promise<PreflightReply | undefined> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    let status: number | null = null;
    const onData = (d: Buffer) => {
      out += d.toString('utf8');
      for (let i; (i = out.indexOf('\n')) >= 0;) {
        const line = out.slice(0, i);
        out = out.slice(i + 1);
        let m: (PreflightReply & { event?: string }) | undefined;
        try {
          m = JSON.parse(line) as typeof m;
        } catch {
          continue; // not ours (a login shell's output)
        }
        done();
        if (m && typeof m === 'object' && m.event === undefined && typeof m.protocol === 'number') {
          try {
            resolve(checkProtocol(m, where));
          } catch (e) {
            reject(e);
          }
        } else resolve(undefined);
        return;
      }
    };
    const onErr = (d: Buffer) => (err += d.toString('utf8'));
    const onExit = (code: number | null) => (status = code);
    const onClose = () => {
      done();
      if (status === 127 || /not found|No such file/i.test(err)) reject(new MigrateError('REMOTE_MIG', `cannot run "${o.remoteMig}" on ${where} (${err.trim() || `exit ${status}`}); install mig there (make install) or pass --remote-mig CMD`));
      else reject(new MigrateError('PREFLIGHT', `preflight on ${where} failed: the receive channel closed before the reply (${err.trim() || `exit ${status}`})`));
    };
    const done = () => {
      ch.off('data', onData);
      ch.stderr.off('data', onErr);
      ch.off('exit', onExit);
      ch.off('close', onClose);
    };
    ch.on('data', onData);
    ch.stderr.on('data', onErr);
    ch.on('exit', onExit);
    ch.on('close', onClose);
    ch.write(encodeMessage({ preflight: req }));
  });
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
