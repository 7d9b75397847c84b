/**
 * Entropy stage: zstd (zstd-napi, default) or deflate (fflate, pure JS) over a frame's raw bytes.
 * Decompression never trusts the payload for sizes: the frame header's raw length (already bounded
 * by the container header) is the only size, and zstd's own declared content size must equal it.
 */
import { deflateSync, inflateSync } from 'fflate';
import { compress as zstdCompress, decompress as zstdDecompress } from 'zstd-napi';

export type CodecName = 'zstd' | 'deflate';
export const CODEC_IDS: Record<CodecName, number> = { zstd: 1, deflate: 2 };
export const CODEC_BY_ID: Record<number, CodecName | undefined> = { 1: 'zstd', 2: 'deflate' };
export const DEFAULT_LEVEL: Record<CodecName, number> = { zstd: 3, deflate: 6 };

export function entropyCompress(codec: CodecName, level: number, raw: Uint8Array): Uint8Array {
  if (codec === 'zstd') return zstdCompress(raw, { compressionLevel: level });
  return deflateSync(raw, { level: level as 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 });
}

/** The content size a zstd frame header declares, or -1 when absent/unreadable (RFC 8878 §3.1.1.1). */
export function zstdContentSize(b: Uint8Array): number {
  if (b.length < 6 || b[0] !== 0x28 || b[1] !== 0xb5 || b[2] !== 0x2f || b[3] !== 0xfd) return -1;
  const fhd = b[4];
  const fcsFlag = fhd >> 6;
  const single = (fhd >> 5) & 1;
  const didSize = [0, 1, 2, 4][fhd & 3];
  let p = 5 + (single ? 0 : 1) + didSize;
  const fcsSize = fcsFlag === 0 ? (single ? 1 : 0) : [0, 2, 4, 8][fcsFlag];
  if (fcsSize === 0 || p + fcsSize > b.length) return -1;
  let v = 0;
  for (let i = fcsSize - 1; i >= 0; i--) v = v * 256 + b[p + i];
  if (fcsSize === 2) v += 256;
  return v;
}

/** Decompress to exactly rawLength bytes or throw an Error saying why (the caller adds the location). */
export function entropyDecompress(codec: CodecName, coded: Uint8Array, rawLength: number): Buffer {
  if (codec === 'zstd') {
    const declared = zstdContentSize(coded);
    if (declared !== rawLength) throw new Error(`zstd frame declares ${declared < 0 ? 'no' : declared} content bytes, header says ${rawLength}`);
    const out = zstdDecompress(coded);
    if (out.length !== rawLength) throw new Error(`zstd produced ${out.length} bytes, header says ${rawLength}`);
    return out;
  }
  const out = Buffer.alloc(rawLength);
  const got = inflateSync(coded, { out });
  if (got.length !== rawLength) throw new Error(`deflate produced ${got.length} bytes, header says ${rawLength}`);
  return out;
}
