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
 * 0.8–3 s against level 3).
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
    if (linkLeft > 2 * encoderLeft) {
      // Far behind (10 Mbps: the link needs ten times the encoder's time) climbs faster.
      this.level = Math.min(MAX_LEVEL, this.level + Math.min(3, Math.floor(Math.log2(linkLeft / encoderLeft))));
    } else if (encoderLeft > 0.8 * linkLeft) {
      this.level = Math.max(MIN_LEVEL, this.level - 1);
    }
    return this.level;
  }
}

function ewma(old: number, x: number): number {
  return old === 0 ? x : 0.6 * old + 0.4 * x;
}
