/** Bandwidth limits (--bandwidth): a token bucket, and a Transform that holds a stream to it. */
import { Transform, type TransformCallback } from 'node:stream';

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

/**
 * The token bucket itself, for a sender that pulls (mig migrate's spool sender; Throttle above):
 * `await take(n)` before writing n bytes holds the average to `mbps`, with at most 50 ms of burst.
 */
export class RateLimiter {
  private readonly bytesPerMs: number;
  private readonly burst: number;
  private tokens: number;
  private last = Date.now();

  constructor(mbps: number) {
    this.bytesPerMs = (mbps * 1e6) / 8 / 1000;
    this.burst = Math.max(16384, this.bytesPerMs * 50);
    this.tokens = this.burst;
  }

  async take(n: number): Promise<void> {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.bytesPerMs);
    this.last = now;
    this.tokens -= n;
    if (this.tokens < 0) await new Promise((r) => setTimeout(r, Math.ceil(-this.tokens / this.bytesPerMs)));
  }
}
