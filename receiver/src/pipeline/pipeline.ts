/**
 * Decoded events in, protocol records out: the connection table routes each
 * socket event to its connection, detects the protocol on its first bytes,
 * and hands data to the protocol's session, which pairs requests with
 * responses and reports them to its sink.
 *
 * Example:
 *   const p = new Pipeline({ capacity: 65536, detectors: [http1Detector(deps)] });
 *   source.start((b) => p.push(b.events));
 *   setInterval(() => p.expire(monotonicNow()), 1000);
 */
import { Kind } from '../events/abi';
import { ProcEvent, SliceEvent, SockEvent, StackEvent } from '../events/types';
import type { KindlingEvent } from '../events/types';
import { ConnectionTable } from '../conn/table';
import type { Connection } from '../conn/connection';
import { detect } from '../protocols/registry';
import type { Detector } from '../protocols/registry';

/** give up detecting a connection's protocol after this many data segments */
const DETECT_ATTEMPTS = 8;

export interface PipelineOptions {
  capacity: number;
  detectors: readonly Detector[];
  /** process exec/exit events (identity caches follow them) */
  onProc?: (ev: ProcEvent) => void;
  /** a connection was first seen: resolve who owns it while the process is surely alive */
  onConnection?: (conn: Connection) => void;
  /** every data event, before its protocol sees it (trace profiling keeps the scheduler snapshots) */
  onData?: (ev: SockEvent) => void;
  /** trace profiling slice records */
  onSlice?: (ev: SliceEvent) => void;
  /** trace profiling stack records (profiling.stacks) */
  onStack?: (ev: StackEvent) => void;
}

export interface PipelineStats {
  events: number;
  dataEvents: number;
  /** segments on connections whose protocol is not (or not yet) known */
  undetectedSegments: number;
  connections: number;
  connectionEvictions: number;
  sessions: Record<string, number>;
}

const EINPROGRESS = -115;

export class Pipeline {
  readonly table: ConnectionTable;
  readonly #detectors: readonly Detector[];
  readonly #onProc: ((ev: ProcEvent) => void) | undefined;
  readonly #onConnection: ((conn: Connection) => void) | undefined;
  readonly #onData: ((ev: SockEvent) => void) | undefined;
  readonly #onSlice: ((ev: SliceEvent) => void) | undefined;
  readonly #onStack: ((ev: StackEvent) => void) | undefined;
  #events = 0;
  #data = 0;
  #undetected = 0;
  readonly #sessions: Record<string, number> = {};
  /** the newest event time seen: "now" for a replay */
  latestNs = 0;

  constructor(options: PipelineOptions) {
    this.table = new ConnectionTable({ capacity: options.capacity });
    this.#detectors = options.detectors;
    this.#onProc = options.onProc;
    this.#onConnection = options.onConnection;
    this.#onData = options.onData;
    this.#onSlice = options.onSlice;
    this.#onStack = options.onStack;
  }

  #open(ev: SockEvent): Connection {
    const existing = this.table.get(ev.sockId);
    if (existing) return existing;
    const conn = this.table.open(ev);
    this.#onConnection?.(conn);
    return conn;
  }

  push(events: readonly KindlingEvent[]): void {
    for (const ev of events) {
      this.#events++;
      if (ev instanceof ProcEvent) {
        this.#onProc?.(ev);
        continue;
      }
      if (ev instanceof SliceEvent) {
        this.#onSlice?.(ev);
        continue;
      }
      if (ev instanceof StackEvent) {
        this.#onStack?.(ev);
        continue;
      }
      if (!(ev instanceof SockEvent)) continue; // TCP state changes: used by later stages
      if (ev.exitNs > this.latestNs) this.latestNs = ev.exitNs;
      if (ev.kind === Kind.SockConn) this.#onConn(ev);
      else this.#onDataEvent(ev);
    }
  }

  #onConn(ev: SockEvent): void {
    switch (ev.hookName) {
      case 'connect':
        if (ev.ret === 0 || ev.ret === EINPROGRESS) this.#open(ev).setRole('client', 'connect');
        break;
      case 'accept':
      case 'accept4':
        if (ev.ret >= 0) this.#open(ev).setRole('server', 'accept');
        break;
      case 'close':
        this.table.close(ev.sockId, ev.exitNs);
        break;
      default:
        break;
    }
  }

  #onDataEvent(ev: SockEvent): void {
    this.#data++;
    this.#onData?.(ev);
    const conn = this.#open(ev);
    conn.touch(ev);
    if (!conn.session && !this.#detect(conn, ev)) {
      this.#undetected++;
      return;
    }
    conn.session?.onData(conn, ev);
  }

  #detect(conn: Connection, ev: SockEvent): boolean {
    if (conn.undetected >= DETECT_ATTEMPTS || ev.payloadLen === 0) return false;
    const found = detect(this.#detectors, ev.direction === 1 ? 'egress' : 'ingress', ev.payload, {
      transport: ev.protocol === 17 ? 'udp' : 'tcp',
      localPort: ev.localPort,
      remotePort: ev.remotePort,
    });
    if (!found) {
      conn.undetected++;
      return false;
    }
    if (!conn.role) conn.setRole(found.role, 'inferred');
    conn.session = found.detector.create(found.role, conn);
    this.#sessions[found.protocol] = (this.#sessions[found.protocol] ?? 0) + 1;
    return true;
  }

  /** Expire requests that waited too long (call about once a second). */
  expire(nowNs: number): void {
    for (const conn of this.table.values()) conn.session?.expire(conn, nowNs);
  }

  /** The end of input (a replay finished): close every connection, completing or failing what is pending. */
  flush(atNs: number = this.latestNs): void {
    for (const conn of [...this.table.values()]) this.table.close(conn.sockId, atNs);
  }

  stats(): PipelineStats {
    return {
      events: this.#events,
      dataEvents: this.#data,
      undetectedSegments: this.#undetected,
      connections: this.table.size,
      connectionEvictions: this.table.evictions,
      sessions: { ...this.#sessions },
    };
  }
}
