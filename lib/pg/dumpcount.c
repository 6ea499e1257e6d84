#include "dumpcount.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* Layout as pg_dump writes it (pg_backup_archiver.c WriteHead/WriteToc,
 * pg_backup_custom.c): an int is a sign byte then intSize bytes, least
 * significant first; a string is an int length (-1 = NULL) then its bytes;
 * an offset is a flag byte then offSize bytes. */

#define KEEP 256                /* bytes kept of a string we look at */
#define HEAD_STR_MAX 65536      /* dbname and version strings of the header */
#define BLK_DATA 1
#define BLK_BLOBS 3
#define FMT_CUSTOM 1
/* The pass's buffer: a whole join (its length, then DUMPCOUNT_JOIN bytes)
 * always fits behind what is already there, so an open join is never cut
 * by a flush. */
#define OB_CAP (2 * DUMPCOUNT_JOIN + 64)

enum step {
	ST_MAGIC, ST_VMAJ, ST_VMIN, ST_VREV, ST_INTSIZE, ST_OFFSIZE, ST_FORMAT,
	ST_COMPRESSION, ST_TIME, ST_DBNAME, ST_SERVER, ST_DUMPER, ST_TOCCOUNT,
	/* one TOC entry */
	ST_E_ID, ST_E_HADDUMPER, ST_E_TABLEOID, ST_E_OID, ST_E_TAG, ST_E_DESC,
	ST_E_SECTION, ST_E_DEFN, ST_E_DROP, ST_E_COPY, ST_E_NAMESPACE,
	ST_E_TABLESPACE, ST_E_TABLEAM, ST_E_RELKIND, ST_E_OWNER, ST_E_WITHOIDS,
	ST_E_DEP, ST_E_OFFSET,
	/* data */
	ST_BLOCK, ST_BLOCK_ID, ST_CHUNK_LEN, ST_CHUNK, ST_BLOB_OID, ST_BLOB_LEN,
	ST_BLOB_CHUNK, ST_FAILED
};

enum mode {
	M_FIXED,        /* collect need bytes into acc */
	M_STR,          /* the body of a string: left bytes, the first KEEP kept */
	M_BYTES         /* the body of a data chunk: left bytes */
};

struct tab {
	char *schema, *name;
	long long rows;
	int started, done, ended;
	unsigned line_len;      /* of the current line, capped at 3 */
	char head[2];           /* its first two bytes */
};

struct entry {
	long long id;
	long tab;               /* index into tabs, or -1 */
};

struct dumpcount {
	enum step step;
	enum mode mode;
	int failed;
	char why[256];
	long long pos;          /* bytes consumed */

	unsigned char acc[1 + 16];
	size_t need, have;
	long long left;
	int is_int;             /* the fixed bytes are an int */
	int str_body;           /* a string step is past its length */
	int str_null;
	long long str_len;
	char keep[KEEP];
	size_t keep_len;

	int vmaj, vmin, vrev, int_size, off_size, time_left;
	char version[16];
	int in_toc;
	long long toc_bytes, toc_left;
	long long data_start;   /* -1 until the table of contents is read */

	/* the TOC entry being read */
	long long e_id;
	int e_had, e_copy, e_table;
	char e_tag[KEEP], e_ns[KEEP];
	int e_tag_ok, e_ns_ok;

	struct tab *tabs;
	size_t ntabs, atabs;
	struct entry *ents;
	size_t nents, aents;

	int blk;
	struct tab *cur;
	long long cur_id;
	struct dumpcount_table *out;

	/* passing on (dumpcount_set_output) */
	dumpcount_out_fn pass;
	void *pass_ctx;
	struct errbuf *pass_e;
	int pass_rc;
	int degraded;           /* unreadable: the rest passes unchanged */
	unsigned char *ob;
	size_t ob_len;
	long long jhdr;         /* where the open join's length goes in ob; -1: none */
	size_t j_len;
	int joining;            /* the current chunk's body goes into the join */
	int held;               /* a chunk length is held back in acc */
};

/* Names come from the archive: a control byte in one must not break the
 * message's single line. */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

__attribute__((format(printf, 2, 3)))
static int fail(struct dumpcount *dc, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (dc->failed)
		return -1;
	va_start(ap, fmt);
	vsnprintf(dc->why, sizeof(dc->why), fmt, ap);
	va_end(ap);
	one_line(dc->why);
	n = strlen(dc->why);
	snprintf(dc->why + n, sizeof(dc->why) - n, " (at byte %lld)", dc->pos);
	dc->failed = 1;
	dc->step = ST_FAILED;
	return -1;
}

struct dumpcount *dumpcount_new(void)
{
	struct dumpcount *dc = xcalloc(1, sizeof(*dc));

	dc->step = ST_MAGIC;
	dc->mode = M_FIXED;
	dc->need = 5;
	dc->jhdr = -1;
	dc->data_start = -1;
	return dc;
}

void dumpcount_free(struct dumpcount *dc)
{
	if (!dc)
		return;
	for (size_t i = 0; i < dc->ntabs; i++) {
		free(dc->tabs[i].schema);
		free(dc->tabs[i].name);
	}
	free(dc->tabs);
	free(dc->ents);
	free(dc->out);
	free(dc->ob);
	free(dc);
}

long long dumpcount_data_start(const struct dumpcount *dc)
{
	if (dc->data_start >= 0)
		return dc->data_start;
	return dc->failed ? -2 : -1;
}

const char *dumpcount_version(const struct dumpcount *dc)
{
	return dc->version;
}

static int is_str_step(enum step s)
{
	switch (s) {
	case ST_DBNAME: case ST_SERVER: case ST_DUMPER: case ST_E_TABLEOID:
	case ST_E_OID: case ST_E_TAG: case ST_E_DESC: case ST_E_DEFN: case ST_E_DROP:
	case ST_E_COPY: case ST_E_NAMESPACE: case ST_E_TABLESPACE: case ST_E_TABLEAM:
	case ST_E_OWNER: case ST_E_WITHOIDS: case ST_E_DEP:
		return 1;
	default:
		return 0;
	}
}

static int expect_bytes(struct dumpcount *dc, enum step s, size_t n)
{
	dc->step = s;
	dc->mode = M_FIXED;
	dc->need = n;
	dc->have = 0;
	dc->is_int = 0;
	return 0;
}

/* An int, or a string (its length first). */
static int expect_int(struct dumpcount *dc, enum step s)
{
	expect_bytes(dc, s, 1 + (size_t)dc->int_size);
	dc->is_int = 1;
	dc->str_body = 0;
	return 0;
}

static int get_int(struct dumpcount *dc, long long *v)
{
	uint64_t u = 0;

	for (int i = dc->int_size; i >= 1; i--) {
		if (i > 8 && dc->acc[i])
			return fail(dc, "integer out of range");
		if (i <= 8)
			u = (u << 8) | dc->acc[i];
	}
	if (u > (UINT64_C(1) << 62))
		return fail(dc, "integer out of range");
	*v = dc->acc[0] ? -(long long)u : (long long)u;
	return 0;
}

static int same(const char *keep, size_t len, long long full, const char *s)
{
	return full == (long long)strlen(s) && len == strlen(s) && !memcmp(keep, s, len);
}

static void keep_str(struct dumpcount *dc, char *dst, int *ok)
{
	*ok = !dc->str_null && dc->str_len < KEEP;
	memcpy(dst, dc->keep, dc->keep_len);
	dst[dc->keep_len] = 0;
	/* a name holding NUL would compare as a different name */
	if (*ok && strlen(dst) != dc->keep_len)
		*ok = 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

static int end_entry(struct dumpcount *dc)
{
	if (dc->e_had) {
		if (dc->nents == dc->aents) {
			dc->aents = dc->aents ? 2 * dc->aents : 64;
			dc->ents = xrealloc(dc->ents, dc->aents * sizeof(*dc->ents));
		}
		dc->ents[dc->nents].id = dc->e_id;
		dc->ents[dc->nents].tab = -1;
		if (dc->e_table) {
			struct tab *t;

			if (!dc->e_tag_ok || !dc->e_ns_ok) 
				return fail(dc, "table data entry %lld without a usable schema and name",
				     dc->e_id);
			if (!dc->e_copy) 
				return fail(dc, "data of table %s.%s is not COPY text", dc->e_ns, dc->e_tag);
			if (dc->ntabs == dc->atabs) {
				dc->atabs = dc->atabs ? 2 * dc->atabs : 64;
				dc->tabs = xrealloc(dc->tabs, dc->atabs * sizeof(*dc->tabs));
			}
			t = &dc->tabs[dc->ntabs];
			memset(t, 0, sizeof(*t));
			t->schema = xstrdup(dc->e_ns);
			t->name = xstrdup(dc->e_tag);
			dc->ents[dc->nents].tab = (long)dc->ntabs++;
		}
		dc->nents++;
	}
	if (--dc->toc_left > 0)
		return expect_int(dc, ST_E_ID);
	dc->in_toc = 0;
	/* an empty database's dump may have no entry we keep: qsort(NULL, 0)
	 * is undefined */
	if (dc->nents)
		qsort(dc->ents, dc->nents, sizeof(*dc->ents), cmp_entry);
	for (size_t i = 1; i < dc->nents; i++)
		if (dc->ents[i].id == dc->ents[i - 1].id) 
			return fail(dc, "entry %lld appears twice in the table of contents", dc->ents[i].id);
	dc->data_start = dc->pos;
	return expect_bytes(dc, ST_BLOCK, 1);
}

static int start_block(struct dumpcount *dc, long long id)
{
	struct entry key = { .id = id, .tab = -1 };
	struct entry *en = dc->nents ? bsearch(&key, dc->ents, dc->nents, sizeof(*dc->ents),
					       cmp_entry) : NULL;

	if (!en) 
		return fail(dc, "data block for entry %lld, which the table of contents lists "
		     "without data", id);
	dc->cur_id = id;
	dc->cur = en->tab >= 0 ? &dc->tabs[en->tab] : NULL;
	if (dc->cur && dc->blk == BLK_BLOBS) 
		return fail(dc, "large objects in the data of table %s.%s", dc->cur->schema,
		     dc->cur->name);
	if (dc->cur && dc->cur->started) 
		return fail(dc, "a second data block for table %s.%s", dc->cur->schema, dc->cur->name);
	if (dc->cur)
		dc->cur->started = 1;
	return expect_int(dc, dc->blk == BLK_DATA ? ST_CHUNK_LEN : ST_BLOB_OID);
}

static int expect_body(struct dumpcount *dc, enum step s, long long n)
{
	dc->step = s;
	dc->mode = M_BYTES;
	dc->left = n;
	return 0;
}

static void out_flush(struct dumpcount *dc)
{
	if (dc->ob_len && !dc->pass_rc)
		dc->pass_rc = dc->pass(dc->pass_ctx, dc->ob, dc->ob_len, dc->pass_e);
	dc->ob_len = 0;
}

/* Bytes that pass unchanged. Never called while a join is open: those
 * come only between data blocks, or in a chunk too large to join. */
static void out_raw(struct dumpcount *dc, const void *buf, size_t n)
{
	const unsigned char *p = buf;

	if (n >= OB_CAP / 2) {
		out_flush(dc);
		if (!dc->pass_rc)
			dc->pass_rc = dc->pass(dc->pass_ctx, p, n, dc->pass_e);
		return;
	}
	while (n && !dc->pass_rc) {
		size_t k = OB_CAP - dc->ob_len;

		if (!k) {
			out_flush(dc);
			continue;
		}
		k = k < n ? k : n;
		memcpy(dc->ob + dc->ob_len, p, k);
		dc->ob_len += k;
		p += k;
		n -= k;
	}
}

static void join_open(struct dumpcount *dc)
{
	size_t hdr = 1 + (size_t)dc->int_size;

	if (OB_CAP - dc->ob_len < hdr + DUMPCOUNT_JOIN)
		out_flush(dc);
	dc->jhdr = (long long)dc->ob_len;
	dc->ob_len += hdr;
	dc->j_len = 0;
}

/* Write the open join's length: its bytes, plus more the input promised
 * for its last chunk when the input ended inside it. */
static void join_close(struct dumpcount *dc, long long more)
{
	unsigned long long v;
	unsigned char *at;

	if (dc->jhdr < 0)
		return;
	v = (unsigned long long)dc->j_len + (unsigned long long)more;
	at = dc->ob + dc->jhdr;
	at[0] = 0;
	for (int i = 1; i <= dc->int_size; i++)
		at[i] = i <= 8 ? (unsigned char)(v >> (8 * (i - 1))) : 0;
	dc->jhdr = -1;
	dc->j_len = 0;
}

/* An open join with room for a chunk of v bytes (v <= DUMPCOUNT_JOIN):
 * the current one, or a new one after it is closed. */
static void join_room(struct dumpcount *dc, size_t v)
{
	if (dc->jhdr >= 0 && dc->j_len + v > DUMPCOUNT_JOIN)
		join_close(dc, 0);
	if (dc->jhdr < 0)
		join_open(dc);
}

/* A chunk's length, held back in acc: the chunk joins the open join (or a
 * new one), or passes as it is with its length. An archive whose ints are
 * narrower than 4 bytes (pg_dump's are 4) cannot say a join's length. */
static void pass_chunk_len(struct dumpcount *dc, long long v)
{
	dc->held = 0;
	dc->joining = 0;
	if (!v || v > DUMPCOUNT_JOIN || dc->int_size < 4) {
		join_close(dc, 0);
		out_raw(dc, dc->acc, dc->need);
		return;
	}
	join_room(dc, (size_t)v);
	dc->joining = 1;
}

/* Where the input cannot be read, or ends: what was joined goes out as
 * one chunk, then what is held back, so the rest can pass unchanged. */
static void pass_pending(struct dumpcount *dc, long long more)
{
	join_close(dc, more);
	if (dc->held)
		out_raw(dc, dc->acc, dc->have);
	dc->held = 0;
	dc->joining = 0;
}

/* The value the current step was waiting for is complete. */
static int step_done(struct dumpcount *dc)
{
	long long v = 0;

	if (dc->mode == M_FIXED && dc->is_int && get_int(dc, &v))
		return -1;
	if (is_str_step(dc->step) && !dc->str_body) {
		long long max = dc->step <= ST_DUMPER ? HEAD_STR_MAX : DUMPCOUNT_TOC_MAX;

		dc->keep_len = 0;
		dc->str_len = v;
		dc->str_null = v == -1;
		if (v < -1 || v > max) 
			return fail(dc, "string of %lld bytes", v);
		if (v >= 0) {
			dc->str_body = 1;
			dc->mode = M_STR;
			dc->left = v;
			return 0;
		}
	}

	switch (dc->step) {
	case ST_MAGIC:
		if (memcmp(dc->acc, "PGDMP", 5))
			return fail(dc, "not a pg_dump custom-format archive (no PGDMP)");
		return expect_bytes(dc, ST_VMAJ, 1);
	case ST_VMAJ:
		dc->vmaj = dc->acc[0];
		return expect_bytes(dc, ST_VMIN, 1);
	case ST_VMIN:
		dc->vmin = dc->acc[0];
		return expect_bytes(dc, ST_VREV, 1);
	case ST_VREV:
		dc->vrev = dc->acc[0];
		snprintf(dc->version, sizeof(dc->version), "%d.%d", dc->vmaj, dc->vmin);
		if (dc->vmaj != 1 || dc->vmin < 14 || dc->vmin > 16 || dc->vrev)
			return fail(dc, "archive version %d.%d.%d is not one of 1.14 to 1.16",
				    dc->vmaj, dc->vmin, dc->vrev);
		return expect_bytes(dc, ST_INTSIZE, 1);
	case ST_INTSIZE:
		dc->int_size = dc->acc[0];
		if (dc->int_size < 1 || dc->int_size > 16)
			return fail(dc, "integer size %d", dc->int_size);
		return expect_bytes(dc, ST_OFFSIZE, 1);
	case ST_OFFSIZE:
		dc->off_size = dc->acc[0];
		if (dc->off_size < 1 || dc->off_size > 16)
			return fail(dc, "offset size %d", dc->off_size);
		return expect_bytes(dc, ST_FORMAT, 1);
	case ST_FORMAT:
		if (dc->acc[0] != FMT_CUSTOM)
			return fail(dc, "archive format %d is not custom (1)", dc->acc[0]);
		/* 1.15 made the compression an algorithm byte; before, a level */
		if (dc->vmin >= 15)
			return expect_bytes(dc, ST_COMPRESSION, 1);
		return expect_int(dc, ST_COMPRESSION);
	case ST_COMPRESSION:
		if (dc->vmin >= 15 ? dc->acc[0] != 0 : v != 0)
			return fail(dc, "the archive is compressed (%s %lld), rows are counted "
				    "only with --compress=0", dc->vmin >= 15 ? "algorithm" : "level",
				    dc->vmin >= 15 ? (long long)dc->acc[0] : v);
		dc->time_left = 7;
		return expect_int(dc, ST_TIME);
	case ST_TIME:
		if (--dc->time_left > 0)
			return expect_int(dc, ST_TIME);
		return expect_int(dc, ST_DBNAME);
	case ST_DBNAME:
		return expect_int(dc, ST_SERVER);
	case ST_SERVER:
		return expect_int(dc, ST_DUMPER);
	case ST_DUMPER:
		dc->in_toc = 1;
		return expect_int(dc, ST_TOCCOUNT);
	case ST_TOCCOUNT:
		if (v < 0)
			return fail(dc, "table of contents of %lld entries", v);
		dc->toc_left = v;
		if (!v) {
			dc->in_toc = 0;
			return expect_bytes(dc, ST_BLOCK, 1);
		}
		return expect_int(dc, ST_E_ID);
	case ST_E_ID:
		if (v <= 0 || v > INT32_MAX)
			return fail(dc, "entry id %lld out of range", v);
		dc->e_id = v;
		return expect_int(dc, ST_E_HADDUMPER);
	case ST_E_HADDUMPER:
		dc->e_had = v != 0;
		return expect_int(dc, ST_E_TABLEOID);
	case ST_E_TABLEOID:
		return expect_int(dc, ST_E_OID);
	case ST_E_OID:
		return expect_int(dc, ST_E_TAG);
	case ST_E_TAG:
		keep_str(dc, dc->e_tag, &dc->e_tag_ok);
		return expect_int(dc, ST_E_DESC);
	case ST_E_DESC:
		dc->e_table = !dc->str_null && same(dc->keep, dc->keep_len, dc->str_len,
						     "TABLE DATA");
		return expect_int(dc, ST_E_SECTION);
	case ST_E_SECTION:
		return expect_int(dc, ST_E_DEFN);
	case ST_E_DEFN:
		return expect_int(dc, ST_E_DROP);
	case ST_E_DROP:
		return expect_int(dc, ST_E_COPY);
	case ST_E_COPY:
		dc->e_copy = !dc->str_null && dc->keep_len >= 5 && !memcmp(dc->keep, "COPY ", 5);
		return expect_int(dc, ST_E_NAMESPACE);
	case ST_E_NAMESPACE:
		keep_str(dc, dc->e_ns, &dc->e_ns_ok);
		return expect_int(dc, ST_E_TABLESPACE);
	case ST_E_TABLESPACE:
		return expect_int(dc, ST_E_TABLEAM);
	case ST_E_TABLEAM:
		return expect_int(dc, dc->vmin >= 16 ? ST_E_RELKIND : ST_E_OWNER);
	case ST_E_RELKIND:
		return expect_int(dc, ST_E_OWNER);
	case ST_E_OWNER:
		return expect_int(dc, ST_E_WITHOIDS);
	case ST_E_WITHOIDS:
		return expect_int(dc, ST_E_DEP);
	case ST_E_DEP:
		if (!dc->str_null)
			return expect_int(dc, ST_E_DEP);
		return expect_bytes(dc, ST_E_OFFSET, 1 + (size_t)dc->off_size);
	case ST_E_OFFSET:
		/* K_OFFSET_POS_NOT_SET, K_OFFSET_POS_SET, K_OFFSET_NO_DATA */
		if (dc->acc[0] < 1 || dc->acc[0] > 3)
			return fail(dc, "data offset flag %d in entry %lld", dc->acc[0], dc->e_id);
		return end_entry(dc);
	case ST_BLOCK:
		dc->blk = dc->acc[0];
		if (dc->blk != BLK_DATA && dc->blk != BLK_BLOBS)
			return fail(dc, "unknown block type %d", dc->blk);
		return expect_int(dc, ST_BLOCK_ID);
	case ST_BLOCK_ID:
		return start_block(dc, v);
	case ST_CHUNK_LEN:
		if (v < 0)
			return fail(dc, "data chunk of %lld bytes", v);
		if (dc->pass)
			pass_chunk_len(dc, v);
		if (v)
			return expect_body(dc, ST_CHUNK, v);
		if (dc->cur) {
			if (dc->cur->line_len)
				return fail(dc, "data of table %s.%s ends inside a line",
					    dc->cur->schema, dc->cur->name);
			dc->cur->done = 1;
			dc->cur = NULL;
		}
		return expect_bytes(dc, ST_BLOCK, 1);
	case ST_CHUNK:
		return expect_int(dc, ST_CHUNK_LEN);
	case ST_BLOB_OID:
		if (v < 0)
			return fail(dc, "large object oid %lld", v);
		if (!v)
			return expect_bytes(dc, ST_BLOCK, 1);
		return expect_int(dc, ST_BLOB_LEN);
	case ST_BLOB_LEN:
		if (v < 0)
			return fail(dc, "large object chunk of %lld bytes", v);
		if (!v)
			return expect_int(dc, ST_BLOB_OID);
		return expect_body(dc, ST_BLOB_CHUNK, v);
	case ST_BLOB_CHUNK:
		return expect_int(dc, ST_BLOB_LEN);
	case ST_FAILED:
		break;
	}
	return -1;
}

/* Rows are the lines before a "\." line; after it only empty lines. */
static int count_lines(struct dumpcount *dc, const unsigned char *p, size_t n)
{
	const unsigned char *base = p;
	struct tab *t = dc->cur;

	while (n) {
		const unsigned char *nl = memchr(p, '\n', n);
		size_t seg = nl ? (size_t)(nl - p) : n;

		for (size_t i = 0; i < seg && t->line_len < 3; i++) {
			if (t->line_len < 2)
				t->head[t->line_len] = (char)p[i];
			t->line_len++;
		}
		if (!nl)
			return 0;
		if (t->line_len == 2 && t->head[0] == '\\' && t->head[1] == '.' && !t->ended) {
			t->ended = 1;
		} else if (t->ended && t->line_len) {
			/* name the byte after this line, whatever the chunking */
			dc->pos += nl + 1 - base;
			return fail(dc, "a line after the end-of-data marker in table %s.%s",
				    t->schema, t->name);
		} else if (!t->ended) {
			t->rows++;
		}
		t->line_len = 0;
		p = nl + 1;
		n -= seg + 1;
	}
	return 0;
}

/* The common case of a pass, row after row of one data block: chunk
 * lengths and whole bodies in buf, joined the way pass_chunk_len() would,
 * without a turn of the step machine per row (it cost the --jobs scratch
 * pass 0.4 s per 4M rows). It stops before anything else (a chunk it
 * would not join, one not whole in buf, pg_dump's ints not being 4
 * bytes), which the machine then reads. Returns the bytes it took. */
static size_t join_run(struct dumpcount *dc, const unsigned char *p, size_t len)
{
	size_t used = 0;

	if (dc->int_size != 4)
		return 0;
	while (len - used >= 5) {
		const unsigned char *q = p + used;
		uint32_t v = (uint32_t)q[1] | (uint32_t)q[2] << 8 | (uint32_t)q[3] << 16 |
			     (uint32_t)q[4] << 24;

		if (q[0] || !v || v > DUMPCOUNT_JOIN || len - used - 5 < v)
			break;
		join_room(dc, v);
		memcpy(dc->ob + dc->ob_len, q + 5, v);
		dc->ob_len += v;
		dc->j_len += v;
		used += 5 + v;
	}
	return used;
}

/* Read up to len bytes; returns how many were read (all of them unless the
 * archive turned unreadable or the pass's output failed). */
static size_t consume(struct dumpcount *dc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t len0 = len;

	while (len && !dc->failed && !dc->pass_rc) {
		size_t take, room;

		if (dc->pass && dc->step == ST_CHUNK_LEN && !dc->have) {
			take = join_run(dc, p, len);
			p += take;
			len -= take;
			dc->pos += (long long)take;
			if (!len)
				break;
		}
		room = len;

		/* never past the TOC limit, so the failure names the same byte
		 * however the stream is cut */
		if (dc->in_toc && (long long)room > DUMPCOUNT_TOC_MAX + 1 - dc->toc_bytes)
			room = (size_t)(DUMPCOUNT_TOC_MAX + 1 - dc->toc_bytes);
		if (dc->mode == M_FIXED) {
			take = dc->need - dc->have < room ? dc->need - dc->have : room;
			memcpy(dc->acc + dc->have, p, take);
			dc->have += take;
			if (dc->pass && dc->step == ST_CHUNK_LEN)
				dc->held = 1;
			else if (dc->pass)
				out_raw(dc, p, take);
		} else {
			take = (unsigned long long)dc->left < room ? (size_t)dc->left : room;
			if (dc->mode == M_STR && dc->keep_len < KEEP - 1) {
				size_t k = KEEP - 1 - dc->keep_len;

				k = k < take ? k : take;
				memcpy(dc->keep + dc->keep_len, p, k);
				dc->keep_len += k;
			} else if (dc->mode == M_BYTES && dc->cur && !dc->pass) {
				count_lines(dc, p, take);
			}
			if (dc->pass && dc->joining) {
				memcpy(dc->ob + dc->ob_len, p, take);
				dc->ob_len += take;
				dc->j_len += take;
			} else if (dc->pass) {
				out_raw(dc, p, take);
			}
			dc->left -= (long long)take;
		}
		p += take;
		len -= take;
		dc->pos += (long long)take;
		if (dc->in_toc && (dc->toc_bytes += (long long)take) > DUMPCOUNT_TOC_MAX) {
			fail(dc, "table of contents larger than %lld MiB", DUMPCOUNT_TOC_MAX >> 20);
			break;
		}
		/* a step may end without input (an empty string): run them all */
		while (!dc->failed && (dc->mode == M_FIXED ? dc->have == dc->need : !dc->left))
			step_done(dc);
	}
	return len0 - len;
}

int dumpcount_feed(struct dumpcount *dc, const void *buf, size_t len)
{
	consume(dc, buf, len);
	return dc->failed ? BL_EFAIL : 0;
}

void dumpcount_set_output(struct dumpcount *dc, dumpcount_out_fn out, void *ctx)
{
	dc->pass = out;
	dc->pass_ctx = ctx;
	if (!dc->ob)
		dc->ob = xmalloc(OB_CAP);
}

int dumpcount_pass(struct dumpcount *dc, const void *buf, size_t len, struct errbuf *e)
{
	size_t used = 0;

	dc->pass_e = e;
	if (!dc->failed)
		used = consume(dc, buf, len);
	if (dc->failed && !dc->pass_rc) {
		if (!dc->degraded)
			pass_pending(dc, 0);
		dc->degraded = 1;
		out_raw(dc, (const char *)buf + used, len - used);
	}
	return dc->pass_rc;
}

int dumpcount_pass_end(struct dumpcount *dc, struct errbuf *e)
{
	dc->pass_e = e;
	if (!dc->degraded)
		pass_pending(dc, dc->joining && dc->mode == M_BYTES ? dc->left : 0);
	dc->degraded = 1;
	out_flush(dc);
	return dc->pass_rc;
}

static const char *where(const struct dumpcount *dc)
{
	if (dc->step <= ST_DUMPER)
		return "the header";
	if (dc->step <= ST_E_OFFSET)
		return "the table of contents";
	if (dc->step == ST_BLOB_OID || dc->step == ST_BLOB_LEN || dc->step == ST_BLOB_CHUNK)
		return "large objects";
	return "a data block";
}

static int finish(struct dumpcount *dc, const struct dumpcount_table **tables, size_t *n,
		  struct errbuf *e)
{
	*tables = NULL;
	*n = 0;
	if (dc->failed)
		return errbuf_set(e, BL_EFAIL, "unreadable archive: %s", dc->why);
	if (dc->step != ST_BLOCK || dc->have) {
		if (dc->step == ST_CHUNK_LEN || dc->step == ST_CHUNK) {
			if (dc->cur)
				return errbuf_set(e, BL_EFAIL, "unreadable archive: it ends inside "
						  "the data of table %s.%s (at byte %lld)",
						  dc->cur->schema, dc->cur->name, dc->pos);
			return errbuf_set(e, BL_EFAIL, "unreadable archive: it ends inside the data "
					  "of entry %lld (at byte %lld)", dc->cur_id, dc->pos);
		}
		return errbuf_set(e, BL_EFAIL, "unreadable archive: it ends inside %s (at byte "
				  "%lld)", where(dc), dc->pos);
	}
	free(dc->out);
	dc->out = xmalloc(dc->ntabs * sizeof(*dc->out));
	for (size_t i = 0; i < dc->ntabs; i++) {
		dc->out[i].schema = dc->tabs[i].schema;
		dc->out[i].name = dc->tabs[i].name;
		dc->out[i].rows = dc->tabs[i].done ? dc->tabs[i].rows : -1;
	}
	*tables = dc->out;
	*n = dc->ntabs;
	return 0;
}

int dumpcount_finish(struct dumpcount *dc, const struct dumpcount_table **tables,
		     size_t *n, struct errbuf *e)
{
	int rc = finish(dc, tables, n, e);

	if (rc)
		one_line(e->msg);
	return rc;
}
