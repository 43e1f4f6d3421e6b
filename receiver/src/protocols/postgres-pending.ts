/**
 * What a PostgreSQL connection has asked and not yet been answered, in order:
 * simple Queries, Executes, Syncs, the startup and the like. Answers take items
 * from the front (postgres-conversation.ts says which); this queue also holds the
 * rules for what was asked but never answered in view: given up on close or
 * timeout, or finished with what was seen when the answer's framing was lost.
 *
 * Example:
 *   const q = new PendingQueue(1024, reporter);
 *   q.push(newItem(K.Query, startNs, tid, { text }));
 *   q.peek();                      // the oldest item that exists
 */
import { FifoPairing } from '../pairing/fifo';
import type { OperationReporter } from './postgres-operations';
import type { Statement } from './postgres-statements';

export const enum K {
  /** SSLRequest or GSSENCRequest: answered by one byte */
  Encryption,
  Startup,
  Query,
  Exec,
  Sync,
  Func,
  /** the uncaptured rest of a request batch: every answer until ReadyForQuery is an Execute of its last statement */
  Inferred,
}

export interface Item {
  k: K;
  atNs: number;
  tid: number;
  stmt?: Statement | undefined;
  text?: string;
  truncated?: boolean;
  statements: number;
  rows: number | undefined;
  firstVerb?: string;
  sqlstate?: string | undefined;
  errored: boolean;
  /** the response's framing was lost while this was answered */
  lost: boolean;
  /** statements answered before the loss */
  beforeLoss: number;
  /** found not to exist after all (skipped when it reaches the head) */
  dropped?: boolean;
}

/** answered last by ReadyForQuery (an Inferred item is not: whether its lost bytes held a Sync is unknown) */
export const isCycleEnd = (k: K): boolean => k === K.Startup || k === K.Query || k === K.Sync || k === K.Func;
export const returnsRows = (verb: string): boolean => verb === 'SELECT' || verb === 'FETCH';

export function newItem(k: K, atNs: number, tid: number, extra: Partial<Item> = {}): Item {
  return { k, atNs, tid, statements: 0, rows: undefined, errored: false, lost: false, beforeLoss: 0, ...extra };
}

/** Item kinds that make an operation. */
const isOperation = (it: Item): boolean => it.k === K.Query || it.k === K.Exec;

export class PendingQueue {
  readonly #q: FifoPairing<Item>;
  readonly #ops: OperationReporter;

  constructor(maxPending: number, ops: OperationReporter) {
    this.#q = new FifoPairing<Item>({ maxPending });
    this.#ops = ops;
  }

  get size(): number {
    return this.#q.size;
  }

  /** Past maxPending the oldest item is given up (a timeout). */
  push(it: Item): void {
    const out = this.#q.push(it, it.atNs);
    if (out && isOperation(out)) this.#ops.fail(out, 'timeout', it.atNs);
  }

  /** The oldest item that exists. */
  peek(): Item | undefined {
    let it = this.#q.peek();
    while (it?.dropped) {
      this.#q.shift();
      it = this.#q.peek();
    }
    return it;
  }

  at(i: number): Item | undefined {
    return this.#q.at(i);
  }

  shift(): Item | undefined {
    return this.#q.shift();
  }

  clear(): void {
    this.#q.drain();
  }

  /** The connection ended: what was being answered unseen completes; the rest fails. */
  close(atNs: number, reason: 'closed' | 'evicted', lastResponseExitNs: number): void {
    for (const it of this.#q.drain()) {
      if (!isOperation(it)) continue;
      if (it.lost) this.#ops.finishUnseen(it, lastResponseExitNs);
      else this.#ops.fail(it, reason === 'closed' ? 'connection_closed' : 'evicted', atNs);
    }
  }

  expire(nowNs: number, timeoutNs: number, lastResponseExitNs: number): void {
    for (const it of this.#q.expire(nowNs, timeoutNs)) {
      if (!isOperation(it)) continue;
      if (it.lost) this.#ops.finishUnseen(it, lastResponseExitNs);
      else this.#ops.fail(it, 'timeout', nowNs);
    }
  }

  /** Terminate: whatever was being answered unseen completes now; the rest stays. */
  finishLost(lastResponseExitNs: number): void {
    const keep: Item[] = [];
    for (const it of this.#q.drain()) {
      if (it.lost && isOperation(it)) this.#ops.finishUnseen(it, lastResponseExitNs);
      else if (!it.lost) keep.push(it);
    }
    for (const it of keep) this.#q.push(it, it.atNs);
  }

  /**
   * Answers found again at a segment that began at `enterNs`: it answers the last
   * cycle asked before then (answers never come before their question), so the
   * cycles before that one ended unseen, by `lastLostExitNs`.
   */
  resyncAt(enterNs: number, lastLostExitNs: number): void {
    // an answer to SSLRequest went unseen: messages in clear follow, so it was 'N'
    while (this.peek()?.k === K.Encryption) this.#q.shift();
    let cycles = 0;
    for (let i = 0; i < this.#q.size; i++) {
      const it = this.#q.at(i);
      if (!it || it.atNs >= enterNs) break;
      if (isCycleEnd(it.k) && !it.dropped) cycles++;
    }
    while (cycles > 1) {
      const it = this.#q.shift();
      if (!it) break;
      if (it.dropped) continue;
      if (isCycleEnd(it.k)) cycles--;
      if (isOperation(it)) this.#ops.finishUnseen(it, lastLostExitNs);
    }
  }
}
