/**
 * The spool: the encoder's output on disk (saves/<domain>.mig), and the sender that streams byte
 * ranges of it into the receive channel as it grows, so that a resumed transfer can send any part
 * of it again.
 */
import * as fs from 'node:fs';
import type { ClientChannel } from 'ssh2';
import { TransportError } from '../transport/ssh.js';
import type { RateLimiter } from '../transport/throttle.js';
import { faultPoint } from '../util/fault.js';
import { MigrateError } from './errors.js';

/** The encoder's output on disk, so that a resumed transfer can send any part of it again. */
export class Spool {
  private fd: number;
  size = 0;
  done = false;
  error: Error | undefined;
  private waiters: (() => void)[] = [];

  constructor(readonly file: string) {
    this.fd = fs.openSync(file, 'w+', 0o600);
  }

  append(b: Buffer): void {
    let off = 0;
    while (off < b.length) off += fs.writeSync(this.fd, b, off, b.length - off, this.size + off);
    this.size += b.length;
    this.wake();
  }

  finish(error?: Error): void {
    this.done = true;
    this.error ??= error;
    this.wake();
  }

  /** Resolves when the spool grows or is finished. */
  more(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }

  read(offset: number, n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const k = fs.readSync(this.fd, b, got, n - got, offset + got);
      if (k === 0) break;
      got += k;
    }
    return b.subarray(0, got);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  remove(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
    fs.rmSync(this.file, { force: true });
  }
}

const CHUNK = 64 << 10;
/** Where the "transfer" fault point is (src/util/fault.ts): once this much of the .mig is sent. */
const FAULT_TRANSFER_AT = 4 << 20;

/** Write byte ranges of the spool ([start, end), end may be Infinity: until the encoder is done) into the channel. */
export async function sendSpool(sp: Spool, ch: ClientChannel, ranges: [number, number][], events: { readonly isClosed: boolean }, limiter: RateLimiter | undefined, onSent: (n: number) => void): Promise<void> {
  const gone = () => new TransportError('LINK', 'the destination\'s channel closed during the transfer');
  for (const [start, end] of ranges) {
    let off = start;
    while (off < end) {
      if (events.isClosed) throw gone();
      if (sp.error) throw sp.error;
      if (off >= sp.size) {
        if (sp.done) {
          if (end === Infinity) break;
          throw new MigrateError('INTERNAL', `spool ends at ${sp.size}, before ${end}`);
        }
        await sp.more();
        continue;
      }
      const b = sp.read(off, Math.min(CHUNK, sp.size - off, end - off));
      if (limiter) await limiter.take(b.length);
      if (events.isClosed) throw gone();
      const ok = ch.write(b);
      off += b.length;
      onSent(b.length);
      if (off >= FAULT_TRANSFER_AT) await faultPoint('transfer');
      if (!ok) {
        await new Promise<void>((resolve) => {
          const done = () => {
            ch.off('drain', done);
            ch.off('close', done);
            resolve();
          };
          ch.on('drain', done);
          ch.on('close', done);
        });
      }
    }
  }
}
