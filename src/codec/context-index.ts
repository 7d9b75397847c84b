/**
 * The context's anchor table (subpage.ts), cached beside the CTX file as `<ctx>.anchors`, so that an
 * encode does not hash the whole context again (on mig-large's 191 MB context that is ~1 s of a
 * 1-thread encode). The table is a pure function of the content and the fingerprint tuning, so the
 * cache is keyed by the CTX content digest and those parameters; anything that does not match
 * (another digest, other tuning, a size that does not add up, a bad checksum) is ignored and the table
 * rebuilt and rewritten. A cache file can only ever cost compression, never correctness: every match
 * it proposes is verified byte for byte against the context before it is used.
 *
 * Layout (little-endian): "MIGANCH1", u32 anchor bits, u32 window, u32 log2(slots), u32 0,
 * f64 entries, 32-byte CTX content digest, u64 xxh3-64 of the key and position arrays, then
 * slots × u32 keys, slots × f64 positions. Written atomically (temp file + rename); when the
 * directory is not writable (or full) the encode goes on without it.
 */
import * as fs from 'node:fs';
import { AnchorTable, WINDOW } from './fingerprint.js';
import { buildContextAnchors, contextAnchorBudget, TUNING } from './subpage.js';
import { xxh3_64 } from './container.js';
import { writeAtomically } from '../util/sink.js';
import { mapRange } from '../util/mmap.js';

const MAGIC = Buffer.from('MIGANCH1');
const HEADER = 8 + 16 + 8 + 32 + 8;

export interface ContextAnchors {
  table: AnchorTable;
  /** 'cache': read from `<ctx>.anchors`; 'built': computed (and written there when possible). */
  source: 'cache' | 'built';
  cacheFile: string;
}

export function contextAnchorsFor(ctxPath: string, digest: Buffer, content: Buffer): ContextAnchors {
  const cacheFile = `${ctxPath}.anchors`;
  const expectSlots = AnchorTable.slotsFor(contextAnchorBudget(content.length));
  const cached = readCache(cacheFile, digest, expectSlots, content.length);
  if (cached) return { table: cached, source: 'cache', cacheFile };
  const table = buildContextAnchors(content);
  try {
    writeCache(cacheFile, digest, table);
  } catch {
    // Not writable, full, or read-only: the cache is an optimisation only.
  }
  return { table, source: 'built', cacheFile };
}

function readCache(file: string, digest: Buffer, slots: number, contentLength: number): AnchorTable | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size !== HEADER + slots * 12) return undefined;
    const h = Buffer.alloc(HEADER);
    if (fs.readSync(fd, h, 0, HEADER, 0) !== HEADER || !h.subarray(0, 8).equals(MAGIC)) return undefined;
    if (h.readUInt32LE(8) !== TUNING.contextAnchorBits || h.readUInt32LE(12) !== WINDOW || 2 ** h.readUInt32LE(16) !== slots) return undefined;
    if (!h.subarray(32, 64).equals(digest)) return undefined;
    const entries = h.readDoubleLE(24);
    if (!Number.isSafeInteger(entries) || entries < 0 || entries > slots) return undefined;
    // Mapped, not read: the table is only looked up (a write through the read-only mapping would fault),
    // and 12 bytes per slot of fresh memory cost more to touch than to map (50 MB on mig-large).
    const body = mapRange(fd, HEADER, slots * 12, true);
    if (xxh3_64(body) !== h.readBigUInt64LE(64)) return undefined;
    const keys = new Uint32Array(body.buffer, body.byteOffset, slots);
    const vals = new Float64Array(body.buffer, body.byteOffset + slots * 4, slots);
    // Positions must lie inside the content (a proposed match is verified anyway; this keeps reads in range).
    for (let i = 0; i < slots; i++) if (vals[i] >= contentLength || (vals[i] < 0 && vals[i] !== -1)) return undefined;
    return new AnchorTable(contextAnchorBudget(contentLength), { keys, vals, entries });
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

function writeCache(file: string, digest: Buffer, table: AnchorTable): void {
  const { keys, vals, entries } = table.state();
  const body = Buffer.concat([Buffer.from(keys.buffer, keys.byteOffset, keys.byteLength), Buffer.from(vals.buffer, vals.byteOffset, vals.byteLength)]);
  const h = Buffer.alloc(HEADER);
  MAGIC.copy(h, 0);
  h.writeUInt32LE(TUNING.contextAnchorBits, 8);
  h.writeUInt32LE(WINDOW, 12);
  h.writeUInt32LE(Math.log2(table.slots), 16);
  h.writeDoubleLE(entries, 24);
  digest.copy(h, 32);
  h.writeBigUInt64LE(xxh3_64(body), 64);
  writeAtomically(file, (sink) => {
    sink.write(h);
    sink.write(body);
  });
}
