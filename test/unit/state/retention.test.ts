import test from 'ava';
import { parseAge, parseSize, planRetention, type RetentionEntry } from '../../../src/state/retention.js';

const DAY = 86400e3;
const now = 100 * DAY;
const e = (domain: string | undefined, digest: string, ageDays: number): RetentionEntry => ({ domain, digest, addedAt: now - ageDays * DAY });
const bytes = new Map([['a1', 100], ['a2', 100], ['a3', 100], ['b1', 50], ['blank', 1000], ['orphan', 7]]);
const entries = [e('a', 'a1', 1), e('a', 'a2', 5), e('a', 'a3', 40), e('b', 'b1', 60), e(undefined, 'blank', 300)];

test('no policy keeps every referenced image and deletes only orphans', (t) => {
  const p = planRetention(entries, bytes, {}, now);
  t.deepEqual(p.drop, []);
  t.deepEqual(p.deleteImages, ['orphan']);
  t.is(p.keptBytes, 1350);
});

test('keep N per domain keeps the newest N of each domain', (t) => {
  const p = planRetention(entries, bytes, { keep: 1 }, now);
  t.deepEqual(p.drop.map((x) => x.digest).sort(), ['a2', 'a3']);
  t.deepEqual(p.deleteImages, ['a2', 'a3', 'orphan']);
});

test('max age drops old domain entries but never blank baselines', (t) => {
  const p = planRetention(entries, bytes, { maxAgeMs: 30 * DAY }, now);
  t.deepEqual(p.drop.map((x) => x.digest).sort(), ['a3', 'b1']);
  t.false(p.deleteImages.includes('blank'));
});

test('max size drops the oldest domain entries until the kept images fit', (t) => {
  const p = planRetention(entries, bytes, { maxBytes: 1200 }, now);
  // 1350 total: dropping b1 (oldest domain entry, 60 d) → 1300, then a3 (40 d) → 1200.
  t.deepEqual(p.drop.map((x) => x.digest), ['a3', 'b1']);
  t.is(p.keptBytes, 1200);
});

test('an image shared by two domains stays while one still refers to it', (t) => {
  const shared = [e('a', 'x', 1), e('b', 'x', 50), e('b', 'y', 0)];
  const p = planRetention(shared, new Map([['x', 10], ['y', 10]]), { keep: 1 }, now);
  t.deepEqual(p.drop.map((x) => `${x.domain}:${x.digest}`), ['b:x']);
  t.deepEqual(p.deleteImages, []);
});

test('ages and sizes parse', (t) => {
  t.is(parseAge('30d'), 30 * DAY);
  t.is(parseAge('12h'), 12 * 3600e3);
  t.is(parseAge('7'), 7 * DAY);
  t.is(parseSize('10G'), 10 * 2 ** 30);
  t.is(parseSize('512MiB'), 512 * 2 ** 20);
  t.is(parseSize('4096'), 4096);
  t.throws(() => parseAge('soon'));
  t.throws(() => parseSize('-1G'));
});
