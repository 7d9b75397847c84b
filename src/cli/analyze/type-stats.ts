/**
 * Per page type: how many pages, and how well they compress (zstd and gzip ratio, the paper's
 * Table 3). Compression works on 1 MiB chunks of one type's pages (256 pages in PFN order), so a
 * ratio reflects the type's content, not a mix. With a sample limit, pages are taken at an even
 * stride over the type's PFNs.
 */
import * as zlib from 'node:zlib';
import { compress as zstdCompress } from 'zstd-napi';
import { PAGE_SIZE, PhysicalMemory } from '../../mem/physical-memory.js';
import { PAGE_TYPES, PageMap, PageType } from '../../introspect/pagemap.js';

export interface TypeRow {
  type: PageType;
  pages: number;
  bytes: number;
  /** Share of present pages. */
  percent: number;
  /** Pages compressed for the ratios (≤ pages). */
  sampled: number;
  /** raw / compressed over the sampled pages; undefined when no page was sampled. */
  zstdRatio?: number;
  gzipRatio?: number;
}

export interface TypeStatsOptions {
  /** At most this many pages per type are compressed (0 = all; default 4096 = 16 MiB). */
  samplePages?: number;
  /** Skip compression (counts only). */
  noCompression?: boolean;
  zstdLevel?: number;
  gzipLevel?: number;
}

const CHUNK_PAGES = 256;

export function presentTypeCounts(mem: PhysicalMemory, map: PageMap): { counts: Float64Array; present: number } {
  const counts = new Float64Array(PAGE_TYPES.length);
  let present = 0;
  const types = map.types;
  for (const r of mem.runs) {
    const a = r.gpa / PAGE_SIZE;
    const b = Math.min(types.length, (r.gpa + r.length) / PAGE_SIZE);
    for (let p = a; p < b; p++) counts[types[p]]++;
    present += (r.gpa + r.length) / PAGE_SIZE - a;
  }
  return { counts, present };
}

export function typeStats(mem: PhysicalMemory, map: PageMap, opts: TypeStatsOptions = {}): TypeRow[] {
  const { counts, present } = presentTypeCounts(mem, map);
  const limit = opts.samplePages ?? 4096;
  const rows: TypeRow[] = [];
  const chunk = Buffer.allocUnsafe(CHUNK_PAGES * PAGE_SIZE);
  for (let code = 0; code < PAGE_TYPES.length; code++) {
    const pages = counts[code];
    if (pages === 0) continue;
    const row: TypeRow = { type: PAGE_TYPES[code], pages, bytes: pages * PAGE_SIZE, percent: (100 * pages) / Math.max(1, present), sampled: 0 };
    rows.push(row);
    if (opts.noCompression || PAGE_TYPES[code] === 'hole') continue;
    const stride = limit > 0 && pages > limit ? pages / limit : 1;
    let raw = 0;
    let zst = 0;
    let gz = 0;
    let used = 0;
    const flush = () => {
      if (used === 0) return;
      const data = chunk.subarray(0, used * PAGE_SIZE);
      zst += zstdCompress(data, { compressionLevel: opts.zstdLevel ?? 3 }).length;
      gz += zlib.gzipSync(data, { level: opts.gzipLevel ?? 6 }).length;
      raw += data.length;
      used = 0;
    };
    // Walk this type's PFNs, taking the ones at the stride.
    let seen = 0;
    let next = 0;
    const types = map.types;
    for (const r of mem.runs) {
      const a = r.gpa / PAGE_SIZE;
      const b = Math.min(types.length, (r.gpa + r.length) / PAGE_SIZE);
      for (let p = a; p < b; p++) {
        if (types[p] !== code) continue;
        if (seen++ < next) continue;
        next += stride;
        if (!mem.readPage(p, chunk, used * PAGE_SIZE)) continue;
        row.sampled++;
        if (++used === CHUNK_PAGES) flush();
      }
    }
    flush();
    if (raw > 0) {
      row.zstdRatio = raw / zst;
      row.gzipRatio = raw / gz;
    }
  }
  return rows;
}
