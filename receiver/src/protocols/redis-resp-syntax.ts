/**
 * RESP syntax shared by the framer (redis-resp.ts): what it reports, the type bytes, length and scalar
 * checks on byte ranges (no views: these run for every line), inline command splitting,
 * and whether a segment can start a reply (resynchronisation).
 * https://redis.io/docs/latest/develop/reference/protocol-spec/
 *
 * Example:
 *   lengthOf(bytes('$5'), 1, 1, true)   // 5
 *   splitInline('SET "a b" c')          // ['SET', 'a b', 'c']
 *   plausibleReply(bytes('+OK\r\n'))     // true
 */
import { LF, latin1 } from './cursor';

export interface RespValue {
  /** the first byte ('+', '-', ':', '$', '*', '%', '~', '>', ...); 0 for an inline command */
  type: number;
  /** simple strings, errors, numbers, booleans: the line (first TEXT_KEEP bytes); bulk errors: the text */
  text: string | undefined;
  /** aggregates: declared elements (pairs for maps), -1 null, -2 streamed; strings: length (-1 null); inline: arguments */
  count: number;
  /** an aggregate's first elements as strings (a command and its arguments); undefined where not a string or not captured */
  items: (string | undefined)[];
  /** errors among an aggregate's direct elements: their index and text */
  errors: { index: number; text: string }[] | undefined;
  startNs: number;
  endNs: number;
  /** framing was lost inside the value (capture truncation) */
  truncated: boolean;
}

export type RespEvent =
  | { kind: 'value'; value: RespValue }
  /** framing lost: by bytes the capture did not copy, or (error) by bytes that are not RESP */
  | { kind: 'lost'; reason: string; error: boolean; atNs: number };

export interface RespParserOptions {
  side: 'request' | 'reply';
  /** aggregate elements kept as strings (default 3) */
  keepItems?: number;
  /** bytes kept of each (default 64) */
  itemBytes?: number;
  /** requests: how many elements (the name included) to keep for a command, once its name is known (default keepItems) */
  itemsFor?: (command: string) => number;
}

export interface RespStats {
  values: number;
  errors: number;
  resyncs: number;
  skippedSegments: number;
}

export const CRb = 0x0d;
export const TEXT_KEEP = 128;
export const MAX_HEADER = 24;
export const MAX_LINE = 1 << 20;
export const MAX_INLINE = 64 * 1024;
export const MAX_DEPTH = 64;
export const MAX_ERRORS = 1024;
export const MAX_LENGTH = 2 ** 32;

export const T = { simple: 0x2b, error: 0x2d, int: 0x3a, bulk: 0x24, array: 0x2a, nul: 0x5f, bool: 0x23, double: 0x2c, big: 0x28, bulkErr: 0x21, verbatim: 0x3d, map: 0x25, set: 0x7e, attr: 0x7c, push: 0x3e, end: 0x2e, chunk: 0x3b } as const;

export const isAggregate = (b: number): boolean => b === T.array || b === T.map || b === T.set || b === T.push || b === T.attr;
export const isBlob = (b: number): boolean => b === T.bulk || b === T.bulkErr || b === T.verbatim;
export const isScalarLine = (b: number): boolean => b === T.simple || b === T.error || b === T.int || b === T.nul || b === T.bool || b === T.double || b === T.big;
/** a byte that can start a reply value */
export const isReplyType = (b: number | undefined): boolean => b !== undefined && (isAggregate(b) || isBlob(b) || isScalarLine(b));

/** A length or count: digits, "-1" when `nullable`, "?" (→ -2) when `streamed`. */
export function lengthOf(b: Uint8Array, s: number, len: number, nullable: boolean, streamed = true): number | undefined {
  if (len === 2 && nullable && b[s] === 0x2d && b[s + 1] === 0x31) return -1;
  if (len === 1 && streamed && b[s] === 0x3f) return -2;
  if (len === 0 || len > 10) return undefined;
  let n = 0;
  for (let i = 0; i < len; i++) {
    const d = (b[s + i] ?? 0) - 0x30;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  return n <= MAX_LENGTH ? n : undefined;
}

export function validScalar(t: number, b: Uint8Array, s: number, len: number): boolean {
  switch (t) {
    case T.nul:
      return len === 0;
    case T.bool:
      return len === 1 && (b[s] === 0x74 || b[s] === 0x66);
    case T.int:
    case T.big: {
      let i = b[s] === 0x2d || b[s] === 0x2b ? 1 : 0;
      if (i >= len || len > 64 + i) return false;
      for (; i < len; i++) if ((b[s + i] ?? 0) < 0x30 || (b[s + i] ?? 0) > 0x39) return false;
      return true;
    }
    case T.double:
      return len > 0 && len <= 400 && /^[-+]?(inf|nan|[0-9.]+([eE][-+]?[0-9]+)?)$/.test(latin1(b, s, Math.min(s + len, b.length)));
    default:
      // simple strings and errors: anything but CR or LF (already excluded by framing)
      return true;
  }
}

/** Copies n bytes without making views (subarray allocates: too slow for a few bytes at a time). */
export function copy(from: Uint8Array, at: number, n: number, to: Uint8Array, into: number): void {
  if (n > 64) {
    to.set(from.subarray(at, at + n), into);
    return;
  }
  for (let i = 0; i < n; i++) to[into + i] = from[at + i] ?? 0;
}

/**
 * Splits an inline command into arguments like Redis does: whitespace separated,
 * with "double" (escapes) and 'single' quotes. Unbalanced quotes: no arguments.
 */
export function splitInline(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && (line[i] === ' ' || line[i] === '\t')) i++;
    if (i >= n) break;
    let arg = '';
    const q = line[i];
    if (q === '"' || q === "'") {
      i++;
      while (i < n && line[i] !== q) {
        if (q === '"' && line[i] === '\\' && i + 1 < n) i++;
        arg += line[i];
        i++;
      }
      if (i >= n) return [];
      i++;
      if (i < n && line[i] !== ' ' && line[i] !== '\t') return [];
    } else {
      while (i < n && line[i] !== ' ' && line[i] !== '\t') arg += line[i++];
    }
    out.push(arg);
  }
  return out;
}

/** Could a reply value start here? A known type whose first line is complete and well formed. */
export function plausibleReply(data: Uint8Array): boolean {
  const t = data[0];
  if (!isReplyType(t) || t === undefined) return false;
  const lf = data.indexOf(LF, 1);
  if (lf < 2 || data[lf - 1] !== CRb) return false;
  const len = lf - 2;
  if (isBlob(t)) return lengthOf(data, 1, len, t === T.bulk, t === T.bulk) !== undefined;
  if (isAggregate(t)) return lengthOf(data, 1, len, t === T.array, t !== T.attr) !== undefined;
  if (t === T.error) return len > 0 && (data[1] ?? 0) >= 0x41 && (data[1] ?? 0) <= 0x5a;
  return validScalar(t, data, 1, len);
}

/** A line that spans segments: its first TEXT_KEEP bytes, its true length and last byte. */
export class LineBuffer {
  readonly bytes = new Uint8Array(TEXT_KEEP);
  kept = 0;
  total = 0;
  last = -1;

  append(data: Uint8Array, from: number, to: number): void {
    if (to <= from) return;
    const room = TEXT_KEEP - this.kept;
    if (room > 0) {
      const n = Math.min(room, to - from);
      copy(data, from, n, this.bytes, this.kept);
      this.kept += n;
    }
    this.total += to - from;
    this.last = data[to - 1] ?? -1;
  }

  clear(): void {
    this.kept = this.total = 0;
    this.last = -1;
  }
}
