/** Builds raw records with the ABI offsets, for decoder and recording tests. */
import { Flag, Kind, SCHED_SNAPSHOT_SIZE, SOCK_EVENT, SOCK_EVENT_SIZE, SOCK_STATE_EVENT, SOCK_STATE_EVENT_SIZE } from '../../src/events/abi';
import { align8 } from '../../src/events/decode';

export interface SockRecordInit {
  kind?: number;
  hook?: number;
  direction?: number;
  flags?: number;
  pid?: number;
  tid?: number;
  fd?: number;
  family?: number;
  protocol?: number;
  enterNs?: bigint;
  exitNs?: bigint;
  ret?: bigint;
  len?: bigint;
  sockId?: bigint;
  offset?: bigint;
  local?: number[];
  remote?: number[];
  localPort?: number;
  remotePort?: number;
  comm?: string;
  payload?: Uint8Array;
  sched?: boolean;
}

export function sockRecord(o: SockRecordInit = {}): Buffer {
  const payload = o.payload ?? Buffer.alloc(0);
  const schedBytes = o.sched ? SCHED_SNAPSHOT_SIZE : 0;
  const size = SOCK_EVENT_SIZE + schedBytes + payload.length;
  const b = Buffer.alloc(align8(size));
  const F = SOCK_EVENT;
  b.writeUInt16LE(o.kind ?? Kind.SockData, F.kind[0]);
  b.writeUInt16LE(size, F.size[0]);
  b.writeUInt16LE(o.hook ?? 2, F.hook[0]);
  b.writeUInt8(o.direction ?? 1, F.direction[0]);
  b.writeUInt8((o.flags ?? 0) | (o.sched ? Flag.Sched : 0), F.flags[0]);
  b.writeUInt32LE(o.pid ?? 100, F.pid[0]);
  b.writeUInt32LE(o.tid ?? 101, F.tid[0]);
  b.writeInt32LE(o.fd ?? 7, F.fd[0]);
  b.writeUInt16LE(o.family ?? 2, F.family[0]);
  b.writeUInt16LE(1, F.sock_type[0]);
  b.writeBigUInt64LE(1234n, F.cgroup_id[0]);
  b.writeBigUInt64LE(o.enterNs ?? 1_000n, F.enter_ns[0]);
  b.writeBigUInt64LE(o.exitNs ?? 2_000n, F.exit_ns[0]);
  b.writeBigInt64LE(o.ret ?? BigInt(payload.length), F.ret[0]);
  b.writeBigUInt64LE(o.len ?? BigInt(payload.length), F.len[0]);
  b.writeBigUInt64LE(o.sockId ?? 555n, F.sock_id[0]);
  b.writeBigUInt64LE(0xffff888812345678n, F.sk[0]);
  b.writeBigUInt64LE(o.offset ?? 0n, F.offset[0]);
  Buffer.from(o.local ?? [127, 0, 0, 1]).copy(b, F.local_addr[0]);
  Buffer.from(o.remote ?? [127, 0, 0, 1]).copy(b, F.remote_addr[0]);
  b.writeUInt16LE(o.localPort ?? 40000, F.local_port[0]);
  b.writeUInt16LE(o.remotePort ?? 80, F.remote_port[0]);
  b.writeUInt16LE(payload.length, F.payload_len[0]);
  b.writeUInt16LE(6, F.protocol[0]);
  b.writeUInt16LE(1, F.msg_count[0]);
  b.write(o.comm ?? 'curl', F.comm[0], 'latin1');
  Buffer.from(payload).copy(b, SOCK_EVENT_SIZE + schedBytes);
  return b;
}

export function stateRecord(o: { oldState?: number; newState?: number; localPort?: number; remotePort?: number } = {}): Buffer {
  const b = Buffer.alloc(SOCK_STATE_EVENT_SIZE);
  const F = SOCK_STATE_EVENT;
  b.writeUInt16LE(Kind.SockState, F.kind[0]);
  b.writeUInt16LE(SOCK_STATE_EVENT_SIZE, F.size[0]);
  b.writeUInt16LE(2, F.family[0]);
  b.writeUInt16LE(6, F.protocol[0]);
  b.writeUInt32LE(300, F.pid[0]);
  b.writeUInt32LE(300, F.tid[0]);
  b.writeBigUInt64LE(9_000n, F.ts_ns[0]);
  b.writeInt32LE(o.oldState ?? 2, F.old_state[0]);
  b.writeInt32LE(o.newState ?? 1, F.new_state[0]);
  Buffer.from([10, 0, 0, 1]).copy(b, F.local_addr[0]);
  Buffer.from([10, 0, 0, 2]).copy(b, F.remote_addr[0]);
  b.writeUInt16LE(o.localPort ?? 5555, F.local_port[0]);
  b.writeUInt16LE(o.remotePort ?? 443, F.remote_port[0]);
  b.write('ksoftirqd/0', F.comm[0], 'latin1');
  return b;
}
