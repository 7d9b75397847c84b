/**
 * The context file reader (src/context/format.ts, open.ts, and the codec's view of it,
 * src/codec/context-pages.ts): readContextHeader, openContext (+ find/read of every file),
 * verifyContext, openContextPages (indexed, and in memory). The mutator edits header and file-table
 * fields and paths, and re-seals what the format seals (the table's SHA-256, each file's SHA-256 and
 * the content digest) so that the damage reaches the checks behind them.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { layOut, writeContext } from '../../../src/context/build.js';
import { alignPage, CTX_ENTRY_FIXED, CTX_HEADER_SIZE, digestPrefix, H } from '../../../src/context/format.js';
import { openContext, readContextHeader } from '../../../src/context/open.js';
import { verifyContext } from '../../helpers/verify-context.js';
import { openContextPages } from '../../../src/codec/context-pages.js';
import { PAGE_SIZE } from '../../../src/mem/physical-memory.js';
import { page } from '../../helpers/stream-writer.js';
import { Field, Layout, mutateLaidOut, Region } from '../mutate.js';
import type { Rng } from '../rng.js';
import { FuzzCase, pickSeed, Seed, Target } from '../target.js';

interface CtxEntryPos { at: number; pathLen: number }

/** Header and table fields of a valid CTX. */
function ctxLayout(b: Buffer): { layout: Layout; entries: CtxEntryPos[] } {
  const fields: Field[] = [
    { off: H.version, size: 2, name: 'version' }, { off: H.headerSize, size: 2, name: 'header size' }, { off: H.flags, size: 4, name: 'flags' },
    { off: H.fileCount, size: 4, name: 'file count' }, { off: H.pageShift, size: 4, name: 'page shift' }, { off: H.tableLength, size: 8, name: 'table length' },
    { off: H.contentOffset, size: 8, name: 'content offset' }, { off: H.contentLength, size: 8, name: 'content length' }, { off: H.fileBytes, size: 8, name: 'file bytes' },
    { off: H.reserved, size: 8, name: 'reserved' }, { off: H.digest, size: 8, name: 'digest' }, { off: H.tableSha256, size: 8, name: 'table sha256' },
  ];
  const texts: Region[] = [];
  const entries: CtxEntryPos[] = [];
  const count = b.readUInt32LE(H.fileCount);
  const contentOffset = b.readUInt32LE(H.contentOffset);
  const boundaries = [0, 8, CTX_HEADER_SIZE, contentOffset, b.length];
  let at = CTX_HEADER_SIZE;
  for (let i = 0; i < count; i++) {
    const pathLen = b.readUInt16LE(at + 50);
    entries.push({ at, pathLen });
    fields.push({ off: at, size: 8, name: `entry ${i} offset` }, { off: at + 8, size: 8, name: `entry ${i} size` }, { off: at + 16, size: 8, name: `entry ${i} sha256` },
      { off: at + 48, size: 2, name: `entry ${i} flags` }, { off: at + 50, size: 2, name: `entry ${i} path length` });
    texts.push({ off: at + CTX_ENTRY_FIXED, len: pathLen, name: `entry ${i} path` });
    boundaries.push(at, at + CTX_ENTRY_FIXED);
    at += CTX_ENTRY_FIXED + pathLen;
  }
  boundaries.push(at);
  for (let o = contentOffset; o < b.length; o += PAGE_SIZE) boundaries.push(o);
  return { layout: { fields, boundaries, texts }, entries };
}

function ctxSeeds(dir: string): Seed[] {
  fs.mkdirSync(dir, { recursive: true });
  const f = (p: string, data: Buffer, elf = false, pe = false) => ({ pathBytes: Buffer.from(p), data, elf, pe });
  const elf = Buffer.concat([Buffer.from('\x7fELF', 'latin1'), Buffer.alloc(5000, 7)]);
  const pe = Buffer.alloc(6000, 5);
  pe.write('MZ', 0, 'latin1');
  pe.writeUInt32LE(0x80, 0x3c);
  pe.write('PE\0\0', 0x80, 'latin1');
  const sets: [string, ReturnType<typeof f>[]][] = [
    ['five files: shared content, an empty file, ELF flags', [f('usr/bin/tool', elf, true), f('etc/hostname', Buffer.from('guest\n')), f('etc/conf.d/a.conf', Buffer.from('a=1\n')), f('etc/empty', Buffer.alloc(0)), f('usr/bin/tool2', elf, true)]],
    ['one file of 3 pages', [f('usr/lib/x86_64-linux-gnu/libc.so.6', Buffer.concat([Buffer.from('\x7fELF', 'latin1'), page(1), page(2), page(3).subarray(0, 100)]), true)]],
    ['a PE file and a non-PE DLL (PE flags)', [f('Windows/System32/a.dll', pe, false, true), f('Windows/System32/b.dll', Buffer.from('MZ not a PE'))]],
    ['no files', []],
  ];
  return sets.map(([name, files], i) => {
    const out = path.join(dir, `seed-${i}.ctx`);
    writeContext({ ...layOut(files), source: 'fuzz', sourceKind: 'directory', defaults: 'linux', skipped: [], elapsedMs: 0 }, out);
    const bytes = fs.readFileSync(out);
    const { layout, entries } = ctxLayout(bytes);
    return { name, bytes, layout, extra: entries };
  });
}

const u64 = (b: Buffer, off: number) => (off + 8 <= b.length ? b.readUInt32LE(off + 4) * 0x1_0000_0000 + b.readUInt32LE(off) : -1);

/** Recompute the table SHA-256 over the table the header describes (when it fits the file). */
function resealTable(b: Buffer): void {
  const len = u64(b, H.tableLength);
  if (b.length < CTX_HEADER_SIZE || len < 0 || CTX_HEADER_SIZE + len > b.length) return;
  createHash('sha256').update(b.subarray(CTX_HEADER_SIZE, CTX_HEADER_SIZE + len)).digest().copy(b, H.tableSha256);
}

/** Recompute each file's SHA-256 and the content digest from whatever the table now says (entries out of range skipped). */
function resealContent(b: Buffer): void {
  if (b.length < CTX_HEADER_SIZE) return;
  const count = Math.min(b.readUInt32LE(H.fileCount), 10_000);
  const contentOffset = u64(b, H.contentOffset);
  const digest = createHash('sha256');
  let at = CTX_HEADER_SIZE;
  for (let i = 0; i < count && at + CTX_ENTRY_FIXED <= b.length; i++) {
    const off = u64(b, at);
    const size = u64(b, at + 8);
    const pathLen = b.readUInt16LE(at + 50);
    const pathBytes = b.subarray(at + CTX_ENTRY_FIXED, Math.min(b.length, at + CTX_ENTRY_FIXED + pathLen));
    const s = contentOffset + off;
    if (off >= 0 && size >= 0 && contentOffset >= 0 && s + size <= b.length) {
      const data = b.subarray(s, s + size);
      createHash('sha256').update(data).digest().copy(b, at + 16);
      digest.update(digestPrefix(Buffer.from(pathBytes), size)).update(data);
    }
    at += CTX_ENTRY_FIXED + pathLen;
  }
  resealTable(b);
  digest.digest().copy(b, H.digest);
}

const PATHS = ['', '/', '/etc/x', 'a//b', './a', 'a/..', '..', 'a\0b', 'usr/bin/tool', 'usr/bin/tool0', 'A', 'zzz', 'é', 'x'.repeat(4095), 'x'.repeat(4096), 'etc/hostname'];

/** Replace an entry's path (its length field and the header's table length follow; the content stays put when the padding allows). */
function repath(b: Buffer, entries: CtxEntryPos[], rng: Rng): { bytes: Buffer; desc: string } | undefined {
  if (!entries.length) return undefined;
  const k = rng.int(entries.length);
  const e = entries[k];
  const p = Buffer.from(rng.pick(PATHS), 'utf8');
  const tableLen = u64(b, H.tableLength);
  const contentOffset = u64(b, H.contentOffset);
  const table = Buffer.concat([b.subarray(CTX_HEADER_SIZE, e.at + 50), Buffer.alloc(2), p, b.subarray(e.at + CTX_ENTRY_FIXED + e.pathLen, CTX_HEADER_SIZE + tableLen)]);
  table.writeUInt16LE(p.length & 0xffff, e.at + 50 - CTX_HEADER_SIZE);
  const header = Buffer.from(b.subarray(0, CTX_HEADER_SIZE));
  header.writeBigUInt64LE(BigInt(table.length), H.tableLength);
  const newOffset = alignPage(CTX_HEADER_SIZE + table.length);
  header.writeBigUInt64LE(BigInt(newOffset), H.contentOffset);
  const content = b.subarray(contentOffset);
  const out = Buffer.concat([header, table, Buffer.alloc(newOffset - CTX_HEADER_SIZE - table.length), content]);
  return { bytes: out, desc: `entry ${k} path -> ${JSON.stringify(p.toString().slice(0, 32))}${p.length > 32 ? `… (${p.length})` : ''}` };
}

/** Swap two table entries or duplicate one (file count updated): order and overlap checks. */
function reorder(b: Buffer, entries: CtxEntryPos[], rng: Rng): { bytes: Buffer; desc: string } | undefined {
  if (entries.length < 1) return undefined;
  const ent = entries.map((e) => b.subarray(e.at, e.at + CTX_ENTRY_FIXED + e.pathLen));
  const i = rng.int(ent.length);
  let desc: string;
  if (rng.chance(0.5) && ent.length > 1) {
    const j = rng.int(ent.length);
    [ent[i], ent[j]] = [ent[j], ent[i]];
    desc = `entries ${i},${j} swapped`;
  } else {
    ent.splice(i, 0, ent[i]);
    desc = `entry ${i} doubled`;
  }
  const table = Buffer.concat(ent);
  const header = Buffer.from(b.subarray(0, CTX_HEADER_SIZE));
  header.writeUInt32LE(ent.length, H.fileCount);
  header.writeBigUInt64LE(BigInt(table.length), H.tableLength);
  const newOffset = alignPage(CTX_HEADER_SIZE + table.length);
  header.writeBigUInt64LE(BigInt(newOffset), H.contentOffset);
  const content = b.subarray(u64(b, H.contentOffset));
  return { bytes: Buffer.concat([header, table, Buffer.alloc(newOffset - CTX_HEADER_SIZE - table.length), content]), desc };
}

export function contextCase(p: string): void {
  readContextHeader(p);
  const c = openContext(p);
  try {
    for (const e of c.entries) {
      if (c.find(e.path) === undefined && !e.pathBytes.equals(Buffer.from(e.path))) continue;
      if (e.size <= 1 << 20) c.read(e);
    }
  } finally {
    c.close();
  }
  verifyContext(p);
  for (const inMemory of [false, true]) {
    const cp = openContextPages(p, { inMemory });
    try {
      const buf = Buffer.allocUnsafe(PAGE_SIZE);
      for (let k = 0; k <= cp.pages; k++) cp.readPage(k, buf);
      cp.readBytes(cp.bytes - 10, 20, Buffer.alloc(20), 0);
      cp.readBytes(100, 4096, buf, 0);
      cp.lookup(0, 0, buf, Buffer.allocUnsafe(PAGE_SIZE));
    } finally {
      cp.close();
    }
  }
}

export const contextTarget: Target = {
  name: 'context',
  about: 'context file (CTX): header, file table, paths, content; tables and digests re-sealed after edits',
  fileName: 'in.ctx',
  resources: (dir) => ({ seedDir: dir }),
  seeds: (res) => ctxSeeds(path.join(res.seedDir, 'ctx-seeds')),
  mutate(seed, rng, all): FuzzCase {
    const s = pickSeed(all, rng);
    const entries = s.extra as CtxEntryPos[];
    const kind = rng.weighted<string>([[10, 'generic'], [2, 'path'], [1, 'order']]);
    let r: { bytes: Buffer; desc: string[] };
    if (kind === 'path' || kind === 'order') {
      const x = kind === 'path' ? repath(s.bytes, entries, rng) : reorder(s.bytes, entries, rng);
      r = x ? { bytes: x.bytes, desc: [x.desc] } : mutateLaidOut(s.bytes, s.layout!, rng);
    } else {
      r = mutateLaidOut(s.bytes, s.layout!, rng, { from: 0, to: u64(s.bytes, H.contentOffset) });
    }
    const bytes = Buffer.from(r.bytes);
    if (rng.chance(0.5)) {
      resealContent(bytes);
      r.desc.push('re-sealed: file SHA-256s, table SHA-256, content digest');
    } else if (rng.chance(0.6)) {
      resealTable(bytes);
      r.desc.push('re-sealed: table SHA-256');
    }
    return { bytes, params: {}, seed: s.name, desc: r.desc };
  },
  exec: (p) => contextCase(p),
  budget: (bytes) => (32 << 20) + 8 * bytes,
};
