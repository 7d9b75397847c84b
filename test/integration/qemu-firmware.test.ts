/**
 * Real QEMU, no guest OS: a migration stream and an ELF dump of the same paused firmware-only VM,
 * for both PC machine types. Checks the readers on QEMU's own output and against each other.
 */
import test from 'ava';
import * as fs from 'node:fs';
import { openImage } from '../../src/image/probe.js';
import { captureFirmwareVm } from '../helpers/qemu.js';
import { comparePages, isLegacyHole, rebuildDigest, sha256File, verifySlots } from '../helpers/compare.js';

for (const machine of ['q35', 'pc'] as const) {
  test.serial(`${machine}: stream and ELF dump of the same paused VM parse, agree, and rebuild exactly`, async (t) => {
    const cap = await captureFirmwareVm(machine, 96);
    const stream = openImage(cap.stream);
    const elf = openImage(cap.elf);
    try {
      t.is(stream.format, 'qemu-stream');
      t.is(elf.format, 'elf-dump');
      t.regex(stream.machine ?? '', machine === 'q35' ? /^pc-q35-/ : /^pc-i440fx-/);
      t.is(stream.ramBytes, 96 << 20);
      t.true(stream.ramBlocks.some((b) => b.name === 'pc.bios' && !b.main));

      // The same guest page read through both readers agrees wherever both hold it.
      const agree = comparePages(stream.memory, elf.memory, isLegacyHole);
      t.true(agree.compared > 0.9 * (96 << 8), `compared ${agree.compared} pages`);
      t.is(agree.equal, agree.compared, `differing PFNs: ${agree.differing.map((p) => p.toString(16)).join(' ')}`);

      // vCPU state from the stream's device state equals the ELF notes' (same paused state).
      t.is(stream.cpus.length, 1);
      t.is(elf.cpus.length, 1);
      t.is(stream.cpus[0].cr0, elf.cpus[0].cr0);
      t.is(stream.cpus[0].cr3, elf.cpus[0].cr3);
      t.is(stream.cpus[0].cr4, elf.cpus[0].cr4);

      for (const img of [stream, elf]) {
        const v = verifySlots(img);
        t.deepEqual(v.problems, [], `${img.format} page slots`);
        t.true(v.mapped > 0);
        const d = rebuildDigest(img);
        t.is(d.bytes, fs.statSync(img.path).size);
        t.is(d.sha256, sha256File(img.path), `${img.format} rebuild is byte-identical`);
      }
    } finally {
      stream.close();
      elf.close();
    }
  });
}
