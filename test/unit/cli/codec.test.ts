/**
 * `mig encode` / `mig decode` on hostile inputs and outputs: page maps, special files, output
 * paths. Each refusal is a usage error (exit 2) naming the file, with no output and no temp file.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mig } from '../../helpers/cli.js';
import { page } from '../../helpers/stream-writer.js';
import { tmpFile, tmpPath } from '../../helpers/tmp.js';

/** A raw image of 256 pages (guest-physical span 256 page frames). */
const rawImage = () => tmpFile(Buffer.concat(Array.from({ length: 256 }, (_, i) => (i % 4 === 0 ? Buffer.alloc(4096) : page(i)))), 'raw.img');

/** Nothing named after `out` in its directory: no output, no temp file. */
function noOutput(t: import('ava').ExecutionContext, out: string): void {
  t.deepEqual(fs.readdirSync(path.dirname(out)).filter((f) => f.includes(path.basename(out))), []);
}

test('encode --page-map: a run past the image, a prototype key as type, /dev/zero and /dev/urandom are usage errors', (t) => {
  const img = rawImage();
  const cases: [string, RegExp][] = [
    [tmpFile(Buffer.from('0 4294967296 free\n'), 'huge.map'), /: line 1: count 4294967296 out of range \(the image has 256 page frames\)/],
    [tmpFile(Buffer.from('0 256 constructor\n'), 'proto.map'), /: line 1: unknown page type/],
    ['/dev/zero', /^mig: page map \/dev\/zero is not a regular file \(a character device\)$/m],
    ['/dev/urandom', /^mig: page map \/dev\/urandom is not a regular file \(a character device\)$/m],
  ];
  for (const [map, re] of cases) {
    const out = tmpPath('pm.mig');
    const t0 = Date.now();
    const r = mig('encode', img, '-o', out, '--page-map', map);
    t.is(r.status, 2, `${map}: ${r.stderr}`);
    t.regex(r.stderr, re);
    t.true(r.stderr.includes(map), 'names the page map');
    t.true(Date.now() - t0 < 15_000);
    noOutput(t, out);
  }
  const ok = tmpFile(Buffer.from('0 128 free\n128 128 anon\n'), 'ok.map');
  const r = mig('encode', img, '-o', tmpPath('ok.mig'), '--page-map', ok, '--json');
  t.is(r.status, 0, r.stderr);
  t.is(JSON.parse(r.stdout).freePagesDropped, 96, 'the non-zero pages of 0..127');
});
