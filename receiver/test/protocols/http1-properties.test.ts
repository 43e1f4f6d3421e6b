// HTTP/1 parser properties (fast-check): noise never throws, and a valid request
// stream parses the same whatever its segmentation.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import * as fc from 'fast-check';
import type { HttpMessage } from '../../src/protocols/http1';
import { FIXTURES } from './fixtures/http1';
import { bytes, enterNs, exitNs, layout, project, run, seg, segmentOf, segmentsAt } from './fixtures/http1-harness';
import type { Run } from './fixtures/http1-harness';

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
