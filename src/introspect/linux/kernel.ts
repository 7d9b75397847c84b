/**
 * A Linux x86 kernel seen through its physical memory: VMCOREINFO, the kernel page table, its paging
 * mode, and reads of kernel virtual memory. Two families:
 *
 * - x86-64: root SYMBOL(init_top_pgt) (or swapper_pg_dir) in the kernel image map at
 *   __START_KERNEL_map (0xffffffff80000000) + KASLR slide; for a symbol in the image,
 *   pa = va − __START_KERNEL_map + NUMBER(phys_base) (makedumpfile arch/x86_64.c, drgn
 *   arch_x86_64.c). 4- or 5-level paging from NUMBER(pgtable_l5_enabled); the SME mask stripped.
 * - i386: root SYMBOL(swapper_pg_dir) below 4 GiB. The kernel image lies in the direct map
 *   (pa = va − PAGE_OFFSET, arch/x86/include/asm/page_32.h __pa), PAGE_OFFSET not exported: the
 *   CONFIG_VMSPLIT_* values are tried and the one whose page table maps swapper_pg_dir to itself is
 *   kept (makedumpfile arch/x86.c takes 0xc0000000 for granted). PAE when VMCOREINFO says
 *   CONFIG_X86_PAE=y (arch/x86/kernel/machine_kexec_32.c arch_crash_save_vmcoreinfo), else
 *   2-level non-PAE paging. Pointers and `unsigned long` are 4 bytes.
 *
 * Everything not in the image (direct map, vmemmap, vmalloc) goes through the page table.
 */
import { PAGE_SIZE, PhysicalMemory } from '../../mem/physical-memory.js';
import { IntrospectionError, IntrospectionErrorCode } from '../../util/errors.js';
import { PageTableWalker, PagingMode, vpnOf, X64_4LEVEL, X64_5LEVEL, X86_NONPAE, X86_PAE } from '../x86/paging.js';
import { need, Vmcoreinfo, vmKernelOffset, vmNumber, vmSymbol } from './vmcoreinfo.js';

export const START_KERNEL_MAP = 0xffffffff80000000n;
/**
 * i386 PAGE_OFFSET candidates (arch/x86/Kconfig PAGE_OFFSET: VMSPLIT_3G, 3G_OPT, 2G, 2G_OPT, 1G),
 * the default first.
 */
export const I386_PAGE_OFFSETS = [0xc0000000, 0xb0000000, 0x80000000, 0x78000000, 0x40000000] as const;
/** Largest read of kernel memory accepted in one call (kallsyms tables are a few MiB). */
export const MAX_KERNEL_READ = 64 << 20;

export type KernelArch = 'x86_64' | 'i386';

export class LinuxKernel {
  readonly arch: KernelArch;
  /** Bytes in a pointer / `unsigned long`: 8 on x86-64, 4 on i386. */
  readonly ptrSize: 4 | 8;
  readonly mode: PagingMode;
  readonly walker: PageTableWalker;
  /** x86-64: NUMBER(phys_base). i386: 0 (the image is in the direct map). */
  readonly physBase: number;
  readonly kaslrOffset: bigint;
  /** i386: the direct-map base found (0xc0000000 by default); x86-64: undefined (read page_offset_base). */
  readonly pageOffset?: number;
  readonly rootVa: bigint;
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
        'VMCOREINFO has neither SYMBOL(init_top_pgt) nor SYMBOL(swapper_pg_dir): not an x86 Linux kernel', { osRelease: this.osRelease });
    }
    this.rootVa = root;
    this.kaslrOffset = vmKernelOffset(vmcoreinfo);
    if (root >= START_KERNEL_MAP) {
      this.arch = 'x86_64';
      this.ptrSize = 8;
      this.physBase = need(vmNumber(vmcoreinfo, 'phys_base'), 'NUMBER(phys_base)');
      this.mode = vmNumber(vmcoreinfo, 'pgtable_l5_enabled') === 1 ? X64_5LEVEL : X64_4LEVEL;
      this.rootPa = Number(root - START_KERNEL_MAP) + this.physBase;
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
      return;
    }
    if (root >= 1n << 32n) {
      throw new IntrospectionError(IntrospectionErrorCode.UNSUPPORTED,
        `kernel page-table root 0x${root.toString(16)} is neither in the x86-64 kernel image map nor a 32-bit address: not an x86 Linux kernel`);
    }
    this.arch = 'i386';
    this.ptrSize = 4;
    this.physBase = 0;
    this.mode = vmcoreinfo.entries.get('CONFIG_X86_PAE') === 'y' ? X86_PAE : X86_NONPAE;
    const va = Number(root);
    const tried: string[] = [];
    for (const po of I386_PAGE_OFFSETS) {
      if (va < po) continue;
      const pa = va - po;
      if (!mem.isPresent(Math.floor(pa / PAGE_SIZE))) {
        tried.push(`0x${po.toString(16)} (pa 0x${pa.toString(16)} not in the image)`);
        continue;
      }
      const w = new PageTableWalker(mem, this.mode, pa);
      const viaWalk = w.translate(root);
      if (viaWalk === pa) {
        this.pageOffset = po;
        this.rootPa = pa;
        this.walker = w;
        return;
      }
      tried.push(`0x${po.toString(16)} (walk gives ${viaWalk < 0 ? 'nothing' : '0x' + viaWalk.toString(16)})`);
    }
    throw new IntrospectionError(IntrospectionErrorCode.INCONSISTENT,
      `no PAGE_OFFSET makes the ${this.mode.name} kernel page table map swapper_pg_dir (0x${root.toString(16)}) to itself; tried ${tried.join(', ') || 'none (root below every PAGE_OFFSET)'}: VMCOREINFO does not describe this memory`);
  }

  /** Physical address of a kernel-image virtual address (text, data, bss). */
  imagePa(va: bigint): number {
    if (this.pageOffset !== undefined) return Number(va) - this.pageOffset;
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

  /** A pointer or `unsigned long` of the kernel's width. */
  readPtr(va: bigint, what: string): bigint {
    return this.ptrSize === 8 ? this.readU64(va, what) : BigInt(this.readU32(va, what));
  }

  /** The i-th pointer of a buffer read from the kernel. */
  ptrAt(buf: Buffer, i: number): bigint {
    return this.ptrSize === 8 ? buf.readBigUInt64LE(i * 8) : BigInt(buf.readUInt32LE(i * 4));
  }
}
