/**
 * Benchmark (not a test): guest introspection. For each image of the given vm-images guests, the
 * page map's build time next to the time of one batched read of the image's memory (same process,
 * same open image, median of N runs), and its agreement with the guest's /proc/kpageflags per class.
 * Usage: node dist/bench/introspect.js <guest-cache-dir>... [--runs N]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openImage } from '../src/image/probe.js';
import { ACCURACY_CLASSES, compareWithKpageflags } from '../test/helpers/accuracy.js';
import { pageMapVsRead } from './timing.js';

const args = process.argv.slice(2);
const ri = args.indexOf('--runs');
const runs = ri >= 0 ? Number(args.splice(ri, 2)[1]) : 5;
const dirs = args.filter((d) => fs.existsSync(path.join(d, 'manifest.json')));
if (!dirs.length) {
  console.error('usage: introspect.js <guest-cache-dir>... [--runs N]  (e.g. /var/cache/mig/vm-images/mig-large)');
  process.exit(2);
}

interface Row { guest: string; image: string; openS: number; pageMapS: number; readS: number; overall: number; classes: Record<string, number> }
const rows: Row[] = [];
for (const dir of dirs) {
  const kpf = fs.readFileSync(path.join(dir, 'kpageflags.bin'));
  for (const name of ['save1.img', 'dump.elf']) {
    const file = path.join(dir, name);
    if (!fs.existsSync(file)) continue;
    const t0 = performance.now();
    const img = openImage(file);
    const openS = (performance.now() - t0) / 1000;
    try {
      const { built, pageMapS, readS } = pageMapVsRead(img, runs);
      const acc = compareWithKpageflags(built.map, kpf);
      rows.push({
        guest: path.basename(dir), image: name, openS: Number(openS.toFixed(3)), pageMapS: Number(pageMapS.toFixed(3)), readS: Number(readS.toFixed(3)),
        overall: Number(acc.overall.toFixed(4)), classes: Object.fromEntries(ACCURACY_CLASSES.map((c) => [c, Number(acc.classes[c].recall.toFixed(4))])),
      });
    } finally {
      img.close();
    }
  }
}

console.log(`\nGuest introspection: page-map build vs one read of the image's memory (median of ${runs}, warm page cache), and agreement with kpageflags\n`);
console.log(`| guest | image | open s | page map s | read memory s | map/read | overall | ${ACCURACY_CLASSES.join(' | ')} |`);
console.log(`|---|---|---|---|---|---|---|${ACCURACY_CLASSES.map(() => '---').join('|')}|`);
for (const r of rows) {
  console.log(`| ${r.guest} | ${r.image} | ${r.openS} | ${r.pageMapS} | ${r.readS} | ${(r.pageMapS / r.readS).toFixed(2)} | ${r.overall} | ${ACCURACY_CLASSES.map((c) => r.classes[c]).join(' | ')} |`);
}
const outDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/results');
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, 'introspect.json'), JSON.stringify({ runs, rows, date: new Date().toISOString() }, null, 2));
