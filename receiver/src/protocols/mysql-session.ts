/**
 * MySQL / MariaDB on one connection: follows the handshake (greeting, login,
 * authentication), then pairs each command with its response in order and
 * reports one DbOperationRecord per command (COM_QUIT and
 * COM_STMT_SEND_LONG_DATA excepted: they end a connection or feed the next
 * execute). Commands without a response (COM_STMT_CLOSE) are reported at once.
 *
 * Truncation: when a response's framing or meaning is lost (a packet header or
 * type byte beyond the captured bytes), the response is taken to end at the
 * last response bytes before the next command (MySQL is half duplex), or when
 * the connection closes, or after `timeoutNs` of silence. Its
 * db.response.returned_rows is then left out: a count of the rows seen would be
 * a guess presented as a fact.
 *
 * Example: see mysql.ts (the detector creates one session per connection).
 */
import type { Connection, ProtocolSession } from '../conn/connection';
import type { SockEvent } from '../events/types';
import { FifoPairing } from '../pairing/fifo';
import type { DbOperationRecord, DbSystem, ProtocolContext, ProtocolStats } from './context';
import type { ConnInfo } from './http1-session';
import { looksLikeCommand, looksLikeCommandPayload, looksLikeCommandStart } from './mysql-detect';
import { MysqlFramer } from './mysql-framer';
import type { FrameSink, MysqlPacket } from './mysql-framer';
import { MysqlResponse } from './mysql-response';
import type { ResponseContext } from './mysql-response';
import { StatementTable } from './mysql-statements';
import { describeCommand, operationRecord } from './mysql-commands';
import type { CommandFacts } from './mysql-commands';
import { CLIENT_COMPRESS, CLIENT_DEPRECATE_EOF, COM_QUIT, isErr, parseGreeting, parseLogin, parseOk } from './mysql-wire';
import type { Role, Segment } from './types';

export interface MysqlSessionDeps {
  ctx: Pick<ProtocolContext, 'db' | 'timeoutNs' | 'maxPending' | 'fingerprint'>;
  stats: ProtocolStats;
  /** prepared statements remembered per connection (default 256) */
  maxStatements?: number;
}

/** Where the connection is in its life. */
type Phase = 'start' | 'greeting' | 'login' | 'auth' | 'command' | 'done';

interface PendingOp {
  facts: CommandFacts;
  namespace: string | undefined;
  startNs: number;
  /** exitNs of the segment carrying the command's last byte */
  requestEndNs: number;
  tid: number;
  response: MysqlResponse;
}

/** Session internals, for tests and debugging. */
export interface MysqlSessionInfo {
  phase: Phase;
  system: DbSystem;
  user: string | undefined;
  namespace: string | undefined;
  deprecateEof: boolean | undefined;
  /** why parsing stopped: 'tls', 'compressed', 'login_failed', 'quit', 'replication', 'not_mysql' */
  stopped: string | undefined;
  statements: number;
  pending: number;
  requestLosses: number;
  responseLosses: number;
  /** responses ended by the next command, the close or silence rather than their own last packet */
  cut: number;
}

const REQUEST_KEEP = 8192;
const RESPONSE_KEEP = 512;

export class MysqlSession implements ProtocolSession {
  readonly protocol = 'mysql';
  readonly role: Role;
  readonly #deps: MysqlSessionDeps;
  readonly #requests: MysqlFramer;
  readonly #responses: MysqlFramer;
  readonly #pending: FifoPairing<PendingOp>;
  readonly #statements: StatementTable;
  readonly #rctx: ResponseContext = { caps: undefined, deprecateEof: undefined, mariadb: undefined };
  #phase: Phase = 'start';
  #system: DbSystem = 'mysql';
  #serverCaps: number | undefined;
  #user: string | undefined;
  #namespace: string | undefined;
  #stopped: string | undefined;
  #compress = false;
  /** a response came with nothing pending: counted once until the next command */
  #orphan = false;
  #lastResponseNs = 0;
  #lastResponseTid = 0;
  #cut = 0;
  // the event being handled (the framers call back synchronously)
  #conn: Connection | undefined;
  #tid = 0;

  constructor(role: Role, deps: MysqlSessionDeps) {
    this.role = role;
    this.#deps = deps;
    this.#pending = new FifoPairing<PendingOp>({ maxPending: deps.ctx.maxPending });
    this.#statements = new StatementTable(deps.maxStatements ?? 256);
    this.#requests = new MysqlFramer({ keep: REQUEST_KEEP, resync: looksLikeCommandStart });
    this.#responses = new MysqlFramer({ keep: RESPONSE_KEEP });
  }

  get info(): MysqlSessionInfo {
    return {
      phase: this.#phase,
      system: this.#system,
      user: this.#user,
      namespace: this.#namespace,
      deprecateEof: this.#rctx.deprecateEof,
      stopped: this.#stopped,
      statements: this.#statements.size,
      pending: this.#pending.size,
      requestLosses: this.#requests.stats.losses,
      responseLosses: this.#responses.stats.losses,
      cut: this.#cut,
    };
  }

  /** Memory held for packets spanning segments. */
  get bufferedBytes(): number {
    return this.#requests.bufferedBytes + this.#responses.bufferedBytes;
  }

  onData(conn: Connection, ev: SockEvent): void {
    if (this.#phase === 'done' || ev.len <= 0) return;
    // the server reads commands and writes responses; the client the other way round
    const requestSide = (ev.direction === 2) === (this.role === 'server');
    const seg: Segment = { data: ev.payload, len: ev.len, enterNs: ev.enterNs, exitNs: ev.exitNs };
    this.#conn = conn;
    this.#tid = ev.tid;
    try {
      if (this.#phase === 'start') {
        // detection saw a greeting (the server speaks first) or a command
        this.#phase = requestSide ? 'command' : 'greeting';
        if (requestSide && !looksLikeCommand(seg.data) && looksLikeCommandPayload(seg.data, seg.len)) {
          // a command's payload read apart from its header, which came before capture did
          const prefix = seg.data.subarray(0, REQUEST_KEEP);
          return this.#requestSink.packet({ seq: 0, length: seg.len, prefix, startNs: seg.enterNs, endNs: seg.exitNs });
        }
      }
      if (requestSide) this.#requests.push(seg, this.#requestSink);
      else {
        this.#lastResponseNs = ev.exitNs;
        this.#lastResponseTid = ev.tid;
        this.#responses.push(seg, this.#responseSink);
      }
    } catch {
      // a bug, never the bytes: count it and stop parsing this connection
      this.#deps.stats.parseErrors++;
      this.#stop('internal_error');
    }
  }

  readonly #requestSink: FrameSink = {
    packet: (p) => this.#onRequest(p),
    lost: () => undefined,
  };

  readonly #responseSink: FrameSink = {
    packet: (p) => this.#onResponse(p),
    lost: () => {
      const head = this.#pending.peek();
      if (head) head.response.lose();
    },
  };

  #onRequest(p: MysqlPacket): void {
    // sequence id 0 always starts a command: if the login or its OK went unseen, the handshake is over anyway
    switch (this.#phase) {
      case 'greeting':
      case 'login':
        if (p.seq !== 0) return this.#login(p);
        return this.#startCommands(p);
      case 'auth':
        if (p.seq === 0) this.#startCommands(p);
        return; // authentication data
      case 'command':
        // a sequence id other than 0 continues a command (LOCAL INFILE data, COM_CHANGE_USER auth)
        if (p.seq === 0) this.#command(p);
        return;
      default:
        return;
    }
  }

  #startCommands(p: MysqlPacket): void {
    if (this.#compress) return this.#stop('compressed');
    this.#phase = 'command';
    this.#command(p);
  }

  #onResponse(p: MysqlPacket): void {
    switch (this.#phase) {
      case 'greeting': {
        if (isErr(p.prefix)) return this.#stop('refused'); // too many connections, host not allowed
        const g = parseGreeting(p.prefix);
        if (!g) {
          this.#deps.stats.parseErrors++;
          return this.#stop('not_mysql');
        }
        // a greeting cut by the capture still starts the handshake; what it hid stays unknown
        if (g.serverVersion !== undefined) {
          this.#system = /mariadb/i.test(g.serverVersion) ? 'mariadb' : 'mysql';
          this.#rctx.mariadb = this.#system === 'mariadb';
        }
        this.#serverCaps = g.capabilities;
        this.#phase = 'login';
        return;
      }
      case 'login':
      case 'auth':
        if (p.prefix[0] === 0x00) {
          const ok = parseOk(p.prefix, this.#rctx.caps);
          if (ok.schema !== undefined) this.#namespace = ok.schema || undefined;
          if (this.#compress) return this.#stop('compressed');
          this.#phase = 'command';
          if (this.#responses.isLost) this.#responses.reset();
        } else if (isErr(p.prefix)) this.#stop('login_failed');
        return; // 0xfe auth switch, 0x01 more data: the exchange goes on
      case 'command':
        return this.#commandResponse(p);
      default:
        return;
    }
  }

  #login(p: MysqlPacket): void {
    const login = parseLogin(p.prefix);
    if (!login) {
      this.#deps.stats.parseErrors++;
      this.#phase = 'auth';
      return;
    }
    if (login.ssl) return this.#stop('tls');
    if (login.capabilities !== undefined) {
      // the client asks only for what the server offers; without the greeting its flags stand alone
      const caps = this.#serverCaps === undefined ? login.capabilities : (login.capabilities & this.#serverCaps) >>> 0;
      this.#rctx.caps = caps;
      this.#rctx.deprecateEof = (caps & CLIENT_DEPRECATE_EOF) !== 0;
      this.#compress = (caps & CLIENT_COMPRESS) !== 0;
    }
    this.#user = login.user;
    if (login.database) this.#namespace = login.database;
    this.#phase = 'auth';
  }

  #command(p: MysqlPacket): void {
    const { stats } = this.#deps;
    // half duplex: a response still open when the next command comes ended before it
    const head = this.#pending.peek();
    // response bytes in flight (a packet begun) count as a begun response too
    const cut = head !== undefined && !head.response.done && (head.response.started || !this.#responses.atBoundary);
    if (cut) this.#cutHead(head);
    // and the next response starts a packet: framing lost, or left inside a packet no response is waiting for, starts over
    if (this.#responses.isLost || ((cut || head === undefined) && !this.#responses.atBoundary)) this.#responses.reset();
    this.#orphan = false;
    stats.requests++;

    const facts = describeCommand(p, this.#rctx, this.#statements, this.#deps.ctx.fingerprint);
    if (facts.command === COM_QUIT) return this.#stop('quit');
    if (facts.expect === 'stop') return this.#stop('replication');
    if (facts.prepared) this.#statements.setLast(facts.prepared);
    if (facts.closes !== undefined) this.#statements.delete(facts.closes);
    const op: PendingOp = {
      facts,
      namespace: facts.namespace ?? this.#namespace,
      startNs: p.startNs,
      requestEndNs: p.endNs,
      tid: this.#tid,
      response: new MysqlResponse(facts.expect, this.#rctx),
    };
    if (facts.expect === 'none') {
      if (facts.report) {
        stats.exchanges++;
        this.#report(op, p.endNs, undefined);
      }
      return;
    }
    const pushedOut = this.#pending.push(op, p.startNs);
    if (pushedOut) this.#fail(pushedOut, 'timeout', p.startNs);
  }

  #commandResponse(p: MysqlPacket): void {
    const head = this.#pending.peek();
    if (!head) {
      if (!this.#orphan) {
        this.#deps.stats.unmatchedResponses++;
        // the answer to a command we lost: an OK that names the new schema is still a fact
        if (p.prefix[0] === 0x00) {
          const schema = parseOk(p.prefix, this.#rctx.caps).schema;
          if (schema !== undefined) this.#namespace = schema || undefined;
        }
      }
      this.#orphan = true;
      return;
    }
    const done = head.response.packet(p);
    if (this.#rctx.deprecateEof === undefined && head.response.learnedDeprecateEof !== undefined) {
      this.#rctx.deprecateEof = head.response.learnedDeprecateEof;
    }
    if (!done) return;
    this.#pending.shift();
    this.#complete(head, p.endNs, this.#tid, false);
  }

  /** The head's response ends here, short of its own last packet (lost framing, unknown meaning). */
  #cutHead(op: PendingOp): void {
    this.#pending.shift();
    // a command whose byte was lost and that nothing answered (COM_QUIT, COM_STMT_CLOSE): nothing to report
    if (!op.facts.typed && this.#lastResponseNs < op.startNs) return;
    this.#complete(op, this.#lastResponseNs, this.#lastResponseTid, true);
  }

  #complete(op: PendingOp, endNs: number, tid: number, cut: boolean): void {
    const r = op.response;
    if (cut) this.#cut++;
    this.#deps.stats.exchanges++;
    if (!r.failed) {
      const f = op.facts;
      if (f.prepared && r.prepared) this.#statements.set(r.prepared.statementId, f.prepared);
      if (f.forgetsStatements) this.#statements.clear();
      // the server's word (session state) first; the command's own only when its OK was seen
      // an empty name: no schema any more (the current one was dropped)
      if (r.schema !== undefined) this.#namespace = r.schema || undefined;
      else if (f.newSchema !== undefined) this.#namespace = r.uncertain ? undefined : f.newSchema;
    }
    this.#report(op, endNs, tid);
  }

  #report(op: PendingOp, endNs: number, tid: number | undefined, failure?: DbOperationRecord['failure']): void {
    const rec = operationRecord({ system: this.#system, role: this.role, conn: connInfo(this.#conn) }, op.facts, op.response, op.namespace);
    rec.startNs = op.startNs;
    rec.endNs = Math.max(endNs, op.requestEndNs);
    rec.requestTid = op.tid;
    if (failure) rec.failure = failure;
    if (tid !== undefined) rec.responseTid = tid;
    this.#deps.ctx.db.onOperation(rec);
  }

  #fail(op: PendingOp, failure: NonNullable<DbOperationRecord['failure']>, atNs: number): void {
    this.#deps.stats.expired++;
    this.#report(op, atNs, undefined, failure);
  }

  #stop(why: string): void {
    this.#stopped ??= why;
    this.#phase = 'done';
    this.#requests.reset();
    this.#responses.reset();
  }

  onClose(conn: Connection, atNs: number, reason: 'closed' | 'evicted'): void {
    this.#conn = conn;
    const head = this.#pending.peek();
    // the response had begun: it ended with the last bytes seen
    if (head && head.response.started) this.#cutHead(head);
    for (const op of this.#pending.drain()) this.#fail(op, reason === 'closed' ? 'connection_closed' : 'evicted', atNs);
    if (this.#phase !== 'done') this.#stop(reason);
  }

  expire(conn: Connection, nowNs: number): void {
    this.#conn = conn;
    const timeout = this.#deps.ctx.timeoutNs;
    const head = this.#pending.peek();
    if (head && head.response.started) {
      // a response still arriving is not late; one silent for the timeout ended with its last bytes
      if (nowNs - this.#lastResponseNs < timeout) return;
      this.#cutHead(head);
    }
    for (const op of this.#pending.expire(nowNs, timeout)) this.#fail(op, 'timeout', nowNs);
  }
}

function connInfo(c: Connection | undefined): ConnInfo {
  if (!c) return { sockId: 0, pid: 0, comm: '', cgroupId: 0, family: 0, local: { addr: '', port: 0 }, remote: { addr: '', port: 0 } };
  return { sockId: c.sockId, pid: c.pid, comm: c.comm, cgroupId: c.cgroupId, family: c.family, local: c.local, remote: c.remote };
}
