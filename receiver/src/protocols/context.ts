/**
 * What a protocol gets from the agent: where to report what it parsed, its
 * counters, and the limits to keep. Every protocol (HTTP/1, Redis, PostgreSQL,
 * MySQL, memcached, DNS, ...) is a Detector built from this context; the
 * pipeline only ever sees the Detector.
 *
 * Example:
 *   export function redisDetector(ctx: ProtocolContext): Detector { ... ctx.db.onOperation(record) ... }
 */
import type { ConnInfo } from './http1-session';
import type { Detector } from './registry';
import type { Role } from './types';

/** db.system.name values used by Kindling's database protocols */
export type DbSystem = 'redis' | 'postgresql' | 'mysql' | 'mariadb' | 'memcached';

/** One database operation seen on a connection, ready for telemetry. */
export interface DbOperationRecord {
  system: DbSystem;
  /** client: this process sent the command; server: it answered it */
  role: Role;
  conn: ConnInfo;
  /** db.operation.name: the command or statement verb (GET, SELECT, COM_PING, ...) */
  operation: string;
  /** db.collection.name: the table or key space when cheaply known */
  collection?: string;
  /** db.namespace: the database (PostgreSQL startup database, MySQL schema, Redis db index) */
  namespace?: string;
  /** db.query.text: already fingerprinted unless configured otherwise */
  queryText?: string;
  /** db.response.status_code: SQLSTATE, MySQL error number, Redis error prefix */
  statusCode?: string;
  /** error.type when the operation failed (status code, or a transport failure) */
  errorType?: string;
  /** db.response.returned_rows */
  returnedRows?: number;
  /** db.operation.batch.size, when several operations went as one (pipelines of one round trip are separate) */
  batchSize?: number;
  /** operations of one transaction share this number (Redis MULTI/EXEC) */
  transaction?: number;
  /** no response: the request waited too long, or the connection ended */
  failure?: 'timeout' | 'connection_closed' | 'evicted';
  /** start: enter of the syscall carrying the request's first byte; end: exit of the one carrying the response's last byte */
  startNs: number;
  endNs: number;
  requestTid: number;
  responseTid?: number;
}

export interface DbSink {
  onOperation(record: DbOperationRecord): void;
}

/** Per-protocol counters, exported as self-metrics. */
export interface ProtocolStats {
  requests: number;
  exchanges: number;
  parseErrors: number;
  unmatchedResponses: number;
  expired: number;
}

/** One DNS question and its answer (or its failure), for DNS telemetry. */
export interface DnsLookupRecord {
  role: Role;
  /** the datagram's (or TCP connection's) two ends, as seen by this process */
  conn: ConnInfo;
  transport: 'udp' | 'tcp';
  id: number;
  questionName: string;
  /** A, AAAA, CNAME, MX, TXT, SRV, PTR, ... (TYPE<n> when unknown) */
  questionType: string;
  /** NOERROR, NXDOMAIN, SERVFAIL, REFUSED, ... (RCODE<n> when unknown); absent without a response */
  rcode?: string;
  answers: { name: string; type: string; ttl: number; data: string }[];
  failure?: 'timeout' | 'connection_closed' | 'evicted';
  startNs: number;
  endNs: number;
  requestTid: number;
  responseTid?: number;
}

export interface DnsSink {
  onLookup(record: DnsLookupRecord): void;
}

/** An address a DNS answer gave a name to: later connections use it as server.address. */
export interface NameSink {
  learn(address: string, name: string, ttlSeconds: number): void;
}

export interface ProtocolContext {
  db: DbSink;
  dns: DnsSink;
  names: NameSink;
  /** the counters of one protocol, by name ("redis", "postgresql", ...) */
  stats(protocol: string): ProtocolStats;
  timeoutNs: number;
  maxPending: number;
  /** replace literals and arguments in db.query.text with '?' (default true) */
  fingerprint: boolean;
}

export type ProtocolFactory = (ctx: ProtocolContext) => Detector;

export function emptyStats(): ProtocolStats {
  return { requests: 0, exchanges: 0, parseErrors: 0, unmatchedResponses: 0, expired: 0 };
}
