/**
 * Blocking reads and writes on file descriptors that may be non-blocking pipes (stdin/stdout of a
 * process in a pipeline, an ssh exec channel): EAGAIN waits a few milliseconds and retries, EOF on
 * a closed pipe reads as end of input. Used where the codec runs synchronously.
 */
import * as fs from 'node:fs';

/** Block the thread for ms milliseconds (synchronous code: pipes, locks, fault points). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const nap = sleepSync;

/** Read up to n bytes into buf at off; returns how many (0 at end of input). */
export function readSomeSync(fd: number, buf: Uint8Array, off: number, n: number): number {
  let wait = MIN_NAP_MS;
  for (;;) {
    try {
      return fs.readSync(fd, buf, off, n, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        // Nothing yet: naps from 20 µs doubling to 5 ms while the pipe stays empty.
        nap(wait);
        wait = Math.min(5, wait * 2);
        continue;
      }
      if (code === 'EOF') return 0;
      throw e;
    }
  }
}

/**
 * Write all of b to fd. A full non-blocking pipe (EAGAIN) is waited on with naps that start at 20 µs
 * and double up to 2 ms while it stays full, back to 20 µs after every successful write: a reader
 * that drains a 64 KiB pipe in microseconds is not kept waiting 2 ms per pipe-full (a fixed 2 ms nap
 * halved `mig decode -o - | …`), and a stalled reader costs no CPU.
 */
export function writeAllSync(fd: number, b: Uint8Array): void {
  let off = 0;
  let wait = MIN_NAP_MS;
  while (off < b.length) {
    try {
      off += fs.writeSync(fd, b, off);
      wait = MIN_NAP_MS;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      nap(wait); // the pipe is full
      wait = Math.min(MAX_NAP_MS, wait * 2);
    }
  }
}

const MIN_NAP_MS = 0.02;
const MAX_NAP_MS = 2;

/** Calls onLine for every complete line of a text stream fed in chunks (a partial line waits for the next chunk). */
export function lineSplitter(onLine: (line: string) => void): (chunk: Buffer) => void {
  let buf = '';
  return (chunk) => {
    buf += chunk.toString('utf8');
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      onLine(line);
    }
  };
}
