/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* Per-thread scheduler accounting state (see sched.bpf.h); kept in the task storage stash. */
#ifndef KINDLING_SCHED_TYPES_H
#define KINDLING_SCHED_TYPES_H

enum thread_run_state {
	TS_UNTRACKED = 0,
	TS_RUNNING = 1,
	TS_RUNNABLE = 2, /* preempted, or woken: waiting in the run queue since wake_ts */
	TS_BLOCKED = 3,  /* off CPU since off_start, for `cause` */
};

struct sched_track {
	__u64 on_ns;
	__u64 runq_ns;
	__u64 off_ns[KD_OFF_COUNT];
	__u64 slice_start;
	__u64 off_start;
	__u64 wake_ts;
	__u32 voluntary;
	__u32 involuntary;
	__u8 state;
	__u8 cause;
	__u8 _pad[2];
	/* slice records: a token bucket (tokens, refilled by time) bounds them per thread */
	__u32 slice_tokens;
	__u64 slice_refill_ns;
	/* tier 3 (stacks): the last long block, until a syscall exit takes its stack */
	__u64 stack_start;
	__u64 stack_end;
	__s32 block_nr;    /* the syscall the thread blocked in (set at switch-out), -1 outside one */
	__s32 stack_nr;    /* ... and that of the pending block */
	__u8 stack_cause;
	__u8 stack_pending;
	__u8 _pad2[6];
	/* the task's se.sum_exec_runtime when it last left the CPU: what it ran after a missed switch-in */
	__u64 exec_mark;
};

#endif /* KINDLING_SCHED_TYPES_H */
