/**
 * Is this PostgreSQL? Structure checks on bytes that claim to be protocol 3.0
 * messages, for where a wrong guess costs: a connection's first bytes (detection)
 * and finding messages again after framing was lost. They read only what is in
 * view: a body's captured prefix is checked as far as it goes.
 * https://www.postgresql.org/docs/current/protocol-message-formats.html
 *
 * Example:
 *   chain('backend', bytes)        // { messages: 3, end: 40 }: C, Z, then a header cut at 40
 *   untypedKind(sslRequestBytes)   // 'ssl'
 */
import { B, CANCEL_REQUEST, F, GSSENC_REQUEST, MAX_STARTUP, SSL_REQUEST, cstrEnd, i16, i32, knownType, validHeader } from './postgres-wire';
import type { Side } from './postgres-wire';

/** Bytes a query text may hold: no NUL, no control characters but tab, CR and LF. */
export function textish(b: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = b[i] ?? 0;
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) return false;
  }
  return true;
}

/** After n Int16 values at `at` (n read there), or -1 when n is negative. */
function after16s(b: Uint8Array, at: number): number {
  const n = i16(b, at);
  return n < 0 ? -1 : at + 2 + 2 * n;
}

/**
 * After a count of Int32-length-prefixed values (-1 for NULL) at `at`; -1 when
 * malformed. In a prefix (`whole` false) running out of bytes is not malformed:
 * the end of the view is returned.
 */
function afterValues(b: Uint8Array, at: number, end: number, whole: boolean): number {
  if (at + 2 > end) return whole ? -1 : end;
  const n = i16(b, at);
  if (n < 0) return -1;
  let p = at + 2;
  for (let i = 0; i < n; i++) {
    if (p + 4 > end) return whole ? -1 : end;
    const len = i32(b, p);
    if (len < -1) return -1;
    p += 4 + Math.max(0, len);
    if (p > end) return whole ? -1 : end;
  }
  return p;
}

const AUTH_CODES = new Set([0, 2, 3, 5, 7, 8, 9, 10, 11, 12]);

function frontendBody(type: number, b: Uint8Array, whole: boolean): boolean {
  const end = b.length;
  switch (type) {
    case F.Query:
      return whole ? b[end - 1] === 0 && textish(b, 0, end - 1) : textish(b, 0, end);
    case F.Parse: {
      const n = cstrEnd(b, 0);
      if (n < 0) return !whole && textish(b, 0, end);
      const q = cstrEnd(b, n);
      if (q < 0) return !whole && textish(b, 0, end);
      if (!textish(b, 0, n - 1) || !textish(b, n, q - 1)) return false;
      if (q + 2 > end) return !whole;
      return !whole || (i16(b, q) >= 0 && q + 2 + 4 * i16(b, q) === end);
    }
    case F.Bind: {
      const s = cstrEnd(b, 0);
      const p = s < 0 ? -1 : cstrEnd(b, s);
      if (p < 0 || p + 2 > end) return !whole;
      const f = after16s(b, p);
      if (f < 0) return false;
      const v = afterValues(b, f, end, whole);
      if (v < 0) return false;
      if (!whole) return true;
      return v + 2 <= end && after16s(b, v) === end;
    }
    case F.Execute: {
      const p = cstrEnd(b, 0);
      return p < 0 ? !whole : !whole || p + 4 === end;
    }
    case F.Describe:
    case F.Close:
      return (b[0] === 0x53 || b[0] === 0x50) && (!whole || cstrEnd(b, 1) === end);
    default:
      return true;
  }
}

function backendBody(type: number, b: Uint8Array, whole: boolean): boolean {
  const end = b.length;
  switch (type) {
    case B.ReadyForQuery:
      return b[0] === 0x49 || b[0] === 0x54 || b[0] === 0x45;
    case B.CommandComplete: {
      const z = whole ? end - 1 : end;
      if (z <= 0 || (whole && b[z] !== 0)) return false;
      for (let i = 0; i < z; i++) {
        const c = b[i] ?? 0;
        if (!((c >= 0x41 && c <= 0x5a) || c === 0x20 || (c >= 0x30 && c <= 0x39))) return false;
      }
      return true;
    }
    case B.ErrorResponse:
    case B.Notice: {
      let at = 0;
      while (at < end) {
        if (b[at] === 0) return !whole || at === end - 1;
        const e = cstrEnd(b, at + 1);
        if (e < 0) return !whole;
        at = e;
      }
      return !whole;
    }
    case B.DataRow: {
      const v = afterValues(b, 0, end, whole);
      return whole ? v === end : v >= 0;
    }
    case B.ParameterStatus: {
      const k = cstrEnd(b, 0);
      if (k < 0) return !whole && textish(b, 0, end);
      const v = cstrEnd(b, k);
      return v < 0 ? !whole : !whole || v === end;
    }
    case B.Authentication:
      return end < 4 ? !whole : AUTH_CODES.has(i32(b, 0));
    default:
      return true;
  }
}

/**
 * Is this body well formed? `whole`: the body is all there; otherwise it is a
 * captured prefix and only what it shows is checked. Used where a wrong guess
 * costs: a connection's first bytes, and finding messages again after a loss.
 */
export function plausibleBody(side: Side, type: number, b: Uint8Array, whole: boolean): boolean {
  return side === 'frontend' ? frontendBody(type, b, whole) : backendBody(type, b, whole);
}

/**
 * A run of messages from the start of `data`, each header valid and each body
 * plausible: how many headers were checked and where the last message ends (past
 * the view when it runs on); undefined when something is wrong.
 */
export function chain(side: Side, data: Uint8Array, maxMessages = 64): { messages: number; end: number } | undefined {
  const cap = data.length;
  let pos = 0;
  let n = 0;
  while (pos + 5 <= cap && n < maxMessages) {
    const type = data[pos] ?? 0;
    const length = i32(data, pos + 1);
    if (!validHeader(side, type, length)) return undefined;
    const end = pos + 1 + length;
    if (!plausibleBody(side, type, data.subarray(pos + 5, Math.min(end, cap)), end <= cap)) return undefined;
    n++;
    pos = end;
  }
  // a header cut by the end of the view: its type byte at least must be one
  if (pos < cap && n < maxMessages && !knownType(side, data[pos] ?? 0)) return undefined;
  return { messages: n, end: pos };
}

/** The untyped message a connection's first bytes carry, if they are one (strictly). */
export function untypedKind(data: Uint8Array): 'startup' | 'ssl' | 'gss' | 'cancel' | undefined {
  if (data.length < 8) return undefined;
  const len = i32(data, 0);
  const code = i32(data, 4);
  if (len === 8 && data.length === 8) {
    if (code === SSL_REQUEST) return 'ssl';
    if (code === GSSENC_REQUEST) return 'gss';
    return undefined;
  }
  if (len === 16 && data.length === 16 && code === CANCEL_REQUEST) return 'cancel';
  // protocol 3.x, a minor version of at most 2 (3.2 is PostgreSQL 18's)
  if (code >>> 16 !== 3 || (code & 0xffff) > 2 || len < 9 || len > MAX_STARTUP || data.length > len) return undefined;
  // name/value pairs: printable names, "user" among them when the whole message is in view
  let at = 8;
  let user = false;
  for (let i = 0; i < 64 && at < data.length; i++) {
    if (data[at] === 0) return at === len - 1 && user ? 'startup' : undefined;
    const k = cstrEnd(data, at);
    if (k < 0) return data.length < len && printable(data, at, data.length) ? 'startup' : undefined;
    if (!printable(data, at, k - 1)) return undefined;
    if (k - at === 5 && data[at] === 0x75 && data[at + 1] === 0x73 && data[at + 2] === 0x65 && data[at + 3] === 0x72) user = true;
    const v = cstrEnd(data, k);
    if (v < 0) return data.length < len && textish(data, k, data.length) ? 'startup' : undefined;
    if (!textish(data, k, v - 1)) return undefined;
    at = v;
  }
  return at >= data.length && data.length < len ? 'startup' : undefined;
}

function printable(b: Uint8Array, start: number, end: number): boolean {
  if (end <= start) return false;
  for (let i = start; i < end; i++) {
    const c = b[i] ?? 0;
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}
