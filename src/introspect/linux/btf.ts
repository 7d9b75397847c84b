/**
 * BTF (BPF Type Format, include/uapi/linux/btf.h) read from the kernel image in guest memory
 * (`__start_BTF` … `__stop_BTF`, found with kallsyms; makedumpfile btf_info.c, drgn do the same):
 * struct layouts VMCOREINFO does not export, looked up by name with presence checks.
 *
 * Layout: header {u16 magic 0xeb9f, u8 version, u8 flags, u32 hdr_len, u32 type_off, u32 type_len,
 * u32 str_off, u32 str_len}; types from id 1, each {u32 name_off, u32 info (vlen 0–15, kind 24–28,
 * kind_flag 31), u32 size|type} plus kind-specific data.
 */
import { IntrospectionError, IntrospectionErrorCode } from '../../util/errors.js';

const KIND = { INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8, VOLATILE: 9, CONST: 10, RESTRICT: 11, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, FLOAT: 16, DECL_TAG: 17, TYPE_TAG: 18, ENUM64: 19 } as const;
const MAX_TYPES = 2_000_000;

export interface BtfMember {
  name: string;
  type: number;
  /** Offset in bits from the start of the struct. */
  bitOffset: number;
}

export class Btf {
  /** Byte offset of each type record (index = type id; 0 unused). */
  private readonly at: Uint32Array;
  private readonly count: number;
  private readonly typesStart: number;
  private readonly strStart: number;
  private readonly strEnd: number;
  private byName?: Map<string, number[]>;

  constructor(private readonly b: Buffer) {
    const fail = (what: string) => new IntrospectionError(IntrospectionErrorCode.INCONSISTENT, `BTF: ${what}`);
    if (b.length < 24 || b.readUInt16LE(0) !== 0xeb9f) throw fail('bad magic (expected 0xeb9f)');
    const hdrLen = b.readUInt32LE(4);
    const typeOff = b.readUInt32LE(8);
    const typeLen = b.readUInt32LE(12);
    const strOff = b.readUInt32LE(16);
    const strLen = b.readUInt32LE(20);
    this.typesStart = hdrLen + typeOff;
    const typesEnd = this.typesStart + typeLen;
    this.strStart = hdrLen + strOff;
    this.strEnd = this.strStart + strLen;
    if (typesEnd > b.length || this.strEnd > b.length) throw fail('sections run past the blob');
    const offsets: number[] = [0];
    let p = this.typesStart;
    while (p + 12 <= typesEnd) {
      if (offsets.length > MAX_TYPES) throw fail('too many types');
      offsets.push(p);
      const info = b.readUInt32LE(p + 4);
      const vlen = info & 0xffff;
      const kind = (info >>> 24) & 0x1f;
      p += 12;
      switch (kind) {
        case KIND.INT: case KIND.VAR: case KIND.DECL_TAG: p += 4; break;
        case KIND.ARRAY: p += 12; break;
        case KIND.STRUCT: case KIND.UNION: case KIND.DATASEC: case KIND.ENUM64: p += 12 * vlen; break;
        case KIND.ENUM: case KIND.FUNC_PROTO: p += 8 * vlen; break;
        case KIND.PTR: case KIND.FWD: case KIND.TYPEDEF: case KIND.VOLATILE: case KIND.CONST: case KIND.RESTRICT: case KIND.FUNC: case KIND.FLOAT: case KIND.TYPE_TAG: break;
        default: throw fail(`unknown type kind ${kind} at offset ${p - 12}`);
      }
    }
    this.at = Uint32Array.from(offsets);
    this.count = offsets.length - 1;
  }

  get types(): number {
    return this.count;
  }

  private str(off: number): string {
    const s = this.strStart + off;
    if (s >= this.strEnd) return '';
    let e = s;
    while (e < this.strEnd && this.b[e] !== 0) e++;
    return this.b.toString('latin1', s, e);
  }

  kind(id: number): number {
    return (this.b.readUInt32LE(this.at[id] + 4) >>> 24) & 0x1f;
  }
  name(id: number): string {
    return this.str(this.b.readUInt32LE(this.at[id]));
  }
  /** Size in bytes of a struct/union/int/enum. */
  size(id: number): number {
    return this.b.readUInt32LE(this.at[id] + 8);
  }

  /** Struct (or union) type id by name; the first definition with members wins. */
  struct(name: string): number | undefined {
    if (!this.byName) {
      this.byName = new Map();
      for (let id = 1; id <= this.count; id++) {
        const k = this.kind(id);
        if (k !== KIND.STRUCT && k !== KIND.UNION) continue;
        const n = this.name(id);
        if (!n) continue;
        const l = this.byName.get(n);
        if (l) l.push(id);
        else this.byName.set(n, [id]);
      }
    }
    return this.byName.get(name)?.[0];
  }

  members(id: number): BtfMember[] {
    const info = this.b.readUInt32LE(this.at[id] + 4);
    const vlen = info & 0xffff;
    const kindFlag = info >>> 31;
    const out: BtfMember[] = [];
    for (let i = 0; i < vlen; i++) {
      const p = this.at[id] + 12 + 12 * i;
      const off = this.b.readUInt32LE(p + 8);
      out.push({ name: this.str(this.b.readUInt32LE(p)), type: this.b.readUInt32LE(p + 4), bitOffset: kindFlag ? off & 0xffffff : off });
    }
    return out;
  }

  /** Skip typedef/const/volatile/restrict/type_tag to the underlying type. */
  resolve(id: number): number {
    for (let i = 0; i < 32; i++) {
      const k = this.kind(id);
      if (k !== KIND.TYPEDEF && k !== KIND.CONST && k !== KIND.VOLATILE && k !== KIND.RESTRICT && k !== KIND.TYPE_TAG) return id;
      id = this.b.readUInt32LE(this.at[id] + 8);
    }
    return id;
  }

  /**
   * Byte offset of a member path ("lists", "u.inner") in a struct, searching anonymous struct/union
   * members too; with the member's type id. Undefined when absent.
   */
  member(structId: number, path: string): { offset: number; type: number } | undefined {
    let id = this.resolve(structId);
    let offset = 0;
    for (const part of path.split('.')) {
      const found = this.findMember(id, part);
      if (!found) return undefined;
      offset += found.offset;
      id = this.resolve(found.type);
    }
    return { offset, type: id };
  }

  private findMember(id: number, name: string, depth = 0): { offset: number; type: number } | undefined {
    const k = this.kind(id);
    if ((k !== KIND.STRUCT && k !== KIND.UNION) || depth > 8) return undefined;
    for (const m of this.members(id)) {
      if (m.name === name) return { offset: m.bitOffset / 8, type: m.type };
      if (m.name === '') {
        const inner = this.findMember(this.resolve(m.type), name, depth + 1);
        if (inner) return { offset: m.bitOffset / 8 + inner.offset, type: inner.type };
      }
    }
    return undefined;
  }

  /** Element count and element type of an array type, or undefined if not an array. */
  array(id: number): { elemType: number; length: number } | undefined {
    id = this.resolve(id);
    if (this.kind(id) !== KIND.ARRAY) return undefined;
    const p = this.at[id] + 12;
    return { elemType: this.b.readUInt32LE(p), length: this.b.readUInt32LE(p + 8) };
  }

  /** Like struct() + member(), throwing MISSING with the name. */
  need(structName: string, path: string): { offset: number; type: number } {
    const s = this.struct(structName);
    const m = s === undefined ? undefined : this.member(s, path);
    if (!m) throw new IntrospectionError(IntrospectionErrorCode.MISSING, `BTF has no ${structName}.${path}`, { struct: structName, member: path });
    return m;
  }
}
