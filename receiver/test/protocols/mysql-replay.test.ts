// The whole pipeline without root: a capture of real MariaDB traffic at the default 512
// payload bytes (fixtures/mysql.kdcap, from mysql-record.ts) replayed through the agent
// with the MySQL detector, spans out, exact per connection and per side.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { mysqlDetector } from '../../src/protocols/mysql';
import { captureMeta, replayCapture } from '../helpers/replay';
import { MYSQL_KDCAP } from './fixtures/mysql-scenarios';
import { SCENARIOS } from './fixtures/mysql-scenarios';
import type { ExpectedOp } from './fixtures/mysql-scenarios';

interface Meta {
  mariadbPid: number;
  port: number;
  scenarios: Record<string, number>;
  bigPid: number;
}

const meta = (): Meta => captureMeta(MYSQL_KDCAP());

const replay = (): ReturnType<typeof replayCapture> => replayCapture(MYSQL_KDCAP(), [mysqlDetector]);

const pid = (s: ReadableSpan): number => Number(s.resource.attributes['process.pid']);
const start = (s: ReadableSpan): number => s.startTime[0] * 1e9 + s.startTime[1];

function view(s: ReadableSpan): ExpectedOp {
  const a = s.attributes;
  const out: ExpectedOp = { operation: String(a['db.operation.name']) };
  if (a['db.collection.name'] !== undefined) out.collection = String(a['db.collection.name']);
  if (a['db.namespace'] !== undefined) out.namespace = String(a['db.namespace']);
  if (a['db.query.text'] !== undefined) out.queryText = String(a['db.query.text']);
  if (a['db.response.status_code'] !== undefined) out.statusCode = String(a['db.response.status_code']);
  if (a['db.response.returned_rows'] !== undefined) out.returnedRows = Number(a['db.response.returned_rows']);
  return out;
}

/** What 512 captured bytes per syscall still show: a response longer than that loses its row count. */
function at512(e: ExpectedOp): ExpectedOp {
  const { step: _s, ...rest } = e;
  if (rest.queryText === 'SELECT seq FROM seq_1_to_150') delete rest.returnedRows;
  return rest;
}

test('replayed MariaDB traffic: each client and mariadbd report the same operations, exactly', async () => {
  const m = meta();
  const { spans, agent } = await replay();
  const db = spans.filter((s) => s.attributes['db.system.name'] !== undefined);
  const server = db.filter((s) => s.kind === SpanKind.SERVER);
  assert.ok(server.every((s) => pid(s) === m.mariadbPid && s.resource.attributes['service.name'] === 'mariadbd'));
  // mariadbd's spans, one group per connection (the client's port), in the order the scenarios ran
  const byConn = new Map<unknown, ReadableSpan[]>();
  for (const s of [...server].sort((a, b) => start(a) - start(b))) byConn.set(s.attributes['network.peer.port'], [...(byConn.get(s.attributes['network.peer.port']) ?? []), s]);
  const conns = [...byConn.values()];

  let c = 0;
  for (const sc of SCENARIOS) {
    const clientPid = m.scenarios[sc.name];
    const client = db.filter((s) => pid(s) === clientPid).sort((a, b) => start(a) - start(b));
    const want = sc.expected.map(at512);
    assert.deepEqual(client.map(view), want, `${sc.name}: client spans`);
    assert.ok(client.every((s) => s.kind === SpanKind.CLIENT && s.attributes['server.port'] === m.port && s.attributes['db.system.name'] === 'mariadb'));
    if (sc.noOperations) continue;
    assert.deepEqual((conns[c++] ?? []).map(view), want, `${sc.name}: mariadbd spans`);
  }
  // the 3,000-row result: no row count (its rows went past the capture), then the next query is exact again
  const big = db.filter((s) => pid(s) === m.bigPid).sort((a, b) => start(a) - start(b));
  const bigWant = [
    { operation: 'SELECT', collection: 'seq_1_to_3000', namespace: 'kdb', queryText: 'SELECT seq, seq * ? FROM seq_1_to_3000' },
    { operation: 'SELECT', namespace: 'kdb', queryText: 'SELECT ?', returnedRows: 1 },
  ];
  assert.deepEqual(big.map(view), bigWant, 'the big result, client side');
  assert.deepEqual((conns[c++] ?? []).map(view), bigWant, 'the big result, mariadbd side');
  assert.equal(conns.length, c, 'no other mariadbd connection');

  const failed = db.filter((s) => s.attributes['db.response.status_code'] === '1146');
  assert.ok(failed.length >= 4 && failed.every((s) => s.status.code === SpanStatusCode.ERROR && s.attributes['error.type'] === '1146'));
  assert.equal(db.find((s) => s.attributes['db.collection.name'] === 'items')?.name, 'INSERT items');
  const st = agent.protocolStats.get('mysql');
  assert.deepEqual({ parseErrors: st?.parseErrors, unmatched: st?.unmatchedResponses, expired: st?.expired }, { parseErrors: 0, unmatched: 0, expired: 0 });
});
