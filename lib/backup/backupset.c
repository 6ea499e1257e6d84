#include "backupset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup_index.h"
#include "config.h"
#include "config_schema.h"
#include "manifest.h"
#include "objread.h"
#include "repo_crypt.h"
#include "repomark.h"
#include "ring.h"
#include "xalloc.h"

struct collect {
	const char *prefix;
	size_t plen;
	json_t *ids;   /* id -> {"manifest": bool, "verify": bool, "size": n} */
	json_t *tmps;  /* array of tmp keys */
};

static int collect_fn(void *ctx, const struct repo_entry *ent, struct errbuf *e)
{
	struct collect *c = ctx;
	const char *rest = ent->key + c->plen, *slash;
	char id[MANIFEST_ID_MAX];
	json_t *o;

	if (ent->tmp) {
		if (c->tmps)
			json_array_append_new(c->tmps, json_string(ent->key));
		return 0;
	}
	slash = strchr(rest, '/');
	if (!slash || (size_t)(slash - rest) >= sizeof(id))
		return 0;
	memcpy(id, rest, (size_t)(slash - rest));
	id[slash - rest] = '\0';
	if (!manifest_id_valid(id))
		return 0;
	o = json_object_get(c->ids, id);
	if (!o) {
		o = json_pack("{s:b, s:b, s:b, s:I}", "manifest", 0, "verify", 0, "index", 0, "size",
			      (json_int_t)0);
		json_object_set_new(c->ids, id, o);
	}
	if (!strcmp(slash + 1, "manifest.json"))
		json_object_set_new(o, "manifest", json_true());
	else if (!strcmp(slash + 1, "verify.json"))
		json_object_set_new(o, "verify", json_true());
	else if (!strcmp(slash + 1, BACKUP_INDEX_NAME))
		json_object_set_new(o, "index", json_true());
	else if (!strncmp(slash + 1, BACKUP_SUMMARY_PREFIX, strlen(BACKUP_SUMMARY_PREFIX)))
		(void)0;   /* a report's plaintext summary: not the backup's bytes */
	else
		json_object_set_new(o, "size", json_integer(json_integer_value(
					    json_object_get(o, "size")) + ent->size));
	(void)e;
	return 0;
}

static int scan(struct repo *r, const char *project, json_t **ids, json_t **tmps,
		struct errbuf *e)
{
	struct strbuf prefix = STRBUF_INIT;
	struct collect c;
	int rc;

	manifest_backups_prefix(project, &prefix);
	c.prefix = prefix.buf;
	c.plen = prefix.len;
	c.ids = json_object();
	c.tmps = tmps ? json_array() : NULL;
	rc = repo_list(r, prefix.buf, collect_fn, &c, e);
	strbuf_release(&prefix);
	if (rc) {
		json_decref(c.ids);
		json_decref(c.tmps);
		return rc;
	}
	*ids = c.ids;
	if (tmps)
		*tmps = c.tmps;
	return 0;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int last_verify_failed(struct repo *r, const char *project, const char *id,
			      struct strbuf *why)
{
	struct strbuf key = STRBUF_INIT, text = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	json_t *o = NULL;
	int failed = 0;

	manifest_backup_prefix(project, id, &key);
	if (!repo_crypt_can_read(r)) {
		/* a write-only host: the report's plaintext summary */
		strbuf_addstr(&key, BACKUP_SUMMARY_PREFIX "verify.json");
		backup_index_get_summary(r, key.buf, &o, &e);
	} else {
		strbuf_addstr(&key, "verify.json");
		if (repo_get_bytes(r, key.buf, &text, 65536, &e) == 0)
			o = json_loadb(text.buf, text.len, 0, NULL);
	}
	if (json_is_false(json_object_get(o, "ok"))) {
		const char *err = json_string_value(json_object_get(o, "error"));

		failed = 1;
		strbuf_addstr(why, err ? err : "the last verify failed");
	}
	json_decref(o);
	strbuf_release(&key);
	strbuf_release(&text);
	return failed;
}

/* In an encrypted repository: the backup's plaintext index against its
 * manifest (just read), when it has one. *uncommitted = 1 when the
 * manifest names an index that was never written (the run's commit did
 * not finish). */
static int check_index(struct repo *r, const char *project, const char *id, json_t *m,
		       int *uncommitted, struct errbuf *e)
{
	struct strbuf key = STRBUF_INIT, text = STRBUF_INIT;
	json_t *idx = NULL;
	int exists = 0, rc;

	manifest_backup_prefix(project, id, &key);
	strbuf_addstr(&key, BACKUP_INDEX_NAME);
	rc = repo_exists(repo_crypt_inner(r), key.buf, &exists, NULL, e);
	if (rc)
		goto out;
	if (!exists) {
		if (json_object_get(m, "index")) {
			*uncommitted = 1;
			rc = errbuf_set(e, BL_EFAIL, "backup %s was not committed: its manifest "
					"names %s, which was never written (a run stopped during "
					"its commit)", id, key.buf);
		}
		goto out;
	}
	rc = backup_index_get(r, project, id, &idx, &text, e);
	/* an index cut short by a killed write is a commit that never
	 * finished, as a manifest cut short is in clear */
	if (rc == BL_EVERIFY && repo_torn_writes(r) && manifest_torn(text.buf, text.len))
		*uncommitted = 1;
	if (!rc)
		rc = backup_index_check_manifest(r, idx, m, e);
	/* every read of the backup's objects from now on checks their
	 * ciphertext against the index, whichever command reads them */
	if (!rc)
		backup_index_expect(r, idx);
out:
	json_decref(idx);
	strbuf_release(&key);
	strbuf_release(&text);
	return rc;
}

/* Read and check id's manifest; text receives the stored bytes (what was
 * read, even when they do not parse). check_exists: look for the object
 * first (a caller that listed it already knows). *uncommitted as in
 * check_index (may be NULL). */
static int load(struct repo *r, const char *project, const char *id, int check_exists,
		json_t **manifest, struct strbuf *text, int *uncommitted, struct errbuf *e)
{
	struct strbuf key = STRBUF_INIT;
	struct manifest_head h;
	int exists = 0, rc = 0, unc = 0;

	*manifest = NULL;
	if (!uncommitted)
		uncommitted = &unc;
	*uncommitted = 0;
	strbuf_reset(text);
	if (!manifest_id_valid(id))
		return errbuf_set(e, BL_EUSAGE, "bad backup id \"%s\" (expected "
				  "YYYYMMDDTHHMMSSZ-xxxx, see 'ballast-backup list')", id);
	manifest_backup_prefix(project, id, &key);
	strbuf_addstr(&key, "manifest.json");
	if (check_exists) {
		rc = repo_exists(r, key.buf, &exists, NULL, e);
		if (rc)
			goto out;
		if (!exists) {
			rc = errbuf_set(e, BL_EFAIL, "no committed backup %s in %s (no %s)", id,
					repo_describe(r), key.buf);
			goto out;
		}
	}
	rc = repo_get_bytes(r, key.buf, text, BACKUPSET_MANIFEST_MAX, e);
	if (rc)
		goto out;
	rc = manifest_parse(text->buf, text->len, key.buf, manifest, e);
	if (rc)
		goto out;
	manifest_head_get(*manifest, &h);
	if (strcmp(h.id, id)) {
		json_decref(*manifest);
		*manifest = NULL;
		rc = errbuf_set(e, BL_EVERIFY, "%s: id is not %s", key.buf, id);
	} else if (backup_index_wanted(r)) {
		rc = check_index(r, project, id, *manifest, uncommitted, e);
		if (rc) {
			json_decref(*manifest);
			*manifest = NULL;
		}
	}
out:
	strbuf_release(&key);
	return rc;
}

/* A backup as a host without an identity sees it: from its plaintext
 * index (status "unindexed" when it has none; an index cut short on a
 * driver with torn writes is an unfinished commit). */
static void list_from_index(struct repo *r, const char *project, const char *id,
			    int has_index, json_t *ent, json_t *info, struct strbuf *text)
{
	struct errbuf le = ERRBUF_INIT;
	struct strbuf why = STRBUF_INIT;
	json_t *idx = NULL, *it, *items = json_object_get(ent, "items");
	size_t k;
	int lrc;

	if (!has_index) {
		json_object_set_new(ent, "status", json_string("unindexed"));
		json_object_set_new(ent, "error", json_string(
			"no " BACKUP_INDEX_NAME ": written before ballast kept a plaintext "
			"index, or its run stopped during its commit; only a host with an "
			"identity can read its manifest"));
		return;
	}
	lrc = backup_index_get(r, project, id, &idx, text, &le);
	if (lrc) {
		int torn = lrc == BL_EVERIFY && repo_torn_writes(r) &&
			   manifest_torn(text->buf, text->len);

		json_object_set_new(ent, "status", json_string(torn ? "incomplete" :
							      "failed-verify"));
		json_object_set_new(ent, "error", json_string(le.msg));
		return;
	}
	json_object_set(ent, "time", json_object_get(idx, "created"));
	if (json_is_object(json_object_get(idx, "labels")))
		json_object_set(ent, "labels", json_object_get(idx, "labels"));
	if (json_is_integer(json_object_get(idx, "size")) &&
	    json_integer_value(json_object_get(idx, "size")) >= 0)
		json_object_set(ent, "size", json_object_get(idx, "size"));
	json_array_foreach(json_object_get(idx, "items"), k, it)
		json_array_append_new(items, json_pack("{s:O, s:O}", "type",
						       json_object_get(it, "type"), "name",
						       json_object_get(it, "name")));
	if (json_is_true(json_object_get(info, "verify")) &&
	    last_verify_failed(r, project, id, &why)) {
		json_object_set_new(ent, "status", json_string("failed-verify"));
		json_object_set_new(ent, "error", json_string(why.buf));
	} else {
		json_object_set_new(ent, "status", json_string("good"));
	}
	strbuf_release(&why);
	json_decref(idx);
}

int backupset_list(struct repo *r, const char *project, json_t **out, struct errbuf *e)
{
	struct strbuf text = STRBUF_INIT;
	json_t *ids = NULL, *list, *v;
	const char **names = NULL;
	const char *id;
	size_t n = 0, i;
	int rc;

	*out = NULL;
	rc = scan(r, project, &ids, NULL, e);
	if (rc)
		return rc;
	names = xcalloc(json_object_size(ids) + 1, sizeof(*names));
	json_object_foreach(ids, id, v)
		names[n++] = id;
	qsort(names, n, sizeof(*names), cmp_id);
	list = json_array();
	for (i = 0; i < n; i++) {
		json_t *info = json_object_get(ids, names[i]), *ent, *m = NULL, *items;
		struct errbuf le = ERRBUF_INIT;
		struct strbuf why = STRBUF_INIT;
		char when[32] = "";
		long long t_ms = manifest_id_time_ms(names[i]);
		int lrc;

		if (t_ms >= 0)
			time_utc_format((time_t)(t_ms / 1000), when);
		ent = json_pack("{s:s, s:s, s:{}, s:[], s:I}", "id", names[i], "time", when,
				"labels", "items", "size",
				(json_int_t)json_integer_value(json_object_get(info, "size")));
		items = json_object_get(ent, "items");
		int has_index = json_is_true(json_object_get(info, "index")), unc = 0;

		if (!json_is_true(json_object_get(info, "manifest"))) {
			json_object_set_new(ent, "status", json_string("incomplete"));
		} else if (!repo_crypt_can_read(r)) {
			/* a write-only host: the plaintext index, or nothing */
			list_from_index(r, project, names[i], has_index, ent, info, &text);
		} else if ((lrc = load(r, project, names[i], 0, &m, &text, &unc, &le))) {
			/* On a driver whose killed writes can leave a short object, a
			 * manifest cut short is a commit that never finished, not a
			 * committed backup that was damaged; in an encrypted
			 * repository (where the cut fails authentication) the
			 * index's absence says the same: it is written last. */
			int torn = lrc == BL_EVERIFY && repo_torn_writes(r) &&
				   (manifest_torn(text.buf, text.len) ||
				    (backup_index_wanted(r) && !has_index));

			json_object_set_new(ent, "status", json_string(torn || unc ? "incomplete" :
									"failed-verify"));
			json_object_set_new(ent, "error", json_string(le.msg));
		} else {
			struct manifest_head h;
			struct manifest_item it;
			size_t k;

			manifest_head_get(m, &h);
			json_object_set_new(ent, "time", json_string(h.created));
			if (h.labels)
				json_object_set(ent, "labels", h.labels);
			if (h.size >= 0)
				json_object_set_new(ent, "size", json_integer(h.size));
			manifest_foreach_item(m, k, it)
				json_array_append_new(items, json_pack("{s:s, s:s}", "type",
								       it.type, "name", it.name));
			if (json_is_true(json_object_get(info, "verify")) &&
			    last_verify_failed(r, project, names[i], &why)) {
				json_object_set_new(ent, "status", json_string("failed-verify"));
				json_object_set_new(ent, "error", json_string(why.buf));
			} else {
				json_object_set_new(ent, "status", json_string("good"));
			}
		}
		json_decref(m);
		strbuf_release(&why);
		json_array_append_new(list, ent);
	}
	strbuf_release(&text);
	free(names);
	json_decref(ids);
	*out = list;
	return 0;
}

int backupset_load(struct repo *r, const char *project, const char *id, json_t **manifest,
		   struct errbuf *e)
{
	struct strbuf text = STRBUF_INIT;
	int rc = load(r, project, id, 1, manifest, &text, NULL, e);

	strbuf_release(&text);
	return rc;
}

int backupset_latest(struct repo *r, const char *project, char *id, size_t n,
		     struct errbuf *e)
{
	json_t *list, *ent;
	size_t i;
	int rc = backupset_list(r, project, &list, e);

	if (rc)
		return rc;
	rc = errbuf_set(e, BL_EFAIL, "no good backup of %s in %s", project, repo_describe(r));
	for (i = json_array_size(list); i-- > 0;) {
		ent = json_array_get(list, i);
		if (!strcmp(json_string_value(json_object_get(ent, "status")), "good")) {
			snprintf(id, n, "%s", json_string_value(json_object_get(ent, "id")));
			errbuf_clear(e);
			rc = 0;
			break;
		}
	}
	json_decref(list);
	return rc;
}

int backupset_resolve(struct repo *r, const char *project, const char *arg, char *id,
		      size_t n, struct errbuf *e)
{
	struct strbuf hits = STRBUF_INIT;
	json_t *ids = NULL, *v;
	const char **names, *cand;
	size_t i, nn = 0, plen = arg ? strlen(arg) : 0;
	int rc, found = 0;

	if (!arg || !*arg)
		return errbuf_set(e, BL_EUSAGE, "missing backup id (an id, a unique prefix of one, "
				  "or latest)");
	if (!strcmp(arg, "latest"))
		return backupset_latest(r, project, id, n, e);
	if (manifest_id_valid(arg)) {
		snprintf(id, n, "%s", arg);
		return 0;
	}
	for (i = 0; i < plen; i++)
		if (!strchr("0123456789TZabcdef-", arg[i]))
			return errbuf_set(e, BL_EUSAGE, "bad backup id \"%s\" (expected "
					  "YYYYMMDDTHHMMSSZ-xxxx, a unique prefix of one, or latest)",
					  arg);
	/* ids only: a prefix needs no manifest read */
	rc = scan(r, project, &ids, NULL, e);
	if (rc)
		return rc;
	names = xcalloc(json_object_size(ids) + 1, sizeof(*names));
	json_object_foreach(ids, cand, v)
		names[nn++] = cand;
	qsort(names, nn, sizeof(*names), cmp_id);
	for (i = 0; i < nn; i++) {
		cand = names[i];
		if (strncmp(cand, arg, plen))
			continue;
		if (found++ < 5)
			strbuf_addf(&hits, "%s%s", found > 1 ? ", " : "", cand);
		snprintf(id, n, "%s", cand);
	}
	if (!found)
		rc = errbuf_set(e, BL_EFAIL, "no backup of %s in %s starts with \"%s\" (see "
				"'ballast-backup list')", project, repo_describe(r), arg);
	else if (found > 1)
		rc = errbuf_set(e, BL_EUSAGE, "backup id prefix \"%s\" is ambiguous: %d backups "
				"match (%s%s); type more of the id", arg, found, hits.buf,
				found > 5 ? ", ..." : "");
	free(names);
	json_decref(ids);
	strbuf_release(&hits);
	return rc;
}

static int reader_sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	struct backupset_reader *br = ctx;
	int rc = ring_put(br->q, buf, len, e);

	br->raw += (long long)len;
	if (!rc && br->progress)
		br->progress(br->progress_ctx, br->raw);
	return rc;
}

int backupset_ring_read(void *arg, struct ring *q, struct errbuf *e)
{
	struct backupset_reader *br = arg;

	br->q = q;
	return backupset_read_object(br->r, br->obj, reader_sink, br, e);
}

int backupset_read_object(struct repo *r, json_t *obj, zstream_sink_fn sink, void *ctx,
			  struct errbuf *e)
{
	struct manifest_obj mo;
	struct objread *rd = NULL;
	struct zstream *z = NULL;
	struct errbuf bad = ERRBUF_INIT, ignore = ERRBUF_INIT;
	size_t cap = 1 << 20, got;
	char *buf = NULL;
	int rc;

	rc = manifest_obj_get(obj, &mo, e);
	if (rc)
		return rc;
	rc = objread_open(r, mo.key, mo.size, mo.sha256, &rd, e);
	if (rc)
		goto out;
	rc = zstream_decompress_new(sink, ctx, &z, e);
	if (rc)
		goto out;
	zstream_skip_hash(z);  /* objread proves the stored bytes */
	buf = xmalloc(cap);
	for (;;) {
		/* the end of the object is where its size and hash are proven */
		rc = objread_read(rd, buf, cap, &got, e);
		if (rc || !got)
			break;
		/* After a decoding error keep reading: the hash decides how the
		 * failure is reported. A sink failure stops at once. */
		if (zstream_write(z, buf, got, bad.code ? &ignore : &bad) && bad.code != BL_EVERIFY) {
			rc = errbuf_set(e, bad.code, "%s", bad.msg);
			goto out;
		}
	}
	if (rc)
		goto out;
	if (zstream_finish(z, bad.code ? &ignore : &bad) && !bad.code)
		bad.code = BL_EVERIFY;
	if (bad.code)
		rc = errbuf_set(e, bad.code, "object %s: %s", mo.key, bad.msg);
out:
	free(buf);
	zstream_free(z);
	objread_close(rd);
	return rc;
}

int backupset_verify_object(struct repo *r, json_t *obj, int decompress, struct errbuf *e)
{
	struct manifest_obj mo;
	int rc;

	if (decompress)
		return backupset_read_object(r, obj, NULL, NULL, e);
	/* Hash-only pass: no decompression, so a restore can check an object
	 * before it touches anything, at the speed of reading. */
	rc = manifest_obj_get(obj, &mo, e);
	return rc ? rc : objread_check(r, mo.key, mo.size, mo.sha256, e);
}

int backupset_record_verify(struct repo *r, const char *project, const char *id, int ok,
			    const char *error, struct errbuf *e)
{
	struct strbuf key = STRBUF_INIT;
	char when[32];
	json_t *o;
	char *s;
	int rc;

	time_utc_format(time(NULL), when);
	o = json_pack("{s:b, s:s}", "ok", ok, "time", when);
	if (error)
		json_object_set_new(o, "error", json_string(error));
	s = json_dumps(o, JSON_COMPACT);
	manifest_backup_prefix(project, id, &key);
	strbuf_addstr(&key, "verify.json");
	rc = repo_put_bytes(r, key.buf, s, strlen(s), e);
	if (!rc)
		rc = backup_index_put_summary(r, project, id, "verify.json", o, e);
	free(s);
	json_decref(o);
	strbuf_release(&key);
	return rc;
}

struct del_ctx {
	struct repo *r;
	json_t *keys;
};

static int gather_fn(void *ctx, const struct repo_entry *ent, struct errbuf *e)
{
	struct del_ctx *d = ctx;

	(void)e;
	json_array_append_new(d->keys, json_string(ent->key));
	return 0;
}

static int delete_keys(struct repo *r, json_t *keys, struct errbuf *e)
{
	size_t i;
	json_t *k;
	int rc = 0;

	/* the manifest first: a half-deleted backup must not look committed,
	 * and without its manifest it is "incomplete" on every host, which
	 * any prune removes. Then, in an encrypted repository, the index: had
	 * it gone first, an interrupted prune would leave a manifest without
	 * an index, "unindexed" on a write-only host, which cannot tell it
	 * from a backup it must keep (docs/DECISIONS.md). */
	static const char *const first[] = { "/manifest.json", "/" BACKUP_INDEX_NAME };

	for (size_t f = 0; f < 2; f++)
		json_array_foreach(keys, i, k) {
			const char *s = json_string_value(k);
			size_t n = strlen(s), fl = strlen(first[f]);

			if (n >= fl && !strcmp(s + n - fl, first[f])) {
				rc = repo_delete(r, s, e);
				if (rc)
					return rc;
			}
		}
	json_array_foreach(keys, i, k) {
		rc = repo_delete(r, json_string_value(k), e);
		if (rc)
			break;
	}
	return rc;
}

int backupset_delete(struct repo *r, const char *project, const char *id, struct errbuf *e)
{
	struct strbuf prefix = STRBUF_INIT;
	struct del_ctx d = { r, json_array() };
	int rc;

	manifest_backup_prefix(project, id, &prefix);
	rc = repo_list(r, prefix.buf, gather_fn, &d, e);
	if (!rc)
		rc = delete_keys(r, d.keys, e);
	json_decref(d.keys);
	strbuf_release(&prefix);
	return rc;
}

int backupset_remove_tmp(struct repo *r, const char *project, int *removed, struct errbuf *e)
{
	json_t *ids = NULL, *tmps = NULL, *k;
	size_t i;
	int rc = scan(r, project, &ids, &tmps, e);

	*removed = 0;
	if (rc)
		return rc;
	json_array_foreach(tmps, i, k) {
		rc = repo_delete(r, json_string_value(k), e);
		if (rc)
			break;
		(*removed)++;
	}
	json_decref(ids);
	json_decref(tmps);
	return rc;
}

int backupset_open_unchecked(const struct config *cfg, struct repo **r,
			     const char **project, struct errbuf *e)
{
	*r = NULL;
	*project = config_str(cfg, "project", NULL);
	if (!config_name_valid(*project))
		return errbuf_set(e, BL_EUSAGE, "%s: project: expected a name of letters, digits, "
				  "'_', '-' or '.' (it is the repository's top-level folder)",
				  cfg->path);
	return repo_open(cfg, r, e);
}

int backupset_open(const struct config *cfg, struct repo **r, const char **project,
		   struct errbuf *e)
{
	int rc = backupset_open_unchecked(cfg, r, project, e);

	if (!rc)
		rc = repomark_check(*r, *project, e);
	if (rc) {
		repo_close(*r);
		*r = NULL;
	}
	return rc;
}
