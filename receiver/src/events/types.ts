/**
 * Typed events decoded from the ring buffer's records. Numeric fields are read
 * eagerly; strings, the payload view and the scheduler snapshot are built only
 * when asked for, which keeps decoding at millions of events per second.
 *
 * Example:
 *   for (const ev of batch.events) {
 *     if (ev.kind === Kind.SockData && ev.direction === Direction.Ingress) parse(ev.payload);
 *   }
 *
 * Timestamps are CLOCK_MONOTONIC nanoseconds as numbers: exact up to 2^53 ns
 * (104 days of uptime), within a few ns after that.
 */
import {
  DIRECTION_NAMES,
  Flag,
  HOOK_NAMES,
  Kind,
  OFFCPU_CAUSES,
  PROC_EVENT,
  PROC_EVENT_SIZE,
  ProcWhat,
  SLICE_EVENT,
  SLICE_RUNQ,
  STACK_EVENT,
  STACK_TRUNCATED,
  SCHED_SNAPSHOT,
  SCHED_SNAPSHOT_SIZE,
  SOCK_EVENT,
  SOCK_EVENT_SIZE,
  SOCK_STATE_EVENT,
  TCP_STATE_NAMES,
} from './abi';
import type { HookName } from './abi';
import { addrToString } from '../util/addr';

const TWO_32 = 4294967296;

export function u64(dv: DataView, at: number): number {
  return dv.getUint32(at, true) + dv.getUint32(at + 4, true) * TWO_32;
}

export function s64(dv: DataView, at: number): number {
  return dv.getUint32(at, true) + dv.getInt32(at + 4, true) * TWO_32;
}

function cString(b: Uint8Array, at: number, max: number): string {
  let end = at;
  while (end < at + max && b[end] !== 0) end++;
  return Buffer.from(b.buffer, b.byteOffset + at, end - at).toString('latin1');
}

export interface SchedSnapshot {
  onNs: number;
  runqNs: number;
  offNs: Record<(typeof OFFCPU_CAUSES)[number], number>;
  sliceStartNs: number;
  voluntary: number;
  involuntary: number;
}

/** A data (read/write family) or connection (connect/accept/close) record. */
export class SockEvent {
  readonly kind: typeof Kind.SockData | typeof Kind.SockConn;
  readonly hook: number;
  readonly direction: number;
  readonly flags: number;
  readonly pid: number;
  readonly tid: number;
  readonly fd: number;
  readonly family: number;
  readonly sockType: number;
  readonly protocol: number;
  readonly cgroupId: number;
  readonly enterNs: number;
  readonly exitNs: number;
  /** the syscall's true return value */
  readonly ret: number;
  /** bytes this record covers (true length, not the captured prefix) */
  readonly len: number;
  /** socket inode number: stable for the socket's life, new when an fd is reused */
  readonly sockId: number;
  /** bytes moved in this direction on this socket before this record */
  readonly offset: number;
  readonly localPort: number;
  readonly remotePort: number;
  readonly payloadLen: number;
  readonly msgIndex: number;
  readonly msgCount: number;
  readonly #bytes: Uint8Array;
  readonly #at: number;

  constructor(bytes: Uint8Array, dv: DataView, at: number) {
    this.#bytes = bytes;
    this.#at = at;
    this.kind = dv.getUint16(at, true) as typeof Kind.SockData | typeof Kind.SockConn;
    this.hook = dv.getUint16(at + SOCK_EVENT.hook[0], true);
    this.direction = dv.getUint8(at + SOCK_EVENT.direction[0]);
    this.flags = dv.getUint8(at + SOCK_EVENT.flags[0]);
    this.pid = dv.getUint32(at + SOCK_EVENT.pid[0], true);
    this.tid = dv.getUint32(at + SOCK_EVENT.tid[0], true);
    this.fd = dv.getInt32(at + SOCK_EVENT.fd[0], true);
    this.family = dv.getUint16(at + SOCK_EVENT.family[0], true);
    this.sockType = dv.getUint16(at + SOCK_EVENT.sock_type[0], true);
    this.protocol = dv.getUint16(at + SOCK_EVENT.protocol[0], true);
    this.cgroupId = u64(dv, at + SOCK_EVENT.cgroup_id[0]);
    this.enterNs = u64(dv, at + SOCK_EVENT.enter_ns[0]);
    this.exitNs = u64(dv, at + SOCK_EVENT.exit_ns[0]);
    this.ret = s64(dv, at + SOCK_EVENT.ret[0]);
    this.len = u64(dv, at + SOCK_EVENT.len[0]);
    this.sockId = u64(dv, at + SOCK_EVENT.sock_id[0]);
    this.offset = u64(dv, at + SOCK_EVENT.offset[0]);
    this.localPort = dv.getUint16(at + SOCK_EVENT.local_port[0], true);
    this.remotePort = dv.getUint16(at + SOCK_EVENT.remote_port[0], true);
    this.payloadLen = dv.getUint16(at + SOCK_EVENT.payload_len[0], true);
    this.msgIndex = dv.getUint16(at + SOCK_EVENT.msg_index[0], true);
    this.msgCount = dv.getUint16(at + SOCK_EVENT.msg_count[0], true);
  }

  get hookName(): HookName {
    return HOOK_NAMES[this.hook] ?? 'none';
  }

  get directionName(): (typeof DIRECTION_NAMES)[number] {
    return DIRECTION_NAMES[this.direction] ?? 'none';
  }

  get localAddr(): string {
    return addrToString(this.family, this.#bytes, this.#at + SOCK_EVENT.local_addr[0]);
  }

  get remoteAddr(): string {
    return addrToString(this.family, this.#bytes, this.#at + SOCK_EVENT.remote_addr[0]);
  }

  get comm(): string {
    return cString(this.#bytes, this.#at + SOCK_EVENT.comm[0], SOCK_EVENT.comm[1]);
  }

  /** kernel struct sock address, to join sock:inet_sock_set_state records */
  get sk(): bigint {
    return new DataView(this.#bytes.buffer, this.#bytes.byteOffset).getBigUint64(this.#at + SOCK_EVENT.sk[0], true);
  }

  /** the captured prefix (a view into the batch: copy it to keep it past the batch) */
  get payload(): Uint8Array {
    const start = this.#at + SOCK_EVENT_SIZE + (this.flags & Flag.Sched ? SCHED_SNAPSHOT_SIZE : 0);
    return this.#bytes.subarray(start, start + this.payloadLen);
  }

  get sched(): SchedSnapshot | undefined {
    if (!(this.flags & Flag.Sched)) return undefined;
    const dv = new DataView(this.#bytes.buffer, this.#bytes.byteOffset);
    const at = this.#at + SOCK_EVENT_SIZE;
    const off = {} as SchedSnapshot['offNs'];
    OFFCPU_CAUSES.forEach((cause, i) => {
      off[cause] = u64(dv, at + SCHED_SNAPSHOT.off_ns[0] + 8 * i);
    });
    return {
      onNs: u64(dv, at + SCHED_SNAPSHOT.on_ns[0]),
      runqNs: u64(dv, at + SCHED_SNAPSHOT.runq_ns[0]),
      offNs: off,
      sliceStartNs: u64(dv, at + SCHED_SNAPSHOT.slice_start_ns[0]),
      voluntary: dv.getUint32(at + SCHED_SNAPSHOT.voluntary[0], true),
      involuntary: dv.getUint32(at + SCHED_SNAPSHOT.involuntary[0], true),
    };
  }

  /**
   * The scheduler counters without building an object (the per-event path):
   * out[0] on-CPU ns, out[1] run-queue ns, out[2 + i] off-CPU ns of OFFCPU_CAUSES[i],
   * then voluntary and involuntary switches. False when the record carries none.
   */
  schedInto(out: Float64Array): boolean {
    if (!(this.flags & Flag.Sched)) return false;
    const dv = new DataView(this.#bytes.buffer, this.#bytes.byteOffset);
    const at = this.#at + SOCK_EVENT_SIZE;
    out[0] = u64(dv, at + SCHED_SNAPSHOT.on_ns[0]);
    out[1] = u64(dv, at + SCHED_SNAPSHOT.runq_ns[0]);
    const off = at + SCHED_SNAPSHOT.off_ns[0];
    for (let i = 0; i < OFFCPU_CAUSES.length; i++) out[2 + i] = u64(dv, off + 8 * i);
    out[2 + OFFCPU_CAUSES.length] = dv.getUint32(at + SCHED_SNAPSHOT.voluntary[0], true);
    out[3 + OFFCPU_CAUSES.length] = dv.getUint32(at + SCHED_SNAPSHOT.involuntary[0], true);
    return true;
  }

  /** every field, materialised: what `capture --json` prints and what tests compare */
  toJSON(): Record<string, unknown> {
    return {
      type: this.kind === Kind.SockData ? 'data' : 'conn',
      syscall: this.hookName,
      direction: this.directionName,
      flags: this.flags,
      pid: this.pid,
      tid: this.tid,
      comm: this.comm,
      fd: this.fd,
      family: this.family,
      sockType: this.sockType,
      protocol: this.protocol,
      cgroupId: this.cgroupId,
      enterNs: this.enterNs,
      exitNs: this.exitNs,
      ret: this.ret,
      len: this.len,
      sockId: this.sockId,
      sk: this.sk.toString(16),
      offset: this.offset,
      localAddr: this.localAddr,
      localPort: this.localPort,
      remoteAddr: this.remoteAddr,
      remotePort: this.remotePort,
      msgIndex: this.msgIndex,
      msgCount: this.msgCount,
      payloadLen: this.payloadLen,
      payload: Buffer.from(this.payload.buffer, this.payload.byteOffset, this.payload.byteLength).toString('base64'),
      ...(this.flags & Flag.Sched ? { sched: this.sched } : {}),
    };
  }
}

/** A TCP state transition. */
export class SockStateEvent {
  readonly kind: typeof Kind.SockState = Kind.SockState;
  readonly family: number;
  readonly protocol: number;
  /** the task current when the transition ran: in softirq, often unrelated */
  readonly pid: number;
  readonly tid: number;
  readonly tsNs: number;
  readonly sockId: number;
  readonly oldState: number;
  readonly newState: number;
  readonly localPort: number;
  readonly remotePort: number;
  readonly #bytes: Uint8Array;
  readonly #at: number;

  constructor(bytes: Uint8Array, dv: DataView, at: number) {
    this.#bytes = bytes;
    this.#at = at;
    this.family = dv.getUint16(at + SOCK_STATE_EVENT.family[0], true);
    this.protocol = dv.getUint16(at + SOCK_STATE_EVENT.protocol[0], true);
    this.pid = dv.getUint32(at + SOCK_STATE_EVENT.pid[0], true);
    this.tid = dv.getUint32(at + SOCK_STATE_EVENT.tid[0], true);
    this.tsNs = u64(dv, at + SOCK_STATE_EVENT.ts_ns[0]);
    this.sockId = u64(dv, at + SOCK_STATE_EVENT.sock_id[0]);
    this.oldState = dv.getInt32(at + SOCK_STATE_EVENT.old_state[0], true);
    this.newState = dv.getInt32(at + SOCK_STATE_EVENT.new_state[0], true);
    this.localPort = dv.getUint16(at + SOCK_STATE_EVENT.local_port[0], true);
    this.remotePort = dv.getUint16(at + SOCK_STATE_EVENT.remote_port[0], true);
  }

  get localAddr(): string {
    return addrToString(this.family, this.#bytes, this.#at + SOCK_STATE_EVENT.local_addr[0]);
  }

  get remoteAddr(): string {
    return addrToString(this.family, this.#bytes, this.#at + SOCK_STATE_EVENT.remote_addr[0]);
  }

  get comm(): string {
    return cString(this.#bytes, this.#at + SOCK_STATE_EVENT.comm[0], SOCK_STATE_EVENT.comm[1]);
  }

  get sk(): bigint {
    return new DataView(this.#bytes.buffer, this.#bytes.byteOffset).getBigUint64(this.#at + SOCK_STATE_EVENT.sk[0], true);
  }

  toJSON(): Record<string, unknown> {
    return {
      type: 'state',
      pid: this.pid,
      tid: this.tid,
      comm: this.comm,
      family: this.family,
      protocol: this.protocol,
      tsNs: this.tsNs,
      sk: this.sk.toString(16),
      sockId: this.sockId,
      oldState: TCP_STATE_NAMES[this.oldState] ?? String(this.oldState),
      newState: TCP_STATE_NAMES[this.newState] ?? String(this.newState),
      localAddr: this.localAddr,
      localPort: this.localPort,
      remoteAddr: this.remoteAddr,
      remotePort: this.remotePort,
    };
  }
}

/** A process replaced its image (exec) or ended (exit of its last thread), or a tracked thread ended. */
export class ProcEvent {
  readonly kind: typeof Kind.Proc = Kind.Proc;
  readonly what: number;
  readonly pid: number;
  readonly ppid: number;
  readonly tid: number;
  readonly tsNs: number;
  readonly cgroupId: number;
  readonly #bytes: Uint8Array;
  readonly #commAt: number;

  constructor(bytes: Uint8Array, dv: DataView, at: number) {
    this.#bytes = bytes;
    this.what = dv.getUint16(at + PROC_EVENT.what[0], true);
    this.pid = dv.getUint32(at + PROC_EVENT.pid[0], true);
    this.ppid = dv.getUint32(at + PROC_EVENT.ppid[0], true);
    if (dv.getUint16(at + PROC_EVENT.size[0], true) >= PROC_EVENT_SIZE) {
      this.tid = dv.getUint32(at + PROC_EVENT.tid[0], true);
      this.tsNs = u64(dv, at + PROC_EVENT.ts_ns[0]);
      this.cgroupId = u64(dv, at + PROC_EVENT.cgroup_id[0]);
      this.#commAt = at + PROC_EVENT.comm[0];
    } else {
      // ABI 2-4 recordings: 48 bytes, no tid (ts, cgroup and comm 8 bytes earlier)
      this.tid = this.pid;
      this.tsNs = u64(dv, at + PROC_EVENT.ts_ns[0] - 8);
      this.cgroupId = u64(dv, at + PROC_EVENT.cgroup_id[0] - 8);
      this.#commAt = at + PROC_EVENT.comm[0] - 8;
    }
  }

  get exec(): boolean {
    return this.what === ProcWhat.Exec;
  }

  get threadExit(): boolean {
    return this.what === ProcWhat.ThreadExit;
  }

  get comm(): string {
    return cString(this.#bytes, this.#commAt, PROC_EVENT.comm[1]);
  }

  toJSON(): Record<string, unknown> {
    const type = this.exec ? 'exec' : this.threadExit ? 'thread_exit' : 'exit';
    return { type, pid: this.pid, tid: this.tid, ppid: this.ppid, comm: this.comm, tsNs: this.tsNs, cgroupId: this.cgroupId };
  }
}

/** Trace profiling: one long off-CPU interval (by cause) or run-queue wait of a tracked thread. */
export class SliceEvent {
  readonly kind: typeof Kind.Slice = Kind.Slice;
  readonly what: number;
  readonly pid: number;
  readonly tid: number;
  readonly startNs: number;
  readonly endNs: number;

  constructor(_bytes: Uint8Array, dv: DataView, at: number) {
    this.what = dv.getUint8(at + SLICE_EVENT.what[0]);
    this.pid = dv.getUint32(at + SLICE_EVENT.pid[0], true);
    this.tid = dv.getUint32(at + SLICE_EVENT.tid[0], true);
    this.startNs = u64(dv, at + SLICE_EVENT.start_ns[0]);
    this.endNs = u64(dv, at + SLICE_EVENT.end_ns[0]);
  }

  /** 'runq', or the off-CPU cause */
  get cause(): string {
    return this.what === SLICE_RUNQ ? 'runq' : (OFFCPU_CAUSES[this.what] ?? 'other');
  }

  toJSON(): Record<string, unknown> {
    return { type: 'slice', pid: this.pid, tid: this.tid, cause: this.cause, startNs: this.startNs, endNs: this.endNs };
  }
}

/** Trace profiling tier 3: a thread's user stack at the exit of a syscall it blocked in for >= 1 ms. */
export class StackEvent {
  readonly kind: typeof Kind.Stack = Kind.Stack;
  readonly causeIndex: number;
  readonly flags: number;
  readonly pid: number;
  readonly tid: number;
  readonly syscallNr: number;
  readonly blockStartNs: number;
  readonly blockEndNs: number;
  /** user return addresses, innermost first (exact as numbers: user space is below 2^47) */
  readonly frames: number[];
  /** user stack and frame pointers at the syscall, and the stack words from sp up (see kindling_abi.h) */
  readonly sp: number;
  readonly bp: number;
  readonly scan: number[];

  constructor(_bytes: Uint8Array, dv: DataView, at: number) {
    this.causeIndex = dv.getUint8(at + STACK_EVENT.cause[0]);
    this.flags = dv.getUint8(at + STACK_EVENT.flags[0]);
    this.pid = dv.getUint32(at + STACK_EVENT.pid[0], true);
    this.tid = dv.getUint32(at + STACK_EVENT.tid[0], true);
    this.syscallNr = dv.getInt32(at + STACK_EVENT.syscall_nr[0], true);
    this.blockStartNs = u64(dv, at + STACK_EVENT.block_start_ns[0]);
    this.blockEndNs = u64(dv, at + STACK_EVENT.block_end_ns[0]);
    // checkRecord made sure the record is whole and its counts in range
    const n = dv.getUint16(at + STACK_EVENT.nframes[0], true);
    this.frames = new Array<number>(n);
    for (let i = 0; i < n; i++) this.frames[i] = u64(dv, at + STACK_EVENT.frames[0] + 8 * i);
    this.sp = u64(dv, at + STACK_EVENT.user_sp[0]);
    this.bp = u64(dv, at + STACK_EVENT.user_bp[0]);
    const words = dv.getUint16(at + STACK_EVENT.nscan[0], true);
    this.scan = new Array<number>(words);
    for (let i = 0; i < words; i++) this.scan[i] = u64(dv, at + STACK_EVENT.scan[0] + 8 * i);
  }

  get cause(): string {
    return OFFCPU_CAUSES[this.causeIndex] ?? 'other';
  }

  get truncated(): boolean {
    return (this.flags & STACK_TRUNCATED) !== 0;
  }

  toJSON(): Record<string, unknown> {
    return {
      type: 'stack',
      pid: this.pid,
      tid: this.tid,
      cause: this.cause,
      syscallNr: this.syscallNr,
      blockStartNs: this.blockStartNs,
      blockEndNs: this.blockEndNs,
      truncated: this.truncated,
      frames: this.frames.map((f) => `0x${f.toString(16)}`),
    };
  }
}

export type KindlingEvent = SockEvent | SockStateEvent | ProcEvent | SliceEvent | StackEvent;
