/* udp.c - scenario 2: UDP datagrams with sendto/recvfrom and mmsg. */
#include "traffic.h"

/* -------------------------------------------------------- scenario 2: UDP */

struct udp_dgram {
	char parts[2][PART_MAX];
	int nparts;
};

static void udp_sendto_expect(const struct sock *from, const struct sock *to,
			      const char *text)
{
	size_t n = strlen(text);
	struct sockaddr_storage src;
	unsigned char got[MSG_MAX];
	long ret;

	if (do_sendto(from, text, n, &to->local) != (long)n)
		die("sendto: short datagram");
	ret = do_recvfrom(to, got, sizeof got, &src);
	expect_bytes(got, (size_t)ret, text, n, "recvfrom");
}

/* Send all datagrams with sendmmsg, looping if the kernel takes fewer. */
static void udp_sendmmsg_all(const struct sock *a, const struct sock *b,
			     struct udp_dgram *d, unsigned count)
{
	struct mmsghdr msgs[3];
	struct iovec iov[3][2];
	unsigned i, sent = 0;

	memset(msgs, 0, sizeof msgs);
	for (i = 0; i < count; i++) {
		struct msghdr *mh = &msgs[i].msg_hdr;

		parts_iov(iov[i], d[i].parts, d[i].nparts);
		mh->msg_iov = iov[i];
		mh->msg_iovlen = (size_t)d[i].nparts;
		mh->msg_name = (void *)&b->local;
		mh->msg_namelen = addr_len(&b->local);
	}
	while (sent < count)
		sent += (unsigned)do_sendmmsg(a, msgs + sent, count - sent);
}

/* Receive `count` datagrams with recvmmsg, looping until all arrived. */
static void udp_recvmmsg_all(const struct sock *b, struct udp_dgram *d,
			     unsigned count)
{
	struct mmsghdr msgs[3];
	struct iovec iov[3];
	struct sockaddr_storage src[3];
	unsigned char data[3][MSG_MAX];
	char want[MSG_MAX];
	unsigned i, got = 0;

	memset(msgs, 0, sizeof msgs);
	for (i = 0; i < count; i++) {
		iov[i] = (struct iovec){ .iov_base = data[i],
					 .iov_len = sizeof data[i] };
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_name = &src[i];
		msgs[i].msg_hdr.msg_namelen = sizeof src[i];
	}
	while (got < count)
		got += (unsigned)do_recvmmsg(b, msgs + got, count - got);
	for (i = 0; i < count; i++) {
		size_t want_len = parts_join(want, d[i].parts, d[i].nparts);

		if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
			die("recvmmsg: datagram %u truncated", i);
		expect_bytes(data[i], msgs[i].msg_len, want, want_len,
			     "recvmmsg");
	}
}

void run_udp(int family, const char *scenario)
{
	struct udp_dgram d[3] = { { .nparts = 1 }, { .nparts = 2 },
				  { .nparts = 1 } };
	char a_to_b[MSG_MAX], b_to_a[MSG_MAX];
	struct sock a, b;

	fmt_into(a_to_b, MSG_MAX, "%s: A->B sendto hello", scenario);
	fmt_into(b_to_a, MSG_MAX, "%s: B->A sendto reply", scenario);
	fmt_into(d[0].parts[0], PART_MAX, "%s mmsg #0 (1 iov)", scenario);
	fmt_into(d[1].parts[0], PART_MAX, "%s mmsg #1 ", scenario);
	fmt_into(d[1].parts[1], PART_MAX, "(2 iovs)");
	fmt_into(d[2].parts[0], PART_MAX, "%s mmsg #2 (1 iov)", scenario);

	udp_open(&a, family);
	udp_open(&b, family);
	udp_sendto_expect(&a, &b, a_to_b);
	udp_sendto_expect(&b, &a, b_to_a);
	udp_sendmmsg_all(&a, &b, d, 3);
	udp_recvmmsg_all(&b, d, 3);
	do_close(&a);
	do_close(&b);
}
