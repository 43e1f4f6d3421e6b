/*
 * vectored.c - the recorded iovec and multi-message socket syscalls
 * (sendmsg, recvmsg, writev, readv, sendmmsg, recvmmsg) and their iovec
 * helpers. syscalls.c explains how every recorded syscall is made.
 */
#include "traffic.h"

/* ------------------------------------------------------- iovec helpers */

/* Copy the first n bytes held by an iovec array into out. */
void gather(const struct iovec *iov, size_t iovcnt, size_t n,
	    unsigned char *out)
{
	size_t i;

	for (i = 0; i < iovcnt && n > 0; i++) {
		size_t take = iov[i].iov_len < n ? iov[i].iov_len : n;

		memcpy(out, iov[i].iov_base, take);
		out += take;
		n -= take;
	}
}

/* Record an op whose bytes are the first n bytes of an iovec array. */
static void record_iov(struct op *o, const struct iovec *iov, size_t iovcnt,
		       size_t n)
{
	unsigned char *flat = malloc(n ? n : 1);

	if (!flat)
		die("out of memory");
	gather(iov, iovcnt, n, flat);
	o->data = flat;
	o->len = n;
	record(o);
	free(flat);
}

/* Point iov[i] at parts[i]; returns the total length. */
size_t parts_iov(struct iovec *iov, char parts[][PART_MAX], int n)
{
	size_t total = 0;
	int i;

	for (i = 0; i < n; i++) {
		iov[i].iov_base = parts[i];
		iov[i].iov_len = strlen(parts[i]);
		total += iov[i].iov_len;
	}
	return total;
}

/* Concatenation of parts, to check what the receiving side got. */
size_t parts_join(char *out, const char parts[][PART_MAX], int n)
{
	size_t total = 0;
	int i;

	for (i = 0; i < n; i++) {
		size_t len = strlen(parts[i]);

		memcpy(out + total, parts[i], len);
		total += len;
	}
	return total;
}

/* ------------------------------------ recorded iovec and mmsg syscalls */

long do_sendmsg(const struct sock *s, struct iovec *iov, size_t n)
{
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = n };
	long ret = check(syscall(SYS_sendmsg, s->fd, &mh, 0), "sendmsg");
	struct op o = op_new("sendmsg", s, "egress", ret);

	record_iov(&o, iov, n, (size_t)ret);
	return ret;
}

long do_recvmsg(const struct sock *s, struct iovec *iov, size_t n)
{
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = n };
	long ret = check(syscall(SYS_recvmsg, s->fd, &mh, 0), "recvmsg");
	struct op o = op_new("recvmsg", s, "ingress", ret);

	record_iov(&o, iov, n, (size_t)ret);
	return ret;
}

long do_writev(const struct sock *s, const struct iovec *iov, int n)
{
	long ret = check(syscall(SYS_writev, s->fd, iov, n), "writev");
	struct op o = op_new("writev", s, "egress", ret);

	record_iov(&o, iov, (size_t)n, (size_t)ret);
	return ret;
}

long do_readv(const struct sock *s, const struct iovec *iov, int n)
{
	long ret = check(syscall(SYS_readv, s->fd, iov, n), "readv");
	struct op o = op_new("readv", s, "ingress", ret);

	record_iov(&o, iov, (size_t)n, (size_t)ret);
	return ret;
}

/* One op per message the kernel reports as transferred (i < ret). */
static void record_mmsg(const char *name, const struct sock *s,
			const char *dir, int ret, const struct mmsghdr *msgs)
{
	int i;

	for (i = 0; i < ret; i++) {
		const struct msghdr *mh = &msgs[i].msg_hdr;
		struct op o = op_new(name, s, dir, ret);

		o.msg_index = i;
		o.remote = mh->msg_name;
		record_iov(&o, mh->msg_iov, mh->msg_iovlen, msgs[i].msg_len);
	}
}

int do_sendmmsg(const struct sock *s, struct mmsghdr *msgs,
		unsigned n)
{
	int ret = (int)check(syscall(SYS_sendmmsg, s->fd, msgs, n, 0),
			     "sendmmsg");

	record_mmsg("sendmmsg", s, "egress", ret, msgs);
	return ret;
}

int do_recvmmsg(const struct sock *s, struct mmsghdr *msgs,
		unsigned n)
{
	int ret = (int)check(syscall(SYS_recvmmsg, s->fd, msgs, n, 0, NULL),
			     "recvmmsg");

	record_mmsg("recvmmsg", s, "ingress", ret, msgs);
	return ret;
}
