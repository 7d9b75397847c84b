/**
 * The encoder child of `mig migrate` (encode-child.ts) seen from the parent: spawns it, appends its
 * stdout (the .mig) to the spool, reads its progress, summary and error lines from stderr, and
 * settles `done` when it exits. `go()` lets it start on the image once the save is written.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { EncodeSummary } from '../codec/encode.js';
import { lineSplitter } from '../util/fd.js';
import { writeError } from '../util/sink.js';
import type { EncodeChildArgs } from './encode-child.js';
import { MigrateError } from './errors.js';
import type { Spool } from './spool.js';
import { codecChildEnv } from '../util/memory-env.js';

const ENCODE_CHILD = fileURLToPath(new URL('./encode-child.js', import.meta.url));

export interface EncoderChild {
  child: ChildProcess;
  /** The encoder's summary once it exited 0 with the whole .mig in the spool; its error otherwise. */
  done: Promise<EncodeSummary>;
  /** Encoder input read / image bytes, 0..1. */
  readonly encoded: number;
  /** Start on the image (it waits for this after preparing the baseline and context). */
  go(): void;
}

export function startEncoder(args: EncodeChildArgs, sp: Spool): EncoderChild {
  const enc = spawn(process.execPath, [ENCODE_CHILD, JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'pipe'], env: codecChildEnv() });
  enc.stdin!.on('error', () => undefined);
  let encoded = 0;
  const done = new Promise<EncodeSummary>((resolve, reject) => {
    let summary: EncodeSummary | undefined;
    let error: { code: string; message: string } | undefined;
    enc.stdout!.on('data', (d: Buffer) => {
      if (sp.error) return;
      try {
        sp.append(d);
      } catch (e) {
        // The spool cannot be written (saves/ is full): the migration fails with that, not a crash.
        sp.finish(writeError(e, sp.file, sp.size) as Error);
        enc.kill('SIGKILL');
      }
    });
    enc.stderr!.on('data', lineSplitter((line) => {
      try {
        const m = JSON.parse(line) as { progress?: number; total?: number; summary?: EncodeSummary; error?: { code: string; message: string } };
        if (m.progress !== undefined) encoded = m.progress / (m.total || 1);
        if (m.summary) summary = m.summary;
        if (m.error) error = m.error;
      } catch { /* not ours */ }
    }));
    enc.on('close', (code) => {
      if (sp.error) reject(sp.error);
      else if (code === 0 && summary) {
        sp.finish();
        resolve(summary);
      } else {
        const e = new MigrateError(error ? `ENCODE_${error.code}` : 'ENCODE', `encoding ${args.image} failed: ${error?.message ?? `encoder exited ${code}`}`);
        sp.finish(e);
        reject(e);
      }
    });
  });
  done.catch(() => undefined);
  return {
    child: enc,
    done,
    get encoded() {
      return encoded;
    },
    go: () => enc.stdin!.end('go\n'),
  };
}
