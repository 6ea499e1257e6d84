#include "objread.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"
#include "zstream.h"

struct objread {
	struct repo_reader *rd;
	struct zhash *h;
	char *key, *want;
	long long size, got;
	int done;
};

int objread_open(struct repo *r, const char *key, long long size, const char *sha256,
		 struct objread **out, struct errbuf *e)
{
	struct objread *o;
	int rc;

	*out = NULL;
	if (!key || !sha256 || size < 0)
		return errbuf_set(e, BL_EVERIFY, "manifest: an object lacks key, size or sha256");
	o = xcalloc(1, sizeof(*o));
	rc = repo_reader_open(r, key, &o->rd, e);
	if (rc) {
		free(o);
		return rc;
	}
	o->h = zhash_new();
	o->key = xstrdup(key);
	o->want = xstrdup(sha256);
	o->size = size;
	*out = o;
	return 0;
}

int objread_read(struct objread *o, void *buf, size_t cap, size_t *got, struct errbuf *e)
{
	char hex[ZSTREAM_SHA256_HEX];
	int rc;

	*got = 0;
	if (o->done)
		return 0;
	rc = repo_reader_read(o->rd, buf, cap, got, e);
	if (rc)
		return rc;
	if (*got) {
		o->got += (long long)*got;
		if (o->got > o->size) {
			*got = 0;
			return errbuf_set(e, BL_EVERIFY, "object %s: larger than the %lld bytes the "
					  "manifest records", o->key, o->size);
		}
		zhash_update(o->h, buf, *got);
		return 0;
	}
	o->done = 1;
	zhash_final(o->h, hex);
	if (o->got != o->size)
		return errbuf_set(e, BL_EVERIFY, "object %s: size %lld, the manifest records %lld "
				  "(truncated or replaced)", o->key, o->got, o->size);
	if (strcmp(hex, o->want))
		return errbuf_set(e, BL_EVERIFY, "object %s: sha256 mismatch (manifest %.12s..., "
				  "stored bytes %.12s...)", o->key, o->want, hex);
	return 0;
}

long long objread_bytes(const struct objread *o)
{
	return o ? o->got : 0;
}

void objread_close(struct objread *o)
{
	if (!o)
		return;
	repo_reader_close(o->rd);
	zhash_free(o->h);
	free(o->key);
	free(o->want);
	free(o);
}

int objread_check(struct repo *r, const char *key, long long size, const char *sha256,
		  struct errbuf *e)
{
	struct objread *o = NULL;
	size_t cap = 1 << 20, got;
	char *buf = NULL;
	int rc = objread_open(r, key, size, sha256, &o, e);

	if (rc)
		return rc;
	buf = xmalloc(cap);
	do
		rc = objread_read(o, buf, cap, &got, e);
	while (!rc && got);
	free(buf);
	objread_close(o);
	return rc;
}
