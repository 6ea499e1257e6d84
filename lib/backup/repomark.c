#include "repomark.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "randhex.h"
#include "strbuf.h"
#include "timeutil.h"

#define REPOMARK_MAX 4096

static void marker_key(const char *project, struct strbuf *key)
{
	strbuf_reset(key);
	strbuf_addf(key, "%s/repository.json", project);
}

struct count_ctx {
	int manifests;
};

static int count_manifest(void *ctx, const struct repo_entry *ent, struct errbuf *e)
{
	size_t n = strlen(ent->key);
	const char *tail = "/manifest.json";

	(void)e;
	if (!ent->tmp && n > strlen(tail) && !strcmp(ent->key + n - strlen(tail), tail))
		((struct count_ctx *)ctx)->manifests++;
	return 0;
}

static int count_backups(struct repo *r, const char *project, int *n, struct errbuf *e)
{
	struct strbuf prefix = STRBUF_INIT;
	struct count_ctx c = { 0 };
	int rc;

	strbuf_addf(&prefix, "%s/backups/", project);
	rc = repo_list(r, prefix.buf, count_manifest, &c, e);
	strbuf_release(&prefix);
	*n = c.manifests;
	return rc;
}

int repomark_check(struct repo *r, const char *project, struct errbuf *e)
{
	struct strbuf key = STRBUF_INIT;
	struct errbuf ignored = ERRBUF_INIT;
	int exists = 0, old = 0, rc;

	marker_key(project, &key);
	rc = repo_exists(r, key.buf, &exists, NULL, e);
	if (rc || exists)
		goto out;
	/* Backups without a marker were made before markers existed: say so,
	 * rather than suggest the disk is missing. A failed count changes only
	 * the wording. */
	if (count_backups(r, project, &old, &ignored))
		old = 0;
	if (old)
		rc = errbuf_set(e, BL_EUSAGE, "%s holds %d backup%s of %s but no repository "
				"marker (%s): run 'ballast-backup init' once to adopt them",
				repo_describe(r), old, old == 1 ? "" : "s", project, key.buf);
	else
		rc = errbuf_set(e, BL_EUSAGE, "no ballast repository for %s at %s (no %s): "
				"not mounted, or a new repository? run 'ballast-backup init'",
				project, repo_describe(r), key.buf);
out:
	strbuf_release(&key);
	return rc;
}

int repomark_read(struct repo *r, const char *project, char id[REPOMARK_ID_LEN + 1],
		  struct errbuf *e)
{
	struct strbuf key = STRBUF_INIT, text = STRBUF_INIT;
	json_t *doc = NULL;
	const char *s;
	int rc;

	id[0] = '\0';
	marker_key(project, &key);
	rc = repo_get_bytes(r, key.buf, &text, REPOMARK_MAX, e);
	if (rc)
		goto out;
	doc = json_loadb(text.buf, text.len, 0, NULL);
	s = json_string_value(json_object_get(doc, "id"));
	if (!s || strlen(s) != REPOMARK_ID_LEN ||
	    json_integer_value(json_object_get(doc, "format")) != REPOMARK_FORMAT) {
		rc = errbuf_set(e, BL_EVERIFY, "%s: %s: expected a repository marker of "
				"format %d with a %d-digit id", repo_describe(r), key.buf,
				REPOMARK_FORMAT, REPOMARK_ID_LEN);
		goto out;
	}
	memcpy(id, s, REPOMARK_ID_LEN + 1);
out:
	json_decref(doc);
	strbuf_release(&text);
	strbuf_release(&key);
	return rc;
}

int repomark_init(struct repo *r, const char *project, char id[REPOMARK_ID_LEN + 1],
		  int *existed, int *adopted, struct errbuf *e)
{
	struct strbuf key = STRBUF_INIT;
	char created[TIME_UTC_MAX], *text = NULL;
	json_t *doc = NULL;
	int exists = 0, rc;

	*existed = 0;
	*adopted = 0;
	marker_key(project, &key);
	rc = repo_exists(r, key.buf, &exists, NULL, e);
	if (rc)
		goto out;
	if (exists) {
		*existed = 1;
		rc = repomark_read(r, project, id, e);
		goto out;
	}
	randhex(id, REPOMARK_ID_LEN / 2);
	rc = count_backups(r, project, adopted, e);
	if (rc)
		goto out;
	time_utc_format(time(NULL), created);
	doc = json_pack("{s:i, s:s, s:s, s:s, s:s}", "format", REPOMARK_FORMAT, "id", id,
			"project", project, "created", created, "ballast", BALLAST_VERSION);
	text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!doc || !text) {
		rc = errbuf_set(e, BL_EFAIL, "repository marker: out of memory");
		goto out;
	}
	rc = repo_put_bytes(r, key.buf, text, strlen(text), e);
out:
	free(text);
	json_decref(doc);
	strbuf_release(&key);
	return rc;
}
