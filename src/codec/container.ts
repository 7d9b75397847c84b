/**
 * The .mig container (docs/format/mig-v1.md): a 112-byte header, DATA frames, one END frame.
 * Little-endian. Every frame carries its index and an xxh3-64 checksum of its coded payload; the
 * END frame carries the SHA-256 of the whole decoded image. This module only frames bytes; the
 * meaning of a DATA frame's raw bytes (ops) is in ops.ts.
 */
import xxhash from 'xxhash-addon';

const { XXHash3 } = xxhash;
import { MigError } from '../util/errors.js';
import { CODEC_BY_ID, CODEC_IDS, CodecName } from './entropy.js';
import type { ImageFormat } from '../image/types.js';

export const MIG_MAGIC = Buffer.from('MIGI', 'latin1');
export const MIG_VERSION = 1;
export const HEADER_SIZE = 112;
export const FRAME_HEADER_SIZE = 24;
export const FrameType = { DATA: 1, END: 2 } as const;
/** Largest raw frame a decoder accepts (the header states the encoder's own limit, ≤ this). */
export const MAX_FRAME_RAW = 64 << 20;
/**
 * Largest image a .mig of version 1 may describe (4 TiB): the decoder keeps 8 bytes per page slot
 * (1/512 of the image) to serve references to earlier slots. Larger headers are refused.
 */
export const MAX_IMAGE_BYTES = 2 ** 42;
/** END frame raw payload: u64 image bytes, u64 slots, u32 DATA frame count, u32 reserved, 32-byte SHA-256. */
export const END_PAYLOAD_SIZE = 56;

export const Flag = { CONTEXT: 1, BASELINE: 2, FREE_DROPPED: 4 } as const;
const KNOWN_FLAGS = 7;

const FORMAT_IDS: Record<ImageFormat, number> = { 'libvirt-save': 1, 'qemu-stream': 2, 'elf-dump': 3, raw: 4 };
const FORMAT_BY_ID: Record<number, ImageFormat | undefined> = { 1: 'libvirt-save', 2: 'qemu-stream', 3: 'elf-dump', 4: 'raw' };

export interface MigHeader {
  sourceFormat: ImageFormat;
  codec: CodecName;
  flags: number;
  pageSize: number;
  imageBytes: number;
  slots: number;
  contextDigest: Buffer; // 32 bytes, zero when unused
  baselineDigest: Buffer; // 32 bytes, zero when unused
  frameRawLimit: number;
}

/** A .mig that does not follow the format, or is damaged. Names the .mig file and offset. */
export class CorruptFrameError extends MigError {
  constructor(file: string, offset: number, what: string, extra: Record<string, unknown> = {}) {
    super('MIG_CORRUPT', `${file}: offset ${offset}: ${what}`, { file, offset, ...extra });
  }
}

/** XXH3-64 (seed 0) of data: the checksum of the header and of every frame (docs/format/mig-v1.md). */
export function xxh3_64(data: Uint8Array): bigint {
  return XXHash3.hash(Buffer.from(data.buffer, data.byteOffset, data.byteLength)).readBigUInt64BE(0);
}

export function encodeHeader(h: MigHeader): Buffer {
  const b = Buffer.alloc(HEADER_SIZE);
  MIG_MAGIC.copy(b, 0);
  b.writeUInt16LE(MIG_VERSION, 4);
  b.writeUInt16LE(HEADER_SIZE, 6);
  b[8] = FORMAT_IDS[h.sourceFormat];
  b[9] = CODEC_IDS[h.codec];
  b.writeUInt16LE(h.flags, 10);
  b.writeUInt32LE(h.pageSize, 12);
  b.writeBigUInt64LE(BigInt(h.imageBytes), 16);
  b.writeBigUInt64LE(BigInt(h.slots), 24);
  h.contextDigest.copy(b, 32);
  h.baselineDigest.copy(b, 64);
  b.writeUInt32LE(h.frameRawLimit, 96);
  b.writeBigUInt64LE(xxh3_64(b.subarray(0, 104)), 104);
  return b;
}

export function decodeHeader(b: Buffer, file: string): MigHeader {
  const bad = (off: number, what: string) => new CorruptFrameError(file, off, what);
  if (b.length < HEADER_SIZE) throw bad(b.length, `file ends inside the ${HEADER_SIZE}-byte header`);
  if (!b.subarray(0, 4).equals(MIG_MAGIC)) throw bad(0, 'not a .mig file (magic is not "MIGI")');
  const version = b.readUInt16LE(4);
  if (version !== MIG_VERSION) throw bad(4, `unsupported .mig version ${version} (this mig reads ${MIG_VERSION})`);
  if (b.readUInt16LE(6) !== HEADER_SIZE) throw bad(6, `header length ${b.readUInt16LE(6)} is not ${HEADER_SIZE}`);
  if (b.readBigUInt64LE(104) !== xxh3_64(b.subarray(0, 104))) throw bad(104, 'header checksum mismatch');
  const sourceFormat = FORMAT_BY_ID[b[8]];
  if (!sourceFormat) throw bad(8, `unknown source format ${b[8]}`);
  const codec = CODEC_BY_ID[b[9]];
  if (!codec) throw bad(9, `unknown codec ${b[9]}`);
  const flags = b.readUInt16LE(10);
  if (flags & ~KNOWN_FLAGS) throw bad(10, `reserved flag bits set (0x${flags.toString(16)})`);
  const pageSize = b.readUInt32LE(12);
  if (pageSize !== 4096) throw bad(12, `page size ${pageSize} (only 4096)`);
  const imageBytes64 = b.readBigUInt64LE(16);
  if (imageBytes64 > BigInt(MAX_IMAGE_BYTES)) throw bad(16, `image bytes ${imageBytes64} exceed the format's limit of ${MAX_IMAGE_BYTES} (4 TiB)`);
  const imageBytes = Number(imageBytes64);
  const slots64 = b.readBigUInt64LE(24);
  if (slots64 * BigInt(pageSize) > imageBytes64) throw bad(24, `page slots ${slots64} × ${pageSize} exceed the image's ${imageBytes} bytes`);
  const slots = Number(slots64);
  // A digest whose flag is clear is not used: it must be zero, like a reserved field.
  const contextDigest = Buffer.from(b.subarray(32, 64));
  if (!(flags & Flag.CONTEXT) && contextDigest.some((x) => x !== 0)) throw bad(32, 'context digest set but flag 0 (context used) is clear');
  const baselineDigest = Buffer.from(b.subarray(64, 96));
  if (!(flags & Flag.BASELINE) && baselineDigest.some((x) => x !== 0)) throw bad(64, 'baseline digest set but flag 1 (baseline used) is clear');
  const frameRawLimit = b.readUInt32LE(96);
  if (frameRawLimit < 4096 + 16 || frameRawLimit > MAX_FRAME_RAW) throw bad(96, `frame size limit ${frameRawLimit} out of range`);
  if (b.readUInt32LE(100) !== 0) throw bad(100, 'reserved field is not zero');
  return {
    sourceFormat, codec, flags, pageSize, imageBytes, slots,
    contextDigest, baselineDigest, frameRawLimit,
  };
}

export function encodeFrameHeader(type: number, index: number, rawLength: number, coded: Uint8Array): Buffer {
  const h = Buffer.alloc(FRAME_HEADER_SIZE);
  h[0] = type;
  h.writeUInt32LE(rawLength, 4);
  h.writeUInt32LE(coded.length, 8);
  h.writeUInt32LE(index, 12);
  h.writeBigUInt64LE(xxh3_64(coded), 16);
  return h;
}

export interface FrameHeader {
  type: number;
  rawLength: number;
  codedLength: number;
  index: number;
  checksum: bigint;
}

/** Parse and check a frame header against the container header's limits. */
export function decodeFrameHeader(b: Buffer, file: string, offset: number, header: MigHeader, expectIndex: number): FrameHeader {
  const bad = (off: number, what: string) => new CorruptFrameError(file, offset + off, what);
  const type = b[0];
  if (type !== FrameType.DATA && type !== FrameType.END) throw bad(0, `unknown frame type ${type}`);
  if (b[1] !== 0 || b.readUInt16LE(2) !== 0) throw bad(1, 'reserved frame bits set');
  const rawLength = b.readUInt32LE(4);
  const codedLength = b.readUInt32LE(8);
  const index = b.readUInt32LE(12);
  if (index !== expectIndex) throw bad(12, `frame ${index} where frame ${expectIndex} belongs (frames reordered, lost or duplicated)`);
  if (rawLength > header.frameRawLimit) throw bad(4, `frame raw length ${rawLength} exceeds the header's limit ${header.frameRawLimit}`);
  if (type === FrameType.END && rawLength !== END_PAYLOAD_SIZE) throw bad(4, `END frame raw length ${rawLength} is not ${END_PAYLOAD_SIZE}`);
  // The END payload is stored, not coded: its coded length is its raw length (checked before it is read).
  if (type === FrameType.END && codedLength !== END_PAYLOAD_SIZE) throw bad(8, `END frame coded length ${codedLength} is not ${END_PAYLOAD_SIZE} (the END payload is stored)`);
  if (codedLength > rawLength + (rawLength >> 3) + 1024) throw bad(8, `coded length ${codedLength} is implausible for ${rawLength} raw bytes`);
  return { type, rawLength, codedLength, index, checksum: b.readBigUInt64LE(16) };
}
