/** Temporary files for tests: each test file gets its own directory, removed at exit. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mig-test-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

let n = 0;
export function tmpPath(name = 'file'): string {
  return path.join(dir, `${n++}-${name}`);
}

export function tmpFile(bytes: Uint8Array, name = 'image'): string {
  const p = tmpPath(name);
  fs.writeFileSync(p, bytes);
  return p;
}
