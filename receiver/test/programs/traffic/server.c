/* server.c - the baton that serialises socket syscalls; server threads. */
#include "traffic.h"

/* ---------------------------------------------------------------- baton */
/*
 * Only the thread whose id equals `holder` may make socket syscalls; it
 * hands the baton on explicitly. The main thread is MAIN_ID; server
 * threads use small positive ids.
 */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	int holder;
} baton = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, MAIN_ID };

void baton_give(int to)
{
	pthread_mutex_lock(&baton.lock);
	baton.holder = to;
	pthread_cond_broadcast(&baton.changed);
	pthread_mutex_unlock(&baton.lock);
}

void baton_wait(int me)
{
	pthread_mutex_lock(&baton.lock);
	while (baton.holder != me)
		pthread_cond_wait(&baton.changed, &baton.lock);
	pthread_mutex_unlock(&baton.lock);
}

/* Let `to` run its next step, and come back when it hands the baton back. */
void baton_pass(int me, int to)
{
	baton_give(to);
	baton_wait(me);
}

/* ---------------------------------------------------------- server threads */

/* Runs the thread's setup step (it creates its listener) before returning. */
void server_start(struct server *srv, void *(*body)(void *))
{
	baton_give(srv->id);
	check_pthread(pthread_create(&srv->thread, NULL, body, srv),
		      "pthread_create");
	baton_wait(MAIN_ID);
}

/* Lets the thread run its remaining steps, then reaps it. */
void server_finish(struct server *srv)
{
	baton_pass(MAIN_ID, srv->id);
	check_pthread(pthread_join(srv->thread, NULL), "pthread_join");
}

/* First step of every server thread: announce the tid, listen. */
void server_setup(struct server *srv)
{
	baton_wait(srv->id);
	manifest_add_tid(srv->label);
	tcp_listen(&srv->listener, srv->family);
}

/* Last step: close both sockets and return the baton for good. */
void server_teardown(struct server *srv, struct sock *conn)
{
	read_expect_eof(conn);
	do_close(conn);
	do_close(&srv->listener);
	baton_give(MAIN_ID);
}
