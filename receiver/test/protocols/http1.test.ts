import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as fc from 'fast-check';
import { isKindlingError } from '../../src/errors';
import { Http1Parser, looksLikeRequest, looksLikeResponse } from '../../src/protocols/http1';
import type { Http1Event, Http1ParserOptions, HttpMessage } from '../../src/protocols/http1';
import type { Segment } from '../../src/protocols/types';
import { FIXTURES, SECRETS } from './fixtures/http1';
import type { ExpectedMessage, Http1Fixture } from './fixtures/http1';

// ---- harness ----------------------------------------------------------------------------

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
const enterNs = (i: number): number => 1000 * (i + 1);
const exitNs = (i: number): number => 1000 * (i + 1) + 500;

/** One segment per range of `stream` between `starts` (sorted, first 0), with distinct times. */
function segmentsAt(stream: Uint8Array, starts: number[]): Segment[] {
  return starts.map((s, i) => {
    const data = stream.subarray(s, starts[i + 1] ?? stream.length);
    return { data, len: data.length, enterNs: enterNs(i), exitNs: exitNs(i) };
  });
}

interface Run {
  events: Http1Event[];
  messages: HttpMessage[];
  errors: string[];
  parser: Http1Parser;
}

function run(side: 'request' | 'response', methods: string[] | undefined, segs: Segment[], closes = false, opts: Partial<Http1ParserOptions> = {}): Run {
  const parser = new Http1Parser({ side, requestMethod: methods && ((i) => methods[i]), ...opts });
  const events: Http1Event[] = [];
  for (const s of segs) events.push(...parser.push(s));
  if (closes) events.push(...parser.end(exitNs(segs.length) + 1));
  const messages = events.flatMap((e) => (e.kind === 'message' ? [e.message] : []));
  const errors = events.flatMap((e) => (e.kind === 'error' ? [e.reason] : []));
  return { events, messages, errors, parser };
}

const runFixture = (f: Http1Fixture, segs: Segment[]): Run => run(f.side, f.methods, segs, f.closes);

/** The fields compared between runs (every field of HttpMessage). */
function project(m: HttpMessage): Record<string, unknown> {
  const { type, method, target, status, version, headers, bodySize, keepAlive, informational, upgrade, truncated, startNs, endNs } = m;
  return { type, method, target, status, version, headers, bodySize, keepAlive, informational, upgrade, truncated, startNs, endNs };
}

interface Layout {
  stream: Uint8Array;
  /** natural segment starts */
  starts: number[];
  /** each expected message's [first byte, one past its last byte] */
  ranges: Array<[number, number]>;
}

function layout(f: Http1Fixture): Layout {
  const text = f.segments.join('');
  const starts: number[] = [];
  let at = 0;
  for (const s of f.segments) {
    starts.push(at);
    at += s.length;
  }
  let from = 0;
  const ranges = f.messages.map((m): [number, number] => {
    const a = text.indexOf(m.raw, from);
    assert.ok(a >= 0, `${f.name}: raw message not found in the stream`);
    from = a + m.raw.length;
    return [a, from];
  });
  return { stream: bytes(text), starts, ranges };
}

const segmentOf = (starts: number[], offset: number): number => {
  let i = 0;
  while (i + 1 < starts.length && (starts[i + 1] ?? Infinity) <= offset) i++;
  return i;
};

/** What each message must be when the stream is cut at `starts`. */
function expected(f: Http1Fixture, l: Layout, starts: number[]): Array<Record<string, unknown>> {
  return f.messages.map((e: ExpectedMessage, i) => {
    const [a, b] = l.ranges[i] ?? [0, 0];
    return {
      type: e.type,
      method: e.method,
      target: e.target,
      status: e.status,
      version: e.version,
      headers: e.headers,
      bodySize: e.bodySize,
      keepAlive: e.keepAlive,
      informational: e.informational ?? false,
      upgrade: e.upgrade ?? false,
      truncated: false,
      startNs: enterNs(segmentOf(starts, a)),
      endNs: exitNs(segmentOf(starts, b - 1)),
    };
  });
}

function checkRun(f: Http1Fixture, l: Layout, starts: number[], what: string): void {
  const r = runFixture(f, segmentsAt(l.stream, starts));
  assert.deepEqual(r.errors, [], `${f.name} (${what}): errors`);
  assert.deepEqual(r.messages.map(project), expected(f, l, starts), `${f.name} (${what})`);
}

// ---- fixtures: whole, byte by byte, every split, every truncated prefix -----------------

describe('http1 fixtures', () => {
  for (const f of FIXTURES) {
    const l = layout(f);
    const n = l.stream.length;

    test(`${f.name}: whole, natural writes, byte by byte`, () => {
      checkRun(f, l, [0], 'whole');
      checkRun(f, l, l.starts, 'natural writes');
      checkRun(f, l, Array.from({ length: n }, (_, i) => i), 'byte by byte');
    });

    test(`${f.name}: split at every index`, () => {
      for (let k = 1; k < n; k++) checkRun(f, l, [0, k], `split at ${k}`);
    });

    test(`${f.name}: every truncation of each write's captured prefix`, () => {
      const natural = expected(f, l, l.starts);
      for (let j = 0; j < l.starts.length; j++) {
        const full = segmentsAt(l.stream, l.starts);
        const seg = full[j];
        if (seg === undefined) continue;
        for (let k = 0; k < seg.data.length; k++) {
          const segs = full.map((s, i) => (i === j ? { ...s, data: s.data.subarray(0, k) } : s));
          const r = runFixture(f, segs);
          const what: string = `${f.name}: write ${j} captured ${k}/${seg.len}`;
          const lostUpgrade = checkTruncated(l, natural, r.messages, j, what);
          if (!lostUpgrade) assert.deepEqual(r.errors, [], what);
        }
      }
    });
  }
});

/**
 * With write `j` truncated, the output must be a subsequence of the full output where
 * each message is exact or, if marked truncated, agrees on what it reports; messages
 * wholly before write j, and those starting a later write, must be exact. True when
 * the cut hid an upgrade, after which nothing can be expected.
 */
function checkTruncated(l: Layout, natural: Array<Record<string, unknown>>, got: HttpMessage[], j: number, what: string): boolean {
  let e = 0;
  const matched = new Map<number, boolean>(); // expected index → matched by a truncated message
  for (const m of got) {
    const p = project(m);
    let found = false;
    while (e < natural.length && !found) {
      const x = natural[e] ?? {};
      found = m.truncated ? compatible(m, x) && m.endNs === exitNs(j) : deepEq(p, x);
      if (found) matched.set(e, m.truncated);
      e++;
    }
    assert.ok(found, `${what}: unexpected message ${JSON.stringify(p)}`);
    // the cut hid a 101's status: what follows is not HTTP, though it may look like it
    if (m.truncated && natural[e - 1]?.upgrade === true && !m.upgrade) return true;
  }
  for (let i = 0; i < natural.length; i++) {
    const [a, b] = l.ranges[i] ?? [0, 0];
    const first = segmentOf(l.starts, a);
    const before = segmentOf(l.starts, b - 1) < j;
    const startsLaterWrite = first > j && l.starts[first] === a;
    if (before || startsLaterWrite) assert.equal(matched.get(i), false, `${what}: message ${i} must be exact`);
  }
  return false;
}

function deepEq(a: unknown, b: unknown): boolean {
  try {
    assert.deepEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

/** A truncated message agrees with the full one on every field it reports. */
function compatible(m: HttpMessage, x: Record<string, unknown>): boolean {
  const opt = (v: unknown, w: unknown): boolean => v === undefined || v === w;
  const headers = x.headers as Record<string, unknown>;
  return (
    m.type === x.type &&
    m.startNs === x.startNs &&
    opt(m.method, x.method) &&
    opt(m.target, x.target) &&
    opt(m.status, x.status) &&
    opt(m.bodySize, x.bodySize) &&
    // list-valued fields may have lost their later lines
    Object.entries(m.headers).every(([k, v]) => headers[k] === v || (typeof v === 'string' && String(headers[k]).startsWith(v)))
  );
}

// ---- specific behaviour ------------------------------------------------------------------

const seg = (s: string | Uint8Array, i: number, len?: number): Segment => {
  const data = typeof s === 'string' ? bytes(s) : s;
  return { data, len: len ?? data.length, enterNs: enterNs(i), exitNs: exitNs(i) };
};

test('nothing outside the allow-list is kept', () => {
  for (const f of FIXTURES) {
    const l = layout(f);
    const r = runFixture(f, segmentsAt(l.stream, l.starts));
    const text = JSON.stringify(r.messages.map((m) => m.headers));
    for (const s of SECRETS) assert.ok(!text.includes(s), `${f.name}: ${s} retained`);
  }
});

test('101 upgrade: later segments are skipped and counted, with no events', () => {
  const f = FIXTURES.find((x) => x.name.startsWith('101'));
  assert.ok(f);
  const l = layout(f);
  const r = runFixture(f, segmentsAt(l.stream, l.starts));
  assert.equal(r.events.length, 1);
  assert.equal(r.messages[0]?.upgrade, true);
  assert.equal(r.parser.stats.skippedSegments, f.segments.length - 1);
  assert.deepEqual(r.parser.end(99_999), []);
});

test('pipelined responses: requestMethod gets each final response its ordinal', () => {
  const asked: number[] = [];
  const methods = ['GET', 'HEAD', 'GET'];
  const p = new Http1Parser({
    side: 'response',
    requestMethod: (i) => {
      asked.push(i);
      return methods[i];
    },
  });
  const ev = p.push(
    seg('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab', 0),
  );
  assert.deepEqual(asked, [0, 1, 2]);
  assert.deepEqual(
    ev.map((e) => (e.kind === 'message' ? [e.message.status, e.message.bodySize, e.message.informational] : e.reason)),
    [
      [100, 0, true],
      [200, 1, false],
      [200, 0, false],
      [200, 2, false],
    ],
  );
});

test('a 1 MB Content-Length body in writes captured to 512 bytes ends at exactly the right write', () => {
  const head = 'HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\n';
  const writes: Segment[] = [seg(head, 0)];
  const sizes = [10_000, 65_536, 100_000, 777]; // uneven, so that the end falls inside a write
  let left = 1048576;
  let i = 1;
  for (; left > 0; i++) {
    const n = Math.min(sizes[i % sizes.length] ?? 1, left);
    writes.push(seg(new Uint8Array(512).fill(0x61), i, n));
    left -= n;
  }
  assert.equal(left, 0);
  const last = i - 1;
  writes.push(seg('HTTP/1.1 204 No Content\r\n\r\n', i));
  const r = run('response', ['GET', 'GET'], writes);
  assert.deepEqual(r.errors, []);
  assert.equal(r.messages.length, 2);
  assert.deepEqual([r.messages[0]?.startNs, r.messages[0]?.endNs, r.messages[0]?.bodySize, r.messages[0]?.truncated], [enterNs(0), exitNs(last), 1048576, false]);
  assert.deepEqual([r.messages[1]?.status, r.messages[1]?.startNs], [204, enterNs(i)]);
});

test('a head cut by truncation: method, target and complete headers kept, then resync', () => {
  const head = `POST /upload?id=7 HTTP/1.1\r\nHost: files\r\nUser-Agent: up/1\r\nX-Pad: ${'p'.repeat(2000)}\r\nContent-Length: 5000\r\n\r\n`;
  const r = run('request', undefined, [
    seg(bytes(head).subarray(0, 80), 0, head.length + 1000),
    seg('b'.repeat(4000), 1),
    seg('GET /after HTTP/1.1\r\n\r\n', 2),
  ]);
  assert.deepEqual(r.errors, []);
  assert.equal(r.messages.length, 2);
  const m = r.messages[0];
  assert.deepEqual(
    m && [m.method, m.target, m.headers, m.truncated, m.bodySize, m.startNs, m.endNs],
    ['POST', '/upload?id=7', { host: 'files', userAgent: 'up/1' }, true, undefined, enterNs(0), exitNs(0)],
  );
  assert.deepEqual([r.messages[1]?.target, r.messages[1]?.truncated], ['/after', false]);
  assert.equal(r.parser.stats.skippedSegments, 1);
  assert.equal(r.parser.stats.resyncs, 1);
});

test('a chunk-size line in uncaptured bytes ends the message, truncated, at that write', () => {
  const r = run('response', ['GET', 'GET'], [
    seg('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', 0),
    seg('4\r\nabcd\r\n', 1, 9 + 300), // the next chunk-size line was not captured
    seg('10\r\n0123456789abcdef\r\n0\r\n\r\n', 2),
    seg('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', 3),
  ]);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(
    r.messages.map((m) => [m.truncated, m.bodySize, m.endNs]),
    [
      [true, undefined, exitNs(1)],
      [false, 0, exitNs(3)],
    ],
  );
  assert.equal(r.parser.stats.skippedSegments, 1);
});

test('end(): a body cut short by the close is reported truncated; later pushes are skipped', () => {
  const p = new Http1Parser({ side: 'response' });
  assert.deepEqual(p.push(seg('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345', 0)), []);
  const ev = p.end(5000);
  assert.equal(ev.length, 1);
  assert.deepEqual(ev[0]?.kind === 'message' && [ev[0].message.truncated, ev[0].message.bodySize, ev[0].message.endNs], [true, undefined, exitNs(0)]);
  assert.deepEqual(p.push(seg('HTTP/1.1 200 OK\r\n\r\n', 1)), []);
  assert.equal(p.stats.skippedSegments, 1);
  assert.deepEqual(p.end(6000), []);
});

test('end(): a head still incomplete at the close is reported with what it shows', () => {
  const p = new Http1Parser({ side: 'request' });
  assert.deepEqual(p.push(seg('PUT /doc HTTP/1.1\r\nHost: d\r\nContent-Le', 0)), []);
  assert.deepEqual(p.push(seg('ngth: 3\r\n', 1)), []);
  const ev = p.end(9000);
  const m = ev[0]?.kind === 'message' ? ev[0].message : undefined;
  assert.deepEqual(
    m && [m.method, m.target, m.headers, m.truncated, m.bodySize, m.startNs, m.endNs],
    ['PUT', '/doc', { host: 'd', contentLength: 3 }, true, undefined, enterNs(0), exitNs(1)],
  );
});

test('trailers lost to truncation: the message is truncated but its body size is known', () => {
  const r = run('response', ['GET'], [seg('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n', 0, 60 + 40)]);
  assert.deepEqual(
    r.messages.map((m) => [m.truncated, m.bodySize, m.endNs]),
    [[true, 3, exitNs(0)]],
  );
});

test('status lines without a reason phrase', () => {
  const r = run('response', ['GET', 'GET'], [seg('HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n', 0)]);
  assert.deepEqual([r.errors, r.messages.map((m) => [m.status, m.bodySize])], [[], [[200, 1], [404, 0]]]);
});

test('switchProtocols(): a request direction stops after its peer accepted an upgrade', () => {
  const p = new Http1Parser({ side: 'request' });
  assert.equal(p.push(seg('GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n', 0)).length, 1);
  p.switchProtocols();
  assert.deepEqual(p.push(seg('\x81\x85GET / HTTP/1.1\r\n\r\n', 1)), []);
  assert.deepEqual(p.stats, { messages: 1, errors: 0, resyncs: 0, skippedSegments: 1 });
});

// ---- bad input ---------------------------------------------------------------------------

test('garbage: one error, then the next write that starts a message parses', () => {
  const r = run('request', undefined, [
    seg('GET / HTTP/1.1\r\n\r\n', 0),
    seg('\x00\x01\x02 not http at all', 1),
    seg('more garbage\r\n\r\n', 2),
    seg('POST /x HTTP/1.1\r\nContent-Length: 1\r\n\r\nz', 3),
  ]);
  assert.equal(r.errors.length, 1);
  assert.match(r.errors[0] ?? '', /request line/);
  assert.deepEqual(
    r.messages.map((m) => m.target),
    ['/', '/x'],
  );
  assert.deepEqual(r.parser.stats, { messages: 2, errors: 1, resyncs: 1, skippedSegments: 1 });
});

test('malformed heads are errors with a reason', () => {
  const cases: Array<[string, 'request' | 'response', RegExp]> = [
    ['GET /\r\n\r\n', 'request', /HTTP\/0\.9/],
    ['GET / HTTP/2.0\r\n\r\n', 'request', /version/],
    ['GET  HTTP/1.1\r\n\r\n', 'request', /empty target/],
    ['GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n', 'request', /obs-fold/],
    ['GET / HTTP/1.1\r\nno colon here\r\n\r\n', 'request', /colon/],
    ['GET / HTTP/1.1\r\nBad Name: x\r\n\r\n', 'request', /header name/],
    ['POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n', 'request', /conflicting/],
    ['POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n', 'request', /Content-Length/],
    ['POST / HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n', 'request', /Content-Length/],
    ['POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n', 'request', /chunked/],
    ['POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'request', /chunk-size/],
    ['POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX', 'request', /CRLF/],
    ['HTTP/1.1 2000 OK\r\n\r\n', 'response', /status/],
    ['HTTP/2 200\r\n\r\n', 'response', /HTTP\/1/],
    ['SSH-2.0-OpenSSH_9.6\r\n', 'response', /HTTP\/1/],
  ];
  for (const [text, side, reason] of cases) {
    const r = run(side, undefined, [seg(text, 0)]);
    assert.equal(r.errors.length, 1, text);
    assert.match(r.errors[0] ?? '', reason, text);
  }
  // duplicates that agree are one value
  const ok = run('request', undefined, [seg('POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nab', 0)]);
  assert.deepEqual([ok.errors, ok.messages[0]?.bodySize], [[], 2]);
});

test('a 10 MB header line: one error, bounded memory, then a valid request parses', () => {
  for (const size of [65536, 1000]) {
    const p = new Http1Parser({ side: 'request' });
    const events: Http1Event[] = [];
    const first = bytes(`GET /big HTTP/1.1\r\nX-Huge: `);
    const filler = new Uint8Array(size).fill(0x41);
    let sent = 0;
    let i = 0;
    while (sent < 10 * 1024 * 1024) {
      const chunk = i === 0 ? Uint8Array.from([...first, ...filler.subarray(first.length)]) : filler;
      events.push(...p.push(seg(chunk, i++)));
      sent += chunk.length;
      assert.ok(p.bufferedBytes <= 65536, `buffer grew to ${p.bufferedBytes}`);
    }
    events.push(...p.push(seg('GET /ok HTTP/1.1\r\nHost: a\r\n\r\n', i)));
    assert.deepEqual(
      events.map((e) => (e.kind === 'error' ? e.reason : e.message.target)),
      ['head exceeds maxHeaderBytes (65536)', '/ok'],
      `segments of ${size}`,
    );
    assert.ok(p.bufferedBytes <= 4096);
  }
});

test('bad options are refused at construction', () => {
  assert.throws(() => new Http1Parser({ side: 'both' as 'request' }), (e) => isKindlingError(e, 'KINDLING_ERR_INVALID_OPTION'));
  assert.throws(() => new Http1Parser({ side: 'request', maxHeaderBytes: 0 }), (e) => isKindlingError(e, 'KINDLING_ERR_INVALID_OPTION'));
});

test('a throwing requestMethod does not break parsing', () => {
  const r = run('response', undefined, [seg('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx', 0)], false, {
    requestMethod: () => {
      throw new Error('caller bug');
    },
  });
  assert.deepEqual([r.errors, r.messages[0]?.bodySize], [[], 1]);
});

test('looksLikeRequest and looksLikeResponse', () => {
  for (const s of ['GET / HTTP/1.1\r\n', 'POST /x', 'OPTIONS * HTTP/1.1', 'CONNECT host:443 HTTP/1.1', 'M-SEARCH * HTTP/1.1', 'GET ']) assert.ok(looksLikeRequest(bytes(s)), s);
  for (const s of ['GET', 'get / HTTP/1.1', 'GE / HTTP/1.1', 'GET  /', 'GET \x00', 'HTTP/1.1 200 OK', '\x16\x03\x01', '', 'ABCDEFGHIJKLMNOPQRSTU /']) assert.ok(!looksLikeRequest(bytes(s)), s);
  for (const s of ['HTTP/1.1 200 OK\r\n', 'HTTP/1.0 404', 'HTTP/1.1 ']) assert.ok(looksLikeResponse(bytes(s)), s);
  for (const s of ['HTTP/1.1', 'HTTP/2 200', 'HTTP/1.2 200', 'HTTP/1.1 OK', 'http/1.1 200', 'GET / HTTP/1.1']) assert.ok(!looksLikeResponse(bytes(s)), s);
});

// ---- properties --------------------------------------------------------------------------

/** Random segments of random bytes, each possibly captured short of its length. */
const randomSegments = fc.array(
  fc.record({ data: fc.uint8Array({ maxLength: 300 }), extra: fc.oneof(fc.constant(0), fc.nat(5000)) }),
  { maxLength: 20 },
);

function pushAll(side: 'request' | 'response', segs: Array<{ data: Uint8Array; extra: number }>, close: boolean): Run {
  const r = run(
    side,
    ['GET', 'HEAD', 'CONNECT', 'POST'],
    segs.map((s, i) => seg(s.data, i, s.data.length + s.extra)),
    close,
    { maxHeaderBytes: 256 },
  );
  for (const e of r.errors) assert.ok(!e.startsWith('internal'), e);
  assert.ok(r.parser.bufferedBytes <= 256);
  return r;
}

test('property: random bytes in random segments never throw', () => {
  fc.assert(
    fc.property(fc.constantFrom<'request' | 'response'>('request', 'response'), randomSegments, fc.boolean(), (side, segs, close) => {
      pushAll(side, segs, close);
    }),
    { numRuns: 2000 },
  );
});

test('property: HTTP-looking noise never throws', () => {
  const token = fc.constantFrom('GET ', 'HTTP/1.1 ', '200 ', '101 ', '/ ', 'HTTP/1.0', '\r\n', '\n', '\r\n\r\n', 'Content-Length: ', 'Transfer-Encoding: chunked', '5', 'ffff', ';x', ': ', 'Host', ' ', 'abc');
  const text = fc.array(token, { maxLength: 40 }).map((a) => bytes(a.join('')));
  fc.assert(
    fc.property(fc.constantFrom<'request' | 'response'>('request', 'response'), text, fc.array(fc.nat(), { maxLength: 5 }), fc.nat(3), (side, b, cuts, extra) => {
      const starts = [0, ...cuts.map((c) => (b.length ? c % b.length : 0))].sort((x, y) => x - y);
      const segs = segmentsAt(b, [...new Set(starts)]).map((s) => ({ data: s.data, extra }));
      pushAll(side, segs, true);
    }),
    { numRuns: 3000 },
  );
});

test('property: mutated fixtures never throw nor yield more messages than segments + fixture messages', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...FIXTURES.filter((f) => f.segments.join('').length < 5000)),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 5 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      (f, edits, cuts) => {
        const l = layout(f);
        const b = l.stream.slice();
        for (const [at, v] of edits) b[at % b.length] = v;
        const starts = [...new Set([0, ...cuts.map((c) => c % b.length)])].sort((x, y) => x - y);
        const segs = segmentsAt(b, starts);
        const r = run(f.side, f.methods, segs, true);
        for (const e of r.errors) assert.ok(!e.startsWith('internal'), e);
        assert.ok(r.messages.length <= segs.length + f.messages.length, `${r.messages.length} messages`);
      },
    ),
    { numRuns: 2000 },
  );
});

/** A random valid request and what it must parse to. */
const request = fc
  .record({
    method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
    path: fc.stringMatching(/^\/[a-z0-9/?=&%-]{0,30}$/),
    host: fc.option(fc.stringMatching(/^[a-z][a-z0-9.-]{0,20}$/), { nil: undefined }),
    lf: fc.boolean(),
    body: fc.oneof(
      fc.constant<{ kind: 'none' }>({ kind: 'none' }),
      fc.record({ kind: fc.constant<'length'>('length'), data: fc.string({ maxLength: 40 }) }),
      fc.record({ kind: fc.constant<'chunked'>('chunked'), chunks: fc.array(fc.string({ minLength: 1, maxLength: 20 }), { maxLength: 4 }) }),
    ),
  })
  .map((r) => {
    const eol = r.lf ? '\n' : '\r\n';
    let head = `${r.method} ${r.path} HTTP/1.1${eol}`;
    if (r.host !== undefined) head += `Host: ${r.host}${eol}`;
    head += `X-Other: 1${eol}`;
    let body = '';
    let bodySize = 0;
    if (r.body.kind === 'length') {
      const data = Buffer.from(r.body.data, 'utf8').toString('latin1');
      head += `Content-Length: ${data.length}${eol}`;
      body = data;
      bodySize = data.length;
    } else if (r.body.kind === 'chunked') {
      head += `Transfer-Encoding: chunked${eol}`;
      for (const c of r.body.chunks) {
        const data = Buffer.from(c, 'utf8').toString('latin1');
        body += `${data.length.toString(16)}\r\n${data}\r\n`;
        bodySize += data.length;
      }
      body += '0\r\n\r\n';
    }
    return { raw: `${head}${eol}${body}`, method: r.method, target: r.path, host: r.host, bodySize };
  });

test('property: a valid request stream in random segments parses as it does whole', () => {
  fc.assert(
    fc.property(fc.array(request, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 12 }), (reqs, cuts) => {
      const stream = bytes(reqs.map((r) => r.raw).join(''));
      const starts = [...new Set([0, ...cuts.map((c) => c % stream.length)])].sort((x, y) => x - y);
      const whole = run('request', undefined, segmentsAt(stream, [0]));
      const split = run('request', undefined, segmentsAt(stream, starts));
      assert.deepEqual(whole.errors, []);
      assert.deepEqual(split.errors, []);
      assert.deepEqual(
        whole.messages.map((m) => [m.method, m.target, m.headers.host, m.bodySize]),
        reqs.map((r) => [r.method, r.target, r.host, r.bodySize]),
      );
      const strip = (m: HttpMessage): Record<string, unknown> => ({ ...project(m), startNs: 0, endNs: 0 });
      assert.deepEqual(split.messages.map(strip), whole.messages.map(strip));
      // timing: the writes that carried each request's first and last bytes
      let at = 0;
      split.messages.forEach((m, i) => {
        const len = reqs[i]?.raw.length ?? 0;
        assert.equal(m.startNs, enterNs(segmentOf(starts, at)));
        assert.equal(m.endNs, exitNs(segmentOf(starts, at + len - 1)));
        at += len;
      });
    }),
    { numRuns: 1000 },
  );
});
