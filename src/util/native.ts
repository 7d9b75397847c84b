/**
 * mig-native (native/): the one native addon, built from source by `npm ci`. Its functions, typed;
 * the modules that use them (util/mmap.ts, codec/subpage.ts) say what they are for.
 */
import { createRequire } from 'node:module';

export interface Native {
  mapFile(fd: number, offset: number, length: number, populate?: boolean): ArrayBuffer;
  /** Clear (true) or set O_NONBLOCK on fd. */
  setBlocking(fd: number, blocking: boolean): void;
  matcherCreate(
    params: Int32Array,
    ctx: Buffer | null,
    ctxKeys: Uint32Array | null,
    ctxVals: Float64Array | null,
    histKeys: Uint32Array | null,
    histVals: Float64Array | null,
    windows: Buffer[] | null,
    window: number,
    fileOffset: Float64Array | null,
    baseKeys: Uint32Array | null,
    baseVals: Float64Array | null,
    bcache: Buffer | null,
    readFrame: ((frame: number, cacheSlot: number) => boolean) | null,
    segLit: Int32Array,
    segLen: Int32Array,
    segSrc: Uint8Array,
    segOff: Float64Array,
    info: Int32Array,
  ): object;
  matcherMatch(m: object, page: Uint8Array, sameFrame: Uint8Array | null, frame: number): number;
  matcherRemember(m: object, k: number): void;
}

export const native = createRequire(import.meta.url)('mig-native') as Native;
