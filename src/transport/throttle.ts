/** A token-bucket Transform that holds a stream to `mbps` megabits per second (--bandwidth). */
import { Transform, type TransformCallback } from 'node:stream';

export class Throttle extends Transform {
  private readonly bytesPerMs: number;
  private readonly burst: number;
  private tokens: number;
  private last = Date.now();

  constructor(mbps: number) {
    super({ highWaterMark: 1 << 16 });
    this.bytesPerMs = (mbps * 1e6) / 8 / 1000;
    this.burst = Math.max(16384, this.bytesPerMs * 50);
    this.tokens = this.burst;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let off = 0;
    const step = () => {
      while (off < chunk.length) {
        const now = Date.now();
        this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.bytesPerMs);
        this.last = now;
        const n = Math.min(chunk.length - off, Math.floor(this.tokens), 16384);
        if (n <= 0) {
          setTimeout(step, Math.max(1, Math.ceil((Math.min(16384, chunk.length - off) - this.tokens) / this.bytesPerMs)));
          return;
        }
        this.tokens -= n;
        this.push(chunk.subarray(off, off + n));
        off += n;
      }
      done();
    };
    step();
  }
}

/**
 * The same token bucket for a sender that pulls (mig migrate's spool sender): `await take(n)` before
 * writing n bytes holds the average to `mbps`, with at most 50 ms of burst.
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
