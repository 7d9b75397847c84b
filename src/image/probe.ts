/**
 * Pick a reader by sniffing the head of the file, in order: libvirt save, QEMU stream, ELF dump,
 * kdump (recognised, refused), raw (last resort: size a multiple of 4 KiB). `--format` overrides.
 * A file with the ELF magic always goes to the ELF reader, which refuses what it cannot read: it is
 * never taken for raw memory by probing (`--format raw` still reads any file as raw).
 */
import { ImageErrorCode, ImageFormatError, UsageError } from '../util/errors.js';
import { RandomAccessFile } from '../util/file.js';
import { openElfDump, probeElfDump } from './elf-dump.js';
import { openKdump, probeKdump } from './kdump.js';
import { openLibvirtSave, probeLibvirtSave } from './libvirt-save.js';
import { openQemuStream, PageObserver, probeQemuStream } from './qemu-stream.js';
import { openRaw, probeRaw } from './raw.js';
import type { ImageFormat, OpenedImage } from './types.js';

export const IMAGE_FORMATS: readonly ImageFormat[] = ['libvirt-save', 'qemu-stream', 'elf-dump', 'raw'];

export interface OpenOptions {
  /** Skip probing and use this reader. */
  format?: ImageFormat;
  /** Sees each page's bytes during parsing where the reader reads them anyway (streams). */
  observe?: PageObserver;
}

/** Detect the container format of a file from its first bytes and size. */
export function probeFormat(file: RandomAccessFile): ImageFormat | 'kdump' {
  const head = file.read(0, Math.min(file.size, 4096), 'file head');
  if (probeLibvirtSave(head)) return 'libvirt-save';
  if (probeQemuStream(head)) return 'qemu-stream';
  if (probeElfDump(head)) return 'elf-dump';
  if (probeKdump(head)) return 'kdump';
  if (probeRaw(file.size)) return 'raw';
  throw new ImageFormatError(ImageErrorCode.UNKNOWN_FORMAT,
    `not a recognised memory image (libvirt save image, QEMU migration stream, QEMU ELF dump) and its size ${file.size} is not a multiple of 4096 for a raw memory file`,
    { file: file.path, offset: 0, field: 'file head' });
}

export function openImage(path: string, opts: OpenOptions = {}): OpenedImage {
  if (opts.format && !IMAGE_FORMATS.includes(opts.format)) {
    throw new UsageError(`unknown image format "${opts.format}" (one of ${IMAGE_FORMATS.join(', ')})`);
  }
  const file = new RandomAccessFile(path);
  try {
    const format = opts.format ?? probeFormat(file);
    switch (format) {
      case 'libvirt-save':
        return openLibvirtSave(file, opts.observe);
      case 'qemu-stream':
        return openQemuStream(file, opts.observe);
      case 'elf-dump':
        return openElfDump(file);
      case 'kdump':
        return openKdump(file);
      case 'raw':
        return openRaw(file);
    }
  } catch (e) {
    file.close();
    throw e;
  }
}
