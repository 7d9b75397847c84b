/**
 * SSH connections for `mig migrate`, through ssh2: the host key is checked against known_hosts (no
 * blind accept, hashed entries understood), authentication by key file and/or the agent
 * ($SSH_AUTH_SOCK). Nothing secret goes to argv or logs: key files are read here, passphrases are
 * not supported (use the agent for an encrypted key).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import { MigError } from '../util/errors.js';
import { checkHostKey, fingerprint, hostKeyName, knownKeyTypes, readKnownHosts } from './known-hosts.js';

export class TransportError extends MigError {
  readonly level: string;
  constructor(code: string, message: string, data: Record<string, unknown> = {}, level = 'transport') {
    super(code, message, { ...data, level });
    this.level = level;
  }
}

export interface Destination {
  user: string;
  host: string;
  port: number;
}

/** `[user@]host[:port]`, IPv6 as `[addr]:port`. */
export function parseDestination(s: string): Destination {
  const m = /^(?:([^@\s]+)@)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$/.exec(s);
  if (!m) throw new MigError('USAGE', `bad destination ${JSON.stringify(s)}: use [user@]host[:port]`);
  const port = m[3] ? Number(m[3]) : 22;
  if (port < 1 || port > 65535) throw new MigError('USAGE', `bad port in ${s}`);
  return { user: m[1] ?? os.userInfo().username, host: m[2].replace(/^\[|\]$/g, ''), port };
}

export interface SshOptions {
  identity?: string;
  knownHosts?: string;
  /** ms to wait for the connection and handshake. */
  readyTimeout?: number;
}

const HOSTKEY_ALGOS: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

export function connectSsh(dest: Destination, opts: SshOptions = {}): Promise<Client> {
  const home = os.homedir();
  const khFiles = opts.knownHosts ? [opts.knownHosts] : [path.join(home, '.ssh', 'known_hosts'), '/etc/ssh/ssh_known_hosts'];
  if (opts.knownHosts && !fs.existsSync(opts.knownHosts)) throw new MigError('USAGE', `known hosts file ${opts.knownHosts} does not exist`);
  const known = readKnownHosts(khFiles);
  const name = hostKeyName(dest.host, dest.port);
  const types = knownKeyTypes(known, name);
  if (types.length === 0) {
    throw new TransportError('SSH_HOST_UNKNOWN', `${name} is not in ${khFiles.join(' or ')}: add its host key first (e.g. ssh-keyscan -p ${dest.port} ${dest.host} >> ~/.ssh/known_hosts, after checking the fingerprint)`, { host: name });
  }
  let privateKey: Buffer | undefined;
  const keyFiles = opts.identity ? [opts.identity] : ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => path.join(home, '.ssh', f)).filter((f) => fs.existsSync(f));
  if (opts.identity && !fs.existsSync(opts.identity)) throw new MigError('USAGE', `identity file ${opts.identity} does not exist`);
  if (keyFiles.length) privateKey = fs.readFileSync(keyFiles[0]);
  const agent = process.env.SSH_AUTH_SOCK;
  if (!privateKey && !agent) throw new TransportError('SSH_AUTH', 'no SSH key: pass --identity FILE or run an ssh agent (SSH_AUTH_SOCK)');
  if (privateKey && /ENCRYPTED|Proc-Type: 4,ENCRYPTED/.test(privateKey.toString('latin1', 0, 200)) && agent) privateKey = undefined;

  let hostKeyProblem: TransportError | undefined;
  const cfg: ConnectConfig = {
    host: dest.host, port: dest.port, username: dest.user, privateKey, agent,
    readyTimeout: opts.readyTimeout ?? 20_000,
    keepaliveInterval: 2000, keepaliveCountMax: 5,
    algorithms: { serverHostKey: types.flatMap((t) => HOSTKEY_ALGOS[t] ?? [t]) as never },
    hostVerifier: (key: Buffer) => {
      const v = checkHostKey(known, name, key);
      if (v.ok) return true;
      const where = v.lines.map((l) => `${l.file}:${l.line}`).join(', ');
      hostKeyProblem = new TransportError(v.reason === 'revoked' ? 'SSH_HOST_KEY_REVOKED' : 'SSH_HOST_KEY_MISMATCH',
        v.reason === 'revoked'
          ? `host key ${fingerprint(key)} of ${name} is marked @revoked (${where}); refusing to connect`
          : `host key of ${name} does not match known_hosts (${where}): the server offered ${fingerprint(key)}. Someone may be intercepting the connection, or the host key changed; refusing to connect`,
        { host: name, fingerprint: fingerprint(key) });
      return false;
    },
  };
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.once('ready', () => resolve(c));
    c.once('error', (e: Error & { level?: string }) => {
      c.end();
      if (hostKeyProblem) return reject(hostKeyProblem);
      const code = e.level === 'client-authentication' ? 'SSH_AUTH' : 'SSH_CONNECT';
      reject(new TransportError(code, `ssh ${dest.user}@${name}: ${code === 'SSH_AUTH' ? 'authentication failed (key or agent not accepted)' : e.message}`, { host: name }, e.level));
    });
    try {
      c.connect(cfg);
    } catch (e) {
      reject(new TransportError('SSH_CONNECT', `ssh ${dest.user}@${name}: ${(e as Error).message}`, { host: name }));
    }
  });
}

/** Run a command on the remote host; resolves with its channel (stdin = channel writes, stdout = data, stderr = .stderr). */
export function exec(c: Client, command: string): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    c.exec(command, (err, ch) => (err ? reject(new TransportError('SSH_EXEC', `cannot run ${command} on the destination: ${err.message}`)) : resolve(ch)));
  });
}

/** Run a command, feed it `input`, collect stdout/stderr and the exit status. */
export async function execCollect(c: Client, command: string, input?: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const ch = await exec(c, command);
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let status: number | null = null;
    ch.on('data', (d: Buffer) => (stdout += d.toString()));
    ch.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    ch.on('exit', (code: number | null) => (status = code));
    ch.on('close', () => resolve({ status, stdout, stderr }));
    ch.end(input ?? '');
  });
}

/** Quote one argument for the remote POSIX shell. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
