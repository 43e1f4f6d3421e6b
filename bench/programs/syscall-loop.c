/*
 * syscall-loop.c - a tight write/read loop, the load the benchmarks measure.
 *
 * Each iteration write()s MSG_LEN bytes on one end of a channel and read()s
 * them back on the other end, in one thread, with blocking fds. The channel is
 * a TCP connection over 127.0.0.1 (socket mode: every syscall is one the
 * capture programs record) or a pipe (pipe mode: the same hooks fire, but the
 * programs must reject the fd as "not a socket", so this is the filter cost).
 *
 * Prints one JSON line on stdout:
 *   {"mode":"socket","iterations":N,"syscalls":S,"ns_per_syscall":X,"elapsed_ns":T,...}
 * where S counts every data syscall of the timed loop (2N unless a read came
 * back short and had to be repeated), and warmup_syscalls counts the untimed
 * ones made before it, so a capture can check it saw S + warmup_syscalls.
 *
 * Build: cc -O2 -g -Wall -Wextra -Werror -pthread -o syscall-loop syscall-loop.c
 * Usage: syscall-loop <socket|pipe> <iterations> [--rate OPS_PER_SEC]
 *   --rate R  pace iterations to R per second against a fixed schedule, so the
 *             average rate holds even when single sleeps overshoot.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG_LEN 16
/* enough to fault in buffers and warm caches, small next to any real run */
#define WARMUP_MAX 1000

struct channel {
	int wfd;
	int rfd;
	/* every fd to close at the end (socket mode has a listener too) */
	int fds[3];
	int nfds;
};

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("syscall-loop: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* a connected TCP pair over loopback: listen on an ephemeral port, connect, accept */
static void open_socket_channel(struct channel *ch)
{
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	int one = 1;
	int lfd, cfd, afd;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket: %s", strerror(errno));
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = 0;
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die("bind: %s", strerror(errno));
	if (listen(lfd, 1) < 0)
		die("listen: %s", strerror(errno));
	if (getsockname(lfd, (struct sockaddr *)&addr, &len) < 0)
		die("getsockname: %s", strerror(errno));

	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cfd < 0)
		die("socket: %s", strerror(errno));
	/* a loopback connect completes in the kernel, so accept after it cannot block */
	if (connect(cfd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die("connect: %s", strerror(errno));
	afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (afd < 0)
		die("accept4: %s", strerror(errno));
	/* without NODELAY, Nagle would hold each small write waiting for an ACK */
	if (setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    setsockopt(afd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		die("setsockopt TCP_NODELAY: %s", strerror(errno));

	ch->wfd = cfd;
	ch->rfd = afd;
	ch->fds[0] = cfd;
	ch->fds[1] = afd;
	ch->fds[2] = lfd;
	ch->nfds = 3;
}

static void open_pipe_channel(struct channel *ch)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe2: %s", strerror(errno));
	ch->rfd = p[0];
	ch->wfd = p[1];
	ch->fds[0] = p[0];
	ch->fds[1] = p[1];
	ch->nfds = 2;
}

/* one write and the read(s) that take it back; returns the syscalls made */
static uint64_t exchange(const struct channel *ch, const char *msg, char *buf)
{
	uint64_t calls = 1;
	size_t got = 0;
	ssize_t n;

	n = write(ch->wfd, msg, MSG_LEN);
	if (n != MSG_LEN)
		die("write returned %zd: %s", n, n < 0 ? strerror(errno) : "short write");
	/* both channels deliver 16 bytes whole in practice; loop anyway and count */
	while (got < MSG_LEN) {
		n = read(ch->rfd, buf + got, MSG_LEN - got);
		calls++;
		if (n <= 0)
			die("read returned %zd: %s", n, n < 0 ? strerror(errno) : "end of stream");
		got += (size_t)n;
	}
	return calls;
}

/* sleep until the absolute CLOCK_MONOTONIC time t (ns) */
static void sleep_until(uint64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)(t / 1000000000ull), .tv_nsec = (long)(t % 1000000000ull) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static uint64_t parse_u64(const char *s, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end != '\0' || v == 0)
		die("%s must be a positive integer, got '%s'", what, s);
	return (uint64_t)v;
}

static void usage(void)
{
	fprintf(stderr, "usage: syscall-loop <socket|pipe> <iterations> [--rate OPS_PER_SEC]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const char msg[MSG_LEN] = "kindling-bench!";
	char buf[MSG_LEN];
	struct channel ch;
	uint64_t iterations, rate = 0, warmup, warm_calls = 0, calls = 0, t0, t1;
	int socket_mode;

	if (argc != 3 && argc != 5)
		usage();
	if (strcmp(argv[1], "socket") == 0)
		socket_mode = 1;
	else if (strcmp(argv[1], "pipe") == 0)
		socket_mode = 0;
	else
		usage();
	iterations = parse_u64(argv[2], "iterations");
	if (argc == 5) {
		if (strcmp(argv[3], "--rate") != 0)
			usage();
		rate = parse_u64(argv[4], "--rate");
	}

	if (socket_mode)
		open_socket_channel(&ch);
	else
		open_pipe_channel(&ch);

	/* the default 50 us timer slack would make every paced sleep overshoot */
	if (rate)
		prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

	warmup = iterations < WARMUP_MAX ? iterations : WARMUP_MAX;
	for (uint64_t i = 0; i < warmup; i++)
		warm_calls += exchange(&ch, msg, buf);

	t0 = now_ns();
	if (rate) {
		/* iteration i is due at t0 + i/rate; running late, the loop catches up without sleeping */
		for (uint64_t i = 0; i < iterations; i++) {
			uint64_t due = t0 + (uint64_t)((double)i * 1e9 / (double)rate);

			if (now_ns() < due)
				sleep_until(due);
			calls += exchange(&ch, msg, buf);
		}
	} else {
		for (uint64_t i = 0; i < iterations; i++)
			calls += exchange(&ch, msg, buf);
	}
	t1 = now_ns();

	for (int i = 0; i < ch.nfds; i++)
		close(ch.fds[i]);

	printf("{\"mode\":\"%s\",\"iterations\":%llu,\"syscalls\":%llu,\"ns_per_syscall\":%.2f,"
	       "\"elapsed_ns\":%llu,\"warmup_syscalls\":%llu,\"rate\":%llu,\"achieved_rate\":%.1f,\"pid\":%d}\n",
	       socket_mode ? "socket" : "pipe", (unsigned long long)iterations, (unsigned long long)calls,
	       (double)(t1 - t0) / (double)calls, (unsigned long long)(t1 - t0),
	       (unsigned long long)warm_calls, (unsigned long long)rate,
	       (double)iterations * 1e9 / (double)(t1 - t0), (int)getpid());
	return 0;
}
