/**
 * PostgreSQL (frontend/backend protocol 3.0) for Kindling: detection on a
 * connection's first bytes, and the session that turns a connection's reads and
 * writes into database operations (CLIENT spans for the process that sent the
 * query, SERVER spans for the postgres backend that answered it).
 *   https://www.postgresql.org/docs/current/protocol-message-formats.html
 *   https://www.postgresql.org/docs/current/protocol-flow.html
 *
 * Detection is strict, from what the frontend sends first: a StartupMessage
 * (length, protocol 3.x, name/value pairs including "user"), an SSLRequest or a
 * GSSENCRequest (exactly 8 bytes), a CancelRequest (exactly 16). Whoever sends
 * it is the client; whoever receives it, the server. Connections already past
 * their startup when the agent started are joined on a write that is exactly one
 * simple Query whose text starts with an SQL command, or a Parse/Bind batch that
 * ends with Sync, every message well formed; they have no db.namespace.
 *
 * Example (wiring):
 *   import { postgresDetector } from './postgres';
 *   export const DEFAULT_PROTOCOLS: ProtocolFactory[] = [redisDetector, memcachedDetector, mysqlDetector, postgresDetector];
 */
import type { Connection, ProtocolSession } from '../conn/connection';
import type { SockEvent } from '../events/types';
import type { DbOperationRecord, ProtocolContext, ProtocolStats } from './context';
import type { ConnInfo } from './http1-session';
import { PgConversation } from './postgres-conversation';
import type { PgOperation } from './postgres-conversation';
import { SqlInfoCache } from './postgres-statements';
import { chain, untypedKind } from './postgres-checks';
import { F, cstrEnd, i32, latin1 } from './postgres-wire';
import type { Detector } from './registry';
import type { Role } from './types';

export const POSTGRES = 'postgresql';

export function postgresDetector(ctx: ProtocolContext): Detector {
  const stats = ctx.stats(POSTGRES);
  const sqlCache = new SqlInfoCache(ctx.fingerprint);
  return {
    protocol: POSTGRES,
    detect(direction, data) {
      if (untypedKind(data) === undefined && !midStreamRequest(data)) return undefined;
      // the frontend's bytes: whoever writes them is the client
      return direction === 'egress' ? 'client' : 'server';
    },
    create(role) {
      return new PostgresSession(role, ctx, stats, sqlCache);
    },
  };
}

function connInfo(c: Connection): ConnInfo {
  return { sockId: c.sockId, pid: c.pid, comm: c.comm, cgroupId: c.cgroupId, family: c.family, local: c.local, remote: c.remote };
}

export class PostgresSession implements ProtocolSession {
  readonly protocol = POSTGRES;
  readonly role: Role;
  readonly #ctx: ProtocolContext;
  readonly #stats: ProtocolStats;
  readonly #cache: SqlInfoCache;
  #conv: PgConversation | undefined;
  #conn: Connection | undefined;

  constructor(role: Role, ctx: ProtocolContext, stats: ProtocolStats, cache: SqlInfoCache) {
    this.role = role;
    this.#ctx = ctx;
    this.#stats = stats;
    this.#cache = cache;
  }

  /** Memory held for messages spanning segments (bounded by the framers' limits). */
  get bufferedBytes(): number {
    return this.#conv ? this.#conv.frontend.bufferedBytes + this.#conv.backend.bufferedBytes : 0;
  }

  /** Made at the first bytes, which tell whether the connection is seen from its startup. */
  #conversation(ev: SockEvent): PgConversation {
    return (this.#conv ??= new PgConversation({
      fingerprint: this.#ctx.fingerprint,
      maxPending: this.#ctx.maxPending,
      stats: this.#stats,
      sqlCache: this.#cache,
      fromStartup: untypedKind(ev.payload) !== undefined,
      report: (op) => this.#report(op),
    }));
  }

  onData(conn: Connection, ev: SockEvent): void {
    if (ev.len === 0) return;
    const conv = this.#conversation(ev);
    if (conv.stopped) return;
    this.#conn = conn;
    const seg = { data: ev.payload, len: ev.len, enterNs: ev.enterNs, exitNs: ev.exitNs };
    // the server reads requests and writes responses; the client the other way round
    if ((ev.direction === 2) === (this.role === 'server')) conv.request(seg, ev.tid);
    else conv.response(seg, ev.tid);
  }

  onClose(conn: Connection, atNs: number, reason: 'closed' | 'evicted'): void {
    this.#conn = conn;
    this.#conv?.close(atNs, reason);
  }

  expire(conn: Connection, nowNs: number): void {
    if (!this.#conv || this.#conv.pending === 0) return;
    this.#conn = conn;
    this.#conv.expire(nowNs, this.#ctx.timeoutNs);
  }

  #report(op: PgOperation): void {
    const conn = this.#conn;
    if (!conn) return;
    // the operation becomes the record (one object, not a copy)
    const r = op as DbOperationRecord;
    r.system = 'postgresql';
    r.role = this.role;
    r.conn = connInfo(conn);
    this.#ctx.db.onOperation(r);
  }
}

const SQL_VERBS = new Set(
  (
    'ABORT ALTER ANALYZE BEGIN CALL CHECKPOINT CLOSE CLUSTER COMMENT COMMIT COPY CREATE DEALLOCATE DECLARE DELETE DISCARD DO DROP END ' +
    'EXECUTE EXPLAIN FETCH GRANT IMPORT INSERT LISTEN LOAD LOCK MERGE MOVE NOTIFY PREPARE REASSIGN REFRESH REINDEX RELEASE RESET REVOKE ' +
    'ROLLBACK SAVEPOINT SECURITY SELECT SET SHOW START TABLE TRUNCATE UNLISTEN UPDATE VACUUM VALUES WITH'
  ).split(' '),
);

const isLetter = (c: number | undefined): boolean => ((c ?? 0) | 0x20) >= 0x61 && ((c ?? 0) | 0x20) <= 0x7a;

/** The first word of a query text is an SQL command (for detection only). */
export function startsWithSqlVerb(b: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end && (b[i] === 0x20 || b[i] === 0x09 || b[i] === 0x0a || b[i] === 0x0d || b[i] === 0x28)) i++;
  let j = i;
  while (j < end && j - i <= 10 && isLetter(b[j])) j++;
  if (j === i || (j < end && isLetter(b[j]))) return false;
  return SQL_VERBS.has(latin1(b, i, j).toUpperCase());
}

/**
 * A frontend segment on a connection already past its startup (the agent started
 * later): one whole simple Query, or Parse/Bind/... messages ending with Sync,
 * every message well formed and any query text starting with an SQL command.
 */
export function midStreamRequest(data: Uint8Array): boolean {
  const first = data[0];
  if (first !== F.Query && first !== F.Parse && first !== F.Bind) return false;
  const c = chain('frontend', data);
  if (!c || c.messages === 0 || c.end !== data.length) return false;
  if (first === F.Query) return c.messages === 1 && startsWithSqlVerb(data, 5, data.length - 1);
  if (data.length < 10 || data[data.length - 5] !== F.Sync || i32(data, data.length - 4) !== 4) return false;
  if (first === F.Parse) {
    const q = cstrEnd(data, 5);
    return q > 0 && startsWithSqlVerb(data, q, data.length);
  }
  return c.messages >= 2;
}
