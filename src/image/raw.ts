/**
 * Raw physical-memory files: byte i of the file is guest-physical address i, no holes, no metadata
 * (e.g. `pmemsave 0 <size> file`). Selected explicitly (`--format raw`) or as the last resort of
 * probing when the file size is a non-zero multiple of 4 KiB.
 */
import { ImageErrorCode, ImageFormatError } from '../util/errors.js';
import { RandomAccessFile } from '../util/file.js';
import { PAGE_SIZE, PhysicalMemory } from '../mem/physical-memory.js';
import { SegmentMemory } from '../mem/segment-map.js';
import type { ByteSink, OpenedImage } from './types.js';
import { linearSlots } from './slots.js';

export function probeRaw(size: number): boolean {
  return size > 0 && size % PAGE_SIZE === 0;
}

/** Write a raw image: every page of `memory` from GPA 0 to `size`, holes as zero. */
export function writeRaw(memory: PhysicalMemory, size: number, sink: ByteSink): void {
  let next = 0;
  const zero = Buffer.alloc(1 << 20);
  const gapTo = (gpa: number) => {
    while (next < gpa) {
      const n = Math.min(zero.length, gpa - next);
      sink.write(zero.subarray(0, n));
      next += n;
    }
  };
  memory.forEachPageBatch((pfn, count, bytes) => {
    gapTo(pfn * PAGE_SIZE);
    sink.write(bytes);
    next += count * PAGE_SIZE;
  });
  gapTo(size);
}

export function openRaw(file: RandomAccessFile): OpenedImage {
  if (!probeRaw(file.size)) {
    throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `raw memory file size ${file.size} is not a non-zero multiple of ${PAGE_SIZE}`, { file: file.path, offset: file.size, field: 'file size' });
  }
  const memory = new SegmentMemory(file, [{ kind: 'linear', gpa: 0, length: file.size, fileOffset: 0, fileLength: file.size }]);
  return {
    format: 'raw',
    pageSlots: () => linearSlots([{ fileOffset: 0, pages: file.size / PAGE_SIZE, pfn0: 0 }]),
    path: file.path,
    fileSize: file.size,
    memory,
    ramBlocks: [{ name: 'raw', length: file.size, main: true, map: [{ offset: 0, gpa: 0, length: file.size }] }],
    ramBytes: file.size,
    cpus: [],
    rebuild: (sink: ByteSink) => writeRaw(memory, file.size, sink),
    close: () => file.close(),
  };
}
