/** Received spans: the flat view of ExportTraceServiceRequest messages. */
import { asList, asRecord, flatAttributes, flatScope, nanos, num, str } from './decode';
import type { Decoded, FlatAttributes, FlatScope } from './decode';

/** One received span with its resource and scope; see ../otlp.ts for the conventions. */
export interface ReceivedSpan {
  resource: FlatAttributes;
  scope: FlatScope;
  span: FlatSpan;
}
export interface FlatSpan {
  /** 32 lowercase hex digits. */
  traceId: string;
  /** 16 lowercase hex digits. */
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  traceState: string;
  flags: number;
  name: string;
  /** The OTLP enum name, e.g. 'SPAN_KIND_CLIENT' (OTLP numbers are the API's SpanKind + 1). */
  kind: string;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: FlatAttributes;
  events: { name: string; timeUnixNano: bigint; attributes: FlatAttributes; droppedAttributesCount: number }[];
  links: { traceId: string; spanId: string; traceState: string; attributes: FlatAttributes; droppedAttributesCount: number }[];
  /** code is 'STATUS_CODE_UNSET' | 'STATUS_CODE_OK' | 'STATUS_CODE_ERROR'. */
  status: { code: string; message: string };
  droppedAttributesCount: number;
  droppedEventsCount: number;
  droppedLinksCount: number;
}

export function flattenSpans(requests: Decoded[]): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const req of requests) {
    for (const rs of asList(req['resourceSpans'])) {
      const resource = flatAttributes(asRecord(rs['resource'])['attributes']);
      for (const ss of asList(rs['scopeSpans'])) {
        const scope = flatScope(ss['scope']);
        for (const s of asList(ss['spans'])) out.push({ resource, scope, span: flatSpan(s) });
      }
    }
  }
  return out;
}

export function flatSpan(s: Decoded): FlatSpan {
  const status = asRecord(s['status']);
  return {
    traceId: str(s['traceId']),
    spanId: str(s['spanId']),
    parentSpanId: str(s['parentSpanId']),
    traceState: str(s['traceState']),
    flags: num(s['flags']),
    name: str(s['name']),
    kind: str(s['kind']),
    startTimeUnixNano: nanos(s['startTimeUnixNano']),
    endTimeUnixNano: nanos(s['endTimeUnixNano']),
    attributes: flatAttributes(s['attributes']),
    events: asList(s['events']).map((e) => ({
      name: str(e['name']),
      timeUnixNano: nanos(e['timeUnixNano']),
      attributes: flatAttributes(e['attributes']),
      droppedAttributesCount: num(e['droppedAttributesCount']),
    })),
    links: asList(s['links']).map((l) => ({
      traceId: str(l['traceId']),
      spanId: str(l['spanId']),
      traceState: str(l['traceState']),
      attributes: flatAttributes(l['attributes']),
      droppedAttributesCount: num(l['droppedAttributesCount']),
    })),
    status: { code: str(status['code']) || 'STATUS_CODE_UNSET', message: str(status['message']) },
    droppedAttributesCount: num(s['droppedAttributesCount']),
    droppedEventsCount: num(s['droppedEventsCount']),
    droppedLinksCount: num(s['droppedLinksCount']),
  };
}
