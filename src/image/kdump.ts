/**
 * kdump-compressed dumps (`virsh dump --memory-only --format kdump-zlib|kdump-lzo|kdump-snappy`).
 * mig does not read them; they are recognised only so that the error says what to do instead.
 *
 * QEMU 7.2 always writes them in makedumpfile's *flattened* format: a 4096-byte header whose first
 * 16 bytes are the NUL-padded signature `makedumpfile` (then be64 type = 1, be64 version = 1),
 * followed by {be64 offset, be64 size, data} records (`makedumpfile -R` restores the plain file).
 * A plain (restored, or QEMU ≥ 8.2 `kdump-raw-*`) file starts with the DiskDumpHeader signature
 * `KDUMP   ` (eight bytes, space padded). See docs/format/elf-dump.md.
 */
import { ImageErrorCode, ImageFormatError, UnsupportedImageError } from '../util/errors.js';
import { RandomAccessFile } from '../util/file.js';

export const MAKEDUMPFILE_SIGNATURE = 'makedumpfile';
export const KDUMP_SIGNATURE = 'KDUMP   ';
/** Size of the makedumpfile flattened-format header. */
export const MAKEDUMPFILE_HEADER_SIZE = 4096;

export const KDUMP_UNSUPPORTED_MESSAGE =
  'kdump-compressed dumps (virsh dump --format kdump-*) are not supported; use `virsh dump --memory-only --format elf`';

export type KdumpVariant = 'flattened' | 'kdump-compressed';

/** Which kdump container the head of a file is, if any. */
export function kdumpVariant(head: Buffer): KdumpVariant | undefined {
  const sig = MAKEDUMPFILE_SIGNATURE.length;
  if (head.length >= sig && head.toString('latin1', 0, sig) === MAKEDUMPFILE_SIGNATURE && (head.length === sig || head[sig] === 0)) {
    return 'flattened';
  }
  if (head.length >= KDUMP_SIGNATURE.length && head.toString('latin1', 0, KDUMP_SIGNATURE.length) === KDUMP_SIGNATURE) {
    return 'kdump-compressed';
  }
  return undefined;
}

export function probeKdump(head: Buffer): boolean {
  return kdumpVariant(head) !== undefined;
}

/** Always throws: IMAGE_UNSUPPORTED for a kdump file, IMAGE_BAD_MAGIC for anything else. */
export function openKdump(file: RandomAccessFile): never {
  const head = file.read(0, Math.min(file.size, 16), 'kdump header signature');
  const variant = kdumpVariant(head);
  if (variant === 'flattened') {
    throw new UnsupportedImageError(KDUMP_UNSUPPORTED_MESSAGE, { file: file.path, offset: 0, field: 'makedumpfile flattened header signature' });
  }
  if (variant === 'kdump-compressed') {
    throw new UnsupportedImageError(KDUMP_UNSUPPORTED_MESSAGE, { file: file.path, offset: 0, field: 'kdump header signature' });
  }
  throw new ImageFormatError(ImageErrorCode.BAD_MAGIC, `not a kdump-compressed dump (signature ${JSON.stringify(head.toString('latin1', 0, 12))})`,
    { file: file.path, offset: 0, field: 'kdump header signature' });
}
