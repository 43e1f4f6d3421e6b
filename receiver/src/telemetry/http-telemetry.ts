/**
 * HTTP exchanges to OpenTelemetry: a SERVER or CLIENT span per request with the
 * stable HTTP semantic conventions, and the duration and body-size histograms,
 * each request recorded on its own.
 *
 * Parents: a request carrying a W3C traceparent puts its span into that trace
 * as a child of the header's span; without one, a SERVER span whose client is
 * on this node becomes the child of that CLIENT span. (When both apply, the
 * header wins: the client span and the server span are then siblings under it.)
 *
 * Timing (the one definition): a span starts at the enter of the syscall that
 * carried the request's first byte and ends at the exit of the syscall that
 * carried the response's last byte (or when the request was given up on).
 */
import type { Attributes } from '@opentelemetry/api';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { Connection } from '../conn/connection';
import type { HttpMessage } from '../protocols/http1';
import type { HttpExchange, HttpSink, SpanIds } from '../protocols/http1-session';
import type { Role } from '../protocols/types';
import { WallClock, hrDuration } from './clock';
import { IdGenerator, parseTraceparent } from './ids';
import type { LocalLinker } from './linker';
import type { MetricStore, Histogram } from './metric-store';
import type { ResourceResolver } from './resources';
import type { RouteTemplater } from './routes';
import { targetPath } from './routes';
import { KindlingSpan } from './span';
import { profileAttributes } from './profile';
import type { Profiler } from './profile';
import type { Slice } from './slices';
import { VERSION } from '../version';

/** Semantic-conventions duration buckets (seconds), 5 ms to 10 s. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
/** Body sizes in bytes. */
export const SIZE_BUCKETS = [0, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216];

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'QUERY']);

export interface SpanSink {
  push(span: KindlingSpan): void;
}

export interface HttpTelemetryDeps {
  spans: SpanSink;
  metrics: MetricStore;
  resources: ResourceResolver;
  routes: RouteTemplater;
  linker: LocalLinker;
  clock: WallClock;
  ids?: IdGenerator;
  /** trace profiling (tier 1): the breakdown of every server span */
  profiler?: Profiler;
  /** names DNS answers gave to addresses: a client's server.address when no Host header names it */
  names?: { lookup(address: string): string | undefined };
}

interface Instruments {
  offcpu: Histogram;
  runq: Histogram;
  serverDuration: Histogram;
  clientDuration: Histogram;
  serverRequestSize: Histogram;
  serverResponseSize: Histogram;
  clientRequestSize: Histogram;
  clientResponseSize: Histogram;
}

function requestLine(m: HttpMessage): string {
  return `${m.method ?? ''} ${m.target ?? ''}`;
}

const hostMemo = new Map<string, { address?: string; port?: number }>();

/** host and port from a Host header value ("example.com:8080", "[::1]:80"), memoised (bounded) */
export function splitHost(host: string | undefined): { address?: string; port?: number } {
  if (!host) return {};
  const known = hostMemo.get(host);
  if (known) return known;
  const r = parseHost(host);
  if (hostMemo.size >= 4096) hostMemo.clear();
  hostMemo.set(host, r);
  return r;
}

function parseHost(host: string): { address?: string; port?: number } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host.trim());
  if (!m || !m[1]) return {};
  const address = m[1].replace(/^\[|\]$/g, '');
  return m[2] ? { address, port: Number(m[2]) } : { address };
}

export class HttpTelemetry implements HttpSink {
  readonly #d: HttpTelemetryDeps;
  readonly #ids: IdGenerator;
  readonly #i: Instruments;
  readonly #scope = { name: 'kindling', version: VERSION.kindling };
  spans = 0;

  constructor(deps: HttpTelemetryDeps) {
    this.#d = deps;
    this.#ids = deps.ids ?? new IdGenerator();
    const m = deps.metrics;
    const size = (name: string, what: string): Histogram => m.histogram(name, { unit: 'By', description: `Size of HTTP ${what} bodies.`, boundaries: SIZE_BUCKETS });
    this.#i = {
      offcpu: m.histogram('kindling.http.server.offcpu.duration', { unit: 's', description: 'Off-CPU time of HTTP server requests, by cause.', boundaries: DURATION_BUCKETS }),
      runq: m.histogram('kindling.http.server.runq.duration', { unit: 's', description: 'Run-queue wait of HTTP server requests.', boundaries: DURATION_BUCKETS }),
      serverDuration: m.histogram('http.server.request.duration', { unit: 's', description: 'Duration of HTTP server requests.', boundaries: DURATION_BUCKETS }),
      clientDuration: m.histogram('http.client.request.duration', { unit: 's', description: 'Duration of HTTP client requests.', boundaries: DURATION_BUCKETS }),
      serverRequestSize: size('http.server.request.body.size', 'server request'),
      serverResponseSize: size('http.server.response.body.size', 'server response'),
      clientRequestSize: size('http.client.request.body.size', 'client request'),
      clientResponseSize: size('http.client.response.body.size', 'client response'),
    };
  }

  onRequest(role: Role, conn: Connection, request: HttpMessage): SpanIds {
    const ids = this.#requestIds(role, conn, request);
    if (role === 'server') this.#d.profiler?.activity.begin(conn.tid, ids.spanId, ids.traceId);
    return ids;
  }

  #requestIds(role: Role, conn: Connection, request: HttpMessage): SpanIds {
    const tp = parseTraceparent(request.headers.traceparent);
    const spanId = this.#ids.spanId();
    const profiler = this.#d.profiler;
    if (tp) {
      const ids: SpanIds = {
        traceId: tp.traceId,
        spanId,
        parent: { ...tp, remote: true, ...(request.headers.tracestate ? { traceState: request.headers.tracestate } : {}) },
      };
      if (role === 'client') this.#d.linker.registerClient(conn.local, conn.remote, requestLine(request), { traceId: ids.traceId, spanId, traceFlags: tp.traceFlags });
      return ids;
    }
    if (role === 'client') {
      // a call made by a thread serving exactly one request is made for that request
      const parent = profiler?.activity.sole(conn.tid);
      if (parent) {
        const ids: SpanIds = { traceId: parent.traceId, spanId, parent: { traceId: parent.traceId, spanId: parent.spanId, traceFlags: 1, remote: false } };
        this.#d.linker.registerClient(conn.local, conn.remote, requestLine(request), { traceId: ids.traceId, spanId, traceFlags: 1 });
        return ids;
      }
      const ids = { traceId: this.#ids.traceId(), spanId };
      this.#d.linker.registerClient(conn.local, conn.remote, requestLine(request), { ...ids, traceFlags: 1 });
      return ids;
    }
    const client = this.#d.linker.findClient(conn.local, conn.remote, requestLine(request));
    if (client) return { traceId: client.traceId, spanId, parent: { ...client, remote: false } };
    return { traceId: this.#ids.traceId(), spanId };
  }

  onExchange(ex: HttpExchange): void {
    const req = ex.request;
    let ids = ex.ids;
    if (ex.role === 'server' && !ids.parent) {
      // the client's request event may have arrived after the server's: try once more
      const client = this.#d.linker.findClient(ex.conn.local, ex.conn.remote, requestLine(req));
      if (client) ids = { traceId: client.traceId, spanId: ids.spanId, parent: { ...client, remote: false } };
    }
    if (ex.role === 'client') this.#d.linker.unregisterClient(ex.conn.local, ex.conn.remote, ids.spanId);

    const res = this.#d.resources.resourceFor(ex.conn.pid, ex.conn.comm, ex.conn.cgroupId);
    const service = String(res.resource.attributes['service.name'] ?? ex.conn.comm);
    const rawMethod = req.method ?? '_OTHER';
    const method = KNOWN_METHODS.has(rawMethod) ? rawMethod : '_OTHER';
    const status = ex.response?.status;
    const version = ex.response?.version ?? req.version;
    const path = targetPath(req.target ?? '/');
    const host = splitHost(req.headers.host);
    const server = ex.role === 'server';
    const errorType = ex.failure ?? (status !== undefined && status >= (server ? 500 : 400) ? String(status) : undefined);

    const attrs: Attributes = { 'http.request.method': method };
    if (method !== rawMethod) attrs['http.request.method_original'] = rawMethod;
    if (status !== undefined) attrs['http.response.status_code'] = status;
    attrs['url.scheme'] = 'http';
    attrs['network.protocol.version'] = version;
    attrs['network.peer.address'] = ex.conn.remote.addr;
    attrs['network.peer.port'] = ex.conn.remote.port;
    let route: string | undefined;
    let serverAddress: string;
    let serverPort: number;
    if (server) {
      route = this.#d.routes.route(service, req.target ?? '/');
      serverAddress = host.address ?? ex.conn.local.addr;
      serverPort = host.port ?? ex.conn.local.port;
      attrs['http.route'] = route;
      attrs['url.path'] = path;
      attrs['client.address'] = ex.conn.remote.addr;
      attrs['client.port'] = ex.conn.remote.port;
    } else {
      serverAddress = host.address ?? this.#d.names?.lookup(ex.conn.remote.addr) ?? ex.conn.remote.addr;
      serverPort = ex.conn.remote.port;
      const authority = serverAddress.includes(':') ? `[${serverAddress}]` : serverAddress;
      attrs['url.full'] = `http://${authority}${serverPort === 80 ? '' : `:${serverPort}`}${path}`;
    }
    attrs['server.address'] = serverAddress;
    attrs['server.port'] = serverPort;
    if (req.headers.userAgent) attrs['user_agent.original'] = req.headers.userAgent;
    if (req.bodySize !== undefined) attrs['http.request.body.size'] = req.bodySize;
    if (ex.response?.bodySize !== undefined) attrs['http.response.body.size'] = ex.response.bodySize;
    if (errorType) attrs['error.type'] = errorType;
    attrs['thread.id'] = ex.requestTid;
    Object.assign(attrs, this.#d.resources.peerAttributes(ex.conn.local, ex.conn.remote));
    const profiler = this.#d.profiler;
    let timeline: Slice[] = [];
    let breakdown: ReturnType<Profiler['breakdown']>;
    if (profiler) {
      if (server) {
        const concurrency = profiler.activity.end(ex.requestTid, ids.spanId);
        if (ex.response && ex.responseTid !== undefined) {
          breakdown = profiler.breakdown(ex.requestTid, ex.startNs, ex.responseTid, ex.endNs, concurrency);
          Object.assign(attrs, profileAttributes(breakdown));
        }
        // tier 2: a selected span gets its thread's timeline as children
        if (ex.responseTid === ex.requestTid && profiler.selector.select(`${service} ${method} ${route}`, ex.endNs - ex.startNs)) {
          timeline = profiler.children(ex.requestTid, ex.startNs, ex.endNs);
          attrs['kindling.profile.selected'] = true;
        }
      } else {
        profiler.activity.client(ex.requestTid, ex.startNs, ex.endNs);
      }
    }

    const clock = this.#d.clock;
    this.#d.spans.push(
      new KindlingSpan({
        name: server ? `${method} ${route}` : method,
        kind: server ? SpanKind.SERVER : SpanKind.CLIENT,
        traceId: ids.traceId,
        spanId: ids.spanId,
        ...(ids.parent ? { parent: ids.parent } : {}),
        startTime: clock.toHrTime(ex.startNs),
        endTime: clock.toHrTime(ex.endNs),
        duration: hrDuration(ex.startNs, ex.endNs),
        status: errorType ? { code: SpanStatusCode.ERROR, ...(ex.failure ? { message: `no response: ${ex.failure}` } : {}) } : { code: SpanStatusCode.UNSET },
        attributes: attrs,
        resource: res.resource,
        scope: this.#scope,
      }),
    );
    this.spans++;
    for (const c of timeline) {
      this.#d.spans.push(
        new KindlingSpan({
          name: c.cause === 'runq' ? 'runq wait' : `offcpu ${c.cause}`,
          kind: SpanKind.INTERNAL,
          traceId: ids.traceId,
          spanId: this.#ids.spanId(),
          parent: { traceId: ids.traceId, spanId: ids.spanId, traceFlags: 1, remote: false },
          startTime: clock.toHrTime(c.startNs),
          endTime: clock.toHrTime(c.endNs),
          duration: hrDuration(c.startNs, c.endNs),
          status: { code: SpanStatusCode.UNSET },
          attributes: {
            'kindling.offcpu.cause': c.cause,
            'thread.id': ex.requestTid,
            // tier 3: the user stack the thread blocked with (symbolized now, for this span only)
            ...(c.cause !== 'runq' ? profiler?.stacks?.attributes(ex.requestTid, c.startNs, c.endNs) : undefined),
          },
          resource: res.resource,
          scope: this.#scope,
        }),
      );
    }

    // metrics: the semconv attribute sets (no per-request values like ports of clients or paths)
    const m: Attributes = { 'http.request.method': method };
    if (status !== undefined) m['http.response.status_code'] = status;
    if (route !== undefined) m['http.route'] = route;
    m['url.scheme'] = 'http';
    m['network.protocol.version'] = version;
    m['server.address'] = serverAddress;
    m['server.port'] = serverPort;
    if (errorType) m['error.type'] = errorType;
    const seconds = Math.max(0, ex.endNs - ex.startNs) / 1e9;
    const i = this.#i;
    (server ? i.serverDuration : i.clientDuration).record(res, m, seconds);
    if (req.bodySize !== undefined) (server ? i.serverRequestSize : i.clientRequestSize).record(res, m, req.bodySize);
    if (ex.response?.bodySize !== undefined) (server ? i.serverResponseSize : i.clientResponseSize).record(res, m, ex.response.bodySize);
    if (breakdown && breakdown !== 'handoff') {
      // where latency goes per endpoint: off-CPU by cause and run-queue waits
      const e: Attributes = { 'http.request.method': method, 'http.route': route ?? '' };
      i.runq.record(res, e, breakdown.runqNs / 1e9);
      for (const [cause, ns] of Object.entries(breakdown.offNs)) if (ns > 0) i.offcpu.record(res, { ...e, 'kindling.offcpu.cause': cause }, ns / 1e9);
      if (breakdown.downstreamNs > 0) i.offcpu.record(res, { ...e, 'kindling.offcpu.cause': 'downstream' }, breakdown.downstreamNs / 1e9);
    }
  }
}
