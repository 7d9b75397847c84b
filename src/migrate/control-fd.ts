/**
 * Control lines on file descriptors, synchronously: the receiver's stdin and stdout (`mig receive`)
 * and the encoder child's stdin. The framing is protocol.ts's; this file only does the I/O.
 */
import { readSomeSync, writeAllSync } from '../util/fd.js';
import { encodeMessage, LineFramer, MAX_LINE } from './protocol.js';

/** Read one line from a file descriptor without reading past it (byte by byte: the .mig follows). */
export function readLineSync(fd: number, max = MAX_LINE): string | undefined {
  const framer = new LineFramer(max);
  const b = Buffer.allocUnsafe(1);
  for (;;) {
    if (readSomeSync(fd, b, 0, 1) === 0) return framer.end();
    const { line } = framer.next(b);
    if (line !== undefined) return line;
  }
}

/** Write one message line to a file descriptor, synchronously (stdout of `mig receive`). */
export function writeMessage(fd: number, msg: object): void {
  writeAllSync(fd, encodeMessage(msg));
}
