// The PostgreSQL detector and session: strict detection, joining connections
// mid-stream, the startup variants, extended-protocol pairing rules, truncation,
// expiry and close, from events shaped like the kernel's.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import * as fc from 'fast-check';
import { Connection } from '../../src/conn/connection';
import { decodeBatch } from '../../src/events/decode';
import { SockEvent } from '../../src/events/types';
import { emptyStats } from '../../src/protocols/context';
import type { DbOperationRecord, ProtocolContext, ProtocolStats } from '../../src/protocols/context';
import { postgresDetector } from '../../src/protocols/postgres';
import type { Role } from '../../src/protocols/types';
import { sockRecord } from '../helpers/records';
import { FIXTURES } from './fixtures/postgres';
import * as m from './fixtures/postgres-messages';

let t = 1_000_000;

function ev(direction: 1 | 2, payload: Uint8Array, len = payload.length, tid = 101): SockEvent {
  t += 1000;
  const rec = sockRecord({ direction, hook: direction === 1 ? 2 : 1, payload: Buffer.from(payload), len: BigInt(len), ret: BigInt(len), enterNs: BigInt(t), exitNs: BigInt(t + 500), tid, localPort: 40000, remotePort: 5432 });
  return decodeBatch(rec).events[0] as SockEvent;
}

interface Live {
  ops: DbOperationRecord[];
  stats: ProtocolStats;
  /** bytes the frontend sent / the backend sent, as this end saw them */
  req(b: Uint8Array, len?: number): SockEvent;
  res(b: Uint8Array, len?: number): SockEvent;
  close(): void;
  expire(nowNs: number): void;
  conn: Connection;
}

function ctx(o: Partial<ProtocolContext> = {}): { ctx: ProtocolContext; ops: DbOperationRecord[]; stats: ProtocolStats } {
  const ops: DbOperationRecord[] = [];
  const stats = emptyStats();
  const c: ProtocolContext = {
    db: { onOperation: (r) => ops.push(r) },
    dns: { onLookup: () => undefined },
    names: { learn: () => undefined },
    stats: () => stats,
    timeoutNs: 1e9,
    maxPending: 64,
    fingerprint: true,
    ...o,
  };
  return { ctx: c, ops, stats };
}

/** A session as detection makes it: on the first bytes the frontend sent. */
function live(role: Role, first: Uint8Array, o: Partial<ProtocolContext> = {}): Live {
  const { ctx: c, ops, stats } = ctx(o);
  const d = postgresDetector(c);
  const out = role === 'client' ? 1 : 2;
  const inn = role === 'client' ? 2 : 1;
  const firstEv = ev(out as 1 | 2, first);
  const conn = new Connection(firstEv);
  assert.equal(d.detect(out === 1 ? 'egress' : 'ingress', first, { transport: 'tcp', localPort: 40000, remotePort: 5432 }), role, 'detected');
  const s = d.create(role, conn);
  s.onData(conn, firstEv);
  return {
    ops,
    stats,
    conn,
    req: (b, len) => {
      const e = ev(out as 1 | 2, b, len);
      s.onData(conn, e);
      return e;
    },
    res: (b, len) => {
      const e = ev(inn as 1 | 2, b, len, 202);
      s.onData(conn, e);
      return e;
    },
    close: () => s.onClose(conn, t + 10_000, 'closed'),
    expire: (now) => s.expire(conn, now),
  };
}

const detect = (b: Uint8Array, dir: 'egress' | 'ingress' = 'egress'): Role | undefined =>
  postgresDetector(ctx().ctx).detect(dir, b, { transport: 'tcp', localPort: 1, remotePort: 2 });
const latin1 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
const brief = (r: DbOperationRecord): unknown[] => [r.operation, r.queryText, r.statusCode, r.returnedRows, r.failure];

// ---- detection -----------------------------------------------------------------------------

test('detection: the startup-phase messages, by whoever sends them', () => {
  for (const f of FIXTURES) {
    const first = new Uint8Array(Buffer.from(f.conn.client[0]?.[1] ?? '', 'base64'));
    assert.equal(detect(first, 'egress'), 'client', f.name);
    assert.equal(detect(first, 'ingress'), 'server', f.name);
  }
  assert.equal(detect(m.gssencRequest()), 'client');
  assert.equal(detect(m.startup({ user: 'u' })), 'client');
  // a StartupMessage captured only in part still has a user name coming
  assert.equal(detect(m.startup({ user: 'app', database: 'orders' }).subarray(0, 20)), 'client');
});

test('detection is strict: near misses and other protocols are not PostgreSQL', () => {
  const no: Array<[string, Uint8Array]> = [
    ['SSLRequest with a byte more', m.cat(m.sslRequest(), latin1('x'))],
    ['startup without user', m.startup({ database: 'x' })],
    ['startup, protocol 2', (() => { const b = m.startup({ user: 'u' }); b[5] = 2; return b; })()],
    ['startup, wrong length', (() => { const b = m.startup({ user: 'u' }); b[3] = (b[3] ?? 0) + 1; return b; })()],
    ['HTTP', latin1('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
    ['POST', latin1('POST /x HTTP/1.1\r\n\r\n')],
    ['Redis', latin1('*1\r\n$4\r\nPING\r\n')],
    ['TLS ClientHello', latin1('\x16\x03\x01\x01\x20\x01\x00\x01\x1c\x03\x03')],
    ['MySQL COM_QUERY', latin1('\x09\x00\x00\x00\x03SELECT 1')],
    ['Q that is not SQL', m.Q('hello world')],
    ['two Q in one write', m.cat(m.Q('SELECT 1'), m.Q('SELECT 2'))],
    ['Q cut short', m.Q('SELECT 1').subarray(0, 8)],
    ['Parse without Sync', m.cat(m.P('', 'SELECT 1'), m.B('', ''), m.E(''))],
    ['Bind alone', m.cat(m.B('', 's1'), m.S()).subarray(0, 12)],
    ['a backend answer', m.cat(m.CC('SELECT 1'), m.Z())],
    ['empty', new Uint8Array(0)],
  ];
  for (const [what, b] of no) assert.equal(detect(b), undefined, what);
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 64 }), (b) => detect(b) === undefined),
    { numRuns: 20000 },
  );
});

test('detection mid-stream (the agent started after the startup): a whole simple Query, or a batch ending with Sync', () => {
  assert.equal(detect(m.Q('SELECT 1')), 'client');
  assert.equal(detect(m.Q('  with x as (select 1) select * from x'), 'ingress'), 'server');
  assert.equal(detect(m.cat(m.P('', 'UPDATE t SET a = $1'), m.B('', '', ['1']), m.D('P', ''), m.E(''), m.S())), 'client');
  assert.equal(detect(m.cat(m.B('', 'P_1', ['42']), m.D('P', ''), m.E(''), m.S())), 'client');
  assert.equal(detect(m.cat(m.P('s1', 'SELECT 1'), m.S())), 'client');
});

// ---- sessions ------------------------------------------------------------------------------

test('a client seen from its startup: records carry system, role, namespace (default the user), the connection and threads', () => {
  const s = live('client', m.startup({ user: 'alice' }));
  s.res(m.startupAnswer());
  const q = s.req(m.Q('SELECT * FROM orders WHERE id = 42'));
  const a = s.res(m.cat(m.rowDesc('id'), m.dataRow('42'), m.CC('SELECT 1'), m.Z()));
  assert.equal(s.ops.length, 1);
  const r = s.ops[0] as DbOperationRecord;
  assert.deepEqual(
    [r.system, r.role, r.namespace, r.operation, r.collection, r.queryText, r.returnedRows, r.startNs, r.endNs, r.requestTid, r.responseTid, r.conn.remote.port],
    ['postgresql', 'client', 'alice', 'SELECT', 'orders', 'SELECT * FROM orders WHERE id = ?', 1, q.enterNs, a.exitNs, 101, 202, 5432],
  );
});

test('a postgres backend joined mid-stream: Query and prepared Executes of statements it never saw prepared', () => {
  const s = live('server', m.Q('BEGIN'));
  s.res(m.cat(m.CC('BEGIN'), m.Z('T')));
  s.req(m.cat(m.B('', 'P_1', ['5', '7']), m.D('P', ''), m.E(''), m.S()));
  s.res(m.cat(m.one('2'), m.one('n'), m.CC('UPDATE 1'), m.Z('T')));
  assert.deepEqual(s.ops.map((r) => [r.role, r.operation, r.queryText, r.namespace]), [
    ['server', 'BEGIN', 'BEGIN', undefined],
    ['server', 'UPDATE', undefined, undefined],
  ]);
});

test('GSSENCRequest refused then a startup; GSSENCRequest accepted: silence, no errors', () => {
  const refused = live('client', m.gssencRequest());
  refused.res(latin1('N'));
  refused.req(m.startup({ user: 'u', database: 'd' }));
  refused.res(m.startupAnswer());
  refused.req(m.Q('SELECT 1'));
  refused.res(m.cat(m.CC('SELECT 1'), m.Z()));
  assert.deepEqual(refused.ops.map((r) => [r.operation, r.namespace]), [['SELECT', 'd']]);
  const accepted = live('client', m.gssencRequest());
  accepted.res(latin1('G'));
  accepted.req(latin1('\x00\x00\x00\x40garbled gss token'));
  accepted.res(latin1('\x00\x00\x00\x20more gss'));
  accepted.close();
  assert.deepEqual([accepted.ops.length, accepted.stats.parseErrors, accepted.stats.unmatchedResponses], [0, 0, 0]);
});

test('CancelRequest: nothing to report', () => {
  const s = live('server', m.cancelRequest());
  s.close();
  assert.deepEqual([s.ops.length, s.stats.parseErrors, s.stats.requests], [0, 0, 0]);
});

test('failed authentication and an unsolicited FATAL are no operations', () => {
  const s = live('client', m.startup({ user: 'bob' }));
  s.res(m.fatal('28P01', 'password authentication failed'));
  s.close();
  const idle = live('client', m.Q('SELECT 1'));
  idle.res(m.cat(m.CC('SELECT 1'), m.Z()));
  idle.res(m.fatal('57P01', 'terminating connection due to administrator command'));
  idle.close();
  assert.deepEqual([s.ops.length, s.stats.expired, idle.ops.length, idle.stats.expired], [0, 0, 1, 0]);
});

test('pipelined batches: each Sync is its own batch; an error fails only the rest of its own', () => {
  const s = live('client', m.Q('SELECT 0'));
  s.res(m.cat(m.CC('SELECT 1'), m.Z()));
  s.req(m.cat(m.P('q', 'SELECT $1::int / $2::int'), m.S()));
  s.res(m.cat(m.one('1'), m.Z()));
  s.req(m.cat(m.B('', 'q', ['4', '2']), m.E(''), m.S(), m.B('', 'q', ['1', '0']), m.E(''), m.B('', 'q', ['9', '3']), m.E(''), m.S(), m.B('', 'q', ['8', '4']), m.E(''), m.S()));
  s.res(m.cat(m.one('2'), m.CC('SELECT 1'), m.Z(), m.one('2'), m.err('22012'), m.Z(), m.one('2'), m.CC('SELECT 1'), m.Z()));
  assert.deepEqual(s.ops.slice(1).map(brief), [
    ['SELECT', 'SELECT $1::int / $2::int', undefined, 1, undefined],
    ['SELECT', 'SELECT $1::int / $2::int', '22012', undefined, undefined],
    ['SELECT', 'SELECT $1::int / $2::int', '22012', undefined, undefined],
    ['SELECT', 'SELECT $1::int / $2::int', undefined, 1, undefined],
  ]);
  assert.deepEqual([s.stats.unmatchedResponses, s.stats.parseErrors], [0, 0]);
});

test('Executes sent after an error was already answered (Flush, then more) fail with it at Sync', () => {
  const s = live('client', m.startup({ user: 'u' }));
  s.res(m.startupAnswer());
  s.req(m.cat(m.P('', 'SELECT 1/0'), m.B('', ''), m.E(''), m.H()));
  s.res(m.cat(m.one('1'), m.one('2'), m.err('22012')));
  s.req(m.cat(m.B('', ''), m.E(''), m.S()));
  s.res(m.Z());
  assert.deepEqual(s.ops.map(brief), [
    ['SELECT', 'SELECT ?/?', '22012', undefined, undefined],
    ['SELECT', 'SELECT ?/?', '22012', undefined, undefined],
  ]);
});

test('PortalSuspended, empty query, FunctionCall, notices and notifications', () => {
  const s = live('client', m.startup({ user: 'u' }));
  s.res(m.startupAnswer());
  s.req(m.Q(''));
  s.res(m.cat(m.emptyQuery(), m.Z()));
  s.req(m.cat(m.P('', 'SELECT generate_series(1, 3)'), m.B('c', ''), m.E('c', 2), m.S()));
  s.res(m.cat(m.one('1'), m.one('2'), m.dataRow('1'), m.dataRow('2'), m.suspended(), m.notice('hi'), m.Z('T')));
  s.req(m.F());
  s.res(m.cat(m.funcResult(), m.Z()));
  s.res(m.notification('chan'));
  s.req(m.Q('LISTEN chan'));
  s.res(m.cat(m.notification('chan'), m.CC('LISTEN'), m.Z()));
  assert.deepEqual(s.ops.map(brief), [
    ['QUERY', undefined, undefined, undefined, undefined],
    ['SELECT', 'SELECT generate_series(?, ?)', undefined, undefined, undefined],
    ['LISTEN', 'LISTEN chan', undefined, undefined, undefined],
  ]);
  assert.deepEqual([s.stats.unmatchedResponses, s.stats.parseErrors, s.stats.expired], [0, 0, 0]);
});

test('no answer: timeout on expiry, connection_closed on close; past maxPending the oldest gives up', () => {
  const s = live('client', m.Q('SELECT pg_sleep(100)'));
  s.expire(t + 2e9);
  s.req(m.Q('SELECT 2'));
  s.close();
  assert.deepEqual(s.ops.map((r) => [r.operation, r.failure, r.errorType]), [
    ['SELECT', 'timeout', 'timeout'],
    ['SELECT', 'connection_closed', 'connection_closed'],
  ]);
  assert.equal(s.stats.expired, 2);
  const p = live('client', m.Q('SELECT 1'), { maxPending: 2 });
  p.req(m.Q('SELECT 2'));
  p.req(m.Q('SELECT 3'));
  assert.deepEqual(p.ops.map((r) => [r.queryText, r.failure]), [['SELECT ?', 'timeout']]);
});

test('an answer that began before its request was seen pairs with nothing', () => {
  const s = live('client', m.Q('SELECT 1'));
  s.res(m.cat(m.CC('SELECT 1'), m.Z()));
  // the agent missed a request; its answer comes: counted, no operation
  s.res(m.cat(m.CC('SELECT 1'), m.Z()));
  assert.deepEqual([s.ops.length, s.stats.unmatchedResponses], [1, 2]);
});

test('fingerprinting off: the text as sent', () => {
  const s = live('client', m.Q("SELECT * FROM t WHERE name = 'bob'"), { fingerprint: false });
  s.res(m.cat(m.CC('SELECT 0'), m.Z()));
  assert.equal(s.ops[0]?.queryText, "SELECT * FROM t WHERE name = 'bob'");
});

test('a long Parse captured 512 bytes: its batch tail unseen, the Execute is inferred from the answer', () => {
  const sql = `SELECT a, b, c FROM big_table WHERE ${Array.from({ length: 80 }, (_, i) => `col${i} = $${i + 1}`).join(' AND ')}`;
  const batch = m.cat(m.P('', sql), m.B('', '', ['1']), m.D('P', ''), m.E(''), m.S());
  const s = live('client', m.Q('SELECT 1'));
  s.res(m.cat(m.CC('SELECT 1'), m.Z()));
  s.req(batch.subarray(0, 512), batch.length);
  s.res(m.cat(m.one('1'), m.one('2'), m.rowDesc('a'), m.dataRow('x'), m.CC('SELECT 1'), m.Z()));
  const r = s.ops[1] as DbOperationRecord;
  assert.deepEqual([r.operation, r.collection, r.returnedRows, r.queryText?.endsWith('…'), r.queryText?.startsWith('SELECT a, b, c FROM big_table WHERE col0 = $1')], ['SELECT', 'big_table', 1, true, true]);
  // and the connection goes on in step
  s.req(m.Q('SELECT 3'));
  s.res(m.cat(m.CC('SELECT 1'), m.Z()));
  assert.deepEqual([s.ops.length, s.ops[2]?.queryText, s.stats.unmatchedResponses, s.stats.parseErrors], [3, 'SELECT ?', 0, 0]);
});

test('a statement text cut inside a word keeps no partial verb or table', () => {
  const batch = m.cat(m.P('', 'UPDATE pgbench_accounts SET abalance = 1'), m.B('', ''), m.E(''), m.S());
  const s = live('client', m.Q('SELECT 1'));
  s.res(m.cat(m.CC('SELECT 1'), m.Z()));
  s.req(batch.subarray(0, 5 + 1 + 15), batch.length); // "UPDATE pgbench_" was captured
  s.res(m.cat(m.one('1'), m.one('2'), m.CC('UPDATE 1'), m.Z()));
  assert.deepEqual([s.ops[1]?.operation, s.ops[1]?.collection, s.ops[1]?.queryText], ['UPDATE', undefined, 'UPDATE pgbench_…']);
});

test('named statements are bounded per connection: an evicted one is reported by its command tag', () => {
  const s = live('client', m.cat(m.P('s0', 'SELECT 0 FROM keep_me'), m.S()));
  s.res(m.cat(m.one('1'), m.Z()));
  for (let i = 1; i <= 300; i++) {
    s.req(m.cat(m.P(`s${i}`, `SELECT ${i} FROM t${i}`), m.S()));
    s.res(m.cat(m.one('1'), m.Z()));
  }
  s.req(m.cat(m.B('', 's0'), m.E(''), m.S(), m.B('', 's300'), m.E(''), m.S()));
  s.res(m.cat(m.one('2'), m.CC('SELECT 1'), m.Z(), m.one('2'), m.CC('SELECT 1'), m.Z()));
  assert.deepEqual(s.ops.map((r) => [r.operation, r.collection]), [
    ['SELECT', undefined],
    ['SELECT', 't300'],
  ]);
});

test('Terminate completes an answer whose end was never captured (a postgres backend exits without close)', () => {
  const s = live('server', m.Q('SELECT generate_series(1, 100000)'));
  const big = m.rows(3000);
  s.res(big.subarray(0, 512), 8192);
  s.res(big.subarray(8192, 8192 + 512), big.length - 8192);
  assert.equal(s.ops.length, 0);
  s.req(m.X());
  assert.deepEqual(s.ops.map(brief), [['SELECT', 'SELECT generate_series(?, ?)', undefined, undefined, undefined]]);
  assert.deepEqual([s.stats.exchanges, s.stats.expired, s.stats.parseErrors], [1, 0, 0]);
});

test('a 100,000-row answer in 8192-byte writes captured 512 bytes each: the count from its wholly captured last write', () => {
  const s = live('server', m.Q('SELECT generate_series(1, 100000)'));
  const big = m.rows(100000);
  // 8192-byte writes, the last 300 bytes a write of their own
  for (let at = 0; at < big.length - 300; ) {
    const n = Math.min(8192, big.length - 300 - at);
    s.res(big.subarray(at, at + Math.min(n, 512)), n);
    at += n;
  }
  s.res(big.subarray(big.length - 300));
  assert.deepEqual(s.ops.map(brief), [['SELECT', 'SELECT generate_series(?, ?)', undefined, 100000, undefined]]);
  assert.deepEqual([s.stats.parseErrors, s.stats.unmatchedResponses], [0, 0]);
});
