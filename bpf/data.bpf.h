/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* Data syscalls: the exit paths that build records, and their tracepoints. Included by kindling.bpf.c. */
#ifndef KINDLING_DATA_BPF_H
#define KINDLING_DATA_BPF_H

/* ---- exit: data syscalls ---- */

/* the stash of a data syscall that should produce records, and the scratch to build them in */
static __always_inline struct stash *begin_data_exit(__u16 hook, long ret, struct task_struct *task,
						     struct scratch **sc)
{
	struct stash *st = take_stash(hook, task);

	if (!st)
		return NULL;
	if (ret == -EAGAIN) {
		count(hook, KD_CNT_SKIPPED_EAGAIN, 1);
		return NULL;
	}
	*sc = scratch_get();
	if (!*sc) {
		count(hook, KD_CNT_LOST_SCRATCH, 1);
		return NULL;
	}
	return st;
}

/* a data record's header: everything but length, payload and offset */
static __always_inline void data_header(struct scratch *sc, __u16 hook, struct stash *st, struct task_struct *task,
					__u64 pid_tgid, long ret)
{
	fill_header(&sc->ev, KD_KIND_SOCK_DATA, hook, st, task, pid_tgid, ret);
	sc->ev.direction = is_ingress(hook) ? KD_DIR_INGRESS : KD_DIR_EGRESS;
	fill_sock_addrs(&sc->ev, (struct sock *)st->sk);
	if (profiling) {
		struct kd_sched_snapshot *snap = (struct kd_sched_snapshot *)sc->tail;

		/* ingress: as of the enter (a span starts there); egress: as of the exit (it ends there) */
		if (is_ingress(hook)) {
			__builtin_memcpy(snap, &st->enter_snap, sizeof(*snap));
		} else {
			ensure_running(&st->track, sc->ev.exit_ns, BPF_CORE_READ(task, se.sum_exec_runtime));
			sched_snapshot(snap, &st->track, sc->ev.exit_ns);
		}
		sc->ev.flags |= KD_FLAG_SCHED;
	}
}

static __always_inline int on_exit_data(__u16 hook, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 pid_tgid = task_pid_tgid(task);
	struct scratch *sc = NULL;
	struct stash *st = begin_data_exit(hook, ret, task, &sc);
	__u64 len;
	__u32 want;

	if (!st || !sc)
		return 0;
	data_header(sc, hook, st, task, pid_tgid, ret);

	len = ret > 0 ? (__u64)ret : 0;
	sc->ev.len = len;
	want = payload_want(len);

	if (hook == KD_HOOK_READ || hook == KD_HOOK_WRITE || hook == KD_HOOK_SENDTO ||
	    hook == KD_HOOK_RECVFROM) {
		if (want && copy_user(sc, 0, want, st->buf)) {
			sc->ev.flags |= KD_FLAG_PAYLOAD_FAULT;
			want = 0;
		}
		/* sendto's peer is an input, recvfrom's an output: both readable now */
		if ((hook == KD_HOOK_SENDTO || hook == KD_HOOK_RECVFROM) && st->sock_type == 2 /* SOCK_DGRAM */)
			fill_remote_from_user(&sc->ev, st->addr);
	} else if (hook == KD_HOOK_SENDFILE) {
		/* the bytes come from a file the kernel copies: their length is all there is */
		want = 0;
	} else if (hook == KD_HOOK_READV || hook == KD_HOOK_WRITEV) {
		want = copy_iovecs(sc, st->buf, st->count, want);
	} else {
		/* sendmsg / recvmsg */
		struct user_msghdr_ msg;

		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)st->buf)) {
			sc->ev.flags |= KD_FLAG_PAYLOAD_FAULT;
			want = 0;
		} else {
			want = copy_iovecs(sc, msg.iov, msg.iovlen, want);
			if (st->sock_type == 2 /* SOCK_DGRAM */)
				fill_remote_from_user(&sc->ev, msg.name);
		}
	}
	if (!port_wanted(&sc->ev))
		return 0;
	sc->ev.payload_len = want;
	if (want < len)
		sc->ev.flags |= KD_FLAG_PAYLOAD_TRUNCATED;
	sc->ev.offset = advance_offset(st->ino, sc->ev.direction, len);
	return emit(sc, hook);
}

/* one record per message; ret is the number of messages moved */
static __always_inline int on_exit_mmsg(__u16 hook, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 pid_tgid = task_pid_tgid(task);
	struct scratch *sc = NULL;
	struct stash *st = begin_data_exit(hook, ret, task, &sc);
	struct user_mmsghdr mh;
	__u64 vec;
	int n;

	if (!st || !sc)
		return 0;
	vec = st->buf;
	n = ret > 0 ? (int)ret : 0;
	if (n > KD_MAX_MMSG) {
		count(hook, KD_CNT_LOST_MMSG, n - KD_MAX_MMSG);
		n = KD_MAX_MMSG;
	}
	if (n == 0) {
		/* an error: one record with the return value and no payload */
		data_header(sc, hook, st, task, pid_tgid, ret);
		sc->ev.msg_count = 0;
		if (!port_wanted(&sc->ev))
			return 0;
		return emit(sc, hook);
	}
	for (int i = 0; i < KD_MAX_MMSG; i++) {
		if (i >= n)
			break;
		/* the header is rebuilt per message: emit() may have been handed the last one */
		data_header(sc, hook, st, task, pid_tgid, ret);
		sc->ev.msg_index = i;
		sc->ev.msg_count = n;
		if (bpf_probe_read_user(&mh, sizeof(mh), (void *)(vec + i * sizeof(mh)))) {
			sc->ev.flags |= KD_FLAG_PAYLOAD_FAULT;
			emit(sc, hook);
			continue;
		}
		__u32 want = payload_want(mh.len);

		sc->ev.len = mh.len;
		want = copy_iovecs(sc, mh.hdr.iov, mh.hdr.iovlen, want);
		if (st->sock_type == 2 /* SOCK_DGRAM */)
			fill_remote_from_user(&sc->ev, mh.hdr.name);
		if (!port_wanted(&sc->ev))
			continue;
		sc->ev.payload_len = want;
		if (want < mh.len)
			sc->ev.flags |= KD_FLAG_PAYLOAD_TRUNCATED;
		sc->ev.offset = advance_offset(st->ino, sc->ev.direction, mh.len);
		emit(sc, hook);
	}
	return 0;
}

/* ---- tracepoints ---- */

#define DATA_HOOK(name, HOOK, buf_i, count_i, addr_expr)                                      \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                           \
	int kd_enter_##name(struct trace_event_raw_sys_enter *ctx)                            \
	{                                                                                     \
		return on_enter(HOOK, (int)ARG(0), ARG(buf_i), ARG(count_i), addr_expr);      \
	}                                                                                     \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                            \
	int kd_exit_##name(struct trace_event_raw_sys_exit *ctx)                              \
	{                                                                                     \
		return on_exit_data(HOOK, ctx->ret);                                          \
	}

/* read(fd, buf, count), write(...), readv(fd, iov, iovcnt), writev(...) */
DATA_HOOK(read, KD_HOOK_READ, 1, 2, 0)
DATA_HOOK(write, KD_HOOK_WRITE, 1, 2, 0)
DATA_HOOK(readv, KD_HOOK_READV, 1, 2, 0)
DATA_HOOK(writev, KD_HOOK_WRITEV, 1, 2, 0)
/* sendto(fd, buf, len, flags, dest_addr, addrlen), recvfrom(fd, buf, len, flags, src_addr, addrlen) */
DATA_HOOK(sendto, KD_HOOK_SENDTO, 1, 2, ARG(4))
DATA_HOOK(recvfrom, KD_HOOK_RECVFROM, 1, 2, ARG(4))
/* sendmsg(fd, msg, flags), recvmsg(fd, msg, flags) */
DATA_HOOK(sendmsg, KD_HOOK_SENDMSG, 1, 2, 0)
DATA_HOOK(recvmsg, KD_HOOK_RECVMSG, 1, 2, 0)
/* sendfile64(out_fd, in_fd, offset, count): nginx's static files; only the length is captured */
DATA_HOOK(sendfile64, KD_HOOK_SENDFILE, 1, 3, 0)

/* sendmmsg(fd, msgvec, vlen, flags), recvmmsg(fd, msgvec, vlen, flags, timeout) */
#define MMSG_HOOK(name, HOOK)                                                                 \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                           \
	int kd_enter_##name(struct trace_event_raw_sys_enter *ctx)                            \
	{                                                                                     \
		return on_enter(HOOK, (int)ARG(0), ARG(1), ARG(2), 0);                        \
	}                                                                                     \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                            \
	int kd_exit_##name(struct trace_event_raw_sys_exit *ctx)                              \
	{                                                                                     \
		return on_exit_mmsg(HOOK, ctx->ret);                                          \
	}

MMSG_HOOK(sendmmsg, KD_HOOK_SENDMMSG)
MMSG_HOOK(recvmmsg, KD_HOOK_RECVMMSG)

#endif /* KINDLING_DATA_BPF_H */
