/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* Connection records: connect, accept, accept4, close. Included by kindling.bpf.c. */
#ifndef KINDLING_CONN_BPF_H
#define KINDLING_CONN_BPF_H

/* ---- exit: connect, accept, close ---- */

static __always_inline int on_exit_conn(__u16 hook, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 pid_tgid = task_pid_tgid(task);
	struct stash *st = take_stash(hook, task);
	struct scratch *sc;

	if (!st)
		return 0;
	sc = scratch_get();
	if (!sc) {
		count(hook, KD_CNT_LOST_SCRATCH, 1);
		return 0;
	}
	if (hook == KD_HOOK_ACCEPT || hook == KD_HOOK_ACCEPT4) {
		struct sock_ref ref;

		/* the record describes the accepted socket, not the listener */
		if (ret < 0 || !fd_to_sock(task, (int)ret, &ref))
			return 0;
		st->fd = (int)ret;
		st->sk = (__u64)ref.sk;
		st->ino = ref.ino;
		st->family = ref.family;
		st->sock_type = ref.sock_type;
		st->protocol = ref.protocol;
	}
	fill_header(&sc->ev, KD_KIND_SOCK_CONN, hook, st, task, pid_tgid, ret);
	if (hook == KD_HOOK_CLOSE)
		set_addrs(&sc->ev, &st->addrs);
	else
		fill_sock_addrs(&sc->ev, (struct sock *)st->sk);
	if (hook == KD_HOOK_CONNECT && st->sock_type == 2 /* SOCK_DGRAM */ && sc->ev.remote_port == 0)
		fill_remote_from_user(&sc->ev, st->addr);
	if (!port_wanted(&sc->ev))
		return 0;
	return emit(sc, hook);
}

/* connect(fd, addr, addrlen), accept(fd, addr, addrlen), accept4(fd, addr, addrlen, flags) */
#define CONN_HOOK(name, HOOK)                                                                 \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                           \
	int kd_enter_##name(struct trace_event_raw_sys_enter *ctx)                            \
	{                                                                                     \
		return on_enter(HOOK, (int)ARG(0), 0, 0, ARG(1));                             \
	}                                                                                     \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                            \
	int kd_exit_##name(struct trace_event_raw_sys_exit *ctx)                              \
	{                                                                                     \
		return on_exit_conn(HOOK, ctx->ret);                                          \
	}

CONN_HOOK(connect, KD_HOOK_CONNECT)
CONN_HOOK(accept, KD_HOOK_ACCEPT)
CONN_HOOK(accept4, KD_HOOK_ACCEPT4)

/* close(fd) has one argument: reading past it makes attach fail with EACCES */
SEC("tracepoint/syscalls/sys_enter_close")
int kd_enter_close(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(KD_HOOK_CLOSE, (int)ARG(0), 0, 0, 0);
}

SEC("tracepoint/syscalls/sys_exit_close")
int kd_exit_close(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit_conn(KD_HOOK_CLOSE, ctx->ret);
}

#endif /* KINDLING_CONN_BPF_H */
