/* dumpcount: row counts from hand-built custom archives of versions 1.14 to
 * 1.16 and from a real pg_dump 15 archive; the same counts whatever the
 * chunking; every kind of bad input is "unreadable", never a count. */
#include <stdlib.h>
#include <string.h>

#include "dumpcount.h"
#include "strbuf.h"
#include "tsupport.h"

static void w_byte(struct strbuf *sb, int b)
{
	strbuf_addch(sb, (char)b);
}

static void w_int(struct strbuf *sb, long long v)
{
	unsigned long long u = v < 0 ? (unsigned long long)-v : (unsigned long long)v;

	w_byte(sb, v < 0);
	for (int i = 0; i < 4; i++)
		w_byte(sb, (int)((u >> (8 * i)) & 0xff));
}

static void w_str(struct strbuf *sb, const char *s)
{
	if (!s) {
		w_int(sb, -1);
		return;
	}
	w_int(sb, (long long)strlen(s));
	strbuf_addstr(sb, s);
}

static void w_head(struct strbuf *sb, int vmin, int fmt, int compression)
{
	strbuf_addstr(sb, "PGDMP");
	w_byte(sb, 1);
	w_byte(sb, vmin);
	w_byte(sb, 0);
	w_byte(sb, 4);
	w_byte(sb, 8);
	w_byte(sb, fmt);
	if (vmin >= 15)
		w_byte(sb, compression);
	else
		w_int(sb, compression);
	for (int i = 0; i < 7; i++)
		w_int(sb, i + 1);
	w_str(sb, "shop");
	w_str(sb, "15.4");
	w_str(sb, "15.4");
}

static void w_entry(struct strbuf *sb, int vmin, int id, int had, const char *tag,
		    const char *desc, const char *copy, const char *ns)
{
	w_int(sb, id);
	w_int(sb, had);
	w_str(sb, "1259");
	w_str(sb, "16384");
	w_str(sb, tag);
	w_str(sb, desc);
	w_int(sb, 2);
	w_str(sb, "");
	w_str(sb, "");
	w_str(sb, copy);
	w_str(sb, ns);
	w_str(sb, "");
	w_str(sb, "heap");
	if (vmin >= 16)
		w_int(sb, 'r');
	w_str(sb, "postgres");
	w_str(sb, "false");
	w_str(sb, "7");
	w_str(sb, "9");
	w_str(sb, NULL);
	w_byte(sb, had ? 1 : 3);
	for (int i = 0; i < 8; i++)
		w_byte(sb, 0);
}

/* A data block holding text, cut into chunks of at most cut bytes. */
static void w_data(struct strbuf *sb, int id, const char *text, size_t cut)
{
	size_t n = strlen(text);

	w_byte(sb, 1);
	w_int(sb, id);
	for (size_t off = 0; off < n; off += cut) {
		size_t k = n - off < cut ? n - off : cut;

		w_int(sb, (long long)k);
		strbuf_add(sb, text + off, k);
	}
	w_int(sb, 0);
}

static void w_blobs(struct strbuf *sb, int id)
{
	w_byte(sb, 3);
	w_int(sb, id);
	w_int(sb, 16500);
	w_int(sb, 6);
	strbuf_add(sb, "a\nb\nc\n", 6);
	w_int(sb, 3);
	strbuf_add(sb, "\x01\x00\n", 3);
	w_int(sb, 0);
	w_int(sb, 16501);
	w_int(sb, 0);
	w_int(sb, 0);
}

#define T1_ROWS "1\tann\\nsmith\t\\N\n2\tbob\\\\\tx\\ty\n3\t\\.\t.\n"

/* Two tables (one with escapes, one empty with pg_dump 15's end marker),
 * a table with no columns, large objects, and a schema-only entry; with
 * cut, every data block in chunks of at most cut bytes. */
/* The sample's header and table of contents. */
static void sample_toc(struct strbuf *sb, int vmin)
{
	w_head(sb, vmin, 1, 0);
	w_int(sb, 5);
	w_entry(sb, vmin, 10, 0, "orders", "TABLE", NULL, "public");
	w_entry(sb, vmin, 20, 1, "orders", "TABLE DATA", "COPY public.orders (id, name, note) "
		"FROM stdin;\n", "public");
	w_entry(sb, vmin, 21, 1, "empty", "TABLE DATA", "COPY app.empty (id) FROM stdin;\n", "app");
	w_entry(sb, vmin, 22, 1, "nocols", "TABLE DATA", "COPY app.nocols  FROM stdin;\n", "app");
	w_entry(sb, vmin, 30, 1, "BLOBS", "BLOBS", NULL, NULL);
}

static void sample_cut(struct strbuf *sb, int vmin, size_t cut)
{
	sample_toc(sb, vmin);
	w_data(sb, 20, T1_ROWS, cut ? cut : 7);
	w_data(sb, 21, "\\.\n\n\n", cut ? cut : 100);
	w_blobs(sb, 30);
	w_data(sb, 22, "\n\n\n\n", cut ? cut : 3);
}

static void sample(struct strbuf *sb, int vmin)
{
	sample_cut(sb, vmin, 0);
}

/* Feed sb cut at the given offsets (ascending, ending with 0). */
static int run(const struct strbuf *sb, const size_t *cuts, const struct dumpcount_table **t,
	       size_t *n, struct errbuf *e, struct dumpcount **dcp)
{
	struct dumpcount *dc = dumpcount_new();
	size_t off = 0;

	for (; cuts && *cuts; cuts++) {
		dumpcount_feed(dc, sb->buf + off, *cuts - off);
		off = *cuts;
	}
	dumpcount_feed(dc, sb->buf + off, sb->len - off);
	*dcp = dc;
	return dumpcount_finish(dc, t, n, e);
}

static void check_sample(const struct dumpcount_table *t, size_t n)
{
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(t[0].schema, "public");
	ck_assert_str_eq(t[0].name, "orders");
	ck_assert_int_eq(t[0].rows, 3);
	ck_assert_str_eq(t[1].schema, "app");
	ck_assert_str_eq(t[1].name, "empty");
	ck_assert_int_eq(t[1].rows, 0);
	ck_assert_str_eq(t[2].name, "nocols");
	ck_assert_int_eq(t[2].rows, 4);
}

START_TEST(test_versions)
{
	static const int vmins[] = { 14, 15, 16 };
	static const char *names[] = { "1.14", "1.15", "1.16" };

	for (int i = 0; i < 3; i++) {
		struct strbuf sb = STRBUF_INIT;
		struct errbuf e = ERRBUF_INIT;
		const struct dumpcount_table *t;
		struct dumpcount *dc;
		size_t n;

		sample(&sb, vmins[i]);
		ck_assert_msg(run(&sb, NULL, &t, &n, &e, &dc) == 0, "%s: %s", names[i], e.msg);
		ck_assert_str_eq(dumpcount_version(dc), names[i]);
		check_sample(t, n);
		dumpcount_free(dc);
		strbuf_release(&sb);
	}
}
END_TEST

/* Every split point, and one byte at a time: the same counts. */
START_TEST(test_chunking)
{
	struct strbuf sb = STRBUF_INIT;
	const struct dumpcount_table *t;
	struct dumpcount *dc;
	size_t n;

	sample(&sb, 16);
	for (size_t cut = 1; cut < sb.len; cut++) {
		struct errbuf e = ERRBUF_INIT;
		size_t cuts[3] = { cut, cut + 1 < sb.len ? cut + 1 : 0, 0 };

		ck_assert_msg(run(&sb, cuts, &t, &n, &e, &dc) == 0, "cut %zu: %s", cut, e.msg);
		check_sample(t, n);
		dumpcount_free(dc);
	}
	dc = dumpcount_new();
	for (size_t i = 0; i < sb.len; i++)
		ck_assert_int_eq(dumpcount_feed(dc, sb.buf + i, 1), 0);
	{
		struct errbuf e = ERRBUF_INIT;

		ck_assert_int_eq(dumpcount_finish(dc, &t, &n, &e), 0);
		check_sample(t, n);
	}
	dumpcount_free(dc);
	strbuf_release(&sb);
}
END_TEST

/* A stream cut anywhere either fails or reports the tables whose data
 * never came as -1: never a wrong count. */
START_TEST(test_truncated)
{
	struct strbuf sb = STRBUF_INIT;
	static const long long want[] = { 3, 0, 4 };

	sample(&sb, 15);
	for (size_t len = 0; len < sb.len; len++) {
		struct dumpcount *dc = dumpcount_new();
		struct errbuf e = ERRBUF_INIT;
		const struct dumpcount_table *t;
		size_t n;

		dumpcount_feed(dc, sb.buf, len);
		if (dumpcount_finish(dc, &t, &n, &e) == 0) {
			int missing = 0;

			ck_assert_uint_eq(n, 3);
			for (size_t i = 0; i < n; i++) {
				ck_assert_msg(t[i].rows == -1 || t[i].rows == want[i],
					      "len %zu: %s has %lld", len, t[i].name, t[i].rows);
				missing += t[i].rows == -1;
			}
			ck_assert_msg(missing, "len %zu of %zu read as complete", len, sb.len);
		} else {
			ck_assert_msg(strstr(e.msg, "unreadable archive: "), "%s", e.msg);
		}
		dumpcount_free(dc);
	}
	strbuf_release(&sb);
}
END_TEST

static void expect_unreadable(const struct strbuf *sb, const char *why)
{
	struct dumpcount *dc = dumpcount_new();
	struct errbuf e = ERRBUF_INIT;
	const struct dumpcount_table *t;
	size_t n;

	dumpcount_feed(dc, sb->buf, sb->len);
	ck_assert_int_eq(dumpcount_finish(dc, &t, &n, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, why), "expected \"%s\" in \"%s\"", why, e.msg);
	ck_assert_ptr_null(t);
	dumpcount_free(dc);
}

START_TEST(test_bad_headers)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_addstr(&sb, "--\n-- PostgreSQL database dump\n");
	expect_unreadable(&sb, "no PGDMP");
	strbuf_reset(&sb);
	w_head(&sb, 13, 1, 0);
	expect_unreadable(&sb, "archive version 1.13.0");
	strbuf_reset(&sb);
	w_head(&sb, 17, 1, 0);
	expect_unreadable(&sb, "archive version 1.17.0");
	strbuf_reset(&sb);
	sample(&sb, 14);
	sb.buf[5] = 2;
	expect_unreadable(&sb, "archive version 2.14.0");
	strbuf_reset(&sb);
	w_head(&sb, 14, 3, 0);
	expect_unreadable(&sb, "format 3 is not custom");
	strbuf_reset(&sb);
	w_head(&sb, 14, 1, -1);
	expect_unreadable(&sb, "compressed (level -1)");
	strbuf_reset(&sb);
	w_head(&sb, 16, 1, 1);
	expect_unreadable(&sb, "compressed (algorithm 1)");
	strbuf_reset(&sb);
	sample(&sb, 14);
	sb.buf[8] = 0; /* intSize */
	expect_unreadable(&sb, "integer size 0");
	strbuf_release(&sb);
}
END_TEST

START_TEST(test_bad_toc)
{
	struct strbuf sb = STRBUF_INIT;
	struct dumpcount *dc;
	struct errbuf e = ERRBUF_INIT;
	const struct dumpcount_table *t;
	size_t n;
	char *zeros;

	/* an absurd string length in the header and in an entry */
	strbuf_addstr(&sb, "PGDMP\x01\x0e");
	strbuf_add(&sb, "\x00\x04\x08\x01", 4);
	w_int(&sb, 0);
	for (int i = 0; i < 7; i++)
		w_int(&sb, 0);
	w_int(&sb, 0x7fffffff);
	expect_unreadable(&sb, "string of 2147483647 bytes");
	strbuf_reset(&sb);
	w_head(&sb, 14, 1, 0);
	w_int(&sb, 1);
	w_int(&sb, 5);
	w_int(&sb, 0);
	w_int(&sb, -7);
	expect_unreadable(&sb, "string of -7 bytes");
	strbuf_reset(&sb);
	w_head(&sb, 14, 1, 0);
	w_int(&sb, -1);
	expect_unreadable(&sb, "table of contents of -1 entries");
	strbuf_reset(&sb);
	w_head(&sb, 14, 1, 0);
	w_int(&sb, 1);
	w_int(&sb, 0);
	expect_unreadable(&sb, "entry id 0 out of range");

	/* --inserts: table data that is not COPY text */
	strbuf_reset(&sb);
	w_head(&sb, 15, 1, 0);
	w_int(&sb, 1);
	w_entry(&sb, 15, 4, 1, "t", "TABLE DATA", "", "public");
	expect_unreadable(&sb, "data of table public.t is not COPY text");

	/* a table of contents over the limit: one defn string of 64 MiB, fed
	 * in pieces; the parser refuses it before it ends */
	strbuf_reset(&sb);
	w_head(&sb, 14, 1, 0);
	w_int(&sb, 1);
	w_int(&sb, 5);
	w_int(&sb, 0);
	w_str(&sb, "0");
	w_str(&sb, "0");
	w_str(&sb, "t");
	w_str(&sb, "FUNCTION");
	w_int(&sb, 1);
	w_int(&sb, DUMPCOUNT_TOC_MAX);
	dc = dumpcount_new();
	ck_assert_int_eq(dumpcount_feed(dc, sb.buf, sb.len), 0);
	zeros = calloc(1, 1 << 20);
	ck_assert_ptr_nonnull(zeros);
	for (int i = 0; i < 64; i++)
		dumpcount_feed(dc, zeros, 1 << 20);
	free(zeros);
	ck_assert_int_eq(dumpcount_finish(dc, &t, &n, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "table of contents larger than 64 MiB"), "%s", e.msg);
	dumpcount_free(dc);
	strbuf_release(&sb);
}
END_TEST

START_TEST(test_bad_data)
{
	struct strbuf sb = STRBUF_INIT, base = STRBUF_INIT;

	w_head(&base, 14, 1, 0);
	w_int(&base, 2);
	w_entry(&base, 14, 4, 1, "t", "TABLE DATA", "COPY public.t (a) FROM stdin;\n", "public");
	w_entry(&base, 14, 5, 1, "BLOBS", "BLOBS", NULL, NULL);

	strbuf_add(&sb, base.buf, base.len);
	w_data(&sb, 4, "1\n2", 10);
	expect_unreadable(&sb, "data of table public.t ends inside a line");

	strbuf_reset(&sb);
	strbuf_add(&sb, base.buf, base.len);
	w_data(&sb, 4, "1\n\\.\n2\n", 10);
	expect_unreadable(&sb, "a line after the end-of-data marker in table public.t");

	strbuf_reset(&sb);
	strbuf_add(&sb, base.buf, base.len);
	w_data(&sb, 4, "1\n", 10);
	w_data(&sb, 4, "1\n", 10);
	expect_unreadable(&sb, "a second data block for table public.t");

	strbuf_reset(&sb);
	strbuf_add(&sb, base.buf, base.len);
	w_data(&sb, 9, "1\n", 10);
	expect_unreadable(&sb, "data block for entry 9");

	strbuf_reset(&sb);
	strbuf_add(&sb, base.buf, base.len);
	w_byte(&sb, 2);
	expect_unreadable(&sb, "unknown block type 2");

	strbuf_reset(&sb);
	strbuf_add(&sb, base.buf, base.len);
	w_byte(&sb, 1);
	w_int(&sb, 4);
	w_int(&sb, -3);
	expect_unreadable(&sb, "data chunk of -3 bytes");

	strbuf_reset(&sb);
	strbuf_add(&sb, base.buf, base.len);
	w_data(&sb, 4, "1\n", 10);
	w_byte(&sb, 1);
	w_int(&sb, 5);
	w_int(&sb, 100);
	strbuf_add(&sb, "abc", 3);
	expect_unreadable(&sb, "ends inside the data of entry 5");

	strbuf_reset(&sb);
	strbuf_add(&sb, base.buf, base.len);
	w_byte(&sb, 1);
	w_int(&sb, 4);
	w_int(&sb, 4);
	strbuf_add(&sb, "1\n2\n", 4);
	expect_unreadable(&sb, "ends inside the data of table public.t");

	/* large objects: an unterminated list */
	strbuf_reset(&sb);
	strbuf_add(&sb, base.buf, base.len);
	w_byte(&sb, 3);
	w_int(&sb, 5);
	w_int(&sb, 16000);
	w_int(&sb, 0);
	expect_unreadable(&sb, "ends inside large objects");
	strbuf_release(&sb);
	strbuf_release(&base);
}
END_TEST

/* dumpcount_pass's output, collected */
static int collect(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	(void)e;
	strbuf_add(ctx, buf, len);
	return 0;
}

/* Pass sb on, fed in pieces of step bytes (0: at once). */
static void pass(const struct strbuf *sb, size_t step, struct strbuf *out)
{
	struct dumpcount *dc = dumpcount_new();
	struct errbuf e = ERRBUF_INIT;

	strbuf_reset(out);
	dumpcount_set_output(dc, collect, out);
	for (size_t off = 0; off < sb->len; off += step ? step : sb->len) {
		size_t k = step && sb->len - off > step ? step : sb->len - off;

		ck_assert_int_eq(dumpcount_pass(dc, sb->buf + off, k, &e), 0);
	}
	ck_assert_int_eq(dumpcount_pass_end(dc, &e), 0);
	dumpcount_free(dc);
}

static void assert_same(const struct strbuf *a, const struct strbuf *b, const char *what)
{
	ck_assert_msg(a->len == b->len && !memcmp(a->buf, b->buf, a->len),
		      "%s: %zu bytes, expected %zu", what, a->len, b->len);
}

/* Every data block's chunks become one; the header, the table of contents
 * and large objects pass as they are; the same output however the input
 * is cut. */
START_TEST(test_pass_joins)
{
	static const int vmins[] = { 14, 15, 16 };
	static const size_t steps[] = { 0, 1, 2, 5, 7, 64 };

	for (int i = 0; i < 3; i++) {
		struct strbuf in = STRBUF_INIT, want = STRBUF_INIT, out = STRBUF_INIT;

		sample(&in, vmins[i]);
		sample_cut(&want, vmins[i], 1 << 20);
		ck_assert_uint_lt(want.len, in.len);
		for (size_t j = 0; j < sizeof(steps) / sizeof(*steps); j++) {
			pass(&in, steps[j], &out);
			assert_same(&out, &want, "joined sample");
		}
		strbuf_release(&in);
		strbuf_release(&want);
		strbuf_release(&out);
	}
}
END_TEST

/* Chunks join up to DUMPCOUNT_JOIN bytes; a larger one passes as it is,
 * between joins; the rows read the same from the output. */
START_TEST(test_pass_large)
{
	struct strbuf in = STRBUF_INIT, out = STRBUF_INIT, text = STRBUF_INIT,
		      got = STRBUF_INIT, big = STRBUF_INIT;
	struct dumpcount *dc;
	struct errbuf e = ERRBUF_INIT;
	const struct dumpcount_table *t;
	size_t n, prefix, pos, chunks = 0, over = 0;

	w_head(&in, 15, 1, 0);
	w_int(&in, 1);
	w_entry(&in, 15, 20, 1, "orders", "TABLE DATA", "COPY public.orders (id) FROM stdin;\n",
		"public");
	prefix = in.len;
	for (int i = 0; i < 30000; i++)
		strbuf_addf(&text, "%d\n", i % 10);         /* 60,000 bytes in 2-byte rows */
	for (int i = 0; i < 100000; i++)
		strbuf_addch(&big, 'x');
	strbuf_addch(&big, '\n');
	w_byte(&in, 1);
	w_int(&in, 20);
	for (size_t off = 0; off < text.len; off += 2) {
		w_int(&in, 2);
		strbuf_add(&in, text.buf + off, 2);
	}
	w_int(&in, (long long)big.len);
	strbuf_add(&in, big.buf, big.len);
	for (size_t off = 0; off < text.len; off += 2) {
		w_int(&in, 2);
		strbuf_add(&in, text.buf + off, 2);
	}
	w_int(&in, 0);

	pass(&in, 4096, &out);
	ck_assert_msg(!memcmp(out.buf, in.buf, prefix), "the table of contents changed");
	/* walk the output's chunks */
	pos = prefix + 1 + 5;
	for (;;) {
		long long len = 0;

		ck_assert_uint_le(pos + 5, out.len);
		for (int i = 4; i >= 1; i--)
			len = len * 256 + (unsigned char)out.buf[pos + (size_t)i];
		ck_assert_int_eq(out.buf[pos], 0);
		pos += 5;
		if (!len)
			break;
		chunks++;
		over += len > DUMPCOUNT_JOIN;
		ck_assert(len <= DUMPCOUNT_JOIN || len == (long long)big.len);
		strbuf_add(&got, out.buf + pos, (size_t)len);
		pos += (size_t)len;
	}
	ck_assert_uint_eq(pos, out.len);
	/* 60,000 bytes, the large chunk, 60,000 bytes: five chunks at most
	 * 64 KiB each side cannot make fewer than three */
	ck_assert_uint_eq(over, 1);
	ck_assert_uint_eq(chunks, 3);
	ck_assert_uint_eq(got.len, 2 * text.len + big.len);
	ck_assert(!memcmp(got.buf, text.buf, text.len));
	ck_assert(!memcmp(got.buf + text.len, big.buf, big.len));
	ck_assert(!memcmp(got.buf + text.len + big.len, text.buf, text.len));

	dc = dumpcount_new();
	dumpcount_feed(dc, out.buf, out.len);
	ck_assert_msg(dumpcount_finish(dc, &t, &n, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(t[0].rows, 60001);
	dumpcount_free(dc);
	strbuf_release(&in);
	strbuf_release(&out);
	strbuf_release(&text);
	strbuf_release(&got);
	strbuf_release(&big);
}
END_TEST

/* sb: toc, then the start of entry id's data block */
static void data_head(struct strbuf *sb, const struct strbuf *toc, int id)
{
	strbuf_reset(sb);
	strbuf_add(sb, toc->buf, toc->len);
	w_byte(sb, 1);
	w_int(sb, id);
}

static void w_chunk(struct strbuf *sb, const char *s)
{
	w_int(sb, (long long)strlen(s));
	strbuf_addstr(sb, s);
}

/* An archive it cannot read passes unchanged: compressed, --inserts, an
 * unknown version; damage inside data comes out after what was joined,
 * the same damage; a stream that ends inside a chunk ends there still. */
START_TEST(test_pass_unreadable)
{
	struct strbuf in = STRBUF_INIT, want = STRBUF_INIT, out = STRBUF_INIT,
		      toc = STRBUF_INIT;

	w_head(&in, 14, 1, 6);
	w_int(&in, 1);
	w_entry(&in, 14, 20, 1, "t", "TABLE DATA", "COPY public.t (id) FROM stdin;\n", "public");
	w_data(&in, 20, "1\n2\n3\n", 2);
	pass(&in, 3, &out);
	assert_same(&out, &in, "compressed archive");

	strbuf_reset(&in);
	w_head(&in, 14, 1, 0);
	w_int(&in, 1);
	w_entry(&in, 14, 20, 1, "t", "TABLE DATA", NULL, "public");
	w_data(&in, 20, "INSERT INTO t VALUES (1);\n", 2);
	pass(&in, 0, &out);
	assert_same(&out, &in, "--inserts archive");

	strbuf_reset(&in);
	w_head(&in, 13, 1, 0);
	w_int(&in, 0);
	pass(&in, 0, &out);
	assert_same(&out, &in, "archive version 1.13");

	/* a negative chunk length after two chunks */
	w_head(&toc, 14, 1, 0);
	w_int(&toc, 1);
	w_entry(&toc, 14, 20, 1, "t", "TABLE DATA", "COPY public.t (id) FROM stdin;\n", "public");
	data_head(&in, &toc, 20);
	w_chunk(&in, "1\n");
	w_chunk(&in, "2\n");
	w_int(&in, -7);
	strbuf_addstr(&in, "after the damage");
	data_head(&want, &toc, 20);
	w_chunk(&want, "1\n2\n");
	w_int(&want, -7);
	strbuf_addstr(&want, "after the damage");
	for (size_t step = 0; step < 8; step++) {
		pass(&in, step, &out);
		assert_same(&out, &want, "damaged chunk length");
	}

	/* the end inside the second chunk, and inside the third's length */
	data_head(&in, &toc, 20);
	w_chunk(&in, "1\n");
	w_int(&in, 6);
	strbuf_addstr(&in, "22");
	data_head(&want, &toc, 20);
	w_int(&want, 8);
	strbuf_addstr(&want, "1\n22");
	pass(&in, 1, &out);
	assert_same(&out, &want, "end inside a chunk");

	data_head(&in, &toc, 20);
	w_chunk(&in, "1\n");
	strbuf_add(&in, "\0\2\0", 3);
	data_head(&want, &toc, 20);
	w_chunk(&want, "1\n");
	strbuf_add(&want, "\0\2\0", 3);
	pass(&in, 0, &out);
	assert_same(&out, &want, "end inside a chunk length");

	strbuf_release(&in);
	strbuf_release(&want);
	strbuf_release(&out);
	strbuf_release(&toc);
}
END_TEST

/* The output's own error stops the pass and is returned. */
static int refuse(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	(void)ctx;
	(void)buf;
	(void)len;
	return errbuf_set(e, BL_EFAIL, "cannot write the decompressed dump");
}

START_TEST(test_pass_output_error)
{
	struct strbuf in = STRBUF_INIT;
	struct dumpcount *dc = dumpcount_new();
	struct errbuf e = ERRBUF_INIT;

	sample(&in, 15);
	dumpcount_set_output(dc, refuse, NULL);
	/* the header and table of contents sit in the buffer until the end */
	ck_assert_int_eq(dumpcount_pass(dc, in.buf, in.len, &e), 0);
	ck_assert_int_eq(dumpcount_pass_end(dc, &e), BL_EFAIL);
	ck_assert_str_eq(e.msg, "cannot write the decompressed dump");
	dumpcount_free(dc);
	strbuf_release(&in);
}
END_TEST

/* pg_dump 15 -Fc -Z0 of a database with t (3 rows: a newline, a NULL, a tab
 * and a backslash), e (empty) and one large object. */
/* dumpcount_data_start: -1 until the last byte of the table of contents,
 * then its length (the first data block's offset), whether counting or
 * passing; -2 for a table of contents it cannot read. */
START_TEST(test_data_start)
{
	struct strbuf toc = STRBUF_INIT, sb = STRBUF_INIT, out = STRBUF_INIT;
	const int vmins[] = { 14, 15, 16 };

	for (size_t v = 0; v < sizeof(vmins) / sizeof(vmins[0]); v++) {
		for (int passing = 0; passing <= 1; passing++) {
			struct dumpcount *dc = dumpcount_new();
			struct errbuf e = ERRBUF_INIT;

			strbuf_reset(&toc);
			strbuf_reset(&sb);
			strbuf_reset(&out);
			sample_toc(&toc, vmins[v]);
			sample(&sb, vmins[v]);
			ck_assert_mem_eq(sb.buf, toc.buf, toc.len);
			if (passing)
				dumpcount_set_output(dc, collect, &out);
			for (size_t i = 0; i < sb.len; i++) {
				ck_assert_int_eq(dumpcount_data_start(dc), i < toc.len ? -1 :
						 (long long)toc.len);
				if (passing)
					ck_assert_int_eq(dumpcount_pass(dc, sb.buf + i, 1, &e), 0);
				else
					ck_assert_int_eq(dumpcount_feed(dc, sb.buf + i, 1), 0);
			}
			ck_assert_int_eq(dumpcount_data_start(dc), (long long)toc.len);
			if (passing) {
				ck_assert_int_eq(dumpcount_pass_end(dc, &e), 0);
				ck_assert_uint_ge(out.len, toc.len);
				ck_assert_mem_eq(out.buf, toc.buf, toc.len);
			}
			dumpcount_free(dc);
		}
	}
	/* a TABLE DATA entry that is not COPY text (pg_dump --inserts) */
	{
		struct dumpcount *dc = dumpcount_new();

		strbuf_reset(&sb);
		w_head(&sb, 14, 1, 0);
		w_int(&sb, 1);
		w_entry(&sb, 14, 20, 1, "orders", "TABLE DATA", NULL, "public");
		dumpcount_feed(dc, sb.buf, sb.len);
		ck_assert_int_eq(dumpcount_data_start(dc), -2);
		dumpcount_free(dc);
	}
	strbuf_release(&toc);
	strbuf_release(&sb);
	strbuf_release(&out);
}
END_TEST

START_TEST(test_real_pg15)
{
	struct strbuf sb = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	const struct dumpcount_table *t;
	struct dumpcount *dc;
	size_t n;

	ck_assert_int_eq(tread_file(BALLAST_SOURCE_DIR
				    "/tests/fuzz/corpus/dumpcount/pg15-tiny.dump", &sb), 0);
	ck_assert_msg(run(&sb, NULL, &t, &n, &e, &dc) == 0, "%s", e.msg);
	ck_assert_str_eq(dumpcount_version(dc), "1.14");
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(t[0].name, "e");
	ck_assert_int_eq(t[0].rows, 0);
	ck_assert_str_eq(t[1].schema, "public");
	ck_assert_str_eq(t[1].name, "t");
	ck_assert_int_eq(t[1].rows, 3);
	dumpcount_free(dc);
	strbuf_release(&sb);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dumpcount");
	TCase *tc = tcase_create("dumpcount");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_versions);
	tcase_add_test(tc, test_chunking);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_bad_headers);
	tcase_add_test(tc, test_bad_toc);
	tcase_add_test(tc, test_bad_data);
	tcase_add_test(tc, test_real_pg15);
	tcase_add_test(tc, test_pass_joins);
	tcase_add_test(tc, test_pass_large);
	tcase_add_test(tc, test_pass_unreadable);
	tcase_add_test(tc, test_pass_output_error);
	tcase_add_test(tc, test_data_start);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
