// The whole agent on a recorded capture of real PostgreSQL 15 traffic (psql and a
// raw protocol client; receiver/test/fixtures/postgres.kdcap), without root:
// exactly one CLIENT span per operation each client made and one SERVER span per
// operation the postgres backends answered, with the database semantic conventions.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { DataPointType } from '@opentelemetry/sdk-metrics';
import { postgresDetector } from '../../src/protocols/postgres';
import { captureMeta, replayCapture } from '../helpers/replay';
import { PG_FIXTURE } from '../programs/postgres-record';
import type { RecordedScenario } from '../programs/postgres-record';
import { FIXTURES } from './fixtures/postgres';
import type { ExpectedOp } from './fixtures/postgres';

const meta = (): { port: number; scenarios: RecordedScenario[] } => captureMeta(PG_FIXTURE());

const replay = (): ReturnType<typeof replayCapture> => replayCapture(PG_FIXTURE(), [postgresDetector]);

const pid = (s: ReadableSpan): number => Number(s.resource.attributes['process.pid']);
const a = (s: ReadableSpan, k: string): unknown => s.attributes[k];

/** What a span says about its operation, comparable with an ExpectedOp. */
function said(s: ReadableSpan): string {
  return JSON.stringify([a(s, 'db.operation.name'), a(s, 'db.collection.name'), a(s, 'db.query.text'), a(s, 'db.response.status_code'), a(s, 'error.type'), a(s, 'db.response.returned_rows'), a(s, 'db.operation.batch.size')]);
}
const expected = (e: ExpectedOp): string => JSON.stringify([e.operation, e.collection, e.queryText, e.statusCode, e.errorType, e.returnedRows, e.batchSize]);

const ROWS_CLIENT: ExpectedOp = { operation: 'SELECT', queryText: 'SELECT generate_series(?, ?)', seg: [0, 0] };
const ROWS_SERVER: ExpectedOp = { ...ROWS_CLIENT, returnedRows: 5000 };

test('replayed PostgreSQL capture: one CLIENT span per operation made and one SERVER span per operation answered', async () => {
  const m = meta();
  const { spans, agent } = await replay();
  const clients = spans.filter((s) => s.kind === SpanKind.CLIENT);
  const servers = spans.filter((s) => s.kind === SpanKind.SERVER);
  assert.equal(spans.length, clients.length + servers.length);

  const all: string[] = [];
  for (const sc of m.scenarios) {
    const ops = sc.name === '5000 rows' ? [ROWS_CLIENT] : (FIXTURES.find((f) => f.name === sc.name)?.ops ?? assert.fail(`no fixture ${sc.name}`));
    const mine = clients.filter((s) => pid(s) === sc.pid).sort((x, y) => x.startTime[0] - y.startTime[0] || x.startTime[1] - y.startTime[1]);
    assert.deepEqual(mine.map(said), ops.map(expected), `${sc.name}: ${sc.tool}'s CLIENT spans`);
    all.push(...(sc.name === '5000 rows' ? [ROWS_SERVER] : ops).map(expected));
  }
  assert.equal(clients.length, all.length, 'no CLIENT span from anything else');
  // the backends answered every one of them (their own cut of the bytes: the 5000-row tail was captured there)
  assert.deepEqual(servers.map(said).sort(), all.sort(), 'SERVER spans');

  for (const s of [...clients, ...servers]) {
    const server = s.kind === SpanKind.SERVER;
    assert.equal(a(s, 'db.system.name'), 'postgresql');
    assert.equal(a(s, 'db.namespace'), 'postgres');
    assert.equal(a(s, 'server.port'), m.port);
    assert.equal(a(s, 'server.address'), '127.0.0.1');
    assert.equal(s.name, `${String(a(s, 'db.operation.name'))} ${String(a(s, 'db.collection.name') ?? 'postgres')}`);
    assert.equal(s.resource.attributes['service.name'], server ? 'postgres' : s.resource.attributes['process.executable.name']);
    assert.equal(s.status.code, a(s, 'error.type') ? SpanStatusCode.ERROR : SpanStatusCode.UNSET);
    assert.ok(s.duration[0] >= 0 && s.duration[0] < 5, 'a duration');
    if (server) assert.notEqual(a(s, 'network.peer.port'), m.port);
  }
  // each backend's span sits inside its client's: the same statements, timed from both ends
  const total = (xs: ReadableSpan[]): number => xs.reduce((n, s) => n + s.duration[0] * 1e9 + s.duration[1], 0);
  assert.ok(total(servers) < total(clients), 'the server side of each operation is shorter than the client side');

  const stats = agent.protocolStats.get('postgresql');
  assert.deepEqual(stats && [stats.requests, stats.exchanges, stats.parseErrors, stats.unmatchedResponses, stats.expired], [2 * all.length, 2 * all.length, 0, 0, 0]);

  const metric = agent.metrics
    .collect()
    .flatMap((r) => r.scopeMetrics.flatMap((sm) => sm.metrics))
    .filter((x) => x.descriptor.name === 'db.client.operation.duration');
  const points = metric.flatMap((x) => (x.dataPointType === DataPointType.HISTOGRAM ? (x.dataPoints as { value: { count: number } }[]) : []));
  assert.equal(points.reduce((n, p) => n + p.value.count, 0), all.length, 'db.client.operation.duration counts each client operation');
});
