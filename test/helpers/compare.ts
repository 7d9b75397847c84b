/** Helpers comparing images: rebuild digests and page agreement between two physical-memory views. */
import { createHash } from 'node:crypto';
import { fileSha256 } from '../../src/util/hash.js';
import * as fs from 'node:fs';
import { PAGE_SIZE, PhysicalMemory } from '../../src/mem/physical-memory.js';
import type { OpenedImage } from '../../src/image/types.js';

export function sha256File(path: string): string {
  return fileSha256(path).toString('hex');
}

/** SHA-256 and length of what rebuild() writes. */
export function rebuildDigest(img: OpenedImage): { sha256: string; bytes: number } {
  const h = createHash('sha256');
  let bytes = 0;
  img.rebuild({
    write(chunk) {
      h.update(chunk);
      bytes += chunk.length;
    },
  });
  return { sha256: h.digest('hex'), bytes };
}

export interface Agreement {
  compared: number;
  equal: number;
  /** First few differing PFNs. */
  differing: number[];
}

/** Compare every page both views hold, skipping PFNs for which skip(pfn) is true. */
export function comparePages(a: PhysicalMemory, b: PhysicalMemory, skip: (pfn: number) => boolean = () => false): Agreement {
  const other = Buffer.allocUnsafe(PAGE_SIZE);
  const r: Agreement = { compared: 0, equal: 0, differing: [] };
  a.forEachPageBatch((pfn0, count, bytes) => {
    for (let i = 0; i < count; i++) {
      const pfn = pfn0 + i;
      if (skip(pfn) || !b.readPage(pfn, other)) continue;
      r.compared++;
      if (other.compare(bytes, i * PAGE_SIZE, (i + 1) * PAGE_SIZE) === 0) r.equal++;
      else if (r.differing.length < 16) r.differing.push(pfn);
    }
  });
  return r;
}

/** Legacy VGA/option-ROM/BIOS window 0xA0000–0xFFFFF: RAM in a save image, ROM/MMIO aliases in an ELF dump. */
export const isLegacyHole = (pfn: number) => pfn >= 0xa0 && pfn < 0x100;

/**
 * Check an image's page slots against its file and memory view: ascending, non-overlapping, inside
 * the file; each slot mapped to a frame holds exactly that frame's bytes; no frame mapped twice.
 * Returns a list of problems (empty = consistent) and counts.
 */
export function verifySlots(img: OpenedImage): { problems: string[]; slots: number; mapped: number } {
  const s = img.pageSlots();
  const problems: string[] = [];
  const fd = fs.openSync(img.path, 'r');
  const a = Buffer.allocUnsafe(PAGE_SIZE);
  const b = Buffer.allocUnsafe(PAGE_SIZE);
  const seen = new Set<number>();
  let mapped = 0;
  try {
    for (let i = 0; i < s.count && problems.length < 10; i++) {
      const off = s.fileOffset[i];
      if (i > 0 && off < s.fileOffset[i - 1] + PAGE_SIZE) problems.push(`slot ${i} at ${off} overlaps or precedes slot ${i - 1}`);
      if (off + PAGE_SIZE > img.fileSize) problems.push(`slot ${i} at ${off} runs past the file`);
      const pfn = s.pfn[i];
      if (pfn < 0) continue;
      mapped++;
      if (seen.has(pfn)) problems.push(`frame ${pfn} mapped twice`);
      seen.add(pfn);
      fs.readSync(fd, a, 0, PAGE_SIZE, off);
      if (!img.memory.readPage(pfn, b)) problems.push(`slot ${i} maps to frame ${pfn}, a hole`);
      else if (!a.equals(b)) problems.push(`slot ${i} (file ${off}) differs from frame ${pfn}`);
    }
  } finally {
    fs.closeSync(fd);
  }
  return { problems, slots: s.count, mapped };
}
