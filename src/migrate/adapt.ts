/**
 * `mig migrate --level auto`: the entropy level follows the link, as zstd's `--adapt` does. The
 * encoder child writes the .mig into the spool and the sender drains it into the link; the bytes
 * between the two (the backlog) say which of them is slower:
 *   - the backlog holds more than ~1 s of what the link moves: the link is the bottleneck, and CPU
 *     is free to spend on fewer bytes: up, by 1 + ⌊log2(seconds queued)⌋ levels (at most 4), so that
 *     a link far behind (10 Mbps: the encoder is done in seconds, the link takes a minute) gets the
 *     top effort while frames are still being coded;
 *   - under ~0.25 s queued: the link is about to wait for the encoder: one level down; nothing
 *     queued (it waits already): three down;
 *   - in between: hold.
 * One decision per tick (TICK_MS), so a level has time to show its effect (frames in flight are
 * coded at the level they were submitted with). The policy is a pure function of what it is told (tested on
 * its own); the driver in migrate.ts measures and tells the encoder child through a level file it
 * reads before each frame (encode-child.ts).
 */

export const TICK_MS = 250;
export const MIN_LEVEL = 1;
export const MAX_LEVEL = 19;
/** Where an automatic migration starts: the default effort. */
export const START_LEVEL = 3;

export class LevelController {
  level = START_LEVEL;
  /** The link's bytes per second while it had something to send (EWMA), 0 until measured. */
  private rate = 0;

  /**
   * One tick: `backlog` bytes encoded and not yet sent, `sent` bytes sent during the last `dt`
   * seconds, `encoderDone` when the encoder has finished (nothing left to decide). Returns the level
   * for the next frames.
   */
  tick(backlog: number, sent: number, dt: number, encoderDone: boolean): number {
    if (encoderDone || dt <= 0) return this.level;
    // The link's rate only counts while it was never starved (a backlog left at the tick's end).
    if (backlog > 0 && sent > 0) {
      const r = sent / dt;
      this.rate = this.rate === 0 ? r : 0.7 * this.rate + 0.3 * r;
    }
    if (this.rate === 0) {
      // The link's rate is unknown until it had more than it could send: everything sent (the link
      // waited) is a step down; nothing sent yet (the channel opening, the save) holds.
      if (sent > 0 && backlog === 0) this.level = Math.max(MIN_LEVEL, this.level - 1);
      return this.level;
    }
    const ahead = backlog / this.rate;
    if (ahead > 1) this.level = Math.min(MAX_LEVEL, this.level + Math.min(4, 1 + Math.floor(Math.log2(ahead))));
    else if (backlog === 0) this.level = Math.max(MIN_LEVEL, this.level - 3);
    else if (ahead < 0.25) this.level = Math.max(MIN_LEVEL, this.level - 1);
    return this.level;
  }
}
