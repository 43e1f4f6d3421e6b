/**
 * The event ABI as the decoder sees it: every offset and constant mirrored from
 * bpf/shared/kindling_abi.h, in this one file. A test compares this table with
 * the one bpf/tools/abi_dump.c prints from offsetof at build time, so the two
 * cannot drift apart silently.
 *
 * Each field is [offset, size] in bytes.
 */

export const ABI_VERSION = 6;
/** recordings made with these ABI versions decode with this one (kinds were only added since) */
/** v5 grew the process record (tid): older recordings decode with a v4 process layout, see decode.ts; v6 added stack records */
export const READABLE_ABI_VERSIONS: readonly number[] = [1, 2, 3, 4, 5, 6];
export const PAYLOAD_MAX = 4096;
export const PAYLOAD_DEFAULT = 512;
export const MAX_IOV = 16;
export const MAX_MMSG = 8;

export const Kind = {
  SockData: 1,
  SockConn: 2,
  SockState: 3,
  Proc: 4,
  Slice: 5,
  Stack: 6,
} as const;

export const SOCK_EVENT_SIZE = 152;
export const SOCK_EVENT = {
  kind: [0, 2],
  size: [2, 2],
  hook: [4, 2],
  direction: [6, 1],
  flags: [7, 1],
  pid: [8, 4],
  tid: [12, 4],
  fd: [16, 4],
  family: [20, 2],
  sock_type: [22, 2],
  cgroup_id: [24, 8],
  enter_ns: [32, 8],
  exit_ns: [40, 8],
  ret: [48, 8],
  len: [56, 8],
  sock_id: [64, 8],
  sk: [72, 8],
  offset: [80, 8],
  local_addr: [88, 16],
  remote_addr: [104, 16],
  local_port: [120, 2],
  remote_port: [122, 2],
  payload_len: [124, 2],
  msg_index: [126, 2],
  protocol: [128, 2],
  msg_count: [130, 2],
  comm: [136, 16],
} as const;

export const SCHED_SNAPSHOT_SIZE = 128;
export const SCHED_SNAPSHOT = {
  on_ns: [0, 8],
  runq_ns: [8, 8],
  off_ns: [16, 64],
  slice_start_ns: [80, 8],
  voluntary: [88, 4],
  involuntary: [92, 4],
} as const;

export const SOCK_STATE_EVENT_SIZE = 104;
export const SOCK_STATE_EVENT = {
  kind: [0, 2],
  size: [2, 2],
  family: [4, 2],
  protocol: [6, 2],
  pid: [8, 4],
  tid: [12, 4],
  ts_ns: [16, 8],
  sk: [24, 8],
  sock_id: [32, 8],
  old_state: [40, 4],
  new_state: [44, 4],
  local_addr: [48, 16],
  remote_addr: [64, 16],
  local_port: [80, 2],
  remote_port: [82, 2],
  comm: [88, 16],
} as const;

export const PROC_EVENT_SIZE = 56;
export const PROC_EVENT = {
  kind: [0, 2],
  size: [2, 2],
  what: [4, 2],
  pid: [8, 4],
  ppid: [12, 4],
  tid: [16, 4],
  ts_ns: [24, 8],
  cgroup_id: [32, 8],
  comm: [40, 16],
} as const;

export const SLICE_EVENT_SIZE = 32;
export const SLICE_EVENT = {
  kind: [0, 2],
  size: [2, 2],
  what: [4, 1],
  pid: [8, 4],
  tid: [12, 4],
  start_ns: [16, 8],
  end_ns: [24, 8],
} as const;
/** KD_KIND_SLICE.what for a run-queue wait (otherwise an off-CPU cause index) */
export const SLICE_RUNQ = 255;

/** KD_KIND_STACK: nframes user return addresses (innermost first), then nscan words from the user stack pointer up */
export const STACK_MAX_FRAMES = 32;
export const STACK_SCAN_WORDS = 64;
export const STACK_HEADER_SIZE = 56;
export const STACK_EVENT_SIZE = STACK_HEADER_SIZE + 8 * (STACK_MAX_FRAMES + STACK_SCAN_WORDS);
export const STACK_EVENT = {
  kind: [0, 2],
  size: [2, 2],
  cause: [4, 1],
  flags: [5, 1],
  nframes: [6, 2],
  pid: [8, 4],
  tid: [12, 4],
  syscall_nr: [16, 4],
  nscan: [20, 2],
  block_start_ns: [24, 8],
  block_end_ns: [32, 8],
  user_sp: [40, 8],
  user_bp: [48, 8],
  frames: [56, 8 * STACK_MAX_FRAMES],
  scan: [56 + 8 * STACK_MAX_FRAMES, 8 * STACK_SCAN_WORDS],
} as const;
/** enum kd_stack_flag */
export const STACK_TRUNCATED = 1 << 0;

/** enum kd_proc_what */
export const ProcWhat = { Exec: 1, Exit: 2, ThreadExit: 3 } as const;

/** enum kd_hook: index = value */
export const HOOK_NAMES = [
  'none',
  'read',
  'write',
  'readv',
  'writev',
  'sendto',
  'recvfrom',
  'sendmsg',
  'recvmsg',
  'sendmmsg',
  'recvmmsg',
  'connect',
  'accept',
  'accept4',
  'close',
  'inet_sock_set_state',
  'process_exec',
  'process_exit',
  'sched_switch',
  'sendfile',
  'sys_exit',
] as const;
export type HookName = (typeof HOOK_NAMES)[number];
export const HOOK_COUNT = HOOK_NAMES.length;

/** enum kd_counter: index = value */
export const COUNTER_NAMES = [
  'emitted',
  'lost_ringbuf_full',
  'lost_no_task_storage',
  'lost_mmsg_overflow',
  'lost_no_scratch',
  'payload_fault',
  'iov_truncated',
  'skipped_eagain',
  'throttled',
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];
export const CNT_COUNT = COUNTER_NAMES.length;

export const Direction = { None: 0, Egress: 1, Ingress: 2 } as const;
export const DIRECTION_NAMES = ['none', 'egress', 'ingress'] as const;

export const Flag = {
  PayloadTruncated: 1 << 0,
  PayloadFault: 1 << 1,
  IovTruncated: 1 << 2,
  Sched: 1 << 3,
  AddrFromMsg: 1 << 4,
} as const;

export const OFFCPU_CAUSES = ['disk', 'lock', 'net', 'idle', 'sleep', 'pipe', 'nonsys', 'other'] as const;
export const OFF_COUNT = OFFCPU_CAUSES.length;

export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

/** TCP states as the kernel numbers them (include/net/tcp_states.h) */
export const TCP_STATE_NAMES: Readonly<Record<number, string>> = {
  1: 'ESTABLISHED',
  2: 'SYN_SENT',
  3: 'SYN_RECV',
  4: 'FIN_WAIT1',
  5: 'FIN_WAIT2',
  6: 'TIME_WAIT',
  7: 'CLOSE',
  8: 'CLOSE_WAIT',
  9: 'LAST_ACK',
  10: 'LISTEN',
  11: 'CLOSING',
  12: 'NEW_SYN_RECV',
};
