/**
 * `mig info <image> [--json]`: what an image holds — format, RAM blocks and their guest-physical
 * placement, page counts, vCPU control registers, VMCOREINFO and the guest kernel release.
 * Reads the image once: zero pages and VMCOREINFO are found during the reader's own pass where it
 * looks at every page anyway (streams), else in one batched pass over memory. VMCOREINFO and the
 * paging mode come from introspection's `describeGuest`, which finds VMCOREINFO as `mig analyze`
 * does (ELF note, vmcoreinfo device note, then the page this pass saw).
 */
import { Command } from 'commander';
import { isZeroPage, PAGE_SIZE } from '../../mem/physical-memory.js';
import { openImage } from '../../image/probe.js';
import type { ImageFormat } from '../../image/types.js';
import { describeGuest, vmcoreinfoInPage, type GuestSummary, type VmcoreinfoSource } from '../../introspect/index.js';
import { hex, mib, printJson, table } from '../output.js';

export interface InfoResult {
  file: string;
  format: ImageFormat;
  fileSize: number;
  machine?: string;
  ramBytes: number;
  ramBlocks: { name: string; length: number; main: boolean; map: { offset: number; gpa: string; length: number }[] }[];
  pages: { total: number; zero: number; nonZero: number };
  cpus: { index: number; cr0?: string; cr3?: string; cr4?: string; rip?: string }[];
  /** Found as introspection finds it: the dump's ELF note, the vmcoreinfo device's note, else guest memory. */
  vmcoreinfo: { present: boolean; source?: VmcoreinfoSource; osRelease?: string; pageSize?: number };
  /**
   * The paging mode ('x86-64 4-level', 'x86 PAE', 'x86 non-PAE', …) and where it came from: vCPU 0's
   * control registers in the container ('container-cpu', with the root from its CR3; without EFER,
   * CR4.PAE is told apart from long mode by VMCOREINFO when present), else VMCOREINFO alone.
   */
  paging?: { mode: string; source: 'container-cpu' | 'vmcoreinfo'; root?: string };
  libvirt?: { version: number; byteSwapped: boolean; wasRunning: boolean; domain?: string; xmlBytes: number; cookieBytes: number };
  elapsedMs: number;
}

export function imageInfo(path: string, opts: { format?: ImageFormat } = {}): InfoResult {
  const t0 = performance.now();
  let seen: { text: string; gpa?: number } | undefined;
  const img = openImage(path, {
    format: opts.format,
    observe: (_b, _p, buf, off) => {
      if (seen !== undefined) return;
      const text = vmcoreinfoInPage(buf, off);
      if (text !== undefined) seen = { text };
    },
  });
  try {
    const mem = img.memory;
    const total = mem.size / PAGE_SIZE;
    let zero = mem.knownZeroPages?.();
    // VMCOREINFO the way introspection finds it (ELF note, vmcoreinfo device note, a page seen), no scan yet.
    let guest: GuestSummary = describeGuest(img, { seen, scan: false });
    // Stream readers already showed every data page to the observer; others need one pass.
    const observedAll = img.format === 'libvirt-save' || img.format === 'qemu-stream';
    const wantScan = guest.vmcoreinfo === undefined && !observedAll;
    if (zero === undefined || wantScan) {
      let z = 0;
      mem.forEachPageBatch((pfn, count, bytes) => {
        for (let i = 0; i < count; i++) {
          const off = i * PAGE_SIZE;
          if (isZeroPage(bytes, off)) z++;
          else if (wantScan && seen === undefined) {
            const text = vmcoreinfoInPage(bytes, off);
            if (text !== undefined) seen = { text, gpa: (pfn + i) * PAGE_SIZE };
          }
        }
      }, 2048, (_pfn, count) => {
        z += count; // known zero (an ELF zero-fill tail): counted, not read
      });
      zero ??= z;
      if (wantScan && seen !== undefined) guest = describeGuest(img, { seen, scan: false });
    }
    const v = guest.vmcoreinfo;
    const paging: InfoResult['paging'] = guest.paging && { mode: guest.paging.mode, source: guest.paging.source, root: hex(guest.paging.root) };
    const parts = (img as { parts?: { header?: { version: number; byteSwapped: boolean; wasRunning: boolean }; xml?: string; data?: Buffer; cookie?: string } }).parts;
    return {
      file: path,
      format: img.format,
      fileSize: img.fileSize,
      machine: img.machine,
      ramBytes: img.ramBytes,
      ramBlocks: img.ramBlocks.map((b) => ({ name: b.name, length: b.length, main: b.main, map: b.map.map((m) => ({ offset: m.offset, gpa: hex(m.gpa), length: m.length })) })),
      pages: { total, zero, nonZero: total - zero },
      cpus: img.cpus.map((c) => ({ index: c.index, cr0: hex(c.cr0), cr3: hex(c.cr3), cr4: hex(c.cr4), rip: hex(c.rip) })),
      paging,
      vmcoreinfo: v ? { present: true, source: v.source, osRelease: v.osRelease, pageSize: v.pageSize } : { present: false },
      libvirt: parts?.header && parts.xml !== undefined
        ? {
            version: parts.header.version,
            byteSwapped: parts.header.byteSwapped,
            wasRunning: parts.header.wasRunning,
            domain: /<name>([^<]*)<\/name>/.exec(parts.xml)?.[1],
            xmlBytes: Buffer.byteLength(parts.xml),
            cookieBytes: Buffer.byteLength(parts.cookie ?? ''),
          }
        : undefined,
      elapsedMs: Math.round(performance.now() - t0),
    };
  } finally {
    img.close();
  }
}

function printText(r: InfoResult): void {
  const lines: [string, string][] = [
    ['file', r.file],
    ['format', r.format],
    ['file size', `${r.fileSize} bytes (${mib(r.fileSize)})`],
  ];
  if (r.machine) lines.push(['machine', r.machine]);
  if (r.libvirt) lines.push(['libvirt', `save v${r.libvirt.version}${r.libvirt.byteSwapped ? ' (byte-swapped)' : ''}, domain ${r.libvirt.domain ?? '?'}, was running: ${r.libvirt.wasRunning ? 'yes' : 'no'}`]);
  lines.push(['RAM', `${r.ramBytes} bytes (${mib(r.ramBytes)})`]);
  lines.push(['pages', `${r.pages.total} total, ${r.pages.zero} zero, ${r.pages.nonZero} non-zero`]);
  if (r.paging) lines.push(['paging', `${r.paging.mode} (from ${r.paging.source === 'container-cpu' ? 'vCPU control registers' : 'VMCOREINFO'})${r.paging.root ? `, root ${r.paging.root}` : ''}`]);
  lines.push(['VMCOREINFO', r.vmcoreinfo.present ? `yes (${r.vmcoreinfo.source}), OS release ${r.vmcoreinfo.osRelease ?? '?'}` : 'not found']);
  for (const [k, v] of lines) process.stdout.write(`${k.padEnd(12)}${v}\n`);
  process.stdout.write('\n');
  table(['RAM block', 'bytes', 'main', 'guest-physical'], r.ramBlocks.map((b) => [b.name, String(b.length), b.main ? 'yes' : '', b.map.map((m) => `${m.gpa}+${hex(m.length)}`).join(' ')]));
  if (r.cpus.length) {
    process.stdout.write('\n');
    table(['cpu', 'cr0', 'cr3', 'cr4', 'rip'], r.cpus.map((c) => [String(c.index), c.cr0 ?? '', c.cr3 ?? '', c.cr4 ?? '', c.rip ?? '']));
  }
}

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('describe a memory image: format, RAM blocks, page counts, CPU registers, paging mode, VMCOREINFO')
    .argument('<image>', 'libvirt save image, QEMU migration stream, QEMU ELF dump, or raw memory file')
    .option('--format <format>', 'skip detection: libvirt-save | qemu-stream | elf-dump | raw')
    .option('--json', 'print a JSON object instead of text')
    .action((image: string, o: { format?: ImageFormat; json?: boolean }) => {
      const r = imageInfo(image, { format: o.format });
      if (o.json) printJson(r);
      else printText(r);
    });
}
