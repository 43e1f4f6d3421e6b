/**
 * HTTP/1 message heads: start line and header section (RFC 9112 sections 3, 4 and 5).
 * https://www.rfc-editor.org/rfc/rfc9112
 *
 * Pure functions over one head's bytes; the stream state lives in http1.ts. Only the
 * allow-listed headers are decoded and kept; every other value is skipped unread.
 *
 *   GET /users?id=7 HTTP/1.1\r\n        request-line = method SP target SP version
 *   Host: api\r\n                       field-line   = name ":" OWS value OWS
 *   \r\n                                the empty line ends the head
 *
 *   HTTP/1.1 200 OK\r\n                 status-line  = version SP 3DIGIT SP [reason]
 */
import { CR, Cursor, HTAB, LF, SP, latin1 } from './cursor';
import type { HttpHeaders, HttpMessage } from './http1-types';

/** Longest method accepted (the longest registered one, UPDATEREDIRECTREF, has 17 chars). */
const MAX_METHOD = 32;

/** What a head says about its message and how its body is framed. */
export interface ParsedHead {
  /** timing, bodySize and truncated are filled in by the stream parser */
  message: HttpMessage;
  contentLength: number | undefined;
  /** a Transfer-Encoding header was present */
  transferCoded: boolean;
  /** ... and its final coding is chunked */
  chunked: boolean;
  /** index just past the head's empty line; -1 when the head is incomplete */
  end: number;
}

const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;

const HTTP1 = [0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e]; // "HTTP/1."

/** `b` starts with "HTTP/1.0" or "HTTP/1.1" at `i`: the minor digit, or -1. */
function versionAt(b: Uint8Array, i: number): number {
  for (let k = 0; k < 7; k++) if (b[i + k] !== HTTP1[k]) return -1;
  const minor = b[i + 7];
  return minor === 0x30 || minor === 0x31 ? minor - 0x30 : -1;
}

function isDigit(c: number | undefined): c is number {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

/**
 * Whether `b` could be the beginning of a start line, judged on its first bytes only
 * (so it stays O(1) while a long head arrives in pieces): a reason when it cannot.
 */
export function badStartPrefix(b: Uint8Array, side: 'request' | 'response'): string | undefined {
  const n = b.length;
  if (side === 'response') {
    for (let k = 0; k < 7 && k < n; k++) if (b[k] !== HTTP1[k]) return 'status line does not start with HTTP/1.';
    if (n > 7 && b[7] !== 0x30 && b[7] !== 0x31) return 'status line: unsupported HTTP version';
    if (n > 8 && b[8] !== SP) return 'status line: no space after the version';
    for (let k = 9; k < 12 && k < n; k++) if (!isDigit(b[k])) return 'status line: status is not 3 digits';
    return undefined;
  }
  let i = 0;
  while (i < n && i <= MAX_METHOD && TCHAR[b[i] ?? 0] === 1) i++;
  if (i === n) return undefined;
  if (i === 0 || i > MAX_METHOD || b[i] !== SP) return 'request line: bad method';
  const t = b[i + 1];
  if (t !== undefined && (t <= SP || t === 0x7f)) return 'request line: bad target';
  return undefined;
}

/**
 * Parses the head starting at `b[start]`, looking no further than `end`, in one pass
 * over its lines. `end` in the result is the index just past the head's empty line,
 * or -1 when `b[start, end)` holds no complete head: the result then reports what was
 * seen (for a head cut by truncation): complete lines are used, the cut line is
 * ignored, fields not seen stay undefined (the version defaults to 1.1). A string is
 * an error reason.
 */
export function parseHead(b: Uint8Array, start: number, end: number, side: 'request' | 'response'): ParsedHead | string {
  // lines are walked by index: no view or string per line, only for the values kept
  const c = new Cursor(b, start, end);
  const headers: HttpHeaders = {};
  const s0 = c.position;
  const e0 = c.skipLine();
  if (e0 < 0) {
    // the start line itself is cut
    const message = side === 'request' ? partialRequest(b, s0, c.end, headers) : partialResponse(b, s0, c.end, headers);
    return { message, contentLength: undefined, transferCoded: false, chunked: false, end: -1 };
  }
  const message = side === 'request' ? requestLine(b, s0, e0, headers) : statusLine(b, s0, e0, headers);
  if (typeof message === 'string') return message;

  let contentLength: number | undefined;
  let headEnd = -1;
  for (;;) {
    const s = c.position;
    const e = c.skipLine();
    if (e < 0) break;
    if (e === s) {
      headEnd = c.position;
      break;
    }
    const r = field(b, s, e, headers, contentLength);
    if (typeof r === 'string') return r;
    contentLength = r;
  }
  if (contentLength !== undefined) headers.contentLength = contentLength;
  message.keepAlive = keepAlive(message.version, headers.connection);
  const te = headers.transferEncoding;
  const transferCoded = te !== undefined;
  const chunked = transferCoded && /(?:^|,)[ \t]*chunked[ \t]*$/i.test(te);
  return { message, contentLength, transferCoded, chunked, end: headEnd };
}

function newMessage(type: 'request' | 'response', version: '1.0' | '1.1', headers: HttpHeaders): HttpMessage {
  return {
    type,
    version,
    headers,
    bodySize: undefined,
    startNs: 0,
    endNs: 0,
    truncated: false,
    informational: false,
    upgrade: false,
    keepAlive: version === '1.1',
  };
}

/** `b[s, e)` is the request line. */
function requestLine(b: Uint8Array, s: number, e: number, headers: HttpHeaders): HttpMessage | string {
  const sp1 = b.indexOf(SP, s);
  if (sp1 <= s || sp1 - s > MAX_METHOD || sp1 >= e) return 'request line: bad method';
  for (let i = s; i < sp1; i++) if (TCHAR[b[i] ?? 0] !== 1) return 'request line: bad method';
  const sp2 = b.indexOf(SP, sp1 + 1);
  if (sp2 < 0 || sp2 >= e) return 'request line: no HTTP version (HTTP/0.9 is not supported)';
  if (sp2 === sp1 + 1) return 'request line: empty target';
  const minor = e === sp2 + 9 ? versionAt(b, sp2 + 1) : -1;
  if (minor < 0) return 'request line: bad HTTP version';
  const m = newMessage('request', minor === 1 ? '1.1' : '1.0', headers);
  m.method = methodName(b, s, sp1);
  m.target = latin1(b, sp1 + 1, sp2);
  return m;
}

/** `b[s, e)` is the status line. */
function statusLine(b: Uint8Array, s: number, e: number, headers: HttpHeaders): HttpMessage | string {
  const minor = e - s >= 8 ? versionAt(b, s) : -1;
  if (minor < 0) return 'status line: not HTTP/1.0 or HTTP/1.1';
  const status = e - s >= 12 && b[s + 8] === SP && (e - s === 12 || b[s + 12] === SP) ? statusAt(b, s + 9) : -1;
  if (status < 100) return 'status line: bad status code';
  return withStatus(newMessage('response', minor === 1 ? '1.1' : '1.0', headers), status);
}

/** The 3-digit status code at `b[i]`, or -1. */
function statusAt(b: Uint8Array, i: number): number {
  const d0 = b[i];
  const d1 = b[i + 1];
  const d2 = b[i + 2];
  return isDigit(d0) && isDigit(d1) && isDigit(d2) ? (d0 - 0x30) * 100 + (d1 - 0x30) * 10 + (d2 - 0x30) : -1;
}

// the registered methods most traffic uses, shared rather than decoded per message
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE'];

function methodName(b: Uint8Array, s: number, e: number): string {
  const n = e - s;
  outer: for (const m of METHODS) {
    if (m.length !== n) continue;
    for (let i = 0; i < n; i++) if (b[s + i] !== m.charCodeAt(i)) continue outer;
    return m;
  }
  return latin1(b, s, e);
}

function withStatus(m: HttpMessage, status: number | undefined): HttpMessage {
  m.status = status;
  if (status !== undefined && status < 200) {
    m.upgrade = status === 101;
    m.informational = status !== 101;
  }
  return m;
}

/** A request whose line `b[s, e)` was cut: its method is known once the first space is seen. */
function partialRequest(b: Uint8Array, s: number, e: number, headers: HttpHeaders): HttpMessage {
  const sp = b.indexOf(SP, s);
  const m = newMessage('request', '1.1', headers);
  m.method = sp > s && sp < e && sp - s <= MAX_METHOD ? methodName(b, s, sp) : undefined;
  m.target = undefined;
  return m;
}

/** A response whose line `b[s, e)` was cut: its version once "HTTP/1.x " is seen, its status once 3 digits are. */
function partialResponse(b: Uint8Array, s: number, e: number, headers: HttpHeaders): HttpMessage {
  const minor = e - s >= 9 && b[s + 8] === SP ? versionAt(b, s) : -1;
  if (minor < 0) return withStatus(newMessage('response', '1.1', headers), undefined);
  const status = e - s >= 12 ? statusAt(b, s + 9) : -1;
  return withStatus(newMessage('response', minor === 1 ? '1.1' : '1.0', headers), status >= 100 ? status : undefined);
}

// Allow-listed names, lowercase, grouped by length so most fields are rejected by one compare.
const enum H {
  Host,
  ContentLength,
  TransferEncoding,
  Connection,
  ContentType,
  UserAgent,
  Traceparent,
  Tracestate,
}
const NAME_BYTES: Array<[H, Uint8Array]> = (
  [
    [H.Host, 'host'],
    [H.ContentLength, 'content-length'],
    [H.TransferEncoding, 'transfer-encoding'],
    [H.Connection, 'connection'],
    [H.ContentType, 'content-type'],
    [H.UserAgent, 'user-agent'],
    [H.Traceparent, 'traceparent'],
    [H.Tracestate, 'tracestate'],
  ] as const
).map(([h, s]): [H, Uint8Array] => [h, Uint8Array.from(s, (ch) => ch.charCodeAt(0))]);
const BY_LENGTH: Array<Array<[H, Uint8Array]>> = [];
for (const e of NAME_BYTES) (BY_LENGTH[e[1].length] ??= []).push(e);

/** Which allow-listed header `b[s, s + n)` names (already checked to be tchars), or -1. */
function known(b: Uint8Array, s: number, n: number): H | -1 {
  const candidates = BY_LENGTH[n];
  if (candidates === undefined) return -1;
  outer: for (const [h, name] of candidates) {
    // tchars only: `| 0x20` lowercases letters and maps no other tchar onto a letter or '-'
    for (let i = 0; i < n; i++) if (((b[s + i] ?? 0) | 0x20) !== name[i]) continue outer;
    return h;
  }
  return -1;
}

/** The field line `b[ls, le)`. Returns the Content-Length so far, or an error reason. */
function field(b: Uint8Array, ls: number, le: number, headers: HttpHeaders, contentLength: number | undefined): number | undefined | string {
  const first = b[ls];
  if (first === SP || first === HTAB) return 'obs-fold (a folded header line) is not supported';
  let colon = ls;
  while (colon < le && TCHAR[b[colon] ?? 0] === 1) colon++;
  if (colon === le || colon === ls || b[colon] !== 0x3a) {
    const c = b.indexOf(0x3a, ls);
    return c > ls && c < le ? 'header name has a character that is not allowed' : 'header line without a name and colon';
  }
  const h = known(b, ls, colon - ls);
  if (h === -1) return contentLength;
  let s = colon + 1;
  let e = le;
  while (s < e && (b[s] === SP || b[s] === HTAB)) s++;
  while (e > s && (b[e - 1] === SP || b[e - 1] === HTAB || b[e - 1] === CR)) e--;
  if (h === H.ContentLength) {
    const n = contentLengthValue(b, s, e);
    if (n === undefined) return 'Content-Length is not a non-negative integer';
    if (contentLength !== undefined && n !== contentLength) return 'conflicting Content-Length values';
    return n;
  }
  const v = latin1(b, s, e);
  switch (h) {
    case H.Host:
      headers.host ??= v;
      break;
    case H.ContentType:
      headers.contentType ??= v;
      break;
    case H.UserAgent:
      headers.userAgent ??= v;
      break;
    case H.Traceparent:
      headers.traceparent ??= v;
      break;
    // list-valued fields: repeated lines are one comma-separated list (RFC 9110 section 5.3)
    case H.TransferEncoding:
      headers.transferEncoding = headers.transferEncoding === undefined ? v : `${headers.transferEncoding}, ${v}`;
      break;
    case H.Connection:
      headers.connection = headers.connection === undefined ? v : `${headers.connection}, ${v}`;
      break;
    case H.Tracestate:
      headers.tracestate = headers.tracestate === undefined ? v : `${headers.tracestate},${v}`;
      break;
  }
  return contentLength;
}

/** "42", or a list of equal values "42, 42" (RFC 9110 section 8.6); undefined when invalid. */
function contentLengthValue(l: Uint8Array, s: number, e: number): number | undefined {
  let value: number | undefined;
  let i = s;
  for (;;) {
    let n = 0;
    const d0 = i;
    while (i < e && isDigit(l[i])) n = n * 10 + ((l[i++] ?? 0) - 0x30);
    if (i === d0 || i - d0 > 15) return undefined; // 15 digits keeps n exact
    if (value !== undefined && n !== value) return undefined;
    value = n;
    while (i < e && (l[i] === SP || l[i] === HTAB)) i++;
    if (i === e) return value;
    if (l[i] !== 0x2c) return undefined;
    i++;
    while (i < e && (l[i] === SP || l[i] === HTAB)) i++;
  }
}

/** HTTP/1.1 is persistent unless "close"; HTTP/1.0 only with "keep-alive" (RFC 9112 section 9.3). */
function keepAlive(version: '1.0' | '1.1', connection: string | undefined): boolean {
  if (connection === undefined) return version === '1.1';
  const v = connection.toLowerCase();
  if (/(?:^|[ \t,])close(?:$|[ \t,])/.test(v)) return false;
  return version === '1.1' || /(?:^|[ \t,])keep-alive(?:$|[ \t,])/.test(v);
}

/**
 * True when bytes start like an HTTP/1 request: an upper-case method of 3 to 20
 * letters ('-' and '_' allowed) and a space, then a visible character if any.
 * Stricter than the parser (any token is a method there) to keep detection precise.
 */
export function looksLikeRequest(b: Uint8Array): boolean {
  let i = 0;
  for (; i < b.length && i <= 20; i++) {
    const c = b[i] ?? 0;
    if (!((c >= 0x41 && c <= 0x5a) || (i > 0 && (c === 0x2d || c === 0x5f)))) break;
  }
  if (i < 3 || i > 20 || b[i] !== SP) return false;
  const t = b[i + 1];
  return t === undefined || (t > SP && t < 0x7f);
}

/** True when bytes start like an HTTP/1 response: "HTTP/1.0 " or "HTTP/1.1 ", then digits if any (up to 3). */
export function looksLikeResponse(b: Uint8Array): boolean {
  return b.length >= 9 && badStartPrefix(b, 'response') === undefined;
}

/**
 * Finds the empty line that ends a head or trailer section, resumably across segments.
 * `state` says where the previous scan stopped: 0 inside a line, 1 just after LF, 2 after
 * LF CR. Returns the index just past the empty line, or `-1 - state` when `b[from, to)`
 * holds none (pass `-1 - result` as the next call's state).
 */
export function emptyLineEnd(b: Uint8Array, from: number, to: number, state: number): number {
  let s = state;
  let i = from;
  while (i < to) {
    if (s === 0) {
      const j = b.indexOf(LF, i);
      if (j < 0 || j >= to) break;
      s = 1;
      i = j + 1;
      continue;
    }
    const c = b[i];
    if (c === LF) return i + 1;
    if (c === CR && s === 1) {
      s = 2;
      i++;
    } else s = 0;
  }
  return -1 - s;
}
