/**
 * A Transform that holds a byte stream to `mbps` with src/transport's token bucket (`RateLimiter`).
 * Only bench/migrate.ts uses it (it throttles the gzip | ssh baseline to the same link speed as
 * mig migrate's `--bandwidth`); mig itself takes tokens in its spool sender instead.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { RateLimiter } from '../../src/transport/throttle.js';

export class Throttle extends Transform {
  private readonly limiter: RateLimiter;

  constructor(mbps: number) {
    super({ highWaterMark: 1 << 16 });
    this.limiter = new RateLimiter(mbps);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    void (async () => {
      for (let off = 0; off < chunk.length; off += 16384) {
        const piece = chunk.subarray(off, Math.min(chunk.length, off + 16384));
        await this.limiter.take(piece.length);
        this.push(piece);
      }
      done();
    })();
  }
}
