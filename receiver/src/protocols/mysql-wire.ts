/**
 * MySQL / MariaDB wire facts: command bytes, capability and status flags, and
 * decoders for the few packets Kindling reads (greeting, login, OK, ERR, EOF,
 * column count, PREPARE_OK). Every decoder takes a captured payload prefix,
 * which may be cut short, and returns undefined (or partial facts) instead of
 * throwing.
 *
 * https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html
 * https://mariadb.com/kb/en/clientserver-protocol/
 *
 * Example (an OK packet whose session-state tracker says the schema is now kdb):
 *   parseOk(hex('0000000240000000060104036b6462'), CLIENT_PROTOCOL_41 | CLIENT_SESSION_TRACK)
 *     // → { status: 0x4002, schema: 'kdb' }
 */
import { Cursor } from './cursor';

// ---- capability flags (the client's and the server's, both 32 bits) -----------------------
export const CLIENT_LONG_PASSWORD = 1 << 0; // MariaDB: CLIENT_MYSQL; a MariaDB server clears it and adds extended capabilities
export const CLIENT_CONNECT_WITH_DB = 1 << 3;
export const CLIENT_COMPRESS = 1 << 5;
export const CLIENT_PROTOCOL_41 = 1 << 9;
export const CLIENT_SSL = 1 << 11;
export const CLIENT_SECURE_CONNECTION = 1 << 15;
export const CLIENT_PLUGIN_AUTH = 1 << 19;
export const CLIENT_CONNECT_ATTRS = 1 << 20;
export const CLIENT_PLUGIN_AUTH_LENENC_DATA = 1 << 21;
export const CLIENT_SESSION_TRACK = 1 << 23;
export const CLIENT_DEPRECATE_EOF = 1 << 24;
/** MySQL 8: a metadata_follows byte in PREPARE_OK and after the column count; MariaDB does not use the bit */
export const CLIENT_OPTIONAL_RESULTSET_METADATA = 1 << 25;
/** MySQL 8: COM_QUERY carries parameter counts before the text */
export const CLIENT_QUERY_ATTRIBUTES = 1 << 27;

// ---- server status flags -------------------------------------------------------------------
export const SERVER_MORE_RESULTS_EXISTS = 0x0008;
export const SERVER_STATUS_CURSOR_EXISTS = 0x0040;
export const SERVER_SESSION_STATE_CHANGED = 0x4000;

const SESSION_TRACK_SCHEMA = 1;

// ---- commands --------------------------------------------------------------------------------
export const COM_QUIT = 0x01;
export const COM_INIT_DB = 0x02;
export const COM_QUERY = 0x03;
export const COM_FIELD_LIST = 0x04;
export const COM_PING = 0x0e;
export const COM_CHANGE_USER = 0x11;
export const COM_STMT_PREPARE = 0x16;
export const COM_STMT_EXECUTE = 0x17;
export const COM_STMT_SEND_LONG_DATA = 0x18;
export const COM_STMT_CLOSE = 0x19;
export const COM_STMT_RESET = 0x1a;
export const COM_STMT_FETCH = 0x1c;
export const COM_RESET_CONNECTION = 0x1f;
/** MariaDB */
export const COM_STMT_BULK_EXECUTE = 0xfa;

/** What a command's response looks like, which decides how its packets are read. */
export type Expect =
  /** no response at all */
  | 'none'
  /** one packet: OK, ERR, EOF or a plain string (COM_STATISTICS) */
  | 'simple'
  /** OK, ERR, LOCAL INFILE or result sets (chained by SERVER_MORE_RESULTS_EXISTS) */
  | 'results'
  /** PREPARE_OK and its parameter and column definitions, or ERR */
  | 'prepare'
  /** column definitions up to EOF (COM_FIELD_LIST) */
  | 'fields'
  /** rows up to EOF (COM_STMT_FETCH) */
  | 'rows'
  /** an authentication exchange up to OK or ERR (COM_CHANGE_USER) */
  | 'auth'
  /** the connection stops carrying commands (replication streams, clone) */
  | 'stop'
  /** the command byte was not captured: an ERR ends it, an OK may name the schema, the next command ends it */
  | 'unknown';

interface CommandInfo {
  name: string;
  expect: Expect;
}

const COMMANDS = new Map<number, CommandInfo>([
  [0x00, { name: 'COM_SLEEP', expect: 'simple' }],
  [COM_QUIT, { name: 'COM_QUIT', expect: 'none' }],
  [COM_INIT_DB, { name: 'COM_INIT_DB', expect: 'simple' }],
  [COM_QUERY, { name: 'COM_QUERY', expect: 'results' }],
  [COM_FIELD_LIST, { name: 'COM_FIELD_LIST', expect: 'fields' }],
  [0x05, { name: 'COM_CREATE_DB', expect: 'simple' }],
  [0x06, { name: 'COM_DROP_DB', expect: 'simple' }],
  [0x07, { name: 'COM_REFRESH', expect: 'simple' }],
  [0x08, { name: 'COM_SHUTDOWN', expect: 'simple' }],
  [0x09, { name: 'COM_STATISTICS', expect: 'simple' }],
  [0x0a, { name: 'COM_PROCESS_INFO', expect: 'results' }],
  [0x0c, { name: 'COM_PROCESS_KILL', expect: 'simple' }],
  [0x0d, { name: 'COM_DEBUG', expect: 'simple' }],
  [COM_PING, { name: 'COM_PING', expect: 'simple' }],
  [COM_CHANGE_USER, { name: 'COM_CHANGE_USER', expect: 'auth' }],
  [0x12, { name: 'COM_BINLOG_DUMP', expect: 'stop' }],
  [0x13, { name: 'COM_TABLE_DUMP', expect: 'stop' }],
  [0x15, { name: 'COM_REGISTER_SLAVE', expect: 'simple' }],
  [COM_STMT_PREPARE, { name: 'COM_STMT_PREPARE', expect: 'prepare' }],
  [COM_STMT_EXECUTE, { name: 'COM_STMT_EXECUTE', expect: 'results' }],
  [COM_STMT_SEND_LONG_DATA, { name: 'COM_STMT_SEND_LONG_DATA', expect: 'none' }],
  [COM_STMT_CLOSE, { name: 'COM_STMT_CLOSE', expect: 'none' }],
  [COM_STMT_RESET, { name: 'COM_STMT_RESET', expect: 'simple' }],
  [0x1b, { name: 'COM_SET_OPTION', expect: 'simple' }],
  [COM_STMT_FETCH, { name: 'COM_STMT_FETCH', expect: 'rows' }],
  [0x1e, { name: 'COM_BINLOG_DUMP_GTID', expect: 'stop' }],
  [COM_RESET_CONNECTION, { name: 'COM_RESET_CONNECTION', expect: 'simple' }],
  [0x20, { name: 'COM_CLONE', expect: 'stop' }],
  [COM_STMT_BULK_EXECUTE, { name: 'COM_STMT_BULK_EXECUTE', expect: 'results' }],
]);

/** The command's name and response shape; an unknown byte is answered by one ERR packet. */
export function commandInfo(cmd: number): CommandInfo {
  return COMMANDS.get(cmd) ?? { name: `COM_UNKNOWN_${cmd.toString(16).padStart(2, '0')}`, expect: 'simple' };
}

// ---- primitives --------------------------------------------------------------------------------

/** A length-encoded integer; undefined when cut short or the 0xfb/0xff markers (not integers). */
export function readLenenc(c: Cursor): number | undefined {
  const first = c.peek();
  if (first === undefined) return undefined;
  if (first < 0xfb) return c.readU8();
  const size = first === 0xfc ? 2 : first === 0xfd ? 3 : first === 0xfe ? 8 : 0;
  if (size === 0 || c.remaining < 1 + size) return undefined;
  c.skip(1);
  let v = 0;
  for (let i = 0; i < size; i++) v += (c.readU8() ?? 0) * 2 ** (8 * i);
  return v;
}

/** Bytes up to a NUL (consumed); undefined when no NUL was captured. */
export function readNulString(c: Cursor): string | undefined {
  const v = c.readUntil(0);
  return v === undefined ? undefined : utf8(v);
}

export function utf8(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('utf8');
}

export const u24 = (b: Uint8Array, at: number): number => (b[at] ?? 0) | ((b[at + 1] ?? 0) << 8) | ((b[at + 2] ?? 0) << 16);
export const u32 = (b: Uint8Array, at: number): number => ((b[at] ?? 0) | ((b[at + 1] ?? 0) << 8) | ((b[at + 2] ?? 0) << 16) | ((b[at + 3] ?? 0) << 24)) >>> 0;

// ---- handshake ------------------------------------------------------------------------------------

export interface Greeting {
  /** undefined when the capture cut the greeting before the version's end */
  serverVersion?: string;
  /** undefined when cut before them; the lower 16 bits only when cut before the upper ones */
  capabilities?: number;
  /** MariaDB's extended capabilities (when it cleared CLIENT_MYSQL) */
  extended: number;
}

/**
 * HandshakeV10: [0x0a] version NUL, thread id(4), scramble(8), filler(1), caps lo(2), charset(1),
 * status(2), caps hi(2), auth data length(1), reserved(6), MariaDB extended caps(4) ... What a
 * cut prefix shows is returned; undefined when it is not a protocol 10 greeting at all.
 */
export function parseGreeting(p: Uint8Array): Greeting | undefined {
  const c = new Cursor(p);
  const proto = c.readU8();
  if (proto !== undefined && proto !== 0x0a) return undefined;
  const version = c.readUntil(0);
  if (version === undefined) return { extended: 0 };
  if (version.length > 128) return undefined;
  const out: Greeting = { serverVersion: utf8(version), extended: 0 };
  if (!c.skip(4 + 8) || c.readU8() !== 0) return out;
  const lo = c.readU16LE();
  if (lo === undefined) return out;
  c.skip(1 + 2);
  const hi = c.readU16LE() ?? 0;
  out.capabilities = (lo | (hi << 16)) >>> 0;
  // auth data length(1) + 6 reserved bytes, then MariaDB's extended capabilities (4)
  if ((out.capabilities & CLIENT_LONG_PASSWORD) === 0 && c.skip(1 + 6)) out.extended = c.readU32LE() ?? 0;
  return out;
}

export interface Login {
  /** undefined when the capture cut them */
  capabilities: number | undefined;
  extended: number;
  /** an SSLRequest: the rest of the connection is TLS */
  ssl: boolean;
  user?: string;
  database?: string;
}

/** HandshakeResponse41 (or the 32-byte SSLRequest that starts like it), or the old HandshakeResponse320. */
export function parseLogin(p: Uint8Array): Login | undefined {
  const c = new Cursor(p);
  const lo = c.readU16LE();
  if (lo === undefined) return undefined;
  if ((lo & CLIENT_PROTOCOL_41) === 0) {
    // HandshakeResponse320: caps(2) max packet(3) user NUL auth ...
    if (!c.skip(3)) return { capabilities: lo, extended: 0, ssl: false };
    const user = readNulString(c);
    return { capabilities: lo, extended: 0, ssl: (lo & CLIENT_SSL) !== 0, ...(user !== undefined ? { user } : {}) };
  }
  const hi = c.readU16LE();
  if (hi === undefined) return { capabilities: undefined, extended: 0, ssl: false };
  const capabilities = (lo | (hi << 16)) >>> 0;
  // max packet(4) charset(1) filler(19) then MariaDB's extended capabilities or 4 more filler bytes
  if (!c.skip(4 + 1 + 19)) return { capabilities, extended: 0, ssl: (capabilities & CLIENT_SSL) !== 0 };
  const extended = c.readU32LE() ?? 0;
  if ((capabilities & CLIENT_SSL) !== 0) return { capabilities, extended, ssl: true };
  const out: Login = { capabilities, extended, ssl: false };
  const user = readNulString(c);
  if (user === undefined) return out;
  out.user = user;
  let authLen: number | undefined;
  if (capabilities & CLIENT_PLUGIN_AUTH_LENENC_DATA) authLen = readLenenc(c);
  else if (capabilities & CLIENT_SECURE_CONNECTION) authLen = c.readU8();
  else authLen = c.readUntil(0) === undefined ? undefined : 0;
  if (authLen === undefined || !c.skip(authLen)) return out;
  if (capabilities & CLIENT_CONNECT_WITH_DB) {
    const db = readNulString(c);
    if (db) out.database = db;
  }
  return out;
}

// ---- responses --------------------------------------------------------------------------------------

export const isErr = (p: Uint8Array): boolean => p[0] === 0xff;
/** 0xfe in a packet shorter than 0xffffff: EOF, or OK with the 0xfe header (CLIENT_DEPRECATE_EOF) */
export const isEofOrOk = (p: Uint8Array, length: number): boolean => p[0] === 0xfe && length < 0xffffff;

export interface OkInfo {
  /** undefined when the captured prefix ended before the flags */
  status?: number;
  /** the new default schema, from the session-state tracker */
  schema?: string;
}

/** OK packet (header 0x00 or 0xfe): affected rows, last insert id, status, warnings, info, session state. */
export function parseOk(p: Uint8Array, caps: number | undefined): OkInfo {
  const c = new Cursor(p, 1);
  if (readLenenc(c) === undefined || readLenenc(c) === undefined) return {};
  const status = c.readU16LE();
  if (status === undefined) return {};
  const out: OkInfo = { status };
  // session state needs CLIENT_SESSION_TRACK: when the capabilities are unknown, the flag alone decides
  if ((status & SERVER_SESSION_STATE_CHANGED) === 0 || (caps !== undefined && (caps & CLIENT_SESSION_TRACK) === 0)) return out;
  if (!c.skip(2)) return out;
  const info = readLenenc(c);
  if (info === undefined || !c.skip(info)) return out;
  const total = readLenenc(c);
  if (total === undefined) return out;
  const end = Math.min(c.end, c.position + total);
  const s = new Cursor(p, c.position, end);
  while (s.remaining > 0) {
    const type = s.readU8();
    const len = readLenenc(s);
    if (type === undefined || len === undefined) break;
    const at = s.position;
    if (type === SESSION_TRACK_SCHEMA) {
      const e = new Cursor(p, at, Math.min(end, at + len));
      const n = readLenenc(e);
      const name = n === undefined ? undefined : e.readBytes(n);
      if (name !== undefined) out.schema = utf8(name);
    }
    if (!s.skip(len)) break;
  }
  return out;
}

/** EOF packet: 0xfe, warnings(2), status(2). */
export function eofStatus(p: Uint8Array): number | undefined {
  return p.length >= 5 ? ((p[3] ?? 0) | ((p[4] ?? 0) << 8)) >>> 0 : undefined;
}

export interface ErrInfo {
  code?: number;
  sqlState?: string;
}

/** ERR packet: 0xff, code(2), ['#' SQL state(5)], message (not kept: it can quote values). */
export function parseErr(p: Uint8Array): ErrInfo {
  if (p.length < 3) return {};
  const code = (p[1] ?? 0) | ((p[2] ?? 0) << 8);
  if (p[3] === 0x23 && p.length >= 9) return { code, sqlState: Buffer.from(p.buffer, p.byteOffset + 4, 5).toString('latin1') };
  return { code };
}

/** MariaDB progress reports (CLIENT_PROGRESS) travel as ERR packets with code 0xffff: not errors, not the end. */
export const isProgress = (p: Uint8Array): boolean => p[0] === 0xff && p[1] === 0xff && p[2] === 0xff;

export interface ColumnCount {
  count: number;
  /** false when the server skipped the column definitions (cached or optional metadata) */
  metadata: boolean;
}

/**
 * The first packet of a result set: the column count, then, with MariaDB's cache-metadata or
 * MySQL 8's optional-metadata capability, a "metadata follows" byte (both servers write it
 * after the count, whatever MySQL's page on the text result set shows). The packet's length
 * says whether the byte is there, so the capabilities are not needed.
 */
export function parseColumnCount(p: Uint8Array, length: number): ColumnCount | undefined {
  const c = new Cursor(p);
  const count = readLenenc(c);
  if (count === undefined || count === 0) return undefined;
  const flag = length > c.position ? c.readU8() : 1;
  return { count, metadata: flag !== 0 };
}

export interface PrepareOk {
  statementId: number;
  columns: number;
  params: number;
  /** MySQL 8 optional metadata: false when the definitions are left out */
  metadata: boolean;
}

/** COM_STMT_PREPARE_OK: 0x00, statement id(4), columns(2), params(2), filler(1), warnings(2)[, metadata follows(1)]. */
export function parsePrepareOk(p: Uint8Array, length: number, caps: number | undefined): PrepareOk | undefined {
  if (p[0] !== 0 || p.length < 9) return undefined;
  const metadata = !(caps !== undefined && (caps & CLIENT_OPTIONAL_RESULTSET_METADATA) !== 0 && length >= 13 && p[12] === 0);
  return { statementId: u32(p, 1), columns: (p[5] ?? 0) | ((p[6] ?? 0) << 8), params: (p[7] ?? 0) | ((p[8] ?? 0) << 8), metadata };
}
