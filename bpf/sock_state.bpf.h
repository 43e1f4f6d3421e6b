/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* TCP state changes (tracepoint sock/inet_sock_set_state). Included by kindling.bpf.c. */
#ifndef KINDLING_SOCK_STATE_BPF_H
#define KINDLING_SOCK_STATE_BPF_H

/* TCP state transitions; runs in softirq too, so "current" may be any task */
SEC("tracepoint/sock/inet_sock_set_state")
int kd_inet_sock_set_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct kd_sock_state_event *e;
	struct sock *sk = (struct sock *)ctx->skaddr;

	if (ctx->protocol != IPPROTO_TCP || !wanted_process(pid_tgid >> 32))
		return 0;
	if (filter_port && ctx->sport != filter_port && ctx->dport != filter_port)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(KD_HOOK_INET_SOCK_SET_STATE, KD_CNT_LOST_RINGBUF, 1);
		return 0;
	}
	e->kind = KD_KIND_SOCK_STATE;
	e->size = sizeof(*e);
	e->family = ctx->family;
	e->protocol = ctx->protocol;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->ts_ns = bpf_ktime_get_ns();
	e->sk = (__u64)sk;
	e->sock_id = BPF_CORE_READ(sk, sk_socket, file, f_inode, i_ino);
	e->old_state = ctx->oldstate;
	e->new_state = ctx->newstate;
	__builtin_memset(e->local_addr, 0, sizeof(e->local_addr));
	__builtin_memset(e->remote_addr, 0, sizeof(e->remote_addr));
	/* helper reads: clang would index the context with a variable offset, which is refused */
	if (ctx->family == AF_INET) {
		bpf_probe_read_kernel(e->local_addr, 4, ctx->saddr);
		bpf_probe_read_kernel(e->remote_addr, 4, ctx->daddr);
	} else {
		bpf_probe_read_kernel(e->local_addr, 16, ctx->saddr_v6);
		bpf_probe_read_kernel(e->remote_addr, 16, ctx->daddr_v6);
	}
	e->local_port = ctx->sport;
	e->remote_port = ctx->dport;
	e->_pad0 = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, ringbuf_flags());
	count(KD_HOOK_INET_SOCK_SET_STATE, KD_CNT_EMITTED, 1);
	return 0;
}

#endif /* KINDLING_SOCK_STATE_BPF_H */
