/**
 * PageMap: a page type for every PFN of an image — the interface between introspection (Linux,
 * Windows) and the codec. One byte per PFN. Text form (`mig analyze --page-map`, `mig encode
 * --page-map`): one line per run, `start_pfn count type`, decimal, ascending, covering every PFN.
 */
import * as fs from 'node:fs';
import { UsageError } from '../util/errors.js';
import { fileKind } from '../util/file.js';

/**
 * Page types; a type's code is its index, so new types go at the end. `standby` (Windows: clean pages
 * on the standby lists, SuperFetch's prefetch among them) is never dropped and goes through the
 * codec like any kept page (context first).
 */
export const PAGE_TYPES = ['other', 'free', 'anon', 'cache', 'image', 'shmem', 'pagetable', 'slab', 'kernel', 'offline', 'hwpoison', 'hole', 'zero', 'standby'] as const;
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

  /**
   * Parse the text form; every line checked (ascending, contiguous from 0, known type) and the runs
   * bounded by `maxPfns`, the guest-physical span of the image the map is for (pfnSpan of its
   * memory): a map is never larger than its image. Callers with an image must pass it; the default
   * (DEFAULT_MAX_PFNS) only caps callers without one.
   */
  static parse(text: string, file = 'page map', maxPfns = DEFAULT_MAX_PFNS): PageMap {
    const p = new PageMapParser(file, maxPfns);
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) p.line(lines[i], i + 1);
    return p.finish();
  }

  /**
   * Read and parse a page map file for an image of `maxPfns` page frames (pfnSpan of its memory).
   * It must be a regular file (checked with fstat before anything is read: a FIFO, device or
   * directory is refused) no larger than maxPageMapBytes(maxPfns), the most a valid map for that
   * image can take; it is parsed as it is read, a line at a time.
   */
  static read(path: string, maxPfns = DEFAULT_MAX_PFNS): PageMap {
    let fd: number;
    try {
      // O_NONBLOCK: opening a FIFO must not wait for a writer before fstat can refuse it.
      fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    } catch (e) {
      throw new UsageError(`cannot read page map ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`, { file: path });
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new UsageError(`page map ${path} is not a regular file (${fileKind(st)})`, { file: path });
      const limit = maxPageMapBytes(maxPfns);
      if (st.size > limit) {
        throw new UsageError(`page map ${path} has ${st.size} bytes, more than a page map of this image's ${maxPfns} page frames can take (${limit})`, { file: path, size: st.size, limit });
      }
      const p = new PageMapParser(path, maxPfns);
      const buf = Buffer.allocUnsafe(1 << 20);
      let partial = '';
      let lineNo = 0;
      let total = 0;
      for (;;) {
        const n = fs.readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        total += n;
        if (total > limit) throw new UsageError(`page map ${path} grew past ${limit} bytes while it was read`, { file: path, limit });
        // Latin-1 keeps every byte one character (a multi-byte sequence cut at a chunk edge cannot
        // turn into a valid line; anything not ASCII fails the line syntax anyway).
        const chunk = partial + buf.toString('latin1', 0, n);
        let from = 0;
        for (let nl = chunk.indexOf('\n'); nl >= 0; nl = chunk.indexOf('\n', from)) {
          p.line(chunk.slice(from, nl), ++lineNo);
          from = nl + 1;
        }
        partial = chunk.slice(from);
        if (partial.length > MAX_LINE) p.line(partial, lineNo + 1); // throws: line too long
      }
      if (partial !== '') p.line(partial, ++lineNo);
      return p.finish();
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** Without an image to bound it, a parsed page map covers at most 2^28 page frames (1 TiB of guest-physical space, 256 MiB of map). */
export const DEFAULT_MAX_PFNS = 2 ** 28;

/** Longest line accepted: two numbers and a type name with room to spare. */
const MAX_LINE = 256;

/** Page types by name: a Map, so that names of Object.prototype ("constructor", "toString") are not types. */
const TYPE_BY_NAME: ReadonlyMap<string, number> = new Map(PAGE_TYPES.map((t, i) => [t, i]));

/** The type code of a page type name, or undefined when it is not one. */
export function pageTypeCode(name: string): number | undefined {
  return TYPE_BY_NAME.get(name);
}

/**
 * The largest file a valid page map of `maxPfns` frames can be: at most one line per frame (every
 * run covers ≥ 1), each at most two numbers of that many digits, the longest type name, two spaces
 * and CR LF; plus 4 KiB of slack for blank lines and trailing spaces.
 */
export function maxPageMapBytes(maxPfns: number): number {
  const digits = String(Math.max(1, maxPfns)).length;
  const longestType = Math.max(...PAGE_TYPES.map((t) => t.length));
  return maxPfns * (2 * digits + longestType + 4) + 4096;
}

/** Line-at-a-time parser: runs fill a type array grown as they arrive, never past maxPfns. */
class PageMapParser {
  private types = new Uint8Array(0);
  private next = 0;

  constructor(private readonly file: string, private readonly maxPfns: number) {
    if (!Number.isSafeInteger(maxPfns) || maxPfns < 0) throw new TypeError(`page map bound ${maxPfns} is not a page count`);
  }

  line(line: string, lineNo: number): void {
    const bad = (what: string) => new UsageError(`${this.file}: line ${lineNo}: ${what}: ${JSON.stringify(line.slice(0, 80))}`, { file: this.file, line: lineNo });
    if (line.length > MAX_LINE) throw bad(`line longer than ${MAX_LINE} characters`);
    const l = line.trim();
    if (l === '') return;
    const m = /^(\d{1,16}) (\d{1,16}) ([a-z]+)$/.exec(l);
    if (!m) throw bad('expected "start_pfn count type"');
    const [start, count] = [Number(m[1]), Number(m[2])];
    const code = TYPE_BY_NAME.get(m[3]);
    if (code === undefined) throw bad(`unknown page type (one of ${PAGE_TYPES.join(', ')})`);
    if (start !== this.next) throw bad(`run starts at ${start}, expected ${this.next} (runs must be ascending and contiguous)`);
    if (count < 1 || count > this.maxPfns - start) throw bad(`count ${count} out of range (the image has ${this.maxPfns} page frames)`);
    const end = start + count;
    if (end > this.types.length) {
      const grown = new Uint8Array(Math.min(this.maxPfns, Math.max(end, 2 * this.types.length, 4096)));
      grown.set(this.types.subarray(0, this.next));
      this.types = grown;
    }
    this.types.fill(code, start, end);
    this.next = end;
  }

  finish(): PageMap {
    return new PageMap(this.types.length === this.next ? this.types : this.types.slice(0, this.next));
  }
}
