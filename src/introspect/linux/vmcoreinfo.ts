/**
 * VMCOREINFO: the Linux kernel's `KEY=VALUE\n` description of itself (include/linux/crash_core.h).
 * Found as an ELF note in dumps taken with `-device vmcoreinfo`, or by scanning guest memory for the
 * page the kernel keeps it in (`vmcoreinfo_data`: a zeroed page whose text starts with `OSRELEASE=`)
 * or for its in-memory ELF note (`vmcoreinfo_note`: namesz 11, "VMCOREINFO\0", text at +24).
 * Only OSRELEASE and PAGESIZE are interpreted here; introspection reads the rest by key.
 */
import { PAGE_SIZE } from '../../mem/physical-memory.js';

export interface Vmcoreinfo {
  osRelease?: string;
  pageSize?: number;
  /** Every KEY=VALUE line, in order, values as text (SYMBOL hex, NUMBER signed decimal, OFFSET/SIZE/LENGTH decimal). */
  entries: Map<string, string>;
  text: string;
}

export function parseVmcoreinfo(text: string): Vmcoreinfo {
  const entries = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) entries.set(line.slice(0, eq), line.slice(eq + 1));
  }
  const ps = entries.get('PAGESIZE');
  return { osRelease: entries.get('OSRELEASE'), pageSize: ps !== undefined && /^\d+$/.test(ps) ? Number(ps) : undefined, entries, text };
}

const OSRELEASE = Buffer.from('OSRELEASE=');
const NOTE_NAME = Buffer.from('VMCOREINFO\0');

function textUntilNul(buf: Uint8Array, start: number, end: number): string {
  let i = start;
  while (i < end && buf[i] !== 0) i++;
  return Buffer.from(buf.buffer, buf.byteOffset + start, i - start).toString('latin1');
}

/**
 * If the page at buf[off..off+4096) holds VMCOREINFO text (either form), return the text found in
 * this page, else undefined. Cheap enough to run on every page: rejects on the first bytes.
 */
export function vmcoreinfoInPage(buf: Uint8Array, off: number): string | undefined {
  const b0 = buf[off];
  if (b0 === 0x4f /* 'O' */) {
    if (OSRELEASE.compare(buf, off, off + OSRELEASE.length) !== 0) return undefined;
    const text = textUntilNul(buf, off, off + PAGE_SIZE);
    return text.includes('PAGESIZE=') ? text : undefined;
  }
  if (b0 === 11 && buf[off + 1] === 0 && buf[off + 2] === 0 && buf[off + 3] === 0 && buf[off + 8] === 0) {
    if (NOTE_NAME.compare(buf, off + 12, off + 12 + NOTE_NAME.length) !== 0) return undefined;
    const text = textUntilNul(buf, off + 24, off + PAGE_SIZE);
    return text.startsWith('OSRELEASE=') ? text : undefined;
  }
  return undefined;
}
