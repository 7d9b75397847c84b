/**
 * `mig migrate --level auto`: the entropy level follows the link, in the spirit of zstd's `--adapt`.
 * Every tick the source knows how far the encoder is (fraction of the image read, and how fast it
 * has been going lately), how much it has written (the spool) and how much the link has moved.
 * From these, two estimates of the time left:
 *   encoder: the image still to read at the encoder's recent pace;
 *   link:    the backlog (encoded, not yet sent) plus the output still to come (at the bytes per
 *            image byte so far), at the link's rate.
 * When the link needs more than twice the encoder's time, CPU is free to spend on fewer bytes: a
 * level up (more when the link is far behind). When the encoder needs more than ~80 % of the link's
 * time, it is (about to be) the bottleneck: a level down. In between: hold. The link's time is at
 * the highest rate it has shown, and the 2× margin: when both ends share the CPU (a loopback test,
 * a busy destination), a backlog caused by a slow receiver is not a reason to spend more CPU here
 * (it would slow the receiver further: the 1000 Mbps loopback bench climbed to level 13–18 and lost
 * 0.8–3 s against level 3). And a raise after which the link moved 15 % less is undone and becomes
 * the ceiling: a wire does not slow down because this end works harder; a receiver on the same
 * cores does. From there it steps down while each step speeds the link up by 10 %.
 *
 * One decision per tick (TICK_MS), so a level has time to show in the encoder's pace (frames in flight
 * are coded at the level they were submitted with). The policy is a pure function of what it is told
 * (tested on its own); the driver in migrate.ts measures and tells the encoder child through a level
 * file it reads before each frame (encode-child.ts).
 */

export const TICK_MS = 250;
export const MIN_LEVEL = 1;
export const MAX_LEVEL = 19;
/** Where an automatic migration starts: the default effort. */
export const START_LEVEL = 3;

export interface AdaptSample {
  /** Bytes encoded and not yet sent. */
  backlog: number;
  /** Bytes the link moved during the tick. */
  sent: number;
  /** The tick's length, seconds. */
  dt: number;
  /** Fraction of the image the encoder has read, 0..1. */
  encoded: number;
  /** Bytes the encoder has written so far (the spool's size). */
  output: number;
  /** The encoder has finished: nothing left to decide. */
  encoderDone: boolean;
}

export class LevelController {
  level = START_LEVEL;
  /** The link's bytes per second while it had something to send (EWMA), 0 until measured. */
  private rate = 0;
  /** The highest such rate seen: what the link can take (a lower rate later is the receiver's CPU, not the link). */
  private peak = 0;
  /** The encoder's image fraction per second (EWMA), 0 until measured. */
  private pace = 0;
  private lastEncoded = 0;
  /** Seconds since the encoder's progress last moved (its reports come every ~200 ms). */
  private still = 0;
  /** The last raise: the level before it, the link's rate then, ticks since. */
  private raised?: { from: number; rate: number; ticks: number };
  /** No raise above this: a raise that slowed the link (the receiver shares this CPU). */
  private ceiling = MAX_LEVEL;
  /** A step down taken because the link is this CPU's: the link's rate then, ticks since. */
  private probing?: { rate: number; ticks: number };

  tick(s: AdaptSample): number {
    if (s.encoderDone || s.dt <= 0) return this.level;
    // The link's rate only counts while it was never starved (a backlog left at the tick's end).
    if (s.backlog > 0 && s.sent > 0) {
      this.rate = ewma(this.rate, s.sent / s.dt);
      this.peak = Math.max(this.peak, this.rate);
    }
    const progress = s.encoded - this.lastEncoded;
    this.still += s.dt;
    if (progress > 0) {
      this.pace = ewma(this.pace, progress / this.still);
      this.lastEncoded = s.encoded;
      this.still = 0;
    }
    if (this.rate === 0 || this.pace === 0 || s.encoded < 0.02) {
      // Not measured yet. Everything sent (the link waited) is still a step down.
      if (s.sent > 0 && s.backlog === 0) this.level = Math.max(MIN_LEVEL, this.level - 1);
      return this.level;
    }
    const left = 1 - s.encoded;
    const encoderLeft = left / this.pace;
    const linkLeft = (s.backlog + (s.output / s.encoded) * left) / this.peak;
    // A raise after which the link moved less (by 15 %, a few ticks on): the link was this CPU's
    // other users (the receiver's decoder on a loopback), not the wire. Back, and no higher again.
    if (this.raised && ++this.raised.ticks >= 3) {
      if (this.rate < 0.85 * this.raised.rate) {
        // Below where the raise started, while each step down still speeds the link up by 10 %.
        this.ceiling = Math.max(MIN_LEVEL, this.raised.from - 1);
        this.level = this.ceiling;
        this.probing = { rate: this.rate, ticks: 0 };
      }
      this.raised = undefined;
    } else if (this.probing && ++this.probing.ticks >= 3) {
      if (this.rate > 1.1 * this.probing.rate && this.level > MIN_LEVEL) {
        this.ceiling = this.level = this.level - 1;
        this.probing = { rate: this.rate, ticks: 0 };
      } else this.probing = undefined;
    }
    if (linkLeft > 2 * encoderLeft && this.level < this.ceiling) {
      // Far behind (10 Mbps: the link needs ten times the encoder's time) climbs faster.
      const from = this.level;
      this.level = Math.min(this.ceiling, this.level + Math.min(3, Math.floor(Math.log2(linkLeft / encoderLeft))));
      this.raised ??= { from, rate: this.rate, ticks: 0 };
    } else if (encoderLeft > 0.8 * linkLeft) {
      this.level = Math.max(MIN_LEVEL, this.level - 1);
    }
    return this.level;
  }
}

function ewma(old: number, x: number): number {
  return old === 0 ? x : 0.6 * old + 0.4 * x;
}
