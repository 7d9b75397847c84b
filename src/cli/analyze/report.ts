/**
 * `mig analyze --report`: a self-contained SVG (or HTML page around it) with the page-type
 * distribution (stacked bar, table with compressibility) and a picture of physical memory: present
 * runs drawn row by row, each cell the majority type of a fixed number of consecutive pages.
 */
import { PAGE_SIZE, PhysicalMemory } from '../../mem/physical-memory.js';
import { PAGE_TYPES, PageMap, PageType } from '../../introspect/pagemap.js';
import type { TypeRow } from './type-stats.js';

export const TYPE_COLORS: Record<PageType, string> = {
  other: '#9e9e9e',
  free: '#e8f5e9',
  anon: '#e53935',
  cache: '#1e88e5',
  image: '#8e24aa',
  shmem: '#fb8c00',
  pagetable: '#6d4c41',
  slab: '#fdd835',
  kernel: '#212121',
  offline: '#80deea',
  hwpoison: '#ff00ff',
  hole: '#ffffff',
  zero: '#c5e1a5',
  standby: '#4dd0e1',
};

export interface ReportInput {
  title: string;
  subtitle: string;
  rows: TypeRow[];
  memory: PhysicalMemory;
  map: PageMap;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const MIB = 1 << 20;

export function renderSvg(r: ReportInput): string {
  const W = 840;
  const COLS = 400;
  const CELL = 2;
  const out: string[] = [];
  let y = 30;
  out.push(`<text x="20" y="${y}" font-size="18" font-weight="bold">${esc(r.title)}</text>`);
  y += 20;
  out.push(`<text x="20" y="${y}" font-size="12" fill="#555">${esc(r.subtitle)}</text>`);
  y += 20;
  // Stacked bar of the distribution.
  const total = r.rows.reduce((s, x) => s + x.pages, 0) || 1;
  let x = 20;
  const barW = W - 40;
  for (const row of r.rows) {
    const w = (row.pages / total) * barW;
    out.push(`<rect x="${x.toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="24" fill="${TYPE_COLORS[row.type]}" stroke="#333" stroke-width="0.3"><title>${row.type}: ${row.pages} pages (${row.percent.toFixed(1)}%)</title></rect>`);
    x += w;
  }
  y += 44;
  // Table: type, pages, MiB, %, zstd, gzip.
  const cols = [20, 140, 240, 330, 410, 490];
  const head = ['type', 'pages', 'MiB', '%', 'zstd ×', 'gzip ×'];
  head.forEach((h, i) => out.push(`<text x="${cols[i]}" y="${y}" font-size="12" font-weight="bold">${h}</text>`));
  y += 16;
  for (const row of r.rows) {
    out.push(`<rect x="${cols[0]}" y="${y - 10}" width="10" height="10" fill="${TYPE_COLORS[row.type]}" stroke="#333" stroke-width="0.5"/>`);
    const cells = [row.type, String(row.pages), (row.bytes / MIB).toFixed(1), row.percent.toFixed(1), row.zstdRatio?.toFixed(2) ?? '', row.gzipRatio?.toFixed(2) ?? ''];
    cells.forEach((c, i) => out.push(`<text x="${cols[i] + (i === 0 ? 14 : 0)}" y="${y}" font-size="12">${esc(c)}</text>`));
    y += 15;
  }
  y += 15;
  // Physical memory map.
  const presentPages = r.memory.size / PAGE_SIZE;
  const maxRows = 220;
  const per = Math.max(1, Math.ceil(presentPages / (COLS * maxRows)));
  out.push(`<text x="20" y="${y}" font-size="12" font-weight="bold">physical memory: one cell = ${per} page${per > 1 ? 's' : ''} (${((per * PAGE_SIZE) / 1024).toFixed(0)} KiB), majority type, ${COLS} cells per row</text>`);
  y += 10;
  const counts = new Uint32Array(PAGE_TYPES.length);
  const types = r.map.types;
  for (const run of r.memory.runs) {
    const a = run.gpa / PAGE_SIZE;
    const b = (run.gpa + run.length) / PAGE_SIZE;
    out.push(`<text x="${20 + COLS * CELL + 8}" y="${y + 8}" font-size="10" fill="#555">0x${run.gpa.toString(16)} (${(run.length / MIB).toFixed(1)} MiB)</text>`);
    let col = 0;
    let spanStart = 0;
    let spanType = -1;
    const flushSpan = (endCol: number) => {
      if (spanType >= 0 && endCol > spanStart) out.push(`<rect x="${20 + spanStart * CELL}" y="${y}" width="${(endCol - spanStart) * CELL}" height="${CELL}" fill="${TYPE_COLORS[PAGE_TYPES[spanType]]}"/>`);
    };
    for (let p = a; p < b; p += per) {
      counts.fill(0);
      const e = Math.min(b, p + per);
      for (let q = p; q < e; q++) counts[q < types.length ? types[q] : 0]++;
      let best = 0;
      for (let t = 1; t < counts.length; t++) if (counts[t] > counts[best]) best = t;
      if (best !== spanType) {
        flushSpan(col);
        spanStart = col;
        spanType = best;
      }
      if (++col === COLS) {
        flushSpan(col);
        col = 0;
        spanStart = 0;
        spanType = -1;
        y += CELL;
      }
    }
    flushSpan(col);
    y += col > 0 ? CELL + 6 : 6;
  }
  y += 20;
  const H = y;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W + 160}" height="${H}" viewBox="0 0 ${W + 160} ${H}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="#fff"/>\n${out.join('\n')}\n</svg>\n`;
}

export function renderHtml(r: ReportInput): string {
  return `<!doctype html>\n<html><head><meta charset="utf-8"><title>${esc(r.title)}</title></head>\n<body style="margin:16px">\n${renderSvg(r)}</body></html>\n`;
}
