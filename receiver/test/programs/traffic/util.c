/* util.c - errors, a growable buffer and message formatting. */
#include "traffic.h"

/* ---------------------------------------------------------------- errors */

void die(const char *fmt, ...)
{
	va_list ap;

	fputs("traffic: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Returns ret, or exits with errno's text when the syscall failed. */
long check(long ret, const char *what)
{
	if (ret < 0)
		die("%s: %s", what, strerror(errno));
	return ret;
}

void check_pthread(int err, const char *what)
{
	if (err != 0)
		die("%s: %s", what, strerror(err));
}

/* ------------------------------------------------------- growable buffer */

void buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *grown;

		while (cap < b->len + n + 1)
			cap *= 2;
		grown = realloc(b->data, cap);
		if (!grown)
			die("out of memory");
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* Only for short, fixed-shape fragments such as numbers. */
void buf_fmt(struct buf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp)
		die("buf_fmt: fragment too long");
	buf_add(b, tmp, (size_t)n);
}

const char *buf_text(const struct buf *b)
{
	return b->data ? b->data : "";
}

/* ---------------------------------------------------- message formatting */

void fmt_into(char *dst, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(dst, cap, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap)
		die("message \"%s\" does not fit", fmt);
}
