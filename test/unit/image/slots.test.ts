/** Page slots of ELF dumps (the stream and raw cases live with their readers' tests). */
import test from 'ava';
import { RandomAccessFile } from '../../../src/util/file.js';
import { openElfDump } from '../../../src/image/elf-dump.js';
import { buildElfCore, pages } from '../../helpers/elf-writer.js';
import { verifySlots } from '../../helpers/compare.js';
import { tmpFile } from '../../helpers/tmp.js';

test('ELF: one slot per file-backed page of every PT_LOAD, mapped to its frame', (t) => {
  const { bytes } = buildElfCore({
    loads: [
      { gpa: 0x100000, data: pages(0x100000, 3, 0x20) },
      { gpa: 0, data: pages(0, 2, 0x10), memLength: 4 * 4096 },
      { gpa: 0x100000000, data: pages(0x100000000, 1, 0x30) },
    ],
    cpus: [{ rip: 1n, cr3: 0x1000n }],
  });
  const img = openElfDump(new RandomAccessFile(tmpFile(bytes, 'dump.elf')));
  const v = verifySlots(img);
  t.deepEqual(v.problems, []);
  t.is(v.slots, 6, 'zero-filled tail pages (p_memsz > p_filesz) have no slots');
  t.deepEqual([...img.pageSlots().pfn], [0x100, 0x101, 0x102, 0, 1, 0x100000]);
  img.close();
});
