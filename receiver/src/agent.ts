/**
 * The agent: a source of kernel events, the pipeline (connections, protocol
 * parsers, pairing), telemetry (spans and RED metrics) and the exporters,
 * wired from one configuration.
 *
 * Example:
 *   const agent = new Agent(loadConfig({ env: process.env }));
 *   await agent.start();            // live eBPF capture
 *   ...
 *   await agent.stop();
 *
 * Tests pass a ReplaySource and in-memory exporters instead.
 */
import { Metadata } from '@grpc/grpc-js';
import { OTLPMetricExporter as OtlpJsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as OtlpProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import type { PushMetricExporter } from '@opentelemetry/sdk-metrics';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import * as os from 'node:os';
import type { KindlingConfig } from './config/schema';
import { ConsoleSpanExporter } from './export/console-spans';
import { ConsoleMetricExporter, MetricExportLoop } from './export/metric-exporter';
import { servePrometheus } from './export/prometheus';
import type { PrometheusServer } from './export/prometheus';
import { SpanBatcher } from './export/span-batcher';
import { Pipeline } from './pipeline/pipeline';
import type { SliceEvent, SockEvent, StackEvent } from './events/types';
import type { HttpSessionStats } from './protocols/http1-session';
import { http1Detector } from './protocols/registry';
import { DEFAULT_PROTOCOLS } from './protocols/index';
import { emptyStats } from './protocols/context';
import type { ProtocolFactory, ProtocolStats } from './protocols/context';
import { DbTelemetry } from './telemetry/db-telemetry';
import { DnsNames } from './telemetry/names';
import { DnsTelemetry } from './telemetry/dns-telemetry';
import { EbpfSource } from './source/ebpf-source';
import type { EventSource, StartReport } from './source/event-source';
import { WallClock } from './telemetry/clock';
import { HttpTelemetry } from './telemetry/http-telemetry';
import { LocalLinker } from './telemetry/linker';
import { MetricStore } from './telemetry/metric-store';
import type { Counter, ResourceRef } from './telemetry/metric-store';
import { OFFCPU_CAUSES } from './events/abi';
import { Identity } from './metadata/identity';
import { Conntrack } from './metadata/conntrack';
import { NOT_FOUND, createKubernetesIdentity, findKubeconfig, isInCluster } from './metadata/kubernetes';
import type { KubernetesIdentity } from './metadata/types';
import { RouteTemplater } from './telemetry/routes';
import { SelfTelemetry } from './telemetry/self';
import { Profiler } from './telemetry/profile';
import { VERSION } from './version';

/** one attribute set per off-CPU cause, shared by every measurement (the metric store keys it once) */
const CAUSE_ATTRS = OFFCPU_CAUSES.map((c) => ({ 'kindling.offcpu.cause': c }));

export interface AgentOptions {
  /** default: the live eBPF source configured from `capture` */
  source?: EventSource;
  /** replace the configured span exporters (tests) */
  spanExporters?: SpanExporter[];
  /** replace the configured push metric exporters (tests) */
  metricExporters?: PushMetricExporter[];
  /** where startup lines go (default stderr) */
  log?: (line: string) => void;
  /** a Kubernetes identity source (tests), or null for none; default: from the configuration */
  kubernetes?: KubernetesIdentity | null;
  /** the protocols to parse besides HTTP/1 (default: DEFAULT_PROTOCOLS) */
  protocols?: ProtocolFactory[];
}

export class Agent {
  readonly config: KindlingConfig;
  readonly source: EventSource;
  readonly pipeline: Pipeline;
  readonly metrics: MetricStore;
  readonly spans: SpanBatcher;
  readonly http: HttpTelemetry;
  readonly httpStats: HttpSessionStats = emptyStats();
  /** counters per protocol, HTTP included ("http", "redis", ...) */
  readonly protocolStats = new Map<string, ProtocolStats>();
  readonly names = new DnsNames();
  readonly db: DbTelemetry;
  readonly dns: DnsTelemetry;
  readonly profiler: Profiler | undefined;
  readonly #offCpu: Counter;
  readonly routes: RouteTemplater;
  readonly self: SelfTelemetry;
  readonly metricLoop: MetricExportLoop;
  readonly clock = new WallClock();
  readonly identity: Identity;
  readonly kubernetes: KubernetesIdentity | undefined;
  prometheus: PrometheusServer | undefined;
  readonly #log: (line: string) => void;
  #expiryTimer: NodeJS.Timeout | undefined;
  #started = false;

  constructor(config: KindlingConfig, o: AgentOptions = {}) {
    this.config = config;
    this.#log = o.log ?? ((l) => process.stderr.write(`${l}\n`));
    this.source =
      o.source ??
      new EbpfSource({
        payloadBytes: config.capture.payloadBytes,
        ringBytes: config.capture.ringBytes,
        ...(config.capture.pid !== undefined ? { pid: config.capture.pid } : {}),
        profiling: config.profiling.enabled,
        slices: config.profiling.enabled && config.profiling.slices,
        stacks: config.profiling.enabled && config.profiling.stacks,
      });
    const pf = config.profiling;
    this.profiler = pf.enabled
      ? new Profiler({
          selector: { thresholdMs: pf.slowThresholdMs, p95MinSamples: pf.p95MinSamples, perEndpointMs: pf.perEndpointIntervalMs, globalPerSec: pf.globalPerSecond },
          minChildMs: pf.minChildMs,
          maxChildren: pf.maxChildren,
          slicesPerThread: pf.slicesPerThread,
          stacks: pf.stacks,
        })
      : undefined;
    this.kubernetes = o.kubernetes === null ? undefined : (o.kubernetes ?? this.#kubernetes());
    this.identity = new Identity({
      hostName: os.hostname(),
      extra: config.resource.attributes,
      commandArgs: config.identity.commandArgs,
      ...(this.kubernetes ? { kubernetes: this.kubernetes } : { kubernetesStatus: config.kubernetes.mode === 'off' ? 'kubernetes: off (configured)' : NOT_FOUND }),
      conntrack: new Conntrack(),
      names: (ip) => this.names.lookup(ip),
    });
    this.metrics = new MetricStore({ maxSeriesPerMetric: config.metrics.maxSeriesPerMetric, maxResources: config.metrics.maxResources, scope: { name: 'kindling', version: VERSION.kindling } });
    this.#offCpu = this.metrics.counter('kindling.thread.off_cpu.time', { unit: 's', description: 'Time threads of the process spent off CPU, by cause.' });
    this.spans = new SpanBatcher({ exporters: o.spanExporters ?? this.#spanExporters(), ...config.traces.batch });
    this.routes = new RouteTemplater({ maxRoutesPerService: config.http.routes.maxPerService, overflowRoute: config.http.routes.overflowRoute, templating: config.http.routes.templating });
    this.http = new HttpTelemetry({
      spans: this.spans,
      metrics: this.metrics,
      resources: this.identity,
      routes: this.routes,
      linker: new LocalLinker(),
      clock: this.clock,
      ...(this.profiler ? { profiler: this.profiler } : {}),
      names: this.names,
    });
    this.protocolStats.set('http', this.httpStats);
    this.db = new DbTelemetry({ spans: this.spans, metrics: this.metrics, resources: this.identity, names: this.names, clock: this.clock });
    this.dns = new DnsTelemetry({ spans: this.spans, metrics: this.metrics, resources: this.identity, names: this.names, clock: this.clock, nxdomainIsError: config.dns.nxdomainIsError });
    const ctx = {
      db: this.db,
      dns: this.dns,
      names: this.names,
      stats: (protocol: string): ProtocolStats => {
        let s = this.protocolStats.get(protocol);
        if (!s) {
          s = emptyStats();
          this.protocolStats.set(protocol, s);
        }
        return s;
      },
      timeoutNs: config.http.requestTimeoutMs * 1e6,
      maxPending: config.http.maxPendingPerConnection,
      fingerprint: config.db.fingerprint,
    };
    this.pipeline = new Pipeline({
      capacity: config.connections.max,
      onProc: (ev) => {
        if (ev.threadExit) this.profiler?.forgetThread(ev.tid);
        else this.identity.onProc(ev);
      },
      onConnection: (conn) => void this.identity.resourceFor(conn.pid, conn.comm, conn.cgroupId),
      ...(this.profiler ? { onData: (ev: SockEvent) => this.#noteSched(ev), onSlice: (ev: SliceEvent) => this.profiler?.timeline.add(ev), onStack: (ev: StackEvent) => this.profiler?.stacks?.add(ev) } : {}),
      detectors: [
        http1Detector({
          sink: this.http,
          stats: this.httpStats,
          timeoutNs: config.http.requestTimeoutMs * 1e6,
          maxPending: config.http.maxPendingPerConnection,
        }),
        ...(o.protocols ?? DEFAULT_PROTOCOLS).map((f) => f(ctx)),
      ],
    });
    this.self = new SelfTelemetry(this.metrics, config.selfService, config.resource.attributes);
    this.metricLoop = new MetricExportLoop({
      collect: () => this.metrics.collect(),
      exporters: o.metricExporters ?? this.#metricExporters(),
      intervalMs: config.metrics.exportIntervalMs,
      timeoutMs: config.otlp.timeoutMs,
      beforeCollect: () => this.refreshSelf(),
    });
  }

  /** per-process off-CPU time by cause, from consecutive snapshots of each tracked thread */
  #noteSched(ev: SockEvent): void {
    const index = this.profiler?.index;
    if (!index?.note(ev)) return;
    const delta = index.delta;
    let res: ResourceRef | undefined;
    for (let i = 0; i < delta.length; i++) {
      const ns = delta[i] ?? 0;
      if (ns <= 0) continue;
      res ??= this.identity.resourceFor(ev.pid, ev.comm, ev.cgroupId);
      this.#offCpu.add(res, CAUSE_ATTRS[i] ?? { 'kindling.offcpu.cause': 'other' }, ns / 1e9);
    }
  }

  /** Kubernetes identity when configured or discoverable (in-cluster, kubeconfig); none otherwise. */
  #kubernetes(): KubernetesIdentity | undefined {
    const k = this.config.kubernetes;
    if (k.mode === 'off') return undefined;
    if (k.mode === 'auto' && !k.kubeconfig && !isInCluster() && !findKubeconfig()) return undefined;
    return createKubernetesIdentity({
      ...(k.kubeconfig ? { kubeconfig: k.kubeconfig } : {}),
      ...(k.nodeName ? { nodeName: k.nodeName } : {}),
      ...(k.clusterName ? { clusterName: k.clusterName } : {}),
      deletedPodGraceMs: k.deletedPodGraceMs,
      log: this.#log,
    });
  }

  #spanExporters(): SpanExporter[] {
    const c = this.config;
    return c.traces.exporters.map((e) => {
      if (e === 'console') return new ConsoleSpanExporter();
      const metadata = new Metadata();
      for (const [k, v] of Object.entries(c.otlp.tracesHeaders)) metadata.set(k, v);
      return new OTLPTraceExporter({ url: c.otlp.tracesEndpoint ?? 'http://localhost:4317', metadata, timeoutMillis: c.otlp.timeoutMs });
    });
  }

  #metricExporters(): PushMetricExporter[] {
    const c = this.config;
    const out: PushMetricExporter[] = [];
    for (const e of c.metrics.exporters) {
      if (e === 'console') out.push(new ConsoleMetricExporter());
      if (e !== 'otlp') continue;
      const o = { url: c.otlp.metricsEndpoint ?? 'http://localhost:4318/v1/metrics', headers: c.otlp.metricsHeaders, timeoutMillis: c.otlp.timeoutMs };
      out.push(c.otlp.metricsProtocol === 'http/json' ? new OtlpJsonMetricExporter(o) : new OtlpProtoMetricExporter(o));
    }
    return out;
  }

  /** Start exporting and capturing; resolves once events flow. */
  async start(): Promise<StartReport> {
    if (this.#started) throw new Error('agent already started');
    this.#started = true;
    const c = this.config;
    if (c.metrics.exporters.includes('prometheus')) {
      this.prometheus = await servePrometheus({
        host: c.prometheus.host,
        port: c.prometheus.port,
        collect: () => {
          this.refreshSelf();
          return this.metrics.collect();
        },
        promote: c.prometheus.resourceLabels,
      });
    }
    this.metricLoop.start();
    let report: StartReport;
    try {
      await this.kubernetes?.start();
      this.#log(this.identity.report());
      report = await this.source.start((b) => {
        if (this.profiler) this.profiler.index.nowMs = Date.now();
        this.pipeline.push(b.events);
      });
    } catch (e) {
      // nothing started may keep the process alive when the source cannot run
      await this.metricLoop.shutdown().catch(() => undefined);
      await this.kubernetes?.stop().catch(() => undefined);
      await this.prometheus?.close();
      await this.spans.shutdown().catch(() => undefined);
      throw e;
    }
    this.#expiryTimer = setInterval(() => {
      this.clock.maybeResync();
      this.profiler?.sweep();
      this.pipeline.expire(this.source.name === 'ebpf' ? WallClock.monotonicNs() : this.pipeline.latestNs);
    }, 1000);
    this.#expiryTimer.unref();
    this.#log(this.describe());
    return report;
  }

  describe(): string {
    const c = this.config;
    const parts = [`kindling ${VERSION.kindling}: source ${this.source.name}`];
    parts.push(`traces -> ${c.traces.exporters.map((e) => (e === 'otlp' ? `otlp grpc ${c.otlp.tracesEndpoint}` : e)).join(', ') || 'none'}`);
    const m = c.metrics.exporters.map((e) =>
      e === 'otlp' ? `otlp ${c.otlp.metricsProtocol} ${c.otlp.metricsEndpoint} every ${c.metrics.exportIntervalMs / 1000}s` : e === 'prometheus' ? `prometheus ${this.prometheus?.url ?? ''}` : e,
    );
    parts.push(`metrics -> ${m.join(', ') || 'none'}`);
    return parts.join('; ');
  }

  refreshSelf(): void {
    const src = this.source.stats();
    const p = this.pipeline.stats();
    const b = this.spans.stats;
    this.self.update({
      sourceEvents: src.events,
      lost: src.lost,
      ringUsedBytes: src.ring.used,
      ringSizeBytes: src.ring.size,
      connections: p.connections,
      connectionEvictions: p.connectionEvictions,
      protocols: Object.fromEntries([...this.protocolStats].map(([k, v]) => [k, { ...v }])),
      spansExported: Math.max(0, ...b.exported),
      spansExportFailed: Math.max(0, ...b.failed),
      spansDropped: b.dropped,
      spansQueued: b.queued,
      metricExports: this.metricLoop.exports,
      metricExportFailures: this.metricLoop.failures,
      seriesOverflow: this.metrics.overflowed,
      routesOverflow: this.routes.overflowed,
      resourcesEvicted: this.metrics.resourcesEvicted,
      ...(this.profiler?.stacks ? { stacks: this.profiler.stacks.stats() } : {}),
    });
  }

  /** Complete what is pending (end of a replay), then push every queued span out. */
  async drain(): Promise<void> {
    this.pipeline.flush();
    await this.spans.flush();
  }

  async stop(): Promise<void> {
    clearInterval(this.#expiryTimer);
    await this.source.stop();
    await this.kubernetes?.stop();
    await this.spans.shutdown();
    await this.metricLoop.shutdown();
    await this.prometheus?.close();
  }
}
