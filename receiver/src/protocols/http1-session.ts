/**
 * HTTP/1 on one connection: a parser per direction and a FIFO that pairs each
 * response with the oldest unanswered request (pipelining included). Completed
 * and failed exchanges go to the sink; the sink also names each request's span
 * when it is first seen, so a server span on this node can point at it.
 */
import type { SockEvent } from '../events/types';
import type { Connection, ProtocolSession } from '../conn/connection';
import { FifoPairing } from '../pairing/fifo';
import { Http1Parser } from './http1';
import type { Http1Event, HttpMessage } from './http1';
import type { Role, Segment } from './types';

/** Trace identity given to a request when it is first seen. */
export interface SpanIds {
  traceId: string;
  spanId: string;
  /** the parent, when the request carried traceparent or its client is on this node */
  parent?: { traceId: string; spanId: string; traceFlags: number; remote: boolean; traceState?: string };
}

/** A snapshot of the connection an exchange ran on. */
export interface ConnInfo {
  sockId: number;
  pid: number;
  comm: string;
  cgroupId: number;
  family: number;
  local: { addr: string; port: number };
  remote: { addr: string; port: number };
}

export interface HttpExchange {
  role: Role;
  conn: ConnInfo;
  request: HttpMessage;
  response?: HttpMessage;
  /** why there is no response: the request waited too long, or the connection ended first */
  failure?: 'timeout' | 'connection_closed' | 'evicted';
  ids: SpanIds;
  /** thread that carried the request's first byte, and the response's last */
  requestTid: number;
  responseTid?: number;
  /** exchange bounds: start of the request, end of the response (or when it failed) */
  startNs: number;
  endNs: number;
}

export interface HttpSink {
  /** a request was seen: give it span ids (and a parent, if one is known) */
  onRequest(role: Role, conn: Connection, request: HttpMessage): SpanIds;
  onExchange(exchange: HttpExchange): void;
}

export interface HttpSessionStats {
  requests: number;
  exchanges: number;
  parseErrors: number;
  unmatchedResponses: number;
  expired: number;
}

export interface HttpSessionDeps {
  sink: HttpSink;
  stats: HttpSessionStats;
  timeoutNs: number;
  maxPending: number;
}

interface Pending {
  request: HttpMessage;
  ids: SpanIds;
  tid: number;
}

function connInfo(c: Connection): ConnInfo {
  return { sockId: c.sockId, pid: c.pid, comm: c.comm, cgroupId: c.cgroupId, family: c.family, local: c.local, remote: c.remote };
}

export class Http1Session implements ProtocolSession {
  readonly protocol = 'http1';
  readonly role: Role;
  readonly #requests: Http1Parser;
  readonly #responses: Http1Parser;
  readonly #pending: FifoPairing<Pending>;
  readonly #deps: HttpSessionDeps;
  #upgraded = false;
  /** final (non-1xx) responses handled, paired or not: the parser's response ordinal base */
  #finalResponses = 0;

  constructor(role: Role, deps: HttpSessionDeps) {
    this.role = role;
    this.#deps = deps;
    this.#pending = new FifoPairing<Pending>({ maxPending: deps.maxPending });
    this.#requests = new Http1Parser({ side: 'request' });
    // the parser frames every response of a segment before we pair any: response k answers pending request k - (final responses handled so far)
    this.#responses = new Http1Parser({ side: 'response', requestMethod: (k) => this.#pending.at(k - this.#finalResponses)?.request.method });
  }

  onData(conn: Connection, ev: SockEvent): void {
    if (this.#upgraded) return;
    // the server reads requests and writes responses; the client the other way round
    const requestSide = (ev.direction === 2) === (this.role === 'server');
    if (ev.len === 0) {
      // a read of 0 is the peer closing: a response framed by close ends here
      if (ev.ret === 0 && !requestSide) this.#handle(conn, ev.tid, this.#responses.end(ev.exitNs), false);
      return;
    }
    const seg: Segment = { data: ev.payload, len: ev.len, enterNs: ev.enterNs, exitNs: ev.exitNs };
    if (requestSide) this.#handle(conn, ev.tid, this.#requests.push(seg), true);
    else this.#handle(conn, ev.tid, this.#responses.push(seg), false);
  }

  #handle(conn: Connection, tid: number, events: Http1Event[], requests: boolean): void {
    const { stats, sink } = this.#deps;
    for (const e of events) {
      if (e.kind === 'error') {
        stats.parseErrors++;
        continue;
      }
      const m = e.message;
      if (requests) {
        stats.requests++;
        const ids = sink.onRequest(this.role, conn, m);
        const pushedOut = this.#pending.push({ request: m, ids, tid }, m.startNs);
        if (pushedOut) this.#fail(conn, pushedOut, 'timeout', m.startNs);
        continue;
      }
      if (m.informational) continue;
      this.#finalResponses++;
      const p = this.#pending.shift();
      if (!p) {
        stats.unmatchedResponses++;
        continue;
      }
      stats.exchanges++;
      sink.onExchange({
        role: this.role,
        conn: connInfo(conn),
        request: p.request,
        response: m,
        ids: p.ids,
        requestTid: p.tid,
        responseTid: tid,
        startNs: p.request.startNs,
        endNs: m.endNs,
      });
      if (m.upgrade) this.#upgraded = true;
    }
  }

  #fail(conn: Connection, p: Pending, failure: NonNullable<HttpExchange['failure']>, atNs: number): void {
    this.#deps.stats.expired++;
    this.#deps.sink.onExchange({
      role: this.role,
      conn: connInfo(conn),
      request: p.request,
      failure,
      ids: p.ids,
      requestTid: p.tid,
      startNs: p.request.startNs,
      endNs: Math.max(atNs, p.request.endNs),
    });
  }

  onClose(conn: Connection, atNs: number, reason: 'closed' | 'evicted'): void {
    if (!this.#upgraded) {
      // a request cut short by the close still counts (truncated), then fails below
      this.#handle(conn, conn.tid, this.#requests.end(atNs), true);
      this.#handle(conn, conn.tid, this.#responses.end(atNs), false);
    }
    for (const p of this.#pending.drain()) this.#fail(conn, p, reason === 'closed' ? 'connection_closed' : 'evicted', atNs);
  }

  expire(conn: Connection, nowNs: number): void {
    for (const p of this.#pending.expire(nowNs, this.#deps.timeoutNs)) this.#fail(conn, p, 'timeout', nowNs);
  }
}
