/**
 * Real OTLP receivers for tests, built on the official protocol definitions
 * (fetched by scripts/fetch-otel-proto.sh into build/otel-proto/; never committed).
 *
 * - startTraceReceiver(): OTLP/gRPC TraceService/Export on 127.0.0.1 (@grpc/grpc-js); otlp/traces.ts.
 * - startMetricsReceiver(): OTLP/HTTP POST /v1/metrics, protobuf or JSON (protobufjs); otlp/metrics.ts.
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

export { flatAttributes } from './otlp/decode';
export type { Decoded, FlatAttributes, FlatScope, FlatValue } from './otlp/decode';
export { startMetricsReceiver } from './otlp/metrics';
export type { MetricsReceiver } from './otlp/metrics';
export type { ReceivedDataPoint } from './otlp/points';
export { protoRoot } from './otlp/proto';
export type { FlatSpan, ReceivedSpan } from './otlp/spans';
export { startTraceReceiver } from './otlp/traces';
export type { TraceReceiver } from './otlp/traces';
