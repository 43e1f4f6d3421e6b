/**
 * The configuration's shape, defaults and checks, in one table. The YAML file
 * uses these snake_case paths; the loader (config.ts) applies the file, then
 * the OTEL_* environment variables, and reports any bad value with its source
 * and path.
 */

export type TraceExporter = 'otlp' | 'console' | 'none';
export type MetricExporter = 'otlp' | 'prometheus' | 'console' | 'none';

export interface KindlingConfig {
  capture: { payloadBytes: number; ringBytes: number; pid: number | undefined };
  connections: { max: number };
  http: {
    requestTimeoutMs: number;
    maxPendingPerConnection: number;
    routes: { templating: boolean; maxPerService: number; overflowRoute: string };
  };
  resource: { attributes: Record<string, string> };
  traces: {
    exporters: TraceExporter[];
    batch: { maxQueueSize: number; maxBatchSize: number; scheduleDelayMs: number; exportTimeoutMs: number };
  };
  metrics: { exporters: MetricExporter[]; exportIntervalMs: number; maxSeriesPerMetric: number; maxResources: number };
  otlp: {
    tracesEndpoint: string | undefined;
    metricsEndpoint: string | undefined;
    metricsProtocol: 'http/json' | 'http/protobuf';
    tracesHeaders: Record<string, string>;
    metricsHeaders: Record<string, string>;
    timeoutMs: number;
  };
  prometheus: { host: string; port: number; resourceLabels: string[] };
  identity: { commandArgs: boolean };
  db: { fingerprint: boolean };
  dns: { nxdomainIsError: boolean };
  profiling: {
    enabled: boolean;
    slices: boolean;
    slowThresholdMs: number;
    p95MinSamples: number;
    perEndpointIntervalMs: number;
    globalPerSecond: number;
    minChildMs: number;
    maxChildren: number;
    slicesPerThread: number;
    /** tier 3: user stacks of blocks >= 1 ms on selected spans' children */
    stacks: boolean;
  };
  kubernetes: { mode: 'auto' | 'on' | 'off'; kubeconfig: string | undefined; nodeName: string | undefined; clusterName: string | undefined; deletedPodGraceMs: number };
  selfService: string;
}

export type Leaf =
  | { kind: 'int'; min: number; max: number; pow2?: boolean }
  | { kind: 'string' }
  | { kind: 'bool' }
  | { kind: 'url' }
  | { kind: 'oneOf'; values: readonly string[] }
  | { kind: 'list'; values: readonly string[] }
  | { kind: 'strings' }
  | { kind: 'map' };

/** YAML path -> where it lands in KindlingConfig and how it is checked */
export const FIELDS: Record<string, { to: string; leaf: Leaf }> = {
  'capture.payload_bytes': { to: 'capture.payloadBytes', leaf: { kind: 'int', min: 16, max: 4096, pow2: true } },
  'capture.ring_bytes': { to: 'capture.ringBytes', leaf: { kind: 'int', min: 65536, max: 1 << 30, pow2: true } },
  'capture.pid': { to: 'capture.pid', leaf: { kind: 'int', min: 1, max: 0x7fffffff } },
  'connections.max': { to: 'connections.max', leaf: { kind: 'int', min: 1, max: 10_000_000 } },
  'http.request_timeout_ms': { to: 'http.requestTimeoutMs', leaf: { kind: 'int', min: 1, max: 3_600_000 } },
  'http.max_pending_per_connection': { to: 'http.maxPendingPerConnection', leaf: { kind: 'int', min: 1, max: 100_000 } },
  'http.routes.templating': { to: 'http.routes.templating', leaf: { kind: 'bool' } },
  'http.routes.max_per_service': { to: 'http.routes.maxPerService', leaf: { kind: 'int', min: 1, max: 100_000 } },
  'http.routes.overflow_route': { to: 'http.routes.overflowRoute', leaf: { kind: 'string' } },
  'resource.attributes': { to: 'resource.attributes', leaf: { kind: 'map' } },
  'traces.exporters': { to: 'traces.exporters', leaf: { kind: 'list', values: ['otlp', 'console', 'none'] } },
  'traces.batch.max_queue_size': { to: 'traces.batch.maxQueueSize', leaf: { kind: 'int', min: 1, max: 10_000_000 } },
  'traces.batch.max_batch_size': { to: 'traces.batch.maxBatchSize', leaf: { kind: 'int', min: 1, max: 100_000 } },
  'traces.batch.schedule_delay_ms': { to: 'traces.batch.scheduleDelayMs', leaf: { kind: 'int', min: 1, max: 3_600_000 } },
  'traces.batch.export_timeout_ms': { to: 'traces.batch.exportTimeoutMs', leaf: { kind: 'int', min: 1, max: 3_600_000 } },
  'metrics.exporters': { to: 'metrics.exporters', leaf: { kind: 'list', values: ['otlp', 'prometheus', 'console', 'none'] } },
  'metrics.export_interval_ms': { to: 'metrics.exportIntervalMs', leaf: { kind: 'int', min: 100, max: 86_400_000 } },
  'metrics.max_series_per_metric': { to: 'metrics.maxSeriesPerMetric', leaf: { kind: 'int', min: 1, max: 1_000_000 } },
  'metrics.max_resources': { to: 'metrics.maxResources', leaf: { kind: 'int', min: 1, max: 1_000_000 } },
  'otlp.traces_endpoint': { to: 'otlp.tracesEndpoint', leaf: { kind: 'url' } },
  'otlp.metrics_endpoint': { to: 'otlp.metricsEndpoint', leaf: { kind: 'url' } },
  'otlp.metrics_protocol': { to: 'otlp.metricsProtocol', leaf: { kind: 'oneOf', values: ['http/json', 'http/protobuf'] } },
  'otlp.traces_headers': { to: 'otlp.tracesHeaders', leaf: { kind: 'map' } },
  'otlp.metrics_headers': { to: 'otlp.metricsHeaders', leaf: { kind: 'map' } },
  'otlp.timeout_ms': { to: 'otlp.timeoutMs', leaf: { kind: 'int', min: 1, max: 600_000 } },
  'prometheus.host': { to: 'prometheus.host', leaf: { kind: 'string' } },
  'prometheus.port': { to: 'prometheus.port', leaf: { kind: 'int', min: 0, max: 65535 } },
  'prometheus.resource_labels': { to: 'prometheus.resourceLabels', leaf: { kind: 'strings' } },
  'identity.command_args': { to: 'identity.commandArgs', leaf: { kind: 'bool' } },
  'db.fingerprint': { to: 'db.fingerprint', leaf: { kind: 'bool' } },
  'dns.nxdomain_is_error': { to: 'dns.nxdomainIsError', leaf: { kind: 'bool' } },
  'profiling.enabled': { to: 'profiling.enabled', leaf: { kind: 'bool' } },
  'profiling.slices': { to: 'profiling.slices', leaf: { kind: 'bool' } },
  'profiling.slow_threshold_ms': { to: 'profiling.slowThresholdMs', leaf: { kind: 'int', min: 0, max: 3_600_000 } },
  'profiling.p95_min_samples': { to: 'profiling.p95MinSamples', leaf: { kind: 'int', min: 0, max: 1_000_000 } },
  'profiling.per_endpoint_interval_ms': { to: 'profiling.perEndpointIntervalMs', leaf: { kind: 'int', min: 0, max: 3_600_000 } },
  'profiling.global_per_second': { to: 'profiling.globalPerSecond', leaf: { kind: 'int', min: 1, max: 100_000 } },
  'profiling.min_child_ms': { to: 'profiling.minChildMs', leaf: { kind: 'int', min: 0, max: 60_000 } },
  'profiling.max_children': { to: 'profiling.maxChildren', leaf: { kind: 'int', min: 0, max: 10_000 } },
  'profiling.slices_per_thread': { to: 'profiling.slicesPerThread', leaf: { kind: 'int', min: 1, max: 1_000_000 } },
  'profiling.stacks': { to: 'profiling.stacks', leaf: { kind: 'bool' } },
  'kubernetes.mode': { to: 'kubernetes.mode', leaf: { kind: 'oneOf', values: ['auto', 'on', 'off'] } },
  'kubernetes.kubeconfig': { to: 'kubernetes.kubeconfig', leaf: { kind: 'string' } },
  'kubernetes.node_name': { to: 'kubernetes.nodeName', leaf: { kind: 'string' } },
  'kubernetes.cluster_name': { to: 'kubernetes.clusterName', leaf: { kind: 'string' } },
  'kubernetes.deleted_pod_grace_ms': { to: 'kubernetes.deletedPodGraceMs', leaf: { kind: 'int', min: 0, max: 86_400_000 } },
};

/** Shorthands the file accepts besides the leaves above (expanded by the loader). */
export const SHORTHANDS = ['otlp.endpoint', 'otlp.headers'] as const;

export function defaults(): KindlingConfig {
  return {
    capture: { payloadBytes: 512, ringBytes: 8 * 1024 * 1024, pid: undefined },
    connections: { max: 65536 },
    http: { requestTimeoutMs: 30_000, maxPendingPerConnection: 1024, routes: { templating: true, maxPerService: 200, overflowRoute: '/{other}' } },
    resource: { attributes: {} },
    traces: { exporters: [], batch: { maxQueueSize: 8192, maxBatchSize: 512, scheduleDelayMs: 1000, exportTimeoutMs: 30_000 } },
    metrics: { exporters: [], exportIntervalMs: 60_000, maxSeriesPerMetric: 2000, maxResources: 4096 },
    otlp: { tracesEndpoint: undefined, metricsEndpoint: undefined, metricsProtocol: 'http/protobuf', tracesHeaders: {}, metricsHeaders: {}, timeoutMs: 10_000 },
    prometheus: { host: '0.0.0.0', port: 9464, resourceLabels: [] },
    identity: { commandArgs: false },
    db: { fingerprint: true },
    dns: { nxdomainIsError: false },
    profiling: { enabled: true, slices: true, slowThresholdMs: 500, p95MinSamples: 50, perEndpointIntervalMs: 5000, globalPerSecond: 20, minChildMs: 1, maxChildren: 64, slicesPerThread: 1024, stacks: false },
    kubernetes: { mode: 'auto', kubeconfig: undefined, nodeName: undefined, clusterName: undefined, deletedPodGraceMs: 60_000 },
    selfService: 'kindling',
  };
}
