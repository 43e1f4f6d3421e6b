/*
 * profile-server.c - a thread-per-connection HTTP/1.1 server whose endpoints
 * each spend their time in one known way, for the trace-profiling tests.
 *
 * The main thread accepts; every connection gets a new OS thread (named
 * "ps-conn") that reads one request with read(), answers it with a single
 * write() and closes: `Connection: close`, one request per connection, so each
 * request is served by a thread created after the process's first socket
 * syscall (tracked through the fork hook). Sockets are blocking. The thread
 * waits for the request with poll() before its first read(): a span starts at
 * the enter of the read that carried the request's first byte, so a read
 * entered before the request arrived would put the client's delay in sending
 * it into the span (as net time), and the tests compare buckets with the
 * server's own measure of its work.
 *
 * Endpoints (query `ms` sets the duration, default 20; 10 for /mixed):
 *   /spin      busy loop until the thread has used ms of CPU time
 *   /sleep     nanosleep(ms)
 *   /lock      the lock helper thread takes a mutex and holds it for ms; the
 *              request thread waits for it in pthread_mutex_lock
 *   /fsync     write 1 MiB to a new file in DIR, fsync, close, unlink; with
 *              `fsyncs=N` (default 1) the MiB goes in N equal writes, each
 *              followed by an fsync (more disk wait against the HTTP work)
 *   /upstream  connect to the delay upstream, send one byte (ms), read its reply
 *              (measured from before the connect to after the reply)
 *   /epoll     epoll_wait(ms) on a pipe that never becomes readable
 *   /mixed     spin ms, lock ms, sleep ms, upstream ms, in that order
 * Every body is JSON with the server's own clock_gettime measure of the part
 * the profile should attribute:
 *   {"endpoint":"sleep","ms":20,"tid":1234,"measured_ns":20071234,"wall_ns":...,"cpu_ns":...}
 * For /spin measured_ns is the thread's CPU time (CLOCK_THREAD_CPUTIME_ID) over
 * the loop; for the others it is the time the thread did not run during the
 * blocking part: CLOCK_MONOTONIC wall time minus thread CPU time. /mixed reports
 * each part instead: cpu_ns, lock_ns, sleep_ns, net_ns.
 *
 * The delay upstream is this program in --delay mode: a thread per connection
 * that, for every byte b it reads, sleeps b ms and writes b back (so ms is
 * 0..255 for /upstream and /mixed).
 *
 * Build: cc -O2 -g -Wall -Wextra -Werror -pthread -o profile-server profile-server.c
 * Usage: profile-server [--upstream PORT] [--dir DIR]   (HTTP; DIR default /var/tmp)
 *        profile-server --delay                         (the delay upstream)
 * Both print the port they listen on (127.0.0.1, ephemeral) on stdout.
 */
#define _GNU_SOURCE
/* frame pointers, so user stacks taken at a switch (profiling tier 3) walk */
#pragma GCC optimize("no-omit-frame-pointer")
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define REQ_MAX 4096
#define BODY_MAX 512
#define FSYNC_BYTES (1 << 20)
#define DEFAULT_MS 20
#define MIXED_DEFAULT_MS 10

static int upstream_port;
static const char *file_dir = "/var/tmp";

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("profile-server: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* ---------------------------------------------------------------- listening */

static int listen_loopback(void)
{
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die("bind: %s", strerror(errno));
	if (listen(fd, 128) < 0)
		die("listen: %s", strerror(errno));
	if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
		die("getsockname: %s", strerror(errno));
	printf("%d\n", ntohs(addr.sin_port));
	fflush(stdout);
	return fd;
}

/* accept forever, one detached thread per connection */
static void serve(int lfd, void *(*fn)(void *))
{
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		pthread_t th;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept4: %s", strerror(errno));
		}
		if (pthread_create(&th, &attr, fn, (void *)(intptr_t)fd) != 0)
			die("pthread_create failed");
	}
}

/* ---------------------------------------------------------------- delay upstream */

static void *delay_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	unsigned char b;

	for (;;) {
		ssize_t n = read(fd, &b, 1);

		if (n <= 0)
			break;
		sleep_ms(b);
		if (write(fd, &b, 1) != 1)
			break;
	}
	close(fd);
	return NULL;
}

/* ---------------------------------------------------------------- the parts */

/*
 * A part's own measure: wall time and this thread's CPU time across it. What
 * the profile should put in the part's off-CPU bucket is the time the thread
 * did not run (wall - CPU): the kernel work inside the syscalls (copying 1 MiB
 * into the page cache, submitting the writeback) is on-CPU time.
 */
struct measure {
	uint64_t wall0, cpu0;
	uint64_t wall_ns, cpu_ns;
};

static void measure_begin(struct measure *m)
{
	m->wall0 = mono_ns();
	m->cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

static void measure_end(struct measure *m)
{
	m->cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - m->cpu0;
	m->wall_ns = mono_ns() - m->wall0;
}

static uint64_t off_cpu_ns(const struct measure *m)
{
	return m->wall_ns > m->cpu_ns ? m->wall_ns - m->cpu_ns : 0;
}

/* busy loop until this thread has used ms of CPU (its cpu_ns) */
static int part_spin(long ms, struct measure *m)
{
	uint64_t want = (uint64_t)ms * 1000000ull;
	volatile uint64_t sink = 0;

	measure_begin(m);
	do {
		/* a few microseconds of work between clock reads (a syscall each) */
		for (int i = 0; i < 2000; i++)
			sink = sink * 6364136223846793005ull + 1442695040888963407ull;
	} while (clock_ns(CLOCK_THREAD_CPUTIME_ID) - m->cpu0 < want);
	measure_end(m);
	return 0;
}

static int part_sleep(long ms, struct measure *m)
{
	measure_begin(m);
	sleep_ms(ms);
	measure_end(m);
	return 0;
}

/*
 * The lock helper: one thread, started before any socket I/O. A request thread
 * sends it a job (id, ms) over a pipe; it takes the mutex, publishes the job id
 * in `lock_held`, holds the mutex for ms, and lets go. The request thread spins
 * (yielding) until it sees its id, so its pthread_mutex_lock surely waits.
 * Jobs are serialised by lock_users (uncontended in the tests).
 */
struct lock_job {
	uint32_t id;
	uint32_t ms;
};

static pthread_mutex_t lock_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t lock_users = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint lock_held;
static atomic_uint lock_next;
static int lock_pipe[2];

static void *lock_helper(void *arg)
{
	struct lock_job job;

	(void)arg;
	pthread_setname_np(pthread_self(), "ps-lock-helper");
	for (;;) {
		if (read(lock_pipe[0], &job, sizeof(job)) != (ssize_t)sizeof(job))
			die("lock helper: read: %s", strerror(errno));
		pthread_mutex_lock(&lock_mutex);
		atomic_store(&lock_held, job.id);
		sleep_ms(job.ms);
		pthread_mutex_unlock(&lock_mutex);
	}
	return NULL;
}

/* measured: the wait in pthread_mutex_lock only */
static int part_lock(long ms, struct measure *m)
{
	struct lock_job job = { .id = atomic_fetch_add(&lock_next, 1) + 1, .ms = (uint32_t)ms };

	pthread_mutex_lock(&lock_users);
	if (write(lock_pipe[1], &job, sizeof(job)) != (ssize_t)sizeof(job))
		die("lock: write: %s", strerror(errno));
	/* on CPU (or runnable) until the helper holds the mutex: not a lock wait */
	while (atomic_load(&lock_held) != job.id)
		sched_yield();
	measure_begin(m);
	pthread_mutex_lock(&lock_mutex);
	measure_end(m);
	pthread_mutex_unlock(&lock_mutex);
	pthread_mutex_unlock(&lock_users);
	return 0;
}

static char fsync_data[FSYNC_BYTES];

/* 1 MiB written to a new file in `fsyncs` parts, each fsync'ed; closed and removed */
static int part_fsync(long fsyncs, struct measure *m)
{
	char path[256];
	size_t done = 0, part = FSYNC_BYTES / (size_t)fsyncs;
	int fd, ok = 1;

	snprintf(path, sizeof(path), "%s/profile-server-%d-%d.tmp", file_dir, (int)getpid(), (int)gettid_());
	measure_begin(m);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	for (long i = 0; ok && i < fsyncs; i++) {
		size_t end = i == fsyncs - 1 ? FSYNC_BYTES : done + part;

		while (ok && done < end) {
			ssize_t n = write(fd, fsync_data + done, end - done);

			ok = n > 0;
			done += ok ? (size_t)n : 0;
		}
		ok = ok && fsync(fd) == 0;
	}
	close(fd);
	unlink(path);
	measure_end(m);
	return ok ? 0 : -1;
}

/* connect to the delay upstream, one byte there and its reply after ms */
static int part_upstream(long ms, struct measure *m)
{
	struct sockaddr_in addr;
	unsigned char b = (unsigned char)ms;
	int one = 1, ok;
	int fd;

	if (!upstream_port)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons((uint16_t)upstream_port);
	measure_begin(m);
	ok = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 && write(fd, &b, 1) == 1 && read(fd, &b, 1) == 1;
	measure_end(m);
	close(fd);
	return ok ? 0 : -1;
}

/* epoll_wait for ms on a pipe nobody writes to */
static int part_epoll(long ms, struct measure *m)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int p[2], efd, n = -1;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	efd = epoll_create1(EPOLL_CLOEXEC);
	if (efd >= 0 && epoll_ctl(efd, EPOLL_CTL_ADD, p[0], &ev) == 0) {
		measure_begin(m);
		do
			n = epoll_wait(efd, &ev, 1, (int)ms);
		while (n < 0 && errno == EINTR);
		measure_end(m);
	}
	if (efd >= 0)
		close(efd);
	close(p[0]);
	close(p[1]);
	return n == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- HTTP */

/* the value of query parameter `name=` (with its '=') in target, or dflt */
static long query_long(const char *target, const char *name, long dflt)
{
	const char *q = strchr(target, '?');
	size_t len = strlen(name);

	while (q) {
		q++;
		if (strncmp(q, name, len) == 0)
			return strtol(q + len, NULL, 10);
		q = strchr(q, '&');
	}
	return dflt;
}

static void respond(int fd, int status, const char *body)
{
	char buf[REQ_MAX];
	const char *reason = status == 200 ? "OK" : status == 404 ? "Not Found" : status == 400 ? "Bad Request" : "Internal Server Error";
	int n = snprintf(buf, sizeof(buf),
			 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
			 status, reason, strlen(body), body);
	size_t done = 0;

	if (n < 0 || (size_t)n >= sizeof(buf))
		return;
	/* one write: the span ends at this syscall's exit */
	while (done < (size_t)n) {
		ssize_t w = write(fd, buf + done, (size_t)n - done);

		if (w <= 0)
			return;
		done += (size_t)w;
	}
}

/* the single-part endpoints: the part, its argument, and whether its measure is CPU time (spin) or off-CPU time */
struct endpoint {
	const char *path;
	int (*run)(long arg, struct measure *m);
	int arg_is_fsyncs;
	int on_cpu;
};

static const struct endpoint endpoints[] = {
	{ "/spin", part_spin, 0, 1 },
	{ "/sleep", part_sleep, 0, 0 },
	{ "/lock", part_lock, 0, 0 },
	{ "/fsync", part_fsync, 1, 0 },
	{ "/upstream", part_upstream, 0, 0 },
	{ "/epoll", part_epoll, 0, 0 },
};

#define ERROR(code, msg) (snprintf(body, cap, "{\"error\":\"%s\"}", msg), code)

/* run the endpoint; fills body, returns the HTTP status */
static int handle(const char *path, const char *target, char *body, size_t cap)
{
	int mixed = strcmp(path, "/mixed") == 0;
	long ms = query_long(target, "ms=", mixed ? MIXED_DEFAULT_MS : DEFAULT_MS);
	long fsyncs = query_long(target, "fsyncs=", 1);
	int tid = (int)gettid_();

	if (ms < 0 || ms > 10000)
		return ERROR(400, "ms out of range");
	if (fsyncs < 1 || fsyncs > 256)
		return ERROR(400, "fsyncs out of range");
	if ((mixed || strcmp(path, "/upstream") == 0) && ms > 255)
		return ERROR(400, "upstream ms is one byte: 0..255");
	if (mixed) {
		struct measure spin, lock, sl, net;

		if (part_spin(ms, &spin) || part_lock(ms, &lock) || part_sleep(ms, &sl) || part_upstream(ms, &net))
			return ERROR(500, "a part failed");
		snprintf(body, cap,
			 "{\"endpoint\":\"mixed\",\"ms\":%ld,\"tid\":%d,\"cpu_ns\":%llu,\"lock_ns\":%llu,\"sleep_ns\":%llu,\"net_ns\":%llu}", ms,
			 tid, (unsigned long long)spin.cpu_ns, (unsigned long long)off_cpu_ns(&lock), (unsigned long long)off_cpu_ns(&sl),
			 (unsigned long long)off_cpu_ns(&net));
		return 200;
	}
	for (size_t i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++) {
		const struct endpoint *e = &endpoints[i];
		struct measure m;

		if (strcmp(path, e->path) != 0)
			continue;
		if (e->run(e->arg_is_fsyncs ? fsyncs : ms, &m))
			return ERROR(500, "the endpoint failed");
		snprintf(body, cap, "{\"endpoint\":\"%s\",\"ms\":%ld,\"fsyncs\":%ld,\"tid\":%d,\"measured_ns\":%llu,\"wall_ns\":%llu,\"cpu_ns\":%llu}",
			 e->path + 1, ms, fsyncs, tid, (unsigned long long)(e->on_cpu ? m.cpu_ns : off_cpu_ns(&m)), (unsigned long long)m.wall_ns,
			 (unsigned long long)m.cpu_ns);
		return 200;
	}
	return ERROR(404, "no such endpoint");
}

static void *http_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char req[REQ_MAX + 1];
	char body[BODY_MAX];
	char method[16], target[1024];
	size_t got = 0;
	int status;

	pthread_setname_np(pthread_self(), "ps-conn");
	/* the request is there before the first read (see the top of the file) */
	{
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		if (poll(&pfd, 1, 10000) != 1)
			goto out;
	}
	/* the request head, however many reads it takes */
	while (got < REQ_MAX) {
		ssize_t n = read(fd, req + got, REQ_MAX - got);

		if (n <= 0)
			goto out;
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	req[got] = '\0';
	if (sscanf(req, "%15s %1023s", method, target) != 2) {
		respond(fd, 400, "{\"error\":\"bad request line\"}");
		goto out;
	}
	{
		char path[1024];
		const char *q = strchr(target, '?');
		size_t plen = q ? (size_t)(q - target) : strlen(target);

		memcpy(path, target, plen);
		path[plen] = '\0';
		status = handle(path, target, body, sizeof(body));
	}
	respond(fd, status, body);
out:
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	int delay = 0;
	pthread_t helper;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--delay") == 0)
			delay = 1;
		else if (strcmp(argv[i], "--upstream") == 0 && i + 1 < argc)
			upstream_port = atoi(argv[++i]);
		else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			file_dir = argv[++i];
		else
			die("usage: profile-server [--upstream PORT] [--dir DIR] | --delay");
	}
	signal(SIGPIPE, SIG_IGN);
	memset(fsync_data, 'k', sizeof(fsync_data));
	if (delay)
		serve(listen_loopback(), delay_conn);
	/* before any socket syscall: the helper is not tracked, and need not be */
	if (pipe2(lock_pipe, O_CLOEXEC) < 0)
		die("pipe2: %s", strerror(errno));
	if (pthread_create(&helper, NULL, lock_helper, NULL) != 0)
		die("pthread_create failed");
	serve(listen_loopback(), http_conn);
	return 0;
}
