/**
 * CTX format: the spec (docs/format/context.md) agrees with the code, and malformed CTX files are
 * refused — by openContext (structure) or verifyContext (content) — with an ImageFormatError naming
 * the file, the absolute offset and the field.
 */
import test, { ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { layOut, writeContext } from '../../../src/context/build.js';
import { CTX_ENTRY_FIXED, CTX_HEADER_SIZE, CTX_MAGIC, CTX_PAGE, H } from '../../../src/context/format.js';
import { openContext } from '../../../src/context/open.js';
import { verifyContext } from '../../helpers/verify-context.js';
import { MigError } from '../../../src/util/errors.js';
import { tmpPath } from '../../helpers/tmp.js';

test('docs/format/context.md agrees with the code: magic, header and entry field offsets', (t) => {
  const doc = fs.readFileSync(new URL('../../../../docs/format/context.md', import.meta.url), 'utf8');
  const section = (title: string) => doc.split(`### ${title}`)[1].split('###')[0];
  const offsets = (text: string) => [...text.matchAll(/^\| (\d+) \| /gm)].map((m) => Number(m[1]));
  t.deepEqual(offsets(section('Header')), Object.values(H));
  t.deepEqual(offsets(section('File table')), [0, 8, 16, 48, 50, CTX_ENTRY_FIXED]);
  t.true(section('Header').includes(`magic \`${CTX_MAGIC.toString('hex').toUpperCase().replace(/(..)(?!$)/g, '$1 ')}\``));
  t.regex(doc, new RegExp(`Header \\| ${CTX_HEADER_SIZE} bytes`));
});

// ---- malformed CTX files --------------------------------------------------------------------

/** A valid CTX: sorted paths etc/conf.d/a.conf (entry 0, content offset 0), etc/empty, etc/hostname, two ELF files sharing content. */
let fixture: Buffer | undefined;
function validCtx(): Buffer {
  if (!fixture) {
    const elf = Buffer.concat([Buffer.from('\x7fELF', 'latin1'), Buffer.alloc(5000, 7)]);
    const f = (p: string, data: string | Buffer, isElf = false) => ({ pathBytes: Buffer.from(p), data: Buffer.from(data), elf: isElf });
    const r = layOut([f('usr/bin/tool', elf, true), f('etc/hostname', 'guest\n'), f('etc/conf.d/a.conf', 'a=1\n'), f('etc/empty', ''), f('usr/bin/tool2', elf, true)]);
    const out = tmpPath('fixture.ctx');
    writeContext({ ...r, source: 'test', sourceKind: 'directory', defaults: 'linux', skipped: [], elapsedMs: 0 }, out);
    fixture = fs.readFileSync(out);
  }
  return Buffer.from(fixture);
}
const ENTRY0 = CTX_HEADER_SIZE;

interface Bad {
  mutate: (b: Buffer) => Buffer | void;
  code: string;
  offset: number | ((b: Buffer) => number);
  field: string | RegExp | ((b: Buffer) => string);
  match: RegExp;
  /** The damage is in the content: openContext accepts it, verifyContext does not. */
  verify?: boolean;
}

const malformed = test.macro((t: ExecutionContext, c: Bad) => {
  const b = validCtx();
  const buf = c.mutate(b) ?? b;
  const file = tmpPath('bad.ctx');
  fs.writeFileSync(file, buf);
  if (c.verify) t.notThrows(() => openContext(file).close());
  const err = t.throws(() => (c.verify ? verifyContext(file) : openContext(file)), { instanceOf: MigError });
  t.is(err?.code, c.code, err?.message);
  t.is(err?.data.offset, typeof c.offset === 'number' ? c.offset : c.offset(buf), err?.message);
  if (typeof c.field === 'function') t.is(err?.data.field, c.field(buf), err?.message);
  else if (typeof c.field === 'string') t.is(err?.data.field, c.field, err?.message);
  else t.regex(String(err?.data.field), c.field);
  t.regex(err!.message, c.match);
  t.true(err!.message.startsWith(`${file}: offset `));
});

const contentOffset = (b: Buffer) => b.readUInt32LE(H.contentOffset);
/** Entry 4 (usr/bin/tool2) follows four entries whose paths are 17 + 9 + 12 + 12 bytes. */
const ENTRY4 = ENTRY0 + 4 * CTX_ENTRY_FIXED + 17 + 9 + 12 + 12;
/** Re-hash the table after editing it, so the damage reaches the later checks. */
function rehashTable(b: Buffer): void {
  const table = b.subarray(CTX_HEADER_SIZE, CTX_HEADER_SIZE + b.readUInt32LE(H.tableLength));
  createHash('sha256').update(table).digest().copy(b, H.tableSha256);
}
const cases: Record<string, Bad> = {
  'empty file': { mutate: () => Buffer.alloc(0), code: 'IMAGE_BAD_MAGIC', offset: 0, field: 'magic', match: /not a CTX file: magic is \(empty file\)/ },
  'bad magic': { mutate: (b) => void b.write('MIGCTY', 0), code: 'IMAGE_BAD_MAGIC', offset: 0, field: 'magic', match: /expected 4d49474354580001/ },
  'truncated header': { mutate: (b) => b.subarray(0, 100), code: 'IMAGE_TRUNCATED', offset: 0, field: 'header', match: /128-byte header/ },
  'newer version': { mutate: (b) => void b.writeUInt16LE(2, H.version), code: 'IMAGE_UNSUPPORTED', offset: H.version, field: 'version', match: /version 2/ },
  'reserved flags': { mutate: (b) => void b.writeUInt32LE(4, H.flags), code: 'IMAGE_BAD_FIELD', offset: H.flags, field: 'flags', match: /reserved bits/ },
  'truncated table': { mutate: (b) => b.subarray(0, CTX_HEADER_SIZE + 30), code: 'IMAGE_TRUNCATED', offset: CTX_HEADER_SIZE, field: 'file table', match: /runs past the end of the file \(158 bytes\)/ },
  'table ends inside an entry': { mutate: (b) => void b.writeUInt32LE(b.readUInt32LE(H.fileCount) + 1, H.fileCount), code: 'IMAGE_TRUNCATED', offset: (b) => CTX_HEADER_SIZE + b.readUInt32LE(H.tableLength), field: (b) => `file table entry ${b.readUInt32LE(H.fileCount) - 1}`, match: /needs 52 bytes/ },
  'content length past EOF': { mutate: (b) => void b.writeUInt32LE(b.readUInt32LE(H.contentLength) + CTX_PAGE, H.contentLength), code: 'IMAGE_TRUNCATED', offset: contentOffset, field: 'content', match: /run past the end of the file/ },
  'file size past the content': { mutate: (b) => void b.writeUInt32LE(1 << 30, ENTRY0 + 8), code: 'IMAGE_TRUNCATED', offset: ENTRY0, field: 'file table entry 0', match: /etc\/conf\.d\/a\.conf: 1073741824 bytes at content offset 0 run past the end of the content/ },
  'size ≥ 2^53': { mutate: (b) => void b.writeUInt32LE(0xffffffff, ENTRY0 + 12), code: 'IMAGE_BAD_FIELD', offset: ENTRY0 + 8, field: 'file table entry 0 size', match: /exceeds 2\^53/ },
  'unaligned offset': { mutate: (b) => void b.writeUInt32LE(7, ENTRY0), code: 'IMAGE_BAD_FIELD', offset: ENTRY0, field: 'file table entry 0', match: /must be a multiple of 4096/ },
  'absolute path': { mutate: (b) => void (b[ENTRY0 + 52] = 0x2f), code: 'IMAGE_BAD_FIELD', offset: ENTRY0 + 52, field: 'file table entry 0', match: /starts with "\/"/ },
  'paths out of order': { mutate: (b) => void (b[ENTRY0 + 52 + 52 + 17] = 0x21), code: 'IMAGE_BAD_FIELD', offset: ENTRY0 + 52 + 17 + 52, field: 'file table entry 1', match: /does not sort strictly after/ },
  'table SHA-256 mismatch': { mutate: (b) => void (b[ENTRY0 + 16] ^= 1), code: 'IMAGE_BAD_FIELD', offset: H.tableSha256, field: 'table SHA-256', match: /mismatch/ },
  'shared region differs': { mutate: (b) => void (b[ENTRY4 + 16] ^= 1), code: 'IMAGE_BAD_FIELD', offset: ENTRY4, field: 'file table entry offset', match: /usr\/bin\/tool2 shares content offset \d+ with usr\/bin\/tool but differs/ },
  'ELF flag wrong': { mutate: (b) => (b.writeUInt16LE(1, ENTRY0 + 48), rehashTable(b)), verify: true, code: 'IMAGE_BAD_FIELD', offset: ENTRY0 + 48, field: 'file table entry flags', match: /ELF flag is set but the content lacks/ },
  'PE flag wrong': { mutate: (b) => (b.writeUInt16LE(2, ENTRY0 + 48), rehashTable(b)), verify: true, code: 'IMAGE_BAD_FIELD', offset: ENTRY0 + 48, field: 'file table entry flags', match: /PE flag is set but the content is not a PE image/ },
  'ELF and PE flags both set': { mutate: (b) => (b.writeUInt16LE(3, ENTRY0 + 48), rehashTable(b)), code: 'IMAGE_BAD_FIELD', offset: ENTRY0 + 48, field: 'file table entry 0', match: /ELF and PE flags both set/ },
  'reserved entry flag bit 2': { mutate: (b) => (b.writeUInt16LE(4, ENTRY0 + 48), rehashTable(b)), code: 'IMAGE_BAD_FIELD', offset: ENTRY0 + 48, field: 'file table entry 0', match: /reserved flag bits set \(0x4\)/ },
  'trailing bytes': { mutate: (b) => Buffer.concat([b, Buffer.alloc(1)]), code: 'IMAGE_BAD_FIELD', offset: (b) => b.length - 1, field: 'end of content', match: /1 bytes follow/ },
  'file content corrupted': { mutate: (b) => void (b[contentOffset(b) + 1] ^= 1), verify: true, code: 'IMAGE_BAD_FIELD', offset: contentOffset, field: 'content of etc/conf.d/a.conf', match: /SHA-256 mismatch/ },
  'padding not zero': { mutate: (b) => void (b[contentOffset(b) + 100] = 1), verify: true, code: 'IMAGE_BAD_FIELD', offset: (b) => contentOffset(b) + 100, field: 'content padding', match: /must be zero/ },
  'content digest mismatch': { mutate: (b) => void (b[H.digest + 5] ^= 0x80), verify: true, code: 'IMAGE_BAD_FIELD', offset: H.digest, field: 'content digest', match: /mismatch: the header says/ },
};
for (const [name, c] of Object.entries(cases)) test(`malformed CTX: ${name}`, malformed, c);
