// MySQL / MariaDB sessions over bytes recorded from a real MariaDB 10.11 (fixtures/mysql-*.ts),
// as the client and as mariadbd saw them: whole, natural syscalls, byte by byte, split at
// every index, and every truncated prefix of every syscall's captured bytes.
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { DbOperationRecord } from '../../src/protocols/context';
import type { Role } from '../../src/protocols/types';
import { FIXTURE as CLI } from './fixtures/mysql-cli';
import { FIXTURE as DEPRECATE_EOF } from './fixtures/mysql-deprecate-eof';
import { FIXTURE as LOGIN_FAILED } from './fixtures/mysql-login-failed';
import { FIXTURE as PREPARED } from './fixtures/mysql-prepared';
import { byteSpans, enterNs, exitNs, fixtureSegments, indexAt, layout, project, resegment, runSession } from './fixtures/mysql-harness';
import type { Layout, Seg } from './fixtures/mysql-harness';
import type { ExpectedOp, MysqlFixture } from './fixtures/mysql-scenarios';

const FIXTURES: MysqlFixture[] = [CLI, PREPARED, DEPRECATE_EOF, LOGIN_FAILED];
const ROLES: Role[] = ['client', 'server'];

interface Timed extends ExpectedOp {
  startNs: number;
  endNs: number;
}

const timed = (r: DbOperationRecord): Timed => ({ ...project(r), startNs: r.startNs, endNs: r.endNs });

/** What every record must be when the stream is cut into `segs`: the fixture's operations, timed by byte offsets. */
function expectedFor(f: MysqlFixture, spans: Array<[number, number]>, segs: readonly Seg[]): Timed[] {
  return f.expected.map((e, i) => {
    const [a, b] = spans[i] ?? [0, 0];
    return { ...e, startNs: enterNs(indexAt(segs, a)), endNs: exitNs(indexAt(segs, b)) };
  });
}

function check(f: MysqlFixture, role: Role, spans: Array<[number, number]>, segs: Seg[], what: string): void {
  const r = runSession(role, segs);
  assert.deepEqual(r.records.map(timed), expectedFor(f, spans, segs), `${f.name} as ${role} (${what})`);
  assert.equal(r.stats.parseErrors, 0, `${f.name} as ${role} (${what}): parse errors`);
  assert.equal(r.stats.unmatchedResponses, 0, `${f.name} as ${role} (${what}): unmatched responses`);
  assert.equal(r.stats.expired, 0, `${f.name} as ${role} (${what}): expired`);
}

describe('mysql fixtures', () => {
  for (const f of FIXTURES) {
    for (const role of ROLES) {
      const natural = fixtureSegments(f, role);
      const l: Layout = layout(natural);
      const base = runSession(role, natural);
      const spans = byteSpans(l, base.records);

      test(`${f.name} as ${role}: natural syscalls give the operations the client made`, () => {
        assert.deepEqual(base.records.map(project), f.expected, `${f.name} as ${role}`);
        for (const r of base.records) {
          assert.equal(r.system, 'mariadb');
          assert.equal(r.role, role);
          assert.ok(r.endNs >= r.startNs);
        }
        assert.equal(base.stats.requests - base.stats.exchanges, base.records.length === 0 ? 0 : 1, 'every command answered (COM_QUIT excepted)');
        assert.equal(base.session.info.user, 'kindling');
        if (f.noOperations) assert.equal(base.session.info.stopped, 'login_failed');
        // exact timing against the raw segments: a record starts where a syscall starts
        for (const [a, b] of spans) {
          assert.ok(l.starts.includes(a), 'a request starts a syscall');
          assert.ok(l.starts.includes(b + 1) || b + 1 === l.stream.length, 'a response ends a syscall');
        }
      });

      test(`${f.name} as ${role}: whole turns, byte by byte`, () => {
        check(f, role, spans, resegment(l, []), 'each direction turn in one segment');
        check(f, role, spans, resegment(l, Array.from({ length: l.stream.length }, (_, i) => i)), 'byte by byte');
      });

      test(`${f.name} as ${role}: split at every index`, () => {
        for (let k = 1; k < l.stream.length; k++) check(f, role, spans, resegment(l, [...l.starts, k]), `split at ${k}`);
      });

      test(`${f.name} as ${role}: every truncated prefix of every syscall`, () => {
        const exact = expectedFor(f, spans, natural);
        for (let j = 0; j < natural.length; j++) {
          const seg = natural[j];
          if (!seg) continue;
          for (let k = 0; k < seg.data.length; k++) {
            const segs = natural.map((s, i) => (i === j ? { ...s, data: s.data.subarray(0, k) } : s));
            checkTruncated(l, exact, spans, runSession(role, segs).records.map(timed), j, `${f.name} as ${role}: syscall ${j} captured ${k}/${seg.len}`);
          }
        }
      });
    }
  }
});

/**
 * With syscall `j` truncated, at most one operation (the one whose command header was
 * cut) may be missing. Operations that end before syscall j are exact. Every other one
 * is compatible: the fields it reports agree (names may fall back to the command's name,
 * a cut text ends in '…'), and it ends no earlier. Once the next command after syscall j
 * has begun, the responses are read exactly again: status and rows are exact, and so is
 * the timing; only names may still fall back (an EXECUTE whose PREPARE was lost).
 */
function checkTruncated(l: Layout, exact: Timed[], spans: Array<[number, number]>, got: Timed[], j: number, what: string): void {
  const jStart = l.starts[j] ?? 0;
  const jEnd = (l.starts[j + 1] ?? l.stream.length) - 1;
  const firstAfter = spans.findIndex(([a]) => a > jEnd);
  assert.ok(got.length >= exact.length - 1 && got.length <= exact.length, `${what}: ${got.length} records for ${exact.length} operations`);
  let e = 0;
  for (const g of got) {
    let matched = false;
    while (e < exact.length && !matched) {
      const x = exact[e] as Timed;
      const [, b] = spans[e] ?? [0, 0];
      if (b < jStart) matched = deepEq(g, x);
      else if (firstAfter >= 0 && e > firstAfter) matched = compatible(g, x) && g.endNs === x.endNs && g.statusCode === x.statusCode && g.returnedRows === x.returnedRows;
      else matched = compatible(g, x);
      if (!matched && b < jStart) assert.fail(`${what}: record ${JSON.stringify(g)} should be ${JSON.stringify(x)}`);
      e++;
    }
    assert.ok(matched, `${what}: unexpected record ${JSON.stringify(g)}`);
  }
}

function compatible(g: Timed, x: Timed): boolean {
  const opt = (v: unknown, w: unknown): boolean => v === undefined || v === w;
  const fallback = g.operation === x.operation || /^COM_(QUERY|UNKNOWN|STMT_EXECUTE|STMT_PREPARE)$/.test(g.operation);
  return (
    fallback &&
    g.startNs === x.startNs &&
    g.endNs >= x.endNs &&
    opt(g.statusCode, x.statusCode) &&
    opt(g.returnedRows, x.returnedRows) &&
    // a COM_INIT_DB whose byte was lost is reported in the schema it left
    (opt(g.namespace, x.namespace) || (g.operation === 'COM_UNKNOWN' && x.operation === 'COM_INIT_DB')) &&
    opt(g.collection, x.collection) &&
    // a cut text ends in '…' and starts like the whole one
    (g.queryText === undefined || g.queryText === x.queryText || (g.queryText.endsWith('…') && (x.queryText ?? '').startsWith(g.queryText.split(/[\s…]/)[0] ?? '')))
  );
}

function deepEq(a: unknown, b: unknown): boolean {
  try {
    assert.deepEqual(a, b);
    return true;
  } catch {
    return false;
  }
}
