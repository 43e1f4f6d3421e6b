// HTTP/1 message framing on one connection: pipelining with 1xx and HEAD, large
// Content-Length bodies across writes, and protocol upgrades.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { Http1Parser } from '../../src/protocols/http1';
import type { Segment } from '../../src/protocols/types';
import { FIXTURES } from './fixtures/http1';
import { enterNs, exitNs, layout, run, runFixture, seg, segmentsAt } from './fixtures/http1-harness';

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

test('switchProtocols(): a request direction stops after its peer accepted an upgrade', () => {
  const p = new Http1Parser({ side: 'request' });
  assert.equal(p.push(seg('GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n', 0)).length, 1);
  p.switchProtocols();
  assert.deepEqual(p.push(seg('\x81\x85GET / HTTP/1.1\r\n\r\n', 1)), []);
  assert.deepEqual(p.stats, { messages: 1, errors: 0, resyncs: 0, skippedSegments: 1 });
});
