/**
 * Device state in the tail of a QEMU migration stream. FULL section bodies carry no length; the
 * VMDESCRIPTION JSON that QEMU appends after the EOF marker lists, per section, every field with
 * the bytes actually written (`size`, per element when `array_len` is set) and the subsections sent.
 * From it we delimit the sections and read the vCPU control registers (`cpu` sections: env.cr[0],
 * env.cr[2], env.cr[3], env.cr[4], env.eip) — the same approach as QEMU's scripts/analyze-migration.py.
 * Those are target_ulong (VMSTATE_UINTTL): 8 bytes from qemu-system-x86_64, 4 bytes from
 * qemu-system-i386 (what libvirt runs for `<type arch='i686'>`); vmdesc gives the size of each.
 * Best effort by design: the tail is kept verbatim for rewriting whatever this finds. The JSON comes
 * from the file: entries are typed when it is parsed (names strings, sizes and counts integers,
 * subsections arrays nested at most 16 deep) and the walk stops at the first one that is not.
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
      let j: unknown;
      try {
        j = JSON.parse(tail.toString('utf8', i));
      } catch {
        return undefined;
      }
      const devices = isObject(j) && Array.isArray(j.devices) ? j.devices : undefined;
      return devices ? { devices: validDevices(devices), offset: i - 5 } : undefined;
    }
    from = i - 1;
  }
  return undefined;
}

// ---- the JSON is data from the file: typed here, at the parse boundary ----------------------------

/** Subsections nest one level per VMState subsection; QEMU's go a few deep. */
const MAX_SUBSECTION_DEPTH = 16;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** A byte count or element count: a non-negative integer (QEMU's sizes are far below 2^32). */
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

function validFields(v: unknown): VmdescField[] | undefined | null {
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) return null;
  const out: VmdescField[] = [];
  for (const f of v) {
    if (!isObject(f) || typeof f.name !== 'string' || !isCount(f.size) || (f.array_len !== undefined && !isCount(f.array_len))) return null;
    out.push({ name: f.name, size: f.size, ...(f.array_len !== undefined ? { array_len: f.array_len } : {}), ...(typeof f.type === 'string' ? { type: f.type } : {}) });
  }
  return out;
}

/** The fields and subsections of a device or subsection, typed; null when any of it is not what QEMU writes. */
function validBody(v: Record<string, unknown>, depth: number): Pick<VmdescSubsection, 'fields' | 'subsections'> | null {
  const fields = validFields(v.fields);
  if (fields === null) return null;
  let subsections: VmdescSubsection[] | undefined;
  if (v.subsections !== undefined) {
    if (!Array.isArray(v.subsections) || depth >= MAX_SUBSECTION_DEPTH) return null;
    subsections = [];
    for (const s of v.subsections) {
      // In the stream a subsection is `0x05, u8 len, name, be32 version, fields`.
      if (!isObject(s) || typeof s.vmsd_name !== 'string' || Buffer.byteLength(s.vmsd_name, 'latin1') > 255) return null;
      const body = validBody(s, depth + 1);
      if (!body) return null;
      subsections.push({ vmsd_name: s.vmsd_name, ...body });
    }
  }
  return { fields, subsections };
}

/** The devices up to the first entry that is not a well-formed device description (the walk stops there anyway). */
function validDevices(list: unknown[]): VmdescDevice[] {
  const out: VmdescDevice[] = [];
  for (const d of list) {
    if (!isObject(d) || typeof d.name !== 'string' || !isCount(d.instance_id)) break;
    const body = validBody(d, 0);
    if (!body) break;
    out.push({ name: d.name, instance_id: d.instance_id, vmsd_name: typeof d.vmsd_name === 'string' ? d.vmsd_name : d.name, ...body });
  }
  return out;
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
      if (key && f.array_len === undefined && off + f.size <= s.bodyOffset + s.bodyLength) {
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
      if (f.array_len === undefined && off + f.size <= s.bodyOffset + s.bodyLength) {
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
