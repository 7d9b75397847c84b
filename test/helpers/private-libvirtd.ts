/**
 * A second, private libvirtd for tests that must change what libvirtd reads at start (its hook
 * scripts): the real libvirtd and virtlogd binaries in their own mount namespace, where
 * /etc/libvirt/hooks is a directory of the test's and libvirt's run, state, cache, log and
 * persistent-domain dirs are empty tmpfs, so it shares nothing with the system's libvirtd (which the
 * rest of the suite keeps using). Commands reach it through `nsenter -m`. stop() ends it and its QEMUs.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpPath } from './tmp.js';

export interface PrivateLibvirtd {
  /** A process in the namespace (for nsenter). */
  pid: number;
  /** argv prefix running a command inside the namespace. */
  prefix: string[];
  virsh(...args: string[]): SpawnSyncReturns<string>;
  /** Run any command inside the namespace. */
  run(cmd: string, ...args: string[]): SpawnSyncReturns<string>;
  /** Stop its libvirtd (SIGTERM: its domains run on) and start another in the namespace; resolves once it answers. */
  restartLibvirtd(): Promise<void>;
  stop(): Promise<void>;
}

const SCRIPT = `
set -e
dir=$1
mount --make-rprivate /
for d in /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt /etc/libvirt/qemu; do
  mkdir -p "$d"; mount -t tmpfs -o mode=0755 none "$d"
done
mount --bind "$dir/hooks" /etc/libvirt/hooks
virtlogd -p "$dir/virtlogd.pid" &
libvirtd -p "$dir/libvirtd.pid" &
trap 'kill $(jobs -p) 2>/dev/null; wait' TERM
wait
`;

export async function startPrivateLibvirtd(hooksDir: string): Promise<PrivateLibvirtd> {
  const dir = tmpPath('libvirtd');
  fs.mkdirSync(dir);
  fs.symlinkSync(path.resolve(hooksDir), path.join(dir, 'hooks'));
  const proc: ChildProcess = spawn('unshare', ['-m', 'bash', '-c', SCRIPT, 'private-libvirtd', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const reap = () => proc.exitCode === null && proc.kill('SIGTERM');
  process.once('exit', reap);
  const pid = proc.pid!;
  const prefix = ['nsenter', '-t', String(pid), '-m'];
  const run = (cmd: string, ...args: string[]) => spawnSync(prefix[0], [...prefix.slice(1), cmd, ...args], { encoding: 'utf8' });
  const virsh = (...args: string[]) => run('virsh', '-c', 'qemu:///system', ...args);
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`private libvirtd did not start: ${err}`);
    if (virsh('version').status === 0) break;
    if (i > 150) {
      reap();
      throw new Error(`private libvirtd did not answer within 30 s: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const waitUp = async (what: string) => {
    for (let i = 0; virsh('version').status !== 0; i++) {
      if (i > 150) throw new Error(`private libvirtd did not answer within 30 s (${what})`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  return {
    pid, prefix, virsh, run,
    async restartLibvirtd() {
      const pidFile = path.join(dir, 'libvirtd.pid');
      const old = Number(fs.readFileSync(pidFile, 'utf8').trim());
      process.kill(old, 'SIGTERM');
      for (let i = 0; ; i++) {
        try {
          process.kill(old, 0);
        } catch {
          break;
        }
        if (i > 300) throw new Error(`private libvirtd ${old} did not stop within 30 s`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const r = run('libvirtd', '-d', '-p', pidFile);
      if (r.status !== 0) throw new Error(`restarting the private libvirtd: ${r.stderr}`);
      await waitUp('after a restart');
    },
    async stop() {
      // Its QEMUs first (they live in the namespace), then the daemons.
      const names = virsh('list', '--name').stdout.split('\n').map((s) => s.trim()).filter(Boolean);
      for (const n of names) virsh('destroy', n);
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
      // A libvirtd started by restartLibvirtd() is not the script's job: end it by its pid file.
      try {
        process.kill(Number(fs.readFileSync(path.join(dir, 'libvirtd.pid'), 'utf8').trim()), 'SIGTERM');
      } catch { /* already gone */ }
      process.off('exit', reap);
    },
  };
}
