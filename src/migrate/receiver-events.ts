/**
 * The source's side of a receive channel: wires the sans-I/O `ReceiverEventParser` (protocol.ts) to
 * the ssh channel of `mig receive`, and lets the migration wait for an event by name. An error event,
 * a protocol error or a closed channel rejects the wait.
 */
import type { ClientChannel } from 'ssh2';
import { TransportError } from '../transport/ssh.js';
import { MigError } from '../util/errors.js';
import { MigrateError } from './errors.js';
import { ReceiverEventParser, type ReceiverEvent } from './protocol.js';

export class ReceiverEvents {
  private seen: ReceiverEvent[] = [];
  private closed = false;
  /** The destination broke the protocol (a malformed event): every wait fails with this. */
  private broken: MigError | undefined;
  /** The last frame the destination acknowledged (decoded and checkpointed). */
  lastAck: { frame: number; offset: number } | undefined;
  private checks = new Set<() => void>();
  /** The channel's stderr, and stdout lines that are not protocol messages (for error messages). */
  stderr = '';

  constructor(ch: ClientChannel) {
    const parser = new ReceiverEventParser();
    ch.on('data', (d: Buffer) => {
      if (!this.broken) {
        try {
          for (const r of parser.parse(d)) {
            if ('text' in r) this.stderr += `${r.text}\n`;
            else if (r.event.event === 'ack') this.lastAck = { frame: r.event.frame, offset: r.event.offset };
            else this.seen.push(r.event);
          }
        } catch (e) {
          this.broken = e instanceof MigError ? e : new MigError('PROTOCOL', String(e));
        }
      }
      this.notify();
    });
    ch.stderr.on('data', (d: Buffer) => {
      if (this.stderr.length < 1 << 16) this.stderr += d.toString('utf8');
    });
    ch.on('close', () => {
      this.closed = true;
      this.notify();
    });
  }

  destinationError(): MigrateError | undefined {
    const err = this.seen.find((e) => e.event === 'error') as Extract<ReceiverEvent, { event: 'error' }> | undefined;
    return err && new MigrateError(`DEST_${err.code}`, `destination: ${err.message}`, { remoteCode: err.code });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private notify(): void {
    for (const c of [...this.checks]) c();
  }

  wait<E extends ReceiverEvent['event']>(name: E, timeoutMs: number): Promise<Extract<ReceiverEvent, { event: E }>> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        this.checks.delete(check);
        clearTimeout(timer);
      };
      const check = () => {
        const hit = this.seen.find((e) => e.event === name);
        if (hit) {
          done();
          return resolve(hit as Extract<ReceiverEvent, { event: E }>);
        }
        const err = this.destinationError() ?? this.broken;
        if (err) {
          done();
          return reject(err);
        }
        if (this.closed) {
          done();
          const tail = this.stderr.trim().split('\n').slice(-3).join(' | ');
          return reject(new TransportError('LINK', `the destination's channel closed before "${name}"${tail ? ` (${tail})` : ''}`));
        }
      };
      timer = setTimeout(() => {
        done();
        reject(new TransportError('TIMEOUT', `no "${name}" from the destination within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.checks.add(check);
      check();
    });
  }
}
