// The Redis session: recorded conversations replayed as the client and as the server
// (each must yield exactly the operations listed), then pairing corners: pipelines,
// CLIENT REPLY, timeouts and blocking commands, the queue bound, capture gaps.
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Connection } from '../../src/conn/connection';
import { decodeBatch } from '../../src/events/decode';
import type { SockEvent } from '../../src/events/types';
import { emptyStats } from '../../src/protocols/context';
import type { ProtocolContext, ProtocolStats } from '../../src/protocols/context';
import { looksLikeCommand, redisDetector } from '../../src/protocols/redis';
import { describe as describeCommand, quote } from '../../src/protocols/redis-command';
import { RedisSession } from '../../src/protocols/redis-session';
import type { RedisOperationRecord } from '../../src/protocols/redis-session';
import type { Role } from '../../src/protocols/types';
import { sockRecord } from '../helpers/records';
import { CONVERSATIONS } from './fixtures/redis';
import type { ExpectedOp, RedisConversation, Seg } from './fixtures/redis';
import { TRUNCATED } from './fixtures/redis-truncated';

interface Harness {
  s: RedisSession;
  conn: Connection;
  records: RedisOperationRecord[];
  stats: ProtocolStats;
  /** one syscall: `out` written by this process */
  send(out: boolean, data: string | Uint8Array, len?: number): void;
  now(): number;
}

function harness(role: Role, o: { fingerprint?: boolean; maxPending?: number; timeoutNs?: number; firstOffset?: number } = {}): Harness {
  const records: RedisOperationRecord[] = [];
  const stats = emptyStats();
  const ctx: ProtocolContext = {
    db: { onOperation: (r) => records.push(r as RedisOperationRecord) },
    dns: { onLookup: () => undefined },
    names: { learn: () => undefined },
    stats: () => stats,
    timeoutNs: o.timeoutNs ?? 30e9,
    maxPending: o.maxPending ?? 1024,
    fingerprint: o.fingerprint ?? true,
  };
  const s = redisDetector(ctx).create(role, undefined as unknown as Connection) as RedisSession;
  let t = 1_000_000;
  const offsets = { 1: o.firstOffset ?? 0, 2: o.firstOffset ?? 0 };
  let conn: Connection | undefined;
  const h: Harness = {
    s,
    records,
    stats,
    get conn() {
      return conn as Connection;
    },
    send(out, data, len) {
      const payload = typeof data === 'string' ? Buffer.from(data, 'latin1') : Buffer.from(data);
      const n = len ?? payload.length;
      // a client writes commands; a server reads them
      const direction = out ? 1 : 2;
      t += 1000;
      const rec = sockRecord({ direction, hook: direction === 1 ? 2 : 1, payload, len: BigInt(n), ret: BigInt(n), enterNs: BigInt(t), exitNs: BigInt(t + 500), offset: BigInt(offsets[direction]) });
      offsets[direction] += n;
      const ev = decodeBatch(rec).events[0] as SockEvent;
      conn ??= new Connection(ev);
      s.onData(conn, ev);
    },
    now: () => t,
  };
  return h;
}

/** Replays a client-side recording as `role` (a server sees the same bytes the other way). */
function replay(c: RedisConversation, role: Role, split = false): Harness {
  const h = harness(role);
  for (const g of c.segments) {
    const out = role === 'client' ? g.out : !g.out;
    if (split && g.len === undefined) for (const ch of g.data) h.send(out, ch);
    else h.send(out, g.data, g.len);
  }
  return h;
}

const project = (r: RedisOperationRecord): ExpectedOp => {
  const p: ExpectedOp = { op: r.operation };
  if (r.statusCode !== undefined) p.status = r.statusCode;
  if (r.errorType !== undefined && r.errorType !== r.statusCode) p.errorType = r.errorType;
  if (r.transaction !== undefined) p.tx = r.transaction;
  if (r.batchSize !== undefined) p.batch = r.batchSize;
  return p;
};
const expectedOf = (ops: ExpectedOp[]): ExpectedOp[] => ops.map(({ text: _t, ns: _n, ...rest }) => rest);

describe('recorded conversations', () => {
  for (const c of [...CONVERSATIONS, ...TRUNCATED]) {
    test(`${c.name}: the client's and the server's operations`, () => {
      for (const role of ['client', 'server'] as const) {
        const h = replay(c, role);
        assert.deepEqual(h.records.map(project), expectedOf(c.ops), `${role}`);
        c.ops.forEach((e, i) => {
          const r = h.records[i];
          if (e.text !== undefined) assert.equal(r?.queryText, e.text, `${role} op ${i} text`);
          assert.equal(r?.namespace, e.ns ?? '0', `${role} op ${i} namespace`);
          assert.equal(r?.role, role);
          assert.ok((r?.endNs ?? 0) > (r?.startNs ?? 0), `${role} op ${i} duration`);
        });
        assert.equal(h.stats.parseErrors, 0);
        // (replies in a capture gap are counted unmatched)
        if (!TRUNCATED.includes(c)) assert.equal(h.stats.unmatchedResponses, 0);
      }
    });
    if (!c.segments.some((g: Seg) => g.len !== undefined)) {
      test(`${c.name}: the same, one byte per syscall`, () => {
        assert.deepEqual(replay(c, 'client', true).records.map(project), expectedOf(c.ops));
      });
    }
  }
});

const cmd = (...a: string[]): string => `*${a.length}\r\n${a.map((x) => `$${Buffer.byteLength(x)}\r\n${x}\r\n`).join('')}`;

test('a pipeline answered in one read pairs in order, with each command\'s own start', () => {
  const h = harness('client');
  h.send(true, cmd('SET', 'a', '1') + cmd('GET', 'a'));
  h.send(true, cmd('INCR', 'a'));
  h.send(false, '+OK\r\n$1\r\n1\r\n:2\r\n');
  assert.deepEqual(h.records.map((r) => r.operation), ['SET', 'GET', 'INCR']);
  assert.equal(h.records[0]?.startNs, h.records[1]?.startNs);
  assert.ok((h.records[2]?.startNs ?? 0) > (h.records[1]?.startNs ?? 0));
  assert.equal(new Set(h.records.map((r) => r.endNs)).size, 1);
});

test('CLIENT REPLY OFF, SKIP and ON: commands that get no reply complete at the request', () => {
  const h = harness('client');
  h.send(true, cmd('CLIENT', 'REPLY', 'OFF') + cmd('SET', 'a', '1') + cmd('CLIENT', 'REPLY', 'ON'));
  h.send(false, '+OK\r\n');
  h.send(true, cmd('CLIENT', 'REPLY', 'SKIP') + cmd('SET', 'b', '1') + cmd('GET', 'b'));
  h.send(false, '$1\r\n1\r\n');
  assert.deepEqual(
    h.records.map((r) => [r.operation, r.responseTid === undefined]),
    [
      ['CLIENT REPLY', true],
      ['SET', true],
      ['CLIENT REPLY', false],
      ['CLIENT REPLY', true],
      ['SET', true],
      ['GET', false],
    ],
  );
});

test('MONITOR stops parsing: the stream of commands it relays is not replies', () => {
  const h = harness('client');
  h.send(true, cmd('MONITOR'));
  h.send(false, '+OK\r\n+1700000000.1 [0 127.0.0.1:1] "GET" "a"\r\n');
  h.send(false, '+1700000000.2 [0 127.0.0.1:1] "SET" "a" "b"\r\n');
  assert.deepEqual(h.records.map((r) => r.operation), ['MONITOR']);
  assert.equal(h.stats.unmatchedResponses, 0);
});

test('a RESP2 array reply that starts with "message" is a reply when nothing is subscribed', () => {
  const h = harness('client');
  h.send(true, cmd('LRANGE', 'l', '0', '-1'));
  h.send(false, '*3\r\n$7\r\nmessage\r\n$1\r\nx\r\n$1\r\ny\r\n');
  h.send(true, cmd('LRANGE', 'l', '0', '-1'));
  h.send(false, '*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:1\r\n');
  assert.deepEqual(h.records.map((r) => r.operation), ['LRANGE', 'LRANGE']);
});

test('RESP3 pushes that answer nothing (client tracking invalidations) are not replies', () => {
  const h = harness('client');
  h.send(true, cmd('GET', 'a'));
  h.send(false, '>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\na\r\n$1\r\nv\r\n');
  assert.deepEqual(h.records.map((r) => [r.operation, r.endNs - r.startNs > 0]), [['GET', true]]);
});

test('a timed-out command is reported once; its late reply is swallowed, not paired with the next', () => {
  const h = harness('client', { timeoutNs: 10_000 });
  h.send(true, cmd('KEYS', '*'));
  h.s.expire(h.conn, h.now() + 20_000);
  h.send(true, cmd('GET', 'a'));
  h.send(false, '*0\r\n');
  h.send(false, '$1\r\nv\r\n');
  assert.deepEqual(
    h.records.map((r) => [r.operation, r.failure]),
    [
      ['KEYS', 'timeout'],
      ['GET', undefined],
    ],
  );
});

test('a blocking command at the head is never expired, nor what waits behind it', () => {
  const h = harness('client', { timeoutNs: 10_000 });
  h.send(true, cmd('BLPOP', 'q', '0') + cmd('GET', 'a'));
  h.s.expire(h.conn, h.now() + 1e9);
  assert.equal(h.records.length, 0);
  h.send(false, '*2\r\n$1\r\nq\r\n$1\r\nx\r\n$-1\r\n');
  assert.deepEqual(h.records.map((r) => r.operation), ['BLPOP', 'GET']);
});

test('the close fails what is still waiting: connection_closed', () => {
  const h = harness('client');
  h.send(true, cmd('GET', 'a'));
  h.s.onClose(h.conn, h.now() + 5, 'closed');
  assert.deepEqual(h.records.map((r) => [r.operation, r.failure]), [['GET', 'connection_closed']]);
});

test('10,000 pipelined commands in one write, a 4096-byte prefix captured: bounded, counted, and the next exchange pairs', () => {
  const h = harness('server', { maxPending: 1024 });
  const all = Buffer.from(Array.from({ length: 10_000 }, (_, i) => cmd('SET', `k:${i}`, 'v')).join(''), 'latin1');
  h.send(false, all.subarray(0, 4096), all.length);
  assert.ok(h.s.pending <= 1025);
  const replies = Buffer.from('+OK\r\n'.repeat(10_000));
  for (let at = 0; at < replies.length; at += 16384) h.send(true, replies.subarray(at, Math.min(at + 4096, replies.length)), Math.min(16384, replies.length - at));
  const before = h.records.length;
  assert.ok(before > 50 && before < 200, `${before} records for the captured commands`);
  h.send(false, cmd('GET', 'after'));
  h.send(true, '$1\r\nv\r\n');
  assert.deepEqual(h.records.slice(before).map((r) => [r.operation, r.queryText, r.failure]), [['GET', 'GET ?', undefined]]);
  assert.ok(h.s.pending === 0);
});

test('a reply gap drops the commands it may answer, then pairs again from the next command on', () => {
  const h = harness('client');
  h.send(true, cmd('LRANGE', 'big', '0', '-1') + cmd('GET', 'a'));
  // the reply's array headers fall in bytes the capture did not copy
  h.send(false, '*1000\r\n$3\r\nabc\r\n$3\r\nabc\r\n', 20_000);
  h.send(false, '$3\r\nabc\r\n$1\r\nv\r\n', 9000); // still the old replies: ended before the next command
  h.send(true, cmd('INCR', 'n'));
  h.send(false, ':1\r\n');
  assert.deepEqual(h.records.map((r) => r.operation), ['LRANGE', 'INCR']);
  assert.equal(h.stats.expired, 1);
});

test('the database is unknown on a connection first seen mid-stream, until SELECT', () => {
  const h = harness('client', { firstOffset: 100 });
  h.send(true, cmd('GET', 'a'));
  h.send(false, '$-1\r\n');
  h.send(true, cmd('SELECT', '5'));
  h.send(false, '+OK\r\n');
  h.send(true, cmd('GET', 'a'));
  h.send(false, '$-1\r\n');
  assert.deepEqual(h.records.map((r) => r.namespace), [undefined, undefined, '5']);
});

test('operation names and query texts: two-word commands, unknown and module commands, unfingerprinted', () => {
  assert.deepEqual(describeCommand(['config', 'get', 'maxmemory'], 3, true), { name: 'CONFIG', op: 'CONFIG GET', text: 'CONFIG GET ?', args: ['get', 'maxmemory'], argc: 3 });
  assert.equal(describeCommand(['CLIENT', '\x00bad'], 2, true).op, 'CLIENT');
  assert.equal(describeCommand(['JSON.GET', 'k'], 2, true).op, 'JSON.GET');
  assert.equal(describeCommand(['\x01\x02'], 1, true).op, 'UNKNOWN');
  assert.equal(describeCommand(['SET', 'k', 'two words'], 3, false).text, 'SET k "two words"');
  assert.equal(describeCommand(['SET', 'k', undefined], 3, false).text, 'SET k ...');
  assert.equal(describeCommand(['MSET', 'a', 'b'], 40, false).text, 'MSET a b ...');
  assert.equal(quote('a\x00"b'), '"a\\x00\\"b"');
  const h = harness('client', { fingerprint: false });
  h.send(true, cmd('SET', 'user:1', 'hello'));
  h.send(false, '+OK\r\n');
  assert.equal(h.records[0]?.queryText, 'SET user:1 hello');
});

test('detection: a RESP array whose first bulk string is a command Redis has, wholly captured', () => {
  const b = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
  for (const s of [cmd('GET', 'k'), cmd('set', 'k', 'v'), cmd('PING'), cmd('CONFIG', 'GET', 'x'), '*1\r\n$4\r\nping\r\n']) assert.ok(looksLikeCommand(b(s)), JSON.stringify(s));
  for (const s of [cmd('NOPE'), '*1\r\n$4\r\nPIN', '*0\r\n', '*1\r\n:1\r\n', 'PING\r\n', 'GET / HTTP/1.1\r\n', '*1\r\n$5\r\nPING\r\n', '*x\r\n$3\r\nGET\r\n', '+OK\r\n']) {
    assert.ok(!looksLikeCommand(b(s)), JSON.stringify(s));
  }
  const d = redisDetector({} as ProtocolContext);
  const where = { transport: 'tcp' as const, localPort: 1, remotePort: 6379 };
  assert.equal(d.detect('egress', b(cmd('GET', 'k')), where), 'client');
  assert.equal(d.detect('ingress', b(cmd('GET', 'k')), where), 'server');
});
