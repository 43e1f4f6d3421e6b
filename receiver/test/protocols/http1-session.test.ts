// The HTTP session on one connection: pairing, expiry and close, from real-shaped events.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBatch } from '../../src/events/decode';
import { SockEvent } from '../../src/events/types';
import { Connection } from '../../src/conn/connection';
import { Http1Session } from '../../src/protocols/http1-session';
import type { HttpExchange, HttpSessionStats, SpanIds } from '../../src/protocols/http1-session';
import { sockRecord } from '../helpers/records';

let t = 1_000_000;
function ev(direction: 1 | 2, text: string, len = Buffer.byteLength(text)): SockEvent {
  t += 1000;
  const rec = sockRecord({ direction, hook: direction === 1 ? 2 : 1, payload: Buffer.from(text, 'latin1'), len: BigInt(len), ret: BigInt(len), enterNs: BigInt(t), exitNs: BigInt(t + 500) });
  return decodeBatch(rec).events[0] as SockEvent;
}

function session(role: 'client' | 'server', timeoutNs = 1e9): { s: Http1Session; conn: Connection; out: HttpExchange[]; stats: HttpSessionStats } {
  const out: HttpExchange[] = [];
  const stats: HttpSessionStats = { requests: 0, exchanges: 0, parseErrors: 0, unmatchedResponses: 0, expired: 0 };
  let n = 0;
  const sink = { onRequest: (): SpanIds => ({ traceId: 't'.repeat(32), spanId: String(++n).padStart(16, '0') }), onExchange: (x: HttpExchange) => out.push(x) };
  const s = new Http1Session(role, { sink, stats, timeoutNs, maxPending: 4 });
  return { s, conn: new Connection(ev(1, 'x')), out, stats };
}

test('a HEAD answered in the same read as the next response has no body, and both pair', () => {
  const { s, conn, out } = session('client');
  s.onData(conn, ev(1, 'HEAD /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n'));
  s.onData(conn, ev(2, 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
  assert.deepEqual(out.map((x) => [x.request.method, x.request.target, x.response?.bodySize]), [['HEAD', '/a', 0], ['GET', '/b', 2]]);
});

test('100 Continue is not a response; the final one pairs', () => {
  const { s, conn, out } = session('server');
  s.onData(conn, ev(2, 'POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n'));
  s.onData(conn, ev(1, 'HTTP/1.1 100 Continue\r\n\r\n'));
  s.onData(conn, ev(2, 'abc'));
  s.onData(conn, ev(1, 'HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n'));
  assert.equal(out.length, 1);
  assert.equal(out[0]?.response?.status, 201);
  assert.equal(out[0]?.request.bodySize, 3);
});

test('a request with no response expires into an exchange with failure "timeout"; one on a closed connection with "connection_closed"', () => {
  const { s, conn, out, stats } = session('client', 1000);
  s.onData(conn, ev(1, 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\n'));
  s.expire(conn, t + 10_000);
  assert.equal(out[0]?.failure, 'timeout');
  assert.equal(stats.expired, 1);
  s.onData(conn, ev(1, 'GET /gone HTTP/1.1\r\nHost: x\r\n\r\n'));
  s.onClose(conn, t + 20_000, 'closed');
  assert.equal(out[1]?.failure, 'connection_closed');
  assert.equal(out[1]?.endNs, t + 20_000);
});

test('a response with no request is counted, not paired', () => {
  const { s, conn, out, stats } = session('client');
  s.onData(conn, ev(2, 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
  assert.equal(out.length, 0);
  assert.equal(stats.unmatchedResponses, 1);
});

test('past maxPending the oldest request is given up as expired', () => {
  const { s, conn, out } = session('client');
  for (let i = 0; i < 6; i++) s.onData(conn, ev(1, `GET /${i} HTTP/1.1\r\nHost: x\r\n\r\n`));
  assert.deepEqual(out.map((x) => [x.request.target, x.failure]), [['/0', 'timeout'], ['/1', 'timeout']]);
});

test('timing: start is the enter of the request read, end the exit of the write of the response last byte', () => {
  const { s, conn, out } = session('server');
  const req = ev(2, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const head = ev(1, 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n');
  const body = ev(1, 'body');
  s.onData(conn, req);
  s.onData(conn, head);
  s.onData(conn, body);
  assert.equal(out[0]?.startNs, req.enterNs);
  assert.equal(out[0]?.endNs, body.exitNs);
});
