/* transfer.c - transfers that check what arrived and finish short ones. */
#include "traffic.h"

/* ---------------------------------------------- checked transfer helpers */

void expect_bytes(const void *got, size_t got_len, const void *want,
		  size_t want_len, const char *what)
{
	if (got_len != want_len || memcmp(got, want, want_len) != 0)
		die("%s: received %zu bytes, expected %zu bytes of \"%.*s\"",
		    what, got_len, want_len, (int)want_len, (const char *)want);
}

/* Loops on write() so a short write is recorded and finished, not lost. */
void write_all(const struct sock *s, const void *p, size_t n)
{
	const unsigned char *cur = p;

	while (n > 0) {
		long ret = do_write(s, cur, n);

		if (ret == 0)
			die("write: wrote 0 bytes");
		cur += ret;
		n -= (size_t)ret;
	}
}

/* read() in chunks of at most `chunk` until n bytes arrived. */
void read_all(const struct sock *s, unsigned char *out, size_t n,
	      size_t chunk)
{
	size_t got = 0;

	while (got < n) {
		size_t want = n - got < chunk ? n - got : chunk;
		long ret = do_read(s, out + got, want);

		if (ret == 0)
			die("read: unexpected EOF after %zu of %zu bytes",
			    got, n);
		got += (size_t)ret;
	}
}

void read_expect(const struct sock *s, const char *want)
{
	size_t n = strlen(want);
	unsigned char got[MSG_MAX];

	read_all(s, got, n, n);
	expect_bytes(got, n, want, n, "read");
}

void read_expect_eof(const struct sock *s)
{
	unsigned char got[MSG_MAX];

	if (do_read(s, got, sizeof got) != 0)
		die("read: expected EOF");
}
