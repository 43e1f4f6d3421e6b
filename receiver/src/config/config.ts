/**
 * Loads the configuration: defaults, then the YAML file (`kindling run
 * --config FILE`), then the standard OTEL_* environment variables, which win.
 * Every bad value is a KINDLING_ERR_INVALID_OPTION naming its source and path.
 *
 * Example:
 *   const cfg = loadConfig({ file: 'kindling.yaml', env: process.env });
 *
 * Exporter defaults: with no OTLP endpoint anywhere, traces go to the console
 * and metrics to Prometheus on :9464 (the embedded default); once an endpoint
 * is set, traces default to OTLP and metrics to OTLP plus Prometheus.
 */
import * as fs from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { KindlingError } from '../errors';
import { FIELDS, defaults } from './schema';
import type { KindlingConfig, Leaf } from './schema';

type Source = string; // "kindling.yaml" or "OTEL_..."

function fail(source: Source, where: string, msg: string): never {
  throw new KindlingError('KINDLING_ERR_INVALID_OPTION', `${source}${where ? `: ${where}` : ''}: ${msg}`);
}

function setPath(obj: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let o = obj;
  for (const p of parts.slice(0, -1)) o = o[p] as Record<string, unknown>;
  o[parts[parts.length - 1] as string] = value;
}

function checkUrl(source: Source, where: string, v: string): string {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return fail(source, where, `expected a URL like http://collector:4317, got "${v}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') fail(source, where, `expected an http:// or https:// URL, got "${v}"`);
  return v;
}

/** One value, from YAML (typed) or the environment (a string), checked against its leaf. */
export function coerce(source: Source, where: string, leaf: Leaf, raw: unknown): unknown {
  const fromEnv = typeof raw === 'string' && source.startsWith('OTEL_');
  switch (leaf.kind) {
    case 'int': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      if (!Number.isInteger(n)) fail(source, where, `expected an integer, got ${JSON.stringify(raw)}`);
      if (n < leaf.min || n > leaf.max) fail(source, where, `expected ${leaf.min}..${leaf.max}, got ${n}`);
      if (leaf.pow2 && (n & (n - 1)) !== 0) fail(source, where, `expected a power of two, got ${n}`);
      return n;
    }
    case 'bool':
      if (typeof raw === 'boolean') return raw;
      if (raw === 'true' || raw === 'false') return raw === 'true';
      return fail(source, where, `expected true or false, got ${JSON.stringify(raw)}`);
    case 'string':
      if (typeof raw !== 'string' || raw === '') fail(source, where, `expected a non-empty string, got ${JSON.stringify(raw)}`);
      return raw;
    case 'url':
      if (typeof raw !== 'string') fail(source, where, `expected a URL string, got ${JSON.stringify(raw)}`);
      return checkUrl(source, where, raw);
    case 'oneOf':
      if (typeof raw !== 'string' || !leaf.values.includes(raw)) fail(source, where, `expected one of ${leaf.values.join(', ')}, got ${JSON.stringify(raw)}`);
      return raw;
    case 'list': {
      const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
      if (!items) return fail(source, where, `expected a list of ${leaf.values.join(', ')}, got ${JSON.stringify(raw)}`);
      items.forEach((it, i) => {
        if (typeof it !== 'string' || !leaf.values.includes(it)) fail(source, `${where}[${i}]`, `unknown value ${JSON.stringify(it)} (expected ${leaf.values.join(', ')})`);
      });
      return items;
    }
    case 'strings': {
      const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',').map((x) => x.trim()).filter(Boolean) : undefined;
      if (!items || items.some((x) => typeof x !== 'string' || x === '')) return fail(source, where, `expected a list of names, got ${JSON.stringify(raw)}`);
      return items;
    }
    case 'map': {
      if (fromEnv) return parseKeyValues(source, raw as string);
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return fail(source, where, `expected a map of key: value, got ${JSON.stringify(raw)}`);
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') fail(source, `${where}.${k}`, `expected a string, got ${JSON.stringify(v)}`);
        out[k] = String(v);
      }
      return out;
    }
  }
}

/** "k1=v1,k2=v2" with percent-encoded values (OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_HEADERS). */
export function parseKeyValues(source: Source, s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of s.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) fail(source, '', `expected key=value pairs separated by commas, got "${part.trim()}"`);
    try {
      out[decodeURIComponent(part.slice(0, eq).trim())] = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      fail(source, '', `bad percent-encoding in "${part.trim()}"`);
    }
  }
  return out;
}

/** Flatten YAML into dotted paths, refusing keys the schema does not know. */
function flatten(source: Source, o: unknown, prefix: string, out: Map<string, unknown>): void {
  if (o === null || o === undefined) return;
  if (typeof o !== 'object' || Array.isArray(o)) fail(source, prefix || '(top level)', 'expected a map');
  for (const [k, v] of Object.entries(o as Record<string, unknown>)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (FIELDS[path] || path === 'otlp.endpoint' || path === 'otlp.headers') {
      out.set(path, v);
    } else if (Object.keys(FIELDS).some((f) => f.startsWith(`${path}.`))) {
      flatten(source, v, path, out);
    } else {
      const near = Object.keys(FIELDS).filter((f) => f.split('.').slice(0, -1).join('.') === prefix).map((f) => f.split('.').pop());
      fail(source, path, `unknown setting${near.length ? ` (known here: ${near.join(', ')})` : ''}`);
    }
  }
}

/** The OTLP/HTTP metrics URL for a base endpoint: a collector's gRPC port 4317 pairs with HTTP on 4318. */
export function metricsUrlFromBase(base: string): string {
  const u = new URL(base);
  if (u.port === '4317') u.port = '4318';
  return `${u.origin}${u.pathname.replace(/\/$/, '')}/v1/metrics`;
}

export interface LoadOptions {
  file?: string;
  env?: NodeJS.ProcessEnv;
}

export function loadConfig(o: LoadOptions = {}): KindlingConfig {
  const cfg = defaults() as unknown as Record<string, unknown>;
  const apply = (source: Source, path: string, raw: unknown): void => {
    const f = FIELDS[path];
    if (!f) return;
    setPath(cfg, f.to, coerce(source, path, f.leaf, raw));
  };

  if (o.file !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(o.file, 'utf8');
    } catch (e) {
      throw new KindlingError('KINDLING_ERR_IO', `cannot read config file ${o.file}: ${(e as Error).message}`);
    }
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch (e) {
      throw new KindlingError('KINDLING_ERR_INVALID_OPTION', `${o.file}: not valid YAML: ${(e as Error).message}`);
    }
    const flat = new Map<string, unknown>();
    flatten(o.file, doc, '', flat);
    const endpoint = flat.get('otlp.endpoint');
    if (endpoint !== undefined) {
      const base = coerce(o.file, 'otlp.endpoint', { kind: 'url' }, endpoint) as string;
      if (!flat.has('otlp.traces_endpoint')) flat.set('otlp.traces_endpoint', base);
      if (!flat.has('otlp.metrics_endpoint')) flat.set('otlp.metrics_endpoint', metricsUrlFromBase(base));
    }
    const headers = flat.get('otlp.headers');
    if (headers !== undefined) {
      for (const p of ['otlp.traces_headers', 'otlp.metrics_headers']) if (!flat.has(p)) flat.set(p, headers);
    }
    for (const [path, v] of flat) apply(o.file, path, v);
  }

  const env = o.env ?? {};
  const fromEnv = (name: string, path: string, transform: (v: string) => string = (v) => v): void => {
    const v = env[name];
    if (v !== undefined && v !== '') {
      const f = FIELDS[path];
      if (f) setPath(cfg, f.to, coerce(name, '', f.leaf, transform(v)));
    }
  };
  const base = env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  if (base) {
    checkUrl('OTEL_EXPORTER_OTLP_ENDPOINT', '', base);
    fromEnv('OTEL_EXPORTER_OTLP_ENDPOINT', 'otlp.traces_endpoint');
    fromEnv('OTEL_EXPORTER_OTLP_ENDPOINT', 'otlp.metrics_endpoint', metricsUrlFromBase);
  }
  fromEnv('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'otlp.traces_endpoint');
  fromEnv('OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', 'otlp.metrics_endpoint');
  for (const name of ['OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL']) {
    const v = env[name];
    if (v === 'grpc') fail(name, '', 'metrics go over OTLP/HTTP here: use http/protobuf or http/json (traces always use gRPC)');
    if (v && name === 'OTEL_EXPORTER_OTLP_PROTOCOL' && env['OTEL_EXPORTER_OTLP_METRICS_PROTOCOL']) continue;
    fromEnv(name, 'otlp.metrics_protocol');
  }
  fromEnv('OTEL_EXPORTER_OTLP_HEADERS', 'otlp.traces_headers');
  fromEnv('OTEL_EXPORTER_OTLP_HEADERS', 'otlp.metrics_headers');
  fromEnv('OTEL_EXPORTER_OTLP_TRACES_HEADERS', 'otlp.traces_headers');
  fromEnv('OTEL_EXPORTER_OTLP_METRICS_HEADERS', 'otlp.metrics_headers');
  fromEnv('OTEL_EXPORTER_OTLP_TIMEOUT', 'otlp.timeout_ms');
  fromEnv('OTEL_TRACES_EXPORTER', 'traces.exporters');
  fromEnv('OTEL_METRICS_EXPORTER', 'metrics.exporters');
  fromEnv('OTEL_METRIC_EXPORT_INTERVAL', 'metrics.export_interval_ms');
  fromEnv('OTEL_BSP_MAX_QUEUE_SIZE', 'traces.batch.max_queue_size');
  fromEnv('OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 'traces.batch.max_batch_size');
  fromEnv('OTEL_BSP_SCHEDULE_DELAY', 'traces.batch.schedule_delay_ms');
  fromEnv('OTEL_BSP_EXPORT_TIMEOUT', 'traces.batch.export_timeout_ms');
  fromEnv('OTEL_EXPORTER_PROMETHEUS_HOST', 'prometheus.host');
  fromEnv('OTEL_EXPORTER_PROMETHEUS_PORT', 'prometheus.port');
  fromEnv('KINDLING_KUBERNETES', 'kubernetes.mode');
  fromEnv('KINDLING_PROFILING', 'profiling.enabled');
  fromEnv('KINDLING_PROFILING_SLOW_THRESHOLD_MS', 'profiling.slow_threshold_ms');
  fromEnv('KINDLING_PROFILING_P95_MIN_SAMPLES', 'profiling.p95_min_samples');
  fromEnv('KINDLING_PROFILING_PER_ENDPOINT_INTERVAL_MS', 'profiling.per_endpoint_interval_ms');
  fromEnv('KINDLING_PROFILING_SLICES_PER_THREAD', 'profiling.slices_per_thread');
  fromEnv('KINDLING_PROFILING_STACKS', 'profiling.stacks');
  fromEnv('KUBERNETES_NODE_NAME', 'kubernetes.node_name');
  fromEnv('KINDLING_K8S_CLUSTER_NAME', 'kubernetes.cluster_name');
  const resourceAttrs = env['OTEL_RESOURCE_ATTRIBUTES'];
  const c = cfg as unknown as KindlingConfig;
  if (resourceAttrs) c.resource.attributes = { ...c.resource.attributes, ...parseKeyValues('OTEL_RESOURCE_ATTRIBUTES', resourceAttrs) };
  if (env['OTEL_SERVICE_NAME']) c.selfService = env['OTEL_SERVICE_NAME'];

  // exporters left unset follow from whether an OTLP endpoint exists
  const otlp = c.otlp.tracesEndpoint !== undefined || c.otlp.metricsEndpoint !== undefined;
  if (c.traces.exporters.length === 0) c.traces.exporters = [otlp ? 'otlp' : 'console'];
  if (c.metrics.exporters.length === 0) c.metrics.exporters = otlp ? ['otlp', 'prometheus'] : ['prometheus'];
  c.traces.exporters = c.traces.exporters.filter((e) => e !== 'none');
  c.metrics.exporters = c.metrics.exporters.filter((e) => e !== 'none');
  if (c.traces.exporters.includes('otlp') && c.otlp.tracesEndpoint === undefined) c.otlp.tracesEndpoint = 'http://localhost:4317';
  if (c.metrics.exporters.includes('otlp') && c.otlp.metricsEndpoint === undefined) c.otlp.metricsEndpoint = 'http://localhost:4318/v1/metrics';
  if (c.traces.batch.maxBatchSize > c.traces.batch.maxQueueSize) {
    fail('configuration', 'traces.batch', `max_batch_size (${c.traces.batch.maxBatchSize}) exceeds max_queue_size (${c.traces.batch.maxQueueSize})`);
  }
  return c;
}
