// HTTP/1 heads: request and status lines, headers (allow-list, duplicates, malformed
// and oversized), and the looksLike* detectors.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { Http1Parser, looksLikeRequest, looksLikeResponse } from '../../src/protocols/http1';
import type { Http1Event } from '../../src/protocols/http1';
import { FIXTURES, SECRETS } from './fixtures/http1';
import { bytes, layout, run, runFixture, seg, segmentsAt } from './fixtures/http1-harness';

test('nothing outside the allow-list is kept', () => {
  for (const f of FIXTURES) {
    const l = layout(f);
    const r = runFixture(f, segmentsAt(l.stream, l.starts));
    const text = JSON.stringify(r.messages.map((m) => m.headers));
    for (const s of SECRETS) assert.ok(!text.includes(s), `${f.name}: ${s} retained`);
  }
});

test('status lines without a reason phrase', () => {
  const r = run('response', ['GET', 'GET'], [seg('HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n', 0)]);
  assert.deepEqual([r.errors, r.messages.map((m) => [m.status, m.bodySize])], [[], [[200, 1], [404, 0]]]);
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

test('looksLikeRequest and looksLikeResponse', () => {
  for (const s of ['GET / HTTP/1.1\r\n', 'POST /x', 'OPTIONS * HTTP/1.1', 'CONNECT host:443 HTTP/1.1', 'M-SEARCH * HTTP/1.1', 'GET ']) assert.ok(looksLikeRequest(bytes(s)), s);
  for (const s of ['GET', 'get / HTTP/1.1', 'GE / HTTP/1.1', 'GET  /', 'GET \x00', 'HTTP/1.1 200 OK', '\x16\x03\x01', '', 'ABCDEFGHIJKLMNOPQRSTU /']) assert.ok(!looksLikeRequest(bytes(s)), s);
  for (const s of ['HTTP/1.1 200 OK\r\n', 'HTTP/1.0 404', 'HTTP/1.1 ']) assert.ok(looksLikeResponse(bytes(s)), s);
  for (const s of ['HTTP/1.1', 'HTTP/2 200', 'HTTP/1.2 200', 'HTTP/1.1 OK', 'http/1.1 200', 'GET / HTTP/1.1']) assert.ok(!looksLikeResponse(bytes(s)), s);
});
