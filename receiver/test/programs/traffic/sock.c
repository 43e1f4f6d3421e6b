/* sock.c - opening sockets and snapshotting what the manifest says of them. */
#include "traffic.h"

/* ------------------------------------------------------ socket snapshots */

static const char *sock_kind(int family, int type)
{
	if (type == SOCK_STREAM)
		return family == AF_INET ? "tcp4" : "tcp6";
	return family == AF_INET ? "udp4" : "udp6";
}

static void loopback_addr(struct sockaddr_storage *ss, int family)
{
	memset(ss, 0, sizeof *ss);
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_loopback;
	}
}

socklen_t addr_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ? sizeof(struct sockaddr_in)
					: sizeof(struct sockaddr_in6);
}

/*
 * Snapshot inode and addresses. Called once the addresses are final (after
 * bind, connect or accept) and again just before close; data ops reuse the
 * snapshot so no extra syscalls run between them.
 */
void sock_describe(struct sock *s)
{
	struct stat st;
	socklen_t len;

	check(fstat(s->fd, &st), "fstat");
	s->inode = (unsigned long long)st.st_ino;
	len = sizeof s->local;
	check(getsockname(s->fd, (struct sockaddr *)&s->local, &len),
	      "getsockname");
	len = sizeof s->remote;
	if (getpeername(s->fd, (struct sockaddr *)&s->remote, &len) < 0) {
		if (errno != ENOTCONN)
			die("getpeername: %s", strerror(errno));
		memset(&s->remote, 0, sizeof s->remote);
	}
}

/* Disable Nagle so each small write leaves at once as a single segment. */
void set_nodelay(const struct sock *s)
{
	int one = 1;

	check(setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one),
	      "setsockopt(TCP_NODELAY)");
}

void sock_open(struct sock *s, int family, int type)
{
	memset(s, 0, sizeof *s);
	s->fd = (int)check(socket(family, type, 0), "socket");
	s->kind = sock_kind(family, type);
	if (type == SOCK_STREAM)
		set_nodelay(s);
}

/* Bind to the loopback address with an ephemeral port. */
static void sock_bind_loopback(struct sock *s, int family)
{
	struct sockaddr_storage addr;

	loopback_addr(&addr, family);
	check(bind(s->fd, (struct sockaddr *)&addr, addr_len(&addr)), "bind");
}

void tcp_listen(struct sock *s, int family)
{
	sock_open(s, family, SOCK_STREAM);
	sock_bind_loopback(s, family);
	check(listen(s->fd, 8), "listen");
	sock_describe(s);
}

void udp_open(struct sock *s, int family)
{
	sock_open(s, family, SOCK_DGRAM);
	sock_bind_loopback(s, family);
	sock_describe(s);
}
