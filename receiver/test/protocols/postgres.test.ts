// PostgreSQL parsing on connections recorded from a real PostgreSQL 15, both ends:
// whole, natural writes and reads, byte by byte, each direction split at every
// index, each segment split at every index, every truncated capture of each
// segment; random and mutated bytes never throw.
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as fc from 'fast-check';
import type { PgOperation } from '../../src/protocols/postgres-conversation';
import type { Role } from '../../src/protocols/types';
import { FIXTURES, ROWS_5000, SECRETS } from './fixtures/postgres';
import type { ExpectedOp, PgFixture } from './fixtures/postgres';
import { BASE, bytes, enterOf, exitOf, feedOf, run, splitAt, splitStream, streams, truncateAt, whole } from './fixtures/postgres-harness';
import type { Feed, Streams } from './fixtures/postgres-harness';

const ROLES: Role[] = ['client', 'server'];

function fields(op: PgOperation): Record<string, unknown> {
  const { operation, collection, queryText, statusCode, errorType, returnedRows, batchSize, namespace, failure } = op;
  return { operation, collection, queryText, statusCode, errorType, returnedRows, batchSize, namespace, failure };
}

function want(f: PgFixture, e: ExpectedOp): Record<string, unknown> {
  const { operation, collection, queryText, statusCode, errorType, returnedRows, batchSize } = e;
  return { operation, collection, queryText, statusCode, errorType, returnedRows, batchSize, namespace: f.namespace, failure: undefined };
}

/** Each operation's first request byte and last response byte, from a run one byte per segment. */
interface Positions {
  first: number[];
  last: number[];
}

function positions(s: Streams): Positions {
  const r = run(bytes(s.natural));
  return { first: r.ops.map((o) => o.startNs % BASE), last: r.ops.map((o) => (o.endNs % BASE) - 1) };
}

function check(f: PgFixture, feeds: Feed[], p: Positions, what: string): void {
  const r = run(feeds);
  assert.deepEqual(r.ops.map(fields), f.ops.map((e) => want(f, e)), `${f.name} (${what})`);
  const times = r.ops.map((o) => [o.startNs, o.endNs]);
  const expected = f.ops.map((_, i) => {
    const a = feedOf(feeds, true, p.first[i] ?? -1);
    const b = feedOf(feeds, false, p.last[i] ?? -1);
    return [enterOf(a, feeds[a] as Feed), exitOf(b, feeds[b] as Feed)];
  });
  assert.deepEqual(times, expected, `${f.name} (${what}): start and end`);
  assert.deepEqual(r.stats, { requests: f.ops.length, exchanges: f.ops.length, parseErrors: 0, unmatchedResponses: 0, expired: 0 }, `${f.name} (${what}): counters`);
  assert.equal(r.conv.pending, 0, `${f.name} (${what}): nothing left pending`);
}

describe('postgres fixtures', () => {
  for (const f of FIXTURES) {
    const client = streams(f.conn, 'client');
    const server = streams(f.conn, 'server');
    const p = positions(client);

    test(`${f.name}: natural, whole, byte by byte, on both ends`, () => {
      // ground truth: the hand-checked segments of the client's own writes and reads
      const r = run(client.natural);
      assert.deepEqual(
        r.ops.map((o) => [Math.floor(o.startNs / BASE) - 1, Math.floor(o.endNs / BASE) - 1]),
        f.ops.map((e) => e.seg),
        `${f.name}: client segments`,
      );
      // the server saw the same bytes, cut its own way
      assert.deepEqual(positions(server), p, `${f.name}: the same bytes start and end each operation on both ends`);
      for (const [role, s] of [['client', client], ['server', server]] as const) {
        check(f, s.natural, p, `${role} natural`);
        check(f, whole(s), p, `${role} whole`);
        check(f, bytes(s.natural), p, `${role} byte by byte`);
      }
    });

    test(`${f.name}: each direction split at every index`, () => {
      for (const req of [true, false]) {
        const n = (req ? client.req : client.res).length;
        for (let k = 1; k < n; k++) check(f, splitStream(client, req, k), p, `${req ? 'requests' : 'responses'} split at ${k}`);
      }
    });

    test(`${f.name}: each segment split at every index`, () => {
      for (const [role, s] of [['client', client], ['server', server]] as const) {
        s.natural.forEach((seg, j) => {
          for (let k = 1; k < seg.len; k++) check(f, splitAt(s.natural, j, k), p, `${role} segment ${j} split at ${k}`);
        });
      }
    });

    test(`${f.name}: every truncated capture of each segment`, () => {
      for (const role of ROLES) {
        const s = role === 'client' ? client : server;
        const natural = run(s.natural).ops;
        s.natural.forEach((seg, j) => {
          for (let k = 0; k < seg.len; k++) {
            const r = run(truncateAt(s.natural, j, k));
            checkTruncated(f, natural, r.ops, s.natural, j, `${f.name}: ${role} segment ${j} captured ${k}/${seg.len}`);
          }
        });
      }
    });
  }
});

/**
 * With segment j cut short, each operation reported is one of the full run's, in
 * order, exact or degraded (fields lost, never wrong); those wholly before segment
 * j are exact; none is invented.
 */
function checkTruncated(f: PgFixture, full: PgOperation[], got: PgOperation[], feeds: Feed[], j: number, what: string): void {
  let e = 0;
  for (const op of got) {
    let found = false;
    while (e < full.length && !found) {
      const x = full[e] as PgOperation;
      found = degraded(op, x);
      e++;
    }
    assert.ok(found, `${what}: unexpected ${JSON.stringify(fields(op))} (full run: ${JSON.stringify(full.map(fields))})`);
  }
  const next = feeds[j + 1];
  for (const x of full) {
    // wholly before the cut: exact
    if (x.endNs < enterOf(j, feeds[j] as Feed)) assert.ok(got.some((op) => JSON.stringify(op) === JSON.stringify(x)), `${what}: ${JSON.stringify(fields(x))} is before the cut and must be exact`);
    // asked after the next segment: framing is back, the operation is there (what the cut took, such as a
    // statement's text from a Parse or the database from the startup, stays unknown)
    if (next !== undefined && x.startNs > exitOf(j + 1, next)) assert.ok(got.some((op) => degraded(op, x) && op.endNs === x.endNs), `${what}: ${JSON.stringify(fields(x))} is after the cut and must be reported`);
  }
  assert.ok(got.length <= f.ops.length, `${what}: no more operations than the full run`);
}

/** Same operation, same start; every field it has agrees (text possibly cut, marked with …). */
function degraded(op: PgOperation, x: PgOperation): boolean {
  const same = (k: keyof PgOperation): boolean => op[k] === undefined || op[k] === x[k];
  const textOk = op.queryText === undefined || op.queryText === x.queryText || op.queryText.endsWith('…');
  const opOk = op.operation === x.operation || op.operation === 'EXECUTE' || op.operation === 'QUERY' || op.operation === x.queryText?.split(' ')[0];
  const errOk = op.errorType === undefined || op.errorType === x.errorType || (op.errorType === '_OTHER' && x.errorType !== undefined);
  return opOk && op.startNs === x.startNs && op.endNs >= op.startNs && textOk && errOk && same('statusCode') && same('returnedRows') && same('collection') && same('namespace') && (op.batchSize ?? 0) <= (x.batchSize ?? 1);
}

test('nothing secret reaches an operation: passwords, bind parameters, literals', () => {
  for (const f of FIXTURES) {
    for (const role of ROLES) {
      const text = JSON.stringify(run(streams(f.conn, role).natural).ops);
      for (const s of SECRETS) assert.ok(!text.includes(s), `${f.name} (${role}): ${s} reported`);
    }
  }
});

test('fingerprinting off: the statement text as sent', () => {
  const f = FIXTURES.find((x) => x.name === 'errors') as PgFixture;
  const r = run(streams(f.conn, 'client').natural, { fingerprint: false });
  assert.deepEqual(r.ops.map((o) => o.queryText).slice(0, 3), ['SELECT * FROM no_such_table', 'SELECT 1; SELECT 1/0; SELECT 3', 'SELECT 10 / $1::int AS q']);
});

test('5000 rows captured 512 bytes a write: one operation on each end; the row count where the tail was captured', () => {
  const client = run(streams(ROWS_5000, 'client', true).natural);
  const server = run(streams(ROWS_5000, 'server', true).natural);
  // the server's last write (229 bytes) was wholly captured: CommandComplete "SELECT 5000" and ReadyForQuery found from its end
  assert.deepEqual(server.ops.map(fields), [{ operation: 'SELECT', collection: undefined, queryText: 'SELECT generate_series(?, ?)', statusCode: undefined, errorType: undefined, returnedRows: 5000, batchSize: undefined, namespace: 'postgres', failure: undefined }]);
  // the client read the end within an 8434-byte read: never seen; the operation completes when the connection closes, at that read
  assert.deepEqual(client.ops.map(fields), [{ operation: 'SELECT', collection: undefined, queryText: 'SELECT generate_series(?, ?)', statusCode: undefined, errorType: undefined, returnedRows: undefined, batchSize: undefined, namespace: 'postgres', failure: undefined }]);
  const feeds = streams(ROWS_5000, 'client', true).natural;
  const lastRead = feeds.length - 2;
  assert.equal(client.ops[0]?.endNs, exitOf(lastRead, feeds[lastRead] as Feed));
  for (const r of [client, server]) assert.deepEqual([r.stats.parseErrors, r.stats.expired, r.stats.unmatchedResponses], [0, 0, 0]);
  // the server's writes are 8192 bytes: framing is lost in most, found again at some that start on a message, and at the end
  const b = server.conv.backend.stats;
  assert.ok(b.lost >= 1 && b.resyncs === b.lost, JSON.stringify(b));
  assert.ok(client.conv.backend.stats.lost === 1 && client.conv.backend.stats.resyncs === 0, JSON.stringify(client.conv.backend.stats));
});

// ---- bad input -----------------------------------------------------------------------------

const fixtureBytes = FIXTURES.filter((f) => f.ops.length > 0).map((f) => streams(f.conn, 'client'));

test('random bytes never throw, in any cut, on either direction', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.nat(2000)), { maxLength: 20 }), fc.boolean(), (segs, fromStartup) => {
      // some segments longer than captured
      const feeds: Feed[] = segs.map(([req, data, extra]) => ({ req, data, len: data.length + (extra % 3 === 0 ? extra : 0), at: 0 }));
      for (const r of [run(feeds, { fromStartup }), run(feeds.map((f) => ({ ...f, req: !f.req })), { fromStartup })]) {
        assert.ok(r.conv.frontend.bufferedBytes <= 16384 && r.conv.backend.bufferedBytes <= 16384);
        assert.equal(r.conv.pending, 0);
      }
    }),
    { numRuns: 2000 },
  );
});

test('mutated recordings never throw, keep memory bounded and report sane operations', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...fixtureBytes),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      (s, flips, cuts) => {
        const feeds = s.natural.map((f) => ({ ...f, data: new Uint8Array(f.data) }));
        for (const [at, v] of flips) {
          const f = feeds[at % feeds.length] as Feed;
          if (f.data.length > 0) f.data[(at >> 4) % f.data.length] = v;
        }
        let cut: Feed[] = feeds;
        for (const c of cuts) {
          const j = c % cut.length;
          const seg = cut[j] as Feed;
          if (seg.len > 1) cut = splitAt(cut, j, 1 + ((c >> 5) % (seg.len - 1)));
        }
        const r = run(cut);
        for (const op of r.ops) {
          assert.ok(op.endNs >= op.startNs, 'end after start');
          assert.equal(typeof op.operation, 'string');
        }
        assert.ok(r.conv.pending === 0, 'close drains');
      },
    ),
    { numRuns: 3000 },
  );
});

test('random cuts of every recording give exactly the natural operations', () => {
  for (const f of FIXTURES) {
    const s = streams(f.conn, 'server');
    const p = positions(streams(f.conn, 'client'));
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 10 }), (cuts) => {
        let feeds = s.natural;
        for (const c of cuts) {
          const j = c % feeds.length;
          const seg = feeds[j] as Feed;
          if (seg.len > 1) feeds = splitAt(feeds, j, 1 + ((c >> 5) % (seg.len - 1)));
        }
        check(f, feeds, p, `cuts ${JSON.stringify(cuts)}`);
      }),
      { numRuns: 100 },
    );
  }
});
