/*
 * pingpong.c - two threads handing a byte back and forth over two pipes: the
 * context-switch load that bench/profiling-overhead.ts measures.
 *
 * The main thread writes a byte to pipe A and blocks reading pipe B; the
 * partner reads A and writes B. Pinned to one CPU (the bench runs this under
 * taskset), every hand-off is one wake-up and one context switch, so a round
 * trip is two of each: ns_per_switch = elapsed / (2 * iterations). Pipes are
 * not sockets: the capture programs on read/write reject them at once.
 *
 * --track makes both threads tracked by the trace-profiling programs, which
 * start tracking a thread at its first socket syscall: the main thread sets up
 * a loopback TCP connection (connect, accept) before creating the partner, and
 * each thread writes one byte to it before the loop and one after. The agent's
 * records of those writes carry the threads' counters, so the bench can check
 * the loop's switches were counted. Without --track the program makes no socket
 * syscall at all.
 *
 * Prints one JSON line on stdout:
 *   {"pid":P,"tids":[A,B],"tracked":true,"iterations":N,"elapsed_ns":T,
 *    "ns_per_switch":X,"voluntary_switches":[a,b],"involuntary_switches":[c,d]}
 * where the switch counts are each thread's own over the timed loop (getrusage
 * RUSAGE_THREAD). Run at SCHED_FIFO (chrt), a woken partner never preempts the
 * writer, so every hand-off is the writer blocking: voluntary about N each,
 * involuntary about 0. Under SCHED_OTHER some hand-offs are preemptions at
 * wake-up instead, and other load on the CPU adds switches of its own.
 *
 * Build: cc -O2 -g -Wall -Wextra -Werror -pthread -o pingpong pingpong.c
 * Usage: pingpong <iterations> [--track]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* untimed round trips first: fault in stacks and pipe buffers, settle the scheduler */
#define WARMUP 2000

struct side {
	int rfd, wfd;
	int sock; /* -1 unless tracked */
	uint64_t iterations;
	pid_t tid;
	long voluntary, involuntary;
};

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("pingpong: ", stderr);
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

/* this thread's context switches so far: voluntary (it blocked) and involuntary (preempted) */
static void switches_now(long *voluntary, long *involuntary)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	*voluntary = ru.ru_nvcsw;
	*involuntary = ru.ru_nivcsw;
}

static void xread(int fd, char *c)
{
	if (read(fd, c, 1) != 1)
		die("read: %s", strerror(errno));
}

static void xwrite(int fd, char c)
{
	if (write(fd, &c, 1) != 1)
		die("write: %s", strerror(errno));
}

/* one byte on the loopback connection: a socket syscall, so the thread is tracked (and its counters recorded) */
static void mark(const struct side *s)
{
	if (s->sock >= 0)
		xwrite(s->sock, 'm');
}

/* the partner: answer every byte, WARMUP + iterations times */
static void *partner(void *arg)
{
	struct side *s = arg;
	long v0 = 0, i0 = 0;
	char c;

	s->tid = (pid_t)syscall(SYS_gettid);
	mark(s);
	for (uint64_t i = 0; i < WARMUP + s->iterations; i++) {
		if (i == WARMUP)
			switches_now(&v0, &i0);
		xread(s->rfd, &c);
		xwrite(s->wfd, c);
	}
	switches_now(&s->voluntary, &s->involuntary);
	s->voluntary -= v0;
	s->involuntary -= i0;
	mark(s);
	return NULL;
}

/* a connected loopback TCP pair: fds[0] the connecting end, fds[1] the accepted one */
static void loopback_pair(int fds[2])
{
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (lfd < 0)
		die("socket: %s", strerror(errno));
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&addr, &len) < 0)
		die("listen: %s", strerror(errno));
	fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fds[0] < 0 || connect(fds[0], (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die("connect: %s", strerror(errno));
	fds[1] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fds[1] < 0)
		die("accept4: %s", strerror(errno));
	close(lfd);
}

int main(int argc, char **argv)
{
	struct side me = { .sock = -1 }, other = { .sock = -1 };
	int a[2], b[2], socks[2];
	uint64_t iterations, t0 = 0, t1;
	long v0 = 0, i0 = 0;
	pthread_t th;
	char c = 'p';
	int track = 0;
	char *end;

	if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--track") != 0))
		die("usage: pingpong <iterations> [--track]");
	iterations = strtoull(argv[1], &end, 10);
	if (*end || iterations == 0)
		die("iterations must be a positive integer, got '%s'", argv[1]);
	track = argc == 3;
	if (pipe2(a, O_CLOEXEC) < 0 || pipe2(b, O_CLOEXEC) < 0)
		die("pipe2: %s", strerror(errno));
	if (track) {
		loopback_pair(socks);
		me.sock = socks[0];
		other.sock = socks[1];
	}
	me.rfd = b[0];
	me.wfd = a[1];
	other.rfd = a[0];
	other.wfd = b[1];
	me.iterations = other.iterations = iterations;
	me.tid = (pid_t)syscall(SYS_gettid);
	if (pthread_create(&th, NULL, partner, &other) != 0)
		die("pthread_create failed");
	mark(&me);
	for (uint64_t i = 0; i < WARMUP + iterations; i++) {
		if (i == WARMUP) {
			switches_now(&v0, &i0);
			t0 = now_ns();
		}
		xwrite(me.wfd, c);
		xread(me.rfd, &c);
	}
	t1 = now_ns();
	switches_now(&me.voluntary, &me.involuntary);
	me.voluntary -= v0;
	me.involuntary -= i0;
	mark(&me);
	pthread_join(th, NULL);
	printf("{\"pid\":%d,\"tids\":[%d,%d],\"tracked\":%s,\"iterations\":%llu,\"elapsed_ns\":%llu,\"ns_per_switch\":%.1f,"
	       "\"voluntary_switches\":[%ld,%ld],\"involuntary_switches\":[%ld,%ld]}\n",
	       (int)getpid(), (int)me.tid, (int)other.tid, track ? "true" : "false", (unsigned long long)iterations,
	       (unsigned long long)(t1 - t0), (double)(t1 - t0) / (2.0 * (double)iterations), me.voluntary, other.voluntary, me.involuntary,
	       other.involuntary);
	return 0;
}
