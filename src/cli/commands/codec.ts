/**
 * `mig encode <image> -o OUT.mig` and `mig decode OUT.mig -o IMAGE`: the codec's commands.
 * Output is written to a temp file and renamed on success; `-o -` writes the .mig to stdout.
 */
import { Command } from 'commander';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeImage } from '../../codec/decode.js';
import { encodeImage, EncodeSummary } from '../../codec/encode.js';
import type { CodecName } from '../../codec/entropy.js';
import { AtomicFileSink, checkOutputPath } from '../../util/sink.js';
import { readSomeSync, writeAllSync } from '../../util/fd.js';
import { registerTemp } from '../../util/temp-files.js';
import { randomBytes } from 'node:crypto';
import { UsageError } from '../../util/errors.js';
import { mib, table, printJson } from '../output.js';
import { progress } from '../progress.js';
import { intOption } from '../options.js';
import { PageMap } from '../../introspect/pagemap.js';
import type { OpenedImage } from '../../image/types.js';
import { introspectPageMap, noPageMapLine, PageMapSource } from '../../codec/page-map-source.js';

/** Copy standard input to a temporary file; remove() deletes it. */
function spoolStdin(): { file: string; remove: () => void } {
  // Named and registered before it exists (a signal's supervisor removes it); mkdir refuses an existing path.
  const dir = path.join(os.tmpdir(), `mig-encode-${process.pid}-${randomBytes(6).toString('hex')}`);
  registerTemp(dir);
  fs.mkdirSync(dir, { mode: 0o700 });
  const remove = () => fs.rmSync(dir, { recursive: true, force: true });
  const file = path.join(dir, 'stdin.img');
  try {
    const fd = fs.openSync(file, 'w');
    const buf = Buffer.allocUnsafe(1 << 20);
    try {
      for (;;) {
        const n = readSomeSync(0, buf, 0, buf.length);
        if (n === 0) break;
        fs.writeSync(fd, buf, 0, n);
      }
    } finally {
      fs.closeSync(fd);
    }
    return { file, remove };
  } catch (e) {
    remove();
    throw e;
  }
}

function printEncode(s: EncodeSummary): void {
  process.stdout.write(`${s.image} (${s.format}, ${mib(s.imageBytes)}) → ${s.outputBytes} bytes (${mib(s.outputBytes)}), ${(s.ratio * 100).toFixed(2)} % of the image, ${s.seconds.toFixed(2)} s\n`);
  if (s.freePagesDropped) process.stdout.write(`${s.freePagesDropped} free pages dropped (they decode as zero pages)\n`);
  process.stdout.write('technique    pages    MiB in    bytes out\n');
  for (const [k, t] of Object.entries(s.techniques)) {
    process.stdout.write(`${k.padEnd(11)}${String(t.pages).padStart(8)}${(t.bytesIn / 1048576).toFixed(1).padStart(10)}${String(t.bytesOut).padStart(13)}\n`);
  }
  if (s.byType) {
    // Pages of each type by how they were sent (the page map's types; PATCH pages under their main source).
    const names = ['zero', 'free', 'duplicate', 'baseline', 'context', 'history', 'literal'] as const;
    process.stdout.write('\npages by type\n');
    table(['type', ...names], Object.entries(s.byType).map(([type, row]) => [type, ...names.map((n) => String(row?.[n] ?? ''))]));
  }
}

export function registerCodec(program: Command): void {
  program
    .command('encode')
    .description('encode a memory image into a .mig file: zero and free pages dropped (free by guest introspection or --page-map), duplicate, baseline and context pages as references, sub-page matches against the context, earlier pages and the baseline, the rest entropy-coded')
    .argument('<image>', 'libvirt save image, QEMU migration stream, QEMU ELF dump, or raw memory file; - for stdin (spooled to $TMPDIR first)')
    .requiredOption('-o, --output <file>', 'the .mig to write (- for stdout)')
    .option('--baseline <image>', 'an image the decoder also has (the previous migration of this VM); pages equal to its pages become references')
    .option('--context <ctx>', 'a context file (mig context build) from the guest disk, which the decoder also has; pages equal to its pages become references (its sub-page index is cached beside it as CTX.anchors when the directory is writable)')
    .option('--codec <codec>', 'entropy coder: zstd | deflate', 'zstd')
    .option('--level <n>', 'entropy coder level (zstd 1..19, deflate 1..9)', intOption('--level', 1, 19))
    .option('--page-map <file>', 'page types per PFN ("start_pfn count type" lines, as `mig analyze --page-map` writes); pages typed free are not sent')
    .option('--free-pages <mode>', 'with a page map: drop (default; free pages decode as zeros) or keep')
    .option('--no-introspect', 'without --page-map, do not build a page map from the guest (Linux VMCOREINFO); encode generically')
    .option('--threads <n>', 'worker threads for the entropy stage (default: CPU count); the output is the same for any value', intOption('--threads', 1, 256))
    .option('--no-subpage', 'whole-page matches only: no sub-page matching against the context, earlier pages or the baseline (faster, larger)')
    .option('--json', 'print the summary as JSON')
    .action((imageArg: string, o: { output: string; baseline?: string; context?: string; codec: string; level?: number; threads?: number; pageMap?: string; freePages?: string; subpage: boolean; introspect: boolean; json?: boolean }) => {
      if (o.freePages !== undefined && o.freePages !== 'drop' && o.freePages !== 'keep') throw new UsageError(`--free-pages must be drop or keep, not ${o.freePages}`);
      // Before any work (spooling stdin, introspection, encoding): where the output goes must be usable.
      if (o.output !== '-') checkOutputPath(o.output);
      // stdin: the readers need random access and the encoder re-reads earlier pages, so a piped image
      // is first copied to $TMPDIR (removed afterwards).
      const spool = imageArg === '-' ? spoolStdin() : undefined;
      const image = spool?.file ?? imageArg;
      try {
        if (o.freePages !== undefined && !o.pageMap && !o.introspect) throw new UsageError('--free-pages needs a page map (--page-map FILE, or guest introspection without --no-introspect)');
        let pageMapSource: PageMapSource = { source: 'none' };
        let pageMap: PageMap | undefined;
        let opened: OpenedImage | undefined;
        // --page-map is read by the encoder once the image is open (bounded by its page frames).
        if (o.pageMap) pageMapSource = { source: 'file', file: o.pageMap };
        else if (o.introspect) {
          ({ map: pageMap, info: pageMapSource, opened } = introspectPageMap(image));
          const line = noPageMapLine(pageMapSource);
          if (line) process.stderr.write(line);
        }
        if (o.codec !== 'zstd' && o.codec !== 'deflate') throw new UsageError(`--codec must be zstd or deflate, not ${o.codec}`);
        if (o.codec === 'deflate' && o.level !== undefined && o.level > 9) throw new UsageError('--level for deflate must be 1..9');
        const report = progress('encode');
        const opts = { codec: o.codec as CodecName, level: o.level, baseline: o.baseline, context: o.context, threads: o.threads, pageMap, opened, pageMapFile: o.pageMap, freePages: o.freePages as 'drop' | 'keep' | undefined, subpage: o.subpage, onProgress: report.update };
        let summary: EncodeSummary;
        if (o.output === '-') {
          // Written before encodeImage goes on: it reuses its buffers (an asynchronous write would keep a view of them).
          summary = encodeImage(image, { write: (c) => writeAllSync(1, c) }, opts);
        } else {
          const sink = new AtomicFileSink(o.output);
          try {
            summary = encodeImage(image, sink, opts);
            sink.commit();
          } catch (e) {
            sink.abort();
            throw e;
          }
        }
        report.done();
        if (spool) summary.image = '-';
        if (o.output === '-') process.stderr.write(`${JSON.stringify({ ...summary, pageMap: pageMapSource })}\n`);
        else if (o.json) printJson({ ...summary, pageMap: pageMapSource });
        else printEncode(summary);
      } catch (e) {
        // Errors name the input as the user gave it.
        if (spool && e instanceof Error) e.message = e.message.replaceAll(spool.file, '<stdin>');
        throw e;
      } finally {
        spool?.remove();
      }
    });

  program
    .command('decode')
    .description('decode a .mig file back into the image it was made from (checked: frame checksums, SHA-256)')
    .argument('<mig>', 'the .mig file (- for stdin)')
    .requiredOption('-o, --output <file>', 'the image to write (written to a temp file, renamed on success); - for stdout (check the exit status: a pipe cannot be taken back)')
    .option('--baseline <image>', 'the baseline the .mig was encoded against')
    .option('--context <ctx>', 'the context the .mig was encoded with')
    .option('--threads <n>', 'worker threads for decompression (default: CPU count)', intOption('--threads', 1, 256))
    .option('--json', 'print the summary as JSON')
    .action((mig: string, o: { output: string; baseline?: string; context?: string; threads?: number; json?: boolean }) => {
      const s = decodeImage(mig, o.output, { baseline: o.baseline, context: o.context, threads: o.threads });
      if (o.output === '-') process.stderr.write(`${JSON.stringify(s)}\n`);
      else if (o.json) printJson(s);
      else process.stdout.write(`${s.output}: ${s.imageBytes} bytes (${s.format}), ${s.slots} page slots, ${s.frames} frames, ${s.seconds.toFixed(2)} s, SHA-256 verified\n`);
    });
}
