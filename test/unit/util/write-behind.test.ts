/**
 * WriteBehind (src/util/write-behind.ts): with its thread and inline, the same file, the same
 * SHA-256, the same read-backs; a resumed file's first bytes are hashed too; a tee gets every byte
 * in order; a write error comes back to the producer with its errno and offset.
 */
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { AtomicFileSink } from '../../../src/util/sink.js';
import { WriteBehind } from '../../../src/util/write-behind.js';
import { tmpPath } from '../../helpers/tmp.js';

/** Chunks of awkward sizes (a page, odd sizes, more than a ring buffer), 9 MiB and some in all. */
function chunks(): Buffer[] {
  const sizes = [4096, 1, 3 << 20, 4095, 1 << 20, 777, (1 << 20) + 1, 4096, 5 << 20, 12345];
  return sizes.map((n) => randomBytes(n));
}

/** Append each part, odd ones through fill() in place (in pieces), even ones through write(); `after` sees each. */
function feed(wb: WriteBehind, parts: Buffer[], after?: (i: number) => void): void {
  for (const [i, p] of parts.entries()) {
    if (i % 2) {
      let from = 0;
      wb.fill(p.length, (buf, o, len) => {
        p.copy(buf, o, from, from + len);
        from += len;
      });
    } else wb.write(p);
    after?.(i);
  }
}

for (const threaded of [true, false]) {
  test(`${threaded ? 'threaded' : 'inline'}: file, digest and read-backs equal what was written`, (t) => {
    const parts = chunks();
    const all = Buffer.concat(parts);
    const file = tmpPath('wb.bin');
    const fd = fs.openSync(file, 'w+');
    const wb = new WriteBehind({ fd, hash: true, threaded, ring: 4, syncEvery: 2 << 20 });
    let at = 0;
    feed(wb, parts, (i) => {
      at += parts[i].length;
      t.is(wb.position, at);
      // Read back a range that straddles buffers: from the ring where it still is, the rest from the file.
      const off = Math.max(0, at - (3 << 20) - 100);
      const out = Buffer.alloc(Math.min(at - off, (2 << 20) + 200));
      const rest = wb.readBackRing(off, out);
      wb.drain();
      if (rest) fs.readSync(fd, out, 0, rest, off);
      t.true(out.equals(all.subarray(off, off + out.length)), `read back at ${off} after part ${i}`);
    });
    t.true(wb.digest().equals(createHash('sha256').update(all).digest()));
    wb.drain(true);
    wb.close();
    fs.closeSync(fd);
    t.true(fs.readFileSync(file).equals(all));
  });
}

test('a resumed sink hashes the bytes already in the file, then the new ones; a tee gets the new ones', (t) => {
  const first = randomBytes(3 << 20);
  const more = randomBytes((2 << 20) + 5);
  const out = tmpPath('resumed.img');
  const tmp = tmpPath('resumed.tmp');
  fs.writeFileSync(tmp, Buffer.concat([first, randomBytes(1000)])); // cut back to `first` on resume
  const tee = tmpPath('tee.bin');
  const teeFd = fs.openSync(tee, 'w');
  const sink = new AtomicFileSink(out, { tmpPath: tmp, resumeAt: first.length, hash: true, threaded: true, tee: teeFd });
  sink.write(more);
  const digest = sink.digest();
  sink.commit();
  fs.closeSync(teeFd);
  t.true(digest.equals(createHash('sha256').update(first).update(more).digest()));
  t.true(fs.readFileSync(out).equals(Buffer.concat([first, more])));
  t.true(fs.readFileSync(tee).equals(more));
});

for (const threaded of [true, false]) {
  test(`${threaded ? 'threaded' : 'inline'}: ENOSPC comes back with its code and offset, and stays`, (t) => {
    const fd = fs.openSync('/dev/full', 'w');
    try {
      const wb = new WriteBehind({ fd, threaded, ring: 2 });
      const err = t.throws(() => {
        for (let i = 0; i < 8; i++) wb.write(Buffer.alloc(1 << 20, 1));
        wb.drain();
      }) as Error & { code?: string; bytes?: number };
      t.is(err.code, 'ENOSPC');
      t.is(err.bytes, 0);
      t.throws(() => wb.drain(), { message: err.message });
      wb.close();
    } finally {
      fs.closeSync(fd);
    }
  });
}

test('hash only (no file), inline and threaded: the same digest for writes and fills', (t) => {
  const parts = chunks();
  const want = createHash('sha256').update(Buffer.concat(parts)).digest();
  for (const threaded of [false, true]) {
    const wb = new WriteBehind({ fd: -1, hash: true, threaded });
    feed(wb, parts);
    t.true(wb.digest().equals(want), threaded ? 'threaded' : 'inline');
    wb.close();
  }
});

for (const threaded of [true, false]) {
  test(`${threaded ? 'threaded' : 'inline'}: long zero runs become holes (not written), read back and hash as zeros; a trailing hole sets the size`, (t) => {
    const a = randomBytes(100_000);
    const b = randomBytes(5000);
    const want = Buffer.concat([a, Buffer.alloc(3 << 20), b, Buffer.alloc(1000), Buffer.alloc(2 << 20)]);
    const file = tmpPath('holes.bin');
    const fd = fs.openSync(file, 'w+');
    const teeFile = tmpPath('holes.tee');
    const teeFd = fs.openSync(teeFile, 'w');
    const wb = new WriteBehind({ fd, teeFd, hash: true, threaded, ring: 4 });
    wb.write(a);
    wb.zeros(3 << 20);
    // Inside the hole, from the ring (its entry is still there) or, after more entries, from the file.
    const mid = Buffer.alloc(10_000, 1);
    t.is(wb.readBackRing(a.length + 5000, mid), 0);
    t.true(mid.equals(Buffer.alloc(10_000)));
    wb.write(b);
    wb.zeros(1000); // short: written as data
    wb.zeros(2 << 20); // at the end: the size comes from drain()
    t.is(wb.position, want.length);
    t.true(wb.digest().equals(createHash('sha256').update(want).digest()));
    wb.drain(true);
    wb.close();
    fs.closeSync(fd);
    fs.closeSync(teeFd);
    t.true(fs.readFileSync(file).equals(want));
    t.true(fs.readFileSync(teeFile).equals(want), 'the tee gets the zeros');
    // Holes take no blocks: far fewer than the file's length.
    t.true(fs.statSync(file).blocks * 512 < want.length - (4 << 20), `${fs.statSync(file).blocks} blocks for ${want.length} bytes`);
  });
}
