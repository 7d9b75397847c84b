/** Present, zero and non-zero pages of a memory view: what the image tests expect of each reader. */
import { isZeroPage, PAGE_SIZE, type PhysicalMemory } from '../../src/mem/physical-memory.js';

export interface PageCounts {
  total: number;
  zero: number;
  nonZero: number;
}

/** Count present, zero and non-zero pages; uses the reader's free knowledge when it has it. */
export function countPages(mem: PhysicalMemory): PageCounts {
  const total = mem.size / PAGE_SIZE;
  const known = mem.knownZeroPages?.();
  if (known !== undefined) return { total, zero: known, nonZero: total - known };
  let zero = 0;
  mem.forEachPageBatch((_pfn, count, bytes) => {
    for (let i = 0; i < count; i++) if (isZeroPage(bytes, i * PAGE_SIZE)) zero++;
  }, undefined, (_pfn, count) => {
    zero += count;
  });
  return { total, zero, nonZero: total - zero };
}
