/**
 * Page zeroing: the free pages a migration did not send (the encoder's free list) become zeros in
 * the save image kept here, so that it equals the image the destination decoded (both keep it as
 * the next baseline).
 */
import * as fs from 'node:fs';
import { MigrateError } from './errors.js';

/** Overwrite with zeros the 4 KiB pages of `file` at the offsets listed (f64 LE) in `list`. */
export function zeroPages(file: string, list: string): void {
  const raw = fs.readFileSync(list);
  const offsets = new Float64Array(Uint8Array.from(raw).buffer, 0, raw.length >> 3);
  if (offsets.length === 0) return;
  const zero = Buffer.alloc(4096);
  const size = fs.statSync(file).size;
  const fd = fs.openSync(file, 'r+');
  try {
    for (const off of offsets) {
      if (!Number.isSafeInteger(off) || off < 0 || off + 4096 > size) throw new MigrateError('INTERNAL', `free page offset ${off} outside ${file}`);
      fs.writeSync(fd, zero, 0, 4096, off);
    }
  } finally {
    fs.closeSync(fd);
  }
}
