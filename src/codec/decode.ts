/**
 * Decoder: .mig → image, the encoder's mirror. Checks the header, refuses a missing or wrong
 * baseline by digest before writing a byte, then checks every frame (order, lengths, xxh3) before
 * decoding it, writes the image in order to a temp file, and renames it into place only when the
 * END frame's byte count, slot count and SHA-256 all match.
 */
import * as os from 'node:os';
import { performance } from 'node:perf_hooks';
import { PAGE_SIZE } from '../mem/physical-memory.js';
import { StreamReader } from '../util/stream-reader.js';
import { MigError, UsageError } from '../util/errors.js';
import { AtomicFileSink, checkOutputPath, StdoutSpoolSink } from '../util/sink.js';
import {
  CorruptFrameError, decodeFrameHeader, decodeHeader, END_PAYLOAD_SIZE, Flag, FRAME_HEADER_SIZE, FrameType, HEADER_SIZE, MigHeader, xxh3_64,
} from './container.js';
import { CodecPool, CodecWorkerError, type PoolJob } from './pool.js';
import { Op, OpReader, unzigzag } from './ops.js';
import { Baseline, openBaseline } from './baseline.js';
import { ContextPages, openContextPages } from './context-pages.js';
import { Src } from './subpage.js';
import { CHECKPOINT_VERSION, checkpointFiles, CheckpointWriter, loadCheckpoint, type DecodeCheckpoint } from './checkpoint.js';
import * as fs from 'node:fs';

export interface DecodeOptions {
  baseline?: string;
  /**
   * The baseline's SHA-256 when the caller already knows it (the baseline store, whose files are
   * named by digest and unchanged since stored): not hashed again. The decoded image's SHA-256 is
   * still checked at the end, so a baseline that is not what its digest says fails the decode.
   */
  baselineDigest?: Buffer;
  context?: string;
  /** Worker threads for decompression (default: the number of CPUs). */
  threads?: number;
  /** Stop reading at the END frame and leave what follows unread (a protocol goes on on the same stream, as in `mig receive`). */
  trailing?: boolean;
  /**
   * Resumable decode (mig receive): keep the image written so far and a checkpoint after every DATA
   * frame in `dir` (checkpoint.ts). When the input ends early the directory is kept, on any other
   * failure removed; with `resume`, the decode goes on from the checkpoint there: the input is the
   * same header again, then the stream from the checkpoint's `pos`. Needs a file output.
   */
  resumable?: { dir: string; id: string; resume?: boolean; onCheckpoint?: (cp: DecodeCheckpoint) => void };
}

export interface DecodeSummary {
  input: string;
  output: string;
  format: string;
  imageBytes: number;
  slots: number;
  frames: number;
  seconds: number;
  /** SHA-256 of the decoded image (hex), verified against the END frame. */
  sha256: string;
}


/** The baseline check happens before any output exists. */
function checkBaseline(h: MigHeader, migPath: string, baselinePath: string | undefined, knownDigest?: Buffer): Baseline | undefined {
  if (!(h.flags & Flag.BASELINE)) return undefined;
  if (!baselinePath) {
    throw new UsageError(`${migPath} was encoded against a baseline (sha256 ${h.baselineDigest.toString('hex')}); pass it with --baseline`, { baselineDigest: h.baselineDigest.toString('hex') });
  }
  const b = openBaseline(baselinePath, false, 0, knownDigest);
  if (!b.digest.equals(h.baselineDigest)) {
    b.close();
    throw new MigError('MIG_WRONG_BASELINE', `${baselinePath} is not the baseline ${migPath} was encoded against (sha256 ${b.digest.toString('hex')}, expected ${h.baselineDigest.toString('hex')})`,
      { baseline: baselinePath, expected: h.baselineDigest.toString('hex'), actual: b.digest.toString('hex') });
  }
  return b;
}

/** The context check, like the baseline's: by the CTX content digest, before any output exists. */
function checkContext(h: MigHeader, migPath: string, contextPath: string | undefined): ContextPages | undefined {
  if (!(h.flags & Flag.CONTEXT)) return undefined;
  if (!contextPath) {
    throw new UsageError(`${migPath} was encoded with a context (digest ${h.contextDigest.toString('hex')}); pass it with --context (build it with \`mig context build <guest disk> -o CTX\`)`, { contextDigest: h.contextDigest.toString('hex') });
  }
  // Context references read pages and byte ranges all over the content: it is mapped (no copy, no
  // fresh memory; CTX runs are copied from the mapping straight into the output's buffer).
  const c = openContextPages(contextPath, { index: false, inMemory: true });
  if (!c.digest.equals(h.contextDigest)) {
    c.close();
    throw new MigError('MIG_WRONG_CONTEXT', `${contextPath} is not the context ${migPath} was encoded with (digest ${c.digest.toString('hex')}, expected ${h.contextDigest.toString('hex')})`,
      { context: contextPath, expected: h.contextDigest.toString('hex'), actual: c.digest.toString('hex') });
  }
  return c;
}


export function decodeImage(migPath: string, outPath: string, opts: DecodeOptions = {}): DecodeSummary {
  const t0 = performance.now();
  // Before anything is read: where the image goes must be usable (a file output is renamed into place).
  if (outPath !== '-') checkOutputPath(outPath);
  const mig = new StreamReader(migPath);
  migPath = mig.name;
  const fail = (offset: number, what: string) => new CorruptFrameError(migPath, offset, what);
  /** The input ended early (a link that died): the one failure a resumable decode keeps its state for. */
  const ended = (offset: number, what: string) => new CorruptFrameError(migPath, offset, what, { truncated: true });
  const rs = opts.resumable;
  if (rs && outPath === '-') throw new UsageError('a resumable decode needs a file output, not -');
  let ckpt: CheckpointWriter | undefined;
  let keepState = false;
  let base: Baseline | undefined;
  let ctx: ContextPages | undefined;
  let sink: AtomicFileSink | StdoutSpoolSink | undefined;
  let pool: CodecPool | undefined;
  try {
    const head = mig.readExactly(HEADER_SIZE);
    if (head.got < HEADER_SIZE) {
      keepState = !!rs?.resume;
      throw ended(head.got, `input ends inside the ${HEADER_SIZE}-byte header`);
    }
    const h = decodeHeader(head.buf, migPath);
    base = checkBaseline(h, migPath, opts.baseline, opts.baselineDigest);
    ctx = checkContext(h, migPath, opts.context);
    const threads = opts.threads ?? os.availableParallelism();
    // Output offset of every slot decoded so far (DUP and HISTORY sources). Grown as slots are
    // produced, never sized from the header: memory follows the output actually written.
    let slotOffset = new Float64Array(Math.min(h.slots, 1 << 16));
    const reserveSlots = (n: number) => {
      if (n <= slotOffset.length) return;
      const grown = new Float64Array(Math.min(h.slots, Math.max(n, slotOffset.length * 2)));
      grown.set(slotOffset);
      slotOffset = grown;
    };
    let cp: DecodeCheckpoint | undefined;
    if (rs?.resume) {
      cp = loadCheckpoint(rs.dir);
      if (!cp) throw new MigError('MIG_RESUME', `no usable checkpoint in ${rs.dir} to resume from`, { dir: rs.dir });
      if (cp.id !== rs.id || cp.header !== head.buf.toString('hex')) throw new MigError('MIG_RESUME', `the checkpoint in ${rs.dir} is of another stream (id ${cp.id}); not resuming`, { dir: rs.dir });
      if (cp.slot > h.slots || cp.bytesWritten > h.imageBytes) throw new MigError('MIG_RESUME', `the checkpoint in ${rs.dir} is past the end of the image`, { dir: rs.dir });
    } else if (rs) {
      fs.rmSync(rs.dir, { recursive: true, force: true });
      fs.mkdirSync(rs.dir, { recursive: true, mode: 0o700 });
    }
    // '-': standard output (a spool file in $TMPDIR serves read-backs); else a temp file renamed on success
    // (resumable: a fixed temp file in the checkpoint dir, reopened and cut to the checkpoint to resume).
    // The sink hashes what it writes (a resumed file's first bytes included) and, with more than one
    // thread, writes and hashes on a thread of its own.
    const threaded = threads > 1;
    sink = outPath === '-' ? new StdoutSpoolSink({ hash: true, threaded })
      : new AtomicFileSink(outPath, rs ? { tmpPath: checkpointFiles(rs.dir).image, resumeAt: cp?.bytesWritten, hash: true, threaded } : { hash: true, threaded });
    const out = sink;
    if (rs) {
      ckpt = new CheckpointWriter(rs.dir, cp);
      keepState = !!cp;
    }
    if (cp) {
      reserveSlots(cp.slot); // cp.slot ≤ h.slots and ≤ the slots file's size / 8 (loadCheckpoint)
      CheckpointWriter.readSlots(rs!.dir, cp, slotOffset);
    }
    const page = Buffer.allocUnsafe(PAGE_SIZE);
    let slot = cp?.slot ?? 0;
    let lastBase = cp?.lastBase ?? -1;
    let lastCtx = cp?.lastCtx ?? -1;
    let lastCtxEnd = cp?.lastCtxEnd ?? 0;
    const basePage = Buffer.allocUnsafe(PAGE_SIZE);
    /** The baseline frame basePage holds (PATCH sources), or −1. */
    let baseFrame = -1;
    let pos = cp?.pos ?? HEADER_SIZE;
    let frame = cp?.frame ?? 0;
    // Frames are decoded ahead of the one being written; a resumable decode reads from a link and
    // checkpoints each frame as soon as it has arrived, so it reads no frame ahead.
    const depth = rs ? 1 : Math.max(1, 2 * threads);
    const codecs = new CodecPool(h.codec, 0, threads);
    pool = codecs;
    /** A run of n slots must fit in what the header announces (checked before any of it is written). */
    const runFits = (n: number, what: string, at: number) => {
      if (n > h.slots - slot) throw fail(at, `frame ${frame}: ${what} of ${n} slots at slot ${slot} passes the header's ${h.slots} page slots`);
    };
    const emit = (b: Uint8Array) => out.write(b);
    const emitSlot = (b: Uint8Array, at: number) => {
      if (slot >= h.slots) throw fail(at, `more page slots than the header's ${h.slots}`);
      if (slot >= slotOffset.length) reserveSlots(slot + 1);
      slotOffset[slot++] = out.bytesWritten;
      emit(b);
    };
    // Frames are read, checked and handed to the decompression pool ahead of the one being written.
    interface Pending { index: number; payloadAt: number; endPos: number; ops: PoolJob; lits: PoolJob }
    const queue: Pending[] = [];
    let end: { payload: Buffer; payloadAt: number } | undefined;
    let readIndex = frame;
    let payloadBuf = Buffer.allocUnsafe(1 << 20);
    const readNext = () => {
      const fhBytes = mig.readExactly(FRAME_HEADER_SIZE);
      if (fhBytes.got < FRAME_HEADER_SIZE) throw ended(pos, `input ends before frame ${readIndex} (truncated; no END frame)`);
      const fh = decodeFrameHeader(fhBytes.buf, migPath, pos, h, readIndex);
      const payloadAt = pos + FRAME_HEADER_SIZE;
      // codedLength is bounded by the header's frame limit (decodeFrameHeader), so this allocation is too.
      // Into one reused buffer: the pool copies the streams before decompress() returns.
      if (payloadBuf.length < fh.codedLength) payloadBuf = Buffer.allocUnsafe(Math.max(fh.codedLength, 2 * payloadBuf.length));
      const body = mig.readExactlyInto(payloadBuf, fh.codedLength);
      if (body.got < fh.codedLength) throw ended(payloadAt, `frame ${readIndex} payload of ${fh.codedLength} bytes runs past the end of the input`);
      const payload = payloadBuf.subarray(0, fh.codedLength);
      if (xxh3_64(payload) !== fh.checksum) throw fail(pos + 16, `frame ${readIndex} checksum mismatch (damaged data)`);
      pos = payloadAt + fh.codedLength;
      if (fh.type === FrameType.END) {
        if (fh.codedLength !== END_PAYLOAD_SIZE) throw fail(payloadAt, 'END frame has the wrong size');
        end = { payload: Buffer.from(payload), payloadAt };
        return;
      }
      // DATA: [u32 opsRaw][u32 opsCoded][u32 litRaw][u32 litCoded] opsCoded litCoded
      if (fh.codedLength < 16) throw fail(payloadAt, 'DATA frame shorter than its stream prefix');
      const opsRaw = payload.readUInt32LE(0);
      const opsCoded = payload.readUInt32LE(4);
      const litRaw = payload.readUInt32LE(8);
      const litCoded = payload.readUInt32LE(12);
      if (opsRaw + litRaw + 16 !== fh.rawLength || 16 + opsCoded + litCoded !== fh.codedLength) {
        throw fail(payloadAt, `frame ${readIndex} stream lengths do not add up`);
      }
      queue.push({
        index: readIndex++, payloadAt, endPos: pos,
        ops: codecs.decompress(payload.subarray(16, 16 + opsCoded), opsRaw),
        lits: codecs.decompress(payload.subarray(16 + opsCoded), litRaw),
      });
    };
    for (;;) {
      while (!end && queue.length < depth) readNext();
      const next = queue.shift();
      if (!next) break;
      const payloadAt = next.payloadAt;
      frame = next.index;
      let ops: Buffer;
      let lits: Buffer;
      try {
        ops = next.ops.wait();
        lits = next.lits.wait();
      } catch (e) {
        if (e instanceof CodecWorkerError) throw e; // not the input's fault
        throw fail(payloadAt + 16, `frame ${frame}: ${(e as Error).message}`);
      }
      const r = new OpReader(ops, (off, what) => fail(payloadAt, `frame ${frame} op stream byte ${off}: ${what}`));
      let lit = 0;
      while (!r.done) {
        const op = r.u8();
        switch (op) {
          case Op.BYTES:
            emit(r.bytes(r.varint()));
            break;
          case Op.ZERO: {
            const n = r.varint();
            runFits(n, 'ZERO run', payloadAt);
            // One call for the run: a long one becomes a hole in the output (sink.zeros).
            reserveSlots(slot + n);
            for (let i = 0; i < n; i++) slotOffset[slot + i] = out.bytesWritten + i * PAGE_SIZE;
            slot += n;
            out.zeros(n * PAGE_SIZE);
            break;
          }
          case Op.LIT:
            if (lit + PAGE_SIZE > lits.length) throw fail(payloadAt, `frame ${frame}: more literal ops than literal bytes`);
            emitSlot(lits.subarray(lit, lit + PAGE_SIZE), payloadAt);
            lit += PAGE_SIZE;
            break;
          case Op.DUP: {
            const d = r.varint();
            if (d < 1 || d > slot) throw fail(payloadAt, `frame ${frame}: reference to slot ${slot - d} outside 0..${slot - 1}`);
            out.readBack(slotOffset[slot - d], page);
            emitSlot(page, payloadAt);
            break;
          }
          case Op.BASE:
          case Op.BASE_RUN: {
            if (!base) throw fail(payloadAt, `frame ${frame}: baseline reference in a .mig encoded without a baseline`);
            // BASE names frame last + 1 + delta; BASE_RUN continues from last + 1.
            const n = op === Op.BASE ? 1 : r.varint();
            runFits(n, 'BASE_RUN', payloadAt);
            if (op === Op.BASE) lastBase += unzigzag(r.varint());
            for (let i = 0; i < n; i++) {
              lastBase++;
              if (!base.readFrame(lastBase, page)) throw fail(payloadAt, `frame ${frame}: baseline has no frame ${lastBase}`);
              emitSlot(page, payloadAt);
            }
            break;
          }
          case Op.CTX:
          case Op.CTX_RUN: {
            if (!ctx) throw fail(payloadAt, `frame ${frame}: context reference in a .mig encoded without a context`);
            const n = op === Op.CTX ? 1 : r.varint();
            runFits(n, 'CTX_RUN', payloadAt);
            if (op === Op.CTX) lastCtx += unzigzag(r.varint());
            const first = lastCtx + 1;
            if (first < 0 || first + n > ctx.pages) throw fail(payloadAt, `frame ${frame}: context has no page ${first < 0 ? first : ctx.pages}`);
            // The run's pages are consecutive in the context: read straight into the output's buffer.
            reserveSlots(slot + n);
            for (let i = 0; i < n; i++) slotOffset[slot + i] = out.bytesWritten + i * PAGE_SIZE;
            slot += n;
            let from = first * PAGE_SIZE;
            out.fill(n * PAGE_SIZE, (buf, at, len) => {
              ctx!.readBytes(from, len, buf, at);
              from += len;
            });
            lastCtx += n;
            break;
          }
          case Op.PATCH: {
            const nseg = r.varint();
            if (nseg < 1 || nseg > PAGE_SIZE + 1) throw fail(payloadAt, `frame ${frame}: PATCH with ${nseg} segments`);
            let t = 0;
            for (let i = 0; i < nseg; i++) {
              const litLen = r.varint();
              const len = r.varint();
              if (t + litLen + len > PAGE_SIZE) throw fail(payloadAt, `frame ${frame}: PATCH segments exceed a page`);
              if (lit + litLen > lits.length) throw fail(payloadAt, `frame ${frame}: PATCH literal run past the literal stream`);
              lits.copy(page, t, lit, lit + litLen);
              lit += litLen;
              t += litLen;
              if (len === 0) continue;
              const src = r.u8();
              if (src === Src.CONTEXT) {
                if (!ctx) throw fail(payloadAt, `frame ${frame}: context reference in a .mig encoded without a context`);
                const off = lastCtxEnd + unzigzag(r.varint());
                if (!ctx.readBytes(off, len, page, t)) throw fail(payloadAt, `frame ${frame}: context range ${off}+${len} outside its ${ctx.bytes} bytes`);
                lastCtxEnd = off + len;
              } else if (src === Src.HISTORY) {
                const d = r.varint();
                const o = r.varint();
                if (d < 1 || d > slot) throw fail(payloadAt, `frame ${frame}: reference to slot ${slot - d} outside 0..${slot - 1}`);
                if (o + len > PAGE_SIZE) throw fail(payloadAt, `frame ${frame}: history range ${o}+${len} outside a page`);
                out.readBack(slotOffset[slot - d] + o, page.subarray(t, t + len));
              } else if (src === Src.BASELINE || src === Src.BASELINE_AT) {
                if (!base) throw fail(payloadAt, `frame ${frame}: baseline reference in a .mig encoded without a baseline`);
                lastBase += 1 + unzigzag(r.varint());
                const o = src === Src.BASELINE ? t : r.varint();
                if (o + len > PAGE_SIZE) throw fail(payloadAt, `frame ${frame}: baseline range ${o}+${len} outside a page`);
                // A page's segments usually come from one frame: read it once.
                if (lastBase !== baseFrame) {
                  baseFrame = -1;
                  if (!base.readFrame(lastBase, basePage)) throw fail(payloadAt, `frame ${frame}: baseline has no frame ${lastBase}`);
                  baseFrame = lastBase;
                }
                basePage.copy(page, t, o, o + len);
              } else {
                throw fail(payloadAt, `frame ${frame}: PATCH source ${src} unknown`);
              }
              t += len;
            }
            if (t !== PAGE_SIZE) throw fail(payloadAt, `frame ${frame}: PATCH covers ${t} bytes, not a page`);
            emitSlot(page, payloadAt);
            break;
          }
          default:
            throw fail(payloadAt, `frame ${frame}: unknown op 0x${op.toString(16)}`);
        }
      }
      if (lit !== lits.length) throw fail(payloadAt, `frame ${frame}: ${lits.length - lit} literal bytes left unused`);
      // Everything of this frame has gone through the sink (which copies): its buffers go back to the pool.
      next.ops.release();
      next.lits.release();
      if (ckpt) {
        (out as AtomicFileSink).sync();
        const c: DecodeCheckpoint = {
          version: CHECKPOINT_VERSION, id: rs!.id, header: head.buf.toString('hex'), frame: frame + 1, pos: next.endPos,
          bytesWritten: out.bytesWritten, slot, lastBase, lastCtx, lastCtxEnd,
        };
        ckpt.save(c, slotOffset);
        keepState = true;
        rs!.onCheckpoint?.(c);
      }
    }
    // END: what was written must be exactly what was encoded.
    const { payload, payloadAt } = end!;
    const frames = readIndex;
    if (payload.readUInt32LE(16) !== frames) throw fail(payloadAt + 16, `END frame counts ${payload.readUInt32LE(16)} frames, file has ${frames}`);
    if (payload.readUInt32LE(20) !== 0) throw fail(payloadAt + 20, `END frame reserved field is 0x${payload.readUInt32LE(20).toString(16)}, not zero`);
    const bytes = Number(payload.readBigUInt64LE(0));
    const slots = Number(payload.readBigUInt64LE(8));
    if (bytes !== h.imageBytes || out.bytesWritten !== bytes) throw fail(payloadAt, `decoded ${out.bytesWritten} bytes, expected ${h.imageBytes}`);
    if (slots !== h.slots || slot !== slots) throw fail(payloadAt + 8, `decoded ${slot} page slots, expected ${h.slots}`);
    const digest = out.digest();
    if (!digest.equals(payload.subarray(24, 56))) throw fail(payloadAt + 24, 'SHA-256 of the decoded image does not match (corrupt data or wrong baseline)');
    if (!opts.trailing && !mig.atEnd()) throw fail(pos, 'data after the END frame');
    sink.commit();
    sink = undefined;
    keepState = false;
    return { input: migPath, output: outPath, format: h.sourceFormat, imageBytes: h.imageBytes, slots: h.slots, frames: frames + 1, seconds: (performance.now() - t0) / 1000, sha256: digest.toString('hex') };
  } catch (e) {
    // Resumable: only an input that ended early keeps the state (and the image so far) for a resume.
    if (!(e instanceof CorruptFrameError && e.data.truncated === true)) keepState = false;
    throw e;
  } finally {
    ckpt?.close();
    if (keepState && sink instanceof AtomicFileSink) sink.detach();
    else sink?.abort();
    if (rs && !keepState) fs.rmSync(rs.dir, { recursive: true, force: true });
    pool?.close();
    base?.close();
    ctx?.close();
    mig.close();
  }
}
