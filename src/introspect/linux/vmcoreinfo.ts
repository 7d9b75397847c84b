/**
 * VMCOREINFO: the Linux kernel's `KEY=VALUE\n` description of itself (include/linux/crash_core.h).
 * Found as an ELF note in dumps taken with `-device vmcoreinfo`, or by scanning guest memory for the
 * page the kernel keeps it in (`vmcoreinfo_data`: a zeroed page whose text starts with `OSRELEASE=`)
 * or for its in-memory ELF note (`vmcoreinfo_note`: namesz 11, "VMCOREINFO\0", text at +24).
 * Every key is kept as text; the typed getters below read it with the base the kernel printed it
 * in (crash_core.h: SYMBOL `%lx`, NUMBER `%ld`, OFFSET/SIZE/LENGTH `%lu`, KERNELOFFSET `%lx`).
 */
import { PAGE_SIZE, PhysicalMemory } from '../../mem/physical-memory.js';
import { IntrospectionError, IntrospectionErrorCode } from '../../util/errors.js';

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

/** SYMBOL(name): a runtime kernel virtual address (KASLR applied), printed `%lx`. */
export function vmSymbol(v: Vmcoreinfo, name: string): bigint | undefined {
  const s = v.entries.get(`SYMBOL(${name})`);
  return s !== undefined && /^[0-9a-fA-F]{1,16}$/.test(s) ? BigInt('0x' + s) : undefined;
}

/**
 * NUMBER(name): signed decimal (`%ld`). Like makedumpfile's read_vmcoreinfo_long, fall back to hex
 * for a value that is not decimal.
 */
export function vmNumber(v: Vmcoreinfo, name: string): number | undefined {
  const s = v.entries.get(`NUMBER(${name})`);
  if (s === undefined) return undefined;
  if (/^-?\d+$/.test(s)) return Number(s);
  if (/^(0x)?[0-9a-fA-F]{1,16}$/.test(s)) return Number(BigInt.asIntN(64, BigInt(s.startsWith('0x') ? s : '0x' + s)));
  return undefined;
}

function unsignedKey(v: Vmcoreinfo, key: string): number | undefined {
  const s = v.entries.get(key);
  return s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined;
}
/** OFFSET(struct.member), decimal. */
export const vmOffset = (v: Vmcoreinfo, name: string) => unsignedKey(v, `OFFSET(${name})`);
/** SIZE(struct), decimal. */
export const vmSize = (v: Vmcoreinfo, name: string) => unsignedKey(v, `SIZE(${name})`);
/** LENGTH(array), decimal. */
export const vmLength = (v: Vmcoreinfo, name: string) => unsignedKey(v, `LENGTH(${name})`);

/** KERNELOFFSET: the KASLR slide of the kernel text, hex (0 when KASLR is off or the key is absent). */
export function vmKernelOffset(v: Vmcoreinfo): bigint {
  const s = v.entries.get('KERNELOFFSET');
  return s !== undefined && /^[0-9a-fA-F]{1,16}$/.test(s) ? BigInt('0x' + s) : 0n;
}

/** Like the getters, but a missing key is an IntrospectionError naming it. */
export function need<T>(value: T | undefined, key: string): T {
  if (value === undefined) throw new IntrospectionError(IntrospectionErrorCode.MISSING, `VMCOREINFO has no ${key}`, { key });
  return value;
}

export type VmcoreinfoSource = 'elf-note' | 'device-note' | 'memory-scan';

export interface FoundVmcoreinfo {
  vmcoreinfo: Vmcoreinfo;
  source: VmcoreinfoSource;
  /** Guest-physical address of the note or page it came from (not for elf-note). */
  gpa?: number;
}

/** Hints a container gives for free: the ELF dump's note, or the vmcoreinfo device's note address. */
export interface VmcoreinfoHints {
  noteText?: string;
  /** Guest-physical address of the guest's VMCOREINFO ELF note (QEMU `vmcoreinfo` device state). */
  noteGpa?: number;
  /**
   * A VMCOREINFO page the caller already found with `vmcoreinfoInPage` in a pass over guest memory
   * it made anyway (a stream reader's page observer, `mig info`'s zero count): taken as the scan's
   * result, after the two notes, so that memory is not scanned twice.
   */
  seen?: { text: string; gpa?: number };
}

/** Read the guest's in-memory ELF note (u32 namesz=11, descsz, type; "VMCOREINFO\0" padded; text) at gpa. */
export function readVmcoreinfoNote(mem: PhysicalMemory, gpa: number): string | undefined {
  const pfn = Math.floor(gpa / PAGE_SIZE);
  const off = gpa % PAGE_SIZE;
  // The note spans at most two pages (VMCOREINFO_NOTE_SIZE ≈ 4 KiB + header).
  const buf = Buffer.alloc(2 * PAGE_SIZE);
  if (!mem.readPage(pfn, buf, 0)) return undefined;
  mem.readPage(pfn + 1, buf, PAGE_SIZE);
  if (buf.readUInt32LE(off) !== 11 || NOTE_NAME.compare(buf, off + 12, off + 12 + NOTE_NAME.length) !== 0) return undefined;
  const descsz = Math.min(buf.readUInt32LE(off + 4), buf.length - off - 24);
  const text = textUntilNul(buf, off + 24, off + 24 + descsz);
  return text.startsWith('OSRELEASE=') ? text : undefined;
}

/**
 * Scan every present page (one read of the image) for VMCOREINFO; the first hit wins. Runs the
 * reader knows to be zero (an ELF p_memsz − p_filesz tail) hold no note and are skipped unread.
 */
export function scanVmcoreinfo(mem: PhysicalMemory): { text: string; gpa: number } | undefined {
  let found: { text: string; gpa: number } | undefined;
  const STOP = {};
  try {
    mem.forEachPageBatch((pfn, count, bytes) => {
      for (let i = 0; i < count; i++) {
        const text = vmcoreinfoInPage(bytes, i * PAGE_SIZE);
        if (text !== undefined) {
          found = { text, gpa: (pfn + i) * PAGE_SIZE };
          throw STOP;
        }
      }
    }, 1024, () => undefined);
  } catch (e) {
    if (e !== STOP) throw e;
  }
  return found;
}

/**
 * Find VMCOREINFO: the container's ELF note, else the note the vmcoreinfo device points at, else a
 * page the caller has already seen (`hints.seen`), else a scan of guest memory. Throws
 * INTROSPECT_NO_VMCOREINFO when none is found.
 */
export function findVmcoreinfo(mem: PhysicalMemory, hints: VmcoreinfoHints = {}, opts: { scan?: boolean } = {}): FoundVmcoreinfo {
  if (hints.noteText !== undefined && hints.noteText.includes('OSRELEASE=')) return { vmcoreinfo: parseVmcoreinfo(hints.noteText), source: 'elf-note' };
  if (hints.noteGpa !== undefined && hints.noteGpa > 0) {
    const text = readVmcoreinfoNote(mem, hints.noteGpa);
    if (text !== undefined) return { vmcoreinfo: parseVmcoreinfo(text), source: 'device-note', gpa: hints.noteGpa };
  }
  if (hints.seen !== undefined) return { vmcoreinfo: parseVmcoreinfo(hints.seen.text), source: 'memory-scan', gpa: hints.seen.gpa };
  if (opts.scan !== false) {
    const hit = scanVmcoreinfo(mem);
    if (hit) return { vmcoreinfo: parseVmcoreinfo(hit.text), source: 'memory-scan', gpa: hit.gpa };
  }
  throw new IntrospectionError(IntrospectionErrorCode.NO_VMCOREINFO,
    'no VMCOREINFO found (no ELF note, no vmcoreinfo device address, and no VMCOREINFO page in guest memory): not a Linux guest, or a kernel built without CONFIG_CRASH_CORE');
}

/**
 * The paging mode a kernel's VMCOREINFO describes, without reading memory: x86-64 when the page-table
 * root is in the kernel image map (5-level with NUMBER(pgtable_l5_enabled)=1), else i386 with PAE when
 * CONFIG_X86_PAE=y, else i386 non-PAE. Undefined without a root symbol.
 */
export function pagingModeNameFromVmcoreinfo(v: Vmcoreinfo): 'x86-64 4-level' | 'x86-64 5-level' | 'x86 PAE' | 'x86 non-PAE' | undefined {
  const root = vmSymbol(v, 'init_top_pgt') ?? vmSymbol(v, 'swapper_pg_dir');
  if (root === undefined) return undefined;
  if (root >= 0xffffffff80000000n) return vmNumber(v, 'pgtable_l5_enabled') === 1 ? 'x86-64 5-level' : 'x86-64 4-level';
  if (root >= 1n << 32n) return undefined;
  return v.entries.get('CONFIG_X86_PAE') === 'y' ? 'x86 PAE' : 'x86 non-PAE';
}
