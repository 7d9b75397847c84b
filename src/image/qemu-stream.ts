/**
 * QEMU migration stream (version 3, as written by QEMU 7.2–9.x `migrate` to a file or fd).
 * Spec: docs/format/qemu-stream.md. Parses the header, configuration section, section headers and
 * footers, and every RAM record; everything after the RAM section's END (device state, EOF marker,
 * VMDESCRIPTION JSON) is the "tail", kept verbatim. RAM records become a compact table so that
 * the stream can be rewritten byte for byte with page contents from any source (writeQemuStream).
 */
import { ImageErrorCode, ImageFormatError, UnsupportedImageError } from '../util/errors.js';
import { RandomAccessFile, SequentialReader } from '../util/file.js';
import { isZeroPage, PAGE_SIZE } from '../mem/physical-memory.js';
import { fillOffset, Segment, SegmentMemory } from '../mem/segment-map.js';
import type { ByteSink, OpenedImage, RamBlockInfo } from './types.js';
import { mapMainRam } from './ram-layout.js';
import { cpuStatesFromTail, vmcoreinfoNoteFromTail } from './qemu-devices.js';
import type { PageSlots } from './slots.js';

export const QEVM_MAGIC = 0x5145564d; // "QEVM"
export const QEMU_VM_FILE_VERSION = 3;

/** Section types (migration/savevm.c). */
export const enum Sec {
  EOF = 0x00,
  START = 0x01,
  PART = 0x02,
  END = 0x03,
  FULL = 0x04,
  SUBSECTION = 0x05,
  VMDESCRIPTION = 0x06,
  CONFIGURATION = 0x07,
  COMMAND = 0x08,
  FOOTER = 0x7e,
}

/** RAM record flags (migration/ram.c); the low 12 bits of each record's be64 word. */
export const RamFlag = {
  FULL: 0x01,
  ZERO: 0x02,
  MEM_SIZE: 0x04,
  PAGE: 0x08,
  EOS: 0x10,
  CONTINUE: 0x20,
  XBZRLE: 0x40,
  HOOK: 0x80,
  COMPRESS_PAGE: 0x100,
  MULTIFD_FLUSH: 0x200,
} as const;

const KNOWN_FLAGS = 0x3ff;

export interface StreamBlock {
  idstr: string;
  /** used_length from the MEM_SIZE list. */
  length: number;
  main: boolean;
}

/**
 * The stream as parts: `items` alternate verbatim byte chunks and runs of RAM page records.
 * Record columns are typed arrays indexed by record number (see RecordTable).
 */
export type StreamItem = { kind: 'bytes'; bytes: Buffer } | { kind: 'records'; first: number; count: number };

/** RAM PAGE/ZERO records, one row each, in stream order. */
export class RecordTable {
  count = 0;
  flags = new Uint16Array(1024);
  block = new Uint16Array(1024);
  page = new Uint32Array(1024);
  /** ZERO: the fill byte. */
  fill = new Uint8Array(1024);
  /** PAGE: file offset of the 4096 data bytes in the source file (-1 for ZERO records). */
  data = new Float64Array(1024);
  /** 1 when the record's page content is all zero. */
  zero = new Uint8Array(1024);

  push(flags: number, block: number, page: number, fill: number, data: number, zero: number): void {
    if (this.count === this.flags.length) this.grow(this.flags.length * 2);
    const i = this.count++;
    this.flags[i] = flags;
    this.block[i] = block;
    this.page[i] = page;
    this.fill[i] = fill;
    this.data[i] = data;
    this.zero[i] = zero;
  }

  /** Make room for at least n records (called with the page count from MEM_SIZE: one record per page is typical). */
  reserve(n: number): void {
    if (n > this.flags.length) this.grow(n);
  }

  private grow(n: number): void {
    const g = <T extends Uint8Array | Uint16Array | Uint32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a as never);
      return b;
    };
    this.flags = g(this.flags, (k) => new Uint16Array(k));
    this.block = g(this.block, (k) => new Uint16Array(k));
    this.page = g(this.page, (k) => new Uint32Array(k));
    this.fill = g(this.fill, (k) => new Uint8Array(k));
    this.data = g(this.data, (k) => new Float64Array(k));
    this.zero = g(this.zero, (k) => new Uint8Array(k));
  }
}

export interface QemuStreamParts {
  /** Absolute file offset where the stream starts (92 + data_len inside a libvirt save image). */
  start: number;
  end: number;
  version: number;
  /** Machine type from the configuration section, e.g. `pc-q35-7.2`. */
  machine?: string;
  blocks: StreamBlock[];
  items: StreamItem[];
  records: RecordTable;
  /** Per block: for each page, the index of the last record that wrote it, or -1 if never written. */
  finalRecord: Int32Array[];
  /** File offset where the verbatim device-state tail starts. */
  tailOffset: number;
  /** The tail: device state (FULL sections), EOF marker, VMDESCRIPTION JSON. */
  tail: Buffer;
}

/**
 * The fewest stream bytes one page of a RAM block costs: QEMU sends every page at least once, the
 * smallest record being ZERO with CONTINUE (8-byte header + 1 fill byte). A MEM_SIZE list whose pages
 * times this exceed the stream cannot be a complete save, and is refused before allocating per page.
 */
export const MIN_STREAM_BYTES_PER_PAGE = 9;

/** Device state is kilobytes to a few MiB; a larger tail means this is not a saved VM. */
const MAX_TAIL = 256 << 20;

/** Main guest RAM: the machine's RAM backend (`pc.ram`) or NUMA node backends (`ram-node<N>`). */
export function isMainRamBlock(idstr: string): boolean {
  return idstr === 'pc.ram' || /^ram-node\d+$/.test(idstr);
}

export function probeQemuStream(head: Buffer): boolean {
  return head.length >= 4 && head.readUInt32BE(0) === QEVM_MAGIC;
}

/** Called for each PAGE record's data while parsing (e.g. to look for VMCOREINFO without a second pass). */
export type PageObserver = (block: number, page: number, buf: Buffer, off: number) => void;

/** Parse a QEMU migration stream occupying [start, end) of `file`. */
export function parseQemuStream(file: RandomAccessFile, start: number, end = file.size, observe?: PageObserver): QemuStreamParts {
  const r = new SequentialReader(file, start, end);
  const where = (field: string, offset = r.pos) => ({ file: file.path, offset, field });
  const items: StreamItem[] = [];
  let verbatimFrom = start; // file offset of the first byte not yet covered by an item
  const flushBytes = (upTo: number) => {
    if (upTo > verbatimFrom) items.push({ kind: 'bytes', bytes: file.read(verbatimFrom, upTo - verbatimFrom, 'stream bytes') });
    verbatimFrom = upTo;
  };

  const magicAt = r.pos;
  const magic = r.u32be('QEMU stream magic');
  if (magic !== QEVM_MAGIC) {
    throw new ImageFormatError(ImageErrorCode.BAD_MAGIC, `expected QEMU migration stream magic "QEVM" (0x5145564d), found 0x${magic.toString(16).padStart(8, '0')}`, where('QEMU stream magic', magicAt));
  }
  const versionAt = r.pos;
  const version = r.u32be('QEMU stream version');
  if (version !== 3 && version !== 2) {
    throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `unsupported QEMU stream version ${version} (2 or 3 expected)`, where('QEMU stream version', versionAt));
  }

  let machine: string | undefined;
  if (r.peek() === Sec.CONFIGURATION) {
    r.u8('section type');
    const lenAt = r.pos;
    const len = r.u32be('configuration machine name length');
    if (len > 256) throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `machine name length ${len} is implausible (max 256)`, where('configuration machine name length', lenAt));
    machine = r.bytes(len, 'configuration machine name').toString('latin1');
    while (r.peek() === Sec.SUBSECTION) parseConfigSubsection(r, where);
  }

  const blocks: StreamBlock[] = [];
  const byName = new Map<string, number>();
  const records = new RecordTable();
  const finalRecord: Int32Array[] = [];
  let ramSectionId = -1;
  let ramDone = false;
  let lastBlock = -1;
  let tailOffset = -1;

  while (!ramDone) {
    const secAt = r.pos;
    const type = r.u8('section type');
    if (type === Sec.START || type === Sec.FULL || type === Sec.PART || type === Sec.END) {
      const id = r.u32be('section id');
      let idstr: string | undefined;
      if (type === Sec.START || type === Sec.FULL) {
        const len = r.u8('section idstr length');
        idstr = r.bytes(len, 'section idstr').toString('latin1');
        r.u32be('section instance id');
        r.u32be('section version id');
        if (idstr === 'ram') {
          if (type === Sec.FULL) throw new UnsupportedImageError('RAM in a FULL section is not supported', where('section type', secAt));
          ramSectionId = id;
        }
      }
      const isRam = idstr === 'ram' || (idstr === undefined && id === ramSectionId && ramSectionId >= 0);
      if (!isRam) {
        if (type === Sec.FULL && ramSectionId >= 0) {
          // Device state begins: RAM's END has not been seen, so this stream was cut short or is not a saved image.
          throw new ImageFormatError(ImageErrorCode.BAD_FIELD, 'device state before the RAM section ended', where('section type', secAt));
        }
        throw new UnsupportedImageError(`section ${idstr ?? `id ${id}`} (type ${type}) before RAM cannot be delimited; only RAM may precede device state`, where('section', secAt));
      }
      // RAM body: records until EOS.
      for (;;) {
        const recAt = r.pos;
        r.ensure(8, 'RAM record header');
        const hi = r.buf.readUInt32BE(r.at);
        const lo = r.buf.readUInt32BE(r.at + 4);
        r.at += 8;
        const flags = lo & 0xfff;
        const addr = hi * 0x100000000 + (lo - flags);
        if (flags & ~KNOWN_FLAGS || flags & RamFlag.FULL) {
          throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `unknown RAM record flags 0x${flags.toString(16)}`, where('RAM record flags', recAt));
        }
        if (flags & (RamFlag.XBZRLE | RamFlag.COMPRESS_PAGE)) {
          throw new UnsupportedImageError(`${flags & RamFlag.XBZRLE ? 'XBZRLE' : 'COMPRESS_PAGE'} RAM records (migration compression) are not supported; save without xbzrle/compress capabilities`, where('RAM record flags', recAt));
        }
        if (flags & RamFlag.HOOK) throw new UnsupportedImageError('RDMA hook RAM records are not supported', where('RAM record flags', recAt));
        const kind = flags & ~RamFlag.CONTINUE;
        if (kind === RamFlag.PAGE || kind === RamFlag.ZERO) {
          let block: number;
          if (flags & RamFlag.CONTINUE) {
            if (lastBlock < 0) throw new ImageFormatError(ImageErrorCode.BAD_FIELD, 'CONTINUE flag on the first page record (no previous RAM block)', where('RAM record flags', recAt));
            block = lastBlock;
          } else {
            const lenAt = r.pos;
            const len = r.u8('RAM block idstr length');
            const name = r.view(len, 'RAM block idstr').toString('latin1');
            const b = byName.get(name);
            if (b === undefined) throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `page record names RAM block "${name}" absent from the MEM_SIZE list`, where('RAM block idstr', lenAt));
            block = b;
            lastBlock = b;
          }
          if (addr >= blocks[block].length) {
            throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `offset 0x${addr.toString(16)} is outside RAM block "${blocks[block].idstr}" (length 0x${blocks[block].length.toString(16)})`, where('RAM record offset', recAt));
          }
          const page = addr / PAGE_SIZE;
          if (kind === RamFlag.PAGE) {
            r.ensure(PAGE_SIZE, 'RAM page data');
            const dataAt = r.pos;
            const zero = isZeroPage(r.buf, r.at) ? 1 : 0;
            if (observe) observe(block, page, r.buf, r.at);
            r.at += PAGE_SIZE;
            flushRecordsStart(items, records, recAt, verbatimFrom, flushBytes);
            records.push(flags, block, page, 0, dataAt, zero);
          } else {
            const fill = r.u8('ZERO record fill byte');
            flushRecordsStart(items, records, recAt, verbatimFrom, flushBytes);
            records.push(flags, block, page, fill, -1, fill === 0 ? 1 : 0);
          }
          finalRecord[block][page] = records.count - 1;
          verbatimFrom = r.pos;
          continue;
        }
        if (flags === RamFlag.MEM_SIZE) {
          if (blocks.length) throw new ImageFormatError(ImageErrorCode.BAD_FIELD, 'second MEM_SIZE record', where('RAM record flags', recAt));
          let remaining = addr;
          let declaredPages = 0;
          while (remaining > 0) {
            const entryAt = r.pos;
            const len = r.u8('MEM_SIZE idstr length');
            if (len === 0) throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `empty RAM block name with ${remaining} bytes of the MEM_SIZE total unaccounted`, where('MEM_SIZE idstr length', entryAt));
            const idstr = r.bytes(len, 'MEM_SIZE idstr').toString('latin1');
            const lengthAt = r.pos;
            const length = r.u64be('MEM_SIZE used_length');
            if (length > remaining || length % PAGE_SIZE !== 0) {
              throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `RAM block "${idstr}" length 0x${length.toString(16)} is not page-aligned or exceeds the MEM_SIZE total left (0x${remaining.toString(16)})`, where('MEM_SIZE used_length', lengthAt));
            }
            // Every page of every block takes at least MIN_STREAM_BYTES_PER_PAGE of stream: refuse a list
            // the file cannot describe, per block and in total, before any per-block structure is allocated.
            const pages = length / PAGE_SIZE;
            if ((declaredPages + pages) * MIN_STREAM_BYTES_PER_PAGE > end - start) {
              throw new ImageFormatError(ImageErrorCode.BAD_FIELD,
                `RAM block "${idstr}" length 0x${length.toString(16)} is implausible for a ${end - start}-byte stream: ` +
                `with the ${blocks.length} block(s) before it the MEM_SIZE list declares ${declaredPages + pages} pages, at least ${MIN_STREAM_BYTES_PER_PAGE} bytes each`,
                where('MEM_SIZE used_length', lengthAt));
            }
            declaredPages += pages;
            if (byName.has(idstr)) throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `RAM block "${idstr}" listed twice`, where('MEM_SIZE idstr', entryAt));
            if (blocks.length >= 0xffff) throw new ImageFormatError(ImageErrorCode.BAD_FIELD, 'too many RAM blocks', where('MEM_SIZE idstr', entryAt));
            byName.set(idstr, blocks.length);
            blocks.push({ idstr, length, main: isMainRamBlock(idstr) });
            finalRecord.push(new Int32Array(length / PAGE_SIZE).fill(-1));
            remaining -= length;
          }
          // One record per page is the common case; bounded by what the stream can hold.
          records.reserve(Math.min(declaredPages, Math.ceil((end - start) / MIN_STREAM_BYTES_PER_PAGE)));
          continue;
        }
        if (flags === RamFlag.MULTIFD_FLUSH) continue;
        if (flags === RamFlag.EOS) break;
        throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `unknown combination of RAM record flags 0x${flags.toString(16)}`, where('RAM record flags', recAt));
      }
      if (r.peek() === Sec.FOOTER) {
        const footAt = r.pos;
        r.u8('section footer');
        const fid = r.u32be('section footer id');
        if (fid !== id) throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `section footer id ${fid} does not match section id ${id}`, where('section footer id', footAt));
      }
      if (type === Sec.END) {
        ramDone = true;
        tailOffset = r.pos;
      }
      continue;
    }
    if (type === Sec.COMMAND) {
      r.u16be('command id');
      const len = r.u16be('command length');
      r.skip(len, 'command data');
      continue;
    }
    if (type === Sec.EOF) {
      throw new ImageFormatError(ImageErrorCode.BAD_FIELD, ramSectionId < 0 ? 'stream ended without a RAM section' : 'stream ended before the RAM section ended', where('section type', secAt));
    }
    throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `unknown section type 0x${type.toString(16)}`, where('section type', secAt));
  }
  if (!blocks.length) throw new ImageFormatError(ImageErrorCode.BAD_FIELD, 'RAM section without a MEM_SIZE block list', where('RAM section', start));
  // The tail: device state, EOF, VMDESCRIPTION. Kept verbatim as its own item.
  flushBytes(tailOffset);
  if (end - tailOffset > MAX_TAIL) {
    throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `${end - tailOffset} bytes of device state after RAM is implausible (max ${MAX_TAIL})`, where('device state', tailOffset));
  }
  const tail = file.read(tailOffset, end - tailOffset, 'device state');
  if (tail.length) items.push({ kind: 'bytes', bytes: tail });
  return { start, end, version, machine, blocks, items, records, finalRecord, tailOffset, tail };
}

/** Before appending a record: close the pending verbatim bytes and open (or extend) a records item. */
function flushRecordsStart(items: StreamItem[], records: RecordTable, recAt: number, verbatimFrom: number, flushBytes: (upTo: number) => void): void {
  if (recAt === verbatimFrom) {
    const last = items[items.length - 1];
    if (last !== undefined && last.kind === 'records' && last.first + last.count === records.count) {
      last.count++;
      return;
    }
  } else {
    flushBytes(recAt);
  }
  items.push({ kind: 'records', first: records.count, count: 1 });
}

/** Configuration subsections (migration/savevm.c vmstate_configuration): fields are fixed per name. */
function parseConfigSubsection(r: SequentialReader, where: (f: string, o?: number) => { file: string; offset: number; field: string }): void {
  const at = r.pos;
  r.u8('subsection marker');
  const len = r.u8('subsection name length');
  const name = r.bytes(len, 'subsection name').toString('latin1');
  r.u32be('subsection version');
  switch (name) {
    case 'configuration/target-page-bits': {
      const bitsAt = r.pos;
      const bits = r.u32be('target-page-bits');
      if (bits !== 12) throw new UnsupportedImageError(`target page bits ${bits}: only 4 KiB pages (12) are supported`, where('target-page-bits', bitsAt));
      break;
    }
    case 'configuration/capabilities': {
      const n = r.u32be('capability count');
      if (n > 64) throw new ImageFormatError(ImageErrorCode.BAD_FIELD, `${n} capabilities is implausible`, where('capability count', at));
      for (let i = 0; i < n; i++) {
        const l = r.u8('capability name length');
        const cap = r.bytes(l, 'capability name').toString('latin1');
        if (cap === 'x-ignore-shared') throw new UnsupportedImageError('capability x-ignore-shared (RAM not in the stream) is not supported', where('capability name', at));
        if (cap === 'mapped-ram') throw new UnsupportedImageError('mapped-ram streams (QEMU >= 9.0 file migration, libvirt "sparse" save images) are not supported; save with save_image_format = "raw"', where('capability name', at));
      }
      break;
    }
    case 'configuration/uuid':
      r.skip(16, 'uuid');
      break;
    default:
      throw new UnsupportedImageError(`unknown configuration subsection "${name}"`, where('subsection name', at));
  }
}

/** The guest-physical view of a parsed stream: main RAM blocks mapped by the machine's RAM layout. */
export function streamMemory(file: RandomAccessFile, parts: QemuStreamParts): { memory: SegmentMemory; ramBlocks: RamBlockInfo[]; slots: PageSlots } {
  const main = parts.blocks.map((b, i) => ({ ...b, index: i })).filter((b) => b.main);
  const maps = mapMainRam(parts.machine, main.map((b) => ({ idstr: b.idstr, length: b.length })));
  const segments: Segment[] = [];
  const ramBlocks: RamBlockInfo[] = parts.blocks.map((b) => ({ name: b.idstr, length: b.length, main: b.main, map: [] }));
  const rec = parts.records;
  // Each PAGE record's data is a slot; it maps to a frame only if it is the page's final copy.
  const recordPfn = new Float64Array(rec.count).fill(-1);
  main.forEach((b, k) => {
    const final = parts.finalRecord[b.index];
    for (const m of maps[k]) {
      const pages = m.length / PAGE_SIZE;
      const first = m.offset / PAGE_SIZE;
      const offsets = new Float64Array(pages);
      let zeroPages = 0;
      for (let p = 0; p < pages; p++) {
        const ri = final[first + p];
        if (ri < 0) {
          offsets[p] = fillOffset(0); // never sent: QEMU leaves the destination page zero
          zeroPages++;
        } else {
          offsets[p] = rec.data[ri] >= 0 ? rec.data[ri] : fillOffset(rec.fill[ri]);
          zeroPages += rec.zero[ri];
          recordPfn[ri] = m.gpa / PAGE_SIZE + p;
        }
      }
      segments.push({ kind: 'table', gpa: m.gpa, length: m.length, offsets, zeroPages });
      ramBlocks[b.index].map.push(m);
    }
  });
  let count = 0;
  for (let i = 0; i < rec.count; i++) if (rec.data[i] >= 0) count++;
  const slots: PageSlots = { count, fileOffset: new Float64Array(count), pfn: new Float64Array(count) };
  for (let i = 0, k = 0; i < rec.count; i++) {
    if (rec.data[i] < 0) continue;
    slots.fileOffset[k] = rec.data[i];
    slots.pfn[k++] = recordPfn[i];
  }
  return { memory: new SegmentMemory(file, segments), ramBlocks, slots };
}

/**
 * Source of page contents for a rewrite: record i's 4096 bytes into out[off..]. Records are asked for
 * in stream order. `fileRecordPages` reads them from the parsed file itself.
 */
export type RecordPageSource = (record: number, out: Buffer, off: number) => void;

export function fileRecordPages(file: RandomAccessFile, parts: QemuStreamParts): RecordPageSource {
  return (i, out, off) => file.readInto(out, off, PAGE_SIZE, parts.records.data[i]);
}

/** Rewrite the stream from its parts; with fileRecordPages this reproduces the input byte for byte. */
export function writeQemuStream(parts: QemuStreamParts, pages: RecordPageSource, sink: ByteSink): void {
  const rec = parts.records;
  const names = parts.blocks.map((b) => Buffer.from(b.idstr, 'latin1'));
  const buf = Buffer.allocUnsafe(4 << 20);
  let used = 0;
  const flush = () => {
    if (used) sink.write(buf.subarray(0, used));
    used = 0;
  };
  for (const item of parts.items) {
    if (item.kind === 'bytes') {
      flush();
      sink.write(item.bytes);
      continue;
    }
    for (let i = item.first; i < item.first + item.count; i++) {
      if (used + 8 + 256 + PAGE_SIZE > buf.length) flush();
      const flags = rec.flags[i];
      const addr = rec.page[i] * PAGE_SIZE;
      buf.writeUInt32BE(Math.floor(addr / 0x100000000), used);
      buf.writeUInt32BE(((addr % 0x100000000) + flags) >>> 0, used + 4);
      used += 8;
      if (!(flags & RamFlag.CONTINUE)) {
        const name = names[rec.block[i]];
        buf[used++] = name.length;
        name.copy(buf, used);
        used += name.length;
      }
      if (flags & RamFlag.PAGE) {
        pages(i, buf, used);
        used += PAGE_SIZE;
      } else {
        buf[used++] = rec.fill[i];
      }
    }
  }
  flush();
}

/** The OpenedImage of a file whose memory is a QEMU stream (bare, or inside a libvirt save image). */
export function streamImage(file: RandomAccessFile, format: 'qemu-stream' | 'libvirt-save', stream: QemuStreamParts, rebuild: (sink: ByteSink) => void): OpenedImage {
  const { memory, ramBlocks, slots } = streamMemory(file, stream);
  return {
    format,
    path: file.path,
    fileSize: file.size,
    memory,
    ramBlocks,
    ramBytes: ramBlocks.filter((b) => b.main).reduce((s, b) => s + b.length, 0),
    cpus: cpuStatesFromTail(stream.tail),
    vmcoreinfoNoteGpa: vmcoreinfoNoteFromTail(stream.tail)?.gpa,
    machine: stream.machine,
    pageSlots: () => slots,
    rebuild,
    close: () => file.close(),
  };
}

/** A bare QEMU migration stream file (`virsh dump` without --memory-only, `migrate exec:cat > file`). */
export function openQemuStream(file: RandomAccessFile, observe?: PageObserver): OpenedImage & { parts: QemuStreamParts } {
  const parts = parseQemuStream(file, 0, file.size, observe);
  const img = streamImage(file, 'qemu-stream', parts, (sink) => writeQemuStream(parts, fileRecordPages(file, parts), sink));
  return { ...img, parts };
}
