/**
 * Periodic metric export: every interval, the store's ResourceMetrics go to
 * each push exporter (OTLP over HTTP, JSON or protobuf; or the console), one
 * export per resource. Failures are counted; the OTLP exporter retries
 * retryable errors with backoff inside its timeout, and the next interval
 * sends the cumulative state again, so nothing is double counted.
 *
 * Example:
 *   const m = new MetricExportLoop({ collect: () => store.collect(), exporters: [otlp], intervalMs: 60000 });
 *   m.start(); ... await m.shutdown();
 */
import type { ExportResult } from '@opentelemetry/core';
import { ExportResultCode } from '@opentelemetry/core';
import type { PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { DataPointType } from '@opentelemetry/sdk-metrics';

export interface MetricExportLoopOptions {
  collect: () => ResourceMetrics[];
  exporters: PushMetricExporter[];
  intervalMs: number;
  timeoutMs?: number;
  /** runs before each collection (self-telemetry refresh) */
  beforeCollect?: () => void;
}

export class MetricExportLoop {
  readonly #o: MetricExportLoopOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  exports = 0;
  failures = 0;

  constructor(o: MetricExportLoopOptions) {
    this.#o = o;
  }

  start(): void {
    if (this.#o.exporters.length === 0 || this.#timer) return;
    this.#timer = setInterval(() => void this.exportNow(), this.#o.intervalMs);
    this.#timer.unref();
  }

  /** One export round now (overlapping calls share the running one). */
  exportNow(): Promise<void> {
    if (this.#running) return this.#running;
    this.#running = this.#round().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #round(): Promise<void> {
    this.#o.beforeCollect?.();
    const all = this.#o.collect();
    for (const e of this.#o.exporters) {
      for (const rm of all) {
        const ok = await this.#exportOne(e, rm);
        this.exports++;
        if (!ok) this.failures++;
      }
    }
  }

  #exportOne(e: PushMetricExporter, rm: ResourceMetrics): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), this.#o.timeoutMs ?? 30_000);
      timer.unref();
      try {
        e.export(rm, (r: ExportResult) => {
          clearTimeout(timer);
          resolve(r.code === ExportResultCode.SUCCESS);
        });
      } catch {
        clearTimeout(timer);
        resolve(false);
      }
    });
  }

  async shutdown(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.exportNow();
    await Promise.all(this.#o.exporters.map((e) => e.shutdown().catch(() => undefined)));
  }
}

/** Metrics to the console: one line per data point. */
export class ConsoleMetricExporter implements PushMetricExporter {
  readonly #write: (line: string) => void;

  constructor(write: (line: string) => void = (l) => process.stdout.write(`${l}\n`)) {
    this.#write = write;
  }

  export(rm: ResourceMetrics, done: (r: ExportResult) => void): void {
    const service = String(rm.resource.attributes['service.name'] ?? '?');
    for (const sm of rm.scopeMetrics) {
      for (const m of sm.metrics) {
        for (const p of m.dataPoints) {
          const v =
            m.dataPointType === DataPointType.HISTOGRAM
              ? `count=${(p.value as { count: number }).count} sum=${(p.value as { sum?: number }).sum ?? 0}`
              : `value=${String(p.value)}`;
          this.#write(`metric ${service} ${m.descriptor.name} ${JSON.stringify(p.attributes)} ${v}`);
        }
      }
    }
    done({ code: ExportResultCode.SUCCESS });
  }

  async forceFlush(): Promise<void> {}

  async shutdown(): Promise<void> {}
}
