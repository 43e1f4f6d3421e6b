/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* fd -> socket walk, and a record's addresses from the sock or a user sockaddr. Included by kindling.bpf.c. */
#ifndef KINDLING_SOCK_BPF_H
#define KINDLING_SOCK_BPF_H

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

static __always_inline bool port_wanted(struct kd_sock_event *e)
{
	return filter_port == 0 || e->local_port == filter_port || e->remote_port == filter_port;
}

#endif /* KINDLING_SOCK_BPF_H */
