import test from 'ava';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { checkHostKey, fingerprint, hostKeyName, knownKeyTypes, parseKnownHosts, patternsMatch } from '../../../src/transport/known-hosts.js';
import { parseDestination } from '../../../src/transport/ssh.js';
import { tmpPath } from '../../helpers/tmp.js';

/** A real key made by ssh-keygen: [type, base64 blob, blob]. */
function newKey(type: 'ed25519' | 'ecdsa' = 'ed25519'): { type: string; b64: string; blob: Buffer } {
  const p = tmpPath('key');
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', p]);
  const [t, b64] = fs.readFileSync(`${p}.pub`, 'utf8').trim().split(/\s+/);
  return { type: t, b64, blob: Buffer.from(b64, 'base64') };
}

test('plain, port, wildcard and negated patterns', (t) => {
  t.true(patternsMatch('host1,host2', 'host2'));
  t.false(patternsMatch('host1', 'host10'));
  t.true(patternsMatch('*.example.com', 'a.example.com'));
  t.false(patternsMatch('*.example.com,!bad.example.com', 'bad.example.com'));
  t.true(patternsMatch('[127.0.0.1]:2222', hostKeyName('127.0.0.1', 2222)));
  t.false(patternsMatch('127.0.0.1', hostKeyName('127.0.0.1', 2222)), 'a port-22 entry does not cover another port');
  t.true(patternsMatch('1?.0.0.1', '10.0.0.1'));
  t.true(patternsMatch('HOST', 'host'), 'host names compare case-insensitively');
});

test('entries hashed by ssh-keygen -H match their host and only it', (t) => {
  const k = newKey();
  const f = tmpPath('known_hosts');
  fs.writeFileSync(f, `[127.0.0.1]:2222 ${k.type} ${k.b64}\nother.example ${k.type} ${k.b64}\n`);
  execFileSync('ssh-keygen', ['-q', '-H', '-f', f], { stdio: 'pipe' });
  const lines = parseKnownHosts(fs.readFileSync(f, 'utf8'));
  t.is(lines.length, 2);
  t.true(lines.every((l) => l.patterns.startsWith('|1|')));
  const v = checkHostKey(lines, '[127.0.0.1]:2222', k.blob);
  t.true(v.ok);
  t.false(checkHostKey(lines, '[127.0.0.1]:2223', k.blob).ok);
  t.deepEqual(knownKeyTypes(lines, '[127.0.0.1]:2222'), ['ssh-ed25519']);
});

test('another key for a known host is a mismatch; an unknown host is unknown; @revoked wins', (t) => {
  const good = newKey();
  const evil = newKey('ecdsa');
  const text = [
    '# comment', '',
    `example.org ${good.type} ${good.b64} me@here`,
    `@cert-authority *.example.org ${evil.type} ${evil.b64}`,
    'garbage line',
    `example.org ssh-rsa ${good.b64}`, // blob type disagrees: ignored
  ].join('\n');
  const lines = parseKnownHosts(text);
  t.is(lines.length, 2);
  t.deepEqual(checkHostKey(lines, 'example.org', good.blob), { ok: true, line: lines[0] });
  const mm = checkHostKey(lines, 'example.org', evil.blob);
  t.false(mm.ok);
  t.is(!mm.ok && mm.reason, 'mismatch');
  const unk = checkHostKey(lines, 'example.net', good.blob);
  t.is(!unk.ok && unk.reason, 'unknown');
  const rev = parseKnownHosts(`${text}\n@revoked * ${good.type} ${good.b64}`);
  const r = checkHostKey(rev, 'example.org', good.blob);
  t.is(!r.ok && r.reason, 'revoked');
});

test('fingerprints match ssh-keygen -l', (t) => {
  const k = newKey();
  const p = tmpPath('pub');
  fs.writeFileSync(p, `${k.type} ${k.b64}\n`);
  const out = execFileSync('ssh-keygen', ['-l', '-f', p], { encoding: 'utf8' });
  t.is(out.split(' ')[1], fingerprint(k.blob));
});

test('destinations', (t) => {
  t.deepEqual(parseDestination('root@10.0.0.2:2222'), { user: 'root', host: '10.0.0.2', port: 2222 });
  t.deepEqual(parseDestination('bob@[::1]:22'), { user: 'bob', host: '::1', port: 22 });
  t.is(parseDestination('host').port, 22);
  t.throws(() => parseDestination('a@b@c'));
  t.throws(() => parseDestination('host:99999'));
  t.throws(() => parseDestination('host;rm -rf /'));
});
