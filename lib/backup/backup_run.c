#include "backup_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup_index.h"
#include "backup_report.h"
#include "basebackup_item.h"
#include "backupset.h"
#include "config_schema.h"
#include "dbdump.h"
#include "interrupt.h"
#include "lock.h"
#include "log.h"
#include "manifest.h"
#include "progress.h"
#include "repo.h"
#include "timeutil.h"
#include "volume_cmd.h"
#include "volume_item.h"
#include "xalloc.h"

/* One item of a backup: a database (db) or a volume (vol). Everything but
 * producing the stream is shared. */
struct item {
	const char *type;  /* "db" or "volume" */
	const char *name;
	json_t *db;
	struct volume_spec vol;
};

struct plan {
	struct item *items;
	size_t n;
	struct dbdump_opts dopts;
	struct volume_item_opts vopts;
};

/* "only" filters: "db:NAME" / "volume:NAME". No filter selects everything. */
static int selected(json_t *only, const char *type, const char *name)
{
	char want[256];
	size_t i;
	json_t *v;

	if (!json_array_size(only))
		return 1;
	snprintf(want, sizeof(want), "%s:%s", type, name ? name : "");
	json_array_foreach(only, i, v)
		if (!strcmp(json_string_value(v), want))
			return 1;
	return 0;
}

static void plan_release(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->items[i].vol.name)
			volume_spec_release(&p->items[i].vol);
	free(p->items);
	memset(p, 0, sizeof(*p));
}

/* Every selected item checked before anything runs: a configuration
 * mistake is exit 2 with nothing started. */
static int plan_load(const struct config *cfg, json_t *only, struct plan *p, struct errbuf *e)
{
	json_t *dbs = config_get(cfg, "databases"), *vols = config_get(cfg, "volumes"), *v;
	size_t i;
	int rc = 0;

	memset(p, 0, sizeof(*p));
	p->items = xcalloc(json_array_size(dbs) + json_array_size(vols) + 1, sizeof(*p->items));
	json_array_foreach(dbs, i, v) {
		const char *n = json_string_value(json_object_get(v, "name"));

		if (!config_name_valid(n))
			return errbuf_set(e, BL_EUSAGE, "%s: databases[%zu].name: expected a name of "
					  "letters, digits, '_', '-' or '.'", cfg->path, i);
		if (!selected(only, "db", n))
			continue;
		p->items[p->n].type = "db";
		p->items[p->n].name = n;
		p->items[p->n].db = v;
		p->n++;
	}
	json_array_foreach(vols, i, v) {
		struct item *it = &p->items[p->n];
		char where[64];

		if (!selected(only, "volume", json_string_value(json_object_get(v, "name"))))
			continue;
		snprintf(where, sizeof(where), "volumes[%zu]", i);
		rc = volume_spec_load(cfg, v, where, &it->vol, e);
		if (rc) {
			errbuf_prefix(e, "%s: ", cfg->path);
			return rc;
		}
		it->type = "volume";
		it->name = it->vol.name;
		p->n++;
	}
	if (!p->n)
		return errbuf_set(e, BL_EUSAGE, "%s: nothing to back up (no databases or volumes "
				  "selected)", cfg->path);
	p->dopts.level = p->vopts.level = (int)config_int(cfg, "compression.level", 3);
	/* both are range-checked when the configuration loads */
	p->dopts.threads = p->vopts.threads = (int)config_int(cfg, "compression.threads", 0);
	return 0;
}

struct idcheck {
	int any;
};

static int any_fn(void *ctx, const struct repo_entry *ent, struct errbuf *e)
{
	(void)ent;
	(void)e;
	((struct idcheck *)ctx)->any = 1;
	return 0;
}

/* A fresh id whose prefix holds nothing, not even an incomplete backup's
 * leftovers: ids are never reused. */
static int new_id(struct repo *r, const char *project, char id[MANIFEST_ID_MAX],
		  struct errbuf *e)
{
	struct strbuf prefix = STRBUF_INIT;
	int rc = 0;

	for (int tries = 0; tries < 20; tries++) {
		struct idcheck c = { 0 };
		long long now = time_wall_ms();

		manifest_new_id((time_t)(now / 1000), (int)(now % 1000), id);
		manifest_backup_prefix(project, id, &prefix);
		rc = repo_list(r, prefix.buf, any_fn, &c, e);
		if (rc || !c.any)
			goto out;
	}
	rc = errbuf_set(e, BL_EFAIL, "cannot find an unused backup id in %s", repo_describe(r));
out:
	strbuf_release(&prefix);
	return rc;
}

static void item_event(const char *event, const char *id, const struct item *it,
		       const struct manifest_item *mi)
{
	json_t *ev = json_pack("{s:s, s:s, s:s}", "backup_id", id, "type", it->type,
			       "name", it->name);

	if (mi) {
		/* the object as stored in the manifest, "compression" and all */
		json_object_set(ev, "object", json_object_get(mi->json, "object"));
		if (it->vol.name)
			json_object_set(ev, "warnings", json_object_get(mi->json, "warnings"));
	}
	log_event(event, ev);
	json_decref(ev);
}

/* What an operator reads after each item; changed or vanished files of a
 * volume are in the manifest and said aloud. */
static void item_log(const struct item *it, const struct manifest_item *view)
{
	json_t *mi = view->json, *w;
	size_t k;
	char sz[32];

	progress_bytes(view->obj.size, sz, sizeof(sz));
	if (it->db && basebackup_item_physical(it->db)) {
		log_info("database %s: base backup %s stored, timeline %lld, WAL %s to %s", it->name,
			 sz, (long long)json_integer_value(json_object_get(mi, "timeline")),
			 json_string_value(json_object_get(mi, "start_lsn")),
			 json_string_value(json_object_get(mi, "stop_lsn")));
		return;
	}
	if (it->db) {
		log_info("database %s: %s stored, %zu tables listed", it->name, sz,
			 json_array_size(json_object_get(mi, "tables")));
		return;
	}
	json_array_foreach(json_object_get(mi, "warnings"), k, w)
		log_warn("volume %s: %s: %s", it->name, json_string_value(json_object_get(w, "path")),
			 json_string_value(json_object_get(w, "warning")));
	log_info("volume %s: %s stored, %lld files", it->name, sz,
		 (long long)json_integer_value(json_object_get(json_object_get(mi, "entries"),
							       "files")));
}

static int item_write(struct plan *p, const struct item *it, struct repo *r, const char *key,
		      json_t **mi, struct errbuf *e)
{
	if (it->db && basebackup_item_physical(it->db))
		return basebackup_item_backup(it->db, r, key, &p->dopts, mi, e);
	if (it->db)
		return dbdump_backup(it->db, r, key, &p->dopts, mi, e);
	return volume_item_backup(&it->vol, r, key, &p->vopts, mi, e);
}

/* The newest good backup's manifest, for the sizes progress expects (NULL
 * when there is none, or nobody watches the progress). */
static json_t *previous_manifest(const struct progress *prog, struct repo *r,
				 const char *project)
{
	struct errbuf ignore = ERRBUF_INIT;
	json_t *m = NULL;
	char id[64];

	if ((prog->tty || prog->json) && !backupset_latest(r, project, id, sizeof(id), &ignore))
		backupset_load(r, project, id, &m, &ignore);
	return m;
}

/* What the same item stored last time, raw: the best guess of this one's. */
static long long previous_raw(json_t *prev, const struct item *it)
{
	const char *type = !it->db ? "volume" :
			   basebackup_item_physical(it->db) ? BASEBACKUP_ITEM_TYPE : "db";
	struct manifest_obj obj;
	struct errbuf ignore = ERRBUF_INIT;
	json_t *pi = prev ? manifest_find_item(prev, type, it->name) : NULL;

	if (!pi || manifest_obj_get(json_object_get(pi, "object"), &obj, &ignore))
		return 0;
	return obj.raw_size;
}

static int write_items(struct plan *p, struct repo *r, const char *project, const char *id,
		       json_t *manifest, struct backup_run_result *res, struct errbuf *e)
{
	struct strbuf key = STRBUF_INIT;
	struct progress prog;
	json_t *prev;
	int rc = 0;

	progress_init(&prog);
	prev = previous_manifest(&prog, r, project);
	p->dopts.progress = progress_update;
	p->dopts.progress_ctx = &prog;
	p->vopts.progress = progress_update;
	p->vopts.progress_ctx = &prog;
	for (size_t i = 0; i < p->n; i++) {
		const struct item *it = &p->items[i];
		struct manifest_item view;
		json_t *mi = NULL;

		rc = interrupt_check(e);
		if (rc)
			break;
		manifest_backup_prefix(project, id, &key);
		strbuf_addf(&key, !it->db ? "volume-%s.tar.zst" : basebackup_item_physical(it->db) ?
			    "basebackup-%s.tar.zst" : "db-%s.dump.zst", it->name);
		item_event("item_start", id, it, NULL);
		progress_expect(&prog, it->name, previous_raw(prev, it));
		snprintf(res->failed_item, sizeof(res->failed_item), "%s:%s", it->type, it->name);
		rc = item_write(p, it, r, key.buf, &mi, e);
		progress_done(&prog);
		if (rc)
			break;
		res->failed_item[0] = '\0';
		json_array_append_new(json_object_get(manifest, "items"), mi);
		/* item i is the one just appended: one per item written, in order */
		manifest_item_get(manifest, i, &view);
		item_log(it, &view);
		item_event("item_done", id, it, &view);
	}
	if (!rc)
		rc = interrupt_check(e);
	json_decref(prev);
	strbuf_release(&key);
	return rc;
}

static json_t *dry_plan(const struct plan *p)
{
	json_t *out = json_array();

	for (size_t i = 0; i < p->n; i++) {
		const struct item *it = &p->items[i];

		if (it->db) {
			log_info("would back up database %s", it->name);
			json_array_append_new(out, json_pack("{s:s, s:s}", "type", "db", "name",
							     it->name));
		} else {
			log_info("would back up volume %s from %s", it->name, it->vol.path.buf);
			json_array_append_new(out, json_pack("{s:s, s:s, s:s}", "type", "volume",
							     "name", it->name, "path",
							     it->vol.path.buf));
		}
	}
	return out;
}

int backup_run(const struct config *cfg, const struct backup_run_opts *o,
	       struct backup_run_result *res, struct errbuf *e)
{
	struct strbuf state = STRBUF_INIT, lockpath = STRBUF_INIT, key = STRBUF_INIT,
		      text = STRBUF_INIT;
	const char *project = config_str(cfg, "project", NULL);
	long long t0 = time_mono_ms();
	json_t *manifest = NULL;
	struct manifest_head h;
	struct repo *r = NULL;
	struct lock *lk = NULL;
	struct plan p;
	int rc, removed = 0, reported = 0;
	char sz[32];

	memset(res, 0, sizeof(*res));
	memset(&p, 0, sizeof(p));
	if (!config_name_valid(project)) {
		rc = errbuf_set(e, BL_EUSAGE, "%s: project: expected a name of letters, digits, "
				"'_', '-' or '.'", cfg->path);
		goto out;
	}
	rc = plan_load(cfg, o->only, &p, e);
	if (rc)
		goto out;
	if (o->dry_run) {
		res->plan = dry_plan(&p);
		goto out;
	}
	reported = 1;
	backup_report_start(cfg);
	rc = lock_state_dir(cfg, &state, e);
	if (rc)
		goto out;
	strbuf_addf(&lockpath, "%s/%s.backup.lock", state.buf, project);
	rc = lock_acquire(lockpath.buf, "backup", o->wait_ms, &lk, e);
	if (rc)
		goto out;
	interrupt_catch();
	rc = backupset_open(cfg, &r, &project, e);
	if (rc)
		goto out;
	/* We hold the run lock: any temporary object is a dead run's. */
	rc = backupset_remove_tmp(r, project, &removed, e);
	if (rc)
		goto out;
	if (removed)
		log_info("removed %d temporary object%s left by an interrupted run", removed,
			 removed == 1 ? "" : "s");
	rc = new_id(r, project, res->id, e);
	if (rc) {
		res->id[0] = '\0';
		goto out;
	}
	manifest = manifest_new(res->id, project, time(NULL), o->labels);
	rc = write_items(&p, r, project, res->id, manifest, res, e);
	if (rc)
		goto out;
	/* In an encrypted repository the plaintext index, written after the
	 * manifest, is the commit; the manifest says one follows, so a run
	 * killed between the two is told from a backup older than the index. */
	if (backup_index_wanted(r))
		json_object_set_new(manifest, "index", json_string(BACKUP_INDEX_NAME));
	rc = manifest_seal(manifest, &text, e);
	if (rc)
		goto out;
	manifest_backup_prefix(project, res->id, &key);
	strbuf_addstr(&key, "manifest.json");
	rc = repo_put_bytes(r, key.buf, text.buf, text.len, e);
	if (!rc && backup_index_wanted(r)) {
		json_t *idx = NULL;

		rc = backup_index_build(r, manifest, key.buf, &idx, e);
		if (!rc)
			rc = backup_index_put(r, project, res->id, idx, e);
		json_decref(idx);
	}
	if (rc)
		goto out;
	manifest_head_get(manifest, &h);
	progress_bytes(h.size > 0 ? h.size : 0, sz, sizeof(sz));
	log_info("backup %s committed (%s in %s)", res->id, sz, repo_describe(r));
	res->manifest = json_incref(manifest);
out:
	if (rc && r && res->id[0]) {
		struct errbuf de = ERRBUF_INIT;

		/* Nothing half-written may look like a backup: drop this run's
		 * objects (the manifest was never written). */
		if (backupset_delete(r, project, res->id, &de))
			log_warn("could not remove the failed backup %s: %s", res->id, de.msg);
	}
	res->duration_ms = time_mono_ms() - t0;
	if (reported)
		backup_report_run_done(cfg, rc, e, res->id, manifest, res->failed_item, t0);
	repo_close(r);
	lock_release(lk);
	plan_release(&p);
	json_decref(manifest);
	strbuf_release(&state);
	strbuf_release(&lockpath);
	strbuf_release(&key);
	strbuf_release(&text);
	return rc;
}

void backup_run_release(struct backup_run_result *res)
{
	json_decref(res->manifest);
	json_decref(res->plan);
	memset(res, 0, sizeof(*res));
}
