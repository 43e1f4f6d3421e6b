/**
 * DNS queries waiting for their responses. A response answers the query with
 * the same id, sent to (or received from) the same peer, asking the same
 * question: the id alone collides (16 bits, and an unconnected UDP socket talks
 * to many peers), and responses may come in any order (glibc sends A and AAAA
 * together; either may come back first).
 *
 * Bounded: past `maxPending` the oldest query is pushed out (the caller fails it).
 *
 * Example:
 *   const p = new DnsPairing(1024);
 *   p.add({ role: 'client', id: 0x1234, peer, question, ... });
 *   const q = p.take('client', peer, 0x1234, response.question);   // undefined: unmatched
 *   for (const old of p.expire(nowNs, timeoutNs)) fail(old, 'timeout');
 */
import type { Endpoint } from '../conn/connection';
import type { DnsQuestion } from './dns';
import type { Role } from './types';

export interface PendingQuery {
  role: Role;
  id: number;
  /** the other end of this query (the datagram's peer, or the TCP connection's) */
  peer: Endpoint;
  local: Endpoint;
  /** absent when the capture cut the query before its question */
  question?: DnsQuestion;
  startNs: number;
  endNs: number;
  tid: number;
}

const keyOf = (role: Role, peer: Endpoint, id: number): string => `${role} ${peer.addr} ${peer.port} ${id}`;

const sameQuestion = (a: DnsQuestion | undefined, b: DnsQuestion | undefined): boolean =>
  a === undefined || b === undefined || (a.type === b.type && a.name === b.name);

export class DnsPairing {
  readonly maxPending: number;
  readonly #byKey = new Map<string, PendingQuery[]>();
  /** every pending query, oldest first (a Set iterates in insertion order) */
  readonly #byAge = new Set<PendingQuery>();

  constructor(maxPending: number) {
    this.maxPending = maxPending;
  }

  get size(): number {
    return this.#byAge.size;
  }

  /** Queues a query; returns the oldest one when the bound pushed it out. */
  add(q: PendingQuery): PendingQuery | undefined {
    const key = keyOf(q.role, q.peer, q.id);
    const list = this.#byKey.get(key);
    if (list) list.push(q);
    else this.#byKey.set(key, [q]);
    this.#byAge.add(q);
    if (this.#byAge.size <= this.maxPending) return undefined;
    const oldest = this.#byAge.values().next().value as PendingQuery;
    this.#remove(oldest);
    return oldest;
  }

  /**
   * The query a response answers: same role, peer and id, and the same question
   * when both are known (the oldest such). A response whose peer is unknown
   * (port 0) matches on role and id alone.
   */
  take(role: Role, peer: Endpoint, id: number, question: DnsQuestion | undefined): PendingQuery | undefined {
    let found: PendingQuery | undefined;
    if (peer.port === 0) {
      for (const q of this.#byAge) {
        if (q.role === role && q.id === id && sameQuestion(q.question, question)) {
          found = q;
          break;
        }
      }
    } else {
      found = this.#byKey.get(keyOf(role, peer, id))?.find((q) => sameQuestion(q.question, question));
    }
    if (found) this.#remove(found);
    return found;
  }

  /** Removes and returns every query that waited timeoutNs or longer at nowNs. */
  expire(nowNs: number, timeoutNs: number): PendingQuery[] {
    const out: PendingQuery[] = [];
    for (const q of this.#byAge) {
      if (nowNs - q.startNs < timeoutNs) break;
      out.push(q);
    }
    for (const q of out) this.#remove(q);
    return out;
  }

  /** Removes and returns everything, oldest first. */
  drain(): PendingQuery[] {
    const out = [...this.#byAge];
    this.#byAge.clear();
    this.#byKey.clear();
    return out;
  }

  #remove(q: PendingQuery): void {
    this.#byAge.delete(q);
    const key = keyOf(q.role, q.peer, q.id);
    const list = this.#byKey.get(key);
    if (!list) return;
    const i = list.indexOf(q);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#byKey.delete(key);
  }
}
