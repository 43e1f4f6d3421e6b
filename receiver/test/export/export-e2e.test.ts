/**
 * Export end to end: live eBPF capture of real HTTP traffic (the Node test
 * server and curl, each its own process) out through the real exporters to
 * real receivers: OTLP/gRPC traces, OTLP/HTTP metrics (protobuf and JSON), the
 * Prometheus endpoint scraped by the real Prometheus, and a dead or failing
 * collector.
 *
 * Other processes on the machine may make HTTP traffic while these run (the
 * capture sees every process), so every assertion selects by the server's
 * pid and port, or by the curl processes' pids.
 */
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import * as os from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { Agent } from '../../src/agent';
import { loadConfig } from '../../src/config/config';
import { DURATION_BUCKETS } from '../../src/telemetry/http-telemetry';
import { kernelTest } from '../helpers/kernel';
import { startMetricsReceiver, startTraceReceiver } from '../helpers/otlp';
import type { MetricsReceiver, ReceivedSpan, TraceReceiver } from '../helpers/otlp';
import { curl, startHttpServer } from '../helpers/peers';
import type { HttpServerPeer, Peer } from '../helpers/peers';
import { startPrometheus } from '../helpers/prometheus';

const N = 5;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** An agent from OTEL_* variables, started; always stopped by the caller's finally. */
async function startAgent(env: Record<string, string>): Promise<Agent> {
  const agent = new Agent(loadConfig({ env }), { log: () => undefined });
  await agent.start();
  return agent;
}

/** N sequential curl processes against /users/<i>?q=secret (a fresh connection each). */
async function curls(server: HttpServerPeer, n = N, first = 1): Promise<Peer[]> {
  const out: Peer[] = [];
  for (let i = first; i < first + n; i++) out.push(await curl(`http://127.0.0.1:${server.port}/users/${i}?q=secret`));
  return out;
}

/** Poll `probe` until it returns a value, flushing spans in between; throws with `describe` on timeout. */
async function until<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number, describe: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = await probe();
    if (hit !== undefined) return hit;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    await sleep(50);
  }
}

/** A loopback port with nothing listening on it. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a !== null && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** The spans of one exchange set: the server's SERVER spans and the curls' CLIENT spans. */
function ofExchange(rx: TraceReceiver, server: HttpServerPeer, clients: Peer[]): { servers: ReceivedSpan[]; clients: ReceivedSpan[] } {
  const pids = new Set(clients.map((c) => c.pid));
  const all = rx.spans();
  return {
    servers: all.filter((s) => s.span.kind === 'SPAN_KIND_SERVER' && s.resource['process.pid'] === server.pid && s.span.attributes['server.port'] === server.port),
    clients: all.filter((s) => s.span.kind === 'SPAN_KIND_CLIENT' && pids.has(Number(s.resource['process.pid'])) && s.span.attributes['server.port'] === server.port),
  };
}

/** Flush until n server and n client spans of this exchange set arrived. */
async function waitForExchange(agent: Agent, rx: TraceReceiver, server: HttpServerPeer, clients: Peer[], n: number, timeoutMs = 10_000): Promise<{ servers: ReceivedSpan[]; clients: ReceivedSpan[] }> {
  return until(
    async () => {
      await agent.spans.flush();
      const got = ofExchange(rx, server, clients);
      return got.servers.length >= n && got.clients.length >= n ? got : undefined;
    },
    timeoutMs,
    () => {
      const got = ofExchange(rx, server, clients);
      return `${got.servers.length} server / ${got.clients.length} client spans of ${n}; ${rx.spans().length} spans received in all; http ${JSON.stringify(agent.httpStats)}; batcher ${JSON.stringify(agent.spans.stats)}`;
    },
  );
}

kernelTest('OTLP gRPC traces: one SERVER and one CLIENT span per request, with resource, attributes and linkage', async () => {
  const rx = await startTraceReceiver();
  const server = await startHttpServer();
  let agent: Agent | undefined;
  try {
    agent = await startAgent({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: rx.url,
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=e2e,team=obs%20core',
    });
    const clients = await curls(server);
    const got = await waitForExchange(agent, rx, server, clients, N);
    // nothing else arrives for this exchange set: exactly N of each
    await sleep(300);
    await agent.spans.flush();
    const final = ofExchange(rx, server, clients);
    assert.equal(final.servers.length, N, 'SERVER spans');
    assert.equal(final.clients.length, N, 'CLIENT spans');
    assert.deepEqual(new Set(got.clients.map((c) => c.resource['process.pid'])), new Set(clients.map((c) => c.pid)), 'one CLIENT span per curl process');

    for (const s of [...final.servers, ...final.clients]) {
      const r = s.resource;
      const serverSide = s.span.kind === 'SPAN_KIND_SERVER';
      assert.equal(r['service.name'], serverSide ? 'node' : 'curl');
      assert.equal(r['host.name'], os.hostname());
      assert.equal(r['os.type'], 'linux');
      assert.equal(r['telemetry.sdk.language'], 'nodejs');
      assert.equal(r['telemetry.sdk.name'], 'opentelemetry');
      assert.equal(r['telemetry.distro.name'], 'kindling');
      assert.equal(r['deployment.environment.name'], 'e2e', 'OTEL_RESOURCE_ATTRIBUTES entry');
      assert.equal(r['team'], 'obs core', 'OTEL_RESOURCE_ATTRIBUTES value percent-decoded');
      assert.equal(typeof r['process.pid'], 'number');
      assert.equal(s.scope.name, 'kindling');
      assert.ok(s.span.startTimeUnixNano > 0n && s.span.startTimeUnixNano < s.span.endTimeUnixNano, `start < end: ${s.span.startTimeUnixNano} ${s.span.endTimeUnixNano}`);
      assert.match(s.span.traceId, /^[0-9a-f]{32}$/);
      assert.match(s.span.spanId, /^[0-9a-f]{16}$/);
      const a = s.span.attributes;
      assert.equal(a['http.request.method'], 'GET');
      assert.equal(a['http.response.status_code'], 200);
      assert.equal(a['server.port'], server.port);
      assert.equal(s.span.status.code, 'STATUS_CODE_UNSET');
      assert.ok(!JSON.stringify(a).includes('secret'), 'no query string in any attribute');
    }

    const wallNow = BigInt(Date.now()) * 1_000_000n;
    for (const [i, c] of clients.entries()) {
      const path = `/users/${i + 1}`;
      const client = final.clients.find((s) => s.resource['process.pid'] === c.pid);
      const srv = final.servers.find((s) => s.span.attributes['url.path'] === path);
      assert.ok(client, `CLIENT span of curl ${c.pid}`);
      assert.ok(srv, `SERVER span for ${path}`);
      assert.equal(srv.resource['process.pid'], server.pid);
      assert.equal(srv.span.name, 'GET /users/{id}');
      assert.equal(srv.span.attributes['http.route'], '/users/{id}');
      assert.equal(srv.span.attributes['client.address'], '127.0.0.1');
      assert.equal(srv.span.attributes['client.port'], srv.span.attributes['network.peer.port']);
      assert.equal(client.span.attributes['network.peer.port'], server.port);
      assert.equal(client.span.name, 'GET');
      assert.equal(client.span.attributes['url.full'], `http://127.0.0.1:${server.port}${path}`);
      // server -> client linkage: same trace, the server's parent is the client span
      assert.equal(srv.span.traceId, client.span.traceId, `${path}: one trace`);
      assert.equal(srv.span.parentSpanId, client.span.spanId, `${path}: SERVER span's parent is the CLIENT span`);
      assert.equal(client.span.parentSpanId, '', 'the CLIENT span is the root');
      // the server's work lies inside the client's, and both happened just now
      assert.ok(client.span.startTimeUnixNano <= srv.span.startTimeUnixNano && srv.span.endTimeUnixNano <= client.span.endTimeUnixNano, `${path}: server span within client span`);
      assert.ok(wallNow - client.span.startTimeUnixNano < 60_000_000_000n && client.span.startTimeUnixNano < wallNow, 'wall-clock times');
    }
    assert.equal(agent.spans.stats.failed[0], 0);
  } finally {
    await agent?.stop();
    await server.close();
    await rx.close();
  }
});

for (const protocol of ['http/protobuf', 'http/json'] as const) {
  kernelTest(`OTLP HTTP metrics (${protocol}): http.server.request.duration counts every request; self metrics under "kindling"`, async () => {
    const rx = await startMetricsReceiver();
    const server = await startHttpServer();
    let agent: Agent | undefined;
    try {
      agent = await startAgent({
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: rx.metricsUrl,
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: protocol,
        OTEL_METRICS_EXPORTER: 'otlp',
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_METRIC_EXPORT_INTERVAL: '1000',
      });
      await curls(server);
      // cumulative temporality: the newest export of the server's resource holds the totals
      const serverPoints = (r: MetricsReceiver) => {
        const all = r.dataPoints('http.server.request.duration').filter((p) => p.resource['process.pid'] === server.pid);
        const newest = all.reduce((t, p) => (p.timeUnixNano > t ? p.timeUnixNano : t), 0n);
        return all.filter((p) => p.timeUnixNano === newest);
      };
      const total = (r: MetricsReceiver): number => serverPoints(r).reduce((s, p) => s + (p.count ?? 0), 0);
      await rx.waitFor((r) => total(r) >= N, 10_000).catch((e: Error) => {
        throw new Error(`${e.message}; server points ${JSON.stringify(serverPoints(rx).map((p) => [p.attributes, p.count]))}`);
      });
      assert.equal(total(rx), N, 'histogram counts sum to the requests made');
      assert.deepEqual(rx.errors, []);
      assert.ok(rx.contentTypes.length > 0 && rx.contentTypes.every((c) => c === (protocol === 'http/json' ? 'application/json' : 'application/x-protobuf')), `content types ${rx.contentTypes.join(',')}`);
      const points = serverPoints(rx);
      for (const p of points) {
        assert.equal(p.type, 'histogram');
        assert.equal(p.unit, 's');
        assert.equal(p.aggregationTemporality, 'AGGREGATION_TEMPORALITY_CUMULATIVE');
        assert.deepEqual(p.explicitBounds, DURATION_BUCKETS);
        assert.equal(p.explicitBounds?.[0], 0.005);
        assert.equal(p.explicitBounds?.at(-1), 10);
        assert.equal(p.bucketCounts?.length, DURATION_BUCKETS.length + 1);
        assert.equal(p.bucketCounts?.reduce((a, b) => a + b, 0), p.count, 'buckets add up to the count');
        assert.ok((p.sum ?? 0) > 0 && (p.sum ?? 1) < N, `sum ${p.sum} s`);
        assert.equal(p.resource['service.name'], 'node');
        assert.equal(p.resource['telemetry.distro.name'], 'kindling');
        assert.equal(p.attributes['http.route'], '/users/{id}');
        assert.equal(p.attributes['http.request.method'], 'GET');
        assert.equal(p.attributes['http.response.status_code'], 200);
        assert.equal(p.attributes['server.port'], server.port);
      }
      // Kindling's own metrics, on the agent's own resource
      await rx.waitFor((r) => r.dataPoints('kindling.source.events').some((p) => p.resource['process.pid'] === process.pid && (p.value ?? 0) > 0), 5_000);
      const self = rx.dataPoints('kindling.source.events').filter((p) => p.resource['process.pid'] === process.pid);
      assert.ok(self.every((p) => p.resource['service.name'] === 'kindling' && p.resource['telemetry.distro.name'] === 'kindling'));
      assert.equal(self[0]?.type, 'sum');
      assert.equal(self[0]?.isMonotonic, true);
      const requests = rx.dataPoints('kindling.requests').filter((p) => p.resource['process.pid'] === process.pid && p.attributes['protocol'] === 'http');
      assert.ok(requests.length > 0 && (requests.at(-1)?.value ?? 0) >= N, 'kindling.requests{protocol=http} counts at least our requests');
      assert.equal(agent.metricLoop.failures, 0);
    } finally {
      await agent?.stop();
      await server.close();
      await rx.close();
    }
  });
}

kernelTest('Prometheus endpoint scraped by the real Prometheus: request counts, target_info, self metrics', async () => {
  const server = await startHttpServer();
  let agent: Agent | undefined;
  let prom: Awaited<ReturnType<typeof startPrometheus>> | undefined;
  try {
    agent = await startAgent({
      OTEL_METRICS_EXPORTER: 'prometheus',
      OTEL_TRACES_EXPORTER: 'none',
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      OTEL_EXPORTER_PROMETHEUS_PORT: '0',
    });
    const port = agent.prometheus?.port;
    assert.ok(port !== undefined && port > 0, 'an ephemeral port was bound');
    // Prometheus starts while the requests are made
    const [p] = await Promise.all([startPrometheus({ targets: [`127.0.0.1:${port}`], scrapeIntervalSeconds: 1 }), curls(server)]);
    prom = p;
    // the scrape config's own job label ("kindling") wins; the exposition's job and
    // instance (service.name, service.instance.id) become exported_job / exported_instance
    const instance = `${os.hostname()}/${server.pid}`;
    const ours = `exported_job="node",exported_instance="${instance}"`;
    const [count] = await prom.waitForQuery(`sum(http_server_request_duration_seconds_count{${ours}})`, (r) => (r[0]?.value ?? 0) >= N, 20_000);
    assert.equal(count?.value, N);
    const byJob = await prom.query('sum by (exported_job) (http_server_request_duration_seconds_count{exported_job="node"})');
    assert.ok((byJob[0]?.value ?? 0) >= N, `sum(...{exported_job="node"}) = ${byJob[0]?.value}`);
    const [inf] = await prom.query(`sum(http_server_request_duration_seconds_bucket{${ours},le="+Inf"})`);
    assert.equal(inf?.value, N);
    const routes = await prom.query(`http_server_request_duration_seconds_count{${ours}}`);
    assert.ok(routes.every((s) => s.metric['http_route'] === '/users/{id}' && s.metric['job'] === 'kindling'), JSON.stringify(routes));
    const [info] = await prom.query(`target_info{${ours}}`);
    assert.ok(info, 'target_info for the server process');
    assert.equal(info.metric['process_pid'], String(server.pid));
    assert.equal(info.metric['telemetry_distro_name'], 'kindling');
    assert.equal(info.metric['host_name'], os.hostname());
    const [events] = await prom.query(`kindling_source_events_total{exported_job="kindling",exported_instance="${os.hostname()}/${process.pid}"}`);
    assert.ok((events?.value ?? 0) > 0, `kindling_source_events_total = ${events?.value}`);
    const targets = await prom.targets();
    assert.equal(targets[0]?.health, 'up', targets[0]?.lastError);
    assert.ok((agent.prometheus?.scrapes ?? 0) > 0);
  } finally {
    await prom?.close();
    await agent?.stop();
    await server.close();
  }
});

kernelTest('a dead collector: spans retried with backoff then given up; capture and metrics go on', async (t) => {
  const server = await startHttpServer();
  let agent: Agent | undefined;
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown): void => void unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    agent = await startAgent({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${await closedPort()}`,
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_BSP_EXPORT_TIMEOUT: '1500',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    const a = agent;
    const serverCount = (): number => {
      let n = 0;
      for (const rm of a.metrics.collect()) {
        if (rm.resource.attributes['process.pid'] !== server.pid) continue;
        for (const sm of rm.scopeMetrics) {
          for (const m of sm.metrics) {
            if (m.descriptor.name !== 'http.server.request.duration') continue;
            for (const p of m.dataPoints) n += (p.value as { count: number }).count;
          }
        }
      }
      return n;
    };
    await curls(server);
    await until(() => (serverCount() >= N ? true : undefined), 10_000, () => `server requests in metrics: ${serverCount()}`);
    // every exported batch fails; the batcher retries until the 1.5 s deadline, then counts the spans as failed
    await until(
      async () => {
        await a.spans.flush();
        return (a.spans.stats.failed[0] ?? 0) >= 2 * N && a.spans.stats.queued === 0 ? true : undefined;
      },
      15_000,
      () => `batcher ${JSON.stringify(a.spans.stats)}`,
    );
    assert.ok(a.spans.stats.retries > 0, `retries ${a.spans.stats.retries}`);
    assert.deepEqual(a.spans.stats.exported, [0]);
    const failedBefore = a.spans.stats.failed[0] ?? 0;
    // still capturing after giving up
    const eventsBefore = a.source.stats().events;
    await curls(server, 1, N + 1);
    await until(() => (serverCount() >= N + 1 ? true : undefined), 10_000, () => `server requests in metrics: ${serverCount()}`);
    assert.equal(serverCount(), N + 1);
    assert.ok(a.source.stats().events > eventsBefore);
    await until(
      async () => {
        await a.spans.flush();
        return (a.spans.stats.failed[0] ?? 0) >= failedBefore + 2 ? true : undefined;
      },
      10_000,
      () => `batcher ${JSON.stringify(a.spans.stats)}`,
    );
    a.refreshSelf();
    const failedSelf = a.metrics
      .collect()
      .find((rm) => rm.resource.attributes['service.name'] === 'kindling' && rm.resource.attributes['process.pid'] === process.pid)
      ?.scopeMetrics.flatMap((sm) => sm.metrics)
      .find((m) => m.descriptor.name === 'kindling.spans.export_failed');
    assert.ok(Number(failedSelf?.dataPoints[0]?.value ?? 0) >= failedBefore + 2, 'kindling.spans.export_failed shows the failures');
    assert.deepEqual(unhandled, []);
    t.diagnostic(`batcher ${JSON.stringify(a.spans.stats)}`);
  } finally {
    process.removeListener('unhandledRejection', onUnhandled);
    await agent?.stop();
    await server.close();
  }
});

kernelTest('a collector answering UNAVAILABLE: the spans are retried and arrive', async (t) => {
  const rx = await startTraceReceiver();
  const server = await startHttpServer();
  let agent: Agent | undefined;
  try {
    agent = await startAgent({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: rx.url,
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    // the first two Export calls fail: the batch holding our first spans is among them
    rx.failNext(2, grpc.status.UNAVAILABLE);
    const clients = await curls(server);
    const got = await waitForExchange(agent, rx, server, clients, N, 20_000);
    assert.equal(got.servers.length, N);
    assert.equal(got.clients.length, N);
    assert.equal(rx.rejected, 2, 'two attempts were refused');
    assert.equal(agent.spans.stats.failed[0], 0, 'nothing given up');
    assert.ok(agent.spans.stats.retries >= 1, 'the batcher retried the refused batch');
    t.diagnostic(`batcher ${JSON.stringify(agent.spans.stats)}; receiver rejected ${rx.rejected}, accepted ${rx.requests.length} requests`);
  } finally {
    await agent?.stop();
    await server.close();
    await rx.close();
  }
});
