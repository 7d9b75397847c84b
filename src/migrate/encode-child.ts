/**
 * The encoder of `mig migrate`, in a child process so that the (synchronous) encoder and the network
 * transfer overlap: the .mig goes to stdout, progress and the summary go to stderr as JSON lines.
 * argv[2] is the JSON of EncodeChildArgs. With `waitForGo` it opens and indexes the baseline and
 * context first (while libvirt is still saving the image), says {"prepared":true} on stderr, and
 * starts on the image when the line "go" arrives on stdin (stdin closing without it: exit 1, quietly).
 */
import * as fs from 'node:fs';
import { encodeImage, prepareSources } from '../codec/encode.js';
import { introspectPageMap, noPageMapLine } from '../codec/page-map-source.js';
import { readLineSync } from './control-fd.js';
import { MigError } from '../util/errors.js';
import { writeAllSync } from '../util/fd.js';
import { faultFlag } from '../util/fault.js';
import { encodeFrameHeader } from '../codec/container.js';
import { MAX_LEVEL, MIN_LEVEL } from './adapt.js';

export interface EncodeChildArgs {
  image: string;
  baseline?: string;
  /** The baseline's SHA-256 (hex) when the store vouches for the file: not hashed again. */
  baselineDigest?: string;
  context?: string;
  threads?: number;
  waitForGo?: boolean;
  /** Drop free pages (introspection's page map); the file offsets of the dropped pages go to this file (f64 LE each). */
  freeList?: string;
  /** Entropy level (default 3), or, with levelFile, the level to start at. */
  level?: number;
  /** A file whose first bytes are the level for the next frame (`--level auto`: migrate.ts rewrites it as the link goes). */
  levelFile?: string;
  /** Expected image size (the baseline's): sizes the baseline's sub-page index before the image exists. */
  expectedBytes?: number;
}

const line = (o: object) => writeAllSync(2, Buffer.from(JSON.stringify(o) + '\n'));

try {
  const a = JSON.parse(process.argv[2]) as EncodeChildArgs;
  let last = 0;
  const prepared = prepareSources({ baseline: a.baseline, baselineDigest: a.baselineDigest ? Buffer.from(a.baselineDigest, 'hex') : undefined, context: a.context }, a.expectedBytes ?? 0);
  if (a.waitForGo) {
    line({ prepared: true });
    if (readLineSync(0) !== 'go') process.exit(1);
  }
  // Free pages: a page map by introspection (when the guest is not understood, the reason goes to
  // stderr and everything is sent).
  const pm = a.freeList ? introspectPageMap(a.image) : undefined;
  const noMap = pm && noPageMapLine(pm.info);
  if (noMap) writeAllSync(2, Buffer.from(noMap));
  let dropped = new Float64Array(1024);
  let nDropped = 0;
  const levelSource = a.levelFile ? levelReader(a.levelFile, a.level ?? 3) : undefined;
  // Test only (fault.ts): the last two writes (the END frame's header and payload) held back to be damaged.
  const flipDigest = faultFlag('end-digest');
  const held: Buffer[] = [];
  const write = (c: Uint8Array) => {
    if (!flipDigest) return writeAllSync(1, c);
    held.push(Buffer.from(c));
    while (held.length > 2) writeAllSync(1, held.shift()!);
  };
  const summary = encodeImage(a.image, { write }, {
    prepared, level: a.level, levelSource, opened: pm?.opened, threads: a.threads, pageMap: pm?.map, freePages: 'drop',
    onFreeDropped: (off) => {
      if (nDropped === dropped.length) {
        const grown = new Float64Array(dropped.length * 2);
        grown.set(dropped);
        dropped = grown;
      }
      dropped[nDropped++] = off;
    },
    onProgress: (done, total) => {
      const now = Date.now();
      if (now - last < 200) return;
      last = now;
      line({ progress: done, total });
    },
  });
  if (flipDigest) {
    const [h, end] = held;
    end[24] ^= 1; // the image SHA-256 (END payload: u64 bytes, u64 slots, u32 frames, u32 0, 32-byte digest)
    writeAllSync(1, encodeFrameHeader(h[0], h.readUInt32LE(12), h.readUInt32LE(4), end));
    writeAllSync(1, end);
  }
  if (a.freeList) fs.writeFileSync(a.freeList, Buffer.from(dropped.buffer, 0, nDropped * 8));
  line({ summary: { ...summary, pageMap: pm?.info } });
  process.exitCode = 0;
} catch (e) {
  if ((e as NodeJS.ErrnoException).code === 'EPIPE') process.exit(1);
  line({ error: e instanceof MigError ? e.toJSON() : { code: 'INTERNAL', message: String((e as Error).stack ?? e) } });
  process.exitCode = 1;
}

/** The level in `file` (a decimal number; re-read before each frame), or the last good one. */
function levelReader(file: string, start: number): () => number {
  const fd = fs.openSync(file, 'r');
  const b = Buffer.alloc(8);
  let level = start;
  return () => {
    const n = fs.readSync(fd, b, 0, b.length, 0);
    const v = Number.parseInt(b.toString('latin1', 0, n), 10);
    if (Number.isInteger(v) && v >= MIN_LEVEL && v <= MAX_LEVEL) level = v;
    return level;
  };
}
