import test from 'ava';
import { introspect } from '../../../src/introspect/index.js';
import { LinuxKernel } from '../../../src/introspect/linux/kernel.js';
import { classifyStructPages } from '../../../src/introspect/linux/struct-page.js';
import { parseVmcoreinfo } from '../../../src/introspect/linux/vmcoreinfo.js';
import { PageType } from '../../../src/introspect/pagemap.js';
import { IntrospectionError } from '../../../src/util/errors.js';
import { FakeMemory } from '../../helpers/fake-memory.js';
import { linuxFixture, PAGES_PER_SECTION } from '../../helpers/linux-fixture.js';

const PG = { lru: 1 << 4, slab: 1 << 9, reserved: 1 << 12, head: 1 << 16, swapbacked: 1 << 19, hwpoison: 1 << 23 };

function classify(fx: ReturnType<typeof linuxFixture>, pfns: number, v = fx.vmcoreinfo) {
  const k = new LinuxKernel(fx.mem, parseVmcoreinfo(v));
  return classifyStructPages(k, fx.mem, pfns);
}

test('struct page decisions: buddy blocks by order, page types, flags, mapping, compound tails, holes', (t) => {
  // Sections 0, 1 and 3 have struct pages; section 2 is a hole.
  const fx = linuxFixture(4 * PAGES_PER_SECTION, [0, 1, 3]);
  fx.setPage(0, { flags: PG.reserved });
  fx.setPage(8, { mapcount: ~0x80, priv: 3, refcount: 0 }); // buddy order 3: PFNs 8..15
  for (let p = 9; p < 16; p++) fx.setPage(p, { refcount: 0 }); // buddy tails carry nothing
  fx.setPage(16, { mapcount: ~0x200 }); // PG_table
  fx.setPage(17, { mapcount: ~0x100 }); // offline (balloon)
  fx.setPage(18, { flags: PG.slab | PG.head });
  fx.setPage(19, { compoundHead: fx.pageVa(18) + 1n }); // slab tail
  fx.setPage(20, { flags: PG.lru | PG.swapbacked | PG.head, mapping: 0xffff888001234561n }); // anon THP head
  fx.setPage(21, { compoundHead: fx.pageVa(20) + 1n });
  fx.setPage(22, { flags: PG.lru, mapping: 0xffff888001234000n }); // file page
  fx.setPage(23, { flags: PG.lru | PG.swapbacked, mapping: 0xffff888001235000n }); // shmem
  fx.setPage(24, { flags: PG.hwpoison });
  fx.setPage(25, { mapping: 0xffff888001234563n }); // KSM: anon bit set
  fx.setPage(26, { mapcount: ~0x80, priv: 0 }); // order-0 buddy
  fx.setPage(64, { mapcount: ~0x80, priv: 6 }); // order 6: the whole second section
  const { map, stats } = classify(fx, 4 * PAGES_PER_SECTION);
  const at = (p: number) => map.type(p);
  t.is(at(0), 'kernel');
  for (let p = 8; p < 16; p++) t.is(at(p), 'free', `pfn ${p}`);
  const expect: [number, PageType][] = [[16, 'pagetable'], [17, 'offline'], [18, 'slab'], [19, 'slab'], [20, 'anon'], [21, 'anon'], [22, 'cache'], [23, 'shmem'], [24, 'hwpoison'], [25, 'anon'], [26, 'free'], [27, 'other']];
  for (const [p, ty] of expect) t.is(at(p), ty, `pfn ${p}`);
  for (let p = 64; p < 128; p++) t.is(at(p), 'free', `pfn ${p}`);
  for (let p = 128; p < 192; p++) t.is(at(p), 'hole', `pfn ${p}: section without struct pages`);
  t.is(at(192), 'other');
  t.is(stats.presentSections, 3);
  t.is(stats.vmemmapBase, 0xffffea0000000000n);
});

test('an order beyond the zone free-area length is not trusted to cover a block', (t) => {
  const fx = linuxFixture(PAGES_PER_SECTION, [0]);
  fx.setPage(0, { mapcount: ~0x80, priv: 40 });
  const { map } = classify(fx, PAGES_PER_SECTION);
  t.is(map.type(0), 'free');
  t.is(map.type(1), 'other');
});

test('a tail whose head pointer leads outside the array keeps its own type', (t) => {
  const fx = linuxFixture(PAGES_PER_SECTION, [0]);
  fx.setPage(5, { compoundHead: 0xdead0001n, flags: PG.slab });
  t.is(classify(fx, PAGES_PER_SECTION).map.type(5), 'slab');
});

test('page-type scheme not understood is reported, not guessed', (t) => {
  const fx = linuxFixture(PAGES_PER_SECTION, [0]);
  const v = fx.vmcoreinfo.replace('NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129', 'NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-268435456');
  const e = t.throws(() => classify(fx, PAGES_PER_SECTION, v), { instanceOf: IntrospectionError });
  t.is(e!.code, 'INTROSPECT_UNSUPPORTED');
  t.regex(e!.message, /page-type scheme not understood/);
});

test('missing VMCOREINFO keys are named', (t) => {
  const fx = linuxFixture(PAGES_PER_SECTION, [0]);
  const e = t.throws(() => classify(fx, PAGES_PER_SECTION, fx.vmcoreinfo.replace(/^SIZE\(page\)=.*$/m, '')), { instanceOf: IntrospectionError });
  t.is(e!.code, 'INTROSPECT_MISSING');
  t.regex(e!.message, /SIZE\(page\)/);
});

test('introspect finds VMCOREINFO by scanning, and says so when there is none', (t) => {
  const fx = linuxFixture(PAGES_PER_SECTION, [0]);
  const v = Buffer.alloc(4096);
  v.write(fx.vmcoreinfo);
  fx.mem.write(40 * 4096, v); // the vmcoreinfo_data page, somewhere in RAM
  fx.setPage(40, { flags: 0 });
  const r = introspect({ memory: fx.mem });
  t.is(r.details.vmcoreinfoSource, 'memory-scan');
  t.is(r.details.vmcoreinfoGpa, 40 * 4096);
  t.is(r.osRelease, '6.1.0-test');
  t.is(r.map.type(1), 'zero', 'untyped all-zero pages become zero');
  t.is(r.map.type(40), 'other', 'the VMCOREINFO page itself is not zero');
  t.true(r.warnings.some((w) => /kallsyms/.test(w)), 'no kallsyms in the fixture: a warning, not a failure');

  const blank = new FakeMemory().addRange(0, 64);
  const e = t.throws(() => introspect({ memory: blank }), { instanceOf: IntrospectionError });
  t.is(e!.code, 'INTROSPECT_NO_VMCOREINFO');
  t.regex(e!.message, /no VMCOREINFO found.*not a Linux guest/);
});

test('VMCOREINFO without a page-table root is not a supported guest', (t) => {
  const fx = linuxFixture(PAGES_PER_SECTION, [0]);
  const v = fx.vmcoreinfo.replace(/^SYMBOL\((init_top_pgt|swapper_pg_dir)\)=.*$/gm, '');
  const e = t.throws(() => new LinuxKernel(fx.mem, parseVmcoreinfo(v)), { instanceOf: IntrospectionError });
  t.regex(e!.message, /not an x86 Linux kernel/);
});
