/**
 * Device state in the tail of a QEMU migration stream. FULL section bodies carry no length; the
 * VMDESCRIPTION JSON that QEMU appends after the EOF marker lists, per section, every field with
 * the bytes actually written (`size`, per element when `array_len` is set) and the subsections sent.
 * From it we delimit the sections and read the vCPU control registers (`cpu` sections: env.cr[0],
 * env.cr[2], env.cr[3], env.cr[4], env.eip) — the same approach as QEMU's scripts/analyze-migration.py.
 * Those are target_ulong (VMSTATE_UINTTL): 8 bytes from qemu-system-x86_64, 4 bytes from
 * qemu-system-i386 (what libvirt runs for `<type arch='i686'>`); vmdesc gives the size of each.
 * Best effort by design: the tail is kept verbatim for rewriting whatever this finds.
 */
import type { CpuState } from './types.js';

interface VmdescField {
  name: string;
  type?: string;
  size: number;
  array_len?: number;
}
interface VmdescSubsection {
  vmsd_name: string;
  fields?: VmdescField[];
  subsections?: VmdescSubsection[];
}
interface VmdescDevice extends VmdescSubsection {
  name: string;
  instance_id: number;
}

export interface DeviceSection {
  idstr: string;
  instanceId: number;
  /** Offset of the body inside the tail buffer and its length. */
  bodyOffset: number;
  bodyLength: number;
  device: VmdescDevice;
}

/** Locate and parse the VMDESCRIPTION JSON at the end of the tail: `0x06, be32 len, JSON` ending the data. */
export function findVmdesc(tail: Buffer): { devices: VmdescDevice[]; offset: number } | undefined {
  let from = tail.length;
  for (let tries = 0; tries < 4; tries++) {
    const i = tail.lastIndexOf('{"page_size"', from);
    if (i < 5) return undefined;
    if (tail[i - 5] === 0x06 && tail.readUInt32BE(i - 4) === tail.length - i) {
      try {
        const j = JSON.parse(tail.toString('utf8', i)) as { devices?: VmdescDevice[] };
        return Array.isArray(j.devices) ? { devices: j.devices, offset: i - 5 } : undefined;
      } catch {
        return undefined;
      }
    }
    from = i - 1;
  }
  return undefined;
}

function fieldsLength(fields: VmdescField[] | undefined): number {
  let n = 0;
  for (const f of fields ?? []) n += f.size * (f.array_len ?? 1);
  return n;
}

function subsectionsLength(subs: VmdescSubsection[] | undefined): number {
  let n = 0;
  for (const s of subs ?? []) n += 1 + 1 + Buffer.byteLength(s.vmsd_name, 'latin1') + 4 + fieldsLength(s.fields) + subsectionsLength(s.subsections);
  return n;
}

/** Walk the FULL sections of the tail in order, pairing each with its vmdesc entry. Stops at the first surprise. */
export function walkDeviceSections(tail: Buffer): DeviceSection[] {
  const desc = findVmdesc(tail);
  if (!desc) return [];
  const out: DeviceSection[] = [];
  let at = 0;
  let k = 0;
  while (at < desc.offset && k < desc.devices.length) {
    if (tail[at] !== 0x04 || at + 6 > desc.offset) break;
    const idLen = tail[at + 5];
    const hdr = 1 + 4 + 1 + idLen + 4 + 4;
    if (at + hdr > desc.offset) break;
    const idstr = tail.toString('latin1', at + 6, at + 6 + idLen);
    const instanceId = tail.readUInt32BE(at + 6 + idLen);
    const device = desc.devices[k++];
    if (device.name !== idstr || device.instance_id !== instanceId) break;
    const bodyOffset = at + hdr;
    const bodyLength = fieldsLength(device.fields) + subsectionsLength(device.subsections);
    if (bodyOffset + bodyLength > desc.offset) break;
    out.push({ idstr, instanceId, bodyOffset, bodyLength, device });
    at = bodyOffset + bodyLength;
    if (tail[at] === 0x7e) at += 5;
  }
  return out;
}

const CPU_FIELDS: Record<string, 'cr0' | 'cr2' | 'cr3' | 'cr4' | 'rip'> = {
  'env.cr[0]': 'cr0',
  'env.cr[2]': 'cr2',
  'env.cr[3]': 'cr3',
  'env.cr[4]': 'cr4',
  'env.eip': 'rip',
};

/**
 * vCPU registers from the `cpu` device sections of a stream tail (empty when not found). A register
 * field is read when it is a plain (non-array) big-endian integer of 8 bytes (x86-64 target) or
 * 4 bytes (i386 target: a PAE CR3 is a 32-byte-aligned 32-bit value, read exactly); any other size
 * leaves it unset.
 */
export function cpuStatesFromTail(tail: Buffer): CpuState[] {
  const cpus: CpuState[] = [];
  for (const s of walkDeviceSections(tail)) {
    if (s.idstr !== 'cpu') continue;
    const cpu: CpuState = { index: s.instanceId };
    let off = s.bodyOffset;
    for (const f of s.device.fields ?? []) {
      const key = CPU_FIELDS[f.name];
      if (key && !f.array_len && off + f.size <= s.bodyOffset + s.bodyLength) {
        if (f.size === 8) cpu[key] = tail.readBigUInt64BE(off);
        else if (f.size === 4) cpu[key] = BigInt(tail.readUInt32BE(off));
      }
      off += f.size * (f.array_len ?? 1);
    }
    if (cpu.cr3 !== undefined) cpus.push(cpu);
  }
  return cpus;
}

/**
 * The guest-physical address of the guest's VMCOREINFO ELF note, from the `vmcoreinfo` device
 * section (QEMU hw/misc/vmcoreinfo.c: has_vmcoreinfo, host_format, guest_format, size, paddr; the
 * guest writes it through fw_cfg `etc/vmcoreinfo`). Undefined when the device is absent or unset.
 */
export function vmcoreinfoNoteFromTail(tail: Buffer): { gpa: number; size: number } | undefined {
  for (const s of walkDeviceSections(tail)) {
    if (s.idstr !== 'vmcoreinfo') continue;
    const vals: Record<string, number> = {};
    let off = s.bodyOffset;
    for (const f of s.device.fields ?? []) {
      if (!f.array_len && off + f.size <= s.bodyOffset + s.bodyLength) {
        if (f.size === 8) vals[f.name] = Number(tail.readBigUInt64BE(off));
        else if (f.size >= 1 && f.size <= 4) vals[f.name] = tail.readUIntBE(off, f.size);
      }
      off += f.size * (f.array_len ?? 1);
    }
    const gpa = vals['vmcoreinfo.paddr'];
    // guest_format 1 = ELF note (FW_CFG_VMCOREINFO_FORMAT_ELF).
    if (!vals['has_vmcoreinfo'] || vals['vmcoreinfo.guest_format'] !== 1 || !gpa) return undefined;
    return { gpa, size: vals['vmcoreinfo.size'] ?? 0 };
  }
  return undefined;
}
