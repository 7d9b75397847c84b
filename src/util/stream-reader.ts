/**
 * Sequential reads from a file or a pipe (`-` = stdin) with exact-length semantics: readExactly
 * either returns n bytes or reports how far the input went. Used where the input may be a stream
 * (the decoder reading a .mig from ssh), so nothing may seek.
 */
import { readSomeSync } from './fd.js';
import * as fs from 'node:fs';
import { UsageError } from './errors.js';
import { fileKind } from './file.js';

export class StreamReader {
  readonly name: string;
  /** Bytes consumed so far (the offset of the next byte). */
  pos = 0;
  private fd: number;
  private own: boolean;

  constructor(path: string) {
    this.name = path === '-' ? '<stdin>' : path;
    if (path === '-') {
      this.fd = 0;
      this.own = false;
    } else {
      // A regular file, or a FIFO (read front to back like stdin: opening it waits for its writer,
      // as any reader of a FIFO does). Directories, devices and sockets are refused before opening.
      let st: fs.Stats;
      try {
        st = fs.statSync(path);
      } catch (e) {
        throw new UsageError(`cannot open ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: path });
      }
      if (!st.isFile() && !st.isFIFO()) throw new UsageError(`${path} is ${fileKind(st)}, not a regular file or a FIFO`, { file: path });
      try {
        this.fd = fs.openSync(path, 'r');
      } catch (e) {
        throw new UsageError(`cannot open ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: path });
      }
      this.own = true;
    }
  }

  /** Read up to n bytes into buf; returns how many (0 at end of input). Retries EAGAIN on non-blocking stdin. */
  private readSome(buf: Buffer, off: number, n: number): number {
    return readSomeSync(this.fd, buf, off, n);
  }

  /** n bytes into a new buffer: got = n, or fewer when the input ends first (then pos is at its end). */
  readExactly(n: number): { buf: Buffer; got: number } {
    return this.readExactlyInto(Buffer.allocUnsafe(n), n);
  }

  /** n bytes into buf[0, n) (a buffer the caller reuses); got as readExactly's. */
  readExactlyInto(buf: Buffer, n: number): { buf: Buffer; got: number } {
    let got = 0;
    while (got < n) {
      const k = this.readSome(buf, got, n - got);
      if (k === 0) break;
      got += k;
    }
    this.pos += got;
    return { buf, got };
  }

  /** True when no byte is left (consumes one byte if there is one). */
  atEnd(): boolean {
    const b = Buffer.allocUnsafe(1);
    const k = this.readSome(b, 0, 1);
    this.pos += k;
    return k === 0;
  }

  close(): void {
    if (this.own) fs.closeSync(this.fd);
  }
}
