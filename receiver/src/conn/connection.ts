/**
 * One connection as the agent knows it: a socket (by the kernel's socket id),
 * the process that owns it, its two ends, its role, and the protocol session
 * parsing its bytes once the protocol is known.
 */
import type { Role } from '../protocols/types';
import type { SockEvent } from '../events/types';

export interface Endpoint {
  addr: string;
  port: number;
}

/** A protocol's per-connection state: its parsers and pairing queue. */
export interface ProtocolSession {
  readonly protocol: string;
  /** bytes the process sent (egress) or received (ingress) */
  onData(conn: Connection, ev: SockEvent): void;
  /** the connection ended (close, eviction): flush what can complete, expire the rest */
  onClose(conn: Connection, atNs: number, reason: 'closed' | 'evicted'): void;
  /** expire requests that waited longer than the timeout */
  expire(conn: Connection, nowNs: number): void;
}

export class Connection {
  readonly sockId: number;
  pid: number;
  tid: number;
  comm: string;
  cgroupId: number;
  readonly family: number;
  /** 'tcp' | 'udp' */
  readonly transport: 'tcp' | 'udp';
  local: Endpoint;
  remote: Endpoint;
  role: Role | undefined;
  /** how the role was learned */
  roleSource: 'accept' | 'connect' | 'inferred' | undefined;
  session: ProtocolSession | undefined;
  /** no detector recognised the first bytes: stop trying after a few segments */
  undetected = 0;
  lastNs: number;

  constructor(ev: SockEvent) {
    this.sockId = ev.sockId;
    this.pid = ev.pid;
    this.tid = ev.tid;
    this.comm = ev.comm;
    this.cgroupId = ev.cgroupId;
    this.family = ev.family;
    this.transport = ev.protocol === 17 ? 'udp' : 'tcp';
    this.local = { addr: ev.localAddr, port: ev.localPort };
    this.remote = { addr: ev.remoteAddr, port: ev.remotePort };
    this.lastNs = ev.exitNs;
  }

  /** Follow the latest event: owner thread, and ends that were unknown before (connect after socket) */
  touch(ev: SockEvent): void {
    this.pid = ev.pid;
    this.tid = ev.tid;
    this.lastNs = ev.exitNs;
    if (this.local.port === 0 && ev.localPort !== 0) this.local = { addr: ev.localAddr, port: ev.localPort };
    if (this.remote.port === 0 && ev.remotePort !== 0) this.remote = { addr: ev.remoteAddr, port: ev.remotePort };
  }

  setRole(role: Role, source: NonNullable<Connection['roleSource']>): void {
    // accept/connect are facts; an inference never overrides them
    if (this.roleSource === 'accept' || this.roleSource === 'connect') return;
    this.role = role;
    this.roleSource = source;
  }
}
