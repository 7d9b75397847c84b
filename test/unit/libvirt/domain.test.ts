/**
 * Libvirt.state(): only libvirt's "no domain" error (VIR_ERR_NO_DOMAIN) means 'absent' — the
 * preflight reads 'absent' as "not active on the destination". A daemon that is gone, a refused
 * access or a dropped connection is an error naming the cause. The binding is replaced by a fake
 * that fails the way @unraid/libvirt does (a LibvirtError carrying libvirt's message).
 */
import test from 'ava';
import { LibvirtError as BindingError } from '@unraid/libvirt';
import { isNoDomainError, Libvirt } from '../../../src/libvirt/domain.js';
import { MigError } from '../../../src/util/errors.js';

/** `reconnect`: what connecting again does after a lost connection (default: the daemon stays gone). */
function fakeLibvirt(lookup: () => Promise<unknown>, reconnect?: () => Promise<unknown>): Libvirt {
  const hv = { domainLookupByName: lookup, connectClose: async () => undefined };
  const lv = Reflect.construct(Libvirt, ['qemu:///system', hv]) as Libvirt;
  Object.assign(lv, { reconnect: reconnect ?? (async () => { throw new Error('Failed to connect socket to \'/var/run/libvirt/libvirt-sock\': Connection refused'); }) });
  return lv;
}

const noDomain = () => new BindingError("Domain not found: no domain with matching name 'vm1'", -1, -1, -1);

test("libvirt's no-domain error is 'absent'", async (t) => {
  const lv = fakeLibvirt(async () => {
    throw noDomain();
  });
  t.is(await lv.state('vm1'), 'absent');
  t.true(isNoDomainError(noDomain()));
});

const failures: [string, string][] = [
  ['libvirtd gone', 'Cannot recv data: Connection reset by peer'],
  ['connection closed', 'internal error: client socket is closed'],
  ['access denied', "access denied: 'domain-getattr' operation on 'vm1' is not permitted"],
  ['permission', 'authentication unavailable: no polkit agent available to authenticate action'],
];
for (const [what, message] of failures) {
  test(`a lookup that fails otherwise (${what}) is a LIBVIRT error naming the cause, not 'absent'`, async (t) => {
    const lv = fakeLibvirt(async () => {
      throw new BindingError(message, -1, -1, -1);
    });
    const err = await t.throwsAsync(() => lv.state('vm1'), { instanceOf: MigError });
    t.is(err!.code, 'LIBVIRT');
    t.true(err!.message.startsWith(`looking up domain vm1 at qemu:///system failed: ${message}`), err!.message);
    t.false(isNoDomainError(new BindingError(message, -1, -1, -1)));
  });
}

test("a state query that fails after the lookup is an error; the domain vanishing in between is 'absent'", async (t) => {
  const dom = (fail: () => Error) => ({ getInfo: async () => { throw fail(); } });
  const gone = fakeLibvirt(async () => dom(noDomain));
  t.is(await gone.state('vm1'), 'absent');
  const broken = fakeLibvirt(async () => dom(() => new BindingError('Cannot write data: Broken pipe', -1, -1, -1)));
  const err = await t.throwsAsync(() => broken.state('vm1'), { instanceOf: MigError });
  t.regex(err!.message, /^reading the state of vm1 at qemu:\/\/\/system failed: Cannot write data: Broken pipe \(connecting again failed: Failed to connect socket/);
  const running = fakeLibvirt(async () => ({ getInfo: async () => ({ state: 1 }) }));
  t.is(await running.state('vm1'), 'running');
});

test('xml() of a missing domain still says there is none; of an unreachable daemon names the cause', async (t) => {
  const missing = fakeLibvirt(async () => {
    throw noDomain();
  });
  t.regex((await t.throwsAsync(() => missing.xml('vm1')))!.message, /^no domain vm1 at qemu:\/\/\/system$/);
  const down = fakeLibvirt(async () => {
    throw new BindingError('Cannot recv data: Connection reset by peer', -1, -1, -1);
  });
  t.regex((await t.throwsAsync(() => down.xml('vm1')))!.message, /Connection reset by peer/);
});

test('a connection that died (libvirtd restarted) is opened again and the call repeated once', async (t) => {
  let calls = 0;
  const lv = fakeLibvirt(async () => {
    calls++;
    throw new BindingError('Cannot write data: Broken pipe', -1, -1, -1);
  }, async () => {
    Object.assign(lv, { hv: { domainLookupByName: async () => ({ getInfo: async () => ({ state: 1 }) }), connectClose: async () => undefined } });
  });
  t.is(await lv.state('vm1'), 'running');
  t.is(calls, 1, 'the dead connection was not tried again');
  // A save whose request may have reached libvirtd ("End of file while reading data": sent, no
  // reply) is not sent again: it could have happened.
  let saves = 0;
  const sent = fakeLibvirt(async () => ({}), async () => t.fail('no reconnect for a request that may have been sent'));
  Object.assign(sent, { hv: { domainLookupByName: async () => ({}), domainSave: async () => { saves++; throw new BindingError('End of file while reading data: Input/output error', -1, -1, -1); }, connectClose: async () => undefined } });
  await t.throwsAsync(() => sent.save('vm1', '/nonexistent/x'), { message: /^saving vm1 to \/nonexistent\/x failed: End of file while reading data/ });
  t.is(saves, 1);
});

test("libvirt's own test driver: an unknown name is 'absent', its sample domain running", async (t) => {
  // test:///default runs in-process (no daemon): the real binding and libvirt's real message.
  const lv = await Libvirt.open('test:///default');
  try {
    t.is(await lv.state('no-such-domain'), 'absent');
    t.is(await lv.state('test'), 'running');
  } finally {
    await lv.close();
  }
});
