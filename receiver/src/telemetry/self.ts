/**
 * Kindling's own metrics, on the same endpoints as the rest, under the
 * agent's own resource: events in and lost, parse failures, pairing expiries
 * and unmatched responses, the connection table, span and metric exports.
 * Values are cumulative counts read from each stage's counters at collection.
 */
import type { Attributes } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import * as os from 'node:os';
import type { MetricStore, ResourceRef } from './metric-store';
import { telemetryAttributes } from './resources';

export interface SelfSnapshot {
  sourceEvents: number;
  lost: Record<string, number>;
  ringUsedBytes: number;
  ringSizeBytes: number;
  connections: number;
  connectionEvictions: number;
  protocols: Record<string, { requests: number; parseErrors: number; expired: number; unmatchedResponses: number; exchanges: number }>;
  spansExported: number;
  spansExportFailed: number;
  spansDropped: number;
  spansQueued: number;
  metricExports: number;
  metricExportFailures: number;
  seriesOverflow: number;
  routesOverflow: number;
  resourcesEvicted: number;
  /** trace profiling stacks, when on */
  stacks?: { received: number; attached: number; dropped: number; symbolizer: { failures: Record<string, number> } };
}

export class SelfTelemetry {
  readonly ref: ResourceRef;
  readonly #set: (name: string, unit: string, description: string, attrs: Attributes, value: number, kind?: 'counter' | 'gauge' | 'updown') => void;

  constructor(store: MetricStore, serviceName: string, extra: Attributes = {}) {
    const host = os.hostname();
    this.ref = {
      key: 'kindling/self',
      resource: resourceFromAttributes({
        'service.name': serviceName,
        'service.instance.id': `${host}/${process.pid}`,
        'host.name': host,
        'os.type': 'linux',
        'process.pid': process.pid,
        ...telemetryAttributes(),
        ...extra,
      }),
    };
    const gauges = new Map<string, ReturnType<MetricStore['gauge']>>();
    this.#set = (name, unit, description, attrs, value, kind = 'counter') => {
      let g = gauges.get(name);
      if (!g) {
        g = store.gauge(name, { unit, description, kind });
        gauges.set(name, g);
      }
      g.set(this.ref, attrs, value);
    };
  }

  update(s: SelfSnapshot): void {
    const set = this.#set;
    set('kindling.source.events', '{event}', 'Events received from the kernel (or a replay).', {}, s.sourceEvents);
    for (const [reason, n] of Object.entries(s.lost)) set('kindling.source.lost', '{event}', 'Events lost before reaching the agent, by reason.', { reason }, n);
    set('kindling.ringbuf.used', 'By', 'Bytes waiting in the kernel ring buffer.', {}, s.ringUsedBytes, 'gauge');
    set('kindling.ringbuf.size', 'By', 'Size of the kernel ring buffer.', {}, s.ringSizeBytes, 'gauge');
    set('kindling.connections', '{connection}', 'Connections in the connection table.', {}, s.connections, 'updown');
    set('kindling.connection.evictions', '{connection}', 'Connections evicted from the full table.', {}, s.connectionEvictions);
    for (const [protocol, p] of Object.entries(s.protocols)) {
      const a = { protocol };
      set('kindling.requests', '{request}', 'Requests parsed.', a, p.requests);
      set('kindling.exchanges', '{request}', 'Requests paired with a response.', a, p.exchanges);
      set('kindling.parse.errors', '{error}', 'Bytes a protocol parser could not parse.', a, p.parseErrors);
      set('kindling.pairing.expired', '{request}', 'Requests that got no response in time.', a, p.expired);
      set('kindling.pairing.unmatched_responses', '{response}', 'Responses with no request to pair with.', a, p.unmatchedResponses);
    }
    set('kindling.spans.exported', '{span}', 'Spans delivered to exporters.', {}, s.spansExported);
    set('kindling.spans.export_failed', '{span}', 'Spans whose export failed.', {}, s.spansExportFailed);
    set('kindling.spans.dropped', '{span}', 'Spans dropped because the export queue was full.', { reason: 'queue_full' }, s.spansDropped);
    set('kindling.spans.queued', '{span}', 'Spans waiting for export.', {}, s.spansQueued, 'gauge');
    set('kindling.metric.exports', '{export}', 'Metric exports attempted.', {}, s.metricExports);
    set('kindling.metric.export_failed', '{export}', 'Metric exports that failed.', {}, s.metricExportFailures);
    set('kindling.metric.series_overflow', '{measurement}', 'Measurements folded into an overflow series.', {}, s.seriesOverflow);
    set('kindling.http.route_overflow', '{request}', 'Requests whose route exceeded the per-service cap.', {}, s.routesOverflow);
    set('kindling.metric.resources_evicted', '{resource}', 'Resources dropped from the metric store.', {}, s.resourcesEvicted);
    if (s.stacks) {
      for (const state of ['received', 'attached', 'dropped'] as const) set('kindling.profile.stacks', '{stack}', 'Trace profiling stack records, by what became of them.', { state }, s.stacks[state]);
      for (const [what, n] of Object.entries(s.stacks.symbolizer.failures)) set('kindling.profile.symbolize.failures', '{failure}', 'Stack symbolization failures, by what could not be read.', { what }, n);
    }
  }
}
