/* tcp.c - scenario 1: one TCP connection through every stream syscall. */
#include "traffic.h"

/* ------------------------------------------------ scenario 1: TCP stream */

#define LONG_LEN 3000 /* size of the long message in exchange (e) */
#define LONG_CHUNK 1024 /* read size for it, so the read loop really loops */

struct tcp_msgs {
	char request[MSG_MAX];
	char response[MSG_MAX];
	char send[MSG_MAX];
	char sendmsg_parts[3][PART_MAX];
	char writev_parts[4][PART_MAX];
	unsigned char longmsg[LONG_LEN];
};

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
void run_tcp(int family, const char *scenario, int use_accept4)
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
