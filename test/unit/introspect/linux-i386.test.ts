/**
 * Linux i386 on synthetic memory (test/helpers/linux-i386-fixture.ts): the kernel page table found
 * through PAGE_OFFSET in both paging modes, FLATMEM struct pages with 4-byte pointers, and the
 * entry's result shape. The real 686 and 686-pae guests are checked in test/integration.
 */
import test from 'ava';
import { introspect } from '../../../src/introspect/index.js';
import { LinuxKernel } from '../../../src/introspect/linux/kernel.js';
import { classifyStructPages } from '../../../src/introspect/linux/struct-page.js';
import { parseVmcoreinfo } from '../../../src/introspect/linux/vmcoreinfo.js';
import { PageType } from '../../../src/introspect/pagemap.js';
import { IntrospectionError } from '../../../src/util/errors.js';
import { linuxI386Fixture } from '../../helpers/linux-i386-fixture.js';

const PG = { lru: 1 << 4, slab: 1 << 9, reserved: 1 << 12, swapbacked: 1 << 19, hwpoison: 1 << 23 };

for (const pae of [false, true]) {
  const name = pae ? 'PAE' : 'non-PAE';
  test(`${name}: swapper_pg_dir found through PAGE_OFFSET, 4-byte pointers`, (t) => {
    const fx = linuxI386Fixture({ pae, ramPages: 4096 });
    const k = new LinuxKernel(fx.mem, parseVmcoreinfo(fx.vmcoreinfo));
    t.is(k.arch, 'i386');
    t.is(k.ptrSize, 4);
    t.is(k.mode.name, pae ? 'x86 PAE' : 'x86 non-PAE');
    t.is(k.pageOffset, 0xc0000000);
    t.is(k.rootPa, fx.rootPa);
    t.is(k.vtop(BigInt(fx.pageVa(5))), fx.pageVa(5) - 0xc0000000);
    t.is(k.readPtr(0xc0300000n, 'mem_map'), BigInt(fx.pageVa(0)));
  });

  test(`${name}: FLATMEM struct pages typed (buddy orders, compound tails, flags, mapping)`, (t) => {
    const fx = linuxI386Fixture({ pae, ramPages: 4096 });
    fx.setPage(0, { flags: PG.reserved });
    fx.setPage(8, { mapcount: ~0x80, priv: 3, refcount: 0 }); // buddy, order 3: PFNs 8..15
    fx.setPage(16, { mapcount: ~0x200 }); // page table
    fx.setPage(18, { flags: PG.slab });
    fx.setPage(19, { compoundHead: fx.pageVa(18) + 1 }); // slab tail, 32-bit head pointer
    fx.setPage(20, { flags: PG.lru, mapping: 0xc1234561 }); // anon
    fx.setPage(21, { flags: PG.lru, mapping: 0xc1234000 }); // file
    fx.setPage(22, { flags: PG.lru | PG.swapbacked, mapping: 0xc1235000 }); // shmem
    fx.setPage(23, { mapcount: ~0x80, priv: 0xffffffff }); // buddy with an absurd order: only itself
    fx.setPage(3000, { flags: PG.hwpoison }); // far in the array: its own chunk boundary is crossed
    const k = new LinuxKernel(fx.mem, parseVmcoreinfo(fx.vmcoreinfo));
    const { map, stats } = classifyStructPages(k, fx.mem, 4096);
    const expect: [number, PageType][] = [[0, 'kernel'], [16, 'pagetable'], [18, 'slab'], [19, 'slab'], [20, 'anon'], [21, 'cache'], [22, 'shmem'], [23, 'free'], [24, 'other'], [3000, 'hwpoison']];
    for (let p = 8; p < 16; p++) t.is(map.type(p), 'free', `pfn ${p}`);
    for (const [p, ty] of expect) t.is(map.type(p), ty, `pfn ${p}`);
    t.is(stats.memoryModel, 'flatmem');
    t.is(stats.vmemmapBase, BigInt(fx.pageVa(0)));
    t.is(stats.structPages, 4096);
    t.is(stats.unreadable, 0);
  });
}

test('FLATMEM: PFNs past node_spanned_pages have no struct page (hole)', (t) => {
  const fx = linuxI386Fixture({ pae: true, ramPages: 4096, spanned: 3000 });
  const k = new LinuxKernel(fx.mem, parseVmcoreinfo(fx.vmcoreinfo));
  const { map, stats } = classifyStructPages(k, fx.mem, 4096);
  t.is(map.type(2999), 'other');
  t.is(map.type(3000), 'hole');
  t.is(stats.structPages, 3000);
});

test('another VMSPLIT: PAGE_OFFSET 0x80000000 is found by the self-mapping check', (t) => {
  const fx = linuxI386Fixture({ pae: false, ramPages: 4096, pageOffset: 0x80000000 });
  const k = new LinuxKernel(fx.mem, parseVmcoreinfo(fx.vmcoreinfo));
  t.is(k.pageOffset, 0x80000000);
  t.is(k.rootPa, fx.rootPa);
});

test('a swapper_pg_dir no PAGE_OFFSET maps to itself is refused, naming what was tried', (t) => {
  const fx = linuxI386Fixture({ pae: true, ramPages: 4096 });
  // VMCOREINFO of another boot: the root symbol points at a page that is no page table.
  const v = fx.vmcoreinfo.replace(/^SYMBOL\(swapper_pg_dir\)=.*$/m, 'SYMBOL(swapper_pg_dir)=c0500000');
  const e = t.throws(() => new LinuxKernel(fx.mem, parseVmcoreinfo(v)), { instanceOf: IntrospectionError });
  t.is(e!.code, 'INTROSPECT_INCONSISTENT');
  t.regex(e!.message, /no PAGE_OFFSET makes the x86 PAE kernel page table map swapper_pg_dir \(0xc0500000\) to itself; tried 0xc0000000/);
});

test('a wrong paging mode (PAE kernel read as non-PAE) is refused, not walked into garbage', (t) => {
  const fx = linuxI386Fixture({ pae: true, ramPages: 4096 });
  const e = t.throws(() => new LinuxKernel(fx.mem, parseVmcoreinfo(fx.vmcoreinfo.replace('CONFIG_X86_PAE=y\n', ''))), { instanceOf: IntrospectionError });
  t.regex(e!.message, /x86 non-PAE kernel page table/);
});

test('introspect(): one result shape for i386 (os, arch, paging mode and root, source)', (t) => {
  const fx = linuxI386Fixture({ pae: true, ramPages: 4096 });
  const r = introspect({ memory: fx.mem, vmcoreinfo: fx.vmcoreinfo, cpus: [{ index: 0, cr0: 0x80050033n, cr3: 0x123da60n, cr4: 0x6b0n }] });
  t.is(r.os, 'linux');
  t.is(r.arch, 'i386');
  t.deepEqual(r.paging, { mode: 'x86 PAE', rootPa: fx.rootPa, rootSource: 'vmcoreinfo' });
  t.deepEqual(r.cpuPaging, { mode: 'x86 PAE', cr3: '0x123da60', cr4: '0x6b0', agrees: true });
  t.is(r.details.structPages.memoryModel, 'flatmem');
  t.false(r.warnings.some((w) => /vCPU/.test(w)));
  // A vCPU in non-PAE paging disagrees with a PAE kernel: said, not hidden.
  const bad = introspect({ memory: fx.mem, vmcoreinfo: fx.vmcoreinfo, cpus: [{ index: 0, cr0: 0x80050033n, cr3: 0x1000n, cr4: 0x690n }] });
  t.false(bad.cpuPaging!.agrees);
  t.true(bad.warnings.some((w) => /vCPU 0 runs x86 non-PAE .* describes x86 PAE/.test(w)), bad.warnings.join('; '));
});
