/**
 * Spans to exporters in batches: a bounded queue (full means drop, counted),
 * a batch every `scheduleDelayMs` or as soon as `maxBatchSize` spans wait, and
 * one export in flight at a time. A failed export is retried with backoff
 * until the batch's deadline; then it is counted as failed, never retried
 * forever, and the queue's bound holds meanwhile.
 *
 * Example:
 *   const b = new SpanBatcher({ exporters: [otlp, console] });
 *   b.push(span);
 *   await b.shutdown();
 */
import type { ExportResult } from '@opentelemetry/core';
import { ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';

export interface SpanBatcherOptions {
  exporters: SpanExporter[];
  maxQueueSize?: number;
  maxBatchSize?: number;
  scheduleDelayMs?: number;
  /** a batch not exported by then (retries included) counts as failed */
  exportTimeoutMs?: number;
}

export interface SpanBatcherStats {
  queued: number;
  /** spans dropped because the queue was full */
  dropped: number;
  /** spans delivered, per exporter index */
  exported: number[];
  /** spans whose export failed, per exporter index */
  failed: number[];
  /** failed attempts that were retried */
  retries: number;
}

export class SpanBatcher {
  readonly #exporters: SpanExporter[];
  readonly #maxQueue: number;
  readonly #maxBatch: number;
  readonly #delay: number;
  readonly #timeout: number;
  #queue: ReadableSpan[] = [];
  #inFlight: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly stats: SpanBatcherStats;

  constructor(o: SpanBatcherOptions) {
    this.#exporters = o.exporters;
    this.#maxQueue = o.maxQueueSize ?? 8192;
    this.#maxBatch = o.maxBatchSize ?? 512;
    this.#delay = o.scheduleDelayMs ?? 1000;
    this.#timeout = o.exportTimeoutMs ?? 30_000;
    this.stats = { queued: 0, dropped: 0, exported: o.exporters.map(() => 0), failed: o.exporters.map(() => 0), retries: 0 };
    this.#timer = setInterval(() => void this.#drain(), this.#delay);
    this.#timer.unref();
  }

  push(span: ReadableSpan): void {
    if (this.#closed || this.#exporters.length === 0) return;
    if (this.#queue.length >= this.#maxQueue) {
      this.stats.dropped++;
      return;
    }
    this.#queue.push(span);
    this.stats.queued = this.#queue.length;
    if (this.#queue.length >= this.#maxBatch && !this.#inFlight) void this.#drain();
  }

  /** export batches until the queue is empty or an export is already running */
  async #drain(): Promise<void> {
    if (this.#inFlight) return this.#inFlight;
    this.#inFlight = (async () => {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.#maxBatch);
        this.stats.queued = this.#queue.length;
        await Promise.all(this.#exporters.map((e, i) => this.#exportOne(e, i, batch)));
      }
    })().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  /**
   * One batch to one exporter. The OTLP gRPC exporter does not retry by itself,
   * so a failed attempt is retried here with jittered exponential backoff
   * (0.5 s doubling to 8 s) until the batch's deadline; then it counts as failed.
   */
  async #exportOne(e: SpanExporter, i: number, batch: ReadableSpan[]): Promise<void> {
    const deadline = Date.now() + this.#timeout;
    let backoff = 500;
    for (;;) {
      const ok = await this.#attempt(e, batch, Math.max(1, deadline - Date.now()));
      if (ok) {
        this.stats.exported[i] = (this.stats.exported[i] ?? 0) + batch.length;
        return;
      }
      this.stats.retries++;
      const wait = Math.min(backoff, 8000) * (0.5 + Math.random() / 2);
      if (this.#closed || Date.now() + wait >= deadline) break;
      await new Promise((r) => setTimeout(r, wait));
      backoff *= 2;
    }
    this.stats.failed[i] = (this.stats.failed[i] ?? 0) + batch.length;
  }

  #attempt(e: SpanExporter, batch: ReadableSpan[], timeoutMs: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      let done = false;
      const finish = (ok: boolean): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(ok);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      timer.unref();
      try {
        e.export(batch, (r: ExportResult) => finish(r.code === ExportResultCode.SUCCESS));
      } catch {
        finish(false);
      }
    });
  }

  /** Export everything queued now. */
  async flush(): Promise<void> {
    await this.#drain();
    if (this.#queue.length) await this.#drain();
  }

  async shutdown(): Promise<void> {
    if (this.#closed) return;
    await this.flush();
    this.#closed = true;
    clearInterval(this.#timer);
    await Promise.all(this.#exporters.map((e) => e.shutdown().catch(() => undefined)));
  }
}
