import test from 'ava';
import { below4g, mapMainRam } from '../../../src/image/ram-layout.js';

const GiB = 2 ** 30;

const cases: [string, string | undefined, number, number][] = [
  ['q35 small', 'pc-q35-7.2', 1 * GiB, 1 * GiB],
  ['q35 2.5 GiB fits below 0xB0000000', 'pc-q35-7.2', 2.5 * GiB, 2.5 * GiB],
  ['q35 3 GiB splits at 2 GiB', 'pc-q35-7.2', 3 * GiB, 0x80000000],
  ['i440fx 3 GiB fits below 0xE0000000', 'pc-i440fx-7.2', 3 * GiB, 3 * GiB],
  ['i440fx 3.5 GiB splits at 3 GiB (gigabyte_align)', 'pc-i440fx-7.2', 3.5 * GiB, 0xc0000000],
  ['pc-1.7 keeps 0xE0000000', 'pc-1.7', 3.5 * GiB, 0xe0000000],
  ['unknown machine defaults to i440fx', undefined, 8 * GiB, 0xc0000000],
];
for (const [name, machine, ram, want] of cases) {
  test(`below4g: ${name}`, (t) => t.is(below4g(machine, ram), want));
}

test('high RAM continues at 4 GiB', (t) => {
  const m = mapMainRam('pc-q35-7.2', [{ idstr: 'pc.ram', length: 3 * GiB }]);
  t.deepEqual(m, [[{ offset: 0, gpa: 0, length: 2 * GiB }, { offset: 2 * GiB, gpa: 4 * GiB, length: 1 * GiB }]]);
});

test('NUMA nodes split across the 4 GiB boundary', (t) => {
  const m = mapMainRam('pc-q35-7.2', [{ idstr: 'ram-node1', length: 2 * GiB }, { idstr: 'ram-node0', length: 1.5 * GiB }]);
  t.deepEqual(m[1], [{ offset: 0, gpa: 0, length: 1.5 * GiB }]);
  t.deepEqual(m[0], [{ offset: 0, gpa: 1.5 * GiB, length: 0.5 * GiB }, { offset: 0.5 * GiB, gpa: 4 * GiB, length: 1.5 * GiB }]);
});
