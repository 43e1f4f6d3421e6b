/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event ABI between the kernel programs (bpf/), the addon (native/) and the
 * TypeScript decoder (receiver/src/events/abi.ts).
 *
 * Every record starts with { u16 kind; u16 size; }. Layouts use natural alignment
 * with explicit padding and are checked by _Static_assert here and, on the
 * TypeScript side, by a test that compares abi.ts with the table that
 * bpf/tools/abi_dump.c prints from offsetof at build time.
 *
 * Bump KD_ABI_VERSION on any change to a record; recordings carry it.
 */
#ifndef KINDLING_ABI_H
#define KINDLING_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define KD_ABI_VERSION 6

/* payload prefix limits: the runtime cap is a power of two <= KD_PAYLOAD_MAX */
#define KD_PAYLOAD_MAX 4096
#define KD_PAYLOAD_DEFAULT 512
/* iovecs walked per message, messages walked per sendmmsg/recvmmsg */
#define KD_MAX_IOV 16
#define KD_MAX_MMSG 8

/* record kinds: the first field of every record */
enum kd_kind {
	KD_KIND_SOCK_DATA = 1,  /* a read/write-family syscall on a TCP/UDP socket */
	KD_KIND_SOCK_CONN = 2,  /* connect, accept, accept4 or close of a TCP/UDP socket */
	KD_KIND_SOCK_STATE = 3, /* sock:inet_sock_set_state */
	KD_KIND_PROC = 4,       /* sched:sched_process_exec / sched_process_exit: identity caches refresh */
	KD_KIND_SLICE = 5,      /* trace profiling: one long off-CPU or run-queue interval of a tracked thread */
	KD_KIND_STACK = 6,      /* trace profiling tier 3: the user stack of a thread after a long block */
};

/* the syscall (or hook) a record came from; also indexes the counters */
enum kd_hook {
	KD_HOOK_NONE = 0,
	KD_HOOK_READ = 1,
	KD_HOOK_WRITE = 2,
	KD_HOOK_READV = 3,
	KD_HOOK_WRITEV = 4,
	KD_HOOK_SENDTO = 5,
	KD_HOOK_RECVFROM = 6,
	KD_HOOK_SENDMSG = 7,
	KD_HOOK_RECVMSG = 8,
	KD_HOOK_SENDMMSG = 9,
	KD_HOOK_RECVMMSG = 10,
	KD_HOOK_CONNECT = 11,
	KD_HOOK_ACCEPT = 12,
	KD_HOOK_ACCEPT4 = 13,
	KD_HOOK_CLOSE = 14,
	KD_HOOK_INET_SOCK_SET_STATE = 15,
	KD_HOOK_PROCESS_EXEC = 16,
	KD_HOOK_PROCESS_EXIT = 17,
	KD_HOOK_SCHED_SWITCH = 18,
	KD_HOOK_SENDFILE = 19, /* sendfile64: bytes sent from a file, no payload (they are file data) */
	KD_HOOK_SYS_EXIT = 20, /* raw syscall exit: stack records (profiling.stacks) */
	KD_HOOK_COUNT = 21,
};

enum kd_direction {
	KD_DIR_NONE = 0,
	KD_DIR_EGRESS = 1,  /* the process sent these bytes */
	KD_DIR_INGRESS = 2, /* the process received these bytes */
};

/* kd_sock_event.flags */
enum kd_flag {
	KD_FLAG_PAYLOAD_TRUNCATED = 1 << 0, /* payload_len < len */
	KD_FLAG_PAYLOAD_FAULT = 1 << 1,     /* a user-memory read failed; payload is short */
	KD_FLAG_IOV_TRUNCATED = 1 << 2,     /* more than KD_MAX_IOV iovecs; payload stops there */
	KD_FLAG_SCHED = 1 << 3,             /* a struct kd_sched_snapshot follows the header */
	KD_FLAG_ADDR_FROM_MSG = 1 << 4,     /* remote address came from the call's sockaddr */
};

/* per-hook counters, summed over CPUs by user space */
enum kd_counter {
	KD_CNT_EMITTED = 0,        /* records written to the ring buffer */
	KD_CNT_LOST_RINGBUF = 1,   /* lost: ring buffer full */
	KD_CNT_LOST_STASH = 2,     /* lost: no per-thread storage for the enter->exit stash */
	KD_CNT_LOST_MMSG = 3,      /* lost: messages past KD_MAX_MMSG in one mmsg call */
	KD_CNT_LOST_SCRATCH = 4,   /* lost: per-CPU scratch unavailable */
	KD_CNT_PAYLOAD_FAULT = 5,  /* emitted with KD_FLAG_PAYLOAD_FAULT */
	KD_CNT_IOV_TRUNCATED = 6,  /* emitted with KD_FLAG_IOV_TRUNCATED */
	KD_CNT_SKIPPED_EAGAIN = 7, /* not emitted by design: -EAGAIN on a non-blocking socket */
	KD_CNT_THROTTLED = 8,      /* not emitted by design: over the per-thread slice budget */
	KD_CNT_COUNT = 9,
};

/* causes of off-CPU time for trace profiling (see PROFILING.md) */
enum kd_offcpu_cause {
	KD_OFF_DISK = 0,
	KD_OFF_LOCK = 1,
	KD_OFF_NET = 2,
	KD_OFF_IDLE = 3,
	KD_OFF_SLEEP = 4,
	KD_OFF_PIPE = 5,
	KD_OFF_NONSYS = 6,
	KD_OFF_OTHER = 7,
	KD_OFF_COUNT = 8,
};

/*
 * Cumulative scheduler counters of the calling thread, copied into a socket
 * event when KD_FLAG_SCHED is set (trace profiling). Reserved now so that the
 * data path's layout does not change when profiling lands.
 */
struct kd_sched_snapshot {
	__u64 on_ns;                  /* on-CPU time, closed slices */
	__u64 runq_ns;                /* waiting in the run queue */
	__u64 off_ns[KD_OFF_COUNT];   /* blocked, by cause */
	__u64 slice_start_ns;         /* start of the open on-CPU slice */
	__u32 voluntary;              /* voluntary context switches */
	__u32 involuntary;            /* involuntary context switches */
	__u64 reserved[4];
};

/*
 * KD_KIND_SOCK_DATA and KD_KIND_SOCK_CONN.
 *
 * Data records: one per read/write-family syscall (one per message for
 * sendmmsg/recvmmsg), followed by an optional kd_sched_snapshot and then
 * payload_len bytes of payload.
 * Connection records: connect/accept/accept4/close; no payload, direction NONE,
 * len and offset 0. For accept the fd is the new socket.
 */
struct kd_sock_event {
	__u16 kind;
	__u16 size;           /* whole record in bytes, payload included */
	__u16 hook;           /* enum kd_hook: which syscall */
	__u8 direction;       /* enum kd_direction */
	__u8 flags;           /* enum kd_flag */
	__u32 pid;            /* tgid */
	__u32 tid;
	__s32 fd;
	__u16 family;         /* AF_INET or AF_INET6 */
	__u16 sock_type;      /* SOCK_STREAM or SOCK_DGRAM */
	__u64 cgroup_id;
	__u64 enter_ns;       /* CLOCK_MONOTONIC (bpf_ktime_get_ns) at syscall enter */
	__u64 exit_ns;        /* ... and at syscall exit */
	__s64 ret;            /* the syscall's true return value */
	__u64 len;            /* bytes this record covers (the message's length for mmsg) */
	__u64 sock_id;        /* socket inode number: unique while the socket lives, new on fd reuse */
	__u64 sk;             /* kernel struct sock address: joins KD_KIND_SOCK_STATE */
	__u64 offset;         /* bytes moved in this direction on this socket before this record */
	__u8 local_addr[16];  /* IPv4 in the first 4 bytes, network order */
	__u8 remote_addr[16];
	__u16 local_port;     /* host order */
	__u16 remote_port;    /* host order */
	__u16 payload_len;
	__u16 msg_index;      /* message index within sendmmsg/recvmmsg, else 0 */
	__u16 protocol;       /* IPPROTO_TCP or IPPROTO_UDP */
	__u16 msg_count;      /* messages this mmsg call moved (capped at KD_MAX_MMSG), else 1 */
	__u32 _pad0;
	char comm[16];
};

/* KD_KIND_SOCK_STATE: a TCP state transition from sock:inet_sock_set_state */
struct kd_sock_state_event {
	__u16 kind;
	__u16 size;
	__u16 family;
	__u16 protocol;
	__u32 pid;            /* the task current when it fired: may be unrelated (softirq) */
	__u32 tid;
	__u64 ts_ns;
	__u64 sk;
	__u64 sock_id;        /* socket inode number, 0 when the sock has no socket yet */
	__s32 old_state;
	__s32 new_state;
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u16 local_port;
	__u16 remote_port;
	__u32 _pad0;
	char comm[16];
};

/* KD_KIND_PROC: a process replaced its image (exec) or ended (exit of its last thread) */
enum kd_proc_what {
	KD_PROC_EXEC = 1,
	KD_PROC_EXIT = 2,
	KD_PROC_THREAD_EXIT = 3, /* a tracked thread (trace profiling) ended: its state can go */
};

struct kd_proc_event {
	__u16 kind;
	__u16 size;
	__u16 what;           /* enum kd_proc_what */
	__u16 _pad0;
	__u32 pid;            /* tgid */
	__u32 ppid;           /* the parent's tgid */
	__u32 tid;            /* the thread (exec: the new leader; thread exit: the thread that ended) */
	__u32 _pad1;
	__u64 ts_ns;
	__u64 cgroup_id;
	char comm[16];
};

/* KD_KIND_SLICE.what: an off-CPU cause (enum kd_offcpu_cause), or a run-queue wait */
#define KD_SLICE_RUNQ 255

struct kd_slice_event {
	__u16 kind;
	__u16 size;
	__u8 what;            /* enum kd_offcpu_cause, or KD_SLICE_RUNQ */
	__u8 _pad0;
	__u16 _pad1;
	__u32 pid;
	__u32 tid;
	__u64 start_ns;
	__u64 end_ns;
};

/* KD_KIND_STACK: frames[] holds nframes user return addresses, innermost first */
#define KD_STACK_MAX_FRAMES 32
/* words copied from the user stack pointer up (see scan[]) */
#define KD_STACK_SCAN_WORDS 64

/* kd_stack_event.flags */
enum kd_stack_flag {
	KD_STACK_TRUNCATED = 1 << 0, /* the walk filled frames[]: outer frames are missing */
};

struct kd_stack_event {
	__u16 kind;
	__u16 size;
	__u8 cause;           /* enum kd_offcpu_cause of the block */
	__u8 flags;           /* enum kd_stack_flag */
	__u16 nframes;        /* valid entries of frames[] */
	__u32 pid;
	__u32 tid;
	__s32 syscall_nr;     /* the syscall that blocked (x86_64 numbers) */
	__u16 nscan;          /* valid entries of scan[]: KD_STACK_SCAN_WORDS, or 0 when unreadable */
	__u16 _pad0;
	__u64 block_start_ns; /* the block: off CPU from start to end (the wake-up) */
	__u64 block_end_ns;
	__u64 user_sp;        /* user stack and frame pointers at the syscall */
	__u64 user_bp;
	__u64 frames[KD_STACK_MAX_FRAMES];
	/*
	 * The words at user_sp upward. A leaf without frame pointers (Debian's libc)
	 * hides its caller from the frame-pointer walk; user space finds that
	 * caller's return address here, below user_bp.
	 */
	__u64 scan[KD_STACK_SCAN_WORDS];
};

#ifdef __cplusplus
#define KD_STATIC_ASSERT static_assert
#else
#define KD_STATIC_ASSERT _Static_assert
#endif

#define KD_SOCK_EVENT_SIZE 152
#define KD_SCHED_SNAPSHOT_SIZE 128
#define KD_SOCK_STATE_EVENT_SIZE 104
#define KD_PROC_EVENT_SIZE 56
#define KD_SLICE_EVENT_SIZE 32
#define KD_STACK_HEADER_SIZE 56
#define KD_STACK_EVENT_SIZE (KD_STACK_HEADER_SIZE + 8 * (KD_STACK_MAX_FRAMES + KD_STACK_SCAN_WORDS))

KD_STATIC_ASSERT(sizeof(struct kd_sock_event) == KD_SOCK_EVENT_SIZE, "kd_sock_event size");
KD_STATIC_ASSERT(sizeof(struct kd_sched_snapshot) == KD_SCHED_SNAPSHOT_SIZE, "kd_sched_snapshot size");
KD_STATIC_ASSERT(sizeof(struct kd_sock_state_event) == KD_SOCK_STATE_EVENT_SIZE, "kd_sock_state_event size");
KD_STATIC_ASSERT(sizeof(struct kd_proc_event) == KD_PROC_EVENT_SIZE, "kd_proc_event size");
KD_STATIC_ASSERT(sizeof(struct kd_slice_event) == KD_SLICE_EVENT_SIZE, "kd_slice_event size");
KD_STATIC_ASSERT(sizeof(struct kd_stack_event) == KD_STACK_EVENT_SIZE, "kd_stack_event size");
KD_STATIC_ASSERT(__builtin_offsetof(struct kd_stack_event, frames) == KD_STACK_HEADER_SIZE, "kd_stack_event header");
KD_STATIC_ASSERT((KD_PAYLOAD_MAX & (KD_PAYLOAD_MAX - 1)) == 0, "KD_PAYLOAD_MAX is a power of two");

/* per-CPU counters: one element, summed by user space */
struct kd_counters {
	__u64 hook[KD_HOOK_COUNT][KD_CNT_COUNT];
};

#endif /* KINDLING_ABI_H */
