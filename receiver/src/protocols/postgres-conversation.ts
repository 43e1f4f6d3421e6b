/**
 * One PostgreSQL connection, both directions: frontend messages queue what the
 * backend must answer, backend messages answer it in order, and each answered
 * simple Query or Execute becomes a PgOperation. Role-free: the session maps a
 * process's reads and writes onto requests (frontend) and responses (backend).
 * https://www.postgresql.org/docs/current/protocol-flow.html
 *
 * Decisions:
 * - Simple query: one operation per Query message, however many statements it
 *   holds, from Query to ReadyForQuery; named by the first statement's verb;
 *   db.operation.batch.size is the number of statements answered when more than
 *   one; returned rows are the sum of the SELECT/FETCH counts; the first
 *   ErrorResponse's SQLSTATE marks it failed.
 * - Extended query: one operation per Execute, from the first Parse/Bind/Describe
 *   of its group to its CommandComplete, EmptyQueryResponse, PortalSuspended or
 *   ErrorResponse, with the statement's text. After an ErrorResponse the server
 *   skips everything up to Sync: every other Execute of that batch fails with the
 *   same SQLSTATE, ending with that ErrorResponse. Parse/Sync round trips with
 *   no Execute (preparing) are not operations.
 * - The startup phase (SSLRequest, authentication, ParameterStatus, ReadyForQuery)
 *   is passed over; its database (default: its user) is db.namespace. An SSL or
 *   GSS encryption request answered 'S'/'G' stops parsing, silently.
 * - Capture truncation: a response whose framing was lost is finished when the
 *   framing comes back (answers never come before their question), on close, on
 *   timeout or at Terminate (postgres backends exit without closing their socket),
 *   with what was seen, not as a failure. The uncaptured rest of a request batch
 *   becomes an inferred Execute of its last statement that takes every answer up
 *   to the next ReadyForQuery; a CommandComplete that finds a Sync first shows a
 *   Sync that was never sent, which is dropped.
 */
import type { ProtocolStats } from './context';
import { PgFramer } from './postgres-framer';
import type { FramerEvents, PgMessage } from './postgres-framer';
import { Statement, StatementTable } from './postgres-statements';
import type { SqlInfoCache } from './postgres-statements';
import { OperationReporter } from './postgres-operations';
import type { PgOperation } from './postgres-operations';
import { K, PendingQueue, isCycleEnd, newItem, returnsRows } from './postgres-pending';
import type { Item } from './postgres-pending';
import { B, CANCEL_REQUEST, F, GSSENC_REQUEST, PROTOCOL_3, SSL_REQUEST, bindBody, commandTag, errorCode, executeBody, i32, parseBody, startupParams, targetBody, utf8 } from './postgres-wire';
import type { CommandTag } from './postgres-wire';
import type { Segment } from './types';

export type { PgOperation } from './postgres-operations';

export interface ConversationOptions {
  fingerprint: boolean;
  maxPending: number;
  stats: ProtocolStats;
  /** simple-query texts already described (shared by connections) */
  sqlCache: SqlInfoCache;
  report(op: PgOperation): void;
  /** the connection was seen from its startup (untyped messages first); false when joined mid-stream */
  fromStartup: boolean;
}

// what each direction reports, and how many body bytes (-1: skip unseen)
const FRONTEND_INTEREST = interest({ '\0': 10000, Q: 8192, P: 8192, B: 256, E: 256, C: 256, D: 0, H: 0, S: 0, F: 0, X: 0 });
const BACKEND_INTEREST = interest({ C: 64, I: 0, s: 0, E: 256, Z: 1 });

function interest(spec: Record<string, number>): Int32Array {
  const t = new Int32Array(256).fill(-1);
  for (const [k, v] of Object.entries(spec)) t[k.charCodeAt(0)] = v;
  return t;
}

export class PgConversation {
  readonly frontend: PgFramer;
  readonly backend: PgFramer;
  readonly statements = new StatementTable();
  readonly #o: ConversationOptions;
  readonly #q: PendingQueue;
  readonly #ops: OperationReporter;
  #tid = 0;
  #groupOpen = false;
  #groupStartNs = 0;
  #groupTid = 0;
  #execSinceSync = false;
  #lastStmt: Statement | undefined;
  #batchError: { code: string | undefined; endNs: number } | undefined;
  #lastResponseExitNs = 0;
  /** the Inferred item the last request-side loss made, until framing is found again */
  #inferred: Item | undefined;
  #encryptionAsked = false;
  #stopped = false;

  constructor(o: ConversationOptions) {
    this.#o = o;
    this.#ops = new OperationReporter(o);
    this.#q = new PendingQueue(o.maxPending, this.#ops);
    const front: FramerEvents = {
      message: (m) => this.#request(m),
      lost: (reason, atNs) => this.#requestLost(reason, atNs),
      resync: (_how, seg) => this.#requestResync(seg),
      encrypted: () => this.#stop(),
    };
    const back: FramerEvents = {
      message: (m) => this.#response(m),
      expectReply: () => this.#q.peek()?.k === K.Encryption,
      lost: (reason) => this.#responseLost(reason),
      resync: (_how, seg, lastLostExitNs) => this.#responseResync(seg, lastLostExitNs),
      encrypted: () => this.#stop(),
    };
    this.frontend = new PgFramer('frontend', FRONTEND_INTEREST, front);
    this.backend = new PgFramer('backend', BACKEND_INTEREST, back);
    this.frontend.untyped = o.fromStartup;
  }

  /** Encryption took over, or the connection was a cancel request: nothing more to parse. */
  get stopped(): boolean {
    return this.#stopped;
  }

  get pending(): number {
    return this.#q.size;
  }

  request(seg: Segment, tid: number): void {
    this.#tid = tid;
    this.frontend.push(seg);
  }

  response(seg: Segment, tid: number): void {
    this.#tid = tid;
    this.backend.push(seg);
    if (seg.exitNs > this.#lastResponseExitNs) this.#lastResponseExitNs = seg.exitNs;
  }

  /** The connection ended: what was being answered unseen completes; the rest fails. */
  close(atNs: number, reason: 'closed' | 'evicted'): void {
    this.#q.close(atNs, reason, this.#lastResponseExitNs);
    this.#stop();
  }

  expire(nowNs: number, timeoutNs: number): void {
    this.#q.expire(nowNs, timeoutNs, this.#lastResponseExitNs);
  }

  #stop(): void {
    this.#stopped = true;
    this.frontend.stop();
    this.backend.stop();
    this.#q.clear();
    this.statements.clear();
  }

  // ---- frontend ----------------------------------------------------------------------------

  #request(m: PgMessage): void {
    if (m.kind === 'untyped') return this.#untyped(m);
    const body = m.body;
    switch (m.type) {
      case F.Query:
        this.#o.stats.requests++;
        this.#groupOpen = this.#execSinceSync = false;
        this.#q.push(newItem(K.Query, m.startNs, this.#tid, { text: utf8(body, 0, m.whole ? body.length - 1 : body.length), truncated: !m.whole }));
        return;
      case F.Parse: {
        this.#open(m);
        const p = parseBody(body);
        this.#lastStmt = undefined;
        if (!p) return;
        const s = new Statement(p.text, p.truncated || !m.whole);
        this.statements.parse(p.name, s);
        this.#lastStmt = s;
        return;
      }
      case F.Bind: {
        this.#open(m);
        const b = bindBody(body);
        this.#lastStmt = undefined;
        if (!b) return;
        this.statements.bind(b.portal, b.statement);
        this.#lastStmt = this.statements.portal(b.portal);
        return;
      }
      case F.Execute: {
        this.#o.stats.requests++;
        const portal = executeBody(body);
        const stmt = portal === undefined ? undefined : this.statements.portal(portal);
        const open = this.#groupOpen;
        this.#q.push(newItem(K.Exec, open ? this.#groupStartNs : m.startNs, open ? this.#groupTid : this.#tid, { stmt }));
        this.#groupOpen = false;
        this.#execSinceSync = true;
        return;
      }
      case F.Sync:
        this.#groupOpen = this.#execSinceSync = false;
        this.#q.push(newItem(K.Sync, m.startNs, this.#tid));
        return;
      case F.Close: {
        this.#open(m);
        const t = targetBody(body);
        if (t) this.statements.close(t.kind, t.name);
        return;
      }
      case F.FunctionCall:
        this.#q.push(newItem(K.Func, m.startNs, this.#tid));
        return;
      case F.Terminate:
        // the end: answers still unseen complete now, since a postgres backend exits without closing its socket
        this.#q.finishLost(this.#lastResponseExitNs);
        return;
      default:
        // Describe, Flush: part of the group an Execute will time
        this.#open(m);
    }
  }

  #open(m: PgMessage): void {
    if (this.#groupOpen) return;
    this.#groupOpen = true;
    this.#groupStartNs = m.startNs;
    this.#groupTid = this.#tid;
  }

  #untyped(m: PgMessage): void {
    // a code not captured is guessed from the length: 8 asks for encryption, 16 cancels, others start up
    const code = m.body.length >= 4 ? i32(m.body, 0) : m.length === 8 ? SSL_REQUEST : m.length === 16 ? CANCEL_REQUEST : PROTOCOL_3;
    if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
      this.#encryptionAsked = true;
      this.#q.push(newItem(K.Encryption, m.startNs, this.#tid));
    } else if (code === CANCEL_REQUEST) {
      this.#stop();
    } else if (code >>> 16 === 3) {
      const p = startupParams(m.body);
      // "user" stands for the database only when the message was all seen
      this.#ops.namespace = p.database ?? (m.whole ? p.user : undefined);
      this.frontend.untyped = false;
      this.#q.push(newItem(K.Startup, m.startNs, this.#tid));
    } else {
      // after an encryption request, encrypted bytes; otherwise not PostgreSQL
      if (!this.#encryptionAsked) this.#o.stats.parseErrors++;
      this.#stop();
    }
  }

  #requestLost(reason: string | undefined, atNs: number): void {
    if (reason !== undefined) this.#o.stats.parseErrors++;
    // the batch went on in bytes not captured: assume it executed its last statement
    if (this.#groupOpen || this.#execSinceSync) {
      const open = this.#groupOpen;
      this.#inferred = newItem(K.Inferred, open ? this.#groupStartNs : atNs, open ? this.#groupTid : this.#tid, { stmt: open ? this.#lastStmt : undefined });
      this.#q.push(this.#inferred);
    }
    this.#groupOpen = this.#execSinceSync = false;
  }

  /**
   * Framing found again. A segment starting with Describe, Execute, Flush or Sync
   * goes on with the batch whose middle was lost (a batch starts with Parse, Bind
   * or a Query): its own Executes and Sync stand in for the inferred ones.
   */
  #requestResync(seg: Segment): void {
    const t = seg.data[0];
    if (this.#inferred && (t === F.Describe || t === F.Execute || t === F.Flush || t === F.Sync)) this.#inferred.dropped = true;
    this.#inferred = undefined;
  }

  // ---- backend ---------------------------------------------------------------------------

  #response(m: PgMessage): void {
    if (m.kind === 'reply') return this.#reply(m);
    switch (m.type) {
      case B.CommandComplete:
        return this.#result(m, commandTag(m.body));
      case B.EmptyQuery:
      case B.PortalSuspended:
        return this.#result(m, undefined);
      case B.ErrorResponse:
        return this.#error(m, errorCode(m.body));
      case B.ReadyForQuery:
        return this.#ready(m);
      default:
    }
  }

  /** The oldest pending item, if this response can answer it (it was asked before the response began). */
  #head(m: PgMessage): Item | undefined {
    const it = this.#q.peek();
    if (it && it.atNs > m.startNs) {
      // asked after the answer began: the answer is to a request that was not seen
      this.#o.stats.unmatchedResponses++;
      return undefined;
    }
    if (!it) this.#o.stats.unmatchedResponses++;
    return it;
  }

  #reply(m: PgMessage): void {
    this.#q.shift();
    if (m.type === 0x4e) return; // 'N': in clear, go on
    // 'S' (SSL) or 'G' (GSSAPI): encrypted from here on
    if (m.type !== 0x53 && m.type !== 0x47) this.#o.stats.parseErrors++;
    this.#stop();
  }

  /** CommandComplete (its tag, if readable), EmptyQueryResponse or PortalSuspended (no tag). */
  #result(m: PgMessage, tag: CommandTag | undefined): void {
    const it = this.#head(m);
    if (!it) return;
    switch (it.k) {
      case K.Query:
        it.statements++;
        if (tag) {
          it.firstVerb ??= tag.verb;
          if (returnsRows(tag.verb) && tag.rows !== undefined) it.rows = (it.rows ?? 0) + tag.rows;
        }
        return;
      case K.Exec:
        this.#q.shift();
        this.#ops.done(it, m.endNs, tag, this.#tid);
        return;
      case K.Inferred:
        this.#o.stats.requests++;
        this.#ops.done(it, m.endNs, tag, this.#tid);
        return;
      case K.Sync: {
        // a Sync is answered by ReadyForQuery alone: this one was never sent (a loss made it up, or shifted
        // what was asked by one) when what comes after it was asked before this answer began
        this.#o.stats.unmatchedResponses++;
        const next = this.#q.at(1);
        if (next && !next.dropped && (next.k === K.Query || next.k === K.Exec || next.k === K.Inferred) && next.atNs <= m.startNs) {
          this.#q.shift();
          this.#result(m, tag);
        }
        return;
      }
      default:
        this.#o.stats.unmatchedResponses++;
    }
  }

  #error(m: PgMessage, code: string | undefined): void {
    const it = this.#q.peek();
    if (!it || it.atNs > m.startNs) return; // unsolicited (a FATAL on an idle connection, say): nothing asked for it
    switch (it.k) {
      case K.Startup:
        // authentication or startup failed: the server closes the connection
        this.#q.shift();
        return;
      case K.Query:
        if (!it.errored) {
          it.errored = true;
          it.sqlstate = code;
        }
        return;
      case K.Exec: {
        this.#batchError = { code, endNs: m.endNs };
        this.#q.shift();
        this.#ops.failed(it, code, m.endNs, this.#tid);
        // the server skips the rest of the batch: its other Executes fail alike
        for (let next = this.#q.peek(); next?.k === K.Exec; next = this.#q.peek()) {
          this.#q.shift();
          this.#ops.failed(next, code, m.endNs, this.#tid);
        }
        return;
      }
      case K.Inferred:
        this.#o.stats.requests++;
        this.#ops.failed(it, code, m.endNs, this.#tid);
        return;
      default:
        // Parse or Bind failed in a batch without Execute (or a FunctionCall): nothing to report
        this.#batchError = { code, endNs: m.endNs };
    }
  }

  /** ReadyForQuery ends the oldest cycle asked before it began (a Query, a Sync, the startup, a FunctionCall). */
  #ready(m: PgMessage): void {
    let popped = 0;
    let inferred = false;
    for (let it = this.#q.peek(); it && it.atNs <= m.startNs; it = this.#q.peek()) {
      this.#q.shift();
      popped++;
      if (it.k === K.Query) {
        this.#ops.query(it, m.endNs, this.#tid);
        break;
      }
      if (it.k === K.Inferred) inferred = true;
      else if (it.k === K.Exec && !inferred) {
        // no answer of its own before ReadyForQuery: skipped after an error, or not captured
        const e = this.#batchError;
        if (e) this.#ops.failed(it, e.code, e.endNs, this.#tid);
        else this.#ops.done(it, m.endNs, undefined, this.#tid);
      } else if (isCycleEnd(it.k)) break;
      // (an Execute after an inferred one: its answer went to the inferred Executes)
    }
    if (popped === 0) this.#o.stats.unmatchedResponses++;
    this.#batchError = undefined;
  }

  #responseLost(reason: string | undefined): void {
    if (reason !== undefined) this.#o.stats.parseErrors++;
    const it = this.#q.peek();
    if (it && !it.lost) {
      it.lost = true;
      it.beforeLoss = it.statements;
    }
  }

  /** The segment answers the last cycle asked before it began: cycles before that ended unseen. */
  #responseResync(seg: Segment, lastLostExitNs: number): void {
    this.#q.resyncAt(seg.enterNs, lastLostExitNs);
    this.#batchError = undefined;
  }
}
