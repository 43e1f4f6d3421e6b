/* fd_reuse.c - scenario 3: one fd number, two connections in a row. */
#include "traffic.h"

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
void run_fd_reuse(void)
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
