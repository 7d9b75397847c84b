/**
 * Baselines: an image both ends hold (the VM's previous migration, or a freshly booted VM of the
 * same OS). Identified by the SHA-256 of its file; its guest frames are indexed by page hash so a
 * page of the new image that equals any baseline frame becomes a reference.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { PAGE_SIZE, isZeroPage } from '../mem/physical-memory.js';
import { openImage } from '../image/probe.js';
import type { OpenedImage } from '../image/types.js';
import { PageIndex, pageHash } from './page-index.js';

export interface Baseline {
  path: string;
  digest: Buffer;
  /** Copy baseline frame pfn into out; false when the baseline has no such frame. */
  readFrame(pfn: number, out: Buffer): boolean;
  /** A baseline frame whose bytes equal page (verified), or -1. */
  lookup(hi: number, lo: number, page: Buffer, scratch: Buffer): number;
  close(): void;
}

export function fileSha256(path: string): Buffer {
  const h = createHash('sha256');
  const fd = fs.openSync(path, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest();
}

/** Open a baseline for decoding: digest and frame reads, no index. */
export function openBaselineFrames(path: string): Baseline {
  const img: OpenedImage = openImage(path);
  const digest = fileSha256(path);
  return {
    path,
    digest,
    readFrame: (pfn, out) => img.memory.readPage(pfn, out),
    lookup: () => -1,
    close: () => img.close(),
  };
}

/** Open a baseline for encoding: digest, frame reads, and an index of its non-zero frames. */
export function openBaseline(path: string): Baseline {
  const b = openBaselineFrames(path);
  const img = openImage(path);
  const index = new PageIndex(img.memory.size / PAGE_SIZE);
  const h = new Uint32Array(2);
  img.memory.forEachPageBatch((pfn0, count, bytes) => {
    for (let i = 0; i < count; i++) {
      const off = i * PAGE_SIZE;
      if (isZeroPage(bytes, off)) continue;
      pageHash(bytes, off, h);
      index.add(h[0], h[1], pfn0 + i);
    }
  });
  img.close();
  return {
    ...b,
    lookup(hi, lo, page, scratch) {
      const f = index.get(hi, lo);
      return f >= 0 && b.readFrame(f, scratch) && scratch.equals(page) ? f : -1;
    },
  };
}
