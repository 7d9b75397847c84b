/**
 * Restore while decoding (`mig receive`, docs/migrate.md "Restore while decoding"): libvirt restores
 * the domain, paused, from a FIFO that a thread (restore-stream-worker.ts) feeds from the image file
 * as the decoder writes it. The decoder's thread is never slowed by libvirt: the follower reads the
 * file, which keeps every byte for the baseline store too (no second pass, no tee to wait on).
 *
 * The image's last HOLD_BACK bytes reach libvirt only after the decoder verified the whole image's
 * SHA-256 (`finish`), so a damaged stream never completes a restore; `abort` closes the FIFO early
 * and libvirt's restore fails, leaving no domain.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { MigError } from '../util/errors.js';
import type { StreamWorkerInit } from './restore-stream-worker.js';

export class StreamRestore {
  private readonly worker: Worker;
  private readonly result: Promise<{ ok?: true; error?: { code: string; message: string } }>;
  private settled = false;

  /** mkfifo `fifo` and start following `file` (the decoder's temp file) into it. */
  constructor(readonly o: StreamWorkerInit) {
    fs.rmSync(o.fifo, { force: true });
    execFileSync('mkfifo', ['-m', '0600', o.fifo]);
    this.worker = new Worker(new URL('./restore-stream-worker.js', import.meta.url), { workerData: o });
    this.result = new Promise((resolve) => {
      this.worker.once('message', resolve);
      this.worker.once('error', (e) => resolve({ error: { code: 'INTERNAL', message: e.message } }));
      this.worker.once('exit', () => resolve({ error: { code: 'INTERNAL', message: 'the restore thread ended without a word' } }));
    });
  }

  /** The image verified at `imageBytes`: send the rest; resolves once libvirt restored the domain, paused. */
  async finish(imageBytes: number): Promise<void> {
    this.worker.postMessage({ final: imageBytes });
    const r = await this.settle();
    if (r.error) {
      const code = r.error.code;
      throw new MigError(code === 'LIBVIRT' || code === 'NOT_A_SAVE_IMAGE' || code === 'BAD_DOMAIN_NAME' ? code : 'INTERNAL', r.error.message);
    }
  }

  /** Stop feeding libvirt (its restore fails for want of the rest); resolves when it has. */
  async abort(): Promise<void> {
    if (this.settled) return;
    this.worker.postMessage({ abort: true });
    await this.settle();
  }

  private async settle(): Promise<{ ok?: true; error?: { code: string; message: string } }> {
    const r = await this.result;
    if (!this.settled) {
      this.settled = true;
      await this.worker.terminate();
      fs.rmSync(this.o.fifo, { force: true });
    }
    return r;
  }
}
