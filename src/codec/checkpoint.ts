/**
 * Resumable decoding (docs/format/mig-v1.md, "Resuming a decode"): after every complete DATA frame the
 * decoder leaves, in a directory of its own, the image written so far (`image`), the output offset of
 * every page slot decoded so far (`slots`, f64 little-endian) and a small JSON state (`state.json`,
 * replaced atomically after the other two are written). A later decode of the same stream (same header
 * bytes, same caller id) reads the header again and then the stream from `pos` on: it cuts the image to
 * `bytesWritten`, re-hashes it for the SHA-256, and goes on at frame `frame`. Nothing in these files is
 * trusted: every field is checked against the files' sizes before it is used.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeAllSync } from '../util/fd.js';
import { fsyncDir } from '../util/sink.js';

export const CHECKPOINT_VERSION = 1;

export interface DecodeCheckpoint {
  version: number;
  /** The caller's name for the stream (mig receive: the migration id); a resume under another id is refused. */
  id: string;
  /** The stream's header bytes, hex: a resumed stream must start with the same header. */
  header: string;
  /** DATA frames complete: the index of the next frame. */
  frame: number;
  /** Stream offset just after them (where the resumed stream's frames start). */
  pos: number;
  /** Image bytes written (and kept) so far. */
  bytesWritten: number;
  /** Page slots decoded so far. */
  slot: number;
  /** Decoder cursors carried across frames (BASE/CTX deltas, CONTEXT range deltas). */
  lastBase: number;
  lastCtx: number;
  lastCtxEnd: number;
}

export const checkpointFiles = (dir: string) => ({
  image: path.join(dir, 'image'),
  slots: path.join(dir, 'slots'),
  state: path.join(dir, 'state.json'),
});

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** The checkpoint in `dir`, or undefined when there is none or it is not usable (missing files, sizes that do not add up). */
export function loadCheckpoint(dir: string): DecodeCheckpoint | undefined {
  const f = checkpointFiles(dir);
  let cp: DecodeCheckpoint;
  try {
    cp = JSON.parse(fs.readFileSync(f.state, 'utf8')) as DecodeCheckpoint;
  } catch {
    return undefined;
  }
  if (typeof cp !== 'object' || cp === null || cp.version !== CHECKPOINT_VERSION || typeof cp.id !== 'string' || typeof cp.header !== 'string') return undefined;
  for (const k of ['frame', 'pos', 'bytesWritten', 'slot', 'lastCtxEnd'] as const) if (!isCount(cp[k])) return undefined;
  for (const k of ['lastBase', 'lastCtx'] as const) if (!Number.isSafeInteger(cp[k]) || cp[k] < -1) return undefined;
  try {
    if (fs.statSync(f.image).size < cp.bytesWritten || fs.statSync(f.slots).size < cp.slot * 8) return undefined;
  } catch {
    return undefined;
  }
  return cp;
}

/** Writes checkpoints for one decode: slot offsets appended, then the state replaced (write + rename). */
export class CheckpointWriter {
  private readonly files: ReturnType<typeof checkpointFiles>;
  private readonly slotsFd: number;
  private slotsKept: number;

  constructor(readonly dir: string, resumed?: DecodeCheckpoint) {
    this.files = checkpointFiles(dir);
    this.slotsFd = fs.openSync(this.files.slots, resumed ? 'r+' : 'w', 0o600);
    this.slotsKept = resumed?.slot ?? 0;
    fs.ftruncateSync(this.slotsFd, this.slotsKept * 8);
  }

  /** Slot offsets of a resumed decode, into `into` (its first cp.slot entries). */
  static readSlots(dir: string, cp: DecodeCheckpoint, into: Float64Array): void {
    const fd = fs.openSync(checkpointFiles(dir).slots, 'r');
    try {
      const bytes = Buffer.from(into.buffer, into.byteOffset, cp.slot * 8);
      let got = 0;
      while (got < bytes.length) {
        const n = fs.readSync(fd, bytes, got, bytes.length - got, got);
        if (n === 0) throw new Error(`${checkpointFiles(dir).slots} ends at ${got} bytes`);
        got += n;
      }
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * Call after the image bytes of every complete frame are in the image file and synced (the
   * decoder's sink.sync()). Crash-safe order: the slot offsets are synced, state.json.tmp is written
   * and synced, renamed over state.json, and the directory synced, so after a crash state.json never
   * claims more than the image and slots files hold (docs/format/mig-v1.md, "Resuming a decode").
   */
  save(cp: DecodeCheckpoint, slotOffset: Float64Array): void {
    if (cp.slot > this.slotsKept) {
      const b = Buffer.from(slotOffset.buffer, slotOffset.byteOffset + this.slotsKept * 8, (cp.slot - this.slotsKept) * 8);
      let off = 0;
      while (off < b.length) off += fs.writeSync(this.slotsFd, b, off, b.length - off, this.slotsKept * 8 + off);
      this.slotsKept = cp.slot;
    }
    fs.fsyncSync(this.slotsFd);
    const tmp = `${this.files.state}.tmp`;
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      writeAllSync(fd, Buffer.from(JSON.stringify(cp)));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.files.state);
    fsyncDir(this.dir);
  }

  close(): void {
    fs.closeSync(this.slotsFd);
  }
}
