/**
 * Page contents for the synthetic Windows 7 images (windows7-image.ts), built from a seeded PRNG so
 * an image is a pure function of its seed: x86-like code, initialised data, heap pages with
 * repeating chunk headers and strings, thread stacks, pool pages with pool headers and tags, and the
 * stale leftovers of freed pages. Shapes, not exact Windows bytes: what matters to the codec is
 * that they compress and deduplicate like a desktop's pages do.
 */

/** xorshift128+ on 32-bit halves (deterministic, fast, good enough for test data). */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    // splitmix32 to spread the seed over the state.
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next() | 1;
    this.b = next();
    this.c = next();
    this.d = next();
  }

  /** Uniform u32. */
  u32(): number {
    // xoshiro128** step.
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return n <= 1 ? 0 : Math.floor((this.u32() / 4294967296) * n);
  }

  /** Uniform in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.u32() / 4294967296 < p;
  }

  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }

  /** An independent generator derived from this one and a label (so adding draws elsewhere does not shift it). */
  fork(label: string): Rng {
    let h = 0x811c9dc5;
    for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
    return new Rng((this.u32() ^ h) >>> 0);
  }

  fill(b: Uint8Array, off = 0, len = b.length - off): void {
    let i = off;
    const end = off + len;
    for (; i + 4 <= end; i += 4) {
      const v = this.u32();
      b[i] = v;
      b[i + 1] = v >>> 8;
      b[i + 2] = v >>> 16;
      b[i + 3] = v >>> 24;
    }
    for (; i < end; i++) b[i] = this.u32();
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * x86-like code: a per-module vocabulary of instruction byte patterns (prologues, calls with rel32,
 * moves with disp8, epilogues, int3 padding between functions) emitted in function-sized runs.
 */
export function fillCode(rng: Rng, out: Uint8Array, off = 0, len = out.length - off): void {
  const vocab: Uint8Array[] = CODE_BASE.slice();
  for (let i = 0; i < 24; i++) {
    const v = new Uint8Array(rng.range(2, 7));
    rng.fill(v);
    vocab.push(v);
  }
  const nv = vocab.length;
  const end = off + len;
  let i = off;
  while (i < end) {
    const fnEnd = Math.min(end, i + rng.range(24, 400));
    while (i < fnEnd) {
      const r = rng.u32();
      const v = vocab[(r & 0xffff) % nv];
      const n = Math.min(v.length, fnEnd - i);
      for (let k = 0; k < n; k++) out[i + k] = v[k];
      i += n;
      // an operand: disp8 or rel32 (high byte 0)
      const op = (r >>> 16) & 7;
      if (op < 2 && i < fnEnd) out[i++] = (r >>> 19) & 0xfc;
      else if (op === 2 && i + 4 <= fnEnd) {
        out[i] = r >>> 8;
        out[i + 1] = r >>> 24;
        out[i + 2] = r & 0x0f;
        out[i + 3] = 0;
        i += 4;
      }
    }
    const pad = Math.min(end - i, 1 + (rng.u32() & 15));
    out.fill(0xcc, i, i + pad);
    i += pad;
  }
}

const CODE_BASE: Uint8Array[] = [
  [0x8b, 0xff, 0x55, 0x8b, 0xec], // mov edi,edi; push ebp; mov ebp,esp
  [0x83, 0xec], // sub esp, imm8
  [0x8b, 0x45], // mov eax,[ebp+d8]
  [0x8b, 0x4d],
  [0x89, 0x45],
  [0x85, 0xc0, 0x74], // test eax,eax; jz
  [0x0f, 0x84], // jz rel32
  [0xe8], // call rel32
  [0xff, 0x15], // call [abs32]
  [0x6a], // push imm8
  [0x68], // push imm32
  [0x5d, 0xc2], // pop ebp; ret imm16
  [0x5f, 0x5e, 0x5b, 0xc9, 0xc3], // pop edi; pop esi; pop ebx; leave; ret
  [0x33, 0xc0], // xor eax,eax
  [0x50], [0x51], [0x56], [0x57], [0x53],
].map((b) => Uint8Array.from(b));

const WORDS = [
  'Software', 'Microsoft', 'Windows', 'CurrentVersion', 'Explorer', 'Shell', 'Folders', 'System32', 'Program Files',
  'Common Files', 'Users', 'AppData', 'Local', 'Roaming', 'Desktop', 'Documents', 'Policies', 'Services', 'Control',
  'Session Manager', 'Environment', 'Fonts', 'Segoe UI', 'Tahoma', 'kernel32.dll', 'ntdll.dll', 'user32.dll',
  'RegisterClassExW', 'CreateWindowExW', 'DefWindowProcW', 'GetProcAddress', 'LoadLibraryExW', 'HeapAlloc',
  'CoCreateInstance', 'CLSID', 'InprocServer32', 'ThreadingModel', 'Apartment', 'Both', 'en-US', 'Default',
];

const WORDS16 = WORDS.map((w) => Buffer.from(w, 'utf16le'));
const SEP16: Record<string, Buffer> = { '\\': Buffer.from('\\', 'utf16le'), ' ': Buffer.from(' ', 'utf16le'), '=': Buffer.from('=', 'utf16le') };

/** Write a UTF-16LE string of random words (what heaps and resources are full of) at out[off..end); returns the end offset. */
export function putWords(rng: Rng, out: Uint8Array, off: number, end: number, words = rng.range(1, 5), sep = '\\'): number {
  const sp = SEP16[sep] ?? SEP16['\\'];
  let i = off;
  for (let k = 0; k < words && i < end; k++) {
    if (k) i = put(out, sp, i, end);
    i = put(out, WORDS16[rng.int(WORDS16.length)], i, end);
  }
  if (i + 2 <= end) {
    out[i++] = 0;
    out[i++] = 0;
  }
  return i;
}

function put(out: Uint8Array, w: Uint8Array, i: number, end: number): number {
  if (i + w.length <= end) {
    out.set(w, i);
    return i + w.length;
  }
  for (let k = 0; i < end; k++) out[i++] = w[k];
  return i;
}

/** A UTF-16LE string of random words as a Buffer. */
export function utf16Words(rng: Rng, words = rng.range(1, 5), sep = '\\'): Buffer {
  const b = Buffer.alloc(words * 64);
  return b.subarray(0, putWords(rng, b, 0, b.length, words, sep));
}

/** Initialised data of a module: pointers into the module, small integers, strings, zero runs. */
export function fillData(rng: Rng, out: Uint8Array, moduleBase: number, moduleSize: number, off = 0, len = out.length - off): void {
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const end = off + len;
  let i = off;
  while (i + 8 <= end) {
    const kind = rng.int(10);
    if (kind < 3) {
      const n = rng.range(2, 16);
      for (let k = 0; k < n && i + 4 <= end; k++, i += 4) dv.setUint32(i, (moduleBase + (rng.int(moduleSize) & ~3)) >>> 0, true);
    } else if (kind < 5) {
      const n = rng.range(2, 12);
      for (let k = 0; k < n && i + 4 <= end; k++, i += 4) dv.setUint32(i, rng.int(rng.chance(0.5) ? 16 : 65536), true);
    } else if (kind < 7) {
      i = (putWords(rng, out, i, end) + 3) & ~3;
    } else {
      i += rng.range(8, 256) & ~3;
    }
  }
}

/** Resources: UTF-16 string tables and small bitmaps with a palette (repetitive rows). */
export function fillResource(rng: Rng, out: Uint8Array, off = 0, len = out.length - off): void {
  const end = off + len;
  let i = off;
  while (i < end) {
    if (rng.chance(0.5)) {
      i = putWords(rng, out, i, end, rng.range(2, 8), ' ');
    } else {
      const w = rng.pick([16, 32, 48]);
      const row = new Uint8Array(w);
      rng.fill(row);
      for (let k = 0; k < w; k++) row[k] &= 0x0f;
      for (let r = 0; r < w && i < end; r++) {
        const n = Math.min(w, end - i);
        out.set(row.subarray(0, n), i);
        if (rng.chance(0.2)) row[rng.int(w)] ^= 1;
        i += n;
      }
    }
  }
}

/**
 * A heap page: 8-byte chunk headers (Win7 heaps XOR them with a per-heap key, so they look random
 * but share a key) followed by strings, pointer tables into the heap, counters and zero fill.
 */
export function fillHeapPage(rng: Rng, out: Uint8Array, off: number, heapBase: number, heapSize: number, key: number): void {
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const end = off + 4096;
  let i = off;
  let prev = 0;
  while (i + 16 <= end) {
    const units = Math.min(rng.pick([2, 3, 4, 4, 6, 8, 8, 12, 16, 24, 32, 64]), (end - i) >>> 3);
    dv.setUint32(i, ((units | (prev << 16)) ^ key) >>> 0, true);
    dv.setUint32(i + 4, ((0x01 | (rng.int(4) << 8)) ^ (key >>> 7)) >>> 0, true);
    const body = i + 8;
    const bodyEnd = i + units * 8;
    const kind = rng.int(8);
    if (kind < 3) {
      putWords(rng, out, body, bodyEnd);
    } else if (kind < 5) {
      for (let p = body; p + 4 <= bodyEnd; p += 4) dv.setUint32(p, (heapBase + (rng.int(heapSize) & ~7)) >>> 0, true);
    } else if (kind < 6) {
      for (let p = body; p + 4 <= bodyEnd; p += 4) dv.setUint32(p, rng.int(256), true);
    } // else: zero-filled allocation
    prev = units;
    i = bodyEnd;
  }
}

/**
 * A thread stack page: the deep part zero (never touched), then frames of saved EBP chains,
 * return addresses into code ranges and locals.
 */
export function fillStackPage(rng: Rng, out: Uint8Array, off: number, pageVa: number, codeRanges: readonly [number, number][], usedFrom: number): void {
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let p = Math.max(off, off + usedFrom) & ~3; p + 4 <= off + 4096; p += 4) {
    const r = rng.int(10);
    let v = 0;
    if (r < 2) v = pageVa + (p - off) + 4 * rng.range(4, 64); // saved EBP
    else if (r < 4 && codeRanges.length) {
      const [lo, hi] = rng.pick(codeRanges);
      v = lo + rng.int(hi - lo);
    } else if (r < 6) v = rng.int(0x10000);
    else if (r < 7) v = rng.u32();
    dv.setUint32(p, v >>> 0, true);
  }
}

/** Tags pool pages are full of (other allocations around the structures the generator places). */
export const POOL_FILLER_TAGS = ['File', 'Irp ', 'MmSt', 'Ntfx', 'CcSc', 'Toke', 'ObNm', 'Even', 'Muta', 'SeAt', 'Thre', 'Key ', 'CM31', 'Ntff', 'Vad ', 'ALPC', 'Sema', 'FMfc', 'Wait', 'Devi'];

const POOL_TAGS8 = POOL_FILLER_TAGS.map((t) => Buffer.from(t, 'latin1'));

/**
 * Pool filler: a run of pool blocks (8-byte _POOL_HEADER: PreviousSize|PoolIndex, BlockSize|PoolType,
 * tag) from `from` to `to` in the page at `off`, with object-like bodies.
 */
export function fillPoolBlocks(rng: Rng, out: Uint8Array, off: number, from: number, to: number, poolType: number, prevUnits: number): number {
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let i = from;
  let prev = prevUnits;
  while (to - i >= 16) {
    let units = Math.min(rng.pick([2, 3, 4, 5, 6, 8, 10, 16, 20, 32]), (to - i) >>> 3);
    if ((to - i) / 8 - units < 2) units = (to - i) >>> 3;
    dv.setUint16(off + i, prev & 0x1ff, true);
    dv.setUint16(off + i + 2, (units & 0x1ff) | (poolType << 9), true);
    out.set(POOL_TAGS8[rng.int(POOL_TAGS8.length)], off + i + 4);
    const body = off + i + 8;
    const bodyEnd = off + i + units * 8;
    const kind = rng.int(6);
    if (kind < 2) {
      for (let p = body; p + 4 <= bodyEnd; p += 4) dv.setUint32(p, (0x84000000 + (rng.u32() & 0x03fffff8)) >>> 0, true);
    } else if (kind < 3) {
      putWords(rng, out, body, bodyEnd);
    } else if (kind < 4) {
      for (let p = body; p + 4 <= bodyEnd; p += 4) dv.setUint32(p, rng.int(64), true);
    }
    prev = units;
    i += units * 8;
  }
  return prev;
}

/** Stale contents of a page that was freed: what it last held (heap, code, a file page, noise). */
export function fillStalePage(rng: Rng, out: Uint8Array, off: number, filePage: Uint8Array | undefined): void {
  const r = rng.int(10);
  if (r < 4) fillHeapPage(rng, out, off, 0x00300000 + rng.int(64) * 0x10000, 0x100000, rng.u32());
  else if (r < 7 && filePage) out.set(filePage, off);
  else if (r < 9) fillCode(rng, out, off, 4096);
  else rng.fill(out, off, 4096);
}
