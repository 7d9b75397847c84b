/**
 * Fixture builders: QEMU migration streams and libvirt save images synthesised in code, shaped like
 * QEMU 7.2 writes them (see docs/format/qemu-stream.md). Low-level methods allow malformed variants.
 */
export class Bytes {
  private parts: Buffer[] = [];
  length = 0;
  push(b: Buffer): this {
    this.parts.push(b);
    this.length += b.length;
    return this;
  }
  u8(v: number): this {
    return this.push(Buffer.from([v]));
  }
  u16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    return this.push(b);
  }
  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    return this.push(b);
  }
  u64(v: number | bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(v));
    return this.push(b);
  }
  str8(s: string): this {
    return this.u8(s.length).push(Buffer.from(s, 'latin1'));
  }
  build(): Buffer {
    return Buffer.concat(this.parts, this.length);
  }
}

export interface PageRec {
  block: string;
  offset: number;
  /** PAGE data (4096 bytes); when absent the record is a ZERO record with `fill`. */
  data?: Buffer;
  fill?: number;
  /** Force the CONTINUE flag on/off; default: set when the previous record named the same block. */
  cont?: boolean;
  extraFlags?: number;
}

export class StreamBuilder {
  readonly b = new Bytes();
  private nextId = 0;
  private ramId = -1;
  private lastBlock: string | undefined;

  header(opts: { version?: number; machine?: string | null; uuid?: boolean; pageBits?: number } = {}): this {
    this.b.u32(0x5145564d).u32(opts.version ?? 3);
    if (opts.machine !== null) {
      const m = opts.machine ?? 'pc-q35-7.2';
      this.b.u8(0x07).u32(m.length).push(Buffer.from(m, 'latin1'));
      if (opts.pageBits !== undefined) this.b.u8(0x05).str8('configuration/target-page-bits').u32(1).u32(opts.pageBits);
      if (opts.uuid) this.b.u8(0x05).str8('configuration/uuid').u32(1).push(Buffer.alloc(16, 0xab));
    }
    return this;
  }

  /** START section for "ram" with the MEM_SIZE block list, EOS and footer. */
  ramStart(blocks: { idstr: string; length: number }[], opts: { total?: number } = {}): this {
    this.ramId = this.nextId++;
    this.b.u8(0x01).u32(this.ramId).str8('ram').u32(0).u32(4);
    const total = opts.total ?? blocks.reduce((s, x) => s + x.length, 0);
    this.b.u64(BigInt(total) | 0x04n);
    for (const x of blocks) this.b.str8(x.idstr).u64(x.length);
    this.b.u64(0x10);
    return this.footer(this.ramId);
  }

  records(recs: PageRec[]): this {
    for (const r of recs) {
      const cont = r.cont ?? r.block === this.lastBlock;
      let flags = (r.data ? 0x08 : 0x02) | (cont ? 0x20 : 0) | (r.extraFlags ?? 0);
      this.b.u64(BigInt(r.offset) | BigInt(flags));
      if (!cont) this.b.str8(r.block);
      if (r.data) this.b.push(r.data);
      else this.b.u8(r.fill ?? 0);
      this.lastBlock = r.block;
      flags = 0;
    }
    return this;
  }

  /** A PART (type 2) or END (type 3) section of RAM records. */
  ramSection(type: 2 | 3, recs: PageRec[], opts: { footer?: boolean } = {}): this {
    this.b.u8(type).u32(this.ramId);
    this.records(recs);
    this.b.u64(0x10);
    return opts.footer === false ? this : this.footer(this.ramId);
  }

  /** A FULL device section with an opaque body. */
  device(idstr: string, body: Buffer, instanceId = 0): this {
    const id = this.nextId++;
    this.b.u8(0x04).u32(id).str8(idstr).u32(instanceId).u32(1).push(body);
    return this.footer(id);
  }

  footer(id: number): this {
    this.b.u8(0x7e).u32(id);
    return this;
  }

  eof(vmdesc = '{"page_size":4096,"devices":[]}'): this {
    this.b.u8(0x00).u8(0x06).u32(vmdesc.length).push(Buffer.from(vmdesc));
    return this;
  }

  build(): Buffer {
    return this.b.build();
  }
}

/** A page whose bytes are a deterministic function of seed (never all zero unless seed < 0). */
export function page(seed: number): Buffer {
  const p = Buffer.alloc(4096);
  if (seed < 0) return p;
  let x = (seed * 2654435761 + 1) >>> 0;
  for (let i = 0; i < 4096; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    p.writeUInt32LE(x >>> 0, i);
  }
  return p;
}

export interface SaveOpts {
  magic?: string;
  version?: number;
  swap?: boolean;
  wasRunning?: number;
  compressed?: number;
  xml?: string;
  cookie?: string;
  pad?: number;
  dataLen?: number;
  cookieOffset?: number;
}

/** A libvirt save image: 92-byte header, XML\0 cookie\0 padding, then the stream. */
export function saveImage(stream: Buffer, o: SaveOpts = {}): Buffer {
  const xml = o.xml ?? "<domain type='qemu'>\n  <name>fixture</name>\n</domain>\n";
  const cookie = o.cookie ?? '<cookie>\n</cookie>\n';
  const data = Buffer.concat([Buffer.from(xml + '\0'), Buffer.from(cookie + '\0'), Buffer.alloc(o.pad ?? 4096)]);
  const h = Buffer.alloc(92);
  h.write(o.magic ?? 'LibvirtQemudSave', 0, 'latin1');
  const w = (v: number, off: number) => (o.swap ? h.writeUInt32BE(v >>> 0, off) : h.writeUInt32LE(v >>> 0, off));
  w(o.version ?? 2, 16);
  w(o.dataLen ?? data.length, 20);
  w(o.wasRunning ?? 1, 24);
  w(o.compressed ?? 0, 28);
  w(o.cookieOffset ?? xml.length + 1, 32);
  return Buffer.concat([h, data, stream]);
}

/**
 * The `vmcoreinfo` device section (QEMU hw/misc/vmcoreinfo.c) with the guest's note at `gpa`, and
 * its vmdesc entry: pass `body` to StreamBuilder.device('vmcoreinfo', …) and `device` in eof()'s
 * vmdesc `devices`.
 */
export function vmcoreinfoDevice(gpa: number, size = 4096): { body: Buffer; device: object } {
  const body = new Bytes().u8(1).u16(0).u16(1).u32(size).u64(gpa).build(); // has, host_format, guest_format ELF, size, paddr
  const device = {
    name: 'vmcoreinfo', instance_id: 0, vmsd_name: 'vmcoreinfo', version: 1,
    fields: [
      { name: 'has_vmcoreinfo', type: 'bool', size: 1 },
      { name: 'vmcoreinfo.host_format', type: 'uint16', size: 2 },
      { name: 'vmcoreinfo.guest_format', type: 'uint16', size: 2 },
      { name: 'vmcoreinfo.size', type: 'uint32', size: 4 },
      { name: 'vmcoreinfo.paddr', type: 'uint64', size: 8 },
    ],
  };
  return { body, device };
}

/** The guest kernel's in-memory VMCOREINFO ELF note (`vmcoreinfo_note`): namesz 11, descsz, type 0, "VMCOREINFO\0" padded to 12, text. */
export function vmcoreinfoNote(text: string): Buffer {
  const desc = Buffer.from(text, 'latin1');
  const h = Buffer.alloc(24);
  h.writeUInt32LE(11, 0);
  h.writeUInt32LE(desc.length, 4);
  h.write('VMCOREINFO\0', 12, 'latin1');
  return Buffer.concat([h, desc, Buffer.alloc(1)]);
}
