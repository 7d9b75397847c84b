/**
 * Minimal PE32 files for the synthetic Windows 7 images (windows7-image.ts): the file as it sits on
 * disk (FileAlignment 0x200) and the image as the loader maps it (SectionAlignment 0x1000, headers
 * page then each section at its RVA, zero past SizeOfRawData), so image pages in memory and the file
 * bytes relate the way they do on Windows. Plus the catalogue of system files the images use.
 *
 * Layout (Microsoft PE/COFF specification): IMAGE_DOS_HEADER ('MZ', e_lfanew @0x3c), 'PE\0\0',
 * IMAGE_FILE_HEADER (20 bytes), IMAGE_OPTIONAL_HEADER32 (0xE0 bytes, Magic 0x10b), section table
 * (40 bytes per section).
 */
import { fillCode, fillData, fillResource, Rng } from './windows7-content.js';

export const SCN = {
  code: 0x60000020, // CNT_CODE | MEM_EXECUTE | MEM_READ
  data: 0xc0000040, // CNT_INITIALIZED_DATA | MEM_READ | MEM_WRITE
  rdata: 0x40000040, // CNT_INITIALIZED_DATA | MEM_READ
  reloc: 0x42000040, // + MEM_DISCARDABLE
  init: 0xe2000020, // code, discardable, RWX (the kernel's INIT)
} as const;

export type SectionFill = 'code' | 'data' | 'rdata' | 'rsrc' | 'reloc';

export interface PeSectionSpec {
  name: string;
  virtualSize: number;
  characteristics: number;
  fill: SectionFill;
  /** Bytes of initialised data (default: all of virtualSize); the rest is zero-fill (.bss-like). */
  rawSize?: number;
}

export interface PeSection {
  name: string;
  rva: number;
  virtualSize: number;
  rawOffset: number;
  rawSize: number;
  characteristics: number;
}

export interface PeImage {
  file: Buffer;
  /** The mapped image, SizeOfImage bytes. */
  image: Buffer;
  imageBase: number;
  sizeOfImage: number;
  sizeOfHeaders: number;
  entryRva: number;
  sections: PeSection[];
}

export interface PeSpec {
  imageBase: number;
  kind: 'exe' | 'dll' | 'sys';
  /** 1 native, 2 GUI, 3 console. */
  subsystem: number;
  sections: PeSectionSpec[];
  timeDateStamp: number;
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;
const E_LFANEW = 0xe0;
const DOS_STUB = 'This program cannot be run in DOS mode.\r\r\n$';

export function buildPe(rng: Rng, spec: PeSpec): PeImage {
  const n = spec.sections.length;
  const sizeOfHeaders = align(E_LFANEW + 4 + 20 + 0xe0 + 40 * n, 0x200);
  const sections: PeSection[] = [];
  let rva = 0x1000;
  let raw = sizeOfHeaders;
  for (const s of spec.sections) {
    const rawSize = align(Math.min(s.rawSize ?? s.virtualSize, s.virtualSize), 0x200);
    sections.push({ name: s.name, rva, virtualSize: s.virtualSize, rawOffset: raw, rawSize, characteristics: s.characteristics });
    rva = align(rva + s.virtualSize, 0x1000);
    raw += rawSize;
  }
  const sizeOfImage = rva;
  const file = Buffer.alloc(raw);
  // DOS header and stub.
  file.write('MZ', 0, 'latin1');
  file.writeUInt16LE(0x90, 2);
  file.writeUInt16LE(3, 4);
  file.writeUInt16LE(4, 8);
  file.writeUInt16LE(0xffff, 0xc);
  file.writeUInt16LE(0xb8, 0x10);
  file.writeUInt16LE(0x40, 0x18);
  file.writeUInt32LE(E_LFANEW, 0x3c);
  file.set([0x0e, 0x1f, 0xba, 0x0e, 0x00, 0xb4, 0x09, 0xcd, 0x21, 0xb8, 0x01, 0x4c, 0xcd, 0x21], 0x40);
  file.write(DOS_STUB, 0x4e, 'latin1');
  // NT headers.
  const nt = E_LFANEW;
  file.write('PE\0\0', nt, 'latin1');
  const fh = nt + 4;
  file.writeUInt16LE(0x14c, fh); // IMAGE_FILE_MACHINE_I386
  file.writeUInt16LE(n, fh + 2);
  file.writeUInt32LE(spec.timeDateStamp >>> 0, fh + 4);
  file.writeUInt16LE(0xe0, fh + 16);
  file.writeUInt16LE(0x0102 | (spec.kind === 'dll' ? 0x2000 : 0) | (spec.kind === 'sys' ? 0x0020 : 0), fh + 18);
  const oh = fh + 20;
  const code = sections.filter((s) => s.characteristics & 0x20);
  const data = sections.filter((s) => !(s.characteristics & 0x20));
  const entryRva = code.length ? code[0].rva + (rng.int(Math.max(1, code[0].virtualSize >> 4)) << 4) : 0;
  file.writeUInt16LE(0x10b, oh);
  file[oh + 2] = 9;
  file.writeUInt32LE(code.reduce((a, s) => a + s.rawSize, 0), oh + 4);
  file.writeUInt32LE(data.reduce((a, s) => a + s.rawSize, 0), oh + 8);
  file.writeUInt32LE(entryRva, oh + 16);
  file.writeUInt32LE(code[0]?.rva ?? 0x1000, oh + 20);
  file.writeUInt32LE(data[0]?.rva ?? 0, oh + 24);
  file.writeUInt32LE(spec.imageBase >>> 0, oh + 28);
  file.writeUInt32LE(0x1000, oh + 32);
  file.writeUInt32LE(0x200, oh + 36);
  file.writeUInt16LE(6, oh + 40);
  file.writeUInt16LE(1, oh + 42);
  file.writeUInt16LE(6, oh + 44);
  file.writeUInt16LE(1, oh + 46);
  file.writeUInt16LE(6, oh + 48);
  file.writeUInt16LE(1, oh + 50);
  file.writeUInt32LE(sizeOfImage, oh + 56);
  file.writeUInt32LE(sizeOfHeaders, oh + 60);
  file.writeUInt32LE(rng.u32() & 0x3fffff, oh + 64); // CheckSum
  file.writeUInt16LE(spec.subsystem, oh + 68);
  file.writeUInt16LE(0x0140, oh + 70); // DYNAMIC_BASE | NX_COMPAT
  file.writeUInt32LE(0x40000, oh + 72);
  file.writeUInt32LE(0x1000, oh + 76);
  file.writeUInt32LE(0x100000, oh + 80);
  file.writeUInt32LE(0x1000, oh + 84);
  file.writeUInt32LE(16, oh + 92);
  const rsrc = sections.find((s) => s.name === '.rsrc');
  if (rsrc) {
    file.writeUInt32LE(rsrc.rva, oh + 96 + 2 * 8);
    file.writeUInt32LE(rsrc.virtualSize, oh + 96 + 2 * 8 + 4);
  }
  const reloc = sections.find((s) => s.name === '.reloc');
  if (reloc) {
    file.writeUInt32LE(reloc.rva, oh + 96 + 5 * 8);
    file.writeUInt32LE(reloc.virtualSize, oh + 96 + 5 * 8 + 4);
  }
  // Section table and contents.
  const st = oh + 0xe0;
  sections.forEach((s, k) => {
    const h = st + 40 * k;
    file.write(s.name.slice(0, 8), h, 'latin1');
    file.writeUInt32LE(s.virtualSize, h + 8);
    file.writeUInt32LE(s.rva, h + 12);
    file.writeUInt32LE(s.rawSize, h + 16);
    file.writeUInt32LE(s.rawOffset, h + 20);
    file.writeUInt32LE(s.characteristics >>> 0, h + 36);
    const fill = spec.sections[k].fill;
    const initialised = Math.min(s.rawSize, spec.sections[k].rawSize ?? s.virtualSize);
    const r = rng.fork(s.name);
    if (fill === 'code') fillCode(r, file, s.rawOffset, initialised);
    else if (fill === 'data' || fill === 'rdata') fillData(r, file, spec.imageBase, sizeOfImage, s.rawOffset, initialised);
    else if (fill === 'rsrc') fillResource(r, file, s.rawOffset, initialised);
    else fillRelocs(r, file, s.rawOffset, initialised, sizeOfImage);
  });
  const image = Buffer.alloc(sizeOfImage);
  file.copy(image, 0, 0, sizeOfHeaders);
  for (const s of sections) file.copy(image, s.rva, s.rawOffset, s.rawOffset + Math.min(s.rawSize, s.virtualSize));
  return { file, image, imageBase: spec.imageBase, sizeOfImage, sizeOfHeaders, entryRva, sections };
}

/** SizeOfImage of a module with these sections (headers page, then each section page-aligned). */
export function peImageSize(sections: readonly PeSectionSpec[]): number {
  let rva = 0x1000;
  for (const s of sections) rva = align(rva + s.virtualSize, 0x1000);
  return rva;
}

/** Base relocation blocks: page RVA, block size, then IMAGE_REL_BASED_HIGHLOW (3) entries. */
function fillRelocs(rng: Rng, out: Buffer, off: number, len: number, sizeOfImage: number): void {
  let i = off;
  let page = 0x1000;
  while (i + 16 <= off + len && page < sizeOfImage) {
    const count = Math.min(rng.range(4, 60), ((off + len - i - 8) >> 1) & ~1);
    out.writeUInt32LE(page, i);
    out.writeUInt32LE(8 + 2 * count, i + 4);
    let o = 0;
    for (let k = 0; k < count; k++) {
      o = Math.min(0xffc, o + (rng.range(1, 64) & ~3));
      out.writeUInt16LE(0x3000 | o, i + 8 + 2 * k);
    }
    i += 8 + 2 * count;
    page += 0x1000 * rng.range(1, 3);
  }
}

/** The section list of a typical module of `kib` KiB of image. */
export function moduleSections(kind: 'exe' | 'dll' | 'sys' | 'kernel', kib: number, resourceShare = 0.1): PeSectionSpec[] {
  const total = Math.max(16, kib) * 1024;
  const pages = (f: number) => Math.max(0x800, Math.floor((total * f) / 0x1000) * 0x1000 - 0x180);
  const out: PeSectionSpec[] = [{ name: '.text', virtualSize: pages(0.62 - resourceShare), characteristics: SCN.code, fill: 'code' }];
  if (kind === 'kernel') {
    out.push({ name: 'PAGE', virtualSize: pages(0.18), characteristics: SCN.code, fill: 'code' });
    out.push({ name: '.data', virtualSize: pages(0.1), characteristics: SCN.data, fill: 'data', rawSize: pages(0.05) });
    out.push({ name: 'INIT', virtualSize: pages(0.04), characteristics: SCN.init, fill: 'code' });
  } else {
    out.push({ name: '.data', virtualSize: pages(0.06), characteristics: SCN.data, fill: 'data', rawSize: pages(0.03) });
    out.push({ name: '.rdata', virtualSize: pages(0.14), characteristics: SCN.rdata, fill: 'rdata' });
  }
  out.push({ name: '.rsrc', virtualSize: pages(resourceShare), characteristics: SCN.rdata, fill: 'rsrc' });
  out.push({ name: '.reloc', virtualSize: pages(0.04), characteristics: SCN.reloc, fill: 'reloc' });
  return out;
}

/** What a file on the guest's disk is used as. */
export type SysFileKind = 'dll' | 'exe' | 'data';

export interface SysFileSpec {
  /** Windows path, backslashes, from the volume root. */
  path: string;
  kind: SysFileKind;
  /** Size (images: of the mapped image) in KiB before scaling; real Win7 sizes scaled down ~4x. */
  kib: number;
  /** Share of .rsrc in an image. */
  rsrc?: number;
}

const S32 = '\\Windows\\System32\\';
const COMCTL = '\\Windows\\winsxs\\x86_microsoft.windows.common-controls_6595b64144ccf1df_6.0.7601.17514_none_41e6975e2bd6f2b2\\comctl32.dll';

/** The files the synthetic guest's processes map or its cache holds. */
export const WIN7_FILES: readonly SysFileSpec[] = [
  { path: S32 + 'ntdll.dll', kind: 'dll', kib: 320 },
  { path: S32 + 'kernel32.dll', kind: 'dll', kib: 256 },
  { path: S32 + 'KernelBase.dll', kind: 'dll', kib: 96 },
  { path: S32 + 'user32.dll', kind: 'dll', kib: 192 },
  { path: S32 + 'gdi32.dll', kind: 'dll', kib: 96 },
  { path: S32 + 'advapi32.dll', kind: 'dll', kib: 160 },
  { path: S32 + 'msvcrt.dll', kind: 'dll', kib: 160 },
  { path: S32 + 'rpcrt4.dll', kind: 'dll', kib: 128 },
  { path: S32 + 'sechost.dll', kind: 'dll', kib: 48 },
  { path: S32 + 'ole32.dll', kind: 'dll', kib: 256 },
  { path: S32 + 'shlwapi.dll', kind: 'dll', kib: 96 },
  { path: S32 + 'shell32.dll', kind: 'dll', kib: 640, rsrc: 0.45 },
  { path: COMCTL, kind: 'dll', kib: 192, rsrc: 0.25 },
  { path: S32 + 'lsasrv.dll', kind: 'dll', kib: 192 },
  { path: S32 + 'csrsrv.dll', kind: 'dll', kib: 32 },
  { path: S32 + 'basesrv.dll', kind: 'dll', kib: 32 },
  { path: S32 + 'winsrv.dll', kind: 'dll', kib: 64 },
  { path: S32 + 'smss.exe', kind: 'exe', kib: 32 },
  { path: S32 + 'csrss.exe', kind: 'exe', kib: 8 },
  { path: S32 + 'wininit.exe', kind: 'exe', kib: 48 },
  { path: S32 + 'services.exe', kind: 'exe', kib: 64 },
  { path: S32 + 'lsass.exe', kind: 'exe', kib: 16 },
  { path: S32 + 'svchost.exe', kind: 'exe', kib: 16 },
  { path: '\\Windows\\explorer.exe', kind: 'exe', kib: 384, rsrc: 0.3 },
  { path: S32 + 'notepad.exe', kind: 'exe', kib: 64, rsrc: 0.2 },
  // Mapped as data by every process / by GUI processes.
  { path: S32 + 'locale.nls', kind: 'data', kib: 96 },
  { path: S32 + 'C_1252.NLS', kind: 'data', kib: 64 },
  { path: '\\Windows\\Globalization\\Sorting\\SortDefault.nls', kind: 'data', kib: 256 },
  { path: '\\Windows\\Fonts\\segoeui.ttf', kind: 'data', kib: 128 },
  // Only in the cache (SuperFetch prefetch, earlier reads): standby pages.
  { path: S32 + 'mshtml.dll', kind: 'data', kib: 512 },
  { path: S32 + 'ieframe.dll', kind: 'data', kib: 384 },
  { path: S32 + 'wmploc.DLL', kind: 'data', kib: 256 },
  { path: '\\Program Files\\Internet Explorer\\iexplore.exe', kind: 'data', kib: 96 },
  { path: '\\Windows\\Fonts\\tahoma.ttf', kind: 'data', kib: 96 },
  { path: '\\Windows\\Prefetch\\EXPLORER.EXE-A80E4F97.pf', kind: 'data', kib: 48 },
];

/** Bytes of a data file: NLS tables (u16 runs), fonts and prefetch traces (dense, tabled). */
export function buildDataFile(rng: Rng, path: string, bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  const lower = path.toLowerCase();
  if (lower.endsWith('.nls')) {
    let v = rng.int(0x10000);
    for (let i = 0; i + 2 <= bytes; i += 2) {
      if (rng.chance(0.1)) v = rng.int(0x10000);
      else v = (v + 1) & 0xffff;
      b.writeUInt16LE(v, i);
    }
  } else if (lower.endsWith('.dll') || lower.endsWith('.exe')) {
    // A PE read as a data file (the cache holds the file layout, not the image layout).
    const pe = buildPe(rng, { imageBase: 0x10000000, kind: lower.endsWith('.exe') ? 'exe' : 'dll', subsystem: 2, sections: moduleSections('dll', bytes >> 10), timeDateStamp: 0x4ce7b000 + rng.int(1 << 20) });
    pe.file.copy(b, 0, 0, Math.min(bytes, pe.file.length));
  } else {
    for (let i = 0; i < bytes; i += 64) {
      if (rng.chance(0.7)) rng.fill(b, i, Math.min(64, bytes - i));
      else b.fill(rng.int(4), i, Math.min(bytes, i + 64));
    }
  }
  return b;
}
