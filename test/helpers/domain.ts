/**
 * A running test domain in seconds: the small guest's save image with its domain XML rewritten (own
 * name, UUID and serial log, so tests do not collide with each other or with restore.test.ts),
 * restored by the real libvirtd. The guest is already booted; its heartbeat goes on in the serial log.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadGuest } from './corpus.js';
import { tmpPath } from './tmp.js';

export const URI = 'qemu:///system';
export const virsh = (...args: string[]) => spawnSync('virsh', ['-c', URI, ...args], { encoding: 'utf8' });
export const domstate = (name: string) => {
  const r = virsh('domstate', name);
  return r.status === 0 ? r.stdout.trim() : 'absent';
};

export interface TestDomain {
  name: string;
  serialLog: string;
  heartbeats(): number[];
  destroy(): void;
}

export interface TestDomainOptions {
  /** argv prefix to reach another libvirtd (private-libvirtd.ts: nsenter into its namespace). */
  ns?: string[];
  /** Define the domain too (managed save needs a persistent domain). */
  persistent?: boolean;
}

export function startTestDomain(prefix = 'mig-t', opts: TestDomainOptions = {}): TestDomain {
  const ns = opts.ns ?? [];
  const run = (...args: string[]) => spawnSync(ns[0] ?? 'virsh', [...ns.slice(1), ...(ns.length ? ['virsh'] : []), '-c', URI, ...args], { encoding: 'utf8' });
  const state = () => {
    const r = run('domstate', name);
    return r.status === 0 ? r.stdout.trim() : 'absent';
  };
  const guest = loadGuest('mig-small');
  const name = `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 7)}`;
  const serialLog = tmpPath(`${name}.serial.log`);
  const image = tmpPath(`${name}.save`);
  fs.copyFileSync(guest.path('save1'), image);
  let diskDir: string | undefined;
  const fd = fs.openSync(image, 'r+');
  try {
    const h = Buffer.alloc(92);
    fs.readSync(fd, h, 0, 92, 0);
    const dataLen = h.readUInt32LE(0x14);
    const cookieOffset = h.readUInt32LE(0x20);
    const data = Buffer.alloc(dataLen);
    fs.readSync(fd, data, 0, dataLen, 92);
    const cstr = (at: number) => data.subarray(at, data.indexOf(0, at)).toString('utf8');
    // Writable disks (the kpageflags disk) get a copy per domain: QEMU's image locking refuses a
    // second writer, and tests (and restore.test.ts) run domains of the same guest concurrently.
    // The copies live in their own world-readable directory: QEMU runs as libvirt-qemu and cannot
    // enter the test's private temp dir (the serial log there is written by virtlogd, as root).
    let xml = cstr(0);
    for (const m of [...xml.matchAll(/<disk [^>]*>(?:(?!<\/disk>)[\s\S])*<\/disk>/g)]) {
      const src = /<source file='([^']+)'/.exec(m[0])?.[1];
      if (!src || m[0].includes('<readonly/>')) continue;
      diskDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'mig-test-disk-'));
      fs.chmodSync(diskDir, 0o755);
      const copy = path.join(diskDir, `${name}.${src.split('/').pop()}`);
      fs.copyFileSync(src, copy);
      xml = xml.replaceAll(`'${src}'`, `'${copy}'`);
    }
    xml = xml
      .replace(/<name>[^<]*<\/name>/, `<name>${name}</name>`)
      .replace(/<uuid>[^<]*<\/uuid>/, `<uuid>${randomUUID()}</uuid>`)
      .replaceAll(guest.manifest.serialLog, serialLog);
    // XML, NUL, cookie, NUL, zero padding: the cookie moves if the XML grew (the header says where).
    const xmlBytes = Buffer.from(`${xml}\0`);
    const out = Buffer.alloc(dataLen);
    xmlBytes.copy(out);
    if (cookieOffset) {
      const cookie = Buffer.from(`${cstr(cookieOffset)}\0`);
      if (xmlBytes.length + cookie.length > dataLen) throw new Error('rewritten domain XML does not fit the save image data area');
      cookie.copy(out, xmlBytes.length);
      h.writeUInt32LE(xmlBytes.length, 0x20);
      fs.writeSync(fd, h, 0, 92, 0);
    }
    fs.writeSync(fd, out, 0, dataLen, 92);
  } finally {
    fs.closeSync(fd);
  }
  const removeDisks = () => {
    if (diskDir) fs.rmSync(diskDir, { recursive: true, force: true });
  };
  process.once('exit', removeDisks);
  try {
    const r = run('restore', image);
    if (r.status !== 0) throw new Error(`virsh restore ${image}: ${r.stderr}`);
    if (opts.persistent) {
      const xmlFile = tmpPath(`${name}.xml`);
      fs.writeFileSync(xmlFile, run('dumpxml', '--inactive', name).stdout);
      const d = run('define', xmlFile);
      if (d.status !== 0) throw new Error(`virsh define: ${d.stderr}`);
    }
  } catch (e) {
    removeDisks();
    throw e;
  } finally {
    fs.rmSync(image, { force: true });
  }
  return {
    name, serialLog,
    heartbeats: () => (fs.existsSync(serialLog) ? [...fs.readFileSync(serialLog, 'latin1').matchAll(/MIG-HEARTBEAT (\d+)/g)].map((m) => Number(m[1])) : []),
    destroy: () => {
      if (state() !== 'absent') {
        run('destroy', name);
        if (opts.persistent) run('undefine', name, '--managed-save');
      }
      removeDisks();
      process.off('exit', removeDisks);
    },
  };
}

/** Wait until the heartbeat passes `above` (twice), or time out. */
export async function heartbeatAbove(d: TestDomain, above: number, ms = 90_000): Promise<number[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const seen = d.heartbeats().filter((n) => n > above);
    if (seen.length >= 2 || Date.now() > deadline) return seen;
    await new Promise((r) => setTimeout(r, 500));
  }
}
