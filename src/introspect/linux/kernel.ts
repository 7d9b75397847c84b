/**
 * A Linux x86-64 kernel seen through its physical memory: VMCOREINFO, the kernel page table
 * (SYMBOL(init_top_pgt) or swapper_pg_dir, placed by NUMBER(phys_base)), 4- or 5-level paging from
 * NUMBER(pgtable_l5_enabled), the SME mask, and reads of kernel virtual memory.
 *
 * The kernel image is mapped at __START_KERNEL_map (0xffffffff80000000) + KASLR slide; for a symbol
 * in the image, pa = va − __START_KERNEL_map + phys_base (makedumpfile arch/x86_64.c, drgn
 * arch_x86_64.c). Everything else (direct map, vmemmap, vmalloc) goes through the page table.
 */
import { PAGE_SIZE, PhysicalMemory } from '../../mem/physical-memory.js';
import { IntrospectionError, IntrospectionErrorCode } from '../../util/errors.js';
import { PageTableWalker, PagingMode, vpnOf, X64_4LEVEL, X64_5LEVEL } from '../x86/paging.js';
import { need, Vmcoreinfo, vmKernelOffset, vmNumber, vmSymbol } from './vmcoreinfo.js';

export const START_KERNEL_MAP = 0xffffffff80000000n;
/** Largest read of kernel memory accepted in one call (kallsyms tables are a few MiB). */
export const MAX_KERNEL_READ = 64 << 20;

export class LinuxKernel {
  readonly mode: PagingMode;
  readonly walker: PageTableWalker;
  readonly physBase: number;
  readonly kaslrOffset: bigint;
  readonly rootPa: number;
  readonly osRelease: string;

  constructor(readonly mem: PhysicalMemory, readonly vmcoreinfo: Vmcoreinfo) {
    this.osRelease = need(vmcoreinfo.osRelease, 'OSRELEASE');
    const pageSize = need(vmcoreinfo.pageSize, 'PAGESIZE');
    if (pageSize !== PAGE_SIZE) {
      throw new IntrospectionError(IntrospectionErrorCode.UNSUPPORTED, `guest page size ${pageSize} is not supported (4096 only)`, { pageSize });
    }
    const root = vmSymbol(vmcoreinfo, 'init_top_pgt') ?? vmSymbol(vmcoreinfo, 'swapper_pg_dir');
    if (root === undefined) {
      throw new IntrospectionError(IntrospectionErrorCode.UNSUPPORTED,
        'VMCOREINFO has neither SYMBOL(init_top_pgt) nor SYMBOL(swapper_pg_dir): not an x86-64 Linux kernel', { osRelease: this.osRelease });
    }
    if (root < START_KERNEL_MAP) {
      throw new IntrospectionError(IntrospectionErrorCode.UNSUPPORTED, `kernel page-table root 0x${root.toString(16)} is not in the x86-64 kernel image map: not an x86-64 kernel`);
    }
    this.physBase = need(vmNumber(vmcoreinfo, 'phys_base'), 'NUMBER(phys_base)');
    this.kaslrOffset = vmKernelOffset(vmcoreinfo);
    this.mode = vmNumber(vmcoreinfo, 'pgtable_l5_enabled') === 1 ? X64_5LEVEL : X64_4LEVEL;
    this.rootPa = this.imagePa(root);
    const sme = vmNumber(vmcoreinfo, 'sme_mask') ?? 0;
    this.walker = new PageTableWalker(mem, this.mode, this.rootPa, { smeMask: sme });
    if (!mem.isPresent(Math.floor(this.rootPa / PAGE_SIZE))) {
      throw new IntrospectionError(IntrospectionErrorCode.INCONSISTENT,
        `kernel page-table root (pa 0x${this.rootPa.toString(16)} from init_top_pgt and phys_base) is not in the image`, { rootPa: this.rootPa });
    }
    // The page table must map its own symbol where phys_base says it is: catches a wrong phys_base
    // (e.g. one printed in hex) or VMCOREINFO from another boot.
    const viaWalk = this.walker.translate(root);
    if (viaWalk !== this.rootPa) {
      throw new IntrospectionError(IntrospectionErrorCode.INCONSISTENT,
        `kernel page table does not map init_top_pgt to itself (walk gives ${viaWalk < 0 ? 'nothing' : '0x' + viaWalk.toString(16)}, phys_base gives 0x${this.rootPa.toString(16)}): VMCOREINFO does not describe this memory`);
    }
  }

  /** Physical address of a kernel-image virtual address (text, data, bss). */
  imagePa(va: bigint): number {
    return Number(va - START_KERNEL_MAP) + this.physBase;
  }

  /** Kernel virtual → guest-physical through the page table, or -1. */
  vtop(va: bigint): number {
    return this.walker.translate(va);
  }

  vpn(va: bigint): number {
    return vpnOf(va, this.mode);
  }

  /** Read kernel virtual memory; throws INCONSISTENT naming `what` when a page is unmapped or absent. */
  read(va: bigint, length: number, what: string): Buffer {
    if (!(length >= 0 && length <= MAX_KERNEL_READ)) {
      throw new IntrospectionError(IntrospectionErrorCode.INCONSISTENT, `${what}: implausible length ${length}`, { length });
    }
    const out = Buffer.alloc(length);
    const page = Buffer.alloc(PAGE_SIZE);
    let done = 0;
    while (done < length) {
      const a = va + BigInt(done);
      const pa = this.vtop(a);
      const off = Number(a & 0xfffn);
      const n = Math.min(PAGE_SIZE - off, length - done);
      if (pa < 0 || !this.mem.readPage(Math.floor(pa / PAGE_SIZE), page)) {
        throw new IntrospectionError(IntrospectionErrorCode.INCONSISTENT, `${what}: kernel address 0x${a.toString(16)} is not mapped or not in the image`, { va: '0x' + a.toString(16) });
      }
      page.copy(out, done, off, off + n);
      done += n;
    }
    return out;
  }

  readU64(va: bigint, what: string): bigint {
    return this.read(va, 8, what).readBigUInt64LE();
  }

  readU32(va: bigint, what: string): number {
    return this.read(va, 4, what).readUInt32LE();
  }
}
