/**
 * Page slots: where an image file holds whole 4 KiB pages of memory. Every container mig reads is
 * "verbatim bytes + page slots": the bytes between slots (headers, XML, record headers, device
 * state, notes) plus the 4096-byte slots, in file order, are the file. This is the view the codec
 * works on — it codes slot contents by page type and keeps the bytes between them as structure — and
 * the decoder mirrors it: structure bytes and decoded slots, written in order, are the image.
 */
import { PAGE_SIZE } from '../mem/physical-memory.js';

export interface PageSlots {
  count: number;
  /** File offset of each slot's 4096 bytes; ascending and non-overlapping. */
  fileOffset: Float64Array;
  /**
   * The guest page frame whose content the slot holds (the physical-memory view returns the same
   * bytes for it), or -1 when the slot is not part of the view: device RAM (pc.bios, vga.vram) or
   * an earlier copy of a page that the stream sent again later.
   */
  pfn: Float64Array;
}

/** Slots for `n` consecutive pages of one contiguous file run backing consecutive frames from pfn0. */
export function linearSlots(runs: { fileOffset: number; pages: number; pfn0: number }[]): PageSlots {
  const count = runs.reduce((s, r) => s + r.pages, 0);
  const fileOffset = new Float64Array(count);
  const pfn = new Float64Array(count);
  let k = 0;
  for (const r of [...runs].sort((a, b) => a.fileOffset - b.fileOffset)) {
    for (let i = 0; i < r.pages; i++, k++) {
      fileOffset[k] = r.fileOffset + i * PAGE_SIZE;
      pfn[k] = r.pfn0 < 0 ? -1 : r.pfn0 + i;
    }
  }
  return { count, fileOffset, pfn };
}
