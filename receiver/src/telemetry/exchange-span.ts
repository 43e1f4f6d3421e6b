/**
 * The span of one request/response exchange that starts a trace of its own (the
 * database and DNS protocols): fresh ids, kernel timestamps on the wall clock,
 * status ERROR when it failed.
 *
 * Example:
 *   sink.push(exchangeSpan({ name: 'GET', server: false, startNs, endNs, errorType, failure, attributes, resource, scope }, clock, ids));
 */
import type { Attributes } from '@opentelemetry/api';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { WallClock } from './clock';
import { hrDuration } from './clock';
import type { IdGenerator } from './ids';
import { KindlingSpan } from './span';

export interface ExchangeSpanInit {
  name: string;
  server: boolean;
  startNs: number;
  endNs: number;
  /** set when the exchange failed (a status code, or a transport failure) */
  errorType: string | undefined;
  /** no response at all: why */
  failure: string | undefined;
  attributes: Attributes;
  resource: Resource;
  scope: { name: string; version?: string };
}

export function exchangeSpan(o: ExchangeSpanInit, clock: WallClock, ids: IdGenerator): KindlingSpan {
  return new KindlingSpan({
    name: o.name,
    kind: o.server ? SpanKind.SERVER : SpanKind.CLIENT,
    traceId: ids.traceId(),
    spanId: ids.spanId(),
    startTime: clock.toHrTime(o.startNs),
    endTime: clock.toHrTime(o.endNs),
    duration: hrDuration(o.startNs, o.endNs),
    status: o.errorType ? { code: SpanStatusCode.ERROR, ...(o.failure ? { message: `no response: ${o.failure}` } : {}) } : { code: SpanStatusCode.UNSET },
    attributes: o.attributes,
    resource: o.resource,
    scope: o.scope,
  });
}
