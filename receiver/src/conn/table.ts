/**
 * The connection table: connections by kernel socket id, least recently used
 * first out. Bounded: past `capacity` the oldest connection is evicted (its
 * session told, so pending requests expire) and counted.
 *
 * Example:
 *   const table = new ConnectionTable({ capacity: 65536 });
 *   const conn = table.get(ev) ?? table.open(ev);
 */
import type { SockEvent } from '../events/types';
import { Connection } from './connection';

export interface ConnectionTableOptions {
  capacity: number;
}

export class ConnectionTable {
  readonly capacity: number;
  // a Map iterates in insertion order: re-inserting on use keeps the oldest first
  readonly #conns = new Map<number, Connection>();
  evictions = 0;
  opened = 0;
  closed = 0;

  constructor(options: ConnectionTableOptions) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) throw new Error(`capacity must be a positive integer, got ${options.capacity}`);
    this.capacity = options.capacity;
  }

  get size(): number {
    return this.#conns.size;
  }

  /** The connection of this socket, marked most recently used. */
  get(sockId: number): Connection | undefined {
    const c = this.#conns.get(sockId);
    if (c) {
      this.#conns.delete(sockId);
      this.#conns.set(sockId, c);
    }
    return c;
  }

  /** A new connection for this event's socket; evicts the least recently used one when full. */
  open(ev: SockEvent): Connection {
    const existing = this.#conns.get(ev.sockId);
    if (existing) return existing;
    if (this.#conns.size >= this.capacity) {
      const oldest = this.#conns.values().next().value as Connection;
      this.#conns.delete(oldest.sockId);
      this.evictions++;
      oldest.session?.onClose(oldest, ev.exitNs, 'evicted');
    }
    const c = new Connection(ev);
    this.#conns.set(ev.sockId, c);
    this.opened++;
    return c;
  }

  /** The socket closed: its session flushes, and it leaves the table. */
  close(sockId: number, atNs: number): void {
    const c = this.#conns.get(sockId);
    if (!c) return;
    this.#conns.delete(sockId);
    this.closed++;
    c.session?.onClose(c, atNs, 'closed');
  }

  values(): IterableIterator<Connection> {
    return this.#conns.values();
  }
}
