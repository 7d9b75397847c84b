/**
 * The readers on the real 32-bit guests (vm-images: Debian 12 i386 under TCG, qemu-system-i386):
 * mig-i386 (686 kernel, non-PAE paging, i440fx, SeaBIOS as pflash → an ELF32 dump) and mig-i386-pae
 * (686-pae kernel, PAE paging, q35, default BIOS ROM → an ELF64 dump with e_machine EM_386).
 * save1.img and dump.elf hold the same paused state.
 */
import test from 'ava';
import * as fs from 'node:fs';
import { openImage } from '../../src/image/probe.js';
import { EM_386 } from '../../src/image/elf-dump.js';
import type { ElfHeaderInfo } from '../../src/image/elf-dump.js';
import { imageInfo } from '../../src/cli/commands/info.js';
import { mig } from '../helpers/cli.js';
import { loadGuest } from '../helpers/corpus.js';
import { comparePages, isLegacyHole, rebuildDigest, sha256File, verifySlots } from '../helpers/compare.js';

const CR0_PG = 1n << 31n;
const CR4_PAE = 1n << 5n;

const GUESTS = {
  'mig-i386': { elfClass: 32, pae: false, machine: /^pc-i440fx-/, firmware: 'seabios-pflash', paging: 'x86 non-PAE', flavour: '686' },
  'mig-i386-pae': { elfClass: 64, pae: true, machine: /^pc-q35-/, firmware: 'seabios-rom', paging: 'x86 PAE', flavour: '686-pae' },
} as const;

for (const [name, want] of Object.entries(GUESTS) as [keyof typeof GUESTS, (typeof GUESTS)[keyof typeof GUESTS]][]) {
  const guest = loadGuest(name);
  const m = guest.manifest;
  const ramBytes = m.memMiB * 1024 * 1024;

  test(`${name}: manifest describes a 32-bit guest that saw its CPU's PAE and NX`, (t) => {
    t.is(m.arch, 'i686');
    t.is(m.kernelFlavour, want.flavour);
    t.regex(m.kernelRelease, new RegExp(`-${want.flavour}$`));
    t.is(m.expectedPaging, want.paging);
    t.is(m.firmware, want.firmware);
    t.regex(m.machine, want.machine);
    t.is(m.accel, 'tcg');
    t.is(m.dumpElfClass, want.elfClass);
    t.is(m.dumpElfMachine, 'EM_386');
    t.deepEqual(m.guestCpu, { machine: 'i686', pae: 1, nx: 1, lm: 0 });
    t.false(m.save2Captured);
    t.is(m.files.save2, undefined);
    t.true(m.dumpHasVmcoreinfo);
  });

  test(`${name}: dump.elf is ELF${want.elfClass} with e_machine EM_386, RAM, CR3/CR4, VMCOREINFO note`, (t) => {
    const head = Buffer.alloc(20);
    const fd = fs.openSync(guest.path('dump'), 'r');
    fs.readSync(fd, head, 0, 20, 0);
    fs.closeSync(fd);
    t.is(head[4], want.elfClass === 32 ? 1 : 2, 'e_ident[EI_CLASS]');
    t.is(head.readUInt16LE(18), EM_386, 'e_machine');
    const img = openImage(guest.path('dump'));
    try {
      t.is(img.format, 'elf-dump');
      const h = (img as unknown as { header: ElfHeaderInfo }).header;
      t.is(h.bits, want.elfClass);
      t.is(h.machine, EM_386);
      // RAM is in the dump from GPA 0; with the pflash firmware nothing lies at or above 4 GiB
      // (that is what makes QEMU write ELF32), with the ROM BIOS its 256 KiB end at exactly 4 GiB.
      const runs = img.memory.runs;
      const end = runs[runs.length - 1].gpa + runs[runs.length - 1].length;
      if (want.elfClass === 32) t.true(end <= ramBytes, `highest GPA 0x${end.toString(16)}`);
      else t.is(end, 2 ** 32);
      t.true(img.ramBytes >= ramBytes);
    } finally {
      img.close();
    }
    const r = imageInfo(guest.path('dump'));
    t.deepEqual({ present: r.vmcoreinfo.present, source: r.vmcoreinfo.source, osRelease: r.vmcoreinfo.osRelease },
      { present: true, source: 'elf-note', osRelease: m.kernelRelease });
    t.is(r.cpus.length, 1);
    const c = r.cpus[0];
    t.truthy(c.cr3);
    t.not(c.cr3, '0x0');
    t.true((BigInt(c.cr0!) & CR0_PG) !== 0n, `CR0 ${c.cr0}: paging on`);
    t.is((BigInt(c.cr4!) & CR4_PAE) !== 0n, want.pae, `CR4 ${c.cr4}: PAE ${want.pae ? 'set' : 'clear'}`);
    t.log(`${name} dump: CR0 ${c.cr0} CR3 ${c.cr3} CR4 ${c.cr4} EIP ${c.rip}`);
  });

  test(`${name}: save1.img: RAM as in the manifest, 4-byte vCPU fields read, same registers as the dump, VMCOREINFO by scan`, (t) => {
    const r = imageInfo(guest.path('save1'));
    const d = imageInfo(guest.path('dump'));
    t.is(r.format, 'libvirt-save');
    t.is(r.ramBytes, ramBytes);
    t.is(r.pages.total, ramBytes / 4096);
    t.is(r.machine, m.machine);
    t.is(r.libvirt?.domain, m.name);
    t.deepEqual({ present: r.vmcoreinfo.present, osRelease: r.vmcoreinfo.osRelease }, { present: true, osRelease: m.kernelRelease });
    t.is(r.cpus.length, 1);
    const c = r.cpus[0];
    for (const k of ['cr0', 'cr3', 'cr4', 'rip'] as const) t.is(c[k], d.cpus[0][k], `${k}: both captures are of the same paused vCPU`);
    const cr3 = BigInt(c.cr3!);
    t.true(cr3 > 0n && cr3 < 2n ** 32n, `CR3 ${c.cr3} is a 32-bit value`);
    if (want.pae) t.is(cr3 & 0x1fn, 0n, 'PAE CR3: the PDPT is 32-byte aligned');
    else t.is(cr3 & 0xfffn, 0n, 'non-PAE CR3: the page directory is page aligned');
    t.is((BigInt(c.cr4!) & CR4_PAE) !== 0n, want.pae);
    t.log(`${name} save1: CR0 ${c.cr0} CR3 ${c.cr3} CR4 ${c.cr4} EIP ${c.rip}`);
  });

  test(`${name}: the dump and the save image hold the same page contents`, (t) => {
    const save = openImage(guest.path('save1'));
    const elf = openImage(guest.path('dump'));
    try {
      const a = comparePages(save.memory, elf.memory, isLegacyHole);
      t.true(a.compared >= 0.99 * (ramBytes / 4096), `compared ${a.compared} pages`);
      t.is(a.equal, a.compared, `differing PFNs: ${a.differing.map((p) => '0x' + p.toString(16)).join(' ')}`);
    } finally {
      save.close();
      elf.close();
    }
  });

  for (const f of ['save1', 'dump'] as const) {
    test(`${name}: rebuild from parts reproduces ${f} byte for byte`, (t) => {
      const file = guest.path(f);
      const img = openImage(file);
      try {
        const d = rebuildDigest(img);
        t.is(d.bytes, fs.statSync(file).size);
        t.is(d.sha256, sha256File(file));
        const v = verifySlots(img);
        t.deepEqual(v.problems, []);
      } finally {
        img.close();
      }
    });
  }

  test(`${name}: mig info --json on both captures shows the control registers`, (t) => {
    for (const f of ['save1', 'dump'] as const) {
      const r = mig('info', '--json', guest.path(f));
      t.is(r.status, 0, r.stderr);
      const j = JSON.parse(r.stdout) as { cpus: { cr3?: string; cr4?: string }[]; vmcoreinfo: { osRelease?: string } };
      t.is(j.cpus.length, 1, f);
      t.regex(j.cpus[0].cr3 ?? '', /^0x[0-9a-f]+$/);
      t.is(j.vmcoreinfo.osRelease, m.kernelRelease);
    }
  });

  test(`${name}: kpageflags covers RAM; the pagemap sample is of present pages inside RAM`, (t) => {
    t.is(fs.statSync(guest.path('kpageflags')).size, m.kpageflags.bytes);
    t.true(m.kpageflags.pfns >= ramBytes / 4096 - 1024 && m.kpageflags.pfns <= ramBytes / 4096 + 1024, `${m.kpageflags.pfns} PFNs`);
    const pm = JSON.parse(fs.readFileSync(guest.path('pagemap'), 'utf8')) as {
      kernelRelease: string; perProcess: number; processes: { pid: number; comm?: string; sampled?: number }[];
      records: { pid: number; comm: string; va: number; pfn: number; mapping: string }[];
    };
    t.is(pm.kernelRelease, m.kernelRelease);
    t.is(pm.records.length, m.pagemap?.records ?? -1);
    const comms = new Set(pm.records.map((r) => r.comm));
    for (const c of ['python3', 'sleep', 'vmstat']) t.true(comms.has(c), `${c} sampled (${[...comms].join(', ')})`);
    t.true(pm.records.some((r) => r.pid === 1), 'PID 1 sampled');
    for (const r of pm.records) {
      t.true(r.va < 0xc0000000, `user VA 0x${r.va.toString(16)}`);
      if (!(r.pfn > 0 && r.pfn < m.kpageflags.pfns)) t.fail(`pid ${r.pid} va 0x${r.va.toString(16)}: PFN 0x${r.pfn.toString(16)} outside RAM`);
    }
  });
}
