// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * Socket capture on syscall tracepoints only (no kprobes, no fentry).
 *
 * enter: drop the agent itself and non-TCP/UDP fds at once, then stash the
 *        arguments and the socket in task storage (no hash map per syscall).
 * exit:  build one record per syscall (one per message for *mmsg) in a per-CPU
 *        scratch buffer with the true return value and the first payload_cap
 *        bytes, walking iovecs, and write it to the ring buffer without a
 *        wake-up; user space polls on a timer and is woken only past
 *        wakeup_bytes of backlog.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "shared/kindling_abi.h"
#include "shared/map_sizing.h"
#include "sched_types.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * Following the untyped pointers fd -> file -> socket -> sock costs a helper
 * call per field with bpf_probe_read_kernel. Since 6.2, bpf_rdonly_cast turns
 * them into typed pointers whose fields are plain loads (the enter program drops
 * to less than half its cost). KD_COMPAT builds the same programs for older
 * kernels with helper reads; user space loads that object when this one fails.
 */
#ifdef KD_COMPAT
#define KD_TYPED(type, ptr) ((type *)(ptr))
#define KD_FIELD(ptr, ...) BPF_CORE_READ(ptr, __VA_ARGS__)
#else
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define KD_TYPED(type, ptr) ((type *)bpf_rdonly_cast((void *)(ptr), bpf_core_type_id_kernel(type)))
#define KD_FIELD(ptr, ...) ((ptr)->__VA_ARGS__)
#endif

#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define EAGAIN 11
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17

/* tunables, set by user space before load */
const volatile __u32 self_tgid = 0;
const volatile __u32 filter_tgid = 0;
const volatile __u16 filter_port = 0;
const volatile __u32 payload_cap = KD_PAYLOAD_DEFAULT;
const volatile __u64 wakeup_bytes = KD_RINGBUF_BYTES / 4;
/* trace profiling: scheduler accounting and a counter snapshot in every data record */
const volatile bool profiling = false;
/* trace profiling tier 2: slice records of long off-CPU and run-queue intervals */
const volatile bool slices = false;
/* trace profiling tier 3: user stacks after long blocks (its sys_exit program loads only with it) */
const volatile bool stacks = false;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, KD_RINGBUF_BYTES);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kd_counters);
} counters SEC(".maps");

/* a record is assembled here: header, [scheduler snapshot,] payload (room for an unaligned copy) */
struct scratch {
	struct kd_sock_event ev;
	__u8 tail[KD_SCHED_SNAPSHOT_SIZE + 2 * KD_PAYLOAD_MAX];
};

/* where the payload starts in the record: after the snapshot when profiling */
#define PAYLOAD_BASE (profiling ? KD_SCHED_SNAPSHOT_SIZE : 0)

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_mem SEC(".maps");

/* a socket's two ends, as the event ABI lays them out */
struct addr_pair {
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u16 local_port;
	__u16 remote_port;
	__u32 _pad;
};

/* what enter saw, for exit to finish */
struct stash {
	struct addr_pair addrs; /* close only: the socket may be gone by exit */
	__u64 enter_ns;
	__u64 buf;      /* buffer, iovec array, msghdr or mmsghdr array */
	__u64 addr;     /* sockaddr of sendto/recvfrom/connect */
	__u64 sk;
	__u64 ino;
	__u32 count;    /* byte count, iovec count or message count */
	__s32 fd;
	__u16 hook;     /* KD_HOOK_NONE when nothing is pending */
	__u16 family;
	__u16 sock_type;
	__u16 protocol;
	/* trace profiling: this thread's scheduler accounting, and its counters at the last ingress enter */
	struct sched_track track;
	struct kd_sched_snapshot enter_snap;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct stash);
} stash_map SEC(".maps");

struct sock_offsets {
	__u64 bytes[2]; /* [0] egress, [1] ingress */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, KD_SOCK_OFFSETS_ENTRIES);
	__type(key, __u64);
	__type(value, struct sock_offsets);
} sock_offsets SEC(".maps");

/* user-space layouts read from the traced process */
struct user_iovec {
	__u64 base;
	__u64 len;
};

struct user_msghdr_ {
	__u64 name;
	__u32 namelen;
	__u32 _pad0;
	__u64 iov;
	__u64 iovlen;
	__u64 control;
	__u64 controllen;
	__u32 flags;
	__u32 _pad1;
};

struct user_mmsghdr {
	struct user_msghdr_ hdr;
	__u32 len;
	__u32 _pad;
};

struct user_sockaddr {
	__u16 family;
	__u16 port;     /* network order */
	__u32 v4_or_flowinfo;
	__u8 v6[16];
	__u32 scope_id;
};

struct sock_ref {
	struct sock *sk;
	__u64 ino;
	__u16 family;
	__u16 sock_type;
	__u16 protocol;
};

static __always_inline void count(__u16 hook, __u32 counter, __u64 n)
{
	__u32 zero = 0;
	struct kd_counters *c = bpf_map_lookup_elem(&counters, &zero);

	/* hook and counter are compile-time constants at every call site */
	if (c && hook < KD_HOOK_COUNT && counter < KD_CNT_COUNT)
		c->hook[hook][counter] += n;
}

static __always_inline bool is_ingress(__u16 hook)
{
	return hook == KD_HOOK_READ || hook == KD_HOOK_READV || hook == KD_HOOK_RECVFROM ||
	       hook == KD_HOOK_RECVMSG || hook == KD_HOOK_RECVMMSG;
}

/* the current process is one we trace */
static __always_inline bool wanted_process(__u32 tgid)
{
	if (tgid == self_tgid)
		return false;
	return filter_tgid == 0 || tgid == filter_tgid;
}

/* fd -> file -> socket -> sock; false for anything but an AF_INET/AF_INET6 TCP or UDP socket */
static __always_inline bool fd_to_sock(struct task_struct *task, int fd, struct sock_ref *ref)
{
	struct file *file = NULL;
	struct fdtable *fdt;
	struct inode *inode;
	struct socket *sock;
	struct sock *sk;

	if (fd < 0)
		return false;
	/* task is a trusted BTF pointer: these are plain loads, not helper calls */
	fdt = task->files->fdt;
	if ((unsigned int)fd >= fdt->max_fds)
		return false;
	/* the fd array is untyped (struct file **): one helper read */
	if (bpf_probe_read_kernel(&file, sizeof(file), &fdt->fd[fd]) || !file)
		return false;
	file = KD_TYPED(struct file, file);
	inode = KD_FIELD(file, f_inode);
	if (!inode || (KD_FIELD(inode, i_mode) & S_IFMT) != S_IFSOCK)
		return false;
	sock = KD_TYPED(struct socket, KD_FIELD(file, private_data));
	if (!sock)
		return false;
	sk = KD_FIELD(sock, sk);
	if (!sk)
		return false;
	ref->family = KD_FIELD(sk, __sk_common.skc_family);
	if (ref->family != AF_INET && ref->family != AF_INET6)
		return false;
	ref->protocol = KD_FIELD(sk, sk_protocol);
	if (ref->protocol != IPPROTO_TCP && ref->protocol != IPPROTO_UDP)
		return false;
	ref->sock_type = KD_FIELD(sock, type);
	ref->sk = sk;
	ref->ino = KD_FIELD(inode, i_ino);
	return true;
}

/* local and peer address as the kernel's sock holds them */
static __always_inline void read_sock_addrs(struct addr_pair *p, __u16 family, struct sock *sk)
{
#ifdef KD_COMPAT
	struct sock_common skc;

	__builtin_memset(p, 0, sizeof(*p));
	/* one read of the common part instead of one per field */
	if (bpf_probe_read_kernel(&skc, sizeof(skc), &sk->__sk_common))
		return;
#else
	struct sock_common *c = &KD_TYPED(struct sock, sk)->__sk_common;
#define skc (*c)
	__builtin_memset(p, 0, sizeof(*p));
#endif
	p->local_port = skc.skc_num;
	p->remote_port = bpf_ntohs(skc.skc_dport);
	if (family == AF_INET) {
		__u32 l = skc.skc_rcv_saddr, r = skc.skc_daddr;

		__builtin_memcpy(p->local_addr, &l, 4);
		__builtin_memcpy(p->remote_addr, &r, 4);
	} else {
		__u64 l0 = ((__u64 *)&skc.skc_v6_rcv_saddr)[0], l1 = ((__u64 *)&skc.skc_v6_rcv_saddr)[1];
		__u64 r0 = ((__u64 *)&skc.skc_v6_daddr)[0], r1 = ((__u64 *)&skc.skc_v6_daddr)[1];

		__builtin_memcpy(p->local_addr, &l0, 8);
		__builtin_memcpy(p->local_addr + 8, &l1, 8);
		__builtin_memcpy(p->remote_addr, &r0, 8);
		__builtin_memcpy(p->remote_addr + 8, &r1, 8);
	}
#undef skc
}

static __always_inline void set_addrs(struct kd_sock_event *e, const struct addr_pair *p)
{
	__builtin_memcpy(e->local_addr, p->local_addr, 16);
	__builtin_memcpy(e->remote_addr, p->remote_addr, 16);
	e->local_port = p->local_port;
	e->remote_port = p->remote_port;
}

static __always_inline void fill_sock_addrs(struct kd_sock_event *e, struct sock *sk)
{
	struct addr_pair p;

	read_sock_addrs(&p, e->family, sk);
	set_addrs(e, &p);
}

/* peer address from a user sockaddr (unconnected UDP); true when taken */
static __always_inline bool fill_remote_from_user(struct kd_sock_event *e, __u64 uaddr)
{
	struct user_sockaddr sa;

	if (!uaddr || bpf_probe_read_user(&sa, sizeof(sa), (void *)uaddr))
		return false;
	if (sa.family == AF_INET) {
		__builtin_memset(e->remote_addr, 0, 16);
		__builtin_memcpy(e->remote_addr, &sa.v4_or_flowinfo, 4);
	} else if (sa.family == AF_INET6) {
		__builtin_memcpy(e->remote_addr, sa.v6, 16);
	} else {
		return false;
	}
	e->remote_port = bpf_ntohs(sa.port);
	e->flags |= KD_FLAG_ADDR_FROM_MSG;
	return true;
}

/* bytes of payload wanted for a transfer of len bytes */
static __always_inline __u32 payload_want(__u64 len)
{
	__u32 cap = payload_cap;

	/* payload_cap is frozen read-only data, but clamp anyway for the verifier */
	if (cap > KD_PAYLOAD_MAX)
		cap = KD_PAYLOAD_MAX;
	return len < cap ? (__u32)len : cap;
}

/*
 * Clamp a register in place. Written in asm because clang may otherwise test a
 * zero-extended copy and pass the unclamped original, which the verifier rejects.
 */
#define CLAMP_UMAX(var, umax) \
	asm volatile("if %0 <= %[max] goto +1\n\t%0 = %[max]" : "+r"(var) : [max] "i"(umax))

/* copy n bytes of user memory to payload[off]; off < KD_PAYLOAD_MAX keeps it in bounds */
static __always_inline long copy_user(struct scratch *sc, __u32 off, __u32 n, __u64 src)
{
	__u64 o = off & (KD_PAYLOAD_MAX - 1);
	__u64 len = n;

	CLAMP_UMAX(len, KD_PAYLOAD_MAX);
	return bpf_probe_read_user(&sc->tail[PAYLOAD_BASE + o], len, (void *)src);
}

/* gather up to want bytes from an iovec array; returns bytes copied */
static __always_inline __u32 copy_iovecs(struct scratch *sc, __u64 uiov, __u64 iovcnt, __u32 want)
{
	struct user_iovec iov;
	__u32 copied = 0;

	for (int i = 0; i < KD_MAX_IOV; i++) {
		if (i >= iovcnt || copied >= want)
			return copied;
		if (bpf_probe_read_user(&iov, sizeof(iov), (void *)(uiov + i * sizeof(iov)))) {
			sc->ev.flags |= KD_FLAG_PAYLOAD_FAULT;
			return copied;
		}
		__u32 n = want - copied;
		if (iov.len < n)
			n = iov.len;
		if (copy_user(sc, copied, n, iov.base)) {
			sc->ev.flags |= KD_FLAG_PAYLOAD_FAULT;
			return copied;
		}
		copied += n;
	}
	if (iovcnt > KD_MAX_IOV && copied < want)
		sc->ev.flags |= KD_FLAG_IOV_TRUNCATED;
	return copied;
}

static __always_inline __u64 ringbuf_flags(void)
{
	/* wake the reader only when a backlog has built up; otherwise it polls on a timer */
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									       : BPF_RB_NO_WAKEUP;
}

static __always_inline bool port_wanted(struct kd_sock_event *e)
{
	return filter_port == 0 || e->local_port == filter_port || e->remote_port == filter_port;
}

/* the bytes moved before this record in its direction, advanced by len */
static __always_inline __u64 advance_offset(__u64 ino, __u8 direction, __u64 len)
{
	struct sock_offsets *o = bpf_map_lookup_elem(&sock_offsets, &ino);

	if (!o) {
		struct sock_offsets zero = {};

		bpf_map_update_elem(&sock_offsets, &ino, &zero, BPF_NOEXIST);
		o = bpf_map_lookup_elem(&sock_offsets, &ino);
		if (!o)
			return 0;
	}
	/* atomic: threads may share a socket */
	return __sync_fetch_and_add(&o->bytes[direction == KD_DIR_INGRESS ? 1 : 0], len);
}

static __always_inline struct scratch *scratch_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch_mem, &zero);
}

/*
 * comm and cgroup id by plain loads from the trusted task pointer: the same
 * values bpf_get_current_comm and bpf_get_current_cgroup_id give, without two
 * helper calls per record
 */
static __always_inline void copy_comm(char *dst, struct task_struct *task)
{
	__u64 a = *(__u64 *)&task->comm[0], b = *(__u64 *)&task->comm[8];

	__builtin_memcpy(dst, &a, 8);
	__builtin_memcpy(dst + 8, &b, 8);
}

static __always_inline __u64 task_cgroup_id(struct task_struct *task)
{
	return task->cgroups->dfl_cgrp->kn->id;
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

#include "sched.bpf.h"

/* ---- enter: filter, then stash ---- */

/* tgid << 32 | pid, as bpf_get_current_pid_tgid gives it, from plain loads */
static __always_inline __u64 task_pid_tgid(struct task_struct *task)
{
	return ((__u64)task->tgid << 32) | (__u32)task->pid;
}

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

/* ---- tracepoints ---- */

#define ARG(i) (ctx->args[i])

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
