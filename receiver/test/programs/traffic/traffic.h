/*
 * traffic.h - what the parts of the traffic program share: the socket and
 * op records, the manifest, the baton and server threads, and every
 * function one file calls in another. main.c describes the program.
 */
#ifndef TRAFFIC_H
#define TRAFFIC_H

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
#error "traffic targets Linux x86_64 only"
#endif

#define MSG_MAX 128   /* room for any single short message */
#define PART_MAX 32   /* room for one iovec piece */

/* ------------------------------------------- util.c: errors, formatting */

void die(const char *fmt, ...)
	__attribute__((noreturn, format(printf, 1, 2)));
long check(long ret, const char *what);
void check_pthread(int err, const char *what);

struct buf {
	char *data;
	size_t len, cap;
};

void buf_add(struct buf *b, const void *p, size_t n);
void buf_str(struct buf *b, const char *s);
void buf_fmt(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const char *buf_text(const struct buf *b);

void fmt_into(char *dst, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ------------------------------------------------ sock.c: socket snapshots */

/* What the manifest says about a socket; refreshed by sock_describe(). */
struct sock {
	int fd;
	const char *kind; /* "tcp4", "tcp6", "udp4" or "udp6" */
	unsigned long long inode;
	struct sockaddr_storage local;
	struct sockaddr_storage remote; /* AF_UNSPEC when there is no peer */
};

socklen_t addr_len(const struct sockaddr_storage *ss);
void sock_describe(struct sock *s);
void set_nodelay(const struct sock *s);
void sock_open(struct sock *s, int family, int type);
void tcp_listen(struct sock *s, int family);
void udp_open(struct sock *s, int family);

/* ------------------------------------ manifest.c: manifest and op records */

struct manifest {
	pthread_mutex_t lock;
	unsigned long next_seq;
	struct buf ops;  /* comma-separated op objects */
	struct buf tids; /* comma-separated "label":tid members */
	int reuse_fd;
	unsigned long long reuse_first_inode, reuse_second_inode;
	int non_socket_fds[3];
};

extern struct manifest manifest;

void manifest_add_tid(const char *label);
void print_manifest(void);

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

struct op op_new(const char *name, const struct sock *s, const char *dir,
		 long ret);
void record(const struct op *o);

/* ------------------------- syscalls.c: recorded socket syscalls, plain */

long do_write(const struct sock *s, const void *p, size_t n);
long do_read(const struct sock *s, void *p, size_t cap);
long do_sendto(const struct sock *s, const void *p, size_t n,
	       const struct sockaddr_storage *to);
long do_recvfrom(const struct sock *s, void *p, size_t cap,
		 struct sockaddr_storage *from);
void do_connect(struct sock *s, const struct sockaddr_storage *to);
void do_accept(struct sock *conn, const struct sock *listener,
	       int use_accept4);
void do_close(struct sock *s);

/* --------------------- vectored.c: recorded iovec and mmsg syscalls */

void gather(const struct iovec *iov, size_t iovcnt, size_t n,
	    unsigned char *out);
size_t parts_iov(struct iovec *iov, char parts[][PART_MAX], int n);
size_t parts_join(char *out, const char parts[][PART_MAX], int n);
long do_sendmsg(const struct sock *s, struct iovec *iov, size_t n);
long do_recvmsg(const struct sock *s, struct iovec *iov, size_t n);
long do_writev(const struct sock *s, const struct iovec *iov, int n);
long do_readv(const struct sock *s, const struct iovec *iov, int n);
int do_sendmmsg(const struct sock *s, struct mmsghdr *msgs, unsigned n);
int do_recvmmsg(const struct sock *s, struct mmsghdr *msgs, unsigned n);

/* ----------------------------- transfer.c: checked transfer helpers */

void expect_bytes(const void *got, size_t got_len, const void *want,
		  size_t want_len, const char *what);
void write_all(const struct sock *s, const void *p, size_t n);
void read_all(const struct sock *s, unsigned char *out, size_t n,
	      size_t chunk);
void read_expect(const struct sock *s, const char *want);
void read_expect_eof(const struct sock *s);

/* ----------------------------- server.c: the baton and server threads */

enum { MAIN_ID = 0 };

void baton_give(int to);
void baton_wait(int me);
void baton_pass(int me, int to);

struct tcp_msgs; /* scenario 1 messages, defined in tcp.c */

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

void server_start(struct server *srv, void *(*body)(void *));
void server_finish(struct server *srv);
void server_setup(struct server *srv);
void server_teardown(struct server *srv, struct sock *conn);

/* ------------------------------------------------------------- scenarios */

void run_tcp(int family, const char *scenario, int use_accept4); /* tcp.c */
void run_udp(int family, const char *scenario);             /* udp.c */
void run_fd_reuse(void);                                     /* fd_reuse.c */
void run_non_socket(void);                                   /* non_socket.c */

#endif /* TRAFFIC_H */
