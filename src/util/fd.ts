/**
 * Blocking reads and writes on file descriptors that may be non-blocking pipes (stdin/stdout of a
 * process in a pipeline, an ssh exec channel): EAGAIN waits a few milliseconds and retries, EOF on
 * a closed pipe reads as end of input. Used where the codec runs synchronously.
 */
import * as fs from 'node:fs';

const nap = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Read up to n bytes into buf at off; returns how many (0 at end of input). */
export function readSomeSync(fd: number, buf: Uint8Array, off: number, n: number): number {
  for (;;) {
    try {
      return fs.readSync(fd, buf, off, n, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        nap(5);
        continue;
      }
      if (code === 'EOF') return 0;
      throw e;
    }
  }
}

/** Write all of b to fd. */
export function writeAllSync(fd: number, b: Uint8Array): void {
  let off = 0;
  while (off < b.length) {
    try {
      off += fs.writeSync(fd, b, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      nap(2); // the pipe is full
    }
  }
}

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
