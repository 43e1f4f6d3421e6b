/**
 * Decoding helpers shared by the receivers: normalising decoded messages (bytes as
 * hex, OTLP/JSON hex ids) and flattening AnyValue / KeyValue lists / scopes into
 * plain values. See ../otlp.ts for the conventions.
 */

/** An attribute value after flattening: AnyValue without its wrapper. bytesValue becomes hex; an empty AnyValue becomes null; intValue a number (a bigint past 2^53). */
export type FlatValue = string | number | boolean | bigint | null | FlatValue[] | { [key: string]: FlatValue };
export type FlatAttributes = Record<string, FlatValue>;
/** A decoded protobuf message under the conventions in ../otlp.ts. */
export type Decoded = Record<string, unknown>;

/** Buffers become lowercase hex, recursively; everything else is copied as is. */
export function bytesToHex(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
  if (Array.isArray(v)) return v.map(bytesToHex);
  if (v !== null && typeof v === 'object') {
    const out: Decoded = {};
    for (const [k, x] of Object.entries(v)) out[k] = bytesToHex(x);
    return out;
  }
  return v;
}

/** OTLP/JSON writes trace and span ids as hex, not base64 (the protobuf JSON default). */
export function hexIdsToBytes(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(hexIdsToBytes);
  if (v !== null && typeof v === 'object') {
    const out: Decoded = {};
    for (const [k, x] of Object.entries(v)) {
      const isId = k === 'traceId' || k === 'spanId' || k === 'parentSpanId';
      out[k] = isId && typeof x === 'string' ? Buffer.from(x, 'hex') : hexIdsToBytes(x);
    }
    return out;
  }
  return v;
}

export function asRecord(v: unknown): Decoded {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Decoded) : {};
}
export function asList(v: unknown): Decoded[] {
  return Array.isArray(v) ? v.map(asRecord) : [];
}
export function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
export function num(v: unknown): number {
  return typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : 0;
}
export function nanos(v: unknown): bigint {
  return typeof v === 'string' && v !== '' ? BigInt(v) : 0n;
}

export function flatValue(any: unknown): FlatValue {
  const a = asRecord(any);
  if ('stringValue' in a) return str(a['stringValue']);
  if ('boolValue' in a) return a['boolValue'] === true;
  if ('doubleValue' in a) return num(a['doubleValue']);
  if ('intValue' in a) {
    const big = BigInt(str(a['intValue']) || '0');
    return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
  }
  if ('bytesValue' in a) return str(a['bytesValue']);
  if ('arrayValue' in a) return asList(asRecord(a['arrayValue'])['values']).map(flatValue);
  if ('kvlistValue' in a) return flatAttributes(asRecord(a['kvlistValue'])['values']);
  return null;
}

/** A repeated KeyValue as a plain record (later duplicates win). */
export function flatAttributes(kvs: unknown): FlatAttributes {
  const out: FlatAttributes = {};
  for (const kv of asList(kvs)) out[str(kv['key'])] = flatValue(kv['value']);
  return out;
}

/** The instrumentation scope of a ScopeSpans / ScopeMetrics. */
export interface FlatScope {
  name: string;
  version: string;
  attributes: FlatAttributes;
}
export function flatScope(scope: unknown): FlatScope {
  const s = asRecord(scope);
  return { name: str(s['name']), version: str(s['version']), attributes: flatAttributes(s['attributes']) };
}
