import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadConfig, metricsUrlFromBase } from '../../src/config/config';
import { isKindlingError } from '../../src/errors';

function yamlFile(text: string): string {
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-cfg-')), 'kindling.yaml');
  fs.writeFileSync(f, text);
  return f;
}

function rejects(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e) => isKindlingError(e, 'KINDLING_ERR_INVALID_OPTION') && message.test((e as Error).message), `expected ${message}`);
}

test('no configuration: spans to the console, Prometheus on :9464', () => {
  const c = loadConfig({ env: {} });
  assert.deepEqual(c.traces.exporters, ['console']);
  assert.deepEqual(c.metrics.exporters, ['prometheus']);
  assert.equal(c.prometheus.port, 9464);
  assert.equal(c.capture.payloadBytes, 512);
  assert.equal(c.connections.max, 65536);
});

test('an OTLP endpoint makes OTLP the default for both signals; 4317 pairs with 4318 for metrics', () => {
  const c = loadConfig({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317' } });
  assert.deepEqual(c.traces.exporters, ['otlp']);
  assert.deepEqual(c.metrics.exporters, ['otlp', 'prometheus']);
  assert.equal(c.otlp.tracesEndpoint, 'http://collector:4317');
  assert.equal(c.otlp.metricsEndpoint, 'http://collector:4318/v1/metrics');
  assert.equal(metricsUrlFromBase('https://otel.example.com/base/'), 'https://otel.example.com/base/v1/metrics');
});

test('YAML settings apply, and OTEL_* variables override them', () => {
  const f = yamlFile(`
capture:
  payload_bytes: 1024
http:
  request_timeout_ms: 5000
  routes:
    max_per_service: 50
traces:
  exporters: [otlp, console]
  batch:
    max_queue_size: 100
    max_batch_size: 10
metrics:
  exporters: prometheus
  export_interval_ms: 2000
otlp:
  endpoint: http://c:4317
  headers:
    authorization: Bearer x
prometheus:
  port: 9999
resource:
  attributes:
    deployment.environment.name: staging
`);
  const c = loadConfig({
    file: f,
    env: {
      OTEL_METRIC_EXPORT_INTERVAL: '500',
      OTEL_RESOURCE_ATTRIBUTES: 'team=core,region=eu%2Dwest',
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-token=abc',
    },
  });
  assert.equal(c.capture.payloadBytes, 1024);
  assert.equal(c.http.requestTimeoutMs, 5000);
  assert.equal(c.http.routes.maxPerService, 50);
  assert.deepEqual(c.traces.exporters, ['otlp', 'console']);
  assert.equal(c.traces.batch.maxQueueSize, 100);
  assert.deepEqual(c.metrics.exporters, ['prometheus']);
  assert.equal(c.metrics.exportIntervalMs, 500, 'env wins over the file');
  assert.equal(c.otlp.tracesEndpoint, 'http://c:4317');
  assert.equal(c.otlp.metricsEndpoint, 'http://c:4318/v1/metrics');
  assert.equal(c.otlp.metricsProtocol, 'http/json');
  assert.deepEqual(c.otlp.tracesHeaders, { 'x-token': 'abc' });
  assert.deepEqual(c.otlp.metricsHeaders, { authorization: 'Bearer x' });
  assert.equal(c.prometheus.port, 9999);
  assert.deepEqual(c.resource.attributes, { 'deployment.environment.name': 'staging', team: 'core', region: 'eu-west' });
});

test('bad values are refused with their source and path', () => {
  rejects(() => loadConfig({ file: yamlFile('capture:\n  payload_bytes: 500\n') }), /kindling\.yaml: capture\.payload_bytes: expected a power of two, got 500/);
  rejects(() => loadConfig({ file: yamlFile('traces:\n  exporters: [otlp, jaeger]\n') }), /traces\.exporters\[1\]: unknown value "jaeger" \(expected otlp, console, none\)/);
  rejects(() => loadConfig({ file: yamlFile('traces:\n  exporter: otlp\n') }), /traces\.exporter: unknown setting \(known here: exporters/);
  rejects(() => loadConfig({ file: yamlFile('http:\n  request_timeout_ms: -1\n') }), /http\.request_timeout_ms: expected 1\.\.3600000, got -1/);
  rejects(() => loadConfig({ file: yamlFile('otlp:\n  endpoint: collector:4317\n') }), /otlp\.endpoint: expected an http:\/\/ or https:\/\/ URL|expected a URL/);
  rejects(() => loadConfig({ file: yamlFile('capture: [1, 2]\n') }), /capture: expected a map/);
  rejects(() => loadConfig({ file: yamlFile('a: b: c: [\n') }), /not valid YAML/);
  rejects(() => loadConfig({ env: { OTEL_METRIC_EXPORT_INTERVAL: 'soon' } }), /OTEL_METRIC_EXPORT_INTERVAL: expected an integer, got "soon"/);
  rejects(() => loadConfig({ env: { OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'grpc' } }), /OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: metrics go over OTLP\/HTTP/);
  rejects(() => loadConfig({ env: { OTEL_RESOURCE_ATTRIBUTES: 'novalue' } }), /OTEL_RESOURCE_ATTRIBUTES: expected key=value pairs/);
  rejects(() => loadConfig({ env: { OTEL_TRACES_EXPORTER: 'zipkin' } }), /OTEL_TRACES_EXPORTER.*unknown value "zipkin"/);
  rejects(() => loadConfig({ env: { OTEL_BSP_MAX_QUEUE_SIZE: '10', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '20' } }), /max_batch_size \(20\) exceeds max_queue_size \(10\)/);
  assert.throws(() => loadConfig({ file: '/nonexistent/kindling.yaml' }), (e) => isKindlingError(e, 'KINDLING_ERR_IO'));
});

test('"none" turns a signal off', () => {
  const c = loadConfig({ env: { OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none' } });
  assert.deepEqual(c.traces.exporters, []);
  assert.deepEqual(c.metrics.exporters, []);
});

test('the example configuration in otel-config/ loads', () => {
  const { packageRoot } = require('../../src/util/paths') as typeof import('../../src/util/paths');
  const c = loadConfig({ file: path.join(packageRoot(), 'otel-config', 'kindling.yaml'), env: {} });
  assert.deepEqual(c.traces.exporters, ['otlp']);
  assert.equal(c.otlp.tracesEndpoint, 'http://localhost:4317');
  assert.equal(c.otlp.metricsEndpoint, 'http://localhost:4318/v1/metrics');
  assert.equal(c.resource.attributes['deployment.environment.name'], 'demo');
});

test('identity, Kubernetes and Prometheus label settings', () => {
  const f = yamlFile('identity:\n  command_args: true\nkubernetes:\n  mode: off\n  cluster_name: prod\nprometheus:\n  resource_labels: [k8s.namespace.name, k8s.pod.name]\n');
  const c = loadConfig({ file: f, env: { KUBERNETES_NODE_NAME: 'worker-9' } });
  assert.equal(c.identity.commandArgs, true);
  assert.equal(c.kubernetes.mode, 'off');
  assert.equal(c.kubernetes.clusterName, 'prod');
  assert.equal(c.kubernetes.nodeName, 'worker-9');
  assert.deepEqual(c.prometheus.resourceLabels, ['k8s.namespace.name', 'k8s.pod.name']);
  rejects(() => loadConfig({ file: yamlFile('kubernetes:\n  mode: maybe\n') }), /kubernetes\.mode: expected one of auto, on, off/);
  rejects(() => loadConfig({ file: yamlFile('prometheus:\n  resource_labels: [1]\n') }), /prometheus\.resource_labels: expected a list of names/);
});
