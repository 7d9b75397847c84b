/**
 * The golden .mig corpus (test/golden, docs/format/mig-v1.md "Golden files"): where it lives, what its
 * expectation files say, and a plain walker over a .mig's frames and ops that the generator
 * (make-golden.ts) and the test (test/unit/codec/golden.test.ts) share. The walker follows the spec's
 * tables, not the decoder: it only lists what a file holds (frames, op kinds, PATCH sources).
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FRAME_HEADER_SIZE, FrameType, HEADER_SIZE, xxh3_64 } from '../../src/codec/container.js';
import { CODEC_BY_ID, CodecName, entropyCompress, entropyDecompress } from '../../src/codec/entropy.js';
import { Op, OpReader } from '../../src/codec/ops.js';
import { Src } from '../../src/codec/subpage.js';

/** test/golden in the source tree (this file runs from dist/test/helpers). */
export const GOLDEN_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/golden');

/** ok/NAME.json: what NAME.mig decodes to. Paths are relative to test/golden. */
export interface GoldenOk {
  description: string;
  /** Source format and entropy codec the header names. */
  format: string;
  codec: CodecName;
  /** Header flags by name: context, baseline, free-dropped. */
  flags: string[];
  baseline?: string;
  context?: string;
  /** The decoded image: size, page slots, frames (DATA + END), SHA-256. */
  imageBytes: number;
  slots: number;
  frames: number;
  sha256: string;
  /** Op kinds (Op names) and PATCH sources (`PATCH.<Src name>`) the file holds, sorted. */
  ops: string[];
}

/** err/NAME.json: the error decoding NAME.mig must raise. */
export interface GoldenErr {
  description: string;
  /** The ok file it was made from. */
  from: string;
  baseline?: string;
  context?: string;
  code: string;
  /** The .mig offset the error names (data.offset), or null for errors about the inputs (no offset). */
  offset: number | null;
  /** The input merely ended early (data.truncated): what a resumable decode keeps its checkpoint for. */
  truncated?: boolean;
}

export interface FrameInfo {
  /** Offset of the 24-byte frame header. */
  at: number;
  type: number;
  rawLength: number;
  codedLength: number;
  index: number;
  payloadAt: number;
}

/** The frames of a well-formed .mig, in order (the last is END). */
export function frames(mig: Buffer): FrameInfo[] {
  const out: FrameInfo[] = [];
  for (let at = HEADER_SIZE; at + FRAME_HEADER_SIZE <= mig.length;) {
    const codedLength = mig.readUInt32LE(at + 8);
    out.push({ at, type: mig[at], rawLength: mig.readUInt32LE(at + 4), codedLength, index: mig.readUInt32LE(at + 12), payloadAt: at + FRAME_HEADER_SIZE });
    if (mig[at] === FrameType.END) break;
    at += FRAME_HEADER_SIZE + codedLength;
  }
  return out;
}

export const codecOf = (mig: Buffer): CodecName => CODEC_BY_ID[mig[9]]!;

/** A DATA frame's two raw streams. */
export function frameStreams(mig: Buffer, f: FrameInfo): { ops: Buffer; lits: Buffer } {
  const p = mig.subarray(f.payloadAt, f.payloadAt + f.codedLength);
  const opsRaw = p.readUInt32LE(0);
  const opsCoded = p.readUInt32LE(4);
  const litRaw = p.readUInt32LE(8);
  const codec = codecOf(mig);
  const ops = opsRaw || opsCoded ? entropyDecompress(codec, p.subarray(16, 16 + opsCoded), opsRaw) : Buffer.alloc(0);
  const lits = litRaw ? entropyDecompress(codec, p.subarray(16 + opsCoded), litRaw) : Buffer.alloc(0);
  return { ops, lits };
}

const OP_NAME = new Map<number, string>(Object.entries(Op).map(([k, v]) => [v, k]));
const SRC_NAME = new Map<number, string>(Object.entries(Src).map(([k, v]) => [v, k]));

/** Every op kind and PATCH source a .mig holds (`PATCH.HISTORY` etc.), sorted. */
export function opKinds(mig: Buffer): string[] {
  const seen = new Set<string>();
  for (const f of frames(mig)) {
    if (f.type !== FrameType.DATA) continue;
    const r = new OpReader(frameStreams(mig, f).ops, (off, what) => new Error(`frame ${f.index} op byte ${off}: ${what}`));
    while (!r.done) {
      const op = r.u8();
      const name = OP_NAME.get(op);
      if (!name) throw new Error(`frame ${f.index}: unknown op 0x${op.toString(16)}`);
      seen.add(name);
      switch (op) {
        case Op.BYTES: r.bytes(r.varint()); break;
        case Op.ZERO: case Op.DUP: case Op.BASE: case Op.BASE_RUN: case Op.CTX: case Op.CTX_RUN: r.varint(); break;
        case Op.LIT: break;
        case Op.PATCH:
          for (let n = r.varint(); n > 0; n--) {
            r.varint();
            if (r.varint() === 0) continue;
            const src = r.u8();
            seen.add(`PATCH.${SRC_NAME.get(src) ?? src}`);
            r.varint();
            if (src === Src.HISTORY || src === Src.BASELINE_AT) r.varint();
          }
          break;
      }
    }
  }
  return [...seen].sort();
}

/** Every name opKinds can report: each op and each PATCH source of the format. */
export const ALL_OP_KINDS = [...Object.keys(Op), ...Object.keys(Src).map((s) => `PATCH.${s}`)].sort();

/** Re-seal the header checksum (bytes 0–103 → 104) after a header field was changed. */
export function resealHeader(mig: Buffer): Buffer {
  mig.writeBigUInt64LE(xxh3_64(mig.subarray(0, 104)), 104);
  return mig;
}

/** Re-seal a frame's payload checksum after its payload was changed in place. */
export function resealFrame(mig: Buffer, f: FrameInfo): Buffer {
  mig.writeBigUInt64LE(xxh3_64(mig.subarray(f.payloadAt, f.payloadAt + f.codedLength)), f.at + 16);
  return mig;
}

/**
 * Replace a DATA frame's raw streams (re-coded with the file's codec, lengths and checksum
 * re-sealed): what a writer who knows the format can do to any .mig.
 */
export function rewriteFrame(mig: Buffer, f: FrameInfo, edit: (s: { ops: Buffer; lits: Buffer }) => { ops: Buffer; lits: Buffer }): Buffer {
  const { ops, lits } = edit(frameStreams(mig, f));
  const codec = codecOf(mig);
  const opsCoded = Buffer.from(entropyCompress(codec, 1, ops));
  const litCoded = lits.length ? Buffer.from(entropyCompress(codec, 1, lits)) : Buffer.alloc(0);
  const prefix = Buffer.alloc(16);
  prefix.writeUInt32LE(ops.length, 0);
  prefix.writeUInt32LE(opsCoded.length, 4);
  prefix.writeUInt32LE(lits.length, 8);
  prefix.writeUInt32LE(litCoded.length, 12);
  const payload = Buffer.concat([prefix, opsCoded, litCoded]);
  const fh = Buffer.from(mig.subarray(f.at, f.payloadAt));
  fh.writeUInt32LE(16 + ops.length + lits.length, 4);
  fh.writeUInt32LE(payload.length, 8);
  fh.writeBigUInt64LE(xxh3_64(payload), 16);
  return Buffer.concat([mig.subarray(0, f.at), fh, payload, mig.subarray(f.payloadAt + f.codedLength)]);
}
