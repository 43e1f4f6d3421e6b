/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* The header of data and connection records, and their write to the ring buffer. Included by kindling.bpf.c. */
#ifndef KINDLING_RECORD_BPF_H
#define KINDLING_RECORD_BPF_H

static __always_inline bool is_ingress(__u16 hook)
{
	return hook == KD_HOOK_READ || hook == KD_HOOK_READV || hook == KD_HOOK_RECVFROM ||
	       hook == KD_HOOK_RECVMSG || hook == KD_HOOK_RECVMMSG;
}

/* common header of data and connection records from the stash */
static __always_inline void fill_header(struct kd_sock_event *e, __u16 kind, __u16 hook, struct stash *st,
					struct task_struct *task, __u64 pid_tgid, long ret)
{
	e->kind = kind;
	e->size = sizeof(*e);
	e->hook = hook;
	e->direction = KD_DIR_NONE;
	e->flags = 0;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->fd = st->fd;
	e->family = st->family;
	e->sock_type = st->sock_type;
	e->cgroup_id = task_cgroup_id(task);
	e->enter_ns = st->enter_ns;
	e->exit_ns = bpf_ktime_get_ns();
	e->ret = ret;
	e->len = 0;
	e->sock_id = st->ino;
	e->sk = st->sk;
	e->offset = 0;
	__builtin_memset(e->local_addr, 0, sizeof(e->local_addr));
	__builtin_memset(e->remote_addr, 0, sizeof(e->remote_addr));
	e->local_port = 0;
	e->remote_port = 0;
	e->payload_len = 0;
	e->msg_index = 0;
	e->protocol = st->protocol;
	e->msg_count = 1;
	e->_pad0 = 0;
	copy_comm(e->comm, task);
}

static __always_inline int emit(struct scratch *sc, __u16 hook)
{
	__u32 size = sizeof(sc->ev) + PAYLOAD_BASE + (sc->ev.payload_len & (2 * KD_PAYLOAD_MAX - 1));

	if (size > sizeof(*sc))
		return 0;
	sc->ev.size = size;
	if (bpf_ringbuf_output(&events, sc, size, ringbuf_flags())) {
		count(hook, KD_CNT_LOST_RINGBUF, 1);
		return 0;
	}
	count(hook, KD_CNT_EMITTED, 1);
	if (sc->ev.flags & KD_FLAG_PAYLOAD_FAULT)
		count(hook, KD_CNT_PAYLOAD_FAULT, 1);
	if (sc->ev.flags & KD_FLAG_IOV_TRUNCATED)
		count(hook, KD_CNT_IOV_TRUNCATED, 1);
	return 0;
}

#endif /* KINDLING_RECORD_BPF_H */
