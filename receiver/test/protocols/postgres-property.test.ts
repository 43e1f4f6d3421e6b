// Generated PostgreSQL conversations: random mixes of simple queries (one or more
// statements, errors, empty), extended batches (several Executes, errors mid-batch,
// PortalSuspended, prepares without Execute), COPY, notices and notifications,
// cut into random segments. Whole: exactly one operation per Query and per
// Execute, with the right outcome. With random capture truncation: never a throw,
// never more operations than asked, every one sane, nothing left pending at close.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import * as fc from 'fast-check';
import * as m from './fixtures/postgres-messages';
import { run } from './fixtures/postgres-harness';
import type { Feed } from './fixtures/postgres-harness';

interface Cycle {
  req: Uint8Array;
  res: Uint8Array;
  /** the operations it makes: [operation, SQLSTATE or undefined] */
  ops: Array<[string, string | undefined]>;
}

const sql = fc.constantFrom('SELECT 1', 'UPDATE t SET a = 2 WHERE b = 3', 'INSERT INTO t VALUES (4)', 'DELETE FROM t WHERE a = 5');
const verbOf = (s: string): string => s.split(' ')[0] as string;
const tagOf = (s: string): string => ({ SELECT: 'SELECT 1', UPDATE: 'UPDATE 1', INSERT: 'INSERT 0 1', DELETE: 'DELETE 2' })[verbOf(s)] ?? 'OK';
const extras = fc.array(fc.constantFrom(m.notice('n'), m.notification('ch'), m.paramStatus('TimeZone', 'UTC')), { maxLength: 2 });

const simple: fc.Arbitrary<Cycle> = fc.tuple(fc.array(sql, { minLength: 1, maxLength: 3 }), fc.integer({ min: -1, max: 2 }), extras).map(([stmts, failAt, ex]) => {
  const parts: Uint8Array[] = [...ex];
  stmts.forEach((s, i) => {
    if (failAt >= 0 && i > failAt) return;
    if (i === failAt) parts.push(m.err('22012'));
    else parts.push(...(verbOf(s) === 'SELECT' ? [m.rowDesc('a'), m.dataRow('1')] : []), m.CC(tagOf(s)));
  });
  parts.push(m.Z());
  const failed = failAt >= 0 && failAt < stmts.length;
  return { req: m.Q(stmts.join('; ')), res: m.cat(...parts), ops: [[verbOf(stmts[0] as string), failed ? '22012' : undefined]] };
});

const extended: fc.Arbitrary<Cycle> = fc.tuple(fc.array(fc.tuple(sql, fc.boolean()), { minLength: 0, maxLength: 4 }), fc.integer({ min: -1, max: 3 }), extras).map(([execs, failAt, ex]) => {
  const req: Uint8Array[] = [];
  const res: Uint8Array[] = [...ex];
  const ops: Cycle['ops'] = [];
  let failed = false;
  execs.forEach(([s, named], i) => {
    req.push(named ? m.P(`s${i}`, s) : m.P('', s), m.B('', named ? `s${i}` : ''), m.D('P', ''), m.E(''));
    if (failed) return ops.push([verbOf(s), '22012']);
    if (i === failAt) {
      failed = true;
      res.push(m.one('1'), m.err('22012'));
      return ops.push([verbOf(s), '22012']);
    }
    res.push(m.one('1'), m.one('2'), verbOf(s) === 'SELECT' ? m.rowDesc('a') : m.one('n'), ...(verbOf(s) === 'SELECT' ? [m.dataRow('1')] : []), m.CC(tagOf(s)));
    ops.push([verbOf(s), undefined]);
  });
  // no Execute: a prepare, no operation
  if (execs.length === 0) req.push(m.P('only', 'SELECT 1'));
  res.push(...(execs.length === 0 ? [m.one('1')] : []), m.Z());
  req.push(m.S());
  return { req: m.cat(...req), res: m.cat(...res), ops };
});

const copyIn: fc.Arbitrary<Cycle> = fc.constant({
  req: m.cat(m.Q('COPY t FROM STDIN'), m.msg('d', Buffer.from('1\n')), m.msg('d', Buffer.from('2\n')), m.msg('c')),
  res: m.cat(m.msg('G', Buffer.from([0, 0, 0])), m.CC('COPY 2'), m.Z()),
  ops: [['COPY', undefined]],
});

const cycles = fc.array(fc.oneof({ weight: 3, arbitrary: simple }, { weight: 3, arbitrary: extended }, { weight: 1, arbitrary: copyIn }), { minLength: 1, maxLength: 8 });

/** The conversation as one end sees it: startup, then each cycle's request and answer, cut at `cuts`. */
function feeds(cs: Cycle[], cuts: number[], truncate?: { seg: number; keep: number }): Feed[] {
  const out: Feed[] = [];
  const reqAt = { true: 0, false: 0 };
  const add = (req: boolean, b: Uint8Array): void => {
    let start = 0;
    for (const c of [...cuts.map((x) => x % Math.max(b.length, 1)).filter((x) => x > 0).sort((x, y) => x - y), b.length]) {
      if (c <= start) continue;
      const data = b.subarray(start, c);
      out.push({ req, data, len: data.length, at: reqAt[String(req) as 'true' | 'false'] });
      reqAt[String(req) as 'true' | 'false'] += data.length;
      start = c;
    }
  };
  add(true, m.startup({ user: 'u', database: 'db' }));
  add(false, m.startupAnswer());
  for (const c of cs) {
    add(true, c.req);
    add(false, c.res);
  }
  if (truncate) {
    const j = truncate.seg % out.length;
    const f = out[j] as Feed;
    out[j] = { ...f, data: f.data.subarray(0, truncate.keep % (f.len + 1)) };
  }
  return out;
}

test('generated conversations, cut anywhere: exactly one operation per Query and per Execute, outcomes right', () => {
  fc.assert(
    fc.property(cycles, fc.array(fc.nat(), { maxLength: 4 }), (cs, cuts) => {
      const r = run(feeds(cs, cuts));
      const want = cs.flatMap((c) => c.ops);
      assert.deepEqual(r.ops.map((o) => [o.operation, o.statusCode]), want);
      assert.ok(r.ops.every((o) => o.namespace === 'db' && o.endNs >= o.startNs && o.failure === undefined));
      assert.deepEqual([r.stats.parseErrors, r.stats.unmatchedResponses, r.stats.expired], [0, 0, 0]);
    }),
    { numRuns: 1500 },
  );
});

test('generated conversations with one segment captured in part: no throw, no invented operation, nothing left pending', () => {
  fc.assert(
    fc.property(cycles, fc.array(fc.nat(), { maxLength: 4 }), fc.nat(), fc.nat(), (cs, cuts, seg, keep) => {
      const want = cs.flatMap((c) => c.ops);
      const r = run(feeds(cs, cuts, { seg, keep }));
      assert.ok(r.ops.length <= want.length, `${r.ops.length} operations for ${want.length} asked`);
      for (const o of r.ops) {
        assert.ok(o.endNs >= o.startNs);
        assert.ok(['SELECT', 'UPDATE', 'INSERT', 'DELETE', 'COPY', 'EXECUTE', 'QUERY'].includes(o.operation), o.operation);
        assert.ok(o.statusCode === undefined || o.statusCode === '22012');
      }
      assert.equal(r.conv.pending, 0);
    }),
    { numRuns: 1500 },
  );
});
