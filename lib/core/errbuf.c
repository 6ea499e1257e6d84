#include "errbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Formatted through a copy: callers wrap a lower error in a new one by
 * passing e->msg among the arguments, and vsnprintf into the buffer it is
 * reading from is undefined (it printed the message twice, with garbage). */
__attribute__((format(printf, 2, 0)))
static void set_msg(struct errbuf *e, const char *fmt, va_list ap)
{
	char tmp[ERRBUF_MSG_MAX];

	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	memcpy(e->msg, tmp, sizeof(e->msg));
}

int errbuf_set(struct errbuf *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return code;
	e->code = code;
	va_start(ap, fmt);
	set_msg(e, fmt, ap);
	va_end(ap);
	return code;
}

int errbuf_errno(struct errbuf *e, int code, int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (!e)
		return code;
	e->code = code;
	va_start(ap, fmt);
	set_msg(e, fmt, ap);
	va_end(ap);
	n = strlen(e->msg);
	snprintf(e->msg + n, sizeof(e->msg) - n, ": %s", strerror(errnum));
	return code;
}

void errbuf_prefix(struct errbuf *e, const char *fmt, ...)
{
	char head[ERRBUF_MSG_MAX], old[ERRBUF_MSG_MAX];
	va_list ap;

	if (!e)
		return;
	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	size_t hl = strlen(head);

	memcpy(old, e->msg, sizeof(old));
	if (hl >= sizeof(e->msg))
		hl = sizeof(e->msg) - 1;
	memcpy(e->msg, head, hl);
	/* Keep as much of the old message as fits after the prefix. */
	old[sizeof(old) - 1 - hl] = '\0';
	memcpy(e->msg + hl, old, strlen(old) + 1);
}

void errbuf_clear(struct errbuf *e)
{
	if (!e)
		return;
	e->code = 0;
	e->msg[0] = '\0';
}
