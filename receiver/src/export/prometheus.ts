/**
 * The Prometheus endpoint (/metrics, text format 0.0.4) over the same
 * ResourceMetrics the OTLP exporter sends, named the way OpenTelemetry maps
 * metrics to Prometheus: dots to underscores, unit suffixes (s -> _seconds,
 * By -> _bytes), _total on monotonic sums, service.name -> job,
 * service.instance.id -> instance, the other resource attributes on
 * target_info.
 *
 * Example:
 *   const server = await servePrometheus({ host: '0.0.0.0', port: 9464, collect: () => store.collect() });
 */
import type { Attributes, AttributeValue } from '@opentelemetry/api';
import { DataPointType } from '@opentelemetry/sdk-metrics';
import type { MetricData, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

const UNIT_SUFFIX: Record<string, string> = {
  s: 'seconds',
  ms: 'milliseconds',
  By: 'bytes',
  KiBy: 'kibibytes',
  MiBy: 'mebibytes',
  '%': 'percent',
  '1': 'ratio',
};

export function sanitizeName(name: string): string {
  let n = name.replace(/[^a-zA-Z0-9_:]/g, '_').replace(/_+/g, '_');
  if (/^[0-9]/.test(n)) n = `_${n}`;
  return n;
}

function labelName(name: string): string {
  const n = name.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[0-9]/.test(n) ? `key_${n}` : n;
}

export function metricName(m: MetricData): string {
  let n = sanitizeName(m.descriptor.name);
  // annotations like {request} carry no unit
  const unit = m.descriptor.unit.replace(/\{[^}]*\}/g, '');
  const suffix = UNIT_SUFFIX[unit] ?? (unit ? sanitizeName(unit) : '');
  if (suffix && !n.endsWith(`_${suffix}`)) n = `${n}_${suffix}`;
  if (m.dataPointType === DataPointType.SUM && m.isMonotonic && !n.endsWith('_total')) n = `${n}_total`;
  return n;
}

function escapeValue(v: AttributeValue | undefined): string {
  const s = Array.isArray(v) ? JSON.stringify(v) : String(v ?? '');
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labels(pairs: Attributes, extra: Record<string, string> = {}): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(pairs)) parts.push(`${labelName(k)}="${escapeValue(v)}"`);
  for (const [k, v] of Object.entries(extra)) parts.push(`${k}="${escapeValue(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

function num(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return Number.isNaN(v) ? 'NaN' : String(v);
}

function jobInstance(rm: ResourceMetrics): { job: string; instance: string } {
  const a = rm.resource.attributes;
  const name = String(a['service.name'] ?? 'unknown_service');
  const ns = a['service.namespace'];
  return { job: ns ? `${String(ns)}/${name}` : name, instance: String(a['service.instance.id'] ?? '') };
}

/**
 * Text exposition of every resource's metrics, plus target_info per resource.
 * `promote` names resource attributes to copy onto every series of their
 * resource as labels (k8s.namespace.name -> k8s_namespace_name).
 */
export function toPrometheusText(resources: ResourceMetrics[], promote: readonly string[] = []): string {
  const families = new Map<string, { type: string; help: string; lines: string[] }>();
  const family = (name: string, type: string, help: string): string[] => {
    let f = families.get(name);
    if (!f) {
      f = { type, help, lines: [] };
      families.set(name, f);
    }
    return f.lines;
  };
  for (const rm of resources) {
    const ji: Record<string, string> = { ...jobInstance(rm) };
    for (const name of promote) {
      const v = rm.resource.attributes[name];
      if (v !== undefined) ji[labelName(name)] = String(v);
    }
    const info: Attributes = {};
    for (const [k, v] of Object.entries(rm.resource.attributes)) {
      if (k !== 'service.name' && k !== 'service.namespace' && k !== 'service.instance.id' && v !== undefined) info[k] = v;
    }
    family('target_info', 'gauge', 'Target metadata').push(`target_info${labels(info, jobInstance(rm))} 1`);
    for (const sm of rm.scopeMetrics) {
      for (const m of sm.metrics) {
        const name = metricName(m);
        if (m.dataPointType === DataPointType.HISTOGRAM) {
          const lines = family(name, 'histogram', m.descriptor.description);
          for (const p of m.dataPoints) {
            const { boundaries, counts } = p.value.buckets;
            let cum = 0;
            boundaries.forEach((b, i) => {
              cum += counts[i] ?? 0;
              lines.push(`${name}_bucket${labels(p.attributes, { ...ji, le: num(b) })} ${cum}`);
            });
            lines.push(`${name}_bucket${labels(p.attributes, { ...ji, le: '+Inf' })} ${p.value.count}`);
            lines.push(`${name}_sum${labels(p.attributes, ji)} ${num(p.value.sum ?? 0)}`);
            lines.push(`${name}_count${labels(p.attributes, ji)} ${p.value.count}`);
          }
        } else if (m.dataPointType === DataPointType.SUM || m.dataPointType === DataPointType.GAUGE) {
          const type = m.dataPointType === DataPointType.SUM && m.isMonotonic ? 'counter' : 'gauge';
          const lines = family(name, type, m.descriptor.description);
          for (const p of m.dataPoints) lines.push(`${name}${labels(p.attributes, ji)} ${num(p.value)}`);
        }
      }
    }
  }
  let out = '';
  for (const [name, f] of families) {
    out += `# HELP ${name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${name} ${f.type}\n${f.lines.join('\n')}\n`;
  }
  return out;
}

export interface PrometheusServer {
  url: string;
  port: number;
  scrapes: number;
  close(): Promise<void>;
}

/** Serve GET /metrics; `collect` runs per scrape. */
export function servePrometheus(o: { host: string; port: number; collect: () => ResourceMetrics[]; promote?: readonly string[] }): Promise<PrometheusServer> {
  let scrapes = 0;
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
      return;
    }
    let body: string;
    try {
      body = toPrometheusText(o.collect(), o.promote);
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`collection failed: ${(e as Error).message}\n`);
      return;
    }
    scrapes++;
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      const port = (server.address() as AddressInfo).port;
      const api: PrometheusServer = {
        url: `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}/metrics`,
        port,
        get scrapes() {
          return scrapes;
        },
        close: () => new Promise<void>((r) => server.close(() => r())),
      };
      resolve(api);
    });
  });
}
