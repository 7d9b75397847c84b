/**
 * Bandwidth limits (--bandwidth): a token bucket for a sender that pulls (mig migrate's spool
 * sender): `await take(n)` before writing n bytes holds the average to `mbps`, with at most 50 ms of
 * burst. (The stream wrapper the benchmark uses, `Throttle`, is in test/helpers/throttle.ts.)
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
