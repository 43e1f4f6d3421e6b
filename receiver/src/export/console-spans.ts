/**
 * Spans to a stream, one readable line each (the embedded default of
 * `kindling run`): time, kind, service, name, status, duration, then the
 * attributes.
 */
import type { ExportResult } from '@opentelemetry/core';
import { ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';

export function spanLine(s: ReadableSpan): string {
  const ms = (s.duration[0] * 1e3 + s.duration[1] / 1e6).toFixed(3);
  const when = new Date(s.startTime[0] * 1000 + s.startTime[1] / 1e6).toISOString();
  const kind = SpanKind[s.kind];
  const service = String(s.resource.attributes['service.name'] ?? '?');
  const status = s.status.code === SpanStatusCode.ERROR ? ' ERROR' : '';
  const ctx = s.spanContext();
  const parent = s.parentSpanContext ? ` parent=${s.parentSpanContext.spanId}` : '';
  const attrs = Object.entries(s.attributes)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
  return `${when} ${kind} ${service} "${s.name}"${status} ${ms}ms trace=${ctx.traceId} span=${ctx.spanId}${parent} ${attrs}`;
}

export class ConsoleSpanExporter implements SpanExporter {
  readonly #write: (line: string) => void;

  constructor(write: (line: string) => void = (l) => process.stdout.write(`${l}\n`)) {
    this.#write = write;
  }

  export(spans: ReadableSpan[], done: (r: ExportResult) => void): void {
    for (const s of spans) this.#write(spanLine(s));
    done({ code: ExportResultCode.SUCCESS });
  }

  async shutdown(): Promise<void> {}

  async forceFlush(): Promise<void> {}
}

/** Keeps spans in memory (tests, the pipeline bench). */
export class MemorySpanExporter implements SpanExporter {
  readonly spans: ReadableSpan[] = [];

  export(spans: ReadableSpan[], done: (r: ExportResult) => void): void {
    this.spans.push(...spans);
    done({ code: ExportResultCode.SUCCESS });
  }

  async shutdown(): Promise<void> {}

  async forceFlush(): Promise<void> {}
}
