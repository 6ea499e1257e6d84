/* The dump-stream row counter on arbitrary bytes: the stream comes from a
 * dump_command the operator configured, so parsing must never crash, leak
 * or grow without bound; a refusal is one line saying "unreadable archive";
 * and the answer must not depend on how the stream is cut into chunks.
 * Passed on (dumpcount_pass), the output is the same however the input is
 * cut, and an archive read to the end reads the same counts joined. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dumpcount.h"

struct answer {
	int rc;
	size_t n;
	long long sum;
	char msg[ERRBUF_MSG_MAX];
};

static void count(const uint8_t *data, size_t size, size_t step, struct answer *a)
{
	struct dumpcount *dc = dumpcount_new();
	const struct dumpcount_table *t;
	struct errbuf e = ERRBUF_INIT;

	for (size_t off = 0; off < size; off += step)
		dumpcount_feed(dc, data + off, size - off < step ? size - off : step);
	a->rc = dumpcount_finish(dc, &t, &a->n, &e);
	a->sum = 0;
	if (a->rc) {
		if (a->rc != BL_EFAIL || strncmp(e.msg, "unreadable archive: ", 20) ||
		    strchr(e.msg, '\n') || t || a->n)
			abort();
		/* the byte offset differs between cuts only if the reason does */
		memcpy(a->msg, e.msg, sizeof(a->msg));
	}
	for (size_t i = 0; i < a->n; i++) {
		if (!t[i].schema || !t[i].name || t[i].rows < -1)
			abort();
		a->sum += t[i].rows + 1;
	}
	dumpcount_free(dc);
}

struct out {
	uint8_t *buf;
	size_t len, cap;
};

static int collect(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	struct out *o = ctx;

	(void)e;
	if (o->len + len > o->cap) {
		o->cap = 2 * (o->len + len);
		o->buf = realloc(o->buf, o->cap);
		if (!o->buf)
			abort();
	}
	memcpy(o->buf + o->len, buf, len);
	o->len += len;
	return 0;
}

static void pass(const uint8_t *data, size_t size, size_t step, struct out *o)
{
	struct dumpcount *dc = dumpcount_new();
	struct errbuf e = ERRBUF_INIT;

	memset(o, 0, sizeof(*o));
	dumpcount_set_output(dc, collect, o);
	for (size_t off = 0; off < size; off += step)
		if (dumpcount_pass(dc, data + off, size - off < step ? size - off : step, &e))
			abort();
	if (dumpcount_pass_end(dc, &e) || o->len > size)
		abort();
	dumpcount_free(dc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct answer whole, bytes, odd, joined;
	struct out a, b;

	count(data, size, size ? size : 1, &whole);
	count(data, size, 1, &bytes);
	count(data, size, 37, &odd);
	if (whole.rc != bytes.rc || whole.rc != odd.rc || whole.n != bytes.n ||
	    whole.n != odd.n || whole.sum != bytes.sum || whole.sum != odd.sum)
		abort();
	if (whole.rc && (strcmp(whole.msg, bytes.msg) || strcmp(whole.msg, odd.msg)))
		abort();

	pass(data, size, size ? size : 1, &a);
	pass(data, size, 1, &b);
	if (a.len != b.len || (a.len && memcmp(a.buf, b.buf, a.len)))
		abort();
	if (!whole.rc) {
		count(a.buf, a.len, a.len ? a.len : 1, &joined);
		if (joined.rc || joined.n != whole.n || joined.sum != whole.sum)
			abort();
	}
	free(a.buf);
	free(b.buf);
	return 0;
}
