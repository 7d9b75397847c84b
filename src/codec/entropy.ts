/**
 * Entropy stage: zstd (zstd-napi, default) or deflate (fflate, pure JS) over a frame's raw bytes.
 * Decompression never trusts the payload for sizes: the frame header's raw length (already bounded
 * by the container header) is the only size; output goes into a buffer of that length and a stream
 * that would produce more, or less, is an error. zstd's declared content size must equal it too.
 */
import { deflateSync } from 'fflate';
import { inflateRawSync } from 'node:zlib';
import zstdBinding from 'zstd-napi/binding.js';

const { CCtx, CParameter, compressBound, DCtx, getFrameContentSize, ResetDirective } = zstdBinding;

export type CodecName = 'zstd' | 'deflate';
export const CODEC_IDS: Record<CodecName, number> = { zstd: 1, deflate: 2 };
export const CODEC_BY_ID: Record<number, CodecName | undefined> = { 1: 'zstd', 2: 'deflate' };
export const DEFAULT_LEVEL: Record<CodecName, number> = { zstd: 3, deflate: 6 };

/** One compression context per thread, reused; its level is set when it changes. */
let cctx: InstanceType<typeof CCtx> | undefined;
let cctxLevel = NaN;

/**
 * One zstd frame of `raw` (ZSTD_compress2: content size in the frame header, checksum off) written
 * into `dest`, which must hold compressBound(raw.length) bytes; returns its length. Into the caller's
 * buffer (a worker's shared result buffer) instead of a new one trimmed by a copy.
 */
export function zstdCompressInto(level: number, raw: Uint8Array, dest: Uint8Array): number {
  cctx ??= new CCtx();
  if (cctxLevel !== level) {
    cctx.setParameter(CParameter.compressionLevel, level);
    cctxLevel = level;
  }
  return cctx.compress2(dest, raw);
}

export const zstdBound = (n: number): number => compressBound(n);

export function entropyCompress(codec: CodecName, level: number, raw: Uint8Array): Uint8Array {
  if (codec === 'zstd') {
    const dest = Buffer.allocUnsafe(compressBound(raw.length));
    return dest.subarray(0, zstdCompressInto(level, raw, dest));
  }
  return deflateSync(raw, { level: level as 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 });
}

/** One decompression context per thread, reused (reset before every stream). */
let dctx: InstanceType<typeof DCtx> | undefined;

/**
 * Decompress one zstd frame into exactly rawLength bytes, streaming into a buffer of that size: the
 * frame header's declared content size must be rawLength, the frame must end exactly at the end of
 * `coded` (no second frame, no skippable frame, no trailing bytes) and must not produce a byte more.
 * Nothing is sized from the payload (the one-shot API sums the declared sizes of every frame in it).
 */
function zstdDecompressExactly(coded: Uint8Array, rawLength: number, dest?: Uint8Array): Buffer {
  let declared: number | null;
  try {
    declared = getFrameContentSize(coded);
  } catch (e) {
    throw new Error(`not a zstd frame (${(e as Error).message})`);
  }
  if (declared !== rawLength) throw new Error(`zstd frame declares ${declared === null ? 'no' : declared} content bytes, header says ${rawLength}`);
  dctx ??= new DCtx();
  dctx.reset(ResetDirective.sessionOnly);
  const out = dest ? Buffer.from(dest.buffer, dest.byteOffset, rawLength) : Buffer.allocUnsafe(rawLength);
  const probe = Buffer.allocUnsafe(1);
  let inPos = 0;
  let outPos = 0;
  for (;;) {
    // Once rawLength bytes are out, a 1-byte probe buffer catches any byte more.
    const dst = outPos < rawLength ? out.subarray(outPos) : probe;
    const [left, produced, consumed] = dctx.decompressStream(dst, coded.subarray(inPos));
    if (dst === probe && produced > 0) throw new Error(`zstd frame produces more than the ${rawLength} bytes the header says`);
    outPos += dst === probe ? 0 : produced;
    inPos += consumed;
    if (left === 0) break; // the frame is complete
    if (produced === 0 && consumed === 0) throw new Error(`zstd frame is truncated after ${outPos} of ${rawLength} bytes`);
  }
  if (inPos !== coded.length) throw new Error(`${coded.length - inPos} bytes follow the zstd frame (one frame per stream)`);
  if (outPos !== rawLength) throw new Error(`zstd produced ${outPos} bytes, header says ${rawLength}`);
  return out;
}

/**
 * Decompress to exactly rawLength bytes or throw an Error saying why (the caller adds the location).
 * With `dest` (at least rawLength bytes) the result is written there and returned as a view of it.
 */
export function entropyDecompress(codec: CodecName, coded: Uint8Array, rawLength: number, dest?: Uint8Array): Buffer {
  if (dest && dest.byteLength < rawLength) throw new Error(`internal: a ${dest.byteLength}-byte buffer for ${rawLength} decompressed bytes`);
  if (codec === 'zstd') return zstdDecompressExactly(coded, rawLength, dest);
  const r = inflateExactly(coded, rawLength);
  if (!dest) return r;
  dest.set(r);
  return Buffer.from(dest.buffer, dest.byteOffset, rawLength);
}

/**
 * Inflate one raw DEFLATE stream (RFC 1951; fflate writes it, node:zlib reads it) into exactly
 * rawLength bytes: output capped at one byte more than that, and the stream must end exactly at the
 * end of `coded` (zlib reports the input bytes it consumed; a stream followed by other bytes is refused).
 */
function inflateExactly(coded: Uint8Array, rawLength: number): Buffer {
  let r: { buffer: Buffer; engine: { bytesWritten: number } };
  try {
    r = inflateRawSync(coded, { info: true, maxOutputLength: rawLength + 1 }) as unknown as typeof r;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new Error(`deflate produces more than the ${rawLength} bytes the header says`);
    throw new Error(`not a complete deflate stream (${(e as Error).message})`);
  }
  if (r.buffer.length !== rawLength) throw new Error(`deflate produced ${r.buffer.length} bytes, header says ${rawLength}`);
  if (r.engine.bytesWritten !== coded.length) throw new Error(`${coded.length - r.engine.bytesWritten} bytes follow the deflate stream (one stream per frame)`);
  return r.buffer;
}
