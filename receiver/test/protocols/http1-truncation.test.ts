// HTTP/1 messages cut short: writes captured to a prefix, and connections closed
// mid-message (end()).
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { Http1Parser } from '../../src/protocols/http1';
import { bytes, enterNs, exitNs, run, seg } from './fixtures/http1-harness';

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
