/**
 * The thread of restore-stream.ts: follows the image file the decoder is writing and feeds it, front
 * to back, into the FIFO libvirt restores from (`virsh restore --paused`), holding back the last
 * HOLD_BACK bytes until the owner says the image verified (then libvirt can finish), or closing the
 * FIFO early when told to abort (then libvirt's restore fails and leaves no domain).
 *
 * Nothing reaches libvirt before the image's libvirt header and domain XML are decoded and name
 * the expected domain. The decoder's writing thread writes the file in order, so every byte below
 * the file's size is final (holes included: they read as zeros).
 *
 * Messages in: {final: bytes} (the image verified: send the rest) | {abort: true}.
 * Messages out: one {ok: true} (everything sent, libvirt restored the domain paused) or
 * {error: {code, message}}.
 */
import * as fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { domainNameOf, restorePaused } from '../libvirt/domain.js';
import { saveImageXml, SAVE_HEADER_SIZE } from '../image/libvirt-save.js';
import { native } from '../util/native.js';

export interface StreamWorkerInit {
  /** The file the decoder writes (its temp file). */
  file: string;
  fifo: string;
  domain: string;
  connect: string;
}

/** Bytes held back until the image verified: without them libvirt cannot finish the restore. */
export const HOLD_BACK = 1 << 20;
const CHUNK = 1 << 20;
const POLL_MS = 4;

const init = workerData as StreamWorkerInit;
let final = -1;
let aborted = false;
let wake: (() => void) | undefined;
parentPort!.on('message', (m: { final?: number; abort?: boolean }) => {
  if (typeof m.final === 'number') final = m.final;
  if (m.abort) aborted = true;
  wake?.();
});
const pause = () => new Promise<void>((r) => {
  wake = r;
  setTimeout(r, POLL_MS);
});

class StreamError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** Told to abort: the owner is failing already and reads no reason from here. */
class Aborted extends Error {}

async function run(): Promise<void> {
  // 1. The header and the domain XML, decoded and naming the domain.
  let fd = -1;
  while (fd < 0) {
    if (aborted) throw new Aborted('aborted');
    try {
      fd = fs.openSync(init.file, 'r');
    } catch {
      await pause();
    }
  }
  try {
    for (;;) {
      if (aborted) throw new Aborted('aborted');
      const size = fs.fstatSync(fd).size;
      if (size >= SAVE_HEADER_SIZE) {
        const len = Buffer.alloc(4);
        fs.readSync(fd, len, 0, 4, 20);
        if (size >= SAVE_HEADER_SIZE + len.readUInt32LE(0) || (final >= 0 && size >= final)) break;
      }
      await pause();
    }
    let xml: string;
    try {
      xml = saveImageXml(init.file);
    } catch (e) {
      throw new StreamError('NOT_A_SAVE_IMAGE', `the received image is not a libvirt save image (${(e as Error).message}); nothing restored`);
    }
    const name = domainNameOf(xml);
    if (name !== init.domain) throw new StreamError('BAD_DOMAIN_NAME', `the received image is of domain ${JSON.stringify(name)}, not ${init.domain}; nothing restored`);

    // 2. libvirt's paused restore from the FIFO; the FIFO opened once libvirt has it open for reading.
    const restore = restorePaused(init.connect, init.fifo);
    let exited: { code: number; stderr: string } | undefined;
    void restore.done.then((r) => {
      exited = r;
      wake?.();
    });
    const failed = (what: string) => new StreamError('LIBVIRT', `restoring ${init.domain} (paused) from the decoded stream failed${what}: ${exited?.stderr || `virsh exited ${exited?.code}`}`);
    let out = -1;
    const deadline = Date.now() + 120_000;
    while (out < 0) {
      try {
        out = fs.openSync(init.fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENXIO') throw e;
        if (exited) throw failed(' before reading it');
        if (aborted) {
          restore.child.kill('SIGTERM');
          await restore.done;
          throw new Aborted('aborted');
        }
        if (Date.now() > deadline) {
          restore.child.kill('SIGTERM');
          throw new StreamError('LIBVIRT', `libvirt did not open ${init.fifo} within 120 s to restore ${init.domain}`);
        }
        await pause();
      }
    }
    native.setBlocking(out, true);

    // 3. Follow the file into the FIFO, holding back the tail until the image verified.
    const buf = Buffer.allocUnsafe(CHUNK);
    let sent = 0;
    try {
      for (;;) {
        if (aborted) break;
        const limit = final >= 0 ? final : Math.max(0, fs.fstatSync(fd).size - HOLD_BACK);
        if (final >= 0 && sent >= final) break;
        if (sent >= limit) {
          await pause();
          continue;
        }
        const n = fs.readSync(fd, buf, 0, Math.min(CHUNK, limit - sent), sent);
        if (n === 0) throw new StreamError('INTERNAL', `the decoded image ended at ${sent} bytes, before ${limit}`);
        let off = 0;
        try {
          while (off < n) off += fs.writeSync(out, buf, off, n - off);
        } catch (e) {
          await restore.done;
          throw failed(` after ${sent + off} bytes (${(e as NodeJS.ErrnoException).code ?? e})`);
        }
        sent += n;
      }
    } finally {
      fs.closeSync(out);
    }
    const r = await restore.done;
    if (aborted) throw new Aborted('aborted');
    if (r.code !== 0) throw failed('');
  } finally {
    fs.closeSync(fd);
  }
}

run().then(
  () => parentPort!.postMessage({ ok: true }),
  (e: unknown) => parentPort!.postMessage({ error: { code: e instanceof StreamError ? e.code : 'INTERNAL', message: (e as Error).message ?? String(e) } }),
);
