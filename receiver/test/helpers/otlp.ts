/**
 * Real OTLP receivers for tests, built on the official protocol definitions
 * (fetched by scripts/fetch-otel-proto.sh into build/otel-proto/; never committed).
 *
 * - startTraceReceiver(): OTLP/gRPC TraceService/Export on 127.0.0.1 (@grpc/grpc-js).
 * - startMetricsReceiver(): OTLP/HTTP POST /v1/metrics, protobuf or JSON (protobufjs).
 *
 * Decoding conventions, identical for every transport and encoding, so a test
 * never cares how a request arrived:
 * - `requests` hold the decoded Export*ServiceRequest as plain objects with
 *   lowerCamelCase field names, proto3 defaults filled in (absent messages are
 *   `null`), 64-bit integers as decimal strings, enums as names
 *   ('SPAN_KIND_SERVER', 'AGGREGATION_TEMPORALITY_CUMULATIVE') and every bytes
 *   field as a lowercase hex string ('' when empty). A oneof member is present
 *   only when set (e.g. a point has `asInt` or `asDouble`, never both).
 * - The flat views (spans(), dataPoints()) turn key/value lists into plain
 *   records of FlatValue, times into bigint nanoseconds, counts into numbers.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as protobuf from 'protobufjs';
import { packageRoot } from '../../src/util/paths';

/** An attribute value after flattening: AnyValue without its wrapper. bytesValue becomes hex; an empty AnyValue becomes null; intValue a number (a bigint past 2^53). */
export type FlatValue = string | number | boolean | bigint | null | FlatValue[] | { [key: string]: FlatValue };
export type FlatAttributes = Record<string, FlatValue>;
/** A decoded protobuf message under the conventions above. */
export type Decoded = Record<string, unknown>;

const TRACE_SERVICE = 'opentelemetry/proto/collector/trace/v1/trace_service.proto';
const METRICS_SERVICE = 'opentelemetry/proto/collector/metrics/v1/metrics_service.proto';
// longs/enums as strings, defaults filled: the same options for proto-loader and protobufjs
const CONVERSION = { longs: String, enums: String, defaults: true, arrays: true, oneofs: false } as const;

/** The include dir holding opentelemetry/proto/...; throws with the fix when it was never fetched. */
export function protoRoot(): string {
  const dir = path.join(packageRoot(), 'build', 'otel-proto');
  for (const f of [TRACE_SERVICE, METRICS_SERVICE]) {
    if (!fs.existsSync(path.join(dir, f))) {
      throw new Error(`OTLP .proto files are missing (${path.join(dir, f)}): run scripts/fetch-otel-proto.sh`);
    }
  }
  return dir;
}

// ---------------------------------------------------------------- normalising

/** Buffers become lowercase hex, recursively; everything else is copied as is. */
function bytesToHex(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
  if (Array.isArray(v)) return v.map(bytesToHex);
  if (v !== null && typeof v === 'object') {
    const out: Decoded = {};
    for (const [k, x] of Object.entries(v)) out[k] = bytesToHex(x);
    return out;
  }
  return v;
}

/** OTLP/JSON writes trace and span ids as hex, not base64 (the protobuf JSON default). */
function hexIdsToBytes(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(hexIdsToBytes);
  if (v !== null && typeof v === 'object') {
    const out: Decoded = {};
    for (const [k, x] of Object.entries(v)) {
      const isId = k === 'traceId' || k === 'spanId' || k === 'parentSpanId';
      out[k] = isId && typeof x === 'string' ? Buffer.from(x, 'hex') : hexIdsToBytes(x);
    }
    return out;
  }
  return v;
}

function asRecord(v: unknown): Decoded {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Decoded) : {};
}
function asList(v: unknown): Decoded[] {
  return Array.isArray(v) ? v.map(asRecord) : [];
}
function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
function num(v: unknown): number {
  return typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : 0;
}
function nanos(v: unknown): bigint {
  return typeof v === 'string' && v !== '' ? BigInt(v) : 0n;
}

function flatValue(any: unknown): FlatValue {
  const a = asRecord(any);
  if ('stringValue' in a) return str(a['stringValue']);
  if ('boolValue' in a) return a['boolValue'] === true;
  if ('doubleValue' in a) return num(a['doubleValue']);
  if ('intValue' in a) {
    const big = BigInt(str(a['intValue']) || '0');
    return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
  }
  if ('bytesValue' in a) return str(a['bytesValue']);
  if ('arrayValue' in a) return asList(asRecord(a['arrayValue'])['values']).map(flatValue);
  if ('kvlistValue' in a) return flatAttributes(asRecord(a['kvlistValue'])['values']);
  return null;
}

/** A repeated KeyValue as a plain record (later duplicates win). */
export function flatAttributes(kvs: unknown): FlatAttributes {
  const out: FlatAttributes = {};
  for (const kv of asList(kvs)) out[str(kv['key'])] = flatValue(kv['value']);
  return out;
}

/** The instrumentation scope of a ScopeSpans / ScopeMetrics. */
export interface FlatScope {
  name: string;
  version: string;
  attributes: FlatAttributes;
}
function flatScope(scope: unknown): FlatScope {
  const s = asRecord(scope);
  return { name: str(s['name']), version: str(s['version']), attributes: flatAttributes(s['attributes']) };
}

/** Waiters re-check their condition after every accepted request. */
class Waiters {
  private readonly pending = new Set<() => void>();
  notify(): void {
    for (const check of [...this.pending]) check();
  }
  until<T>(probe: () => T | undefined, timeoutMs: number, describe: () => string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        let hit: T | undefined;
        try {
          hit = probe();
        } catch (err) {
          // a throwing predicate fails its own wait, not the server that notified it
          this.pending.delete(check);
          clearTimeout(timer);
          reject(err as Error);
          return;
        }
        if (hit === undefined) return;
        this.pending.delete(check);
        clearTimeout(timer);
        resolve(hit);
      };
      const timer = setTimeout(() => {
        this.pending.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms: ${describe()}`));
      }, timeoutMs);
      this.pending.add(check);
      check();
    });
  }
}

/** Counts down failNext(count, code): answers the code while count lasts. */
class FailureBudget<C> {
  private left = 0;
  private code: C | undefined;
  rejected = 0;
  arm(count: number, code: C): void {
    if (!Number.isInteger(count) || count < 0) throw new RangeError(`failNext count must be a non-negative integer, got ${count}`);
    this.left = count;
    this.code = code;
  }
  take(): C | undefined {
    if (this.left === 0 || this.code === undefined) return undefined;
    this.left--;
    this.rejected++;
    return this.code;
  }
}

// ---------------------------------------------------------------- traces

/** One received span with its resource and scope; see the module doc for the conventions. */
export interface ReceivedSpan {
  resource: FlatAttributes;
  scope: FlatScope;
  span: FlatSpan;
}
export interface FlatSpan {
  /** 32 lowercase hex digits. */
  traceId: string;
  /** 16 lowercase hex digits. */
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  traceState: string;
  flags: number;
  name: string;
  /** The OTLP enum name, e.g. 'SPAN_KIND_CLIENT' (OTLP numbers are the API's SpanKind + 1). */
  kind: string;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: FlatAttributes;
  events: { name: string; timeUnixNano: bigint; attributes: FlatAttributes; droppedAttributesCount: number }[];
  links: { traceId: string; spanId: string; traceState: string; attributes: FlatAttributes; droppedAttributesCount: number }[];
  /** code is 'STATUS_CODE_UNSET' | 'STATUS_CODE_OK' | 'STATUS_CODE_ERROR'. */
  status: { code: string; message: string };
  droppedAttributesCount: number;
  droppedEventsCount: number;
  droppedLinksCount: number;
}

/**
 * An OTLP/gRPC trace receiver.
 *
 * @example
 *   const rx = await startTraceReceiver();
 *   try {
 *     const exporter = new OTLPTraceExporter({ url: rx.url });
 *     // ... export spans ...
 *     const [s] = await rx.waitForSpans(1, 5_000);
 *     assert.equal(s?.span.attributes['http.request.method'], 'GET');
 *     assert.equal(s?.resource['service.name'], 'kindling');
 *   } finally {
 *     await rx.close();
 *   }
 */
export interface TraceReceiver {
  readonly port: number;
  /** 'http://127.0.0.1:PORT': the exporter's `url` (http:// means plaintext h2c). */
  readonly url: string;
  /** Accepted ExportTraceServiceRequest messages, in arrival order. */
  readonly requests: Decoded[];
  /** Export calls answered with an error by failNext. */
  readonly rejected: number;
  spans(): ReceivedSpan[];
  /** Resolves with spans() once it holds at least n spans; rejects after timeoutMs (default 5000). */
  waitForSpans(n: number, timeoutMs?: number): Promise<ReceivedSpan[]>;
  /** The next `count` Export calls fail with this gRPC status code (e.g. grpc.status.UNAVAILABLE) and are not recorded. */
  failNext(count: number, grpcStatusCode: grpc.status): void;
  close(): Promise<void>;
}

function flattenSpans(requests: Decoded[]): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const req of requests) {
    for (const rs of asList(req['resourceSpans'])) {
      const resource = flatAttributes(asRecord(rs['resource'])['attributes']);
      for (const ss of asList(rs['scopeSpans'])) {
        const scope = flatScope(ss['scope']);
        for (const s of asList(ss['spans'])) out.push({ resource, scope, span: flatSpan(s) });
      }
    }
  }
  return out;
}

function flatSpan(s: Decoded): FlatSpan {
  const status = asRecord(s['status']);
  return {
    traceId: str(s['traceId']),
    spanId: str(s['spanId']),
    parentSpanId: str(s['parentSpanId']),
    traceState: str(s['traceState']),
    flags: num(s['flags']),
    name: str(s['name']),
    kind: str(s['kind']),
    startTimeUnixNano: nanos(s['startTimeUnixNano']),
    endTimeUnixNano: nanos(s['endTimeUnixNano']),
    attributes: flatAttributes(s['attributes']),
    events: asList(s['events']).map((e) => ({
      name: str(e['name']),
      timeUnixNano: nanos(e['timeUnixNano']),
      attributes: flatAttributes(e['attributes']),
      droppedAttributesCount: num(e['droppedAttributesCount']),
    })),
    links: asList(s['links']).map((l) => ({
      traceId: str(l['traceId']),
      spanId: str(l['spanId']),
      traceState: str(l['traceState']),
      attributes: flatAttributes(l['attributes']),
      droppedAttributesCount: num(l['droppedAttributesCount']),
    })),
    status: { code: str(status['code']) || 'STATUS_CODE_UNSET', message: str(status['message']) },
    droppedAttributesCount: num(s['droppedAttributesCount']),
    droppedEventsCount: num(s['droppedEventsCount']),
    droppedLinksCount: num(s['droppedLinksCount']),
  };
}

export async function startTraceReceiver(): Promise<TraceReceiver> {
  const definition = protoLoader.loadSync(TRACE_SERVICE, { ...CONVERSION, includeDirs: [protoRoot()] });
  const service = definition['opentelemetry.proto.collector.trace.v1.TraceService'];
  if (service === undefined || !('Export' in service)) throw new Error(`${TRACE_SERVICE} has no TraceService/Export`);

  const requests: Decoded[] = [];
  const waiters = new Waiters();
  const failures = new FailureBudget<grpc.status>();
  const server = new grpc.Server();
  server.addService(service as grpc.ServiceDefinition, {
    Export: (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const code = failures.take();
      if (code !== undefined) {
        callback({ code, details: `kindling test receiver: failNext (${grpc.status[code]})` });
        return;
      }
      requests.push(asRecord(bytesToHex(call.request)));
      callback(null, {});
      waiters.notify();
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });

  const receiver: TraceReceiver = {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    get rejected() {
      return failures.rejected;
    },
    spans: () => flattenSpans(requests),
    waitForSpans: (n, timeoutMs = 5_000) =>
      waiters.until(
        () => {
          const spans = flattenSpans(requests);
          return spans.length >= n ? spans : undefined;
        },
        timeoutMs,
        () => `waiting for ${n} spans, have ${flattenSpans(requests).length} in ${requests.length} requests`,
      ),
    failNext: (count, code) => failures.arm(count, code),
    close: () =>
      new Promise<void>((resolve) => {
        // a client holding its channel open must not stall the test's teardown
        const force = setTimeout(() => server.forceShutdown(), 2_000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
  return receiver;
}

// ---------------------------------------------------------------- metrics

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

/**
 * An OTLP/HTTP metrics receiver: POST /v1/metrics as application/x-protobuf or application/json.
 *
 * @example
 *   const rx = await startMetricsReceiver();
 *   try {
 *     const exporter = new OTLPMetricExporter({ url: rx.metricsUrl });
 *     // ... export ...
 *     await rx.waitFor((r) => r.dataPoints('kindling.requests').length > 0, 5_000);
 *     assert.equal(rx.dataPoints('kindling.requests')[0]?.value, 3);
 *   } finally {
 *     await rx.close();
 *   }
 */
export interface MetricsReceiver {
  readonly port: number;
  /** 'http://127.0.0.1:PORT' (an OTEL_EXPORTER_OTLP_ENDPOINT). */
  readonly url: string;
  /** `${url}/v1/metrics`: what the exporters' `url` option takes. */
  readonly metricsUrl: string;
  /** Accepted ExportMetricsServiceRequest messages, normalised (see module doc) whatever the encoding. */
  readonly requests: Decoded[];
  /** Media type of each accepted request, parameters dropped: 'application/json' or 'application/x-protobuf'. */
  readonly contentTypes: string[];
  /** Requests answered with an error by failNext. */
  readonly rejected: number;
  /** Requests refused as malformed (400/404/405/415), with the reason. */
  readonly errors: string[];
  /** Every point of the named metric across all requests, in arrival order. */
  dataPoints(metricName: string): ReceivedDataPoint[];
  /** Resolves once predicate(this) is true, checked now and after each request; rejects after timeoutMs (default 5000). */
  waitFor(predicate: (receiver: MetricsReceiver) => boolean, timeoutMs?: number): Promise<void>;
  /** The next `count` requests get this HTTP status (429/502/503/504 make the exporter retry) and are not recorded. */
  failNext(count: number, httpStatus: number): void;
  close(): Promise<void>;
}

const METRIC_KINDS = ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'] as const;

function flattenPoints(requests: Decoded[], metricName: string): ReceivedDataPoint[] {
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

function pointValues(p: Decoded): Partial<ReceivedDataPoint> {
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

function loadMetricsTypes(): { request: protobuf.Type; response: protobuf.Type } {
  const include = protoRoot();
  const root = new protobuf.Root();
  // imports name paths from the include dir, not from the importing file
  root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(include, target));
  root.loadSync(METRICS_SERVICE);
  return {
    request: root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest'),
    response: root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse'),
  };
}

export async function startMetricsReceiver(): Promise<MetricsReceiver> {
  const types = loadMetricsTypes();
  const requests: Decoded[] = [];
  const contentTypes: string[] = [];
  const errors: string[] = [];
  const waiters = new Waiters();
  const failures = new FailureBudget<number>();

  const decode = (mediaType: string, body: Buffer): Decoded => {
    const message =
      mediaType === 'application/x-protobuf'
        ? types.request.decode(body)
        : types.request.fromObject(asRecord(hexIdsToBytes(JSON.parse(body.toString('utf8')))));
    return asRecord(bytesToHex(types.request.toObject(message, CONVERSION)));
  };

  // answers in the request's encoding, as the spec asks; an error body is a google.rpc.Status
  const reply = (res: http.ServerResponse, status: number, mediaType: string, message?: string): void => {
    const json = mediaType === 'application/json';
    let body: Uint8Array;
    if (message === undefined) body = json ? Buffer.from('{}') : types.response.encode(types.response.create()).finish();
    else body = json ? Buffer.from(JSON.stringify({ message })) : protobuf.Writer.create().uint32((2 << 3) | 2).string(message).finish();
    res.writeHead(status, { 'content-type': json ? 'application/json' : 'application/x-protobuf', 'content-length': body.length });
    res.end(body);
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const mediaType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
      const refuse = (status: number, why: string): void => {
        errors.push(`${status} ${why}`);
        reply(res, status, mediaType, why);
      };
      if (req.url !== '/v1/metrics') return refuse(404, `unknown path ${req.url ?? ''}`);
      if (req.method !== 'POST') return refuse(405, `method ${req.method ?? ''} not allowed`);
      if (mediaType !== 'application/json' && mediaType !== 'application/x-protobuf') {
        return refuse(415, `unsupported content-type '${mediaType}'`);
      }
      const code = failures.take();
      if (code !== undefined) return reply(res, code, mediaType, 'kindling test receiver: failNext');
      let decoded: Decoded;
      try {
        const raw = Buffer.concat(chunks);
        decoded = decode(mediaType, req.headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(raw) : raw);
      } catch (err) {
        return refuse(400, `cannot decode ${mediaType}: ${(err as Error).message}`);
      }
      requests.push(decoded);
      contentTypes.push(mediaType);
      reply(res, 200, mediaType);
      waiters.notify();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('metrics receiver: no TCP address');
  const url = `http://127.0.0.1:${address.port}`;

  const receiver: MetricsReceiver = {
    port: address.port,
    url,
    metricsUrl: `${url}/v1/metrics`,
    requests,
    contentTypes,
    errors,
    get rejected() {
      return failures.rejected;
    },
    dataPoints: (name) => flattenPoints(requests, name),
    waitFor: async (predicate, timeoutMs = 5_000) => {
      await waiters.until(
        () => (predicate(receiver) ? true : undefined),
        timeoutMs,
        () => `predicate still false after ${requests.length} requests (${errors.length} refused: ${errors.join('; ')})`,
      );
    },
    failNext: (count, httpStatus) => failures.arm(count, httpStatus),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return receiver;
}
