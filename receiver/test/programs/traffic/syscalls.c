/*
 * syscalls.c - the recorded socket syscalls that move one buffer, and
 * connect, accept and close. The iovec and mmsg ones are in vectored.c.
 */
#include "traffic.h"

/* ------------------------------------------- recorded socket syscalls */
/*
 * Every socket operation goes through syscall(2) so there is no doubt which
 * syscall ran (glibc maps send/recv to sendto/recvfrom and may implement
 * accept with accept4). Each helper records the op and returns the result;
 * failures end the program, so the manifest never shows an error.
 */

long do_write(const struct sock *s, const void *p, size_t n)
{
	long ret = check(syscall(SYS_write, s->fd, p, n), "write");
	struct op o = op_new("write", s, "egress", ret);

	o.data = p;
	o.len = (size_t)ret;
	record(&o);
	return ret;
}

long do_read(const struct sock *s, void *p, size_t cap)
{
	long ret = check(syscall(SYS_read, s->fd, p, cap), "read");
	struct op o = op_new("read", s, "ingress", ret);

	o.data = p;
	o.len = (size_t)ret;
	record(&o);
	return ret;
}

/* to == NULL is send(2) on a connected socket. */
long do_sendto(const struct sock *s, const void *p, size_t n,
	       const struct sockaddr_storage *to)
{
	long ret = check(syscall(SYS_sendto, s->fd, p, n, 0, to,
				 to ? addr_len(to) : 0),
			 "sendto");
	struct op o = op_new("sendto", s, "egress", ret);

	o.data = p;
	o.len = (size_t)ret;
	o.remote = to;
	record(&o);
	return ret;
}

/* from == NULL is recv(2) on a connected socket. */
long do_recvfrom(const struct sock *s, void *p, size_t cap,
		 struct sockaddr_storage *from)
{
	socklen_t from_len = sizeof *from;
	long ret = check(syscall(SYS_recvfrom, s->fd, p, cap, 0, from,
				 from ? &from_len : NULL),
			 "recvfrom");
	struct op o = op_new("recvfrom", s, "ingress", ret);

	o.data = p;
	o.len = (size_t)ret;
	o.remote = from;
	record(&o);
	return ret;
}

void do_connect(struct sock *s, const struct sockaddr_storage *to)
{
	long ret = check(syscall(SYS_connect, s->fd, to, addr_len(to)),
			 "connect");
	struct op o = op_new("connect", s, "none", ret);

	sock_describe(s);
	record(&o);
}

/* Fills conn with the accepted socket; the op's fd is the new socket. */
void do_accept(struct sock *conn, const struct sock *listener,
	       int use_accept4)
{
	const char *name = use_accept4 ? "accept4" : "accept";
	/* SOCK_CLOEXEC gives accept4 a real flags argument; still blocking. */
	long fd = use_accept4 ? syscall(SYS_accept4, listener->fd, NULL, NULL,
					SOCK_CLOEXEC)
			      : syscall(SYS_accept, listener->fd, NULL, NULL);
	struct op o = op_new(name, conn, "none", check(fd, name));

	memset(conn, 0, sizeof *conn);
	conn->fd = (int)fd;
	conn->kind = listener->kind;
	sock_describe(conn);
	o.listen_fd = listener->fd;
	record(&o);
	set_nodelay(conn);
}

void do_close(struct sock *s)
{
	long ret;
	struct op o;

	sock_describe(s); /* the manifest wants the state just before close */
	ret = check(syscall(SYS_close, s->fd), "close");
	o = op_new("close", s, "none", ret);
	record(&o);
	s->fd = -1;
}
