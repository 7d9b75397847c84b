/**
 * `mig analyze <image> [--json] [--page-map FILE] [--report FILE.html|.svg]`: introspect the guest,
 * type every page, and print per type the pages, MiB, share and compressibility (zstd/gzip ratio).
 * --page-map writes the page map's text form (`start_pfn count type` per run), --report a picture.
 */
import { Command } from 'commander';
import * as path from 'node:path';
import { openImage } from '../../image/probe.js';
import type { ImageFormat } from '../../image/types.js';
import { CpuPaging, introspect, LinuxDetails } from '../../introspect/index.js';
import type { Arch, OsName, OsReport, PagingInfo } from '../../introspect/os.js';
import { renderHtml, renderSvg } from '../analyze/report.js';
import { TypeRow, typeStats } from '../analyze/type-stats.js';
import { UsageError } from '../../util/errors.js';
import { checkOutputPath, writeAtomically } from '../../util/sink.js';
import { mib, printJson, table } from '../output.js';
import { intOption } from '../options.js';

export interface AnalyzeOptions {
  format?: ImageFormat;
  pageMap?: string;
  report?: string;
  /** Pages per type compressed for the ratios (0 = all). */
  sample?: number;
  compress?: boolean;
}

export interface AnalyzeResult {
  file: string;
  format: ImageFormat;
  os: OsName;
  osRelease: string;
  arch: Arch;
  /** Paging mode found ('x86-64 4-level', 'x86 PAE', 'x86 non-PAE'), its root and where the root came from. */
  paging: { mode: string; root: string; rootSource: PagingInfo['rootSource'] };
  /** What the container's vCPU state says (CR3/CR4), when it has one. */
  cpuPaging?: CpuPaging;
  presentPages: number;
  types: TypeRow[];
  pageMapSeconds: number;
  warnings: string[];
  details: LinuxDetails;
  /** The OS's names for the page types and its own tables (Windows: PFN lists, processes). */
  report?: OsReport;
  pageMapFile?: string;
  reportFile?: string;
}

export function analyzeImage(file: string, o: AnalyzeOptions = {}): AnalyzeResult {
  let reportKind: 'svg' | 'html' | undefined;
  if (o.report !== undefined) {
    const ext = path.extname(o.report).toLowerCase();
    if (ext === '.svg') reportKind = 'svg';
    else if (ext === '.html' || ext === '.htm') reportKind = 'html';
    else throw new UsageError(`--report ${o.report}: the file name must end in .svg or .html`);
  }
  // Before the image is read: the output paths must be usable.
  if (o.pageMap !== undefined) checkOutputPath(o.pageMap);
  if (o.report !== undefined) checkOutputPath(o.report);
  const img = openImage(file, { format: o.format });
  try {
    const built = introspect(img);
    const types = typeStats(img.memory, built.map, { samplePages: o.sample, noCompression: o.compress === false });
    if (o.pageMap !== undefined) {
      const text = built.map.toText();
      writeAtomically(o.pageMap, (sink) => sink.write(Buffer.from(text)));
    }
    if (o.report !== undefined) {
      const input = {
        title: `mig analyze: ${path.basename(file)}`,
        subtitle: `${osLabel(built.os)} ${built.osRelease} (${built.paging.mode}), ${img.format}, ${mib(img.memory.size)} present, page map in ${built.seconds.toFixed(2)} s`,
        rows: types,
        memory: img.memory,
        map: built.map,
      };
      const doc = reportKind === 'svg' ? renderSvg(input) : renderHtml(input);
      writeAtomically(o.report, (sink) => sink.write(Buffer.from(doc)));
    }
    return {
      file,
      format: img.format,
      os: built.os,
      osRelease: built.osRelease,
      arch: built.arch,
      paging: { mode: built.paging.mode, root: '0x' + built.paging.rootPa.toString(16), rootSource: built.paging.rootSource },
      cpuPaging: built.cpuPaging,
      presentPages: img.memory.size / 4096,
      types,
      pageMapSeconds: built.seconds,
      warnings: built.warnings,
      details: built.details,
      report: built.report,
      pageMapFile: o.pageMap,
      reportFile: o.report,
    };
  } finally {
    img.close();
  }
}

const osLabel = (os: OsName) => (os === 'linux' ? 'Linux' : 'Windows');

function printText(r: AnalyzeResult): void {
  process.stdout.write(`${r.file}: ${r.format}, ${osLabel(r.os)} ${r.osRelease} ${r.arch}, ${r.paging.mode} (root 0x${r.paging.root.slice(2)} from ${r.paging.rootSource}), ${r.presentPages} pages present; page map in ${r.pageMapSeconds.toFixed(2)} s${r.details.vmcoreinfoSource !== undefined ? ` (VMCOREINFO from ${r.details.vmcoreinfoSource})` : ''}\n\n`);
  const ratio = (v?: number) => (v === undefined ? '' : v.toFixed(2));
  const names = r.report?.typeNames;
  const cols = ['type', 'pages', 'MiB', '%', 'zstd ×', 'gzip ×', 'sampled'];
  table(names ? [...cols, `${osLabel(r.os)} class`] : cols,
    r.types.map((t) => {
      const row = [t.type, String(t.pages), (t.bytes / (1 << 20)).toFixed(1), t.percent.toFixed(1), ratio(t.zstdRatio), ratio(t.gzipRatio), t.sampled === t.pages ? 'all' : String(t.sampled)];
      return names ? [...row, names[t.type] ?? ''] : row;
    }));
  for (const tb of r.report?.tables ?? []) {
    process.stdout.write(`\n${tb.title}\n`);
    table(tb.columns, tb.rows);
  }
  for (const w of r.warnings) process.stderr.write(`mig: warning: ${w}\n`);
  if (r.pageMapFile) process.stdout.write(`\npage map written to ${r.pageMapFile}\n`);
  if (r.reportFile) process.stdout.write(`report written to ${r.reportFile}\n`);
}

export function registerAnalyze(program: Command): void {
  program
    .command('analyze')
    .description('introspect the guest (Linux x86-64 and i386, Windows 7 x86): paging mode, page types, their share and compressibility (with the OS\'s own class names and tables: Windows PFN lists and processes); page map and report files')
    .argument('<image>', 'libvirt save image, QEMU migration stream, QEMU ELF dump, or raw memory file')
    .option('--format <format>', 'skip detection: libvirt-save | qemu-stream | elf-dump | raw')
    .option('--json', 'print a JSON object instead of text')
    .option('--page-map <file>', 'write the page map: one line per run, "start_pfn count type"')
    .option('--report <file>', 'write a picture of the type distribution and physical memory (.svg or .html)')
    .option('--sample <pages>', 'pages per type compressed for the ratios (0 = all)', intOption('--sample', 0), 4096)
    .option('--no-compress', 'skip the compressibility columns')
    .action((image: string, o: { format?: ImageFormat; json?: boolean; pageMap?: string; report?: string; sample: number; compress: boolean }) => {
      const r = analyzeImage(image, { format: o.format, pageMap: o.pageMap, report: o.report, sample: o.sample, compress: o.compress });
      if (o.json) printJson(r);
      else printText(r);
    });
}
