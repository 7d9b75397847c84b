/**
 * libvirt save images (`virsh save`, managed save): virQEMUSaveHeader (92 bytes, host-endian), the
 * data area (domain XML, save cookie, zero padding), then a raw QEMU migration stream to EOF.
 * Spec: docs/format/libvirt-save.md (libvirt src/qemu/qemu_saveimage.{c,h}).
 */
import { ImageErrorCode, ImageFormatError, UnsupportedImageError } from '../util/errors.js';
import { RandomAccessFile } from '../util/file.js';
import { fileRecordPages, PageObserver, parseQemuStream, QemuStreamParts, RecordPageSource, streamImage, writeQemuStream } from './qemu-stream.js';
import type { ByteSink, OpenedImage } from './types.js';

export const SAVE_MAGIC = 'LibvirtQemudSave';
export const SAVE_PARTIAL_MAGIC = 'LibvirtQemudPart';
export const SAVE_HEADER_SIZE = 92;
export const SAVE_VERSION = 2;
/** Data areas are XML + cookie + 64 KiB padding; anything this large is not a save image. */
const MAX_DATA_LEN = 256 << 20;

/** libvirt's compression formats for save images (qemu_saveimage.h / qemu_saveimage_format.h). */
export const SAVE_FORMATS = ['raw', 'gzip', 'bzip2', 'xz', 'lzop', 'zstd', 'sparse'] as const;

export interface LibvirtSaveHeader {
  /** The 92 header bytes exactly as in the file. */
  raw: Buffer;
  /** True when the header was written with the other byte order (libvirt swaps when version > 2). */
  byteSwapped: boolean;
  version: number;
  dataLen: number;
  wasRunning: boolean;
  compressed: number;
  cookieOffset: number;
}

export interface LibvirtSaveParts {
  header: LibvirtSaveHeader;
  /** The data area verbatim: XML, NUL, cookie, NUL, padding. */
  data: Buffer;
  xml: string;
  cookie: string;
  stream: QemuStreamParts;
}

export function probeLibvirtSave(head: Buffer): boolean {
  if (head.length < 16) return false;
  const m = head.toString('latin1', 0, 16);
  return m === SAVE_MAGIC || m === SAVE_PARTIAL_MAGIC;
}

export function parseLibvirtSaveHeader(file: RandomAccessFile): LibvirtSaveHeader {
  const raw = file.read(0, SAVE_HEADER_SIZE, 'libvirt save header');
  const magic = raw.toString('latin1', 0, 16);
  const loc = (offset: number, field: string) => ({ file: file.path, offset, field });
  if (magic === SAVE_PARTIAL_MAGIC) {
    throw new ImageFormatError(ImageErrorCode.INCOMPLETE, 'save image is incomplete (magic LibvirtQemudPart: libvirt was still writing it or the save failed)', loc(0, 'libvirt header magic'));
  }
  if (magic !== SAVE_MAGIC) {
    throw new ImageFormatError(ImageErrorCode.BAD_MAGIC, `not a libvirt save image (magic ${JSON.stringify(magic)})`, loc(0, 'libvirt header magic'));
  }
  let byteSwapped = false;
  let u32 = (off: number) => raw.readUInt32LE(off);
  let version = u32(16);
  if (version > SAVE_VERSION) {
    // libvirt: "version > QEMU_SAVE_VERSION → bswap the header and retry".
    byteSwapped = true;
    u32 = (off: number) => raw.readUInt32BE(off);
    version = u32(16);
    if (version > SAVE_VERSION) {
      throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `save image version ${raw.readUInt32LE(16)} is not supported (max ${SAVE_VERSION})`, loc(16, 'libvirt header version'));
    }
  }
  if (version < 1) throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `save image version ${version} is not supported`, loc(16, 'libvirt header version'));
  const dataLen = u32(20);
  const wasRunning = u32(24);
  const compressed = u32(28);
  const cookieOffset = u32(32);
  if (dataLen === 0) throw new ImageFormatError(ImageErrorCode.BAD_FIELD, 'data_len is 0 (no domain XML)', loc(20, 'libvirt header data_len'));
  if (dataLen > MAX_DATA_LEN) {
    throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `data_len ${dataLen} is implausible for a domain XML and cookie (max ${MAX_DATA_LEN >> 20} MiB)`, loc(20, 'libvirt header data_len'));
  }
  if (SAVE_HEADER_SIZE + dataLen > file.size) {
    throw new ImageFormatError(ImageErrorCode.TRUNCATED, `data_len ${dataLen} runs past the end of the file (${file.size} bytes)`, loc(20, 'libvirt header data_len'));
  }
  if (wasRunning > 1) throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `was_running is ${wasRunning} (0 or 1 expected)`, loc(24, 'libvirt header was_running'));
  if (compressed !== 0) {
    const name = SAVE_FORMATS[compressed] ?? `unknown format ${compressed}`;
    throw new UnsupportedImageError(`save image is compressed with ${name}; mig reads raw save images only (set save_image_format = "raw" in qemu.conf, or decompress the stream after the header)`, loc(28, 'libvirt header compressed'));
  }
  if (cookieOffset > dataLen) {
    throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `cookieOffset ${cookieOffset} is beyond data_len ${dataLen}`, loc(32, 'libvirt header cookieOffset'));
  }
  return { raw, byteSwapped, version, dataLen, wasRunning: wasRunning === 1, compressed, cookieOffset };
}

function cString(buf: Buffer, start: number, end: number): string {
  const nul = buf.indexOf(0, start);
  return buf.toString('utf8', start, nul < 0 || nul > end ? end : nul);
}

export function parseLibvirtSave(file: RandomAccessFile, observe?: PageObserver): LibvirtSaveParts {
  const header = parseLibvirtSaveHeader(file);
  const data = file.read(SAVE_HEADER_SIZE, header.dataLen, 'libvirt data area');
  const xmlEnd = header.cookieOffset || header.dataLen;
  const xml = cString(data, 0, xmlEnd);
  if (!xml.includes('<domain')) {
    throw new ImageFormatError(ImageErrorCode.BAD_FIELD, 'data area does not start with a domain XML', { file: file.path, offset: SAVE_HEADER_SIZE, field: 'libvirt domain XML' });
  }
  const cookie = header.cookieOffset ? cString(data, header.cookieOffset, header.dataLen) : '';
  const stream = parseQemuStream(file, SAVE_HEADER_SIZE + header.dataLen, file.size, observe);
  return { header, data, xml, cookie, stream };
}

/** Rewrite a save image from its parts, page contents from `pages` (see writeQemuStream). */
export function writeLibvirtSave(parts: LibvirtSaveParts, pages: RecordPageSource, sink: ByteSink): void {
  sink.write(parts.header.raw);
  sink.write(parts.data);
  writeQemuStream(parts.stream, pages, sink);
}

export function openLibvirtSave(file: RandomAccessFile, observe?: PageObserver): OpenedImage & { parts: LibvirtSaveParts } {
  const parts = parseLibvirtSave(file, observe);
  const img = streamImage(file, 'libvirt-save', parts.stream, (sink) => writeLibvirtSave(parts, fileRecordPages(file, parts.stream), sink));
  return { ...img, parts };
}

/** The domain XML of a libvirt save image file (header and data area only; the stream is not read). */
export function saveImageXml(image: string): string {
  const f = new RandomAccessFile(image);
  try {
    const h = parseLibvirtSaveHeader(f);
    const data = f.read(SAVE_HEADER_SIZE, h.cookieOffset || h.dataLen, 'libvirt domain XML');
    const nul = data.indexOf(0);
    return data.toString('utf8', 0, nul < 0 ? data.length : nul);
  } finally {
    f.close();
  }
}
