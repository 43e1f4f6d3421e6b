/**
 * Metrics for many resources at once (one per observed workload), recorded
 * one measurement at a time and read out as OpenTelemetry ResourceMetrics for
 * the OTLP and Prometheus exporters. Cumulative temporality.
 *
 * Bounded: at most `maxSeriesPerMetric` attribute sets per metric and resource
 * (past it, measurements go to one series marked otel.metric.overflow=true),
 * at most `maxResources` resources (the least recently used leaves), and a
 * resource silent for `resourceIdleMs` is dropped at the next collection.
 *
 * Example:
 *   const store = new MetricStore();
 *   const h = store.histogram('http.server.request.duration', { unit: 's', boundaries: [0.005, 0.01, 0.1, 1] });
 *   h.record(res, { 'http.request.method': 'GET' }, 0.012);
 *   const rms = store.collect();
 */
import type { Attributes, HrTime } from '@opentelemetry/api';
import { ValueType } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType } from '@opentelemetry/sdk-metrics';
import type { MetricData, ResourceMetrics } from '@opentelemetry/sdk-metrics';

export interface ResourceRef {
  /** stable identity of the resource (one per workload) */
  key: string;
  resource: Resource;
}

export interface MetricStoreOptions {
  maxSeriesPerMetric?: number;
  maxResources?: number;
  resourceIdleMs?: number;
  scope?: { name: string; version?: string };
}

interface Series {
  attributes: Attributes;
  start: HrTime;
  count: number;
  sum: number;
  min: number;
  max: number;
  buckets: number[] | undefined;
}

type Kind = 'histogram' | 'counter' | 'updown' | 'gauge';

interface Family {
  name: string;
  unit: string;
  description: string;
  kind: Kind;
  boundaries: number[];
  /** resource key -> series key -> series */
  data: Map<string, Map<string, Series>>;
}

export const OVERFLOW_ATTRIBUTE = 'otel.metric.overflow';

function nowHr(): HrTime {
  const ms = Date.now();
  return [Math.floor(ms / 1000), (ms % 1000) * 1e6];
}

// one attribute set is often recorded into several instruments (duration, sizes): key it once
const keys = new WeakMap<Attributes, string>();

function seriesKey(attrs: Attributes): string {
  const known = keys.get(attrs);
  if (known !== undefined) return known;
  let k = '';
  for (const name in attrs) k += `${name}\u0001${String(attrs[name])}\u0002`;
  keys.set(attrs, k);
  return k;
}

export interface Histogram {
  record(res: ResourceRef, attributes: Attributes, value: number): void;
}

export interface Counter {
  add(res: ResourceRef, attributes: Attributes, value?: number): void;
}

export interface Gauge {
  /** last value wins (gauges) or the value replaces the sum (up-down counters set absolutely) */
  set(res: ResourceRef, attributes: Attributes, value: number): void;
}

export class MetricStore {
  readonly #families = new Map<string, Family>();
  readonly #resources = new Map<string, { resource: Resource; touchedMs: number }>();
  readonly #maxSeries: number;
  readonly #maxResources: number;
  readonly #idleMs: number;
  readonly #scope: { name: string; version?: string };
  /** measurements that went to an overflow series */
  overflowed = 0;
  /** resources dropped for the bound or for silence */
  resourcesEvicted = 0;

  constructor(options: MetricStoreOptions = {}) {
    this.#maxSeries = options.maxSeriesPerMetric ?? 2000;
    this.#maxResources = options.maxResources ?? 4096;
    this.#idleMs = options.resourceIdleMs ?? 15 * 60_000;
    this.#scope = options.scope ?? { name: 'kindling' };
  }

  histogram(name: string, o: { unit: string; description?: string; boundaries: number[] }): Histogram {
    const f = this.#family(name, 'histogram', o.unit, o.description ?? '', o.boundaries);
    return { record: (res, attrs, value) => this.#record(f, res, attrs, value) };
  }

  counter(name: string, o: { unit: string; description?: string }): Counter {
    const f = this.#family(name, 'counter', o.unit, o.description ?? '', []);
    return { add: (res, attrs, value = 1) => this.#record(f, res, attrs, value) };
  }

  /** a value set absolutely at each observation: a 'gauge', a cumulative 'counter' read from elsewhere, or an 'updown' sum */
  gauge(name: string, o: { unit: string; description?: string; kind?: 'gauge' | 'updown' | 'counter' }): Gauge {
    const f = this.#family(name, o.kind ?? 'gauge', o.unit, o.description ?? '', []);
    return {
      set: (res, attrs, value) => {
        const s = this.#series(f, res, attrs);
        s.sum = value;
        s.count = 1;
      },
    };
  }

  get resourceCount(): number {
    return this.#resources.size;
  }

  #family(name: string, kind: Kind, unit: string, description: string, boundaries: number[]): Family {
    const existing = this.#families.get(name);
    if (existing) return existing;
    const f: Family = { name, kind, unit, description, boundaries: [...boundaries], data: new Map() };
    this.#families.set(name, f);
    return f;
  }

  #touch(res: ResourceRef): void {
    const now = Date.now();
    const r = this.#resources.get(res.key);
    if (r) {
      // keep least-recently-used order without reordering on every measurement
      if (now - r.touchedMs > 1000) {
        this.#resources.delete(res.key);
        r.touchedMs = now;
        this.#resources.set(res.key, r);
      }
      return;
    }
    if (this.#resources.size >= this.#maxResources) {
      const oldest = this.#resources.keys().next().value as string;
      this.#dropResource(oldest);
    }
    this.#resources.set(res.key, { resource: res.resource, touchedMs: now });
  }

  #dropResource(key: string): void {
    this.#resources.delete(key);
    for (const f of this.#families.values()) f.data.delete(key);
    this.resourcesEvicted++;
  }

  #series(f: Family, res: ResourceRef, attrs: Attributes): Series {
    this.#touch(res);
    let byAttrs = f.data.get(res.key);
    if (!byAttrs) {
      byAttrs = new Map();
      f.data.set(res.key, byAttrs);
    }
    let key = seriesKey(attrs);
    let s = byAttrs.get(key);
    if (s) return s;
    if (byAttrs.size >= this.#maxSeries) {
      this.overflowed++;
      attrs = { [OVERFLOW_ATTRIBUTE]: true };
      key = seriesKey(attrs);
      s = byAttrs.get(key);
      if (s) return s;
    }
    s = {
      attributes: attrs,
      start: nowHr(),
      count: 0,
      sum: 0,
      min: Infinity,
      max: -Infinity,
      buckets: f.kind === 'histogram' ? new Array<number>(f.boundaries.length + 1).fill(0) : undefined,
    };
    byAttrs.set(key, s);
    return s;
  }

  #record(f: Family, res: ResourceRef, attrs: Attributes, value: number): void {
    const s = this.#series(f, res, attrs);
    s.count++;
    s.sum += value;
    if (value < s.min) s.min = value;
    if (value > s.max) s.max = value;
    if (s.buckets) {
      // buckets are (b[i-1], b[i]]: a value equal to a boundary belongs to that boundary's bucket
      let i = 0;
      const b = f.boundaries;
      while (i < b.length && value > (b[i] as number)) i++;
      s.buckets[i] = (s.buckets[i] ?? 0) + 1;
    }
  }

  /** Every resource's metrics now; resources silent past the idle limit are dropped first. */
  collect(): ResourceMetrics[] {
    const now = Date.now();
    for (const [key, r] of [...this.#resources]) if (now - r.touchedMs > this.#idleMs) this.#dropResource(key);
    const end = nowHr();
    const out: ResourceMetrics[] = [];
    for (const [key, r] of this.#resources) {
      const metrics: MetricData[] = [];
      for (const f of this.#families.values()) {
        const series = f.data.get(key);
        if (!series || series.size === 0) continue;
        metrics.push(this.#metricData(f, [...series.values()], end));
      }
      if (metrics.length) out.push({ resource: r.resource, scopeMetrics: [{ scope: this.#scope, metrics }] });
    }
    return out;
  }

  #metricData(f: Family, series: Series[], end: HrTime): MetricData {
    const descriptor = { name: f.name, description: f.description, unit: f.unit, valueType: ValueType.DOUBLE };
    const aggregationTemporality = AggregationTemporality.CUMULATIVE;
    if (f.kind === 'histogram') {
      return {
        descriptor,
        aggregationTemporality,
        dataPointType: DataPointType.HISTOGRAM,
        dataPoints: series.map((s) => ({
          startTime: s.start,
          endTime: end,
          attributes: s.attributes,
          value: { buckets: { boundaries: f.boundaries, counts: [...(s.buckets ?? [])] }, sum: s.sum, count: s.count, min: s.min, max: s.max },
        })),
      };
    }
    const points = series.map((s) => ({ startTime: s.start, endTime: end, attributes: s.attributes, value: s.sum }));
    if (f.kind === 'gauge') return { descriptor, aggregationTemporality, dataPointType: DataPointType.GAUGE, dataPoints: points };
    return { descriptor, aggregationTemporality, dataPointType: DataPointType.SUM, dataPoints: points, isMonotonic: f.kind === 'counter' };
  }
}
