/** Whole-file digests. */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';

/** SHA-256 of a file's bytes, read in 1 MiB chunks. */
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
