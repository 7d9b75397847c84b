/**
 * OpenSSH known_hosts (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): `[@marker] patterns keytype base64 [comment]`.
 * Patterns are comma-separated host names or addresses with `*`/`?` wildcards and `!` negation,
 * `[host]:port` for a port other than 22, or one hashed entry `|1|base64(salt)|base64(HMAC-SHA1(salt, host))`.
 * `@revoked` keys are refused for every host; `@cert-authority` lines are ignored (mig does not verify
 * host certificates). Pure parsing and matching: no I/O except `readKnownHosts`.
 */
import { createHash, createHmac } from 'node:crypto';
import * as fs from 'node:fs';

export interface KnownHostLine {
  file?: string;
  line: number;
  marker?: 'revoked' | 'cert-authority';
  patterns: string;
  keyType: string;
  key: Buffer;
}

export function parseKnownHosts(text: string): KnownHostLine[] {
  const out: KnownHostLine[] = [];
  text.split('\n').forEach((raw, i) => {
    const s = raw.trim();
    if (!s || s.startsWith('#')) return;
    const f = s.split(/\s+/);
    let marker: KnownHostLine['marker'];
    if (f[0].startsWith('@')) {
      const m = f.shift()!.slice(1);
      if (m !== 'revoked' && m !== 'cert-authority') return;
      marker = m;
    }
    if (f.length < 3) return;
    const key = Buffer.from(f[2], 'base64');
    // The blob starts with its own type as an SSH string; a line whose blob disagrees is malformed.
    if (key.length < 4 || key.readUInt32BE(0) + 4 > key.length || key.subarray(4, 4 + key.readUInt32BE(0)).toString('latin1') !== f[1]) return;
    out.push({ line: i + 1, marker, patterns: f[0], keyType: f[1], key });
  });
  return out;
}

/** The name known_hosts stores for a host: `host`, or `[host]:port` when port is not 22. */
export function hostKeyName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function wildcard(pattern: string, s: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(s);
}

/** Does a known_hosts pattern list match this host (name as `hostKeyName` gives it)? */
export function patternsMatch(patterns: string, name: string): boolean {
  if (patterns.startsWith('|1|')) {
    const [, , salt, hash] = patterns.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  let matched = false;
  for (const p of patterns.split(',')) {
    if (p.startsWith('!')) {
      if (wildcard(p.slice(1), name)) return false;
    } else if (wildcard(p, name)) {
      matched = true;
    }
  }
  return matched;
}

export type HostKeyVerdict =
  | { ok: true; line: KnownHostLine }
  | { ok: false; reason: 'unknown' | 'mismatch' | 'revoked'; lines: KnownHostLine[] };

/** Check a server's host key blob against the lines for `name`. */
export function checkHostKey(lines: KnownHostLine[], name: string, key: Buffer): HostKeyVerdict {
  const revoked = lines.find((l) => l.marker === 'revoked' && l.key.equals(key));
  if (revoked) return { ok: false, reason: 'revoked', lines: [revoked] };
  const forHost = lines.filter((l) => l.marker === undefined && patternsMatch(l.patterns, name));
  const hit = forHost.find((l) => l.key.equals(key));
  if (hit) return { ok: true, line: hit };
  return { ok: false, reason: forHost.length ? 'mismatch' : 'unknown', lines: forHost };
}

/** Key types known for the host, so the client asks the server for a key it can check. */
export function knownKeyTypes(lines: KnownHostLine[], name: string): string[] {
  return [...new Set(lines.filter((l) => l.marker === undefined && patternsMatch(l.patterns, name)).map((l) => l.keyType))];
}

/** OpenSSH's fingerprint form: SHA256:base64 without padding. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

export function readKnownHosts(files: string[]): KnownHostLine[] {
  const out: KnownHostLine[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    out.push(...parseKnownHosts(text).map((l) => ({ ...l, file: f })));
  }
  return out;
}
