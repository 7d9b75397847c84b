/**
 * Rebuild a QEMU ELF dump from its parsed parts (elf-dump.ts): the metadata bytes verbatim and the
 * PT_LOAD file data from any PhysicalMemory. Spec: docs/format/elf-dump.md, "Rewrite".
 */
import { AddressFault } from '../util/errors.js';
import { PAGE_SIZE, PhysicalMemory } from '../mem/physical-memory.js';
import type { ByteSink } from './types.js';

/** One PT_LOAD: file bytes [fileOffset, +fileLength) back GPA [gpa, +fileLength); the rest of memLength is zero. */
export interface ElfLoad {
  /** Program header index. */
  phdr: number;
  fileOffset: number;
  fileLength: number;
  gpa: number;
  memLength: number;
}

export interface ElfDumpParts {
  fileSize: number;
  /** Every byte that is not PT_LOAD file data, verbatim, ascending by offset. */
  metadata: { fileOffset: number; bytes: Buffer }[];
  /** PT_LOADs in program-header order. */
  loads: ElfLoad[];
}


/** writeElfDump streams through forEachPageBatch only when it would skip at most this many zero-fill bytes. */
const STREAM_MAX_TAIL_BYTES = 64 << 20;

/**
 * Write an ELF dump from its parts: metadata verbatim, PT_LOAD file data from `memory`. When loads
 * ascend by GPA in file order and zero-filled tails (p_memsz - p_filesz) are small (always, for
 * QEMU) pages stream through forEachPageBatch; otherwise only the file-backed pages are fetched
 * with readPage. Throws AddressFault when `memory` lacks a page a PT_LOAD needs.
 */
export function writeElfDump(parts: ElfDumpParts, memory: PhysicalMemory, sink: ByteSink): void {
  type Piece = { at: number; meta?: Buffer; load?: ElfLoad };
  const pieces: Piece[] = [
    ...parts.metadata.map((m) => ({ at: m.fileOffset, meta: m.bytes })),
    ...parts.loads.filter((l) => l.fileLength > 0).map((l) => ({ at: l.fileOffset, load: l })),
  ].sort((a, b) => a.at - b.at);
  let end = 0;
  for (const p of pieces) {
    if (p.at !== end) throw new Error(`internal: ELF parts do not tile the file at ${end}`);
    end += p.meta ? p.meta.length : p.load!.fileLength;
  }
  if (end !== parts.fileSize) throw new Error(`internal: ELF parts cover ${end} of ${parts.fileSize} bytes`);
  const missing = (gpa: number, len: number) => new AddressFault(gpa, len, 'needed to rebuild the ELF dump but absent from the memory');
  const fileLoads = pieces.filter((p) => p.load).map((p) => p.load!);
  const tails = parts.loads.reduce((n, l) => n + l.memLength - l.fileLength, 0);
  if (tails <= STREAM_MAX_TAIL_BYTES && fileLoads.every((l, i) => i === 0 || l.gpa > fileLoads[i - 1].gpa)) {
    let k = 0;
    let done = 0;
    const flushMeta = () => {
      while (k < pieces.length && pieces[k].meta) sink.write(pieces[k++].meta!);
    };
    flushMeta();
    if (k < pieces.length) {
      memory.forEachPageBatch((pfn, count, bytes) => {
        const start = pfn * PAGE_SIZE;
        const stop = start + count * PAGE_SIZE;
        while (k < pieces.length) {
          const l = pieces[k].load!;
          const want = l.gpa + done;
          if (want >= stop) return;
          if (want < start) throw missing(want, Math.min(start, l.gpa + l.fileLength) - want);
          const n = Math.min(stop, l.gpa + l.fileLength) - want;
          sink.write(bytes.subarray(want - start, want - start + n));
          done += n;
          if (done === l.fileLength) {
            k++;
            done = 0;
            flushMeta();
          }
        }
      });
    }
    if (k < pieces.length) throw missing(pieces[k].load!.gpa + done, pieces[k].load!.fileLength - done);
    return;
  }
  const buf = Buffer.allocUnsafe(256 * PAGE_SIZE);
  for (const p of pieces) {
    if (p.meta) {
      sink.write(p.meta);
      continue;
    }
    const l = p.load!;
    for (let off = 0; off < l.fileLength; off += buf.length) {
      const n = Math.min(buf.length, l.fileLength - off);
      for (let q = 0; q * PAGE_SIZE < n; q++) {
        const gpa = l.gpa + off + q * PAGE_SIZE;
        if (!memory.readPage(gpa / PAGE_SIZE, buf, q * PAGE_SIZE)) throw missing(gpa, PAGE_SIZE);
      }
      sink.write(buf.subarray(0, n));
    }
  }
}
