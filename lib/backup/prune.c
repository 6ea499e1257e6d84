#include "prune.h"

#include <stdlib.h>
#include <string.h>

#include "backup_index.h"
#include "backupset.h"
#include "basebackup_item.h"
#include "manifest.h"
#include "repo_crypt.h"
#include "walarchive.h"
#include "xalloc.h"

struct drill_keys {
	const char *prefix;   /* "drill-", or its plaintext summary's name */
	json_t *keys;
};

static int drill_fn(void *ctx, const struct repo_entry *ent, struct errbuf *e)
{
	struct drill_keys *d = ctx;
	const char *base = strrchr(ent->key, '/');
	size_t n, pl = strlen(d->prefix);

	(void)e;
	base = base ? base + 1 : ent->key;
	n = strlen(base);
	if (!ent->tmp && !strncmp(base, d->prefix, pl) && n > pl + 5 &&
	    !strcmp(base + n - 5, ".json"))
		json_array_append_new(d->keys, json_string(ent->key));
	return 0;
}

static int cmp_desc(const void *a, const void *b)
{
	return strcmp(*(const char *const *)b, *(const char *const *)a);
}

int prune_drill_passed(struct repo *r, const char *project, const char *id, int *passed,
		       struct errbuf *e)
{
	struct strbuf prefix = STRBUF_INIT, text = STRBUF_INIT;
	json_t *keys = json_array(), *k;
	/* a write-only host reads the reports' plaintext summaries */
	int summaries = !repo_crypt_can_read(r);
	struct drill_keys dk = { summaries ? BACKUP_SUMMARY_PREFIX "drill-" : "drill-", keys };
	const char **v = NULL;
	size_t n = 0, i;
	int rc;

	*passed = 0;
	manifest_backup_prefix(project, id, &prefix);
	rc = repo_list(r, prefix.buf, drill_fn, &dk, e);
	if (rc || !json_array_size(keys))
		goto out;
	v = xcalloc(json_array_size(keys), sizeof(*v));
	json_array_foreach(keys, i, k)
		v[n++] = json_string_value(k);
	/* drill-<UTC time>.json: newest first. A report whose result is
	 * "error" (the server refused a scratch database, say) says nothing
	 * about the backup, so the newest "passed" or "failed" decides. */
	if (n) /* qsort(NULL, 0) is undefined */
		qsort(v, n, sizeof(*v), cmp_desc);
	for (i = 0; i < n; i++) {
		json_t *rep;
		const char *res;
		int decided = 0;

		strbuf_reset(&text);
		if (summaries) {
			/* an unreadable summary proves nothing, like a report */
			struct errbuf ignore = ERRBUF_INIT;

			rep = NULL;
			backup_index_get_summary(r, v[i], &rep, &ignore);
		} else {
			rc = repo_get_bytes(r, v[i], &text, 4 * 1024 * 1024, e);
			if (rc)
				goto out;
			rep = json_loadb(text.buf, text.len, 0, NULL);
		}
		res = json_string_value(json_object_get(rep, "result"));
		/* an unreadable report proves nothing: neither a pass nor an error */
		if (res && json_is_string(json_object_get(rep, "backup_id")) &&
		    !strcmp(json_string_value(json_object_get(rep, "backup_id")), id) &&
		    (!strcmp(res, "passed") || !strcmp(res, "failed"))) {
			*passed = !strcmp(res, "passed");
			decided = 1;
		}
		json_decref(rep);
		if (decided)
			break;
	}
out:
	free(v);
	json_decref(keys);
	strbuf_release(&prefix);
	strbuf_release(&text);
	return rc;
}

static int label_keep(json_t *labels)
{
	const char *v = json_string_value(json_object_get(labels, "keep"));

	return v && (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1"));
}

int prune_plan(struct repo *r, const char *project, const struct retention_policy *p,
	       long long grace_ms, long long now_ms, json_t **plan, struct errbuf *e)
{
	json_t *list = NULL, *ent, *out = json_array();
	struct retention_item *items = NULL;
	size_t n = 0, i;
	int rc;

	*plan = NULL;
	rc = backupset_list(r, project, &list, e);
	if (rc)
		goto out;
	items = xcalloc(json_array_size(list) + 1, sizeof(*items));
	json_array_foreach(list, i, ent) {
		const char *id = json_string_value(json_object_get(ent, "id"));
		const char *status = json_string_value(json_object_get(ent, "status"));
		time_t t = time_utc_parse(json_string_value(json_object_get(ent, "time")));
		long long id_ms = manifest_id_time_ms(id);
		int drilled = 0;

		if (t < 0 && id_ms >= 0)
			t = (time_t)(id_ms / 1000);
		if (!strcmp(status, "unindexed")) {
			/* a write-only host cannot see its labels or drills */
			json_array_append_new(out, json_pack(
				"{s:s, s:O, s:s, s:O, s:b, s:s, s:s}", "id", id, "time",
				json_object_get(ent, "time"), "status", status, "labels",
				json_object_get(ent, "labels"), "drilled", 0, "action", "keep",
				"reason", "no plaintext index: its labels cannot be read without "
				"an identity (prune where one is available)"));
			continue;
		}
		if (!strcmp(status, "incomplete")) {
			int old = id_ms >= 0 && now_ms - id_ms >= grace_ms;

			json_array_append_new(out, json_pack(
				"{s:s, s:O, s:s, s:O, s:b, s:s, s:s}", "id", id, "time",
				json_object_get(ent, "time"), "status", status, "labels",
				json_object_get(ent, "labels"), "drilled", 0, "action",
				old ? "remove" : "keep", "reason",
				old ? "incomplete, older than the grace period" :
				"incomplete, within the grace period"));
			continue;
		}
		rc = prune_drill_passed(r, project, id, &drilled, e);
		if (rc)
			goto out;
		items[n].id = id;
		items[n].time = t;
		items[n].good = !strcmp(status, "good");
		items[n].drilled = drilled;
		items[n].keep_label = label_keep(json_object_get(ent, "labels"));
		n++;
	}
	retention_apply(p, items, n);
	for (i = 0; i < n; i++) {
		json_t *src = NULL, *it;
		size_t k;

		json_array_foreach(list, k, it)
			if (!strcmp(json_string_value(json_object_get(it, "id")), items[i].id))
				src = it;
		json_array_append_new(out, json_pack(
			"{s:s, s:O, s:O, s:O, s:b, s:s, s:s}", "id", items[i].id, "time",
			json_object_get(src, "time"), "status", json_object_get(src, "status"),
			"labels", json_object_get(src, "labels"), "drilled", items[i].drilled,
			"action", items[i].keep ? "keep" : "remove", "reason",
			items[i].keep ? items[i].reason : "no rule keeps it"));
	}
	/* newest first, as an operator reads a retention plan */
	{
		size_t m = json_array_size(out);
		json_t **v = xcalloc(m + 1, sizeof(*v));

		for (i = 0; i < m; i++)
			v[i] = json_incref(json_array_get(out, i));
		for (i = 1; i < m; i++)
			for (size_t j = i; j > 0 &&
			     strcmp(json_string_value(json_object_get(v[j - 1], "id")),
				    json_string_value(json_object_get(v[j], "id"))) < 0; j--) {
				json_t *tmp = v[j];

				v[j] = v[j - 1];
				v[j - 1] = tmp;
			}
		json_array_clear(out);
		for (i = 0; i < m; i++)
			json_array_append_new(out, v[i]);
		free(v);
	}
	*plan = out;
	out = NULL;
out:
	free(items);
	json_decref(out);
	json_decref(list);
	return rc;
}

int prune_apply(struct repo *r, const char *project, json_t *plan, int *removed,
		struct errbuf *e)
{
	size_t i;
	int rc = 0;

	*removed = 0;
	/* oldest first: an interrupted prune has removed the least valuable */
	for (i = json_array_size(plan); i-- > 0;) {
		json_t *p = json_array_get(plan, i);
		const char *id = json_string_value(json_object_get(p, "id"));

		if (strcmp(json_string_value(json_object_get(p, "action")), "remove"))
			continue;
		rc = backupset_delete(r, project, id, e);
		if (rc) {
			errbuf_prefix(e, "prune: cannot remove backup %s: ", id);
			break;
		}
		json_object_set_new(p, "removed", json_true());
		(*removed)++;
	}
	return rc;
}

/* The first WAL file backup id's base backup of db needs, into start (""
 * when the backup holds none). With an identity it comes from the
 * manifest; on a write-only host from the plaintext index, which records
 * it for that purpose. BL_EFAIL with the reason when it cannot be known
 * (a manifest or index that does not load, an index written before it
 * recorded start_wal). */
static int kept_start_wal(struct repo *r, const char *project, const char *id, const char *db,
			  struct strbuf *start, struct errbuf *e)
{
	struct strbuf text = STRBUF_INIT;
	struct basebackup_meta meta;
	json_t *m = NULL, *item;
	const char *wal;
	int rc, found;

	strbuf_reset(start);
	if (!repo_crypt_can_read(r)) {
		rc = backup_index_get(r, project, id, &m, &text, e);
		if (rc) {
			errbuf_prefix(e, "the index of kept backup %s does not load: ", id);
			goto out;
		}
		wal = backup_index_start_wal(m, BASEBACKUP_ITEM_TYPE, db, &found);
		if (found && !wal)
			rc = errbuf_set(e, BL_EFAIL, "the index of kept backup %s does not record "
					"its base backup's start_wal (written by an older ballast; "
					"prune where an identity is available)", id);
		else if (wal)
			strbuf_addstr(start, wal);
		goto out;
	}
	rc = backupset_load(r, project, id, &m, e);
	if (rc) {
		errbuf_prefix(e, "the manifest of kept backup %s does not load: ", id);
		goto out;
	}
	item = manifest_find_item(m, BASEBACKUP_ITEM_TYPE, db);
	if (item && basebackup_item_get(item, &meta, e) == 0)
		strbuf_addstr(start, meta.start_wal);
	errbuf_clear(e);
out:
	json_decref(m);
	strbuf_release(&text);
	return rc;
}

/* The earliest start segment (by position) of db's base backups among the
 * backups plan keeps, and the backup it is in; keep_from "" when none.
 * A kept backup that cannot say what it needs (its manifest, or on a
 * write-only host its index, does not tell): *unknown names it, and the
 * whole archive is kept. */
static int earliest_kept_start(struct repo *r, const char *project, const char *db,
			       json_t *plan, struct strbuf *keep_from, struct strbuf *backup,
			       struct strbuf *unknown, struct errbuf *e)
{
	struct strbuf start = STRBUF_INIT;
	json_t *p;
	size_t i;

	strbuf_reset(keep_from);
	strbuf_reset(backup);
	json_array_foreach(plan, i, p) {
		const char *id = json_string_value(json_object_get(p, "id"));
		const char *status = json_string_value(json_object_get(p, "status"));

		if (strcmp(json_string_value(json_object_get(p, "action")), "keep") ||
		    !strcmp(status, "incomplete"))
			continue;
		if (kept_start_wal(r, project, id, db, &start, e)) {
			strbuf_reset(unknown);
			strbuf_addf(unknown, "%s; every WAL file is kept", e->msg);
			errbuf_clear(e);
			strbuf_reset(keep_from);
			strbuf_reset(backup);
			break;
		}
		if (start.len && (!keep_from->len ||
				  strncmp(start.buf + 8, keep_from->buf + 8, 16) < 0)) {
			strbuf_reset(keep_from);
			strbuf_add(keep_from, start.buf, start.len);
			strbuf_reset(backup);
			strbuf_addstr(backup, id);
		}
	}
	strbuf_release(&start);
	return 0;
}

static int cmp_key_name(const void *a, const void *b)
{
	const char *ka = strrchr(*(const char *const *)a, '/');
	const char *kb = strrchr(*(const char *const *)b, '/');

	return strcmp(ka ? ka : "", kb ? kb : "");
}

int prune_wal_plan(struct repo *r, const char *project, json_t *dbs, json_t *plan,
		   json_t **wal, struct errbuf *e)
{
	struct strbuf keep_from = STRBUF_INIT, backup = STRBUF_INIT, unknown = STRBUF_INIT;
	json_t *out = json_array(), *v;
	size_t i;
	int rc = 0;

	*wal = NULL;
	json_array_foreach(dbs, i, v) {
		const char *db = json_string_value(v), *name;
		json_t *names = NULL, *key, *keys = json_array();
		const char **sorted = NULL;
		size_t n = 0, k;

		rc = walarchive_list(r, project, db, &names, e);
		if (!rc)
			rc = earliest_kept_start(r, project, db, plan, &keep_from, &backup, &unknown,
						 e);
		if (rc) {
			json_decref(names);
			json_decref(keys);
			errbuf_prefix(e, "prune: the WAL archive of %s: ", db);
			goto out;
		}
		if (keep_from.len) {
			sorted = xcalloc(json_object_size(names) + 1, sizeof(*sorted));
			json_object_foreach(names, name, key)
				if (walarchive_before(name, keep_from.buf))
					sorted[n++] = json_string_value(key);
			/* oldest first: by the file name at the end of each key */
			qsort(sorted, n, sizeof(*sorted), cmp_key_name);
			for (k = 0; k < n; k++)
				json_array_append_new(keys, json_string(sorted[k]));
			free(sorted);
		}
		json_array_append_new(out, json_pack(
			"{s:s, s:s, s:i, s:i, s:s?, s:s?, s:s, s:o}", "database", db,
			"action", n ? "remove" : "keep", "files", (int)n,
			"stored", (int)json_object_size(names),
			"keep_from", keep_from.len ? keep_from.buf : NULL,
			"backup", backup.len ? backup.buf : NULL, "reason",
			unknown.len ? unknown.buf :
			!keep_from.len ? "no kept base backup: every WAL file is kept" :
			n ? "before the earliest kept base backup's start segment" :
			"nothing before the earliest kept base backup's start segment",
			"keys", keys));
		json_decref(names);
		strbuf_reset(&unknown);
	}
	*wal = out;
	out = NULL;
out:
	json_decref(out);
	strbuf_release(&keep_from);
	strbuf_release(&backup);
	strbuf_release(&unknown);
	return rc;
}

int prune_wal_apply(struct repo *r, json_t *wal, int *removed, struct errbuf *e)
{
	json_t *w, *key;
	size_t i, k;
	int rc = 0;

	*removed = 0;
	json_array_foreach(wal, i, w)
		json_array_foreach(json_object_get(w, "keys"), k, key) {
			rc = repo_delete(r, json_string_value(key), e);
			if (rc) {
				errbuf_prefix(e, "prune: cannot remove WAL file %s: ",
					      json_string_value(key));
				return rc;
			}
			(*removed)++;
		}
	return rc;
}
