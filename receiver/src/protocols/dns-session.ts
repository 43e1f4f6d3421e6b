/**
 * DNS on one socket: every query seen (sent: this process is the client;
 * received: it is the server) waits for the response with its id, peer and
 * question, in any order; each pair, or each query that got no response, goes
 * to ctx.dns.onLookup.
 *
 * UDP: one datagram is one message, and its peer is the datagram's (an
 * unconnected socket, like a resolver's, talks to many). TCP: the length-
 * prefixed stream of each direction goes through a DnsTcpFramer.
 *
 * A query still waiting when its socket closes failed: over TCP the connection
 * ended ('connection_closed'); over UDP there is no connection, the asker gave up
 * waiting ('timeout').
 */
import type { Connection, Endpoint, ProtocolSession } from '../conn/connection';
import type { SockEvent } from '../events/types';
import type { DnsLookupRecord, ProtocolContext, ProtocolStats } from './context';
import type { ConnInfo } from './http1-session';
import { parseDnsMessage, rcodeName, typeName } from './dns';
import type { DnsMessage } from './dns';
import { DnsPairing } from './dns-pairing';
import type { PendingQuery } from './dns-pairing';
import { DnsTcpFramer } from './dns-tcp';
import type { DnsFrameEvent } from './dns-tcp';
import type { Direction, Role } from './types';

export interface DnsSessionOptions {
  ctx: ProtocolContext;
  stats: ProtocolStats;
  transport: 'udp' | 'tcp';
  /** TCP on port 53: a segment holding only a length prefix may start the stream */
  lenient?: boolean;
}

type Failure = NonNullable<DnsLookupRecord['failure']>;

export class DnsSession implements ProtocolSession {
  readonly protocol = 'dns';
  readonly transport: 'udp' | 'tcp';
  readonly #ctx: ProtocolContext;
  readonly #stats: ProtocolStats;
  readonly #pending: DnsPairing;
  readonly #framers: Record<Direction, DnsTcpFramer> | undefined;

  constructor(o: DnsSessionOptions) {
    this.#ctx = o.ctx;
    this.#stats = o.stats;
    this.transport = o.transport;
    this.#pending = new DnsPairing(o.ctx.maxPending);
    const lenient = o.lenient ?? false;
    this.#framers = o.transport === 'tcp' ? { egress: new DnsTcpFramer({ lenient }), ingress: new DnsTcpFramer({ lenient }) } : undefined;
  }

  /** queries waiting for a response */
  get pending(): number {
    return this.#pending.size;
  }

  onData(conn: Connection, ev: SockEvent): void {
    const dir: Direction | undefined = ev.direction === 1 ? 'egress' : ev.direction === 2 ? 'ingress' : undefined;
    // errors, and reads of 0 (a TCP peer closing; the close itself follows)
    if (!dir || ev.ret < 0 || ev.len <= 0) return;
    if (!this.#framers) {
      const r = parseDnsMessage(ev.payload, ev.len);
      if (!r.ok) {
        this.#stats.parseErrors++;
        return;
      }
      const local = { addr: ev.localAddr, port: ev.localPort };
      const peer = { addr: ev.remoteAddr, port: ev.remotePort };
      this.#message(conn, dir, r.message, ev.enterNs, ev.exitNs, ev.tid, ev.tid, local, peer);
      return;
    }
    const seg = { data: ev.payload, len: ev.len, enterNs: ev.enterNs, exitNs: ev.exitNs };
    this.#frames(conn, dir, this.#framers[dir].push(seg, ev.tid));
  }

  #frames(conn: Connection, dir: Direction, events: DnsFrameEvent[]): void {
    for (const e of events) {
      if (e.kind === 'error') this.#stats.parseErrors++;
      else this.#message(conn, dir, e.message, e.startNs, e.endNs, e.startTag, e.endTag, conn.local, conn.remote);
    }
  }

  #message(conn: Connection, dir: Direction, m: DnsMessage, startNs: number, endNs: number, startTid: number, endTid: number, local: Endpoint, peer: Endpoint): void {
    const query = !m.header.response;
    // whoever sends a query asks; whoever receives one answers
    const role: Role = query === (dir === 'egress') ? 'client' : 'server';
    if (query) {
      this.#stats.requests++;
      const q: PendingQuery = { role, id: m.header.id, peer, local, startNs, endNs, tid: startTid };
      if (m.question) q.question = m.question;
      const pushedOut = this.#pending.add(q);
      if (pushedOut) this.#fail(conn, pushedOut, 'timeout', startNs);
      return;
    }
    const q = this.#pending.take(role, peer, m.header.id, m.question);
    if (!q) {
      this.#stats.unmatchedResponses++;
      return;
    }
    this.#stats.exchanges++;
    const question = q.question ?? m.question;
    this.#ctx.dns.onLookup({
      role,
      conn: this.#info(conn, q),
      transport: this.transport,
      id: q.id,
      questionName: question?.name ?? '',
      questionType: typeName(question?.type ?? 0),
      rcode: rcodeName(m.rcode),
      answers: m.answers,
      startNs: q.startNs,
      endNs,
      requestTid: q.tid,
      responseTid: endTid,
    });
  }

  #info(conn: Connection, q: PendingQuery): ConnInfo {
    return { sockId: conn.sockId, pid: conn.pid, comm: conn.comm, cgroupId: conn.cgroupId, family: conn.family, local: q.local, remote: q.peer };
  }

  #fail(conn: Connection, q: PendingQuery, failure: Failure, atNs: number): void {
    this.#stats.expired++;
    this.#ctx.dns.onLookup({
      role: q.role,
      conn: this.#info(conn, q),
      transport: this.transport,
      id: q.id,
      questionName: q.question?.name ?? '',
      questionType: typeName(q.question?.type ?? 0),
      answers: [],
      failure,
      startNs: q.startNs,
      endNs: Math.max(atNs, q.endNs),
      requestTid: q.tid,
    });
  }

  onClose(conn: Connection, atNs: number, reason: 'closed' | 'evicted'): void {
    if (this.#framers) {
      // a message cut short by the close still counts (a query then fails below)
      this.#frames(conn, 'egress', this.#framers.egress.end());
      this.#frames(conn, 'ingress', this.#framers.ingress.end());
    }
    const failure: Failure = reason === 'evicted' ? 'evicted' : this.transport === 'udp' ? 'timeout' : 'connection_closed';
    for (const q of this.#pending.drain()) this.#fail(conn, q, failure, atNs);
  }

  expire(conn: Connection, nowNs: number): void {
    for (const q of this.#pending.expire(nowNs, this.#ctx.timeoutNs)) this.#fail(conn, q, 'timeout', nowNs);
  }
}
