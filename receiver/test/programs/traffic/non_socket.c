/* non_socket.c - scenario 4: file and pipe I/O the probes must ignore. */
#include "traffic.h"

/* --------------------------------------------- scenario 4: non-socket I/O */

/* Write text to wfd and read it back from rfd; none of this is an op. */
static void echo_through(int wfd, int rfd, const char *text, const char *what)
{
	size_t n = strlen(text);
	char got[MSG_MAX];
	ssize_t ret;

	ret = write(wfd, text, n);
	if (ret != (ssize_t)n)
		die("%s write: %s", what, ret < 0 ? strerror(errno) : "short");
	if (rfd == wfd)
		check(lseek(rfd, 0, SEEK_SET), "lseek");
	ret = read(rfd, got, sizeof got);
	if (ret < 0)
		die("%s read: %s", what, strerror(errno));
	expect_bytes(got, (size_t)ret, text, n, what);
}

/*
 * File and pipe I/O uses the same read/write syscalls as sockets; the probes
 * must ignore it. All three fds stay open until the end so their numbers
 * are distinct.
 */
void run_non_socket(void)
{
	char path[] = "/tmp/traffic-XXXXXX";
	int file_fd, pipe_fds[2];

	file_fd = (int)check(mkstemp(path), "mkstemp");
	echo_through(file_fd, file_fd, "non-socket: temp file data\n",
		     "file");
	check(unlink(path), "unlink");
	check(pipe(pipe_fds), "pipe");
	echo_through(pipe_fds[1], pipe_fds[0], "non-socket: pipe data\n",
		     "pipe");

	manifest.non_socket_fds[0] = file_fd;
	manifest.non_socket_fds[1] = pipe_fds[0];
	manifest.non_socket_fds[2] = pipe_fds[1];
	check(close(file_fd), "close");
	check(close(pipe_fds[0]), "close");
	check(close(pipe_fds[1]), "close");
}
