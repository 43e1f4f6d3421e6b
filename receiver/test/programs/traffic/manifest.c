/*
 * manifest.c - the JSON manifest printed on stdout: every recorded op, the
 * thread ids and what the fd-reuse and non-socket scenarios report.
 */
#include "traffic.h"

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

struct manifest manifest = { .lock = PTHREAD_MUTEX_INITIALIZER,
			     .next_seq = 1 };

static long current_tid(void)
{
	/* Cached so recording an op adds no syscall between two socket ops. */
	static __thread long tid;

	if (!tid)
		tid = syscall(SYS_gettid);
	return tid;
}

void manifest_add_tid(const char *label)
{
	long tid = current_tid();

	pthread_mutex_lock(&manifest.lock);
	if (manifest.tids.len)
		buf_add(&manifest.tids, ",", 1);
	json_string(&manifest.tids, label);
	buf_fmt(&manifest.tids, ":%ld", tid);
	pthread_mutex_unlock(&manifest.lock);
}

void print_manifest(void)
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

/* ------------------------------------------------------------ op records */

struct op op_new(const char *name, const struct sock *s,
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
void record(const struct op *o)
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
