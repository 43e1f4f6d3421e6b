// otlp-trace-sink: an OTLP/gRPC TraceService/Export server that accepts and
// discards, for benchmarks: the agent's exporter does its full work (protobuf
// encoding, HTTP/2 framing) while the receiver spends as little CPU as it can.
// Requests are not decoded; it counts calls and bytes.
//
// usage: node otlp-trace-sink.js PROTO_ROOT
//   PROTO_ROOT holds opentelemetry/proto/... (build/otel-proto, from scripts/fetch-otel-proto.sh)
// Prints {"port":N} once listening. Each line "stats" on stdin is answered with
// {"requests":N,"bytes":N} on stdout. Exits on SIGTERM or when stdin closes.
'use strict';
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const root = process.argv[2];
if (!root) {
  process.stderr.write('usage: node otlp-trace-sink.js PROTO_ROOT\n');
  process.exit(2);
}
const definition = protoLoader.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto', { includeDirs: [root] });
const service = definition['opentelemetry.proto.collector.trace.v1.TraceService'];
// the raw bytes in, an empty ExportTraceServiceResponse out: no decoding at all
const exportMethod = { ...service.Export, requestDeserialize: (b) => b, responseSerialize: () => Buffer.alloc(0) };

let requests = 0;
let bytes = 0;
const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 << 20 });
server.addService({ Export: exportMethod }, {
  Export: (call, callback) => {
    requests++;
    bytes += call.request.length;
    callback(null, {});
  },
});
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    process.stderr.write(`otlp-trace-sink: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});

let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (s) => {
  pending += s;
  let nl;
  while ((nl = pending.indexOf('\n')) >= 0) {
    const line = pending.slice(0, nl).trim();
    pending = pending.slice(nl + 1);
    if (line === 'stats') process.stdout.write(`${JSON.stringify({ requests, bytes })}\n`);
  }
});
const stop = () => server.tryShutdown(() => process.exit(0));
process.stdin.on('end', stop);
process.on('SIGTERM', stop);
