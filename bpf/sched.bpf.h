/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * Trace profiling, tier 1: per-thread scheduler accounting in the same task
 * storage as the capture stash, so a thread is tracked from its first socket
 * syscall (and its new threads from their fork). At every context switch of a
 * tracked thread: close its on-CPU slice; if it blocked, remember when and
 * why (the syscall it sleeps in, the fd's file type, in_iowait); at wake-up,
 * add the blocked time to its cause; at switch-in, add the run-queue wait.
 * Capture records of tracked threads carry a snapshot of the counters
 * (KD_FLAG_SCHED): a span's breakdown is the difference of two snapshots.
 *
 * Included by kindling.bpf.c; x86_64 syscall numbers.
 */
#ifndef KINDLING_SCHED_BPF_H
#define KINDLING_SCHED_BPF_H

#define S_IFREG 0100000
#define S_IFBLK 0060000
#define S_IFIFO 0010000

/* the file type (S_IFMT bits) of a task's fd, 0 when unknown */
static __always_inline umode_t fd_mode(struct task_struct *task, int fd)
{
	struct file *file = NULL;
	struct fdtable *fdt;
	struct inode *inode;

	if (fd < 0)
		return 0;
	fdt = task->files->fdt;
	if ((unsigned int)fd >= fdt->max_fds)
		return 0;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fdt->fd[fd]) || !file)
		return 0;
	file = KD_TYPED(struct file, file);
	inode = KD_FIELD(file, f_inode);
	return inode ? (KD_FIELD(inode, i_mode) & S_IFMT) : 0;
}

/* why a thread that is switching out blocked */
static __always_inline __u8 offcpu_cause(struct task_struct *prev)
{
	struct pt_regs *regs;
	long nr;

	/* waiting for I/O wherever it happens: page faults and reads of files alike */
	if (BPF_CORE_READ_BITFIELD(prev, in_iowait))
		return KD_OFF_DISK;
	regs = (struct pt_regs *)bpf_task_pt_regs(prev);
	if (!regs)
		return KD_OFF_OTHER;
	nr = BPF_CORE_READ(regs, orig_ax);
	switch (nr) {
	case 202: /* futex */
	case 449: /* futex_waitv */
		return KD_OFF_LOCK;
	case 35:  /* nanosleep */
	case 230: /* clock_nanosleep */
		return KD_OFF_SLEEP;
	case 7:   /* poll */
	case 23:  /* select */
	case 232: /* epoll_wait */
	case 270: /* pselect6 */
	case 271: /* ppoll */
	case 281: /* epoll_pwait */
	case 441: /* epoll_pwait2 */
	case 43:  /* accept */
	case 288: /* accept4 */
		return KD_OFF_IDLE;
	case 74:  /* fsync */
	case 75:  /* fdatasync */
	case 277: /* sync_file_range */
	case 306: /* syncfs */
		return KD_OFF_DISK;
	case 42:  /* connect */
	case 44:  /* sendto */
	case 45:  /* recvfrom */
	case 46:  /* sendmsg */
	case 47:  /* recvmsg */
	case 299: /* recvmmsg */
	case 307: /* sendmmsg */
		return KD_OFF_NET;
	case 0:   /* read */
	case 1:   /* write */
	case 17:  /* pread64 */
	case 18:  /* pwrite64 */
	case 19:  /* readv */
	case 20:  /* writev */
	case 295: /* preadv */
	case 296: /* pwritev */ {
		umode_t mode = fd_mode(prev, (int)BPF_CORE_READ(regs, di));

		if (mode == S_IFSOCK)
			return KD_OFF_NET;
		if (mode == S_IFIFO)
			return KD_OFF_PIPE;
		if (mode == S_IFREG || mode == S_IFBLK)
			return KD_OFF_DISK;
		return KD_OFF_OTHER;
	}
	case -1:  /* not in a syscall: a fault, or preempted in the kernel */
		return KD_OFF_NONSYS;
	default:
		return KD_OFF_OTHER;
	}
}

/* start tracking a thread (its storage was just created) */
static __always_inline void track_start(struct sched_track *t, __u64 now)
{
	if (t->state != TS_UNTRACKED)
		return;
	t->state = TS_RUNNING;
	t->slice_start = now;
}

/*
 * The thread is running right now (it is the one calling). If its switch-in
 * was missed (seen here when another kernel thread held the CPU around the
 * transition), close what was pending at this moment instead of carrying a
 * stale state into the next switch.
 */
static __always_inline void ensure_running(struct sched_track *t, __u64 now, __u64 cpu_ns)
{
	__u64 since, ran = 0;

	if (t->state == TS_RUNNING || t->state == TS_UNTRACKED)
		return;
	since = t->state == TS_BLOCKED ? t->off_start : t->wake_ts;
	/* the CPU time the task used since it last left the CPU: it ran that long since the switch-in we missed */
	if (cpu_ns > t->exec_mark && now > since) {
		ran = cpu_ns - t->exec_mark;
		if (ran > now - since)
			ran = now - since;
	}
	if (t->state == TS_BLOCKED) {
		if (t->cause < KD_OFF_COUNT && now - ran > t->off_start)
			t->off_ns[t->cause] += now - ran - t->off_start;
	} else if (now - ran > t->wake_ts) {
		t->runq_ns += now - ran - t->wake_ts;
	}
	t->state = TS_RUNNING;
	t->slice_start = now - ran;
}

/* the counters as of now, for a thread that is running (it is the one calling) */
static __always_inline void sched_snapshot(struct kd_sched_snapshot *s, struct sched_track *t, __u64 now)
{
	s->on_ns = t->on_ns + (t->state == TS_RUNNING && now > t->slice_start ? now - t->slice_start : 0);
	s->runq_ns = t->runq_ns;
	for (int i = 0; i < KD_OFF_COUNT; i++)
		s->off_ns[i] = t->off_ns[i];
	s->slice_start_ns = now;
	s->voluntary = t->voluntary;
	s->involuntary = t->involuntary;
	s->reserved[0] = 0;
	s->reserved[1] = 0;
	s->reserved[2] = 0;
	s->reserved[3] = 0;
}

static __always_inline struct sched_track *tracked(struct task_struct *task)
{
	struct stash *st;

	if (bpf_core_field_exists(task->bpf_storage) && !task->bpf_storage)
		return NULL;
	st = bpf_task_storage_get(&stash_map, task, 0, 0);
	if (!st || st->track.state == TS_UNTRACKED)
		return NULL;
	return &st->track;
}

/* slices shorter than this are not recorded (they are counted in the totals all the same) */
#define SLICE_MIN_NS 100000ULL
/* per thread: a burst of this many slice records, refilled at this many per second */
#define SLICE_BURST 64
#define SLICE_PER_SEC 200

static __always_inline bool slice_budget(struct sched_track *t, __u64 now)
{
	__u64 refill = (now - t->slice_refill_ns) * SLICE_PER_SEC / 1000000000ULL;

	if (refill) {
		t->slice_tokens = t->slice_tokens + refill > SLICE_BURST ? SLICE_BURST : t->slice_tokens + (__u32)refill;
		t->slice_refill_ns = now;
	}
	if (!t->slice_tokens)
		return false;
	t->slice_tokens--;
	return true;
}

/* one interval of a tracked thread for tier 2: off-CPU by cause, or waiting in the run queue */
static __always_inline void emit_slice(struct task_struct *task, struct sched_track *t, __u8 what, __u64 start, __u64 end)
{
	struct kd_slice_event *e;

	if (!slices || end - start < SLICE_MIN_NS)
		return;
	if (!slice_budget(t, end)) {
		count(KD_HOOK_SCHED_SWITCH, KD_CNT_THROTTLED, 1);
		return;
	}
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(KD_HOOK_SCHED_SWITCH, KD_CNT_LOST_RINGBUF, 1);
		return;
	}
	e->kind = KD_KIND_SLICE;
	e->size = sizeof(*e);
	e->what = what;
	e->_pad0 = 0;
	e->_pad1 = 0;
	e->pid = task->tgid;
	e->tid = task->pid;
	e->start_ns = start;
	e->end_ns = end;
	/* never a wake-up: slices are read with the next batch */
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	count(KD_HOOK_SCHED_SWITCH, KD_CNT_EMITTED, 1);
}

/* blocks at least this long leave their user stack to be taken (tier 3) */
#define STACK_MIN_NS 1000000ULL

/* the syscall a task is in (x86_64 numbers), -1 outside one */
static __always_inline __s32 task_syscall(struct task_struct *task)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);

	return regs ? (__s32)BPF_CORE_READ(regs, orig_ax) : -1;
}

/*
 * Tier 3: a long block inside a syscall: its stack is taken at that syscall's
 * exit. A subprogram called under `if (stacks)`: with stacks off the verifier
 * drops the call, and clang cannot hoist its work into the switch path.
 */
static __noinline void note_block(struct sched_track *t, __u64 start, __u64 end)
{
	if (end - start < STACK_MIN_NS || t->block_nr < 0)
		return;
	t->stack_start = start;
	t->stack_end = end;
	t->stack_cause = t->cause;
	t->stack_nr = t->block_nr;
	t->stack_pending = 1;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(kd_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next, unsigned int prev_state)
{
	__u64 now;
	struct sched_track *t;

	if (!profiling)
		return 0;
	now = bpf_ktime_get_ns();
	t = tracked(prev);
	if (t)
		ensure_running(t, now, prev->se.sum_exec_runtime);
	if (t && t->state == TS_RUNNING) {
		if (now > t->slice_start)
			t->on_ns += now - t->slice_start;
		t->exec_mark = prev->se.sum_exec_runtime;
		if (preempt || prev_state == 0 /* TASK_RUNNING: still runnable */) {
			t->state = TS_RUNNABLE;
			t->wake_ts = now;
			t->off_start = 0; /* no blocked interval precedes this wait */
			t->involuntary++;
		} else {
			t->state = TS_BLOCKED;
			t->off_start = now;
			t->cause = offcpu_cause(prev);
			if (stacks)
				t->block_nr = task_syscall(prev);
			t->voluntary++;
		}
	}
	t = tracked(next);
	if (t) {
		if (t->state == TS_BLOCKED) {
			/* woken without a wake-up event we saw: all of it was blocked time */
			if (t->cause < KD_OFF_COUNT && now > t->off_start) {
				t->off_ns[t->cause] += now - t->off_start;
				emit_slice(next, t, t->cause, t->off_start, now);
				if (stacks)
					note_block(t, t->off_start, now);
			}
		} else if (t->state == TS_RUNNABLE && now > t->wake_ts) {
			t->runq_ns += now - t->wake_ts;
			/* the blocked interval before this wait was recorded at wake-up (off_start..wake_ts) */
			if (t->cause < KD_OFF_COUNT && t->off_start && t->wake_ts > t->off_start) {
				emit_slice(next, t, t->cause, t->off_start, t->wake_ts);
				if (stacks)
					note_block(t, t->off_start, t->wake_ts);
			}
			emit_slice(next, t, KD_SLICE_RUNQ, t->wake_ts, now);
			t->off_start = 0;
		}
		t->state = TS_RUNNING;
		t->slice_start = now;
	}
	return 0;
}

static __always_inline void on_wakeup(struct task_struct *p)
{
	struct sched_track *t;
	__u64 now;

	if (!profiling)
		return;
	t = tracked(p);
	if (!t || t->state != TS_BLOCKED)
		return;
	now = bpf_ktime_get_ns();
	if (t->cause < KD_OFF_COUNT && now > t->off_start)
		t->off_ns[t->cause] += now - t->off_start;
	t->state = TS_RUNNABLE;
	t->wake_ts = now;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(kd_sched_wakeup, struct task_struct *p)
{
	on_wakeup(p);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(kd_sched_wakeup_new, struct task_struct *p)
{
	on_wakeup(p);
	return 0;
}

/* new threads of a tracked thread are tracked from birth (created blocked: runnable at wakeup_new) */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(kd_sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
	struct stash *st;

	if (!profiling || !tracked(parent))
		return 0;
	st = bpf_task_storage_get(&stash_map, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st)
		return 0;
	st->track.state = TS_BLOCKED;
	st->track.cause = KD_OFF_OTHER;
	st->track.off_start = bpf_ktime_get_ns();
	st->track.block_nr = -1; /* born blocked, but not in a syscall of its own */
	return 0;
}

/*
 * Tier 3: at the exit of the syscall a thread blocked in for >= 1 ms, take its
 * user stack. The thread has not run user code since it blocked, so this is the
 * stack it blocked with; taking it here rather than at every switch keeps the
 * cost off the scheduler path. Loaded and attached only with profiling.stacks.
 */
SEC("tp_btf/sys_exit")
int BPF_PROG(kd_stack_sys_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *task;
	struct sched_track *t;
	struct kd_stack_event *e;
	long n;

	if (!profiling || !stacks)
		return 0;
	task = bpf_get_current_task_btf();
	t = tracked(task);
	if (!t || !t->stack_pending)
		return 0;
	t->stack_pending = 0;
	/* a block in another syscall (its exit was missed): this stack is not where it blocked */
	if ((__s32)regs->orig_ax != t->stack_nr)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(KD_HOOK_SYS_EXIT, KD_CNT_LOST_RINGBUF, 1);
		return 0;
	}
	n = bpf_get_stack(ctx, e->frames, sizeof(e->frames), BPF_F_USER_STACK);
	if (n < 0)
		n = 0;
	e->kind = KD_KIND_STACK;
	e->size = sizeof(*e);
	e->cause = t->stack_cause;
	e->flags = n >= (long)sizeof(e->frames) ? KD_STACK_TRUNCATED : 0;
	e->nframes = n >= (long)sizeof(e->frames) ? KD_STACK_MAX_FRAMES : (__u16)(n / 8);
	e->pid = task->tgid;
	e->tid = task->pid;
	e->syscall_nr = t->stack_nr;
	e->_pad0 = 0;
	e->block_start_ns = t->stack_start;
	e->block_end_ns = t->stack_end;
	e->user_sp = regs->sp;
	e->user_bp = regs->bp;
	e->nscan = bpf_probe_read_user(e->scan, sizeof(e->scan), (void *)e->user_sp) ? 0 : KD_STACK_SCAN_WORDS;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	count(KD_HOOK_SYS_EXIT, KD_CNT_EMITTED, 1);
	return 0;
}

#endif /* KINDLING_SCHED_BPF_H */
