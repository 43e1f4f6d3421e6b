/*
 * traffic - deterministic socket traffic for the kernel end-to-end tests.
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
 * Files: main.c (this), manifest.c (the JSON manifest and op records),
 * sock.c (sockets and their snapshots), syscalls.c and vectored.c (the
 * recorded socket syscalls), transfer.c (checked transfers), server.c (the
 * baton and server threads), tcp.c, udp.c, fd_reuse.c and non_socket.c (the
 * four scenarios, run in that order), util.c (errors, buffers, formatting);
 * traffic.h declares what they share.
 *
 * Build, in this folder (scripts/build.sh does it, as build/programs/traffic):
 *   cc -O2 -g -Wall -Wextra -Werror -pthread -o traffic *.c
 * Usage: traffic [--wait]
 *   --wait  print "READY <pid>" on stderr, then wait for a line on stdin
 *           before making any traffic (lets the test attach probes first).
 */
#include "traffic.h"

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
