/** Received metric data points: the flat view of ExportMetricsServiceRequest messages. */
import { asList, asRecord, flatAttributes, flatScope, nanos, num, str } from './decode';
import type { Decoded, FlatAttributes, FlatScope } from './decode';

/**
 * One data point of one metric, with everything above it flattened in.
 * Gauge/sum points carry `value` (asInt or asDouble as a number); histogram points
 * carry count/sum/min/max/bucketCounts/explicitBounds. `raw` is the decoded point
 * (exponential histograms and summaries are read from there).
 */
export interface ReceivedDataPoint {
  metric: string;
  description: string;
  unit: string;
  type: 'gauge' | 'sum' | 'histogram' | 'exponentialHistogram' | 'summary';
  /** Enum name, e.g. 'AGGREGATION_TEMPORALITY_CUMULATIVE'; undefined for gauges. */
  aggregationTemporality: string | undefined;
  /** Sums only. */
  isMonotonic: boolean | undefined;
  resource: FlatAttributes;
  scope: FlatScope;
  attributes: FlatAttributes;
  startTimeUnixNano: bigint;
  timeUnixNano: bigint;
  /** asInt arrives as a decimal string: past 2^53 this number is rounded (raw.asInt is exact). */
  value?: number;
  count?: number;
  sum?: number;
  min?: number;
  max?: number;
  bucketCounts?: number[];
  explicitBounds?: number[];
  raw: Decoded;
}

const METRIC_KINDS = ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'] as const;

export function flattenPoints(requests: Decoded[], metricName: string): ReceivedDataPoint[] {
  const out: ReceivedDataPoint[] = [];
  for (const req of requests) {
    for (const rm of asList(req['resourceMetrics'])) {
      const resource = flatAttributes(asRecord(rm['resource'])['attributes']);
      for (const sm of asList(rm['scopeMetrics'])) {
        const scope = flatScope(sm['scope']);
        for (const m of asList(sm['metrics'])) {
          if (m['name'] !== metricName) continue;
          const type = METRIC_KINDS.find((k) => m[k] !== undefined && m[k] !== null);
          if (type === undefined) continue;
          const data = asRecord(m[type]);
          for (const p of asList(data['dataPoints'])) {
            out.push({
              metric: metricName,
              description: str(m['description']),
              unit: str(m['unit']),
              type,
              aggregationTemporality: data['aggregationTemporality'] === undefined ? undefined : str(data['aggregationTemporality']),
              isMonotonic: type === 'sum' ? data['isMonotonic'] === true : undefined,
              resource,
              scope,
              attributes: flatAttributes(p['attributes']),
              startTimeUnixNano: nanos(p['startTimeUnixNano']),
              timeUnixNano: nanos(p['timeUnixNano']),
              ...pointValues(p),
              raw: p,
            });
          }
        }
      }
    }
  }
  return out;
}

export function pointValues(p: Decoded): Partial<ReceivedDataPoint> {
  const v: Partial<ReceivedDataPoint> = {};
  if ('asDouble' in p) v.value = num(p['asDouble']);
  if ('asInt' in p) v.value = num(p['asInt']);
  if (Array.isArray(p['explicitBounds'])) {
    v.count = num(p['count']);
    v.bucketCounts = Array.isArray(p['bucketCounts']) ? p['bucketCounts'].map(num) : [];
    v.explicitBounds = p['explicitBounds'].map(num);
    for (const k of ['sum', 'min', 'max'] as const) if (k in p) v[k] = num(p[k]);
  }
  return v;
}
