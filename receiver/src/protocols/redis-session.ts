/**
 * Redis on one connection: a RESP parser per direction and a FIFO that pairs each
 * reply with the oldest unanswered command (Redis answers in order, pipelines
 * included). Around the FIFO, what makes Redis more than request/response:
 *
 * - pub/sub (redis-pubsub.ts): (P|S)(UN)SUBSCRIBE are answered by one confirmation
 *   per channel; messages pushed to a subscriber (RESP2 "message" arrays while
 *   subscribed, RESP3 `>` pushes) are not replies and pair with nothing;
 * - MULTI/EXEC (redis-transaction.ts): commands answered +QUEUED complete when EXEC
 *   answers, each with its own result, all marked with the transaction;
 * - SELECT sets db.namespace for what follows (known when the connection was seen
 *   from its first byte, or after SELECT or RESET); HELLO 3 switches to RESP3;
 * - CLIENT REPLY OFF|SKIP: commands that get no reply complete at the request;
 * - MONITOR, SYNC and PSYNC turn the connection into a stream: parsing stops;
 * - capture gaps: when a direction's framing is lost, the replies can no longer be
 *   counted against the commands. A gap marker goes into the FIFO (request side), or
 *   the unanswered commands are dropped and counted (reply side); replies are then
 *   discarded until a reply segment that ends after the first command sent after the
 *   gap began, at a value boundary: pairing resumes there.
 *
 * Timing: start = enter of the syscall carrying the command's first byte; end = exit of
 * the one carrying the reply's last byte (or the request's, when no reply comes).
 */
import type { Connection, ProtocolSession } from '../conn/connection';
import type { SockEvent } from '../events/types';
import { FifoPairing } from '../pairing/fifo';
import type { DbOperationRecord, ProtocolContext, ProtocolStats } from './context';
import type { ConnInfo } from './http1-session';
import { isBlocking } from './redis-commands';
import { argumentsNeeded, describe, errorPrefix } from './redis-command';
import type { Command, CommandInfo, RedisOperationRecord } from './redis-command';
import { PubSub, isMessageKind } from './redis-pubsub';
import { plausibleReply, RespParser } from './redis-resp';
import type { RespEvent, RespValue } from './redis-resp';
import { Transaction } from './redis-transaction';
import type { Role, Segment } from './types';

export type { Command, RedisOperationRecord } from './redis-command';

interface Gap {
  gap: true;
  startNs: number;
}

type Entry = Command | Gap;

const enum ReplyMode {
  On,
  Off,
  SkipNext,
}

const RESP3_ONLY = new Set([0x25, 0x7e, 0x3e, 0x7c, 0x5f, 0x23, 0x2c, 0x28, 0x21, 0x3d]);
const ERROR_TYPES = new Set([0x2d, 0x21]);

export function connInfo(c: Connection): ConnInfo {
  return { sockId: c.sockId, pid: c.pid, comm: c.comm, cgroupId: c.cgroupId, family: c.family, local: c.local, remote: c.remote };
}

export class RedisSession implements ProtocolSession {
  readonly protocol = 'redis';
  readonly role: Role;
  readonly #ctx: ProtocolContext;
  readonly #stats: ProtocolStats;
  readonly #requests: RespParser;
  readonly #replies = new RespParser({ side: 'reply' });
  readonly #fifo: FifoPairing<Entry>;
  readonly #pubsub = new PubSub();
  readonly #tx: Transaction;
  #conn: Connection | undefined;
  #started = false;
  #db = 0;
  #dbKnown = false;
  #proto: 2 | 3 = 2;
  #replyMode = ReplyMode.On;
  #stopped = false;
  /** the last entry pushed was a gap (gaps next to each other are one) */
  #tailGap = false;
  /** replies still owed to commands already reported as timed out or dropped by the bound */
  #ghosts = 0;

  constructor(role: Role, ctx: ProtocolContext) {
    this.role = role;
    this.#ctx = ctx;
    this.#stats = ctx.stats('redis');
    this.#fifo = new FifoPairing<Entry>({ maxPending: ctx.maxPending });
    this.#requests = new RespParser({ side: 'request', keepItems: ctx.fingerprint ? 3 : 16, itemBytes: ctx.fingerprint ? 64 : 128, ...(ctx.fingerprint ? { itemsFor: argumentsNeeded } : {}) });
    this.#tx = new Transaction(ctx.maxPending);
  }

  /** Memory held: commands awaiting a reply, and commands queued in a transaction. */
  get pending(): number {
    return this.#fifo.size + this.#tx.size;
  }

  onData(conn: Connection, ev: SockEvent): void {
    if (!this.#started) {
      this.#started = true;
      // seen from the connection's first byte: the database is 0 until a SELECT
      this.#dbKnown = ev.offset === 0;
    }
    if (this.#stopped || ev.len === 0) return;
    this.#conn = conn;
    const seg: Segment = { data: ev.payload, len: ev.len, enterNs: ev.enterNs, exitNs: ev.exitNs };
    if ((ev.direction === 2) === (this.role === 'server')) {
      for (const e of this.#requests.push(seg)) this.#onRequestEvent(e, ev.tid);
    } else {
      this.#beforeReplies(seg);
      for (const e of this.#replies.push(seg)) this.#onReplyEvent(e, ev.tid);
    }
  }

  // ---- requests -----------------------------------------------------------------------

  #onRequestEvent(e: RespEvent, tid: number): void {
    if (this.#stopped) return;
    if (e.kind === 'lost') {
      if (e.error) this.#stats.parseErrors++;
      this.#pushGap(e.atNs);
      return;
    }
    const v = e.value;
    if (v.items[0] === undefined) return; // the name was lost to truncation: the gap that follows covers it
    this.#stats.requests++;
    const info = describe(v.items, v.count, this.#ctx.fingerprint);
    const c: Command = { gap: false, info, startNs: v.startNs, endNs: v.endNs, tid, confirmations: 0, tx: 0, queued: false };
    const name = info.name;
    c.tx = this.#tx.onRequest(name);
    c.queued = c.tx !== 0 && name !== 'MULTI' && name !== 'EXEC' && name !== 'DISCARD' && name !== 'RESET';
    const sub = PubSub.confirmationKind(name);
    if (sub !== undefined && !c.queued) {
      c.confirm = sub;
      c.confirmations = info.argc > 1 ? info.argc - 1 : -1;
    }
    if (this.#noReply(info) || name === 'SYNC' || name === 'PSYNC') {
      this.#report(c, v.endNs, undefined, {});
      if (name === 'SYNC' || name === 'PSYNC') this.#stopped = true; // a replication stream follows
      return;
    }
    this.#tailGap = false;
    const out = this.#fifo.push(c, c.startNs);
    if (out) this.#drop(out);
  }

  /** CLIENT REPLY OFF|SKIP: which commands get no reply (they complete at the request). */
  #noReply(info: CommandInfo): boolean {
    let none = this.#replyMode === ReplyMode.Off;
    if (this.#replyMode === ReplyMode.SkipNext) {
      none = true;
      this.#replyMode = ReplyMode.On;
    }
    if (info.op === 'CLIENT REPLY') {
      const mode = info.args[1]?.toUpperCase();
      if (mode === 'ON') {
        this.#replyMode = ReplyMode.On;
        return false;
      }
      if (mode === 'OFF' || mode === 'SKIP') {
        this.#replyMode = mode === 'OFF' ? ReplyMode.Off : ReplyMode.SkipNext;
        return true;
      }
    }
    return none;
  }

  #pushGap(atNs: number): void {
    if (this.#tailGap) return;
    this.#tailGap = true;
    const out = this.#fifo.push({ gap: true, startNs: atNs }, atNs);
    if (out) this.#drop(out);
  }

  /** A command pushed out of the queue by its bound, or made unpairable by a capture gap: counted, not reported. */
  #drop(e: Entry): void {
    if (e.gap) return;
    this.#stats.expired++;
    this.#ghosts++;
  }

  // ---- replies ------------------------------------------------------------------------

  /** At a reply segment's start: after a capture gap, is this where pairing resumes? */
  #beforeReplies(seg: Segment): void {
    if (this.#fifo.peek()?.gap !== true) return;
    let i = 0;
    while (this.#fifo.at(i)?.gap === true) i++;
    const next = this.#fifo.at(i);
    const ready = this.#replies.lost ? plausibleReply(seg.data) : this.#replies.atBoundary;
    if (next === undefined || seg.exitNs <= next.startNs || !ready) return;
    for (; i > 0; i--) this.#fifo.shift();
    this.#ghosts = 0;
  }

  #onReplyEvent(e: RespEvent, tid: number): void {
    if (this.#stopped) return; // what follows MONITOR's +OK in the same read is the stream
    if (e.kind === 'lost') {
      if (e.error) this.#stats.parseErrors++;
      if (this.#fifo.peek()?.gap === true) return;
      // the lost bytes may hold replies to any command still waiting: none can be paired safely
      for (const p of this.#fifo.drain()) if (!p.gap) this.#stats.expired++;
      this.#ghosts = 0;
      this.#tailGap = false;
      this.#pushGap(e.atNs);
      return;
    }
    const v = e.value;
    if (RESP3_ONLY.has(v.type)) this.#proto = 3;
    const kind = v.type === 0x3e || v.type === 0x2a ? v.items[0] : undefined;
    if (v.type === 0x3e || (v.type === 0x2a && kind !== undefined && PubSub.isConfirmation(kind))) {
      if (this.#confirmation(v, kind, tid) || v.type === 0x3e) return; // a push: never a reply
    }
    if (v.type === 0x2a && this.#proto === 2 && this.#pubsub.subscribed && isMessageKind(kind)) return;
    if (this.#ghosts > 0) {
      this.#ghosts--;
      return;
    }
    const head = this.#fifo.peek();
    if (head === undefined || (!head.gap && head.startNs > v.endNs)) {
      this.#stats.unmatchedResponses++;
      return;
    }
    if (head.gap) {
      this.#stats.unmatchedResponses++; // a reply to a command lost in a capture gap
      return;
    }
    this.#fifo.shift();
    this.#complete(head, v, tid);
  }

  /**
   * A (p|s)(un)subscribe confirmation: counted, and it completes the command it answers.
   * False when it is not one: a RESP2 array that answers no (un)subscribe while nothing
   * is subscribed is a plain reply that happens to start with that word.
   */
  #confirmation(v: RespValue, kind: string | undefined, tid: number): boolean {
    if (kind === undefined || !PubSub.isConfirmation(kind) || v.count !== 3) return false;
    const head = this.#fifo.peek();
    const answers = head !== undefined && !head.gap && head.confirm === kind;
    if (!answers && v.type === 0x2a && !this.#pubsub.subscribed) return false;
    const zero = this.#pubsub.onConfirmation(kind, v.items[2]);
    if (!answers || head === undefined || head.gap) return true;
    if (head.confirmations > 0) head.confirmations--;
    if (head.confirmations === 0 || (head.confirmations < 0 && zero)) {
      this.#fifo.shift();
      this.#complete(head, v, tid);
    }
    return true;
  }

  #complete(c: Command, v: RespValue, tid: number): void {
    const failed = ERROR_TYPES.has(v.type);
    const status = failed ? errorPrefix(v.text) : undefined;
    const name = c.info.name;
    this.#stats.exchanges++;
    if (c.queued && !failed && v.type === 0x2b && v.text === 'QUEUED') {
      const early = this.#tx.queue(c);
      if (early) this.#report(early, v.endNs, tid, { transaction: early.tx });
      return;
    }
    if (name === 'EXEC' || name === 'DISCARD') {
      const batch = this.#tx.finish(name, v, status);
      for (const q of batch.commands) {
        this.#report(q.command, v.endNs, tid, { status: q.status, errorType: q.errorType, transaction: q.command.tx });
        if (q.command.info.name === 'SELECT' && q.status === undefined && q.errorType === undefined) this.#select(q.command.info.args[0]);
      }
      this.#report(c, v.endNs, tid, { status, transaction: c.tx, ...(name === 'EXEC' ? { batchSize: batch.size } : {}) });
      return;
    }
    this.#report(c, v.endNs, tid, { status, ...(c.tx ? { transaction: c.tx } : {}) });
    if (failed) return;
    if (name === 'SELECT' && !c.queued) this.#select(c.info.args[0]);
    else if (name === 'HELLO') {
      const p = c.info.args[0];
      if (p === '2' || p === '3') this.#proto = p === '2' ? 2 : 3;
    } else if (name === 'RESET') {
      this.#db = 0;
      this.#dbKnown = true;
      this.#proto = 2;
      this.#pubsub.reset();
      for (const q of this.#tx.reset()) this.#report(q, v.endNs, tid, { errorType: 'discarded', transaction: q.tx });
    } else if (name === 'MONITOR') this.#stopped = true;
  }

  #select(arg: string | undefined): void {
    if (arg === undefined || !/^\d{1,9}$/.test(arg)) return;
    this.#db = Number(arg);
    this.#dbKnown = true;
  }

  #report(
    c: Command,
    endNs: number,
    responseTid: number | undefined,
    o: { status?: string | undefined; errorType?: string | undefined; failure?: DbOperationRecord['failure']; batchSize?: number; transaction?: number },
  ): void {
    const conn = this.#conn;
    if (conn === undefined) return;
    const r: RedisOperationRecord = {
      system: 'redis',
      role: this.role,
      conn: connInfo(conn),
      operation: c.info.op,
      queryText: c.info.text,
      startNs: c.startNs,
      endNs: Math.max(endNs, c.startNs),
      requestTid: c.tid,
    };
    if (this.#dbKnown) r.namespace = String(this.#db);
    if (o.status !== undefined) {
      r.statusCode = o.status;
      r.errorType = o.status;
    } else if (o.errorType !== undefined) r.errorType = o.errorType;
    if (o.failure) r.failure = o.failure;
    if (responseTid !== undefined) r.responseTid = responseTid;
    if (o.batchSize !== undefined) r.batchSize = o.batchSize;
    if (o.transaction) r.transaction = o.transaction;
    this.#ctx.db.onOperation(r);
  }

  #fail(conn: Connection, c: Command, failure: NonNullable<DbOperationRecord['failure']>, atNs: number): void {
    this.#conn = conn;
    this.#stats.expired++;
    this.#report(c, Math.max(atNs, c.endNs), undefined, { failure, ...(c.tx ? { transaction: c.tx } : {}) });
  }

  onClose(conn: Connection, atNs: number, reason: 'closed' | 'evicted'): void {
    const failure = reason === 'closed' ? 'connection_closed' : 'evicted';
    for (const p of this.#fifo.drain()) if (!p.gap) this.#fail(conn, p, failure, atNs);
    for (const q of this.#tx.reset()) this.#fail(conn, q, failure, atNs);
  }

  expire(conn: Connection, nowNs: number): void {
    const head = this.#fifo.peek();
    // a blocking command may wait for ever, and every command behind it waits with it
    if (head === undefined || head.gap || (head.info.name !== undefined && isBlocking(head.info.name))) return;
    for (const p of this.#fifo.expire(nowNs, this.#ctx.timeoutNs)) {
      if (p.gap) continue;
      this.#ghosts++;
      this.#fail(conn, p, 'timeout', nowNs);
    }
  }
}
