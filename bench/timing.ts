/**
 * Timings the benchmarks share: the page map next to one batched read of the image's memory, and a
 * compressor's output bytes and wall time.
 */
import { spawn } from 'node:child_process';
import { openImage } from '../src/image/probe.js';
import type { OpenedImage } from '../src/image/types.js';
import { introspect, type Introspection } from '../src/introspect/index.js';

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Build the page map once to warm up, then `runs` times timing it and one batched read of the whole
 * memory (2048 pages per batch); medians in seconds, and the last page map.
 */
export function pageMapVsRead(img: OpenedImage, runs = 3): { built: Introspection; pageMapS: number; readS: number } {
  let built = introspect(img);
  const pm: number[] = [];
  const rd: number[] = [];
  for (let i = 0; i < runs; i++) {
    let t = performance.now();
    built = introspect(img);
    pm.push((performance.now() - t) / 1000);
    t = performance.now();
    let sum = 0;
    img.memory.forEachPageBatch((_p, _c, bytes) => {
      sum += bytes[0];
    }, 2048);
    rd.push((performance.now() - t) / 1000);
    void sum;
  }
  return { built, pageMapS: median(pm), readS: median(rd) };
}

/** pageMapVsRead on the image file at `file`, opened and closed around it. */
export function pageMapVsReadFile(file: string, runs = 3): ReturnType<typeof pageMapVsRead> {
  const img = openImage(file);
  try {
    return pageMapVsRead(img, runs);
  } finally {
    img.close();
  }
}

/** Bytes a compressor writes for `file` (`argv … -c file`, output counted from a pipe), and its wall time. */
export function compress(argv: string[], file: string): Promise<{ bytes: number; wallS: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(argv[0], [...argv.slice(1), '-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let bytes = 0;
    let err = '';
    child.stdout.on('data', (b: Buffer) => (bytes += b.length));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve({ bytes, wallS: (performance.now() - t0) / 1000 }) : reject(new Error(`${argv.join(' ')}: exit ${code}: ${err.trim()}`))));
  });
}
