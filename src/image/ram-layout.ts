/**
 * RAMBlock offset → guest-physical address for x86 PC machines (QEMU hw/i386/pc_piix.c, pc_q35.c, pc.c).
 * Main RAM is one block (`pc.ram`) or NUMA node blocks (`ram-node0`, …) laid end to end. The first
 * `below4g` bytes map 1:1 from GPA 0; the rest starts at 4 GiB. 0xA0000–0xFFFFF stays in the block.
 *
 * below4g (QEMU 7.2 defaults, max-ram-below-4g unset):
 * - q35:    lowmem = ram ≥ 0xB0000000 ? 0x80000000 : 0xB0000000; below4g = min(ram, lowmem)
 * - i440fx: lowmem = 0xE0000000, or 0xC0000000 when ram ≥ 0xE0000000 (gigabyte_align, machines ≥ 1.8);
 *           below4g = min(ram, lowmem)
 * Not handled: a non-default max-ram-below-4g, and AMD hosts where ≥ 7.1 machines start high RAM at
 * 1 TiB (only when the guest's maximum GPA reaches 0xFD00000000).
 */
const GIB4 = 0x100000000;

export interface BlockMapping {
  offset: number;
  gpa: number;
  length: number;
}

/** Split of RAM below 4 GiB for a machine type and total main RAM size. */
export function below4g(machine: string | undefined, ram: number): number {
  let lowmem: number;
  if (machine && /q35/.test(machine)) {
    lowmem = ram >= 0xb0000000 ? 0x80000000 : 0xb0000000;
  } else {
    lowmem = 0xe0000000;
    const m = machine ? /^pc-(?:i440fx-)?(\d+)\.(\d+)$/.exec(machine) : null;
    const oldMachine = m !== null && (Number(m[1]) < 1 || (Number(m[1]) === 1 && Number(m[2]) <= 7));
    if (ram >= lowmem && !oldMachine) lowmem = 0xc0000000;
  }
  return Math.min(ram, lowmem);
}

/** For each main block (in stream order), the GPA runs it occupies. Node blocks are ordered by node number. */
export function mapMainRam(machine: string | undefined, blocks: { idstr: string; length: number }[]): BlockMapping[][] {
  const order = blocks.map((b, i) => ({ ...b, i }));
  const node = (s: string) => (/^ram-node(\d+)$/.exec(s) ? Number(/^ram-node(\d+)$/.exec(s)![1]) : -1);
  order.sort((a, b) => node(a.idstr) - node(b.idstr));
  const total = blocks.reduce((s, b) => s + b.length, 0);
  const low = below4g(machine, total);
  const out: BlockMapping[][] = blocks.map(() => []);
  let ramOffset = 0; // offset in the concatenated main RAM
  for (const b of order) {
    const start = ramOffset;
    const end = ramOffset + b.length;
    if (start < low) {
      const n = Math.min(end, low) - start;
      out[b.i].push({ offset: 0, gpa: start, length: n });
    }
    if (end > low) {
      const from = Math.max(start, low);
      out[b.i].push({ offset: from - start, gpa: GIB4 + (from - low), length: end - from });
    }
    ramOffset = end;
  }
  return out;
}
