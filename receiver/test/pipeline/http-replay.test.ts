// The whole user-space pipeline without root: a recorded capture of real HTTP
// traffic in, in-memory exporters out, exact assertions.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { DataPointType } from '@opentelemetry/sdk-metrics';
import { captureMeta, replayCapture } from '../helpers/replay';
import { HTTP_FIXTURE, TRACEPARENT } from '../fixtures/make-http-fixture';
import type { HttpScenario } from '../fixtures/make-http-fixture';

const scenario = (): HttpScenario => captureMeta<{ scenario: HttpScenario }>(HTTP_FIXTURE()).scenario;

const replay = (): ReturnType<typeof replayCapture> => replayCapture(HTTP_FIXTURE());

const pid = (s: ReadableSpan): number => Number(s.resource.attributes['process.pid']);
const ms = (s: ReadableSpan): number => s.duration[0] * 1e3 + s.duration[1] / 1e6;

test('one SERVER span per request served and one CLIENT span per request made, with semconv attributes', async () => {
  const sc = scenario();
  const { spans, agent } = await replay();
  const made = sc.clients.flatMap((c) => c.requests.map((r) => ({ ...r, pid: c.pid })));
  const servers = spans.filter((s) => s.kind === SpanKind.SERVER);
  const clients = spans.filter((s) => s.kind === SpanKind.CLIENT);
  assert.equal(servers.length, made.length);
  assert.equal(clients.length, made.length);
  assert.ok(servers.every((s) => pid(s) === sc.serverPid));

  for (const r of made) {
    const path = r.target.split('?')[0] as string;
    const server = servers.find((s) => s.attributes['url.path'] === path);
    const client = clients.find((s) => pid(s) === r.pid && String(s.attributes['url.full']).endsWith(path));
    assert.ok(server, `server span for ${path}`);
    assert.ok(client, `client span for ${path}`);
    assert.equal(server.attributes['http.request.method'], r.method);
    assert.equal(server.attributes['http.response.status_code'], r.status);
    assert.equal(client.attributes['http.response.status_code'], r.status);
    assert.equal(server.attributes['server.port'], sc.port);
    assert.equal(client.attributes['server.port'], sc.port);
    assert.equal(server.attributes['client.port'], server.attributes['network.peer.port']);
    assert.equal(client.attributes['network.peer.port'], sc.port);
    assert.equal(server.attributes['url.scheme'], 'http');
    assert.equal(server.attributes['network.protocol.version'], '1.1');
    assert.ok(ms(server) <= ms(client), `${path}: server ${ms(server)} ms <= client ${ms(client)} ms`);
    assert.ok(!JSON.stringify(server.attributes).includes('secret'), 'no query string anywhere');
  }
  assert.equal(agent.httpStats.expired, 0);
  assert.equal(agent.httpStats.unmatchedResponses, 0);
  assert.equal(agent.httpStats.parseErrors, 0);
});

test('span names, routes, statuses and errors follow the conventions', async () => {
  const { spans } = await replay();
  const byPath = (p: string, kind: SpanKind): ReadableSpan | undefined =>
    spans.find((s) => s.kind === kind && (s.attributes['url.path'] === p || String(s.attributes['url.full']).endsWith(p)));
  assert.equal(byPath('/users/42', SpanKind.SERVER)?.name, 'GET /users/{id}');
  assert.equal(byPath('/users/42', SpanKind.SERVER)?.attributes['http.route'], '/users/{id}');
  assert.equal(byPath('/users/42', SpanKind.CLIENT)?.name, 'GET');
  assert.equal(byPath('/echo', SpanKind.SERVER)?.name, 'POST /echo');
  assert.equal(byPath('/echo', SpanKind.SERVER)?.attributes['http.request.body.size'], 11);
  assert.equal(byPath('/echo', SpanKind.SERVER)?.attributes['http.response.body.size'], 21, 'chunked body decoded across iovecs');
  // 404: an error for the client only; 500: for both
  assert.equal(byPath('/missing', SpanKind.SERVER)?.status.code, SpanStatusCode.UNSET);
  assert.equal(byPath('/missing', SpanKind.CLIENT)?.status.code, SpanStatusCode.ERROR);
  assert.equal(byPath('/missing', SpanKind.CLIENT)?.attributes['error.type'], '404');
  assert.equal(byPath('/boom', SpanKind.SERVER)?.status.code, SpanStatusCode.ERROR);
  assert.equal(byPath('/boom', SpanKind.SERVER)?.attributes['error.type'], '500');
  assert.equal(byPath('/users/42', SpanKind.SERVER)?.attributes['user_agent.original'], 'curl/7.88.1');
});

test('three pipelined requests pair with their responses in order', async () => {
  const { spans } = await replay();
  const servers = spans.filter((s) => s.kind === SpanKind.SERVER && String(s.attributes['url.path']).startsWith('/p/'));
  assert.deepEqual(servers.map((s) => s.attributes['url.path']), ['/p/1', '/p/2', '/p/3']);
  assert.ok(servers.every((s) => s.attributes['http.route'] === '/p/{id}'));
  // each response carried its own path back: {"path":"/p/N"} is 15 bytes
  assert.ok(servers.every((s) => s.attributes['http.response.body.size'] === 15));
  const starts = servers.map((s) => s.startTime[0] * 1e9 + s.startTime[1]);
  const ends = servers.map((s) => s.endTime[0] * 1e9 + s.endTime[1]);
  assert.ok(ends[0]! <= ends[1]! && ends[1]! <= ends[2]!, 'responses in order');
  assert.equal(new Set(starts).size, 1, 'all three arrived in one read');
});

test('traceparent puts the server span into the caller trace; same-node spans link server to client', async () => {
  const { spans } = await replay();
  const [, traceId, parentId] = TRACEPARENT.split('-');
  const traced = spans.find((s) => s.kind === SpanKind.SERVER && s.attributes['url.path'] === '/users/42');
  assert.equal(traced?.spanContext().traceId, traceId);
  assert.equal(traced?.parentSpanContext?.spanId, parentId);
  assert.equal(traced?.parentSpanContext?.isRemote, true);
  for (const path of ['/missing', '/boom', '/echo', '/p/1', '/p/2', '/p/3']) {
    const server = spans.find((s) => s.kind === SpanKind.SERVER && s.attributes['url.path'] === path);
    const client = spans.find((s) => s.kind === SpanKind.CLIENT && String(s.attributes['url.full']).endsWith(path));
    assert.ok(server && client, path);
    assert.equal(server.spanContext().traceId, client.spanContext().traceId, `${path}: one trace`);
    assert.equal(server.parentSpanContext?.spanId, client.spanContext().spanId, `${path}: the server span is the client span's child`);
    assert.equal(client.parentSpanContext, undefined, `${path}: the client span is the root`);
  }
});

test('RED metrics: every request recorded on its own, per resource, with the semconv attributes', async () => {
  const { agent } = await replay();
  const rms = agent.metrics.collect();
  const server = rms.find((r) => r.resource.attributes['process.pid'] === scenario().serverPid);
  const duration = server?.scopeMetrics[0]?.metrics.find((m) => m.descriptor.name === 'http.server.request.duration');
  assert.ok(duration && duration.dataPointType === DataPointType.HISTOGRAM);
  assert.equal(duration.descriptor.unit, 's');
  const points = duration.dataPoints as { attributes: Record<string, unknown>; value: { count: number; buckets: { boundaries: number[] } } }[];
  const requests = scenario().clients.reduce((n, c) => n + c.requests.length, 0);
  assert.equal(points.reduce((n, p) => n + p.value.count, 0), requests);
  assert.deepEqual(points[0]?.value.buckets.boundaries, [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]);
  const p404 = points.find((p) => p.attributes['http.response.status_code'] === 404);
  assert.deepEqual(Object.keys(p404?.attributes ?? {}).sort(), ['http.request.method', 'http.response.status_code', 'http.route', 'network.protocol.version', 'server.address', 'server.port', 'url.scheme']);
  const p500 = points.find((p) => p.attributes['http.response.status_code'] === 500);
  assert.equal(p500?.attributes['error.type'], '500');
  assert.equal(points.find((p) => p.attributes['http.route'] === '/p/{id}')?.value.count, 3);
  const clientNames = rms.flatMap((r) => r.scopeMetrics[0]?.metrics ?? []).filter((m) => m.descriptor.name === 'http.client.request.duration');
  assert.equal(clientNames.flatMap((m) => m.dataPoints as { value: { count: number } }[]).reduce((n, p) => n + p.value.count, 0), requests);
});
