// Regression: a request whose head was cut off by the connection closing vanished
// without a trace (the session ended only the response parser on close).
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBatch } from '../../src/events/decode';
import type { SockEvent } from '../../src/events/types';
import { Connection } from '../../src/conn/connection';
import { Http1Session } from '../../src/protocols/http1-session';
import type { HttpExchange, HttpSessionStats } from '../../src/protocols/http1-session';
import { sockRecord } from '../helpers/records';

test('a request cut short by the close is counted and fails as connection_closed', () => {
  const text = 'GET /half HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n';
  const ev = decodeBatch(sockRecord({ direction: 2, hook: 1, payload: Buffer.from(text) })).events[0] as SockEvent;
  const out: HttpExchange[] = [];
  const stats: HttpSessionStats = { requests: 0, exchanges: 0, parseErrors: 0, unmatchedResponses: 0, expired: 0 };
  const s = new Http1Session('server', { sink: { onRequest: () => ({ traceId: 'a'.repeat(32), spanId: 'b'.repeat(16) }), onExchange: (x) => out.push(x) }, stats, timeoutNs: 1e9, maxPending: 8 });
  const conn = new Connection(ev);
  s.onData(conn, ev);
  s.onClose(conn, ev.exitNs + 1000, 'closed');
  assert.equal(stats.requests, 1);
  assert.equal(out.length, 1);
  assert.equal(out[0]?.request.target, '/half');
  assert.equal(out[0]?.request.truncated, true);
  assert.equal(out[0]?.failure, 'connection_closed');
});
