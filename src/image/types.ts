/**
 * What every image reader returns. Readers live one per container in src/image/; src/image/probe.ts
 * picks one by sniffing the head of the file.
 */
import type { PhysicalMemory } from '../mem/physical-memory.js';
import type { PageSlots } from './slots.js';

export type ImageFormat = 'libvirt-save' | 'qemu-stream' | 'elf-dump' | 'raw';

/** A RAMBlock (save images/streams) or a memory segment (ELF/raw). */
export interface RamBlockInfo {
  /** idstr for stream RAMBlocks (`pc.ram`, `0000:00:01.0/vga.vram`), `load[i]` for ELF PT_LOADs, `raw` for raw files. */
  name: string;
  /** used_length in bytes. */
  length: number;
  /** Guest main RAM (pc.ram, ram-node*): counted in ramBytes and mapped into the physical-memory view. */
  main: boolean;
  /** Where the block appears in guest-physical space: block offset → GPA runs (empty when unmapped). */
  map: { offset: number; gpa: number; length: number }[];
}

/** Per-vCPU state an image carries (ELF NT_PRSTATUS + QEMU CPU-state note). 64-bit values are bigint. */
export interface CpuState {
  index: number;
  rip?: bigint;
  rsp?: bigint;
  cr0?: bigint;
  cr2?: bigint;
  cr3?: bigint;
  cr4?: bigint;
  /** Base of the GS segment and KERNEL_GS_BASE, useful to find per-cpu data. */
  gsBase?: bigint;
  kernelGsBase?: bigint;
}

export type { ByteSink } from '../util/sink.js';
import type { ByteSink } from '../util/sink.js';

export interface OpenedImage {
  format: ImageFormat;
  path: string;
  fileSize: number;
  /** Guest-physical view: main RAM (save images, streams) or every memory segment (ELF, raw). */
  memory: PhysicalMemory;
  ramBlocks: RamBlockInfo[];
  /** Bytes of main RAM blocks (save/stream) or of all memory segments (ELF/raw). */
  ramBytes: number;
  cpus: CpuState[];
  /** VMCOREINFO text from an ELF note, when the container carries one. */
  vmcoreinfo?: string;
  /** Guest-physical address of the guest's VMCOREINFO ELF note, from the QEMU vmcoreinfo device state (streams). */
  vmcoreinfoNoteGpa?: number;
  /** Machine type from the stream's configuration section (`pc-q35-7.2`). */
  machine?: string;
  /** Where the file holds whole pages (ascending file offsets) and which frame each one is (see slots.ts). */
  pageSlots(): PageSlots;
  /** Rebuild this container byte for byte from its parsed parts, taking page contents from `memory`. */
  rebuild(sink: ByteSink): void;
  close(): void;
}
