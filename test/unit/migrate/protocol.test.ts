/**
 * The migration protocol's sans-I/O parts (src/migrate/protocol.ts): framing and the source's parser
 * of the receiver's events give the same result however the bytes are chunked, and bad input is a
 * PROTOCOL error that says what was wrong. readLineSync (control-fd.ts) stops at the line's end.
 */
import test from 'ava';
import * as fs from 'node:fs';
import { readLineSync } from '../../../src/migrate/control-fd.js';
import {
  encodeMessage, LineFramer, parseMessage, parseReceiverEvent, ReceiverEventParser, type ReceiverEvent,
} from '../../../src/migrate/protocol.js';
import { MigError } from '../../../src/util/errors.js';
import { tmpFile } from '../../helpers/tmp.js';

const EVENTS: ReceiverEvent[] = [
  { event: 'ready', resumeFrom: 0 },
  { event: 'ready', resumeFrom: 1 << 20, frame: 7 },
  { event: 'ack', frame: 3, offset: 4096 },
  { event: 'decoded', imageBytes: 528_000_000, seconds: 1.5 },
  { event: 'decoded', imageBytes: 528_000_000, seconds: 1.5, restored: 'paused' },
  { event: 'running', seconds: 0.25, defined: false, defineError: 'définition refusée ✗' },
  { event: 'running', seconds: 0.25 },
  { event: 'stored', digest: 'ab'.repeat(32) },
  { event: 'error', code: 'WRITE', message: 'no space left on /var/lib/mig — ünïcödé' },
];
const STRAY = 'Warning: something a shell printed';
const STREAM = Buffer.concat([...EVENTS.slice(0, 3).map(encodeMessage), Buffer.from(`${STRAY}\n`), ...EVENTS.slice(3).map(encodeMessage)]);
const EXPECTED = [...EVENTS.slice(0, 3).map((event) => ({ event })), { text: STRAY }, ...EVENTS.slice(3).map((event) => ({ event }))];

/** Feed `chunks` to a fresh parser and collect everything it returns. */
function parseAll(chunks: Uint8Array[]) {
  const p = new ReceiverEventParser();
  return chunks.flatMap((c) => p.parse(c));
}

test('events split into two chunks at every byte boundary parse the same', (t) => {
  for (let at = 0; at <= STREAM.length; at++) {
    const got = parseAll([STREAM.subarray(0, at), STREAM.subarray(at)]);
    if (JSON.stringify(got) !== JSON.stringify(EXPECTED)) return t.deepEqual(got, EXPECTED, `split at byte ${at}`);
  }
  t.pass();
});

test('events fed one byte at a time parse the same (multi-byte UTF-8 split too)', (t) => {
  const bytes = [...STREAM].map((b) => Uint8Array.of(b));
  t.deepEqual(parseAll(bytes), EXPECTED);
});

test('the line framer gives every line once, whatever the chunking', (t) => {
  const text = 'first\n\nthird — ü\n{"x":1}\n';
  const lines = ['first', '', 'third — ü', '{"x":1}'];
  const b = Buffer.from(text);
  for (let i = 0; i <= b.length; i++) {
    for (let j = i; j <= b.length; j += 3) {
      const f = new LineFramer();
      const got = [...f.push(b.subarray(0, i)), ...f.push(b.subarray(i, j)), ...f.push(b.subarray(j))];
      if (JSON.stringify(got) !== JSON.stringify(lines)) return t.deepEqual(got, lines, `split at ${i} and ${j}`);
      t.is(f.end(), undefined);
    }
  }
});

test('next() stops after the first newline and says how much it took', (t) => {
  const f = new LineFramer();
  const b = Buffer.from('{"domain":"vm1"}\nMIG\x00binary');
  t.deepEqual(f.next(b.subarray(0, 5)), { consumed: 5 });
  t.deepEqual(f.next(b, 5), { consumed: 12, line: '{"domain":"vm1"}' });
});

test('an unterminated last line is returned at the end of the stream', (t) => {
  const f = new LineFramer();
  t.deepEqual(f.push(Buffer.from('one\ntw')), ['one']);
  t.is(f.end(), 'tw');
  t.is(f.end(), undefined);
});

test('a line longer than the limit is a PROTOCOL error, however it is chunked', (t) => {
  const long = Buffer.alloc(100, 0x61);
  for (const size of [1, 7, 100]) {
    const f = new LineFramer(64);
    const err = t.throws(() => {
      for (let at = 0; at < long.length; at += size) f.push(long.subarray(at, at + size));
    }, { instanceOf: MigError });
    t.is(err?.code, 'PROTOCOL');
    t.regex(err!.message, /control line longer than 64 bytes/);
  }
  const p = new ReceiverEventParser(64);
  t.throws(() => p.parse(long), { message: /longer than 64 bytes/ });
});

test('malformed events are PROTOCOL errors naming what is wrong', (t) => {
  const cases: [string, RegExp][] = [
    ['{"event":"launch"}', /unknown event "launch"/],
    ['{"frame":1}', /a message without an event/],
    ['[1,2]', /not a protocol message/],
    ['42', /not a protocol message/],
    ['null', /not a protocol message/],
    ['{"event":"ack","frame":1}', /"ack" with no offset/],
    ['{"event":"ready","resumeFrom":"0"}', /"ready" with a bad resumeFrom/],
    ['{"event":"ready","resumeFrom":0,"frame":"x"}', /"ready" with a bad frame/],
    ['{"event":"running","seconds":1,"defined":"yes"}', /"running" with a bad defined/],
    ['{"event":"stored","digest":7}', /"stored" with a bad digest/],
    ['{"event":"error","code":"X"}', /"error" with no message/],
    ['{"event":"__proto__"}', /unknown event "__proto__"/],
    ['{"event":"toString"}', /unknown event "toString"/],
  ];
  for (const [line, re] of cases) {
    const err = t.throws(() => parseReceiverEvent(line), { instanceOf: MigError }, line);
    t.is(err?.code, 'PROTOCOL', line);
    t.regex(err!.message, re, line);
    t.regex(err!.message, /^the destination sent /, line);
  }
  // Through the stream parser too: the bad line throws, whatever came before it in the chunk.
  const p = new ReceiverEventParser();
  t.throws(() => p.parse(Buffer.from('{"event":"ack","frame":1,"offset":0}\n{"event":"nope"}\n')), { message: /unknown event "nope"/ });
});

test('lines that are not JSON are text, not events', (t) => {
  t.is(parseReceiverEvent(''), undefined);
  t.is(parseReceiverEvent('bash: mig: command not found'), undefined);
  t.deepEqual(parseAll([Buffer.from('\n{oops\n')]), [{ text: '' }, { text: '{oops' }]);
});

test('parseMessage: closed stream, non-JSON and non-objects are PROTOCOL errors', (t) => {
  t.deepEqual(parseMessage<{ commit: boolean }>('{"commit":true}', 'commit'), { commit: true });
  t.throws(() => parseMessage(undefined, 'waiting for the commit'), { message: 'waiting for the commit: the other end closed the stream' });
  t.throws(() => parseMessage('hello', 'receive request'), { message: /^receive request: not a protocol message: "hello"$/ });
  t.throws(() => parseMessage('[]', 'x'), { message: /not a protocol message/ });
  t.is(t.throws<MigError>(() => parseMessage('null', 'x'), { instanceOf: MigError })?.code, 'PROTOCOL');
});

test('encodeMessage is one JSON line', (t) => {
  const b = encodeMessage({ event: 'stored', digest: 'ü' });
  t.is(b.toString('utf8'), '{"event":"stored","digest":"ü"}\n');
  t.deepEqual(new LineFramer().push(b), ['{"event":"stored","digest":"ü"}']);
});

test('readLineSync reads one line and leaves what follows it unread', (t) => {
  const file = tmpFile(Buffer.concat([encodeMessage({ domain: 'vm1' }), Buffer.from([0x4d, 0x49, 0x47, 0x00, 0xff, 0x0a])]), 'stdin');
  const fd = fs.openSync(file, 'r');
  try {
    t.is(readLineSync(fd), '{"domain":"vm1"}');
    const rest = Buffer.alloc(16);
    t.deepEqual(rest.subarray(0, fs.readSync(fd, rest, 0, 16, null)), Buffer.from([0x4d, 0x49, 0x47, 0x00, 0xff, 0x0a]));
    t.is(readLineSync(fd), undefined, 'end of input');
  } finally {
    fs.closeSync(fd);
  }
  const fd2 = fs.openSync(tmpFile(Buffer.from('go'), 'stdin'), 'r');
  try {
    t.is(readLineSync(fd2), 'go', 'an unterminated last line');
  } finally {
    fs.closeSync(fd2);
  }
  const fd3 = fs.openSync(tmpFile(Buffer.alloc(70, 0x61), 'stdin'), 'r');
  try {
    t.throws(() => readLineSync(fd3, 64), { message: /control line longer than 64 bytes/ });
  } finally {
    fs.closeSync(fd3);
  }
});
