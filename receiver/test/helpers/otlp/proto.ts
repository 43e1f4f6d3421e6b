/**
 * Where the official OTLP .proto files live and how they are loaded: the service
 * paths under the include dir and the conversion options shared by proto-loader
 * (gRPC) and protobufjs (HTTP), so both transports decode alike.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../../../src/util/paths';

export const TRACE_SERVICE = 'opentelemetry/proto/collector/trace/v1/trace_service.proto';
export const METRICS_SERVICE = 'opentelemetry/proto/collector/metrics/v1/metrics_service.proto';
// longs/enums as strings, defaults filled: the same options for proto-loader and protobufjs
export const CONVERSION = { longs: String, enums: String, defaults: true, arrays: true, oneofs: false } as const;

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
