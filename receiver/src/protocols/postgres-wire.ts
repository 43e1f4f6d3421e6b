/**
 * PostgreSQL frontend/backend protocol 3.0: message types, the length each may
 * have, and decoders for the few bodies Kindling reads. Pure functions over
 * byte views; nothing here throws or allocates more than the strings it returns.
 *   https://www.postgresql.org/docs/current/protocol-message-formats.html
 *   https://www.postgresql.org/docs/current/protocol-flow.html
 *
 * Every message after the startup phase is a type byte and an Int32 length that
 * counts itself but not the type byte:
 *   Q 00 00 00 0d 'SELECT 1' 00            simple query (frontend)
 *   C 00 00 00 0d 'SELECT 1' 00            CommandComplete (backend)
 *   Z 00 00 00 05 'I'                      ReadyForQuery
 * The startup phase has untyped messages, an Int32 length then an Int32 code:
 *   00 00 00 08 04 d2 16 2f                SSLRequest (answered by one byte, 'S' or 'N')
 *   00 00 00 3f 00 03 00 00 user 00 ...    StartupMessage, protocol 3.0
 */

export const PROTOCOL_3 = 0x00030000;
export const SSL_REQUEST = 80877103;
export const GSSENC_REQUEST = 80877104;
export const CANCEL_REQUEST = 80877102;
/** the server's limit on an untyped startup-phase message (MAX_STARTUP_PACKET_LENGTH) */
export const MAX_STARTUP = 10000;
/** no message is longer than this (the server's MaxAllocSize) */
export const MAX_MESSAGE = 0x3fffffff;

export type Side = 'frontend' | 'backend';

/** Frontend (client to server) message types. */
export const enum F {
  Bind = 0x42, // B
  Close = 0x43, // C
  Describe = 0x44, // D
  Execute = 0x45, // E
  FunctionCall = 0x46, // F
  Flush = 0x48, // H
  Parse = 0x50, // P
  Query = 0x51, // Q
  Sync = 0x53, // S
  Terminate = 0x58, // X
}

/** Backend (server to client) message types. */
export const enum B {
  CommandComplete = 0x43, // C
  DataRow = 0x44, // D
  ErrorResponse = 0x45, // E
  EmptyQuery = 0x49, // I
  Notice = 0x4e, // N
  Authentication = 0x52, // R
  ParameterStatus = 0x53, // S
  ReadyForQuery = 0x5a, // Z
  PortalSuspended = 0x73, // s
}

/**
 * Length rules by type byte: > 0 is the least length, < 0 the only length (negated),
 * 0 an unknown type. Lengths count the Int32 itself.
 */
function rules(spec: Record<string, number>): Int32Array {
  const t = new Int32Array(256);
  for (const [k, v] of Object.entries(spec)) t[k.charCodeAt(0)] = v;
  return t;
}

const FRONTEND = rules({ B: 12, C: 6, D: 6, E: 9, F: 14, H: -4, P: 8, Q: 5, S: -4, X: -4, c: -4, d: 4, f: 5, p: 4 });
const BACKEND = rules({
  '1': -4, '2': -4, '3': -4, A: 10, C: 5, D: 6, E: 5, G: 7, H: 7, I: -4, K: 12, N: 5, R: 8, S: 6, T: 6, V: 8, W: 7, Z: -5, c: -4, d: 4, n: -4, s: -4, t: 6, v: 12,
});

/** Does a typed header (type byte, Int32 length) obey the protocol? */
export function validHeader(side: Side, type: number, length: number): boolean {
  const r = (side === 'frontend' ? FRONTEND : BACKEND)[type] ?? 0;
  if (r === 0) return false;
  return r < 0 ? length === -r : length >= r && length <= MAX_MESSAGE;
}

export function i32(b: Uint8Array, at: number): number {
  return ((b[at] ?? 0) << 24) | ((b[at + 1] ?? 0) << 16) | ((b[at + 2] ?? 0) << 8) | (b[at + 3] ?? 0);
}

export function i16(b: Uint8Array, at: number): number {
  return (((b[at] ?? 0) << 8) | (b[at + 1] ?? 0)) << 16 >> 16;
}

/** Index just past the NUL that ends the string at `at`, or -1 when no NUL is in view. */
export function cstrEnd(b: Uint8Array, at: number): number {
  const z = at < b.length ? b.indexOf(0, at) : -1;
  return z < 0 ? -1 : z + 1;
}

// Node's native decoders behind Buffer#toString: they take any Uint8Array, with no Buffer made per call
type Slice = (this: Uint8Array, start: number, end: number) => string;
const proto = Buffer.prototype as unknown as { utf8Slice?: Slice; latin1Slice?: Slice };

export function utf8(b: Uint8Array, start = 0, end = b.length): string {
  if (end <= start) return '';
  return proto.utf8Slice ? proto.utf8Slice.call(b, start, end) : Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('utf8');
}

/** Names (statements, portals) as keys: one char per byte, the same bytes always the same key. */
export function latin1(b: Uint8Array, start = 0, end = b.length): string {
  if (end <= start) return '';
  return proto.latin1Slice ? proto.latin1Slice.call(b, start, end) : Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1');
}

/** The string at `at` (to its NUL, or to the end of the view when the NUL was not captured). */
function cstr(b: Uint8Array, at: number, decode = utf8): { text: string; end: number; whole: boolean } {
  const e = cstrEnd(b, at);
  return e < 0 ? { text: decode(b, at), end: b.length, whole: false } : { text: decode(b, at, e - 1), end: e, whole: true };
}

// ---- bodies (after the type byte and the length) ----------------------------------------

export interface CommandTag {
  /** first word: SELECT, INSERT, UPDATE, CREATE, ... */
  verb: string;
  /** the last number, when the tag has one: rows affected or returned */
  rows?: number;
}

const VERBS = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'BEGIN', 'COMMIT', 'ROLLBACK', 'FETCH', 'COPY', 'MERGE', 'SET'].map((v) => ({ v, b: Buffer.from(v, 'latin1') }));

/** The common tag verbs as shared strings, not decoded again for each CommandComplete. */
function knownVerb(body: Uint8Array, n: number): string | undefined {
  for (const { v, b } of VERBS) {
    if (b.length !== n) continue;
    let k = 0;
    while (k < n && body[k] === b[k]) k++;
    if (k === n) return v;
  }
  return undefined;
}

/** CommandComplete: "SELECT 5", "INSERT 0 1", "UPDATE 3", "CREATE TABLE" (upper-case words, then counts). */
export function commandTag(body: Uint8Array): CommandTag | undefined {
  const end = body.indexOf(0) < 0 ? body.length : body.indexOf(0);
  let i = 0;
  while (i < end && (body[i] ?? 0) >= 0x41 && (body[i] ?? 0) <= 0x5a) i++;
  if (i === 0 || (i < end && body[i] !== 0x20)) return undefined;
  const verb = knownVerb(body, i) ?? latin1(body, 0, i);
  // the last space-separated word: a count, when all digits
  let j = end;
  while (j > i && body[j - 1] !== 0x20) j--;
  if (j === end || j === i) return { verb };
  let rows = 0;
  for (let k = j; k < end; k++) {
    const c = body[k] ?? 0;
    if (c < 0x30 || c > 0x39) return { verb };
    rows = rows * 10 + (c - 0x30);
  }
  return { verb, rows };
}

/** ErrorResponse: the SQLSTATE in field 'C' (the message 'M' is never read). */
export function errorCode(body: Uint8Array): string | undefined {
  let at = 0;
  while (at < body.length) {
    const code = body[at];
    if (code === 0 || code === undefined) return undefined;
    const end = cstrEnd(body, at + 1);
    if (end < 0) return undefined;
    if (code === 0x43 && end - at - 2 === 5) return utf8(body, at + 1, end - 1);
    at = end;
  }
  return undefined;
}

export interface ParseBody {
  name: string;
  text: string;
  /** the text was cut short by capture truncation */
  truncated: boolean;
}

/** Parse: statement name, query text, then parameter types (not read). */
export function parseBody(body: Uint8Array): ParseBody | undefined {
  const name = cstr(body, 0, latin1);
  if (!name.whole) return undefined;
  const text = cstr(body, name.end);
  return { name: name.text, text: text.text, truncated: !text.whole };
}

/** Bind: portal name, statement name (parameters are never read). */
export function bindBody(body: Uint8Array): { portal: string; statement: string } | undefined {
  const portal = cstr(body, 0, latin1);
  if (!portal.whole) return undefined;
  const statement = cstr(body, portal.end, latin1);
  return statement.whole ? { portal: portal.text, statement: statement.text } : undefined;
}

/** Execute: portal name (and a row limit, not read). */
export function executeBody(body: Uint8Array): string | undefined {
  const portal = cstr(body, 0, latin1);
  return portal.whole ? portal.text : undefined;
}

/** Close and Describe: 'S' (statement) or 'P' (portal), then the name. */
export function targetBody(body: Uint8Array): { kind: 'S' | 'P'; name: string } | undefined {
  const k = body[0];
  if (k !== 0x53 && k !== 0x50) return undefined;
  const name = cstr(body, 1, latin1);
  return name.whole ? { kind: k === 0x53 ? 'S' : 'P', name: name.text } : undefined;
}

/** StartupMessage after its protocol code: name/value pairs; only user and database are kept. */
export function startupParams(body: Uint8Array): { user?: string; database?: string } {
  const out: { user?: string; database?: string } = {};
  let at = 4;
  for (let i = 0; i < 64 && at < body.length && body[at] !== 0; i++) {
    const k = cstr(body, at);
    if (!k.whole) break;
    const v = cstr(body, k.end);
    if (!v.whole) break;
    if (k.text === 'user') out.user = v.text;
    else if (k.text === 'database') out.database = v.text;
    at = v.end;
  }
  return out;
}

export function knownType(side: Side, type: number): boolean {
  return ((side === 'frontend' ? FRONTEND : BACKEND)[type] ?? 0) !== 0;
}
