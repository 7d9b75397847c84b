/**
 * kallsyms: the kernel's own compressed symbol table, located through VMCOREINFO (SYMBOL(kallsyms_*),
 * exported since 6.0 for exactly this use; drgn libdrgn/kallsyms.c, makedumpfile kallsyms.c).
 *
 * Tables (kernel/kallsyms.c, scripts/kallsyms.c):
 * - kallsyms_num_syms: u32 count.
 * - kallsyms_names: per symbol a length (one byte; since 6.1 two bytes ULEB128 when bit 7 is set),
 *   then that many token indices. The expansion's first character is the type letter (`T`, `d`, …).
 * - kallsyms_token_table: 256 NUL-terminated token strings; kallsyms_token_index: u16 offsets into it.
 * - kallsyms_offsets: s32 per symbol, with kallsyms_relative_base (unsigned long: u64, u32 on i386). Without
 *   CONFIG_KALLSYMS_ABSOLUTE_PERCPU address = base + (u32)off; with it, off ≥ 0 is absolute (per-cpu
 *   symbols) and off < 0 means base − 1 − off. Which one applies is decided by checking _stext
 *   against SYMBOL(_stext).
 */
import { IntrospectionError, IntrospectionErrorCode } from '../../util/errors.js';
import type { LinuxKernel } from './kernel.js';
import { vmSymbol } from './vmcoreinfo.js';

/** More symbols than any kernel has: a count beyond this is corruption. */
const MAX_SYMS = 4_000_000;
const MAX_NAMES_BYTES = 48 << 20;

export interface KallsymsTables {
  numSyms: number;
  names: Uint8Array;
  tokenTable: Uint8Array;
  tokenIndex: Uint16Array;
  offsets: Int32Array;
  relativeBase: bigint;
}

export class Kallsyms {
  private readonly tokens: string[];
  private readonly nameOffsets: Uint32Array;
  private absolutePercpu: boolean;
  private readonly cache = new Map<string, number>();

  constructor(readonly t: KallsymsTables, absolutePercpu = true) {
    this.absolutePercpu = absolutePercpu;
    this.tokens = [];
    for (let i = 0; i < 256; i++) {
      const start = t.tokenIndex[i];
      let end = start;
      while (end < t.tokenTable.length && t.tokenTable[end] !== 0) end++;
      this.tokens.push(Buffer.from(t.tokenTable.buffer, t.tokenTable.byteOffset + start, end - start).toString('latin1'));
    }
    // Offsets of each symbol's entry in names, checked to stay inside the table.
    this.nameOffsets = new Uint32Array(t.numSyms);
    let off = 0;
    for (let i = 0; i < t.numSyms; i++) {
      if (off >= t.names.length) throw new IntrospectionError(IntrospectionErrorCode.INCONSISTENT, `kallsyms_names ends before symbol ${i} of ${t.numSyms}`);
      this.nameOffsets[i] = off;
      let len = t.names[off++];
      if (len & 0x80) len = (len & 0x7f) | (t.names[off++] << 7);
      off += len;
    }
    if (off > t.names.length) throw new IntrospectionError(IntrospectionErrorCode.INCONSISTENT, 'kallsyms_names is shorter than its symbols');
  }

  get count(): number {
    return this.t.numSyms;
  }

  /** Name of symbol i with its type letter first (`Tstart_kernel`). */
  rawName(i: number): string {
    const names = this.t.names;
    let off = this.nameOffsets[i];
    let len = names[off++];
    if (len & 0x80) len = (len & 0x7f) | (names[off++] << 7);
    let s = '';
    for (let k = 0; k < len; k++) s += this.tokens[names[off + k]];
    return s;
  }

  address(i: number): bigint {
    const o = this.t.offsets[i];
    if (!this.absolutePercpu) return this.t.relativeBase + BigInt(o >>> 0);
    if (o >= 0) return BigInt(o);
    return this.t.relativeBase - 1n - BigInt(o);
  }

  setAbsolutePercpu(v: boolean): void {
    this.absolutePercpu = v;
  }

  /** Index of the first symbol named `name` (without type letter), or -1: token-wise match, no strings built. */
  indexOf(name: string): number {
    const names = this.t.names;
    const tokens = this.tokens;
    const n = this.t.numSyms;
    for (let i = 0; i < n; i++) {
      let off = this.nameOffsets[i];
      let len = names[off++];
      if (len & 0x80) len = (len & 0x7f) | (names[off++] << 7);
      // pos counts characters of the expansion; position 0 is the type letter.
      let pos = -1;
      let k = 0;
      for (; k < len; k++) {
        const tok = tokens[names[off + k]];
        let j = 0;
        if (pos < 0) {
          j = 1;
          pos = 0;
        }
        for (; j < tok.length; j++, pos++) if (pos >= name.length || tok.charCodeAt(j) !== name.charCodeAt(pos)) break;
        if (j < tok.length) break;
      }
      if (k === len && pos === name.length) return i;
    }
    return -1;
  }

  /** Address of a symbol by name (without type letter), or undefined. */
  lookup(name: string): bigint | undefined {
    let i = this.cache.get(name);
    if (i === undefined) this.cache.set(name, (i = this.indexOf(name)));
    return i < 0 ? undefined : this.address(i);
  }

  /** Like lookup, but a missing symbol is an IntrospectionError. */
  need(name: string): bigint {
    const a = this.lookup(name);
    if (a === undefined) throw new IntrospectionError(IntrospectionErrorCode.MISSING, `kallsyms has no symbol ${name}`, { symbol: name });
    return a;
  }
}

/** Read kallsyms from guest memory via the VMCOREINFO symbols; throws MISSING when they are not exported (< 6.0). */
export function readKallsyms(k: LinuxKernel): Kallsyms {
  const v = k.vmcoreinfo;
  const sym = (n: string) => {
    const a = vmSymbol(v, n);
    if (a === undefined) {
      throw new IntrospectionError(IntrospectionErrorCode.MISSING, `VMCOREINFO has no SYMBOL(${n}) (kallsyms is exported from Linux 6.0 on; this is ${k.osRelease})`, { key: `SYMBOL(${n})` });
    }
    return a;
  };
  const namesVa = sym('kallsyms_names');
  const tokenTableVa = sym('kallsyms_token_table');
  const tokenIndexVa = sym('kallsyms_token_index');
  const offsetsVa = sym('kallsyms_offsets');
  const baseVa = sym('kallsyms_relative_base');
  const numVa = sym('kallsyms_num_syms');
  const numSyms = k.readU32(numVa, 'kallsyms_num_syms');
  if (numSyms < 1 || numSyms > MAX_SYMS) throw new IntrospectionError(IntrospectionErrorCode.INCONSISTENT, `kallsyms_num_syms ${numSyms} is implausible`);
  // `unsigned long`: 4 bytes on i386.
  const relativeBase = k.readPtr(baseVa, 'kallsyms_relative_base');
  const offsets = k.read(offsetsVa, numSyms * 4, 'kallsyms_offsets');
  // The names table has no length; it is followed by kallsyms_markers and then the token table
  // (scripts/kallsyms.c output order), so read up to the token table when it follows, else a bounded span.
  const namesLen = tokenTableVa > namesVa && tokenTableVa - namesVa <= BigInt(MAX_NAMES_BYTES) ? Number(tokenTableVa - namesVa) : Math.min(MAX_NAMES_BYTES, numSyms * 64);
  const names = k.read(namesVa, namesLen, 'kallsyms_names');
  const tokenIndex = k.read(tokenIndexVa, 512, 'kallsyms_token_index');
  const tiu = new Uint16Array(256);
  let maxTok = 0;
  for (let i = 0; i < 256; i++) maxTok = Math.max(maxTok, (tiu[i] = tokenIndex.readUInt16LE(i * 2)));
  const tokenTable = k.read(tokenTableVa, maxTok + 256, 'kallsyms_token_table');
  const off32 = new Int32Array(numSyms);
  for (let i = 0; i < numSyms; i++) off32[i] = offsets.readInt32LE(i * 4);
  const ks = new Kallsyms({ numSyms, names, tokenTable, tokenIndex: tiu, offsets: off32, relativeBase }, true);
  // Decide the address encoding by a symbol VMCOREINFO also gives.
  const stext = vmSymbol(v, '_stext');
  if (stext !== undefined) {
    if (ks.lookup('_stext') !== stext) {
      ks.setAbsolutePercpu(false);
      if (ks.lookup('_stext') !== stext) {
        throw new IntrospectionError(IntrospectionErrorCode.INCONSISTENT, `kallsyms gives _stext at ${ks.lookup('_stext')?.toString(16) ?? 'nothing'}, VMCOREINFO at ${stext.toString(16)}`);
      }
    }
  }
  return ks;
}
