/**
 * Links the two ends of a connection when both are on this node, without
 * touching the traffic: the client's request is registered under its
 * connection's 4-tuple; the server, seeing the same 4-tuple reversed and the
 * same request line, takes the client span as its parent.
 *
 * Example:
 *   linker.registerClient(conn, 'GET /x', ids);         // client wrote a request
 *   const parent = linker.findClient(serverConn, 'GET /x'); // server read it
 */
import type { Endpoint } from '../conn/connection';

export interface LinkedIds {
  traceId: string;
  spanId: string;
  traceFlags: number;
}

interface Entry {
  line: string;
  ids: LinkedIds;
}

function key(from: Endpoint, to: Endpoint): string {
  return `${from.addr}:${from.port}>${to.addr}:${to.port}`;
}

export class LocalLinker {
  readonly #byTuple = new Map<string, Entry[]>();
  readonly #capacity: number;
  #size = 0;
  linked = 0;
  /** registrations dropped by the bound */
  dropped = 0;

  constructor(capacity = 65536) {
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#size;
  }

  /** A client on this node sent `line` (e.g. "GET /x") on the connection local -> remote. */
  registerClient(local: Endpoint, remote: Endpoint, line: string, ids: LinkedIds): void {
    const k = key(local, remote);
    let list = this.#byTuple.get(k);
    if (!list) {
      list = [];
      this.#byTuple.set(k, list);
    }
    list.push({ line, ids });
    this.#size++;
    while (this.#size > this.#capacity) {
      const oldest = this.#byTuple.entries().next().value as [string, Entry[]];
      this.#size -= oldest[1].length;
      this.dropped += oldest[1].length;
      this.#byTuple.delete(oldest[0]);
    }
  }

  /** The client request a server on this node received (the oldest with that line), taken. */
  findClient(serverLocal: Endpoint, serverRemote: Endpoint, line: string): LinkedIds | undefined {
    const k = key(serverRemote, serverLocal);
    const list = this.#byTuple.get(k);
    if (!list) return undefined;
    const i = list.findIndex((e) => e.line === line);
    if (i < 0) return undefined;
    const [e] = list.splice(i, 1);
    this.#size--;
    if (list.length === 0) this.#byTuple.delete(k);
    this.linked++;
    return e?.ids;
  }

  /** The client's exchange is over: its registration is no longer needed. */
  unregisterClient(local: Endpoint, remote: Endpoint, spanId: string): void {
    const k = key(local, remote);
    const list = this.#byTuple.get(k);
    if (!list) return;
    const i = list.findIndex((e) => e.ids.spanId === spanId);
    if (i < 0) return;
    list.splice(i, 1);
    this.#size--;
    if (list.length === 0) this.#byTuple.delete(k);
  }
}
