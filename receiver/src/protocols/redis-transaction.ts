/**
 * MULTI/EXEC on one Redis connection.
 * https://redis.io/docs/latest/develop/interact/transactions/
 *
 * Between MULTI and EXEC the server answers each command +QUEUED (or an error, which
 * dooms the transaction: EXEC then answers -EXECABORT). EXEC answers an array with
 * each queued command's result, or a null when a WATCHed key changed; DISCARD drops
 * them. So a queued command completes when EXEC (or DISCARD) is answered: with its own
 * result from EXEC's array, with EXEC's error, with error.type "transaction_aborted"
 * (the null), or "discarded". Every command of a transaction is marked with its id.
 *
 * Example:
 *   const t = new Transaction(1024);
 *   t.onRequest('MULTI');   // 1: MULTI opens transaction 1
 *   t.onRequest('SET');     // 1
 *   t.queue(set);           // after +QUEUED
 *   t.onRequest('EXEC');    // 1, and closes it
 *   t.finish('EXEC', reply) // { size: 1, commands: [{ command: set, status: undefined }] }
 */
import { errorPrefix } from './redis-command';
import type { RespValue } from './redis-resp';
import type { Command } from './redis-command';

export interface Outcome {
  command: Command;
  status?: string;
  errorType?: string;
}

export class Transaction {
  readonly #max: number;
  /** the transaction commands are being sent in (request side), 0 outside MULTI */
  #open = 0;
  #ids = 0;
  /** commands answered +QUEUED, awaiting EXEC or DISCARD */
  #queued: Command[] = [];
  /** queued beyond the bound: reported when queued, still counted in the batch */
  #overflow = 0;

  constructor(max: number) {
    this.#max = max;
  }

  get size(): number {
    return this.#queued.length;
  }

  /** The transaction a command just sent belongs to (0: none). */
  onRequest(name: string | undefined): number {
    if (name === 'MULTI') {
      if (this.#open === 0) this.#open = ++this.#ids;
      return this.#open;
    }
    const id = this.#open;
    if (name === 'EXEC' || name === 'DISCARD' || name === 'RESET') this.#open = 0;
    return id;
  }

  /** A command was answered +QUEUED; returns it when the bound is reached (report it now). */
  queue(c: Command): Command | undefined {
    if (this.#queued.length >= this.#max) {
      this.#overflow++;
      return c;
    }
    this.#queued.push(c);
    return undefined;
  }

  /** EXEC or DISCARD was answered (`status`: its error prefix, if it failed). */
  finish(name: 'EXEC' | 'DISCARD', v: RespValue, status: string | undefined): { size: number; commands: Outcome[] } {
    const queued = this.#queued;
    const size = queued.length + this.#overflow;
    this.#queued = [];
    this.#overflow = 0;
    if (name === 'DISCARD') return { size, commands: queued.map((command) => ({ command, errorType: 'discarded' })) };
    if (status !== undefined) return { size, commands: queued.map((command) => ({ command, errorType: status })) };
    if (v.count === -1 || v.type === 0x5f) return { size, commands: queued.map((command) => ({ command, errorType: 'transaction_aborted' })) };
    const errors = v.errors ?? [];
    let k = 0;
    const commands = queued.map((command, i): Outcome => {
      while (k < errors.length && (errors[k]?.index ?? 0) < i) k++;
      const e = errors[k];
      if (e === undefined || e.index !== i) return { command };
      return { command, status: errorPrefix(e.text) };
    });
    return { size, commands };
  }

  /** RESET or the end of the connection: the queued commands, dropped. */
  reset(): Command[] {
    const q = this.#queued;
    this.#queued = [];
    this.#overflow = 0;
    this.#open = 0;
    return q;
  }
}
