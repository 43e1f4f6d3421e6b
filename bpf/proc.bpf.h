/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* Process exec and exit records. Included by kindling.bpf.c. */
#ifndef KINDLING_PROC_BPF_H
#define KINDLING_PROC_BPF_H

/* ---- process lifecycle: identity caches in user space follow these ---- */

static __always_inline void emit_proc(__u16 what)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct kd_proc_event *e;

	if (!wanted_process(task->tgid))
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(what == KD_PROC_EXEC ? KD_HOOK_PROCESS_EXEC : KD_HOOK_PROCESS_EXIT, KD_CNT_LOST_RINGBUF, 1);
		return;
	}
	e->kind = KD_KIND_PROC;
	e->size = sizeof(*e);
	e->what = what;
	e->_pad0 = 0;
	e->pid = task->tgid;
	e->ppid = task->real_parent->tgid;
	e->tid = task->pid;
	e->_pad1 = 0;
	e->ts_ns = bpf_ktime_get_ns();
	e->cgroup_id = task_cgroup_id(task);
	copy_comm(e->comm, task);
	bpf_ringbuf_submit(e, ringbuf_flags());
	count(what == KD_PROC_EXEC ? KD_HOOK_PROCESS_EXEC : KD_HOOK_PROCESS_EXIT, KD_CNT_EMITTED, 1);
}

SEC("tracepoint/sched/sched_process_exec")
int kd_process_exec(void *ctx)
{
	emit_proc(KD_PROC_EXEC);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int kd_process_exit(struct trace_event_raw_sched_process_exit *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();

	/* once per process: the last thread (group_dead, 6.x), else the leader */
	bool group_dead = bpf_core_field_exists(ctx->group_dead) ? BPF_CORE_READ(ctx, group_dead) : task->pid == task->tgid;

	if (group_dead)
		emit_proc(KD_PROC_EXIT);
	/* a thread trace profiling tracked: user space drops its per-thread state now, not when it ages out */
	else if (profiling && tracked(task))
		emit_proc(KD_PROC_THREAD_EXIT);
	return 0;
}

#endif /* KINDLING_PROC_BPF_H */
