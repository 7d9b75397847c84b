/**
 * Reading Windows kernel virtual memory through one page-table root, with Windows' software PTEs
 * (transition pages are still resident: windows/paging.ts). Every read either returns the bytes or
 * throws an IntrospectionError that names the structure being read and its address; the `try…`
 * forms return undefined instead, for walks that skip what they cannot read.
 */
import { PAGE_SIZE, PhysicalMemory } from '../../mem/physical-memory.js';
import { IntrospectionError, IntrospectionErrorCode } from '../../util/errors.js';
import { PageTableWalker, PagingMode } from '../x86/paging.js';
import { windowsPagingMode } from './paging.js';

export const hex = (v: number): string => '0x' + v.toString(16);

export class KernelSpace {
  readonly walker: PageTableWalker;
  /** The hardware mode (non-PAE or PAE); the walker uses Windows' validity on top of it. */
  readonly mode: PagingMode;
  private readonly page = Buffer.alloc(PAGE_SIZE);
  private pagePfn = -1;

  constructor(readonly mem: PhysicalMemory, mode: PagingMode, readonly rootPa: number) {
    this.mode = mode;
    this.walker = new PageTableWalker(mem, windowsPagingMode(mode), rootPa);
  }

  get pae(): boolean {
    return this.mode.entryBytes === 8;
  }

  /** Guest-physical address of a 32-bit VA, or -1 when it is not mapped (or its frame not in the image). */
  vtop(va: number): number {
    const pfn = this.walker.translateVpn(Math.floor((va >>> 0) / PAGE_SIZE));
    if (pfn < 0 || !this.mem.isPresent(pfn)) return -1;
    return pfn * PAGE_SIZE + (va % PAGE_SIZE);
  }

  /** Bytes [va, va+len) or undefined when any page is unmapped. */
  tryRead(va: number, len: number): Buffer | undefined {
    va >>>= 0;
    if (len <= 0) return Buffer.alloc(0);
    if (va + len > 2 ** 32) return undefined;
    const off = va % PAGE_SIZE;
    if (off + len <= PAGE_SIZE) {
      const pa = this.vtop(va);
      if (pa < 0) return undefined;
      const pfn = Math.floor(pa / PAGE_SIZE);
      if (pfn !== this.pagePfn) {
        if (!this.mem.readPage(pfn, this.page)) return undefined;
        this.pagePfn = pfn;
      }
      return Buffer.from(this.page.subarray(off, off + len));
    }
    const out = Buffer.alloc(len);
    for (let done = 0; done < len; ) {
      const n = Math.min(len - done, PAGE_SIZE - ((va + done) % PAGE_SIZE));
      const part = this.tryRead(va + done, n);
      if (!part) return undefined;
      part.copy(out, done);
      done += n;
    }
    return out;
  }

  tryU32(va: number): number | undefined {
    const b = this.tryRead(va, 4);
    return b ? b.readUInt32LE(0) : undefined;
  }

  /** Bytes [va, va+len), or an IntrospectionError naming `what`. */
  read(va: number, len: number, what: string): Buffer {
    const b = this.tryRead(va, len);
    if (!b) throw unmapped(what, va);
    return b;
  }

  u32(va: number, what: string): number {
    return this.read(va, 4, what).readUInt32LE(0);
  }
}

/** The error for a kernel VA the page tables do not map. */
export function unmapped(what: string, va: number): IntrospectionError {
  return new IntrospectionError(IntrospectionErrorCode.INCONSISTENT, `${what} at ${hex(va >>> 0)} is not mapped by the kernel page tables (or its page is not in the image)`, { structure: what, va: va >>> 0 });
}

/** A kernel-space pointer as Windows x86 has them: ≥ 0x80000000 (/3GB moves the split lower; then see MmSystemRangeStart). */
export function isKernelPointer(v: number, systemRangeStart = 0x80000000): boolean {
  return v >>> 0 >= systemRangeStart && v >>> 0 < 0xffffffff;
}
