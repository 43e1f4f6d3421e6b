// http-rate: HTTP/1.1 GETs at a fixed rate over keep-alive connections, with
// per-request latency measured from each request's scheduled time (so a
// stalled server or client cannot hide queueing delay: no coordinated omission,
// the way wrk2 measures).
//
// usage: http-rate PORT PATH RATE SECONDS [--connections N] [--warmup SECONDS] [--hold]
//
// Request j is due at t0 + j/RATE and goes on connection j % N; a connection
// still waiting for its previous response sends as soon as that arrives (the
// wait counts in the latency). Requests due during the warm-up are sent but not
// recorded. One JSON line on stdout at the end. --hold keeps the process (and
// its connections) alive after that until stdin closes: a replay of its capture
// then resolves its pid exactly as the live agent did.
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define BUF_BYTES 65536
#define MAX_CONNECTIONS 4096

struct conn {
	int fd;
	int busy;           // a request is in flight
	uint64_t due_ns;    // when its next (or current) request was scheduled
	uint64_t index;     // the request number j of that request
	size_t have;        // bytes buffered of the current response
	char buf[BUF_BYTES];
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "http-rate: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int open_conn(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");
	// blocking connect: all connections exist before the clock starts
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		die("connect");
	int one = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
		die("setsockopt");
	return fd;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(const uint64_t *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return (double)v[i < n ? i : n - 1] / 1000.0;
}

// the whole response is buffered: 1 complete (status in *status), 0 need more, -1 malformed
static int response_complete(struct conn *c, size_t *total, int *status)
{
	char *end = memmem(c->buf, c->have, "\r\n\r\n", 4);
	if (end == NULL)
		return c->have == BUF_BYTES ? -1 : 0;
	size_t head = (size_t)(end - c->buf) + 4;
	if (c->have < 12 || strncmp(c->buf, "HTTP/1.", 7) != 0)
		return -1;
	*status = atoi(c->buf + 9);
	long length = 0;
	for (char *p = c->buf; p < end;) {
		char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
		if (eol == NULL)
			break;
		if (eol - p > 15 && strncasecmp(p, "content-length:", 15) == 0)
			length = strtol(p + 15, NULL, 10);
		p = eol + 2;
	}
	if (length < 0 || head + (size_t)length > BUF_BYTES)
		return -1;
	*total = head + (size_t)length;
	return c->have >= *total;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: http-rate PORT PATH RATE SECONDS [--connections N] [--warmup SECONDS] [--hold]\n");
		return 2;
	}
	int port = atoi(argv[1]);
	const char *path = argv[2];
	double rate = atof(argv[3]);
	double seconds = atof(argv[4]);
	int n = 50;
	double warmup = 1.0;
	int hold = 0;
	for (int i = 5; i < argc; i += 2) {
		if (strcmp(argv[i], "--hold") == 0) {
			hold = 1;
			i--;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "http-rate: %s needs a value\n", argv[i]);
			return 2;
		}
		if (strcmp(argv[i], "--connections") == 0)
			n = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--warmup") == 0)
			warmup = atof(argv[i + 1]);
		else {
			fprintf(stderr, "http-rate: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (port <= 0 || rate <= 0 || seconds <= 0 || n <= 0 || n > MAX_CONNECTIONS || warmup < 0) {
		fprintf(stderr, "http-rate: bad arguments\n");
		return 2;
	}

	char req[512];
	int req_len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: http-rate\r\n\r\n", path, port);
	if (req_len <= 0 || (size_t)req_len >= sizeof(req)) {
		fprintf(stderr, "http-rate: path too long\n");
		return 2;
	}

	struct conn *conns = calloc((size_t)n, sizeof(*conns));
	int ep = epoll_create1(0);
	if (conns == NULL || ep < 0)
		die("setup");
	for (int i = 0; i < n; i++) {
		conns[i].fd = open_conn(port);
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev) != 0)
			die("epoll_ctl");
	}

	uint64_t interval = (uint64_t)(1e9 / rate);
	uint64_t total_requests = (uint64_t)((warmup + seconds) * rate);
	uint64_t warm_requests = (uint64_t)(warmup * rate);
	uint64_t recorded_cap = total_requests - warm_requests + 1;
	uint64_t *lat = malloc(recorded_cap * sizeof(uint64_t));
	if (lat == NULL)
		die("malloc");
	size_t recorded = 0;
	uint64_t sent = 0, done = 0, errors = 0, non_2xx = 0, reconnects = 0;
	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);

	uint64_t t0 = now_ns() + 1000000; // 1 ms from now
	for (int i = 0; i < n; i++) {
		conns[i].index = (uint64_t)i;
		conns[i].due_ns = t0 + (uint64_t)i * interval;
	}
	uint64_t measure_start = t0 + warm_requests * interval;
	uint64_t give_up = t0 + total_requests * interval + 5000000000ull;

	while (done < total_requests) {
		uint64_t now = now_ns();
		if (now > give_up)
			break;
		// send every due request on an idle connection
		uint64_t next = UINT64_MAX;
		for (int i = 0; i < n; i++) {
			struct conn *c = &conns[i];
			if (c->busy || c->index >= total_requests)
				continue;
			if (c->due_ns <= now) {
				ssize_t w = write(c->fd, req, (size_t)req_len);
				if (w != req_len) {
					// a short write of ~80 bytes on an idle socket does not happen; count it
					errors++;
					c->index += (uint64_t)n;
					c->due_ns += (uint64_t)n * interval;
					done++;
					continue;
				}
				c->busy = 1;
				c->have = 0;
				sent++;
			} else if (c->due_ns < next) {
				next = c->due_ns;
			}
		}
		struct timespec timeout = { 0, 0 };
		if (next != UINT64_MAX) {
			uint64_t wait = next > now ? next - now : 0;
			timeout.tv_sec = (time_t)(wait / 1000000000ull);
			timeout.tv_nsec = (long)(wait % 1000000000ull);
		} else {
			timeout.tv_sec = 1;
		}
		struct epoll_event evs[64];
		int k = epoll_pwait2(ep, evs, 64, &timeout, NULL);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_pwait2");
		}
		for (int e = 0; e < k; e++) {
			struct conn *c = &conns[evs[e].data.u32];
			ssize_t r = read(c->fd, c->buf + c->have, BUF_BYTES - c->have);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0) {
				// the server closed the connection: count the request as failed and reconnect
				if (c->busy) {
					errors++;
					done++;
					c->busy = 0;
					c->index += (uint64_t)n;
					c->due_ns += (uint64_t)n * interval;
				}
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				c->fd = open_conn(port);
				struct epoll_event ev = { .events = EPOLLIN, .data.u32 = evs[e].data.u32 };
				if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
					die("epoll_ctl");
				reconnects++;
				continue;
			}
			c->have += (size_t)r;
			size_t total = 0;
			int status = 0;
			int complete = response_complete(c, &total, &status);
			if (complete == 0)
				continue;
			uint64_t end = now_ns();
			if (complete < 0 || !c->busy) {
				errors++;
			} else {
				if (status < 200 || status > 299)
					non_2xx++;
				if (c->due_ns >= measure_start && recorded < recorded_cap)
					lat[recorded++] = end - c->due_ns;
			}
			done++;
			c->busy = 0;
			c->have = 0;
			c->index += (uint64_t)n;
			c->due_ns += (uint64_t)n * interval;
		}
	}
	uint64_t t_end = now_ns();
	getrusage(RUSAGE_SELF, &ru1);

	qsort(lat, recorded, sizeof(uint64_t), cmp_u64);
	double sum = 0;
	for (size_t i = 0; i < recorded; i++)
		sum += (double)lat[i];
	double elapsed = (double)(t_end - t0) / 1e9;
	double cpu_us = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) * 1e6 + (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) +
			(double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) * 1e6 + (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec);
	printf("{\"rate\":%.0f,\"connections\":%d,\"seconds\":%.3f,\"warmup\":%.3f,\"scheduled\":%llu,\"sent\":%llu,\"completed\":%llu,"
	       "\"recorded\":%zu,\"errors\":%llu,\"non_2xx\":%llu,\"reconnects\":%llu,\"achieved_rate\":%.1f,"
	       "\"mean_us\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"cpu_us\":%.0f,\"pid\":%d}\n",
	       rate, n, seconds, warmup, (unsigned long long)total_requests, (unsigned long long)sent, (unsigned long long)done, recorded,
	       (unsigned long long)errors, (unsigned long long)non_2xx, (unsigned long long)reconnects, (double)done / elapsed,
	       recorded ? sum / (double)recorded / 1000.0 : 0.0, pct(lat, recorded, 50), pct(lat, recorded, 90), pct(lat, recorded, 99),
	       pct(lat, recorded, 99.9), recorded ? (double)lat[recorded - 1] / 1000.0 : 0.0, cpu_us, getpid());
	if (hold) {
		fflush(stdout);
		char sink[256];
		while (read(0, sink, sizeof(sink)) > 0)
			;
	}
	for (int i = 0; i < n; i++)
		close(conns[i].fd);
	free(conns);
	free(lat);
	return done == total_requests && errors == 0 ? 0 : 3;
}
