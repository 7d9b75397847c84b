/**
 * The context as the codec sees it: the CTX file's content area as 4 KiB pages (every file starts
 * on a page boundary and is zero-padded, docs/format/context.md), indexed by page hash. A guest
 * page-cache page of a file in the context is then a whole-page match (a CTX reference); so is an
 * executable's text page mapped from it. Identified by the CTX content digest.
 */
import { isZeroPage, PAGE_SIZE } from '../mem/physical-memory.js';
import { openContext, type ContextFile } from '../context/open.js';
import { MAX_MAP } from '../util/mmap.js';
import { PageIndex, pageHash } from './page-index.js';

export interface ContextPages {
  path: string;
  digest: Buffer;
  pages: number;
  /** Copy context page p into out; false past the end. */
  readPage(p: number, out: Buffer): boolean;
  /** Content bytes in the content area. */
  bytes: number;
  /** Copy content bytes [offset, offset+length) into out at `at`; false when out of range. */
  readBytes(offset: number, length: number, out: Buffer, at: number): boolean;
  /** The whole content area, when opened with `inMemory` (sub-page matching, encoder side). */
  content?: Buffer;
  /** A context page whose bytes equal page (verified), or -1. */
  lookup(hi: number, lo: number, page: Buffer, scratch: Buffer): number;
  close(): void;
}

export interface ContextPagesOptions {
  /** Build the page-hash index (encoding). Default true. */
  index?: boolean;
  /** Map the content area into memory; pages, ranges and the index are then served from it. */
  inMemory?: boolean;
}

export function openContextPages(path: string, opts: ContextPagesOptions = {}): ContextPages {
  const ctx: ContextFile = openContext(path);
  try {
    const bytes = ctx.header.contentLength;
    const pages = Math.floor(bytes / PAGE_SIZE);
    // In memory: mapped, not read (a context of more than 4 GiB is read range by range instead).
    const content = opts.inMemory && bytes <= MAX_MAP ? ctx.mapContent(0, bytes) : undefined;
    const readBytes = (offset: number, length: number, out: Buffer, at: number) => {
      if (offset < 0 || length < 0 || offset + length > bytes) return false;
      if (content) content.copy(out, at, offset, offset + length);
      else ctx.readContent(offset, length, out, at);
      return true;
    };
    const readPage = (p: number, out: Buffer) => p >= 0 && p < pages && readBytes(p * PAGE_SIZE, PAGE_SIZE, out, 0);
    let lookup: ContextPages['lookup'] = () => -1;
    if (opts.index ?? true) {
      const index = new PageIndex(pages);
      const h = new Uint32Array(2);
      const chunk = content ?? Buffer.allocUnsafe(256 * PAGE_SIZE);
      for (let p = 0; p < pages; p += 256) {
        const n = Math.min(256, pages - p);
        // In memory: index the content where it is; else read it in 1 MiB chunks.
        const base = content ? p * PAGE_SIZE : 0;
        if (!content) ctx.readContent(p * PAGE_SIZE, n * PAGE_SIZE, chunk);
        for (let i = 0; i < n; i++) {
          const off = base + i * PAGE_SIZE;
          if (isZeroPage(chunk, off)) continue;
          pageHash(chunk, off, h);
          index.add(h[0], h[1], p + i);
        }
      }
      lookup = (hi, lo, page, scratch) => {
        const f = index.get(hi, lo);
        return f >= 0 && readPage(f, scratch) && scratch.equals(page) ? f : -1;
      };
    }
    return { path, digest: ctx.header.digest, pages, bytes, content, readPage, readBytes, lookup, close: () => ctx.close() };
  } catch (e) {
    ctx.close();
    throw e;
  }
}
