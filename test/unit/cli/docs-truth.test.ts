/**
 * Docs that a machine can keep true: every option of every `mig` command (as commander builds them)
 * is named in README.md or docs/, and every error code the source raises is in docs/errors.md, whose
 * exit-status table agrees with exitStatusFor.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { buildProgram } from '../../../src/cli/program.js';
import { exitStatusFor } from '../../../src/cli/exit.js';
import { ImageErrorCode, IntrospectionErrorCode, MigError } from '../../../src/util/errors.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const files = (dir: string, ext: string): string[] =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name), ext) : e.name.endsWith(ext) ? [path.join(dir, e.name)] : []));
const docs = [path.join(root, 'README.md'), ...files(path.join(root, 'docs'), '.md')].map((f) => fs.readFileSync(f, 'utf8')).join('\n');
const errorsMd = fs.readFileSync(path.join(root, 'docs/errors.md'), 'utf8');

function commands(c: Command, prefix = ''): [string, Command][] {
  const name = prefix ? `${prefix} ${c.name()}` : '';
  return [...(name ? [[name, c] as [string, Command]] : []), ...c.commands.flatMap((s) => commands(s, name || ' ').map(([n, x]) => [n.trim(), x] as [string, Command]))];
}

test('every option of every command is named in README.md or docs/', (t) => {
  const missing: string[] = [];
  for (const [name, cmd] of commands(buildProgram())) {
    for (const o of cmd.options) {
      const flag = o.long ?? o.short!;
      if (!docs.includes(flag)) missing.push(`mig ${name} ${flag}`);
    }
  }
  t.deepEqual(missing, []);
});

test('every error code raised in src/ is in docs/errors.md, with the exit status exitStatusFor gives', (t) => {
  const src = files(path.join(root, 'src'), '.ts').map((f) => fs.readFileSync(f, 'utf8')).join('\n');
  const codes = new Set<string>([...Object.values(ImageErrorCode), ...Object.values(IntrospectionErrorCode)]);
  for (const m of src.matchAll(/(?:new [A-Za-z]*Error|super)\(\s*'([A-Z][A-Z0-9_]+)'/g)) codes.add(m[1]);
  for (const m of src.matchAll(/code: '([A-Z][A-Z0-9_]+)'/g)) codes.add(m[1]);
  t.true(codes.size > 30, `${codes.size} codes found`);
  const undocumented = [...codes].filter((c) => !errorsMd.includes('`' + c + '`') && !(c.startsWith('IMAGE_') && errorsMd.includes('`IMAGE_*`')));
  t.deepEqual(undocumented, []);
  // The exit table: status → the codes its row names (`IMAGE_*` standing for every IMAGE_ code).
  const rows = new Map<number, string>();
  for (const m of errorsMd.matchAll(/^\| (\d+(?:, \d+)*) \| (.*) \|$/gm)) for (const s of m[1].split(', ')) rows.set(Number(s), m[2]);
  for (const c of codes) {
    const status = exitStatusFor(new MigError(c, 'x'));
    if (status === 1) continue;
    const row = rows.get(status) ?? '';
    t.true(row.includes('`' + c + '`') || (c.startsWith('IMAGE_') && row.includes('`IMAGE_*`')), `${c} exits ${status}; the row for ${status} does not name it: ${row}`);
  }
});
