// The memcached session: recorded conversations replayed as the client and as the
// server must yield exactly the listed operations; then quiet requests, opaques,
// binary stats, noreply, timeouts, close and capture gaps.
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Connection } from '../../src/conn/connection';
import type { DbOperationRecord, ProtocolContext, ProtocolStats } from '../../src/protocols/context';
import { emptyStats } from '../../src/protocols/context';
import { decodeBatch } from '../../src/events/decode';
import type { SockEvent } from '../../src/events/types';
import { memcachedDetector } from '../../src/protocols/memcached';
import type { MemcachedSession } from '../../src/protocols/memcached-session';
import type { Role } from '../../src/protocols/types';
import { sockRecord } from '../helpers/records';
import { MC_CONVERSATIONS } from './fixtures/memcached';
import type { ExpectedMcOp, McConversation } from './fixtures/memcached';

interface Harness {
  s: MemcachedSession;
  records: DbOperationRecord[];
  stats: ProtocolStats;
  conn: Connection;
  send(out: boolean, data: string | Uint8Array, len?: number): void;
  now(): number;
}

function harness(role: Role, o: { timeoutNs?: number } = {}): Harness {
  const records: DbOperationRecord[] = [];
  const stats = emptyStats();
  const ctx: ProtocolContext = {
    db: { onOperation: (r) => records.push(r) },
    dns: { onLookup: () => undefined },
    names: { learn: () => undefined },
    stats: () => stats,
    timeoutNs: o.timeoutNs ?? 30e9,
    maxPending: 1024,
    fingerprint: true,
  };
  const s = memcachedDetector(ctx).create(role, undefined as unknown as Connection) as MemcachedSession;
  let t = 1_000_000;
  let conn: Connection | undefined;
  return {
    s,
    records,
    stats,
    get conn() {
      return conn as Connection;
    },
    send(out, data, len) {
      const payload = typeof data === 'string' ? Buffer.from(data, 'latin1') : Buffer.from(data);
      const direction = out ? 1 : 2;
      t += 1000;
      const n = len ?? payload.length;
      const ev = decodeBatch(sockRecord({ direction, hook: direction === 1 ? 2 : 1, payload, len: BigInt(n), ret: BigInt(n), enterNs: BigInt(t), exitNs: BigInt(t + 500) })).events[0] as SockEvent;
      conn ??= new Connection(ev);
      s.onData(conn, ev);
    },
    now: () => t,
  };
}

function replay(c: McConversation, role: Role, split: boolean): Harness {
  const h = harness(role);
  for (const g of c.segments) {
    const out = role === 'client' ? g.out : !g.out;
    if (split && g.len === undefined) for (const ch of g.data) h.send(out, ch);
    else h.send(out, g.data, g.len);
  }
  h.s.onClose(h.conn, h.now() + 1000, 'closed');
  return h;
}

const project = (r: DbOperationRecord): ExpectedMcOp => {
  const p: ExpectedMcOp = { op: r.operation };
  if (r.statusCode !== undefined) p.status = r.statusCode;
  if (r.returnedRows !== undefined) p.rows = r.returnedRows;
  if (r.responseTid === undefined) p.noResponse = true;
  return p;
};

describe('recorded conversations', () => {
  for (const c of MC_CONVERSATIONS) {
    test(`${c.name}: the client's and the server's operations`, () => {
      for (const role of ['client', 'server'] as const) {
        for (const split of c.segments.some((g) => g.len !== undefined) ? [false] : [false, true]) {
          const h = replay(c, role, split);
          const what = `${role}${split ? ', one byte per syscall' : ''}`;
          assert.deepEqual(
            h.records.map(project),
            c.ops.map(({ text: _t, ...rest }) => rest),
            what,
          );
          c.ops.forEach((e, i) => e.text !== undefined && assert.equal(h.records[i]?.queryText, e.text, `${what}: op ${i}`));
          for (const r of h.records) {
            assert.equal(r.system, 'memcached');
            assert.equal(r.role, role);
            assert.ok(r.endNs >= r.startNs);
            assert.equal(r.failure, undefined);
          }
          assert.deepEqual([h.stats.parseErrors, h.stats.unmatchedResponses, h.stats.expired], [0, 0, 0], what);
        }
      }
    });
  }
});

const header = (magic: number, opcode: number, o: { key?: string; extras?: number; value?: number; opaque?: number; status?: number } = {}): Buffer => {
  const key = Buffer.from(o.key ?? '');
  const b = Buffer.alloc(24 + (o.extras ?? 0) + key.length + (o.value ?? 0));
  b[0] = magic;
  b[1] = opcode;
  b.writeUInt16BE(key.length, 2);
  b[4] = o.extras ?? 0;
  b.writeUInt16BE(o.status ?? 0, 6);
  b.writeUInt32BE((o.extras ?? 0) + key.length + (o.value ?? 0), 8);
  b.writeUInt32BE(o.opaque ?? 0, 12);
  key.copy(b, 24 + (o.extras ?? 0));
  return b;
};

test('binary: quiet gets answered only on a hit, paired by opcode and opaque; quiet sets complete at the no-op', () => {
  const h = harness('client');
  h.send(true, Buffer.concat([header(0x80, 0x09, { key: 'a', opaque: 1 }), header(0x80, 0x09, { key: 'b', opaque: 2 }), header(0x80, 0x11, { key: 'c', extras: 8, value: 1, opaque: 3 }), header(0x80, 0x0a, { opaque: 4 })]));
  h.send(false, Buffer.concat([header(0x81, 0x09, { extras: 4, value: 2, opaque: 2 }), header(0x81, 0x0a, { opaque: 4 })]));
  assert.deepEqual(
    h.records.map((r) => [r.operation, r.returnedRows, r.responseTid === undefined]),
    [
      ['get', 0, true],
      ['get', 1, false],
      ['set', undefined, true],
      ['noop', undefined, false],
    ],
  );
});

test('binary: stats answer with many packets; the empty one ends them', () => {
  const h = harness('client');
  h.send(true, header(0x80, 0x10, { opaque: 9 }));
  h.send(false, Buffer.concat([header(0x81, 0x10, { key: 'pid', value: 3, opaque: 9 }), header(0x81, 0x10, { key: 'uptime', value: 2, opaque: 9 })]));
  assert.equal(h.records.length, 0);
  h.send(false, header(0x81, 0x10, { opaque: 9 }));
  assert.deepEqual(h.records.map((r) => r.operation), ['stats']);
});

test('binary: error statuses by name; not found, exists and not stored are outcomes', () => {
  const h = harness('client');
  for (const [status, op] of [
    [0x0001, 0x00],
    [0x0002, 0x01],
    [0x0004, 0x01],
    [0x0081, 0x00],
    [0x0086, 0x00],
  ] as const) {
    h.send(true, header(0x80, op, { key: 'k', extras: op === 0x01 ? 8 : 0 }));
    h.send(false, header(0x81, op, { status }));
  }
  assert.deepEqual(
    h.records.map((r) => r.statusCode),
    [undefined, undefined, 'EINVAL', 'UNKNOWN_COMMAND', 'ETMPFAIL'],
  );
});

test('meta: a quiet request is answered by silence when the response is one it cannot send; opaques decide first', () => {
  const h = harness('client');
  h.send(true, 'mg a v q Oa1\r\nmg b v q Ob2\r\nmd c q\r\nmn\r\n');
  h.send(false, 'VA 1 Ob2\r\nx\r\nNF\r\nMN\r\n');
  assert.deepEqual(
    h.records.map((r) => [r.operation, r.queryText, r.returnedRows, r.responseTid === undefined]),
    [
      ['mg', 'mg ? v q O', 0, true],
      ['mg', 'mg ? v q O', 1, false],
      ['md', 'md ? q', undefined, false],
      ['mn', 'mn', undefined, false],
    ],
  );
});

test('text: a request left without a response times out; one on a closed connection fails', () => {
  const h = harness('client', { timeoutNs: 10_000 });
  h.send(true, 'get slow\r\n');
  h.s.expire(h.conn, h.now() + 20_000);
  h.send(true, 'get gone\r\n');
  h.s.onClose(h.conn, h.now() + 5, 'closed');
  assert.deepEqual(
    h.records.map((r) => r.failure),
    ['timeout', 'connection_closed'],
  );
});

test('text: a response gap drops the requests it may answer; pairing resumes with the next request', () => {
  const h = harness('client');
  h.send(true, 'get big\r\nget other\r\n');
  // a VALUE line announcing 10 bytes, then the capture lost the END and the next response's line
  h.send(false, 'VALUE big 0 10\r\n0123456789\r\n', 4000);
  h.send(true, 'version\r\n');
  h.send(false, 'VERSION 1.6.18\r\n');
  assert.deepEqual(
    h.records.map((r) => [r.operation, r.returnedRows]),
    [
      ['get', 1],
      ['version', undefined],
    ],
  );
  assert.equal(h.stats.expired, 1);
});

test('text: garbage on the wire is a parse error; the next well-formed request pairs', () => {
  const h = harness('server');
  h.send(false, 'get a\r\n');
  h.send(true, 'END\r\n');
  h.send(false, 'set k 0 0 3\r\nabcdef\r\n');
  h.send(true, 'CLIENT_ERROR bad data chunk\r\n');
  h.send(false, 'get b\r\n');
  h.send(true, 'END\r\n');
  assert.ok(h.stats.parseErrors >= 1);
  assert.deepEqual(h.records.at(-1)?.operation, 'get');
  assert.equal(h.records.at(-1)?.returnedRows, 0);
});
