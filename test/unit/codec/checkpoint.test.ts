/**
 * Checkpoints are crash-safe (docs/migrate.md: temp file + fsync + rename): before state.json is
 * replaced, the image and slot offsets it claims are synced and state.json.tmp is synced; after the
 * rename, the directory is. Observed by wrapping node:fs's calls during a resumable decode.
 */
import test from 'ava';
import fsCjs from 'node:fs';
import * as fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import * as path from 'node:path';
import { encodeImage } from '../../../src/codec/encode.js';
import { decodeImage } from '../../../src/codec/decode.js';
import { writeAtomically } from '../../../src/util/sink.js';
import { page } from '../../helpers/stream-writer.js';
import { tmpFile, tmpPath } from '../../helpers/tmp.js';

type Fn = (...a: never[]) => unknown;

/** Log fs calls as "open|write|fsync|rename <path>" while fn runs. */
function traceFs(fn: () => void): string[] {
  const log: string[] = [];
  const names = new Map<number, string>();
  const orig: Record<string, Fn> = {};
  const wrap = (name: 'openSync' | 'writeSync' | 'fsyncSync' | 'renameSync' | 'closeSync', f: (orig: Fn) => Fn) => {
    orig[name] = (fsCjs as unknown as Record<string, Fn>)[name];
    (fsCjs as unknown as Record<string, Fn>)[name] = f(orig[name]);
  };
  wrap('openSync', (o) => ((p: string, ...rest: never[]) => {
    const fd = o(p as never, ...rest) as number;
    names.set(fd, path.basename(String(p)) || String(p));
    return fd;
  }) as Fn);
  wrap('writeSync', (o) => ((fd: number, ...rest: never[]) => {
    if (names.has(fd)) log.push(`write ${names.get(fd)}`);
    return o(fd as never, ...rest);
  }) as Fn);
  wrap('fsyncSync', (o) => ((fd: number) => {
    log.push(`fsync ${names.get(fd) ?? fd}`);
    return o(fd as never);
  }) as Fn);
  wrap('renameSync', (o) => ((a: string, b: string) => {
    log.push(`rename ${path.basename(a)} ${path.basename(b)}`);
    return o(a as never, b as never);
  }) as Fn);
  wrap('closeSync', (o) => ((fd: number) => {
    const r = o(fd as never);
    names.delete(fd);
    return r;
  }) as Fn);
  syncBuiltinESMExports();
  try {
    fn();
  } finally {
    Object.assign(fsCjs, orig);
    syncBuiltinESMExports();
  }
  return log;
}

test('each checkpoint syncs image and slots, then state.json.tmp, renames it, then syncs the directory', (t) => {
  const img = Buffer.concat(Array.from({ length: 60 }, (_, i) => page(i)));
  const src = tmpFile(img, 'src.img');
  const mig = tmpPath('x.mig');
  writeAtomically(mig, (sink) => encodeImage(src, sink, { frameRaw: 16 << 10, threads: 1 }));
  const dir = tmpPath('partial');
  const out = tmpPath('out.img');
  const log = traceFs(() => decodeImage(mig, out, { threads: 1, resumable: { dir, id: 'm1' } }));
  t.true(fs.readFileSync(out).equals(img));
  const renames = log.flatMap((l, i) => (l === 'rename state.json.tmp state.json' ? [i] : []));
  t.true(renames.length >= 4, `${renames.length} checkpoints`);
  for (const r of renames) {
    const before = log.slice(0, r);
    const lastIdx = (l: string) => before.lastIndexOf(l);
    // state.json.tmp: written, then synced, then renamed.
    t.true(lastIdx('fsync state.json.tmp') > lastIdx('write state.json.tmp'), `state.json.tmp synced before rename (${r})`);
    // The image and slots it claims: synced after their last write, before state.json.tmp is written.
    for (const f of ['image', 'slots']) {
      t.true(lastIdx(`fsync ${f}`) > lastIdx(`write ${f}`), `${f} synced after its last write (${r})`);
      t.true(lastIdx(`fsync ${f}`) < lastIdx('write state.json.tmp'), `${f} synced before the state is written (${r})`);
    }
    t.is(log[r + 1], `fsync ${path.basename(dir)}`, `the directory is synced right after the rename (${r})`);
  }
});
