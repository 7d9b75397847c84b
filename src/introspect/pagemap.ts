/**
 * PageMap: a page type for every PFN of an image — the interface between introspection (Linux,
 * Windows) and the codec. One byte per PFN. Text form (`mig analyze --page-map`, `mig encode
 * --page-map`): one line per run, `start_pfn count type`, decimal, ascending, covering every PFN.
 */
import * as fs from 'node:fs';
import { UsageError } from '../util/errors.js';

export const PAGE_TYPES = ['other', 'free', 'anon', 'cache', 'image', 'shmem', 'pagetable', 'slab', 'kernel', 'offline', 'hwpoison', 'hole', 'zero'] as const;
export type PageType = (typeof PAGE_TYPES)[number];
export const PageTypeCode: Record<PageType, number> = Object.fromEntries(PAGE_TYPES.map((t, i) => [t, i])) as Record<PageType, number>;

export class PageMap {
  /** types[pfn] = PageTypeCode; PFNs past the end are 'other'. */
  constructor(readonly types: Uint8Array) {}

  get pfns(): number {
    return this.types.length;
  }

  type(pfn: number): PageType {
    return PAGE_TYPES[pfn < this.types.length ? this.types[pfn] : 0];
  }

  isFree(pfn: number): boolean {
    return pfn < this.types.length && this.types[pfn] === PageTypeCode.free;
  }

  count(type: PageType): number {
    const c = PageTypeCode[type];
    let n = 0;
    for (let i = 0; i < this.types.length; i++) if (this.types[i] === c) n++;
    return n;
  }

  /** The text form: runs of equal type. */
  toText(): string {
    const out: string[] = [];
    let start = 0;
    for (let i = 1; i <= this.types.length; i++) {
      if (i === this.types.length || this.types[i] !== this.types[start]) {
        out.push(`${start} ${i - start} ${PAGE_TYPES[this.types[start]]}`);
        start = i;
      }
    }
    return out.join('\n') + '\n';
  }

  /** Parse the text form; every line checked (ascending, contiguous from 0, known type, bounded size). */
  static parse(text: string, file = 'page map', maxPfns = 2 ** 32): PageMap {
    const runs: [number, number, number][] = [];
    let next = 0;
    const lines = text.split('\n');
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      const m = /^(\d+) (\d+) ([a-z]+)$/.exec(line.trim());
      const bad = (what: string) => new UsageError(`${file}: line ${i + 1}: ${what}: ${JSON.stringify(line.slice(0, 80))}`, { file, line: i + 1 });
      if (!m) throw bad('expected "start_pfn count type"');
      const [start, count] = [Number(m[1]), Number(m[2])];
      const code = PageTypeCode[m[3] as PageType];
      if (code === undefined) throw bad(`unknown page type (one of ${PAGE_TYPES.join(', ')})`);
      if (start !== next) throw bad(`run starts at ${start}, expected ${next} (runs must be ascending and contiguous)`);
      if (count < 1 || start + count > maxPfns) throw bad(`count ${count} out of range`);
      runs.push([start, count, code]);
      next = start + count;
    });
    const types = new Uint8Array(next);
    for (const [s, c, code] of runs) types.fill(code, s, s + c);
    return new PageMap(types);
  }

  static read(path: string): PageMap {
    let text: string;
    try {
      text = fs.readFileSync(path, 'utf8');
    } catch (e) {
      throw new UsageError(`cannot read page map ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
    return PageMap.parse(text, path);
  }
}
