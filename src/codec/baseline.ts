/**
 * Baselines: an image both ends hold (the VM's previous migration, or a freshly booted VM of the
 * same OS). Identified by the SHA-256 of its file; its guest frames are indexed by page hash so a
 * page of the new image that equals any baseline frame becomes a reference.
 */
import { fileSha256 } from '../util/hash.js';
import { PAGE_SIZE, isZeroPage } from '../mem/physical-memory.js';
import { openImage } from '../image/probe.js';
import type { OpenedImage } from '../image/types.js';
import { PageIndex, pageHash } from './page-index.js';
import { AnchorTable, anchors } from './fingerprint.js';
import { TUNING } from './subpage.js';

export interface Baseline {
  path: string;
  digest: Buffer;
  /** Copy baseline frame pfn into out; false when the baseline has no such frame. */
  readFrame(pfn: number, out: Buffer): boolean;
  /** A baseline frame whose bytes equal page (verified), or -1. */
  lookup(hi: number, lo: number, page: Buffer, scratch: Buffer): number;
  /** Sub-page anchors of the baseline's pages (frame·4096 + offset), when opened with `anchorBudget`. */
  anchors?: AnchorTable;
  close(): void;
}

/**
 * Open a baseline for decoding: digest and frame reads; with `indexed`, also a page-hash index
 * (encoding). `knownDigest`: the file's SHA-256 as the baseline store recorded it (the file unchanged
 * since, by its stat), instead of reading and hashing the whole file again.
 */
export function openBaseline(path: string, indexed = true, anchorBudget = 0, knownDigest?: Buffer): Baseline {
  const img: OpenedImage = openImage(path);
  try {
    const digest = knownDigest ?? fileSha256(path);
    const readFrame = (pfn: number, out: Buffer) => img.memory.readPage(pfn, out);
    let lookup: Baseline['lookup'] = () => -1;
    let baseAnchors: AnchorTable | undefined;
    if (indexed) {
      // Sized by what the file can hold, not by the view (a zero-fill tail can make that 1 TiB); it grows.
      const index = new PageIndex(Math.min(img.memory.size, img.fileSize) / PAGE_SIZE);
      const h = new Uint32Array(2);
      const table = anchorBudget > 0 ? new AnchorTable(anchorBudget) : undefined;
      const apos = new Int32Array(PAGE_SIZE);
      const ahash = new Uint32Array(PAGE_SIZE);
      img.memory.forEachPageBatch((pfn0, count, bytes) => {
        for (let i = 0; i < count; i++) {
          const off = i * PAGE_SIZE;
          if (isZeroPage(bytes, off)) continue;
          pageHash(bytes, off, h);
          index.add(h[0], h[1], pfn0 + i);
          if (table) {
            const n = anchors(bytes, off, PAGE_SIZE, TUNING.baselineAnchorBits, apos, ahash);
            const at = (pfn0 + i) * PAGE_SIZE;
            for (let a = 0; a < n; a++) table.put(ahash[a], at + apos[a]);
          }
        }
      }, undefined, () => undefined); // known-zero runs (ELF zero-fill tails) are not indexed, nor read
      baseAnchors = table;
      lookup = (hi, lo, page, scratch) => {
        const f = index.get(hi, lo);
        return f >= 0 && readFrame(f, scratch) && scratch.equals(page) ? f : -1;
      };
    }
    return { path, digest, readFrame, lookup, anchors: baseAnchors, close: () => img.close() };
  } catch (e) {
    img.close();
    throw e;
  }
}
