/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* Syscall enter: filter, then stash; and the stash taken at exit. Included by kindling.bpf.c. */
#ifndef KINDLING_ENTER_BPF_H
#define KINDLING_ENTER_BPF_H

/* ---- enter: filter, then stash ---- */

static __always_inline int on_enter(__u16 hook, int fd, __u64 buf, __u64 count_arg, __u64 addr)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct sock_ref ref;
	struct stash *st;

	if (!wanted_process(task->tgid))
		return 0;
	if (!fd_to_sock(task, fd, &ref))
		return 0;
	st = bpf_task_storage_get(&stash_map, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st) {
		count(hook, KD_CNT_LOST_STASH, 1);
		return 0;
	}
	st->enter_ns = bpf_ktime_get_ns();
	if (profiling) {
		track_start(&st->track, st->enter_ns);
		ensure_running(&st->track, st->enter_ns, BPF_CORE_READ(task, se.sum_exec_runtime));
		/* a request's span starts at this enter: its breakdown starts here too */
		if (is_ingress(hook))
			sched_snapshot(&st->enter_snap, &st->track, st->enter_ns);
	}
	st->buf = buf;
	st->addr = addr;
	st->sk = (__u64)ref.sk;
	st->ino = ref.ino;
	st->count = (__u32)count_arg;
	st->fd = fd;
	st->hook = hook;
	st->family = ref.family;
	st->sock_type = ref.sock_type;
	st->protocol = ref.protocol;
	/* close releases the port before exit: take the ends now */
	if (hook == KD_HOOK_CLOSE)
		read_sock_addrs(&st->addrs, ref.family, ref.sk);
	return 0;
}

/* the pending stash for hook, taken (cleared) */
static __always_inline struct stash *take_stash(__u16 hook, struct task_struct *task)
{
	struct stash *st;

	/* most threads never touch a socket and own no task storage: skip the helper call */
	if (bpf_core_field_exists(task->bpf_storage) && !task->bpf_storage)
		return NULL;
	st = bpf_task_storage_get(&stash_map, task, 0, 0);

	if (!st || st->hook != hook)
		return NULL;
	st->hook = KD_HOOK_NONE;
	return st;
}

#define ARG(i) (ctx->args[i])

#endif /* KINDLING_ENTER_BPF_H */
