import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MetricStore } from '../../src/telemetry/metric-store';
import { servePrometheus, toPrometheusText } from '../../src/export/prometheus';

function store(): MetricStore {
  const s = new MetricStore();
  const res = { key: 'p1', resource: resourceFromAttributes({ 'service.name': 'shop', 'service.instance.id': 'h/1', 'host.name': 'h', 'process.pid': 1 }) };
  const h = s.histogram('http.server.request.duration', { unit: 's', description: 'Duration of HTTP server requests.', boundaries: [0.1, 1] });
  h.record(res, { 'http.request.method': 'GET', 'http.route': '/a"b' }, 0.05);
  h.record(res, { 'http.request.method': 'GET', 'http.route': '/a"b' }, 0.5);
  s.counter('kindling.spans.exported', { unit: '{span}' }).add(res, {}, 7);
  s.gauge('kindling.connections', { unit: '{connection}', kind: 'updown' }).set(res, {}, 3);
  return s;
}

test('OpenTelemetry names map to Prometheus names, resource to job/instance and target_info', () => {
  const text = toPrometheusText(store().collect());
  assert.match(text, /^# TYPE http_server_request_duration_seconds histogram$/m);
  assert.match(text, /^http_server_request_duration_seconds_bucket\{http_request_method="GET",http_route="\/a\\"b",job="shop",instance="h\/1",le="0\.1"\} 1$/m);
  assert.match(text, /^http_server_request_duration_seconds_bucket\{.*le="1"\} 2$/m);
  assert.match(text, /^http_server_request_duration_seconds_bucket\{.*le="\+Inf"\} 2$/m);
  assert.match(text, /^http_server_request_duration_seconds_count\{.*\} 2$/m);
  assert.match(text, /^http_server_request_duration_seconds_sum\{.*\} 0\.55$/m);
  assert.match(text, /^# TYPE kindling_spans_exported_total counter$/m);
  assert.match(text, /^kindling_spans_exported_total\{job="shop",instance="h\/1"\} 7$/m);
  assert.match(text, /^# TYPE kindling_connections gauge$/m);
  assert.match(text, /^target_info\{host_name="h",process_pid="1",job="shop",instance="h\/1"\} 1$/m);
});

test('the endpoint serves /metrics and 404s elsewhere', async () => {
  const s = store();
  const server = await servePrometheus({ host: '127.0.0.1', port: 0, collect: () => s.collect() });
  try {
    const r = await fetch(server.url);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /text\/plain; version=0\.0\.4/);
    assert.match(await r.text(), /http_server_request_duration_seconds_count/);
    const nf = await fetch(`http://127.0.0.1:${server.port}/other`);
    assert.equal(nf.status, 404);
    assert.equal(server.scrapes, 1);
  } finally {
    await server.close();
  }
});

test('configured resource attributes are promoted to labels on every series of their resource', () => {
  const s = new MetricStore();
  const res = { key: 'p', resource: resourceFromAttributes({ 'service.name': 'cart', 'service.instance.id': 'i', 'k8s.namespace.name': 'shop', 'k8s.pod.name': 'cart-1' }) };
  s.counter('kindling.requests', { unit: '{request}' }).add(res, { protocol: 'http' }, 2);
  const text = toPrometheusText(s.collect(), ['k8s.namespace.name', 'k8s.pod.name', 'absent.attribute']);
  assert.match(text, /^kindling_requests_total\{protocol="http",job="cart",instance="i",k8s_namespace_name="shop",k8s_pod_name="cart-1"\} 2$/m);
  assert.match(text, /^target_info\{k8s_namespace_name="shop",k8s_pod_name="cart-1",job="cart",instance="i"\} 1$/m, 'target_info keeps them as before');
  assert.doesNotMatch(toPrometheusText(s.collect()), /kindling_requests_total\{[^}]*k8s_pod_name/, 'not promoted unless configured');
});
