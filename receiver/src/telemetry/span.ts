/**
 * A finished span built from kernel-observed timing, in the shape the
 * OpenTelemetry exporters read (ReadableSpan). Spans are created already
 * ended: start and end come from syscall timestamps, not from a clock read now.
 */
import type { Attributes, HrTime, Link, SpanContext, SpanKind, SpanStatus } from '@opentelemetry/api';
import { TraceFlags } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace';

export interface KindlingSpanInit {
  name: string;
  kind: SpanKind;
  traceId: string;
  spanId: string;
  parent?: { traceId: string; spanId: string; traceFlags: number; remote: boolean; traceState?: string };
  startTime: HrTime;
  endTime: HrTime;
  duration: HrTime;
  status: SpanStatus;
  attributes: Attributes;
  resource: Resource;
  scope: InstrumentationScope;
}

export class KindlingSpan implements ReadableSpan {
  readonly name: string;
  readonly kind: SpanKind;
  readonly parentSpanContext: SpanContext | undefined;
  readonly startTime: HrTime;
  readonly endTime: HrTime;
  readonly duration: HrTime;
  readonly status: SpanStatus;
  readonly attributes: Attributes;
  readonly links: Link[] = [];
  readonly events: TimedEvent[] = [];
  readonly ended = true;
  readonly resource: Resource;
  readonly instrumentationScope: InstrumentationScope;
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  readonly #context: SpanContext;

  constructor(i: KindlingSpanInit) {
    this.name = i.name;
    this.kind = i.kind;
    this.#context = { traceId: i.traceId, spanId: i.spanId, traceFlags: i.parent?.traceFlags ?? TraceFlags.SAMPLED, isRemote: false };
    this.parentSpanContext = i.parent
      ? { traceId: i.parent.traceId, spanId: i.parent.spanId, traceFlags: i.parent.traceFlags, isRemote: i.parent.remote }
      : undefined;
    this.startTime = i.startTime;
    this.endTime = i.endTime;
    this.duration = i.duration;
    this.status = i.status;
    this.attributes = i.attributes;
    this.resource = i.resource;
    this.instrumentationScope = i.scope;
  }

  spanContext = (): SpanContext => this.#context;
}
