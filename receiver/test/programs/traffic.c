/*
 * traffic.c - deterministic socket traffic for the kernel end-to-end tests.
 *
 * The test attaches the eBPF socket-syscall probes, runs this program as a
 * child and compares what the probes captured with the JSON manifest printed
 * on stdout. The manifest lists every data, connect, accept and close syscall
 * this program makes on a socket, with the values the kernel actually
 * returned. Setup calls (socket, bind, listen, setsockopt, getsockname,
 * getpeername) are not listed.
 *
 * Threads take turns through a single "baton", so exactly one thread makes
 * socket syscalls at any time. That keeps the syscall order, and therefore
 * the manifest's "seq" order, identical from run to run.
 *
 * Build: cc -O2 -g -Wall -Wextra -Werror -pthread -o traffic traffic.c
 * Usage: traffic [--wait]
 *   --wait  print "READY <pid>" on stderr, then wait for a line on stdin
 *           before making any traffic (lets the test attach probes first).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#if !defined(__linux__) || !defined(__x86_64__)
#error "traffic.c targets Linux x86_64 only"
#endif

#define MSG_MAX 128   /* room for any single short message */
#define PART_MAX 32   /* room for one iovec piece */
#define LONG_LEN 3000 /* size of the long message in exchange (e) */
#define LONG_CHUNK 1024 /* read size for it, so the read loop really loops */

/* ---------------------------------------------------------------- errors */

static void die(const char *fmt, ...)
	__attribute__((noreturn, format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("traffic: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Returns ret, or exits with errno's text when the syscall failed. */
static long check(long ret, const char *what)
{
	if (ret < 0)
		die("%s: %s", what, strerror(errno));
	return ret;
}

static void check_pthread(int err, const char *what)
{
	if (err != 0)
		die("%s: %s", what, strerror(err));
}

/* ------------------------------------------------------- growable buffer */

struct buf {
	char *data;
	size_t len, cap;
};

static void buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *grown;

		while (cap < b->len + n + 1)
			cap *= 2;
		grown = realloc(b->data, cap);
		if (!grown)
			die("out of memory");
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* Only for short, fixed-shape fragments such as numbers. */
static void buf_fmt(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void buf_fmt(struct buf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp)
		die("buf_fmt: fragment too long");
	buf_add(b, tmp, (size_t)n);
}

static const char *buf_text(const struct buf *b)
{
	return b->data ? b->data : "";
}

/* --------------------------------------------------------- JSON encoding */

static void json_string(struct buf *b, const char *s)
{
	buf_add(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };
			buf_add(b, esc, 2);
		} else if (c < 0x20) {
			buf_fmt(b, "\\u%04x", c);
		} else {
			buf_add(b, s, 1);
		}
	}
	buf_add(b, "\"", 1);
}

/* Standard base64 (RFC 4648) with padding, as a JSON string. */
static void json_base64(struct buf *b, const unsigned char *p, size_t n)
{
	static const char digits[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	buf_add(b, "\"", 1);
	for (i = 0; i < n; i += 3) {
		unsigned long v = (unsigned long)p[i] << 16;
		char out[4];

		if (i + 1 < n)
			v |= (unsigned long)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		out[0] = digits[(v >> 18) & 63];
		out[1] = digits[(v >> 12) & 63];
		out[2] = i + 1 < n ? digits[(v >> 6) & 63] : '=';
		out[3] = i + 2 < n ? digits[v & 63] : '=';
		buf_add(b, out, 4);
	}
	buf_add(b, "\"", 1);
}

/* {"addr":"127.0.0.1","port":N}, or null when there is no address. */
static void json_addr(struct buf *b, const struct sockaddr_storage *ss)
{
	char text[INET6_ADDRSTRLEN];
	const void *ip;
	unsigned port;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		ip = &in->sin_addr;
		port = ntohs(in->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		ip = &in6->sin6_addr;
		port = ntohs(in6->sin6_port);
	} else {
		buf_str(b, "null");
		return;
	}
	if (!inet_ntop(ss->ss_family, ip, text, sizeof text))
		die("inet_ntop: %s", strerror(errno));
	buf_str(b, "{\"addr\":");
	json_string(b, text);
	buf_fmt(b, ",\"port\":%u}", port);
}

/* -------------------------------------------------------------- manifest */

static struct {
	pthread_mutex_t lock;
	unsigned long next_seq;
	struct buf ops;  /* comma-separated op objects */
	struct buf tids; /* comma-separated "label":tid members */
	int reuse_fd;
	unsigned long long reuse_first_inode, reuse_second_inode;
	int non_socket_fds[3];
} manifest = { .lock = PTHREAD_MUTEX_INITIALIZER, .next_seq = 1 };

static long current_tid(void)
{
	/* Cached so recording an op adds no syscall between two socket ops. */
	static __thread long tid;

	if (!tid)
		tid = syscall(SYS_gettid);
	return tid;
}

static void manifest_add_tid(const char *label)
{
	long tid = current_tid();

	pthread_mutex_lock(&manifest.lock);
	if (manifest.tids.len)
		buf_add(&manifest.tids, ",", 1);
	json_string(&manifest.tids, label);
	buf_fmt(&manifest.tids, ":%ld", tid);
	pthread_mutex_unlock(&manifest.lock);
}

static void print_manifest(void)
{
	printf("{\"pid\":%d,\"tids\":{%s},\"ops\":[%s],", (int)getpid(),
	       buf_text(&manifest.tids), buf_text(&manifest.ops));
	printf("\"fd_reuse\":{\"fd\":%d,\"first_inode\":%llu,"
	       "\"second_inode\":%llu},",
	       manifest.reuse_fd, manifest.reuse_first_inode,
	       manifest.reuse_second_inode);
	printf("\"non_socket_fds\":[%d,%d,%d]}\n", manifest.non_socket_fds[0],
	       manifest.non_socket_fds[1], manifest.non_socket_fds[2]);
	if (fflush(stdout) != 0 || ferror(stdout))
		die("writing the manifest failed");
}

/* ------------------------------------------------------ socket snapshots */

/* What the manifest says about a socket; refreshed by sock_describe(). */
struct sock {
	int fd;
	const char *kind; /* "tcp4", "tcp6", "udp4" or "udp6" */
	unsigned long long inode;
	struct sockaddr_storage local;
	struct sockaddr_storage remote; /* AF_UNSPEC when there is no peer */
};

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

static socklen_t addr_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ? sizeof(struct sockaddr_in)
					: sizeof(struct sockaddr_in6);
}

/*
 * Snapshot inode and addresses. Called once the addresses are final (after
 * bind, connect or accept) and again just before close; data ops reuse the
 * snapshot so no extra syscalls run between them.
 */
static void sock_describe(struct sock *s)
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
static void set_nodelay(const struct sock *s)
{
	int one = 1;

	check(setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one),
	      "setsockopt(TCP_NODELAY)");
}

static void sock_open(struct sock *s, int family, int type)
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

static void tcp_listen(struct sock *s, int family)
{
	sock_open(s, family, SOCK_STREAM);
	sock_bind_loopback(s, family);
	check(listen(s->fd, 8), "listen");
	sock_describe(s);
}

static void udp_open(struct sock *s, int family)
{
	sock_open(s, family, SOCK_DGRAM);
	sock_bind_loopback(s, family);
	sock_describe(s);
}

/* ------------------------------------------------------------ op records */

struct op {
	const char *name;          /* syscall name as the manifest reports it */
	const struct sock *sock;
	const char *dir;           /* "egress", "ingress" or "none" */
	long ret;                  /* the syscall's return value */
	const unsigned char *data; /* bytes this call (or message) moved */
	size_t len;
	const struct sockaddr_storage *remote; /* NULL: use sock->remote */
	int msg_index;             /* mmsg message index, or -1 */
	int listen_fd;             /* accept's listening fd, or -1 */
};

static struct op op_new(const char *name, const struct sock *s,
			const char *dir, long ret)
{
	struct op o = {
		.name = name, .sock = s, .dir = dir, .ret = ret,
		.msg_index = -1, .listen_fd = -1,
	};
	return o;
}

/*
 * Append one op. The caller records right after its syscall returns, while
 * it still holds the baton, so seq order is the order syscalls completed.
 */
static void record(const struct op *o)
{
	const struct sock *s = o->sock;
	struct buf b = { 0 };

	buf_str(&b, "\"op\":");
	json_string(&b, o->name);
	buf_fmt(&b, ",\"tid\":%ld,\"fd\":%d,\"sock\":", current_tid(), s->fd);
	json_string(&b, s->kind);
	buf_str(&b, ",\"dir\":");
	json_string(&b, o->dir);
	buf_fmt(&b, ",\"ret\":%ld,\"len\":%zu,\"data\":", o->ret, o->len);
	json_base64(&b, o->data, o->len);
	buf_fmt(&b, ",\"inode\":%llu,\"local\":", s->inode);
	json_addr(&b, &s->local);
	buf_str(&b, ",\"remote\":");
	json_addr(&b, o->remote ? o->remote : &s->remote);
	if (o->msg_index >= 0)
		buf_fmt(&b, ",\"msg_index\":%d", o->msg_index);
	if (o->listen_fd >= 0)
		buf_fmt(&b, ",\"listen_fd\":%d", o->listen_fd);

	pthread_mutex_lock(&manifest.lock);
	if (manifest.ops.len)
		buf_add(&manifest.ops, ",", 1);
	buf_fmt(&manifest.ops, "{\"seq\":%lu,", manifest.next_seq++);
	buf_add(&manifest.ops, b.data, b.len);
	buf_add(&manifest.ops, "}", 1);
	pthread_mutex_unlock(&manifest.lock);
	free(b.data);
}

/* Copy the first n bytes held by an iovec array into out. */
static void gather(const struct iovec *iov, size_t iovcnt, size_t n,
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

/* ------------------------------------------- recorded socket syscalls */
/*
 * Every socket operation goes through syscall(2) so there is no doubt which
 * syscall ran (glibc maps send/recv to sendto/recvfrom and may implement
 * accept with accept4). Each helper records the op and returns the result;
 * failures end the program, so the manifest never shows an error.
 */

static long do_write(const struct sock *s, const void *p, size_t n)
{
	long ret = check(syscall(SYS_write, s->fd, p, n), "write");
	struct op o = op_new("write", s, "egress", ret);

	o.data = p;
	o.len = (size_t)ret;
	record(&o);
	return ret;
}

static long do_read(const struct sock *s, void *p, size_t cap)
{
	long ret = check(syscall(SYS_read, s->fd, p, cap), "read");
	struct op o = op_new("read", s, "ingress", ret);

	o.data = p;
	o.len = (size_t)ret;
	record(&o);
	return ret;
}

/* to == NULL is send(2) on a connected socket. */
static long do_sendto(const struct sock *s, const void *p, size_t n,
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
static long do_recvfrom(const struct sock *s, void *p, size_t cap,
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

static long do_sendmsg(const struct sock *s, struct iovec *iov, size_t n)
{
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = n };
	long ret = check(syscall(SYS_sendmsg, s->fd, &mh, 0), "sendmsg");
	struct op o = op_new("sendmsg", s, "egress", ret);

	record_iov(&o, iov, n, (size_t)ret);
	return ret;
}

static long do_recvmsg(const struct sock *s, struct iovec *iov, size_t n)
{
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = n };
	long ret = check(syscall(SYS_recvmsg, s->fd, &mh, 0), "recvmsg");
	struct op o = op_new("recvmsg", s, "ingress", ret);

	record_iov(&o, iov, n, (size_t)ret);
	return ret;
}

static long do_writev(const struct sock *s, const struct iovec *iov, int n)
{
	long ret = check(syscall(SYS_writev, s->fd, iov, n), "writev");
	struct op o = op_new("writev", s, "egress", ret);

	record_iov(&o, iov, (size_t)n, (size_t)ret);
	return ret;
}

static long do_readv(const struct sock *s, const struct iovec *iov, int n)
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

static int do_sendmmsg(const struct sock *s, struct mmsghdr *msgs,
		       unsigned n)
{
	int ret = (int)check(syscall(SYS_sendmmsg, s->fd, msgs, n, 0),
			     "sendmmsg");

	record_mmsg("sendmmsg", s, "egress", ret, msgs);
	return ret;
}

static int do_recvmmsg(const struct sock *s, struct mmsghdr *msgs,
		       unsigned n)
{
	int ret = (int)check(syscall(SYS_recvmmsg, s->fd, msgs, n, 0, NULL),
			     "recvmmsg");

	record_mmsg("recvmmsg", s, "ingress", ret, msgs);
	return ret;
}

static void do_connect(struct sock *s, const struct sockaddr_storage *to)
{
	long ret = check(syscall(SYS_connect, s->fd, to, addr_len(to)),
			 "connect");
	struct op o = op_new("connect", s, "none", ret);

	sock_describe(s);
	record(&o);
}

/* Fills conn with the accepted socket; the op's fd is the new socket. */
static void do_accept(struct sock *conn, const struct sock *listener,
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

static void do_close(struct sock *s)
{
	long ret;
	struct op o;

	sock_describe(s); /* the manifest wants the state just before close */
	ret = check(syscall(SYS_close, s->fd), "close");
	o = op_new("close", s, "none", ret);
	record(&o);
	s->fd = -1;
}

/* ---------------------------------------------- checked transfer helpers */

static void expect_bytes(const void *got, size_t got_len, const void *want,
			 size_t want_len, const char *what)
{
	if (got_len != want_len || memcmp(got, want, want_len) != 0)
		die("%s: received %zu bytes, expected %zu bytes of \"%.*s\"",
		    what, got_len, want_len, (int)want_len, (const char *)want);
}

/* Loops on write() so a short write is recorded and finished, not lost. */
static void write_all(const struct sock *s, const void *p, size_t n)
{
	const unsigned char *cur = p;

	while (n > 0) {
		long ret = do_write(s, cur, n);

		if (ret == 0)
			die("write: wrote 0 bytes");
		cur += ret;
		n -= (size_t)ret;
	}
}

/* read() in chunks of at most `chunk` until n bytes arrived. */
static void read_all(const struct sock *s, unsigned char *out, size_t n,
		     size_t chunk)
{
	size_t got = 0;

	while (got < n) {
		size_t want = n - got < chunk ? n - got : chunk;
		long ret = do_read(s, out + got, want);

		if (ret == 0)
			die("read: unexpected EOF after %zu of %zu bytes",
			    got, n);
		got += (size_t)ret;
	}
}

static void read_expect(const struct sock *s, const char *want)
{
	size_t n = strlen(want);
	unsigned char got[MSG_MAX];

	read_all(s, got, n, n);
	expect_bytes(got, n, want, n, "read");
}

static void read_expect_eof(const struct sock *s)
{
	unsigned char got[MSG_MAX];

	if (do_read(s, got, sizeof got) != 0)
		die("read: expected EOF");
}

/* ---------------------------------------------------------------- baton */
/*
 * Only the thread whose id equals `holder` may make socket syscalls; it
 * hands the baton on explicitly. The main thread is MAIN_ID; server
 * threads use small positive ids.
 */

enum { MAIN_ID = 0 };

static struct {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	int holder;
} baton = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, MAIN_ID };

static void baton_give(int to)
{
	pthread_mutex_lock(&baton.lock);
	baton.holder = to;
	pthread_cond_broadcast(&baton.changed);
	pthread_mutex_unlock(&baton.lock);
}

static void baton_wait(int me)
{
	pthread_mutex_lock(&baton.lock);
	while (baton.holder != me)
		pthread_cond_wait(&baton.changed, &baton.lock);
	pthread_mutex_unlock(&baton.lock);
}

/* Let `to` run its next step, and come back when it hands the baton back. */
static void baton_pass(int me, int to)
{
	baton_give(to);
	baton_wait(me);
}

/* ---------------------------------------------------------- server threads */

struct tcp_msgs; /* scenario 1 messages, defined below */

struct server {
	int id;            /* baton id */
	const char *label; /* key in the manifest's "tids" */
	int family;
	int use_accept4;
	const struct tcp_msgs *msgs; /* scenario 1 */
	const char *expect;          /* scenario 3: the one message to read */
	struct sock listener;
	pthread_t thread;
};

/* Runs the thread's setup step (it creates its listener) before returning. */
static void server_start(struct server *srv, void *(*body)(void *))
{
	baton_give(srv->id);
	check_pthread(pthread_create(&srv->thread, NULL, body, srv),
		      "pthread_create");
	baton_wait(MAIN_ID);
}

/* Lets the thread run its remaining steps, then reaps it. */
static void server_finish(struct server *srv)
{
	baton_pass(MAIN_ID, srv->id);
	check_pthread(pthread_join(srv->thread, NULL), "pthread_join");
}

/* First step of every server thread: announce the tid, listen. */
static void server_setup(struct server *srv)
{
	baton_wait(srv->id);
	manifest_add_tid(srv->label);
	tcp_listen(&srv->listener, srv->family);
}

/* Last step: close both sockets and return the baton for good. */
static void server_teardown(struct server *srv, struct sock *conn)
{
	read_expect_eof(conn);
	do_close(conn);
	do_close(&srv->listener);
	baton_give(MAIN_ID);
}

/* ------------------------------------------------ scenario 1: TCP stream */

struct tcp_msgs {
	char request[MSG_MAX];
	char response[MSG_MAX];
	char send[MSG_MAX];
	char sendmsg_parts[3][PART_MAX];
	char writev_parts[4][PART_MAX];
	unsigned char longmsg[LONG_LEN];
};

static void fmt_into(char *dst, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fmt_into(char *dst, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(dst, cap, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap)
		die("message \"%s\" does not fit", fmt);
}

/* Every message names its scenario so captured payloads are traceable. */
static void tcp_msgs_init(struct tcp_msgs *m, const char *scenario)
{
	size_t i;

	fmt_into(m->request, MSG_MAX,
		 "GET /hello?scenario=%s HTTP/1.1\r\nHost: x\r\n\r\n", scenario);
	fmt_into(m->response, MSG_MAX,
		 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
		 "X-Scenario: %s\r\n\r\nok", scenario);
	fmt_into(m->send, MSG_MAX,
		 "POST /send?scenario=%s HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
		 scenario);
	/* 5, 17 and 9 bytes for a four-letter scenario name. */
	fmt_into(m->sendmsg_parts[0], PART_MAX, "MSG1:");
	fmt_into(m->sendmsg_parts[1], PART_MAX, "%s-sendmsg-part", scenario);
	fmt_into(m->sendmsg_parts[2], PART_MAX, "-3-end.\r\n");
	fmt_into(m->writev_parts[0], PART_MAX, "WRITEV:");
	fmt_into(m->writev_parts[1], PART_MAX, "%s:", scenario);
	fmt_into(m->writev_parts[2], PART_MAX, "four-iovecs:");
	fmt_into(m->writev_parts[3], PART_MAX, "message\r\n");
	/* A fixed pattern, prefixed with the scenario to tell v4 from v6. */
	for (i = 0; i < LONG_LEN; i++)
		m->longmsg[i] = (unsigned char)('a' + i % 26);
	memcpy(m->longmsg, "LONG:", 5);
	memcpy(m->longmsg + 5, scenario, strlen(scenario));
}

/* Point iov[i] at parts[i]; returns the total length. */
static size_t parts_iov(struct iovec *iov, char parts[][PART_MAX], int n)
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
static size_t parts_join(char *out, const char parts[][PART_MAX], int n)
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

/* Server side of scenario 1; each block is one turn with the baton. */
static void *tcp_server_body(void *arg)
{
	struct server *srv = arg;
	const struct tcp_msgs *m = srv->msgs;
	unsigned char a[8], b[12], c[MSG_MAX];
	unsigned char flat[MSG_MAX];
	char want[MSG_MAX];
	struct iovec iov[3];
	struct sock conn;
	size_t want_len;
	long n;

	server_setup(srv);
	baton_pass(srv->id, MAIN_ID); /* main: connect */

	do_accept(&conn, &srv->listener, srv->use_accept4);
	baton_pass(srv->id, MAIN_ID); /* main: write request */

	/* (a) read the request, write the response */
	read_expect(&conn, m->request);
	write_all(&conn, m->response, strlen(m->response));
	baton_pass(srv->id, MAIN_ID); /* main: read response, send */

	/* (b) recv(2), i.e. recvfrom with no address */
	n = do_recvfrom(&conn, c, sizeof c, NULL);
	expect_bytes(c, (size_t)n, m->send, strlen(m->send), "recv");
	baton_pass(srv->id, MAIN_ID); /* main: sendmsg */

	/* (c) recvmsg into two iovecs; the first is too small on purpose */
	iov[0] = (struct iovec){ .iov_base = a, .iov_len = sizeof a };
	iov[1] = (struct iovec){ .iov_base = c, .iov_len = sizeof c };
	n = do_recvmsg(&conn, iov, 2);
	gather(iov, 2, (size_t)n, flat);
	want_len = parts_join(want, m->sendmsg_parts, 3);
	expect_bytes(flat, (size_t)n, want, want_len, "recvmsg");
	baton_pass(srv->id, MAIN_ID); /* main: writev */

	/* (d) readv into three iovecs, spanning all of them */
	iov[0] = (struct iovec){ .iov_base = a, .iov_len = sizeof a };
	iov[1] = (struct iovec){ .iov_base = b, .iov_len = sizeof b };
	iov[2] = (struct iovec){ .iov_base = c, .iov_len = sizeof c };
	n = do_readv(&conn, iov, 3);
	gather(iov, 3, (size_t)n, flat);
	want_len = parts_join(want, m->writev_parts, 4);
	expect_bytes(flat, (size_t)n, want, want_len, "readv");
	baton_pass(srv->id, MAIN_ID); /* main: long write */

	/* (e) the long message, read in chunks */
	{
		unsigned char longbuf[LONG_LEN];

		read_all(&conn, longbuf, LONG_LEN, LONG_CHUNK);
		expect_bytes(longbuf, LONG_LEN, m->longmsg, LONG_LEN,
			     "long read");
	}
	baton_pass(srv->id, MAIN_ID); /* main: close */

	/* (f) EOF, then close */
	server_teardown(srv, &conn);
	return NULL;
}

/* Client side of scenario 1, on the main thread. */
static void run_tcp(int family, const char *scenario, int use_accept4)
{
	struct tcp_msgs m;
	struct server srv = {
		.id = 1, .family = family, .use_accept4 = use_accept4,
		.msgs = &m,
		.label = family == AF_INET ? "tcp4_server" : "tcp6_server",
	};
	struct iovec iov[4];
	struct sock c;
	size_t total;

	tcp_msgs_init(&m, scenario);
	server_start(&srv, tcp_server_body);

	sock_open(&c, family, SOCK_STREAM);
	do_connect(&c, &srv.listener.local);
	baton_pass(MAIN_ID, srv.id); /* server: accept */

	/* (a) */
	write_all(&c, m.request, strlen(m.request));
	baton_pass(MAIN_ID, srv.id); /* server: read, write */
	read_expect(&c, m.response);

	/* (b) send(2), i.e. sendto with no address */
	if (do_sendto(&c, m.send, strlen(m.send), NULL) !=
	    (long)strlen(m.send))
		die("send: short send");
	baton_pass(MAIN_ID, srv.id); /* server: recv */

	/* (c) */
	total = parts_iov(iov, m.sendmsg_parts, 3);
	if (do_sendmsg(&c, iov, 3) != (long)total)
		die("sendmsg: short send");
	baton_pass(MAIN_ID, srv.id); /* server: recvmsg */

	/* (d) */
	total = parts_iov(iov, m.writev_parts, 4);
	if (do_writev(&c, iov, 4) != (long)total)
		die("writev: short write");
	baton_pass(MAIN_ID, srv.id); /* server: readv */

	/* (e) */
	write_all(&c, m.longmsg, LONG_LEN);
	baton_pass(MAIN_ID, srv.id); /* server: read loop */

	/* (f) */
	do_close(&c);
	server_finish(&srv); /* server: read EOF, close */
}

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

static void run_udp(int family, const char *scenario)
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

/* ------------------------------------------------- scenario 3: fd reuse */

/* Server side: accept one connection, read one message, wait for EOF. */
static void *reuse_server_body(void *arg)
{
	struct server *srv = arg;
	struct sock conn;

	server_setup(srv);
	baton_pass(srv->id, MAIN_ID); /* main: connect */

	do_accept(&conn, &srv->listener, srv->use_accept4);
	baton_pass(srv->id, MAIN_ID); /* main: write */

	read_expect(&conn, srv->expect);
	baton_pass(srv->id, MAIN_ID); /* main: close */

	server_teardown(srv, &conn);
	return NULL;
}

/*
 * The same fd number carries two different connections in a row, which a
 * capture keyed on fd alone would confuse. Both servers listen before the
 * first client socket exists, and the new socket is opened right after the
 * close while no other thread runs, so it must get the freed (lowest) fd.
 */
static void run_fd_reuse(void)
{
	struct server s1 = {
		.id = 1, .label = "reuse_s1", .family = AF_INET,
		.expect = "fd-reuse: first socket -> S1\n",
	};
	struct server s2 = {
		.id = 2, .label = "reuse_s2", .family = AF_INET,
		.use_accept4 = 1,
		.expect = "fd-reuse: second socket -> S2\n",
	};
	struct sock c;
	int first_fd;

	server_start(&s1, reuse_server_body);
	server_start(&s2, reuse_server_body);

	sock_open(&c, AF_INET, SOCK_STREAM);
	do_connect(&c, &s1.listener.local);
	baton_pass(MAIN_ID, s1.id); /* s1: accept */
	write_all(&c, s1.expect, strlen(s1.expect));
	baton_pass(MAIN_ID, s1.id); /* s1: read */
	first_fd = c.fd;
	do_close(&c);
	manifest.reuse_first_inode = c.inode;

	sock_open(&c, AF_INET, SOCK_STREAM);
	if (c.fd != first_fd)
		die("fd reuse: new socket got fd %d, expected %d", c.fd,
		    first_fd);
	server_finish(&s1); /* s1: read EOF, close */

	do_connect(&c, &s2.listener.local);
	if (c.inode == manifest.reuse_first_inode)
		die("fd reuse: both sockets have inode %llu", c.inode);
	manifest.reuse_fd = c.fd;
	manifest.reuse_second_inode = c.inode;
	baton_pass(MAIN_ID, s2.id); /* s2: accept */
	write_all(&c, s2.expect, strlen(s2.expect));
	baton_pass(MAIN_ID, s2.id); /* s2: read */
	do_close(&c);
	server_finish(&s2); /* s2: read EOF, close */
}

/* --------------------------------------------- scenario 4: non-socket I/O */

/* Write text to wfd and read it back from rfd; none of this is an op. */
static void echo_through(int wfd, int rfd, const char *text, const char *what)
{
	size_t n = strlen(text);
	char got[MSG_MAX];
	ssize_t ret;

	ret = write(wfd, text, n);
	if (ret != (ssize_t)n)
		die("%s write: %s", what, ret < 0 ? strerror(errno) : "short");
	if (rfd == wfd)
		check(lseek(rfd, 0, SEEK_SET), "lseek");
	ret = read(rfd, got, sizeof got);
	if (ret < 0)
		die("%s read: %s", what, strerror(errno));
	expect_bytes(got, (size_t)ret, text, n, what);
}

/*
 * File and pipe I/O uses the same read/write syscalls as sockets; the probes
 * must ignore it. All three fds stay open until the end so their numbers
 * are distinct.
 */
static void run_non_socket(void)
{
	char path[] = "/tmp/traffic-XXXXXX";
	int file_fd, pipe_fds[2];

	file_fd = (int)check(mkstemp(path), "mkstemp");
	echo_through(file_fd, file_fd, "non-socket: temp file data\n",
		     "file");
	check(unlink(path), "unlink");
	check(pipe(pipe_fds), "pipe");
	echo_through(pipe_fds[1], pipe_fds[0], "non-socket: pipe data\n",
		     "pipe");

	manifest.non_socket_fds[0] = file_fd;
	manifest.non_socket_fds[1] = pipe_fds[0];
	manifest.non_socket_fds[2] = pipe_fds[1];
	check(close(file_fd), "close");
	check(close(pipe_fds[0]), "close");
	check(close(pipe_fds[1]), "close");
}

/* ------------------------------------------------------------------ main */

static void wait_for_go(void)
{
	char line[64];

	fprintf(stderr, "READY %d\n", (int)getpid());
	fflush(stderr);
	if (!fgets(line, sizeof line, stdin))
		die("--wait: stdin closed before a line arrived");
}

int main(int argc, char **argv)
{
	if (argc > 2 || (argc == 2 && strcmp(argv[1], "--wait") != 0)) {
		fprintf(stderr, "usage: %s [--wait]\n", argv[0]);
		return 2;
	}
	if (argc == 2)
		wait_for_go();

	manifest_add_tid("main");
	run_tcp(AF_INET, "tcp4", 1);
	run_tcp(AF_INET6, "tcp6", 0);
	run_udp(AF_INET, "udp4");
	run_udp(AF_INET6, "udp6");
	run_fd_reuse();
	run_non_socket();
	print_manifest();
	return 0;
}
