/**
 * What a command packet says, for telemetry: its operation name (the SQL verb
 * for COM_QUERY, the prepared statement's verb for COM_STMT_EXECUTE, the
 * command's name otherwise), table, fingerprinted text, and the effects its
 * success has on the connection (schema, prepared statements).
 * https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_command_phase.html
 *
 * Example:
 *   describeCommand(packet('03 "SELECT * FROM t WHERE id = 7"'), ctx, statements, true)
 *     // → { operation: 'SELECT', collection: 't', queryText: 'SELECT * FROM t WHERE id = ?', expect: 'results', ... }
 */
import { Cursor } from './cursor';
import type { DbOperationRecord } from './context';
import type { MysqlPacket } from './mysql-framer';
import type { MysqlResponse } from './mysql-response';
import type { ResponseContext } from './mysql-response';
import type { StatementInfo, StatementTable } from './mysql-statements';
import {
  CLIENT_QUERY_ATTRIBUTES,
  CLIENT_SECURE_CONNECTION,
  COM_CHANGE_USER,
  COM_FIELD_LIST,
  COM_INIT_DB,
  COM_QUERY,
  COM_RESET_CONNECTION,
  COM_STMT_BULK_EXECUTE,
  COM_STMT_CLOSE,
  COM_STMT_EXECUTE,
  COM_STMT_FETCH,
  COM_STMT_PREPARE,
  COM_STMT_SEND_LONG_DATA,
  commandInfo,
  readLenenc,
  readNulString,
  u32,
  utf8,
} from './mysql-wire';
import type { Expect } from './mysql-wire';
import { fingerprintSql, sqlCollection, sqlOperation } from './sql';

export interface CommandFacts {
  /** the command byte; undefined when it was not captured */
  command: number | undefined;
  operation: string;
  expect: Expect;
  /** false when the command byte was not captured: the response's shape is unknown */
  typed: boolean;
  /** false for commands that are not operations of their own (COM_QUIT, COM_STMT_SEND_LONG_DATA) */
  report: boolean;
  collection?: string;
  queryText?: string;
  /** db.namespace of this operation when the command names it (COM_INIT_DB) */
  namespace?: string;
  /** the connection's schema once the command succeeds (COM_INIT_DB, USE, COM_CHANGE_USER) */
  newSchema?: string;
  /** COM_STMT_PREPARE: what the statement will be known by */
  prepared?: StatementInfo;
  /** COM_STMT_CLOSE: the statement id it drops */
  closes?: number;
  /** COM_RESET_CONNECTION, COM_CHANGE_USER: the server drops every prepared statement */
  forgetsStatements?: boolean;
}

/** The longest raw text reported when fingerprinting is off. */
const MAX_RAW_TEXT = 4096;

export function describeCommand(p: MysqlPacket, ctx: ResponseContext, statements: StatementTable, fingerprint: boolean): CommandFacts {
  const b = p.prefix;
  const cmd = b[0];
  if (cmd === undefined || p.length === 0) return { command: undefined, operation: 'COM_UNKNOWN', expect: 'unknown', typed: false, report: true };
  const info = commandInfo(cmd);
  const facts: CommandFacts = { command: cmd, operation: info.name, expect: info.expect, typed: true, report: true };
  // the captured prefix (or REQUEST_KEEP) ended before the packet did: names running into the cut are not trusted
  const cut = b.length < p.length;
  switch (cmd) {
    case COM_QUERY: {
      const text = queryText(b, ctx);
      if (text === undefined) return facts;
      const st = statementInfo(text, cut, fingerprint);
      Object.assign(facts, st);
      facts.operation = st.operation ?? info.name;
      const use = cut ? null : /^\s*use\s+`?([^`;\s]+)`?\s*;?\s*$/i.exec(text);
      if (use?.[1] !== undefined) facts.newSchema = use[1];
      return facts;
    }
    case COM_STMT_PREPARE: {
      const st = statementInfo(utf8(b.subarray(1)), cut, fingerprint);
      facts.prepared = st;
      if (st.collection !== undefined) facts.collection = st.collection;
      if (st.queryText !== undefined) facts.queryText = st.queryText;
      return facts;
    }
    case COM_STMT_EXECUTE:
    case COM_STMT_BULK_EXECUTE:
    case COM_STMT_FETCH: {
      const st = b.length >= 5 ? statements.get(u32(b, 1)) : undefined;
      if (!st) return facts;
      // an execute is the statement's own operation; a fetch stays a fetch, of that statement
      if (cmd !== COM_STMT_FETCH && st.operation !== undefined) facts.operation = st.operation;
      if (st.collection !== undefined) facts.collection = st.collection;
      if (st.queryText !== undefined) facts.queryText = st.queryText;
      return facts;
    }
    case COM_STMT_CLOSE:
      if (b.length >= 5) facts.closes = u32(b, 1);
      return facts;
    case COM_STMT_SEND_LONG_DATA:
      facts.report = false;
      return facts;
    case COM_INIT_DB: {
      const db = cut ? '' : utf8(b.subarray(1));
      if (db) {
        facts.namespace = db;
        facts.newSchema = db;
      }
      return facts;
    }
    case COM_FIELD_LIST: {
      const table = readNulString(new Cursor(b, 1));
      if (table) facts.collection = table;
      return facts;
    }
    case COM_CHANGE_USER: {
      facts.forgetsStatements = true;
      const db = changeUserSchema(b, ctx.caps);
      if (db) facts.newSchema = db;
      return facts;
    }
    case COM_RESET_CONNECTION:
      facts.forgetsStatements = true;
      return facts;
    default:
      return facts;
  }
}

/**
 * The record of one finished command, timing aside (the session sets startNs, endNs and
 * the thread ids): names from the command, outcome from the response.
 */
export function operationRecord(base: Pick<DbOperationRecord, 'system' | 'role' | 'conn'>, f: CommandFacts, r: MysqlResponse, namespace: string | undefined): DbOperationRecord {
  const rec: DbOperationRecord = { ...base, operation: f.operation, startNs: 0, endNs: 0, requestTid: 0 };
  if (f.collection !== undefined) rec.collection = f.collection;
  // COM_INIT_DB is about the schema it names (its text, else what the server's OK says it became)
  const ns = f.command === COM_INIT_DB ? (f.namespace ?? (r.schema || undefined)) : namespace;
  if (ns !== undefined) rec.namespace = ns;
  if (f.queryText !== undefined) rec.queryText = f.queryText;
  if (r.failed) {
    // the error number is db.response.status_code and error.type; '_OTHER' when it was not captured
    if (r.errorCode !== undefined) rec.statusCode = String(r.errorCode);
    rec.errorType = r.errorCode !== undefined ? String(r.errorCode) : '_OTHER';
  }
  // rows only when every one was counted: when framing was lost the count is left out, not guessed
  if (r.resultSet && !r.uncertain && r.rows !== undefined) rec.returnedRows = r.rows;
  return rec;
}

/**
 * Operation, table and text of a statement. When the text was cut, a verb or table name that
 * runs into the cut may be a longer word ("SEL", "ite"): it is left out, and the text ends in '…'.
 */
function statementInfo(text: string, cut: boolean, fingerprint: boolean): StatementInfo {
  const out: StatementInfo = { operation: sqlOperation(text) };
  const end = text.trimEnd();
  const reachesCut = (word: string): boolean => cut && end.toUpperCase().endsWith(word.toUpperCase()) && end.length === text.length;
  if (out.operation !== undefined && reachesCut(out.operation)) out.operation = undefined;
  const collection = sqlCollection(text);
  if (collection !== undefined && !reachesCut(collection.split('.').pop() ?? collection)) out.collection = collection;
  const q = fingerprint ? fingerprintSql(mysqlToStandardSql(text)) : text.slice(0, MAX_RAW_TEXT);
  if (q) out.queryText = cut && !q.endsWith('…') ? `${q}…` : q;
  return out;
}

/**
 * COM_QUERY's text. With CLIENT_QUERY_ATTRIBUTES (MySQL 8) the text follows a parameter count
 * and a parameter set count; with attributes actually bound, the typed values before the text
 * are not worth decoding, and the text is left unknown. Without the handshake, a 0x00 right
 * after the command byte (no SQL starts with NUL) says attributes are there.
 */
function queryText(b: Uint8Array, ctx: ResponseContext): string | undefined {
  const attrs = ctx.caps !== undefined ? ctx.mariadb !== true && (ctx.caps & CLIENT_QUERY_ATTRIBUTES) !== 0 : b[1] === 0;
  if (!attrs) return utf8(b.subarray(1));
  const c = new Cursor(b, 1);
  const params = readLenenc(c);
  const sets = readLenenc(c);
  if (params !== 0 || sets === undefined) return undefined;
  return utf8(c.rest());
}

/** COM_CHANGE_USER: user NUL, auth (length byte with CLIENT_SECURE_CONNECTION, else NUL-terminated), schema NUL. */
function changeUserSchema(b: Uint8Array, caps: number | undefined): string | undefined {
  const c = new Cursor(b, 1);
  if (readNulString(c) === undefined) return undefined;
  if (caps === undefined || (caps & CLIENT_SECURE_CONNECTION) !== 0) {
    const n = c.readU8();
    if (n === undefined || !c.skip(n)) return undefined;
  } else if (c.readUntil(0) === undefined) return undefined;
  return readNulString(c) || undefined;
}

/**
 * MySQL's own literal and comment forms, rewritten into the standard ones the shared
 * fingerprint knows: "double-quoted" strings (literals unless ANSI_QUOTES, which is off by
 * default: privacy first) become '', and # comments go. Quotes and comments are tracked so
 * that a " inside '...' or `...` is left alone.
 *   mysqlToStandardSql('SELECT "secret" # note')   // "SELECT '' "
 */
export function mysqlToStandardSql(sql: string): string {
  if (!sql.includes('"') && !sql.includes('#')) return sql;
  let out = '';
  let from = 0;
  let i = 0;
  const n = sql.length;
  const skipQuoted = (q: string): number => {
    let j = i + 1;
    while (j < n) {
      const ch = sql[j];
      if (ch === '\\' && q !== '`') j += 2;
      else if (ch === q && sql[j + 1] === q) j += 2;
      else if (ch === q) return j + 1;
      else j++;
    }
    return n;
  };
  while (i < n) {
    const c = sql[i];
    if (c === "'" || c === '`') i = skipQuoted(c);
    else if (c === '"') {
      out += `${sql.slice(from, i)}''`;
      i = skipQuoted('"');
      from = i;
    } else if ((c === '-' && sql[i + 1] === '-') || c === '#') {
      const eol = sql.indexOf('\n', i);
      const end = eol < 0 ? n : eol;
      if (c === '#') {
        out += `${sql.slice(from, i)} `;
        from = end;
      }
      i = end;
    } else if (c === '/' && sql[i + 1] === '*') {
      const close = sql.indexOf('*/', i + 2);
      i = close < 0 ? n : close + 2;
    } else i++;
  }
  return out + sql.slice(from);
}
