/** The OTLP/gRPC trace receiver: TraceService/Export on 127.0.0.1 (@grpc/grpc-js). */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { asRecord, bytesToHex } from './decode';
import type { Decoded } from './decode';
import { CONVERSION, TRACE_SERVICE, protoRoot } from './proto';
import { flattenSpans } from './spans';
import type { ReceivedSpan } from './spans';
import { FailureBudget, Waiters } from './waiters';

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
