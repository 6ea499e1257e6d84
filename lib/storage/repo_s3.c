/* The s3 repository driver (contract in repo.h; S3 itself in s3.h).
 *
 * Keys live under the configured prefix in one bucket. A writer keeps the
 * stream in memory up to one part: an object that fits is one PUT, with
 * Content-MD5 so a server that checks it refuses a short body. S3 makes a
 * PUT visible whole or not at all; some compatible servers (s3rver) store
 * the body as it arrives, so a killed PUT can leave a short object under
 * its key: the driver says so (torn_writes) and readers of commit objects
 * treat a cut-short manifest as an unfinished commit. A longer stream becomes a multipart upload; one part
 * goes up on a worker thread while the next fills, so at most two parts
 * are in memory, and the object appears only when the upload is completed
 * at commit. Any failure, or an abort, aborts the upload: nothing partial is
 * ever visible under the key, and an interrupted process leaves only an
 * invisible incomplete upload (reclaimed by the bucket's lifecycle rule).
 * Readers fetch ranges of S3_READ_CHUNK bytes, pinned to the ETag seen at
 * open, so a reader never mixes two versions of an object. */
#include "repo_driver.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "s3.h"
#include "xalloc.h"

#define S3_READ_CHUNK (8 * 1024 * 1024)

struct repo_s3 {
	struct s3_client *c;
	char *prefix;        /* "" or "some/prefix/" */
	long long part_base;
};

struct s3_writer {
	const struct repo_ops *ops;
	struct repo *r;
	char *okey;
	long long hint;
	char *buf[2];
	size_t cap[2];
	int cur;             /* the buffer being filled */
	size_t len;
	int parts;           /* parts handed to the uploader so far */
	struct s3_upload *up;
	/* the part in flight on the worker thread */
	pthread_t th;
	int th_running;
	const char *th_buf;
	size_t th_len;
	int th_part;
	int th_rc;
	struct errbuf th_err;
};

struct s3_reader {
	const struct repo_ops *ops;
	struct repo *r;
	char *okey;
	struct strbuf etag;
	long long size, off;
	char *buf;
	size_t have, pos;
};

static const struct repo_ops s3_ops;

static struct repo_s3 *st(struct repo *r)
{
	return r->state;
}

static void object_key(struct repo *r, const char *key, struct strbuf *out)
{
	strbuf_reset(out);
	strbuf_addstr(out, st(r)->prefix);
	strbuf_addstr(out, key);
}

/* ---- writer ---- */

static void *part_worker(void *arg)
{
	struct s3_writer *w = arg;

	w->th_rc = s3_upload_part(w->up, w->th_part, w->th_buf, w->th_len, &w->th_err);
	return NULL;
}

/* Wait for the part in flight; its failure becomes ours. */
static int join_worker(struct s3_writer *w, struct errbuf *e)
{
	if (!w->th_running)
		return 0;
	pthread_join(w->th, NULL);
	w->th_running = 0;
	if (w->th_rc) {
		*e = w->th_err;
		return w->th_rc;
	}
	return 0;
}

/* Not xmalloc: a part's size comes from the size hint and part_size (up to
 * 5 GiB), so failing to get one is an error for this backup, not a reason
 * to abort (xalloc.h). */
static int ensure_buf(struct s3_writer *w, int i, size_t size, struct errbuf *e)
{
	char *nb;

	if (w->cap[i] >= size)
		return 0;
	free(w->buf[i]);
	w->buf[i] = NULL;
	w->cap[i] = 0;
	nb = malloc(size);
	if (!nb)
		return errbuf_set(e, BL_EFAIL, "repo %s: out of memory for a %zu-byte part",
				  w->r->describe, size);
	w->buf[i] = nb;
	w->cap[i] = size;
	return 0;
}

/* Hand the full buffer to the worker and start filling the other one. */
static int flush_part(struct s3_writer *w, struct errbuf *e)
{
	int rc;

	if (!w->up) {
		rc = s3_upload_begin(st(w->r)->c, w->okey, &w->up, e);
		if (rc)
			return rc;
	}
	rc = join_worker(w, e);
	if (rc)
		return rc;
	w->th_buf = w->buf[w->cur];
	w->th_len = w->len;
	w->th_part = ++w->parts;
	w->th_rc = 0;
	errbuf_clear(&w->th_err);
	if (pthread_create(&w->th, NULL, part_worker, w))
		return errbuf_set(e, BL_EFAIL, "repo %s: cannot start an upload thread",
				  w->r->describe);
	w->th_running = 1;
	w->cur ^= 1;
	w->len = 0;
	return ensure_buf(w, w->cur, (size_t)s3_part_size(w->hint, st(w->r)->part_base,
							    w->parts + 1), e);
}

static void writer_free(struct s3_writer *w)
{
	struct errbuf ignored = ERRBUF_INIT;

	join_worker(w, &ignored);
	if (w->up)
		s3_upload_abort(w->up);
	free(w->buf[0]);
	free(w->buf[1]);
	free(w->okey);
	free(w);
}

static int s3w_open(struct repo *r, const char *key, long long size_hint,
		    struct repo_writer **out, struct errbuf *e)
{
	struct s3_writer *w = xcalloc(1, sizeof(*w));
	struct strbuf ok = STRBUF_INIT;
	size_t first;
	int rc;

	w->ops = &s3_ops;
	w->r = r;
	w->hint = size_hint;
	object_key(r, key, &ok);
	w->okey = strbuf_detach(&ok, NULL);
	first = (size_t)s3_part_size(size_hint, st(r)->part_base, 1);
	/* A small object needs no part-sized buffer. */
	if (size_hint >= 0 && (size_t)size_hint < first)
		first = (size_t)size_hint + 1;
	rc = ensure_buf(w, 0, first, e);
	if (rc) {
		writer_free(w);
		return rc;
	}
	*out = (struct repo_writer *)w;
	return 0;
}

static int s3w_write(struct repo_writer *wr, const void *buf, size_t len, struct errbuf *e)
{
	struct s3_writer *w = (struct s3_writer *)wr;
	const char *p = buf;
	int rc;

	while (len) {
		size_t part = (size_t)s3_part_size(w->hint, st(w->r)->part_base, w->parts + 1);
		size_t room, n;

		if (w->cap[w->cur] < part && w->len == w->cap[w->cur]) {
			/* The small first buffer was a guess from the hint: grow it
			 * to a part (part-sized, so an error as in ensure_buf). */
			char *nb = realloc(w->buf[w->cur], part);

			if (!nb)
				return errbuf_set(e, BL_EFAIL, "repo %s: out of memory",
						  w->r->describe);
			w->buf[w->cur] = nb;
			w->cap[w->cur] = part;
		}
		if (w->len == part) {
			rc = flush_part(w, e);
			if (rc)
				return rc;
			continue;
		}
		room = (part < w->cap[w->cur] ? part : w->cap[w->cur]) - w->len;
		n = len < room ? len : room;
		memcpy(w->buf[w->cur] + w->len, p, n);
		w->len += n;
		p += n;
		len -= n;
	}
	return 0;
}

static int s3w_commit(struct repo_writer *wr, struct errbuf *e)
{
	struct s3_writer *w = (struct s3_writer *)wr;
	struct repo_s3 *s = st(w->r);
	int rc;

	if (!w->up) {
		rc = s3_put(s->c, w->okey, w->buf[w->cur], w->len, e);
		goto out;
	}
	rc = join_worker(w, e);
	if (rc)
		goto out;
	if (w->len) {
		rc = s3_upload_part(w->up, ++w->parts, w->buf[w->cur], w->len, e);
		if (rc)
			goto out;
	}
	rc = s3_upload_complete(w->up, e);
	w->up = NULL;  /* complete frees it, and aborts it when it fails */
out:
	writer_free(w);
	return rc;
}

static void s3w_abort(struct repo_writer *wr)
{
	writer_free((struct s3_writer *)wr);
}

/* ---- reader ---- */

static int s3r_open(struct repo *r, const char *key, struct repo_reader **out,
		    struct errbuf *e)
{
	struct s3_reader *rd = xcalloc(1, sizeof(*rd));
	struct strbuf ok = STRBUF_INIT;
	int exists, rc;

	rd->ops = &s3_ops;
	rd->r = r;
	strbuf_init(&rd->etag, 0);
	object_key(r, key, &ok);
	rd->okey = strbuf_detach(&ok, NULL);
	rc = s3_head(st(r)->c, rd->okey, &exists, &rd->size, &rd->etag, e);
	if (!rc && !exists)
		rc = errbuf_set(e, BL_EFAIL, "%s: %s: no such object", s3_describe(st(r)->c),
				rd->okey);
	if (rc) {
		strbuf_release(&rd->etag);
		free(rd->okey);
		free(rd);
		return rc;
	}
	rd->buf = xmalloc(S3_READ_CHUNK);
	*out = (struct repo_reader *)rd;
	return 0;
}

static int s3r_read(struct repo_reader *rr, void *buf, size_t cap, size_t *got,
		    struct errbuf *e)
{
	struct s3_reader *rd = (struct s3_reader *)rr;
	size_t n;
	int rc;

	*got = 0;
	if (rd->pos == rd->have) {
		size_t want = S3_READ_CHUNK;

		if (rd->off >= rd->size)
			return 0;
		if ((long long)want > rd->size - rd->off)
			want = (size_t)(rd->size - rd->off);
		rc = s3_get_range(st(rd->r)->c, rd->okey, rd->off, rd->buf, want, &rd->have,
				  rd->etag.buf, e);
		if (rc)
			return rc;
		if (rd->have != want)
			return errbuf_set(e, BL_EFAIL, "%s: GET %s: got %zu bytes at offset %lld, "
					  "expected %zu (object truncated?)",
					  s3_describe(st(rd->r)->c), rd->okey, rd->have, rd->off,
					  want);
		rd->off += (long long)rd->have;
		rd->pos = 0;
	}
	n = rd->have - rd->pos;
	if (n > cap)
		n = cap;
	memcpy(buf, rd->buf + rd->pos, n);
	rd->pos += n;
	*got = n;
	return 0;
}

static void s3r_close(struct repo_reader *rr)
{
	struct s3_reader *rd = (struct s3_reader *)rr;

	strbuf_release(&rd->etag);
	free(rd->buf);
	free(rd->okey);
	free(rd);
}

/* ---- listing and the rest ---- */

struct list_ctx {
	struct repo *r;
	repo_list_fn fn;
	void *ctx;
};

static int list_cb(void *ctx, const struct s3_object *obj, struct errbuf *e)
{
	struct list_ctx *lc = ctx;
	size_t pl = strlen(st(lc->r)->prefix);
	struct repo_entry ent;

	if (strncmp(obj->key, st(lc->r)->prefix, pl))
		return 0;
	ent.key = obj->key + pl;
	ent.size = obj->size;
	ent.mtime = obj->mtime;
	ent.tmp = 0;
	return lc->fn(lc->ctx, &ent, e);
}

static int s3_repo_list(struct repo *r, const char *prefix, repo_list_fn fn, void *ctx,
			struct errbuf *e)
{
	struct list_ctx lc = { r, fn, ctx };
	struct strbuf p = STRBUF_INIT;
	int rc;

	object_key(r, prefix, &p);
	rc = s3_list(st(r)->c, p.buf, list_cb, &lc, e);
	strbuf_release(&p);
	return rc;
}

static int s3_repo_exists(struct repo *r, const char *key, int *exists, long long *size,
			  struct errbuf *e)
{
	struct strbuf ok = STRBUF_INIT;
	int rc;

	object_key(r, key, &ok);
	rc = s3_head(st(r)->c, ok.buf, exists, size, NULL, e);
	strbuf_release(&ok);
	return rc;
}

static int s3_repo_del(struct repo *r, const char *key, struct errbuf *e)
{
	struct strbuf ok = STRBUF_INIT;
	int rc;

	object_key(r, key, &ok);
	rc = s3_delete(st(r)->c, ok.buf, e);
	strbuf_release(&ok);
	return rc;
}

static void s3_repo_close(struct repo *r)
{
	if (r->state) {
		s3_client_free(st(r)->c);
		free(st(r)->prefix);
		free(r->state);
	}
	free(r);
}

static const struct repo_ops s3_ops = {
	"s3",
	s3w_open, s3w_write, s3w_commit, s3w_abort,
	s3r_open, s3r_read, s3r_close,
	s3_repo_list, s3_repo_exists, s3_repo_del, s3_repo_close,
	1,
};

static const char *str_field(json_t *spec, const char *name)
{
	const char *v = json_string_value(json_object_get(spec, name));

	return v && *v ? v : NULL;
}

/* The value of the environment variable named by spec[field], or of
 * fallback when the field is absent. */
static int cred(json_t *spec, const char *field, const char *fallback, int required,
		const char **out, struct errbuf *e)
{
	const char *name = str_field(spec, field);
	const char *v = getenv(name ? name : fallback);

	*out = NULL;
	if (!v || !*v) {
		if (!required)
			return 0;
		if (name)
			return errbuf_set(e, BL_EUSAGE, "repository.%s: environment variable %s "
					  "is not set", field, name);
		return errbuf_set(e, BL_EUSAGE, "repository: no s3 credentials: set %s (or "
				  "name another variable in repository.%s)", fallback, field);
	}
	log_add_secret(v);
	*out = v;
	return 0;
}

int repo_s3_open(json_t *spec, const char *cfgdir, struct repo **out, struct errbuf *e)
{
	struct s3_opts o;
	struct repo *r = NULL;
	struct repo_s3 *s = NULL;
	struct strbuf prefix = STRBUF_INIT, ca = STRBUF_INIT;
	const char *p;
	json_t *v;
	long long n;
	int rc;

	*out = NULL;
	memset(&o, 0, sizeof(o));
	o.retries = -1;
	o.endpoint = str_field(spec, "endpoint");
	o.region = str_field(spec, "region");
	o.bucket = str_field(spec, "bucket");
	if (!o.bucket)
		return errbuf_set(e, BL_EUSAGE, "repository.bucket: missing (an s3 repository "
				  "needs a bucket)");
	/* A custom endpoint (MinIO, Ceph, ...) usually wants path-style; AWS
	 * wants virtual-host addressing. */
	v = json_object_get(spec, "path_style");
	o.path_style = v ? json_is_true(v) : o.endpoint != NULL;
	if ((rc = cred(spec, "access_key_env", "AWS_ACCESS_KEY_ID", 1, &o.access_key, e)) ||
	    (rc = cred(spec, "secret_key_env", "AWS_SECRET_ACCESS_KEY", 1, &o.secret_key, e)) ||
	    (rc = cred(spec, "session_token_env", "AWS_SESSION_TOKEN",
		       str_field(spec, "session_token_env") != NULL, &o.session_token, e)))
		return rc;
	if ((p = str_field(spec, "ca_file"))) {
		if (p[0] != '/' && cfgdir && p[0] != '~')
			strbuf_addf(&ca, "%s/%s", cfgdir, p);
		else if (p[0] == '~' && p[1] == '/' && getenv("HOME"))
			strbuf_addf(&ca, "%s%s", getenv("HOME"), p + 1);
		else
			strbuf_addstr(&ca, p);
		o.ca_file = ca.buf;
	}
	if ((v = json_object_get(spec, "retries"))) {
		if (config_json_int(v, &n) || n < 0 || n > 20) {
			rc = errbuf_set(e, BL_EUSAGE, "repository.retries: expected 0 to 20");
			goto out;
		}
		o.retries = (int)n;
	}
	rc = config_duration_opt(spec, "timeout", 0, 1, "repository", &n, e);
	if (rc)
		goto out;
	o.timeout_ms = (long)n;
	s = xcalloc(1, sizeof(*s));
	r = xcalloc(1, sizeof(*r));
	if ((v = json_object_get(spec, "part_size"))) {
		if (config_json_int(v, &n) || n < S3_MIN_PART || n > S3_MAX_PART) {
			rc = errbuf_set(e, BL_EUSAGE, "repository.part_size: expected bytes "
					"between %lld (5 MiB) and %lld (5 GiB)", S3_MIN_PART,
					S3_MAX_PART);
			goto out;
		}
		s->part_base = n;
	}
	if ((v = json_object_get(spec, "max_keys")) && !config_json_int(v, &n) && n > 0)
		o.max_keys = (int)n;
	for (p = str_field(spec, "prefix"); p && *p == '/'; p++)
		;
	if (p && *p) {
		strbuf_addstr(&prefix, p);
		while (prefix.len && prefix.buf[prefix.len - 1] == '/')
			strbuf_setlen(&prefix, prefix.len - 1);
		if (prefix.len)
			strbuf_addch(&prefix, '/');
	}
	rc = s3_client_new(&o, &s->c, e);
	if (rc)
		goto out;
	s->prefix = strbuf_detach(&prefix, NULL);
	r->ops = &s3_ops;
	r->state = s;
	snprintf(r->describe, sizeof(r->describe), "s3://%s/%s", o.bucket, s->prefix);
	if (r->describe[strlen(r->describe) - 1] == '/')
		r->describe[strlen(r->describe) - 1] = 0;
	*out = r;
	s = NULL;
	r = NULL;
out:
	if (s) {
		s3_client_free(s->c);
		free(s->prefix);
		free(s);
	}
	free(r);
	strbuf_release(&prefix);
	strbuf_release(&ca);
	return rc;
}
