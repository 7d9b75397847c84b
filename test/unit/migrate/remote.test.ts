import test from 'ava';
import { EventEmitter } from 'node:events';
import type { ClientChannel } from 'ssh2';
import { preflightOnChannel } from '../../../src/migrate/remote.js';
import { PROTOCOL_VERSION } from '../../../src/migrate/protocol.js';

/** An ssh channel's surface preflightOnChannel uses: data/exit/close events, stderr, write. */
function channel(): EventEmitter & { stderr: EventEmitter; written: string[]; write: (b: Buffer) => boolean } {
  const ch = Object.assign(new EventEmitter(), { stderr: new EventEmitter(), written: [] as string[] });
  return Object.assign(ch, { write: (b: Buffer) => (ch.written.push(b.toString('utf8')), true) });
}
const o = { remoteMig: 'mig' };
const req = { domain: 'd1', disks: ['/x.img'], autoContext: true };
const reply = { protocol: PROTOCOL_VERSION, migVersion: '0.1.0', hostname: 'h', stateDir: '/s', contexts: [], baselines: [], disksMissing: [], domainState: 'absent' };

test('the reply on the receive channel, after a login shell\'s stray lines; the request was the first line', async (t) => {
  const ch = channel();
  const p = preflightOnChannel(ch as unknown as ClientChannel, req, o, 'h');
  t.deepEqual(JSON.parse(ch.written[0]), { preflight: req });
  ch.emit('data', Buffer.from('Welcome to host\n{"protocol":'));
  ch.emit('data', Buffer.from(JSON.stringify(reply).slice('{"protocol":'.length) + '\n'));
  t.deepEqual(await p, reply);
  t.is(ch.listenerCount('data'), 0, 'its listeners are gone: the channel is the transfer\'s now');
});

test('an error event (an older mig took the line for a receive request): undefined, ask with --preflight', async (t) => {
  const ch = channel();
  const p = preflightOnChannel(ch as unknown as ClientChannel, req, o, 'h');
  ch.emit('data', Buffer.from('{"event":"error","code":"BAD_DOMAIN_NAME","message":"bad domain name undefined"}\n'));
  t.is(await p, undefined);
});

test('another protocol version: refused', async (t) => {
  const ch = channel();
  const p = preflightOnChannel(ch as unknown as ClientChannel, req, o, 'h');
  ch.emit('data', Buffer.from(JSON.stringify({ ...reply, protocol: PROTOCOL_VERSION + 1 }) + '\n'));
  await t.throwsAsync(p, { message: /speaks migration protocol/ });
});

test('the channel closing first: REMOTE_MIG when mig is not there, else PREFLIGHT naming the closed channel', async (t) => {
  const a = channel();
  const pa = preflightOnChannel(a as unknown as ClientChannel, req, o, 'h');
  a.stderr.emit('data', Buffer.from('bash: mig: command not found\n'));
  a.emit('exit', 127);
  a.emit('close');
  await t.throwsAsync(pa, { message: /cannot run "mig" on h/ });
  const b = channel();
  const pb = preflightOnChannel(b as unknown as ClientChannel, req, o, 'h');
  b.emit('exit', 137);
  b.emit('close');
  await t.throwsAsync(pb, { message: /preflight on h failed: the receive channel closed before the reply \(exit 137\)/ });
});
