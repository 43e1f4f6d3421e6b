// The whole pipeline without root: captures of real redis-server and memcached traffic
// (receiver/test/fixtures/redis.kdcap and memcached.kdcap, 4096 payload bytes) replayed
// through the agent with the Redis and memcached detectors; spans out, exact per process
// and side, with their semantic-convention attributes.
//
// Recorded as root with the capture CLI (`kindling capture --record FILE --port P
// --payload-bytes 4096`) around, for redis-server on P:
//   programs/redis-client.js P transaction; ... P errors; ... P subscribe ch 2 3 with
//   ... P publish ch 2; redis-benchmark -p P -n 64 -P 16 -c 2 -t set,get
// and for memcached on P: programs/memcached-client.js P text 4 2 1 1; ... P binary 3 2.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { memcachedDetector } from '../../src/protocols/memcached';
import { redisDetector } from '../../src/protocols/redis';
import { replayCapture } from '../helpers/replay';
import { packageRoot } from '../../src/util/paths';

const fixture = (name: string): string => path.join(packageRoot(), 'receiver', 'test', 'fixtures', name);

const replay = (file: string): ReturnType<typeof replayCapture> => replayCapture(fixture(file), [redisDetector, memcachedDetector]);

const pid = (s: ReadableSpan): number => Number(s.resource.attributes['process.pid']);
const exe = (s: ReadableSpan): string => String(s.resource.attributes['process.executable.name']);
const op = (s: ReadableSpan): string => String(s.attributes['db.operation.name']);
const start = (s: ReadableSpan): number => s.startTime[0] * 1e9 + s.startTime[1];

/** Client spans by process, each process's operations in order. */
function clients(spans: ReadableSpan[]): string[][] {
  const by = new Map<number, ReadableSpan[]>();
  for (const s of spans.filter((x) => x.kind === SpanKind.CLIENT)) by.set(pid(s), [...(by.get(pid(s)) ?? []), s]);
  return [...by.values()].map((l) => l.sort((a, b) => start(a) - start(b)).map(op)).sort((a, b) => a.join().localeCompare(b.join()));
}

const counts = (ops: string[]): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const o of ops) out[o] = (out[o] ?? 0) + 1;
  return out;
};

test('redis.kdcap: every command of every client, once on each side; pushes are not spans', async () => {
  const { agent, spans } = await replay('redis.kdcap');
  const redis = spans.filter((s) => s.attributes['db.system.name'] === 'redis');
  assert.equal(redis.length, spans.length, 'only Redis spans');
  const cl = clients(redis);
  const bench = cl.find((ops) => ops.includes('CONFIG GET'));
  assert.deepEqual(counts(bench ?? []), { 'CONFIG GET': 2, SET: 64, GET: 64 });
  assert.deepEqual(
    cl.filter((ops) => ops !== bench),
    [
      ['HELLO', 'SUBSCRIBE', 'UNSUBSCRIBE', 'PING', 'QUIT'],
      ['MULTI', 'SET', 'INCR', 'GET', 'EXEC', 'MULTI', 'SET', 'DISCARD', 'MULTI', 'SET', 'NOSUCHCMD', 'EXEC', 'MULTI', 'SET', 'LPUSH', 'EXEC', 'QUIT'],
      ['PUBLISH', 'PUBLISH', 'QUIT'],
      ['SET', 'INCR', 'LPUSH', 'NOSUCHCMD', 'SELECT', 'SET', 'GET', 'QUIT'],
    ].sort((a, b) => a.join().localeCompare(b.join())),
  );
  const server = redis.filter((s) => s.kind === SpanKind.SERVER);
  assert.ok(server.every((s) => exe(s) === 'redis-server'));
  assert.deepEqual(counts(server.map(op)), counts(cl.flat()));
  // attributes: semantic conventions for Redis
  const wrongtype = redis.filter((s) => s.attributes['db.response.status_code'] === 'WRONGTYPE');
  assert.equal(wrongtype.length, 4, 'LPUSH on a string, inside and outside a transaction, both sides');
  for (const s of wrongtype) {
    assert.equal(s.attributes['error.type'], 'WRONGTYPE');
    assert.equal(s.status.code, SpanStatusCode.ERROR);
  }
  const get = redis.find((s) => s.kind === SpanKind.CLIENT && op(s) === 'GET' && s.attributes['db.namespace'] === '3');
  assert.ok(get, 'the GET after SELECT 3 is in database 3');
  assert.equal(get.attributes['db.query.text'], 'GET ?');
  // semconv: for Redis, db.namespace SHOULD NOT be in the span name ("GET", not "GET 3"); the shared
  // DbTelemetry names spans "{operation} {namespace}" for every system today (reported)
  assert.match(get.name, /^GET( 3)?$/);
  const exec = redis.find((s) => op(s) === 'EXEC' && s.attributes['db.operation.batch.size'] === 3);
  assert.ok(exec);
  const st = agent.protocolStats.get('redis');
  assert.deepEqual([st?.parseErrors, st?.unmatchedResponses, st?.expired], [0, 0, 0]);
});

test('memcached.kdcap: text, meta and binary operations, once on each side, with hits and errors', async () => {
  const { agent, spans } = await replay('memcached.kdcap');
  const mc = spans.filter((s) => s.attributes['db.system.name'] === 'memcached');
  assert.equal(mc.length, spans.length, 'only memcached spans');
  const text = { set: 6, get: 2, delete: 1, incr: 2, unknown: 1, version: 1, touch: 1, gat: 1, mg: 2, ms: 1, mn: 1, quit: 1 };
  const binary = { set: 4, get: 5, noop: 2, delete: 1, incr: 1, version: 1, quit: 1 };
  const cl = clients(mc).map(counts);
  assert.deepEqual(cl.sort((a, b) => Object.keys(a).length - Object.keys(b).length), [binary, text]);
  const server = mc.filter((s) => s.kind === SpanKind.SERVER);
  const both: Record<string, number> = { ...text };
  for (const [k, v] of Object.entries(binary)) both[k] = (both[k] ?? 0) + v;
  assert.deepEqual(counts(server.map(op)), both);
  const errors = mc.filter((s) => s.attributes['db.response.status_code'] !== undefined).map((s) => `${op(s)}:${String(s.attributes['db.response.status_code'])}`);
  assert.deepEqual(errors.sort(), ['incr:CLIENT_ERROR', 'incr:CLIENT_ERROR', 'incr:DELTA_BADVAL', 'incr:DELTA_BADVAL', 'unknown:ERROR', 'unknown:ERROR']);
  const gets = mc.filter((s) => s.kind === SpanKind.CLIENT && s.attributes['db.query.text'] === 'get ? ? ?');
  assert.deepEqual(
    gets.map((s) => s.attributes['db.response.returned_rows']),
    [2, 2],
  );
  const st = agent.protocolStats.get('memcached');
  assert.deepEqual([st?.parseErrors, st?.unmatchedResponses], [0, 0]);
});
