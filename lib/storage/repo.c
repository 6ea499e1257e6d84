#include "repo_driver.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"

int repo_key_check(const char *key, struct errbuf *e)
{
	const char *p;

	if (!key || !*key || key[0] == '/' || strstr(key, "//"))
		return errbuf_set(e, BL_EUSAGE, "repo: bad object key \"%s\"", key ? key : "");
	for (p = key; *p;) {
		size_t n = strcspn(p, "/");

		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return errbuf_set(e, BL_EUSAGE, "repo: bad object key \"%s\"", key);
		p += n;
		if (*p == '/')
			p++;
	}
	return 0;
}

int repo_open_json(json_t *spec, const char *cfgdir, struct repo **out, struct errbuf *e)
{
	const char *type = json_string_value(json_object_get(spec, "type"));

	*out = NULL;
	if (!json_is_object(spec))
		return errbuf_set(e, BL_EUSAGE, "repository: expected an object");
	if (!type)
		type = "local";
	if (!strcmp(type, "local"))
		return repo_local_open(spec, cfgdir, out, e);
	if (!strcmp(type, "s3"))
		return repo_s3_open(spec, cfgdir, out, e);
	if (!strcmp(type, "sftp"))
		return repo_sftp_open(spec, cfgdir, out, e);
	return errbuf_set(e, BL_EUSAGE,
			  "repository.type: expected \"local\", \"sftp\" or \"s3\", got \"%s\"", type);
}

int repo_open(const struct config *cfg, struct repo **out, struct errbuf *e)
{
	json_t *spec = config_get(cfg, "repository");
	json_t *enc = config_get(cfg, "encryption");
	struct repo *inner;
	int rc;

	if (!spec) {
		*out = NULL;
		return errbuf_set(e, BL_EUSAGE, "%s: repository: missing (expected an object with "
				  "\"type\" and \"path\")", cfg->path);
	}
	rc = repo_open_json(spec, cfg->dir, out, e);
	if (rc || !enc)
		return rc;
	/* Every object through age (repo_crypt.h): callers never see the
	 * difference. */
	inner = *out;
	rc = repo_crypt_wrap(inner, enc, cfg->dir, out, e);
	if (rc) {
		errbuf_prefix(e, "%s: ", cfg->path);
		repo_close(inner);
	}
	return rc;
}

void repo_close(struct repo *r)
{
	if (r && r->ops && r->ops->close)
		r->ops->close(r);
	else
		free(r);
}

const char *repo_describe(const struct repo *r)
{
	return r ? r->describe : "(no repository)";
}

int repo_torn_writes(const struct repo *r)
{
	return r && r->ops->torn_writes;
}

int repo_writer_open(struct repo *r, const char *key, long long size_hint,
		     struct repo_writer **out, struct errbuf *e)
{
	int rc = repo_key_check(key, e);

	*out = NULL;
	return rc ? rc : r->ops->writer_open(r, key, size_hint, out, e);
}

/* Writers and readers start with a pointer to their repo's ops, so the
 * generic layer can dispatch without knowing the driver's struct. */
struct repo_handle {
	const struct repo_ops *ops;
};

int repo_writer_write(struct repo_writer *w, const void *buf, size_t len, struct errbuf *e)
{
	return ((struct repo_handle *)w)->ops->writer_write(w, buf, len, e);
}

int repo_writer_sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	return repo_writer_write(ctx, buf, len, e);
}

int repo_writer_commit(struct repo_writer *w, struct errbuf *e)
{
	return ((struct repo_handle *)w)->ops->writer_commit(w, e);
}

void repo_writer_abort(struct repo_writer *w)
{
	if (w)
		((struct repo_handle *)w)->ops->writer_abort(w);
}

int repo_reader_open(struct repo *r, const char *key, struct repo_reader **out,
		     struct errbuf *e)
{
	int rc = repo_key_check(key, e);

	*out = NULL;
	return rc ? rc : r->ops->reader_open(r, key, out, e);
}

int repo_reader_read(struct repo_reader *rd, void *buf, size_t cap, size_t *got,
		     struct errbuf *e)
{
	return ((struct repo_handle *)rd)->ops->reader_read(rd, buf, cap, got, e);
}

void repo_reader_close(struct repo_reader *rd)
{
	if (rd)
		((struct repo_handle *)rd)->ops->reader_close(rd);
}

int repo_put_bytes(struct repo *r, const char *key, const void *buf, size_t len,
		   struct errbuf *e)
{
	struct repo_writer *w;
	int rc = repo_writer_open(r, key, (long long)len, &w, e);

	if (rc)
		return rc;
	rc = repo_writer_write(w, buf, len, e);
	if (rc) {
		repo_writer_abort(w);
		return rc;
	}
	return repo_writer_commit(w, e);
}

int repo_get_bytes(struct repo *r, const char *key, struct strbuf *out, size_t max,
		   struct errbuf *e)
{
	struct repo_reader *rd;
	char buf[65536];
	size_t got;
	int rc;

	strbuf_reset(out);
	rc = repo_reader_open(r, key, &rd, e);
	if (rc)
		return rc;
	for (;;) {
		rc = repo_reader_read(rd, buf, sizeof(buf), &got, e);
		if (rc || !got)
			break;
		if (out->len + got > max) {
			rc = errbuf_set(e, BL_EFAIL, "repo %s: %s is larger than %zu bytes",
					repo_describe(r), key, max);
			break;
		}
		strbuf_add(out, buf, got);
	}
	repo_reader_close(rd);
	return rc;
}

int repo_list(struct repo *r, const char *prefix, repo_list_fn fn, void *ctx,
	      struct errbuf *e)
{
	return r->ops->list(r, prefix ? prefix : "", fn, ctx, e);
}

int repo_exists(struct repo *r, const char *key, int *exists, long long *size,
		struct errbuf *e)
{
	int rc = repo_key_check(key, e);

	return rc ? rc : r->ops->exists(r, key, exists, size, e);
}

int repo_delete(struct repo *r, const char *key, struct errbuf *e)
{
	int rc = repo_key_check(key, e);

	return rc ? rc : r->ops->del(r, key, e);
}
