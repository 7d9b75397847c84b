/**
 * The line protocol between `mig migrate` (source) and `mig receive` (destination), over one ssh exec
 * channel each (docs/migrate.md). Every control message is one JSON object on one line; the .mig
 * stream sits between the request line and the commit line on the receiver's stdin.
 *
 *   preflight:  source → {domain, disks}            receiver → PreflightReply, exits
 *   receive:    source → ReceiveRequest               receiver → {event:"ready", resumeFrom}
 *               source → .mig bytes                   receiver → {event:"ack", frame, offset} per frame, {event:"decoded"}
 *               source → {commit:true}               receiver → {event:"running"}, {event:"stored"}, exits 0
 *   status:     source → {domain}                    receiver → {domain, state}
 * Any failure: receiver → {event:"error", code, message} and a non-zero exit. Without the commit line
 * (stdin ends first: the link or the source died) the receiver restores nothing. A resumable request
 * keeps, when the .mig ends early, the image decoded up to the last acknowledged frame (incoming/
 * <domain>.partial/); a later request with `resume` and the same id is answered with resumeFrom = the
 * .mig offset after that frame, and the source sends the 112-byte .mig header again and then the .mig
 * from that offset. resumeFrom 0: nothing to resume from, the source sends the whole .mig.
 */
import { readSomeSync, writeAllSync } from '../util/fd.js';
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
}

/** Migration ids: 16-64 lowercase hex digits (they name nothing on disk, but are checked all the same). */
export const MIGRATION_ID = /^[0-9a-f]{16,64}$/;

export type ReceiverEvent =
  | { event: 'ready'; resumeFrom: number; frame?: number }
  | { event: 'ack'; frame: number; offset: number }
  | { event: 'decoded'; imageBytes: number; seconds: number }
  | { event: 'running'; seconds: number; defined?: boolean; defineError?: string }
  | { event: 'stored'; digest: string }
  | { event: 'error'; code: string; message: string };

/** Read one line from a file descriptor without reading past it (byte by byte: the .mig follows). */
export function readLineSync(fd: number, max = 1 << 20): string | undefined {
  const b = Buffer.allocUnsafe(1);
  const bytes: number[] = [];
  for (;;) {
    const n = readSomeSync(fd, b, 0, 1);
    if (n === 0) return bytes.length ? Buffer.from(bytes).toString('utf8') : undefined;
    if (b[0] === 0x0a) return Buffer.from(bytes).toString('utf8');
    bytes.push(b[0]);
    if (bytes.length > max) throw new MigError('PROTOCOL', `control line longer than ${max} bytes`);
  }
}

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

/** Write one message line to a file descriptor, synchronously (stdout of `mig receive`). */
export function writeMessage(fd: number, msg: object): void {
  writeAllSync(fd, Buffer.from(JSON.stringify(msg) + '\n'));
}
