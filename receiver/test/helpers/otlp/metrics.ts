/** The OTLP/HTTP metrics receiver: POST /v1/metrics, protobuf or JSON (protobufjs). */
import * as http from 'node:http';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as protobuf from 'protobufjs';
import { asRecord, bytesToHex, hexIdsToBytes } from './decode';
import type { Decoded } from './decode';
import { flattenPoints } from './points';
import type { ReceivedDataPoint } from './points';
import { CONVERSION, METRICS_SERVICE, protoRoot } from './proto';
import { FailureBudget, Waiters } from './waiters';

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
  /** Accepted ExportMetricsServiceRequest messages, normalised (see ../otlp.ts) whatever the encoding. */
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
