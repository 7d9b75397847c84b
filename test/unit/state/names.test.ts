/** Domain and OS names (src/state/dir.ts): one rule, and hooks/qemu's bash copy of it is the same. */
import test from 'ava';
import * as fs from 'node:fs';
import { checkDomainName, checkOsName, SAFE_NAME } from '../../../src/state/dir.js';

test('domain and OS names follow the same rule', (t) => {
  for (const ok of ['vm1', 'a', '_x', 'web-01.example:2+b', 'x'.repeat(128)]) {
    t.is(checkDomainName(ok), ok);
    t.is(checkOsName(ok), ok);
  }
  for (const bad of ['', '.hidden', '-x', 'a..b', 'a/b', 'a b', 'x'.repeat(129), 'é']) {
    t.throws(() => checkDomainName(bad), { code: 'BAD_DOMAIN_NAME' }, bad);
    t.throws(() => checkOsName(bad), { code: 'USAGE' }, bad);
  }
});

test('hooks/qemu checks domain names with the same regex', (t) => {
  const hook = fs.readFileSync(new URL('../../../../hooks/qemu', import.meta.url), 'utf8');
  const m = /\[\[ \$domain =~ (\S+) \]\] \|\| \[\[ \$domain == \*\.\.\* \]\]/.exec(hook);
  t.truthy(m, 'the hook\'s check is where it was');
  t.is(m![1], SAFE_NAME.source);
});
