/**
 * File mappings (mig-native's mmap, native/): a byte range of an open file as a Buffer whose pages
 * are the page cache's, mapped private and read-only (a write through it is a fault, never a change
 * to the file). Reading a file into fresh memory costs a copy and, worse here, the first touch of every
 * new page; a mapping costs neither (191 MB context: read 0.68 s, mapped and touched 0.12 s).
 *
 * A mapped file must not shrink while mapped: a read past its new end is a SIGBUS, which ends the
 * process (the supervisor then removes its temp files, docs/reliability.md). mig maps only inputs it
 * reads whole and never writes: the image being encoded, a context, a baseline.
 */
import { native } from './native.js';

/** Largest mapping one Buffer can view (Node 20: 4 GiB), less a page. */
export const MAX_MAP = 2 ** 32 - 4096;

/**
 * [offset, offset+length) of fd as a Buffer (length ≤ MAX_MAP; offset need not be page-aligned).
 * `populate`: fault every page in now (MAP_POPULATE), for a range that will be read nearly whole
 * (a context: 191 MB in 0.09 s instead of 0.13 s of faults one by one); otherwise pages come in
 * as they are first read.
 */
export function mapRange(fd: number, offset: number, length: number, populate = false): Buffer {
  const start = offset - (offset % 4096);
  const skip = offset - start;
  if (length + skip > MAX_MAP) throw new RangeError(`a mapping of ${length} bytes is larger than ${MAX_MAP}`);
  if (length === 0) return Buffer.alloc(0);
  const ab = native.mapFile(fd, start, length + skip, populate);
  return Buffer.from(ab, skip, length);
}
