/**
 * A real OpenSSH sshd for tests, on 127.0.0.1 and a free port, with a temporary host key, a client
 * key and a known_hosts file naming the host key. Stop it with stop() (t.teardown).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { tmpPath } from './tmp.js';

export interface TestSshd {
  port: number;
  dir: string;
  identity: string;
  knownHosts: string;
  /** known_hosts naming another key for the same host (for the mismatch test). */
  wrongKnownHosts: string;
  proc: ChildProcess;
  /** Kill every session (the per-connection sshd processes), leaving the listener up: "the link dies". */
  killSessions(): void;
  /** Stop the listener and every session, then start sshd again on the same port with the same keys ("sshd restarted"). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

function keygen(file: string): string {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file]);
  return fs.readFileSync(`${file}.pub`, 'utf8').trim();
}

function children(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export async function startSshd(): Promise<TestSshd> {
  const dir = tmpPath('sshd');
  fs.mkdirSync(dir, { mode: 0o700 });
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKey = path.join(dir, 'host_ed25519');
  const hostPub = keygen(hostKey);
  const otherPub = keygen(path.join(dir, 'other_host_ed25519'));
  const identity = path.join(dir, 'id_ed25519');
  fs.writeFileSync(path.join(dir, 'authorized_keys'), keygen(identity) + '\n', { mode: 0o600 });
  const port = await freePort();
  const [t, k] = hostPub.split(/\s+/);
  const knownHosts = path.join(dir, 'known_hosts');
  fs.writeFileSync(knownHosts, `[127.0.0.1]:${port} ${t} ${k}\n`);
  const [ot, ok] = otherPub.split(/\s+/);
  const wrongKnownHosts = path.join(dir, 'known_hosts.wrong');
  fs.writeFileSync(wrongKnownHosts, `[127.0.0.1]:${port} ${ot} ${ok}\n`);
  const cfg = path.join(dir, 'sshd_config');
  fs.writeFileSync(cfg, [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${hostKey}`, `PidFile ${path.join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`, 'PermitRootLogin prohibit-password', 'PasswordAuthentication no',
    'KbdInteractiveAuthentication no', 'UsePAM no', 'StrictModes no', 'LogLevel ERROR', 'MaxSessions 20', '',
  ].join('\n'));
  let proc: ChildProcess;
  let err = '';
  // Never outlive the test process, even when it dies without running its teardown.
  const reap = () => proc.exitCode === null && proc.kill('SIGKILL');
  process.once('exit', reap);
  const launch = async () => {
    proc = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    for (let i = 0; ; i++) {
      const up = await new Promise<boolean>((r) => {
        const s = net.connect(port, '127.0.0.1', () => { s.end(); r(true); });
        s.on('error', () => r(false));
      });
      if (up) break;
      if (proc.exitCode !== null || i > 100) {
        reap();
        throw new Error(`sshd did not start: ${err}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await launch();
  function killSessions(): void {
    for (const c of children(proc.pid!)) {
      try {
        process.kill(c, 'SIGKILL');
      } catch { /* gone */ }
    }
  }
  async function stop(): Promise<void> {
    killSessions();
    if (proc.exitCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
  }
  return {
    port, dir, identity, knownHosts, wrongKnownHosts,
    get proc() {
      return proc;
    },
    killSessions,
    async restart() {
      await stop();
      await launch();
    },
    stop,
  };
}
