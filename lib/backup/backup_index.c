/* The plaintext index of an encrypted backup (contract in backup_index.h). */
#include "backup_index.h"

#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "objread.h"
#include "repo_crypt.h"
#include "zstream.h"

/* The members of an item a write-only host's prune and show need beyond
 * its type and name (a base backup's first WAL file and timeline: which
 * WAL the backup needs), copied from the manifest and checked against it
 * like every other field. */
static const char *const item_extra[] = { "start_wal", "timeline" };
#define N_ITEM_EXTRA (sizeof(item_extra) / sizeof(item_extra[0]))

int backup_index_wanted(const struct repo *r)
{
	return repo_crypt_enabled(r);
}

static json_t *stored_of(struct repo *r, const char *key, struct errbuf *e)
{
	char sha[ZSTREAM_SHA256_HEX];
	long long size;

	if (!repo_crypt_stored(r, key, &size, sha)) {
		errbuf_set(e, BL_EFAIL, "index: the stored size and hash of %s are unknown "
			   "(it was not written by this run)", key);
		return NULL;
	}
	return json_pack("{s:s, s:I, s:s}", "key", key, "stored_size", (json_int_t)size,
			 "stored_sha256", sha);
}

int backup_index_build(struct repo *r, json_t *manifest, const char *manifest_key,
		       json_t **out, struct errbuf *e)
{
	struct manifest_head h;
	struct manifest_item it;
	json_t *idx, *items, *o;
	size_t i;

	*out = NULL;
	manifest_head_get(manifest, &h);
	o = stored_of(r, manifest_key, e);
	if (!o)
		return e->code;
	idx = json_pack("{s:i, s:s?, s:s?, s:s?, s:s?, s:s?, s:o, s:I, s:o, s:[]}", "format",
			BACKUP_INDEX_FORMAT, "id", h.id, "project", h.project, "created", h.created,
			"finished", h.finished, "status", h.status, "labels",
			h.labels ? json_deep_copy(h.labels) : json_object(), "size",
			(json_int_t)h.size, "manifest", o, "items");
	items = json_object_get(idx, "items");
	manifest_foreach_item(manifest, i, it) {
		json_t *ent = json_pack("{s:s, s:s}", "type", it.type, "name", it.name);

		json_array_append_new(items, ent);
		for (size_t f = 0; f < N_ITEM_EXTRA; f++)
			if (json_object_get(it.json, item_extra[f]))
				json_object_set(ent, item_extra[f],
						json_object_get(it.json, item_extra[f]));
		if (!it.obj.key)
			continue;
		o = stored_of(r, it.obj.key, e);
		if (!o) {
			json_decref(idx);
			return e->code;
		}
		json_object_set_new(ent, "object", o);
	}
	*out = idx;
	return 0;
}

static void index_key(const char *project, const char *id, const char *name,
		      struct strbuf *key)
{
	strbuf_reset(key);
	manifest_backup_prefix(project, id, key);
	strbuf_addstr(key, name);
}

int backup_index_put(struct repo *r, const char *project, const char *id, json_t *idx,
		     struct errbuf *e)
{
	struct strbuf key = STRBUF_INIT;
	char *text = json_dumps(idx, JSON_COMPACT | JSON_SORT_KEYS);
	int rc;

	index_key(project, id, BACKUP_INDEX_NAME, &key);
	rc = repo_put_bytes(repo_crypt_inner(r), key.buf, text, strlen(text), e);
	free(text);
	strbuf_release(&key);
	return rc;
}

/* A WAL file name (24 hex digits: timeline, log, segment), or absent. */
static int wal_name_ok(json_t *v)
{
	const char *n = json_string_value(v);

	if (!v)
		return 1;
	return n && strlen(n) == 24 && strspn(n, "0123456789ABCDEF") == 24;
}

/* A stored-object entry: {"key", "stored_size", "stored_sha256"}. */
static int stored_ok(json_t *o)
{
	const char *sha = json_string_value(json_object_get(o, "stored_sha256"));

	return json_is_object(o) && json_is_string(json_object_get(o, "key")) &&
	       json_is_integer(json_object_get(o, "stored_size")) &&
	       json_integer_value(json_object_get(o, "stored_size")) >= 0 && sha &&
	       strlen(sha) == ZSTREAM_SHA256_HEX - 1;
}

int backup_index_get(struct repo *r, const char *project, const char *id, json_t **idx,
		     struct strbuf *text, struct errbuf *e)
{
	struct strbuf key = STRBUF_INIT;
	json_t *o = NULL, *it;
	const char *bad = NULL;
	size_t i;
	int rc;

	*idx = NULL;
	index_key(project, id, BACKUP_INDEX_NAME, &key);
	rc = repo_get_bytes(repo_crypt_inner(r), key.buf, text, BACKUP_INDEX_MAX, e);
	if (rc)
		goto out;
	o = json_loadb(text->buf, text->len, 0, NULL);
	if (!json_is_object(o))
		bad = "not a JSON object";
	else if (json_integer_value(json_object_get(o, "format")) != BACKUP_INDEX_FORMAT)
		bad = "format: expected 1";
	else if (!json_is_string(json_object_get(o, "id")) ||
		 strcmp(json_string_value(json_object_get(o, "id")), id))
		bad = "id: not this backup's";
	else if (!json_is_string(json_object_get(o, "created")))
		bad = "created: expected a UTC time";
	else if (json_object_get(o, "labels") && !json_is_object(json_object_get(o, "labels")))
		bad = "labels: expected an object";
	else if (!stored_ok(json_object_get(o, "manifest")))
		bad = "manifest: expected {key, stored_size, stored_sha256}";
	else if (!json_is_array(json_object_get(o, "items")))
		bad = "items: expected a list";
	json_array_foreach(bad ? NULL : json_object_get(o, "items"), i, it)
		if (!json_is_string(json_object_get(it, "type")) ||
		    !json_is_string(json_object_get(it, "name")) ||
		    (json_object_get(it, "object") && !stored_ok(json_object_get(it, "object"))) ||
		    !wal_name_ok(json_object_get(it, "start_wal")) ||
		    (json_object_get(it, "timeline") &&
		     !json_is_integer(json_object_get(it, "timeline")))) {
			bad = "items: expected {type, name, object: {key, stored_size, "
			      "stored_sha256}, start_wal: a WAL file name, timeline: an integer}";
			break;
		}
	if (bad) {
		rc = errbuf_set(e, BL_EVERIFY, "%s: %s", key.buf, bad);
		goto out;
	}
	*idx = o;
	o = NULL;
out:
	json_decref(o);
	strbuf_release(&key);
	return rc;
}

static int differs(json_t *a, json_t *b)
{
	if (!a && !b)
		return 0;
	return !a || !b || !json_equal(a, b);
}

static int field_error(json_t *idx, const char *field, json_t *got, json_t *want,
		       struct errbuf *e)
{
	char *g = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	char *w = want ? json_dumps(want, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	int rc = errbuf_set(e, BL_EVERIFY, "backup %s: %s: %s is %.80s, the manifest says "
			    "%.80s (the plaintext index was altered)",
			    json_string_value(json_object_get(idx, "id")), BACKUP_INDEX_NAME,
			    field, g ? g : "absent", w ? w : "absent");

	free(g);
	free(w);
	return rc;
}

/* One stored entry against what this process saw of the ciphertext. */
static int stored_check(struct repo *r, json_t *idx, json_t *o, int must_know,
			struct errbuf *e)
{
	const char *key = json_string_value(json_object_get(o, "key"));
	const char *want = json_string_value(json_object_get(o, "stored_sha256"));
	long long want_size = json_integer_value(json_object_get(o, "stored_size")), size;
	char sha[ZSTREAM_SHA256_HEX];

	if (!repo_crypt_stored(r, key, &size, sha))
		return must_know ? errbuf_set(e, BL_EVERIFY, "backup %s: %s: %s was not read",
					      json_string_value(json_object_get(idx, "id")),
					      BACKUP_INDEX_NAME, key) : 0;
	if (size != want_size)
		return errbuf_set(e, BL_EVERIFY, "backup %s: %s: object %s: stored size %lld, the "
				  "index records %lld (the plaintext index was altered)",
				  json_string_value(json_object_get(idx, "id")), BACKUP_INDEX_NAME,
				  key, size, want_size);
	if (strcmp(sha, want))
		return errbuf_set(e, BL_EVERIFY, "backup %s: %s: object %s: stored sha256 "
				  "%.12s..., the index records %.12s... (the plaintext index was "
				  "altered)", json_string_value(json_object_get(idx, "id")),
				  BACKUP_INDEX_NAME, key, sha, want);
	return 0;
}

int backup_index_check_manifest(struct repo *r, json_t *idx, json_t *manifest,
				struct errbuf *e)
{
	static const char *const head[] = { "id", "project", "created", "finished", "status",
					     "size" };
	json_t *items = json_object_get(idx, "items"), *labels = json_object_get(idx, "labels");
	json_t *mlabels = json_object_get(manifest, "labels");
	struct manifest_item it;
	struct strbuf key = STRBUF_INIT;
	char field[96];
	size_t i;
	int rc = 0;

	for (i = 0; i < sizeof(head) / sizeof(head[0]); i++)
		if (differs(json_object_get(idx, head[i]), json_object_get(manifest, head[i])))
			return field_error(idx, head[i], json_object_get(idx, head[i]),
					   json_object_get(manifest, head[i]), e);
	/* an empty labels object and none are the same statement */
	if ((json_object_size(labels) || json_object_size(mlabels)) && differs(labels, mlabels))
		return field_error(idx, "labels", labels, mlabels, e);
	if (json_array_size(items) != json_array_size(json_object_get(manifest, "items"))) {
		json_t *a = json_integer((json_int_t)json_array_size(items));
		json_t *b = json_integer((json_int_t)json_array_size(json_object_get(manifest,
										       "items")));

		rc = field_error(idx, "items (count)", a, b, e);
		json_decref(a);
		json_decref(b);
		return rc;
	}
	manifest_foreach_item(manifest, i, it) {
		json_t *ent = json_array_get(items, i), *o = json_object_get(ent, "object");
		json_t *mtype = json_object_get(it.json, "type"), *mname = json_object_get(it.json,
											   "name");
		json_t *mkey = it.obj.key ? json_object_get(json_object_get(it.json, "object"),
							    "key") : NULL;

		snprintf(field, sizeof(field), "items[%zu].type", i);
		if (differs(json_object_get(ent, "type"), mtype))
			return field_error(idx, field, json_object_get(ent, "type"), mtype, e);
		snprintf(field, sizeof(field), "items[%zu].name", i);
		if (differs(json_object_get(ent, "name"), mname))
			return field_error(idx, field, json_object_get(ent, "name"), mname, e);
		snprintf(field, sizeof(field), "items[%zu].object.key", i);
		if (differs(json_object_get(o, "key"), mkey))
			return field_error(idx, field, json_object_get(o, "key"), mkey, e);
		/* an index written before these members existed lacks them: a
		 * write-only host then treats them as unknown, never as absent */
		for (size_t f = 0; f < N_ITEM_EXTRA; f++) {
			json_t *a = json_object_get(ent, item_extra[f]);
			json_t *b = json_object_get(it.json, item_extra[f]);

			snprintf(field, sizeof(field), "items[%zu].%s", i, item_extra[f]);
			if (a && differs(a, b))
				return field_error(idx, field, a, b, e);
		}
	}
	/* the manifest's own entry: this process has just read (and
	 * authenticated) it, so its ciphertext is known */
	manifest_backup_prefix(json_string_value(json_object_get(manifest, "project")),
			       json_string_value(json_object_get(manifest, "id")), &key);
	strbuf_addstr(&key, "manifest.json");
	if (strcmp(json_string_value(json_object_get(json_object_get(idx, "manifest"), "key")),
		   key.buf)) {
		json_t *want = json_string(key.buf);

		rc = field_error(idx, "manifest.key",
				 json_object_get(json_object_get(idx, "manifest"), "key"), want, e);
		json_decref(want);
	} else {
		rc = stored_check(r, idx, json_object_get(idx, "manifest"), 1, e);
	}
	strbuf_release(&key);
	return rc;
}

int backup_index_check_stored(struct repo *r, json_t *idx, struct errbuf *e)
{
	json_t *it;
	size_t i;
	int rc = stored_check(r, idx, json_object_get(idx, "manifest"), 0, e);

	json_array_foreach(json_object_get(idx, "items"), i, it)
		if (!rc && json_object_get(it, "object"))
			rc = stored_check(r, idx, json_object_get(it, "object"), 0, e);
	return rc;
}

static void expect_one(struct repo *r, const char *by, json_t *o)
{
	repo_crypt_expect(r, json_string_value(json_object_get(o, "key")),
			  json_integer_value(json_object_get(o, "stored_size")),
			  json_string_value(json_object_get(o, "stored_sha256")), by);
}

void backup_index_expect(struct repo *r, json_t *idx)
{
	struct strbuf by = STRBUF_INIT;
	json_t *it;
	size_t i;

	strbuf_addf(&by, "backup %s: " BACKUP_INDEX_NAME,
		    json_string_value(json_object_get(idx, "id")));
	json_array_foreach(json_object_get(idx, "items"), i, it)
		if (json_object_get(it, "object"))
			expect_one(r, by.buf, json_object_get(it, "object"));
	strbuf_release(&by);
}

const char *backup_index_start_wal(json_t *idx, const char *type, const char *name,
				   int *found)
{
	json_t *it;
	size_t i;

	*found = 0;
	json_array_foreach(json_object_get(idx, "items"), i, it)
		if (!strcmp(json_string_value(json_object_get(it, "type")), type) &&
		    !strcmp(json_string_value(json_object_get(it, "name")), name)) {
			*found = 1;
			return json_string_value(json_object_get(it, "start_wal"));
		}
	return NULL;
}

static int raw_check(struct repo *r, json_t *o, struct errbuf *e)
{
	int rc = objread_check(repo_crypt_inner(r), json_string_value(json_object_get(o, "key")),
			       json_integer_value(json_object_get(o, "stored_size")),
			       json_string_value(json_object_get(o, "stored_sha256")), e);

	if (rc)
		errbuf_prefix(e, "ciphertext checked against %s: ", BACKUP_INDEX_NAME);
	return rc;
}

int backup_index_check_objects(struct repo *r, json_t *idx, struct errbuf *e)
{
	json_t *it;
	size_t i;
	int rc = raw_check(r, json_object_get(idx, "manifest"), e);

	json_array_foreach(json_object_get(idx, "items"), i, it)
		if (!rc && json_object_get(it, "object"))
			rc = raw_check(r, json_object_get(it, "object"), e);
	return rc;
}

static void refresh_one(struct repo *r, json_t *o, int *changed)
{
	char sha[ZSTREAM_SHA256_HEX];
	long long size;

	if (!o || !repo_crypt_stored(r, json_string_value(json_object_get(o, "key")), &size, sha))
		return;
	if (json_integer_value(json_object_get(o, "stored_size")) == size &&
	    !strcmp(json_string_value(json_object_get(o, "stored_sha256")), sha))
		return;
	json_object_set_new(o, "stored_size", json_integer(size));
	json_object_set_new(o, "stored_sha256", json_string(sha));
	*changed = 1;
}

void backup_index_refresh(struct repo *r, json_t *idx, int *changed)
{
	json_t *it;
	size_t i;

	*changed = 0;
	refresh_one(r, json_object_get(idx, "manifest"), changed);
	json_array_foreach(json_object_get(idx, "items"), i, it)
		refresh_one(r, json_object_get(it, "object"), changed);
}

int backup_index_put_summary(struct repo *r, const char *project, const char *id,
			     const char *name, json_t *summary, struct errbuf *e)
{
	struct strbuf key = STRBUF_INIT, base = STRBUF_INIT;
	char *text;
	int rc;

	if (!backup_index_wanted(r))
		return 0;
	strbuf_addf(&base, BACKUP_SUMMARY_PREFIX "%s", name);
	index_key(project, id, base.buf, &key);
	text = json_dumps(summary, JSON_COMPACT | JSON_SORT_KEYS);
	rc = repo_put_bytes(repo_crypt_inner(r), key.buf, text, strlen(text), e);
	free(text);
	strbuf_release(&key);
	strbuf_release(&base);
	return rc;
}

int backup_index_get_summary(struct repo *r, const char *key, json_t **out, struct errbuf *e)
{
	struct strbuf text = STRBUF_INIT;
	int rc = repo_get_bytes(repo_crypt_inner(r), key, &text, 65536, e);

	*out = NULL;
	if (!rc) {
		*out = json_loadb(text.buf, text.len, 0, NULL);
		if (!json_is_object(*out)) {
			json_decref(*out);
			*out = NULL;
			rc = errbuf_set(e, BL_EFAIL, "%s: not a JSON object", key);
		}
	}
	strbuf_release(&text);
	return rc;
}

int backup_index_plain_key(const char *key)
{
	const char *base = strrchr(key, '/');

	base = base ? base + 1 : key;
	return !strcmp(base, BACKUP_INDEX_NAME) ||
	       !strncmp(base, BACKUP_SUMMARY_PREFIX, strlen(BACKUP_SUMMARY_PREFIX));
}
