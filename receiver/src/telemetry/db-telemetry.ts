/**
 * Database operations to OpenTelemetry: a CLIENT span for each operation a
 * process sends and a SERVER span for each one a database process answers,
 * named and attributed per the database semantic conventions, plus the
 * db.client.operation.duration histogram (and Kindling's server-side twin).
 */
import type { Attributes } from '@opentelemetry/api';
import type { DbOperationRecord, DbSink } from '../protocols/context';
import type { WallClock } from './clock';
import type { SpanSink } from './http-telemetry';
import { IdGenerator } from './ids';
import type { Histogram, MetricStore } from './metric-store';
import type { DnsNames } from './names';
import type { ResourceResolver } from './resources';
import { exchangeSpan } from './exchange-span';
import { VERSION } from '../version';

/** Semantic-conventions buckets for database operation durations (seconds). */
const SQL_SYSTEMS = new Set(['postgresql', 'mysql', 'mariadb']);

export const DB_DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];

export interface DbTelemetryDeps {
  spans: SpanSink;
  metrics: MetricStore;
  resources: ResourceResolver;
  names: DnsNames;
  clock: WallClock;
  ids?: IdGenerator;
}

export class DbTelemetry implements DbSink {
  readonly #d: DbTelemetryDeps;
  readonly #ids: IdGenerator;
  readonly #client: Histogram;
  readonly #server: Histogram;
  readonly #scope = { name: 'kindling', version: VERSION.kindling };
  spans = 0;

  constructor(d: DbTelemetryDeps) {
    this.#d = d;
    this.#ids = d.ids ?? new IdGenerator();
    this.#client = d.metrics.histogram('db.client.operation.duration', { unit: 's', description: 'Duration of database client operations.', boundaries: DB_DURATION_BUCKETS });
    this.#server = d.metrics.histogram('kindling.db.server.operation.duration', { unit: 's', description: 'Duration of operations a database server answered.', boundaries: DB_DURATION_BUCKETS });
  }

  onOperation(r: DbOperationRecord): void {
    const server = r.role === 'server';
    const res = this.#d.resources.resourceFor(r.conn.pid, r.conn.comm, r.conn.cgroupId);
    const errorType = r.errorType ?? r.failure;
    // the database's address: for a client the peer (by its DNS name when one was learned), for a server itself
    const serverAddress = server ? r.conn.local.addr : (this.#d.names.lookup(r.conn.remote.addr) ?? r.conn.remote.addr);
    const serverPort = server ? r.conn.local.port : r.conn.remote.port;

    const attrs: Attributes = { 'db.system.name': r.system, 'db.operation.name': r.operation };
    if (r.collection) attrs['db.collection.name'] = r.collection;
    if (r.namespace) attrs['db.namespace'] = r.namespace;
    if (r.queryText) attrs['db.query.text'] = r.queryText;
    if (r.statusCode) attrs['db.response.status_code'] = r.statusCode;
    if (r.returnedRows !== undefined) attrs['db.response.returned_rows'] = r.returnedRows;
    if (r.batchSize !== undefined && r.batchSize > 1) attrs['db.operation.batch.size'] = r.batchSize;
    if (r.transaction !== undefined) attrs['kindling.db.transaction'] = r.transaction;
    attrs['server.address'] = serverAddress;
    attrs['server.port'] = serverPort;
    attrs['network.peer.address'] = r.conn.remote.addr;
    attrs['network.peer.port'] = r.conn.remote.port;
    if (errorType) attrs['error.type'] = errorType;
    attrs['thread.id'] = r.requestTid;
    if (!server) Object.assign(attrs, this.#d.resources.peerAttributes(r.conn.local, r.conn.remote));

    // key-value stores name no collection; their database number does not belong in the name
    const target = r.collection ?? (SQL_SYSTEMS.has(r.system) ? r.namespace : undefined);
    this.#d.spans.push(
      exchangeSpan(
        { name: target ? `${r.operation} ${target}` : r.operation, server, startNs: r.startNs, endNs: r.endNs, errorType, failure: r.failure, attributes: attrs, resource: res.resource, scope: this.#scope },
        this.#d.clock,
        this.#ids,
      ),
    );
    this.spans++;

    const m: Attributes = { 'db.system.name': r.system, 'db.operation.name': r.operation };
    if (r.collection) m['db.collection.name'] = r.collection;
    if (r.namespace) m['db.namespace'] = r.namespace;
    if (r.statusCode) m['db.response.status_code'] = r.statusCode;
    if (errorType) m['error.type'] = errorType;
    m['server.address'] = serverAddress;
    m['server.port'] = serverPort;
    (server ? this.#server : this.#client).record(res, m, Math.max(0, r.endNs - r.startNs) / 1e9);
  }
}
