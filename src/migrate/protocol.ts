/**
 * The line protocol between `mig migrate` (source) and `mig receive` (destination), over one ssh exec
 * channel each (docs/migrate.md). Every control message is one JSON object on one line; the .mig
 * stream sits between the request line and the commit line on the receiver's stdin.
 *
 *   preflight:  source → {domain, disks}            receiver → PreflightReply, exits
 *   receive:    source → {preflight: PreflightRequest} receiver → PreflightReply (optional first exchange)
 *               source → ReceiveRequest               receiver → {event:"ready", resumeFrom}
 *               source → .mig bytes                   receiver → {event:"ack", frame, offset} per frame, {event:"decoded"}
 *               source → {commit:true}               receiver → {event:"running"}, {event:"stored"}, exits 0
 *   status:     source → {domain}                    receiver → {domain, state}
 * Any failure: receiver → {event:"error", code, message} and a non-zero exit. Without the commit line
 * (stdin ends first: the link or the source died) the receiver restores nothing. A resumable request
 * keeps, when the .mig ends early, the image decoded up to the last acknowledged frame (incoming/
 * <domain>.partial/); a later request with `resume` and the same id is answered with resumeFrom = the
 * .mig offset after that frame, and the source sends the 112-byte .mig header again and then the .mig
 * from that offset. resumeFrom 0: nothing to resume from, the source sends the whole .mig.
 *
 * This file does no I/O (house style 11, like ssh2's lib/protocol/Protocol.js): `LineFramer` turns
 * bytes into lines, `parseMessage`/`encodeMessage` turn lines into messages and back, and
 * `ReceiverEventParser` is the source's parser of the receiver's output. The callers own the I/O:
 * `control-fd.ts` (the receiver's stdin/stdout, the encoder child's stdin) and `receiver-events.ts`
 * (the source's ssh channel).
 */
import { MigError } from '../util/errors.js';

export const PROTOCOL_VERSION = 2;

export interface PreflightRequest {
  domain: string;
  disks: string[];
  /** Build (or reuse) the domain's context from these disks and say its digest (state/auto-context.ts). */
  autoContext?: boolean;
}

/** The destination's context from the domain's disks, or why it has none. */
export type AutoContextReply = { digest: string; files: number; bytes: number; seconds: number; reused: boolean; disk: string } | { error: string };

export interface PreflightReply {
  protocol: number;
  migVersion: string;
  hostname: string;
  stateDir: string;
  contexts: string[];
  baselines: { digest: string; latestFor: string[]; blankFor: string[] }[];
  disksMissing: string[];
  domainState: string;
  /** When the request asked for it. */
  autoContext?: AutoContextReply;
}

export interface ReceiveRequest {
  domain: string;
  /** SHA-256 of the baseline the .mig was encoded against, or null. */
  baseline: string | null;
  /** Content digest of the context, or null. */
  context: string | null;
  /** The source's name for this migration (hex): a resume must name the same one. */
  id: string;
  /** Keep what was received when the link dies, for a resume. */
  resumable?: boolean;
  /** Continue an interrupted receive of migration `id`. */
  resume?: boolean;
  /** The domain's persistent definition on the source (inactive XML), to define on the destination after the restore; absent for a transient domain. */
  persistentXml?: string;
  /**
   * Restore while decoding (not with `resumable`): libvirt restores the domain paused from the image
   * as it is decoded; "decoded" then means decoded, verified and restored paused, and the commit
   * only resumes it. A receiver that does not know the field restores after the commit, as before.
   */
  streamRestore?: boolean;
}

/** Migration ids: 16-64 lowercase hex digits (they name nothing on disk, but are checked all the same). */
export const MIGRATION_ID = /^[0-9a-f]{16,64}$/;

export type ReceiverEvent =
  | { event: 'ready'; resumeFrom: number; frame?: number }
  | { event: 'ack'; frame: number; offset: number }
  | { event: 'decoded'; imageBytes: number; seconds: number; restored?: 'paused' }
  | { event: 'running'; seconds: number; defined?: boolean; defineError?: string }
  | { event: 'stored'; digest: string }
  | { event: 'error'; code: string; message: string };

/** Longest control line accepted (a preflight reply lists every baseline and context: generous). */
export const MAX_LINE = 1 << 20;

/**
 * Bytes → lines, for either end: push bytes in whatever chunks they arrive; a line is complete at
 * its newline ("\n", not part of the line) and decoded as UTF-8 only then, so a chunk boundary inside
 * a character does not garble it. Refuses a line longer than `maxLine` bytes.
 */
export class LineFramer {
  private parts: Buffer[] = [];
  private size = 0;

  constructor(readonly maxLine = MAX_LINE) {}

  /**
   * Take bytes from `chunk` (from `start`) up to and including the first newline. Returns how many
   * bytes were taken and the line when one completed; without a newline all are taken and kept.
   * A caller that must not read past a line (the .mig follows it) stops at the first line.
   */
  next(chunk: Uint8Array, start = 0): { consumed: number; line?: string } {
    const nl = chunk.indexOf(0x0a, start);
    const end = nl < 0 ? chunk.length : nl;
    this.keep(chunk.subarray(start, end));
    if (nl < 0) return { consumed: chunk.length - start };
    return { consumed: nl + 1 - start, line: this.take() };
  }

  /** All lines completed by `chunk`, in order; a partial last line waits for the next chunk. */
  push(chunk: Uint8Array): string[] {
    const lines: string[] = [];
    for (let at = 0; at < chunk.length;) {
      const r = this.next(chunk, at);
      at += r.consumed;
      if (r.line !== undefined) lines.push(r.line);
    }
    return lines;
  }

  /** End of the stream: the unterminated last line, if any bytes of one are held. */
  end(): string | undefined {
    return this.size > 0 ? this.take() : undefined;
  }

  private keep(b: Uint8Array): void {
    if (b.length === 0) return;
    if (this.size + b.length > this.maxLine) {
      this.parts = [];
      this.size = 0;
      throw new MigError('PROTOCOL', `control line longer than ${this.maxLine} bytes`);
    }
    this.parts.push(Buffer.from(b));
    this.size += b.length;
  }

  private take(): string {
    const s = Buffer.concat(this.parts, this.size).toString('utf8');
    this.parts = [];
    this.size = 0;
    return s;
  }
}

/** One control line → the message object (undefined line: the other end closed the stream). */
export function parseMessage<T>(line: string | undefined, what: string): T {
  if (line === undefined) throw new MigError('PROTOCOL', `${what}: the other end closed the stream`);
  try {
    const v = JSON.parse(line) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as T;
  } catch (e) {
    throw new MigError('PROTOCOL', `${what}: not a protocol message: ${JSON.stringify(line.slice(0, 200))}`);
  }
}

/** A message → its control line, newline included. */
export function encodeMessage(msg: object): Buffer {
  return Buffer.from(JSON.stringify(msg) + '\n');
}

type FieldType = 'number' | 'string' | 'boolean';
/** Each event's fields: name → type; a trailing "?" marks an optional one. */
const EVENT_FIELDS: Record<ReceiverEvent['event'], Record<string, FieldType>> = {
  ready: { resumeFrom: 'number', 'frame?': 'number' },
  ack: { frame: 'number', offset: 'number' },
  decoded: { imageBytes: 'number', seconds: 'number', 'restored?': 'string' },
  running: { seconds: 'number', 'defined?': 'boolean', 'defineError?': 'string' },
  stored: { digest: 'string' },
  error: { code: 'string', message: 'string' },
};

/**
 * One line of the receiver's output → its event. A line that is not JSON at all is not ours (a
 * shell's or node's stray output): undefined, and the caller keeps it as diagnostics. JSON that is
 * not a well-formed event (unknown event, a field missing or of the wrong type) is a protocol error.
 */
export function parseReceiverEvent(line: string): ReceiverEvent | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  const bad = (why: string) => new MigError('PROTOCOL', `the destination sent ${why}: ${JSON.stringify(line.slice(0, 200))}`);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('a line that is not a protocol message');
  const m = v as Record<string, unknown>;
  const name = m.event;
  if (typeof name !== 'string' || !Object.hasOwn(EVENT_FIELDS, name)) throw bad(typeof name === 'string' ? `an unknown event "${name}"` : 'a message without an event');
  for (const [key, type] of Object.entries(EVENT_FIELDS[name as ReceiverEvent['event']])) {
    const optional = key.endsWith('?');
    const field = optional ? key.slice(0, -1) : key;
    const x = m[field];
    if (x === undefined && optional) continue;
    if (typeof x !== type || (type === 'number' && !Number.isFinite(x))) throw bad(`"${name}" with ${x === undefined ? 'no' : 'a bad'} ${field}`);
  }
  return m as ReceiverEvent;
}

/**
 * The source's parser of what `mig receive` writes on its stdout: bytes in (any chunking), events
 * and stray text lines out, in order. No I/O: receiver-events.ts feeds it from the ssh channel.
 * Throws MigError PROTOCOL on a malformed event or an over-long line.
 */
export class ReceiverEventParser {
  private framer: LineFramer;

  constructor(maxLine = MAX_LINE) {
    this.framer = new LineFramer(maxLine);
  }

  parse(chunk: Uint8Array): ({ event: ReceiverEvent } | { text: string })[] {
    return this.framer.push(chunk).map((line) => {
      const event = parseReceiverEvent(line);
      return event ? { event } : { text: line };
    });
  }
}
