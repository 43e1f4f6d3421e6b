/**
 * DNS lookups to OpenTelemetry: a span `DNS {type}` per question (CLIENT for
 * the asking process, SERVER for a resolver answering), dns.question.name, the
 * dns.lookup.duration histogram, and every A/AAAA answer taught to the name map
 * so later connections to those addresses carry the name as server.address.
 * NXDOMAIN is an error only when configured (a negative answer is an answer).
 */
import type { Attributes } from '@opentelemetry/api';
import type { DnsLookupRecord, DnsSink } from '../protocols/context';
import type { WallClock } from './clock';
import type { SpanSink } from './http-telemetry';
import { IdGenerator } from './ids';
import type { Histogram, MetricStore } from './metric-store';
import type { DnsNames } from './names';
import type { ResourceResolver } from './resources';
import { exchangeSpan } from './exchange-span';
import { VERSION } from '../version';

export const DNS_DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];

export interface DnsTelemetryDeps {
  spans: SpanSink;
  metrics: MetricStore;
  resources: ResourceResolver;
  names: DnsNames;
  clock: WallClock;
  nxdomainIsError: boolean;
  ids?: IdGenerator;
}

export class DnsTelemetry implements DnsSink {
  readonly #d: DnsTelemetryDeps;
  readonly #ids: IdGenerator;
  readonly #duration: Histogram;
  readonly #scope = { name: 'kindling', version: VERSION.kindling };
  spans = 0;

  constructor(d: DnsTelemetryDeps) {
    this.#d = d;
    this.#ids = d.ids ?? new IdGenerator();
    this.#duration = d.metrics.histogram('dns.lookup.duration', { unit: 's', description: 'Duration of DNS lookups.', boundaries: DNS_DURATION_BUCKETS });
  }

  /** the name the question asked about is what its addresses are called */
  #learn(r: DnsLookupRecord): void {
    for (const a of r.answers) if (a.type === 'A' || a.type === 'AAAA') this.#d.names.learn(a.data, r.questionName, a.ttl);
  }

  onLookup(r: DnsLookupRecord): void {
    if (r.rcode === 'NOERROR') this.#learn(r);
    const server = r.role === 'server';
    const res = this.#d.resources.resourceFor(r.conn.pid, r.conn.comm, r.conn.cgroupId);
    const rcodeError = r.rcode !== undefined && r.rcode !== 'NOERROR' && (r.rcode !== 'NXDOMAIN' || this.#d.nxdomainIsError);
    const errorType = r.failure ?? (rcodeError ? r.rcode : undefined);
    const attrs: Attributes = {
      'dns.question.name': r.questionName,
      'kindling.dns.question.type': r.questionType,
      'network.transport': r.transport,
      'server.address': server ? r.conn.local.addr : r.conn.remote.addr,
      'server.port': server ? r.conn.local.port : r.conn.remote.port,
      'network.peer.address': r.conn.remote.addr,
      'network.peer.port': r.conn.remote.port,
      'thread.id': r.requestTid,
    };
    if (r.rcode) attrs['kindling.dns.response.code'] = r.rcode;
    if (r.answers.length) attrs['dns.answers'] = r.answers.map((a) => a.data);
    if (errorType) attrs['error.type'] = errorType;
    this.#d.spans.push(
      exchangeSpan(
        { name: `DNS ${r.questionType}`, server, startNs: r.startNs, endNs: r.endNs, errorType, failure: r.failure, attributes: attrs, resource: res.resource, scope: this.#scope },
        this.#d.clock,
        this.#ids,
      ),
    );
    this.spans++;
    if (server) return;
    const m: Attributes = { 'dns.question.name': r.questionName };
    if (errorType) m['error.type'] = errorType;
    this.#duration.record(res, m, Math.max(0, r.endNs - r.startNs) / 1e9);
  }
}
