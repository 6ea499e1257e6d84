/* ballast-backup prune [--dry-run]: remove the backups the retention
 * policy no longer keeps, incomplete ones past the grace period, the WAL
 * no kept base backup needs, and what restores kept: databases (<db>__ballast_old_<id>) past
 * retention.kept_databases, volumes (<path>.ballast-old-<id>) past
 * retention.kept_volumes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup_report.h"
#include "backupset.h"
#include "basebackup_item.h"
#include "commands.h"
#include "dbswap.h"
#include "lock.h"
#include "log.h"
#include "proc.h"
#include "prune.h"
#include "retention.h"
#include "timeutil.h"
#include "volume.h"
#include "walarchive.h"

static void print_plan(json_t *plan, int dry)
{
	json_t *p;
	size_t i;

	json_array_foreach(plan, i, p) {
		int keep = !strcmp(json_string_value(json_object_get(p, "action")), "keep");

		const char *id = json_string_value(json_object_get(p, "id"));
		const char *st = json_string_value(json_object_get(p, "status"));
		const char *why = json_string_value(json_object_get(p, "reason"));

		/* A dry run's plan is its output; a real prune stays quiet in cron. */
		if (dry)
			printf("%-12s %-22s %-13s %s\n", keep ? "keep" : "would remove", id, st, why);
		else
			log_info("%s %s (%s): %s", keep ? "keep" : "removed", id, st, why);
	}
}

#define KEPT_DEFAULT_MS (7LL * 24 * 3600 * 1000)

/* The kept databases of every configured logical database. A server that
 * cannot be reached is a warning, not a failed prune: the repository's
 * half is done, and the next prune tries again. */
static json_t *prune_kept(const struct config *cfg, long long keep_ms, long long now_ms,
			  int dry)
{
	json_t *out = json_array(), *dbs = config_get(cfg, "databases"), *db;
	struct errbuf e = ERRBUF_INIT;
	size_t i;

	/* prune holds the run lock: a server that does not answer must not hold
	 * it for TCP's two minutes. libpq's own default, unless the operator set
	 * one (PGCONNECT_TIMEOUT, or connect_timeout in the conninfo). */
	setenv("PGCONNECT_TIMEOUT", "10", 0);
	json_array_foreach(dbs, i, db) {
		const char *name = json_string_value(json_object_get(db, "name"));

		if (basebackup_item_physical(db))
			continue;
		if (dbswap_prune_kept(db, keep_ms, now_ms, dry, out, &e)) {
			log_warn("prune: the databases kept by restores of %s were not looked at: %s",
				 name ? name : "?", e.msg);
			json_array_append_new(out, json_pack("{s:s?, s:s}", "database", name,
							     "error", e.msg));
			errbuf_clear(&e);
		}
	}
	return out;
}

/* The same for the configured volumes' kept directories; an unreadable
 * parent directory is a warning too. */
static json_t *prune_kept_volumes(const struct config *cfg, long long keep_ms, long long now_ms,
				  int dry)
{
	json_t *out = json_array(), *vols = config_get(cfg, "volumes"), *v;
	struct strbuf path = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	size_t i;

	json_array_foreach(vols, i, v) {
		const char *p = json_string_value(json_object_get(v, "path"));

		if (!p || !*p)
			continue;
		config_path(cfg, p, &path);
		if (volume_prune_kept(path.buf, keep_ms, now_ms, dry, out, &e)) {
			log_warn("prune: the directories kept by restores of %s were not all looked "
				 "at: %s", path.buf, e.msg);
			json_array_append_new(out, json_pack("{s:s, s:s}", "volume", path.buf,
							     "error", e.msg));
			errbuf_clear(&e);
		}
	}
	strbuf_release(&path);
	return out;
}

static void print_wal(json_t *wal, int dry)
{
	json_t *w;
	size_t i;

	json_array_foreach(wal, i, w) {
		const char *db = json_string_value(json_object_get(w, "database"));
		const char *why = json_string_value(json_object_get(w, "reason"));
		const char *from = json_string_value(json_object_get(w, "keep_from"));
		long long n = json_integer_value(json_object_get(w, "files"));
		long long stored = json_integer_value(json_object_get(w, "stored"));

		if (dry && n)
			printf("%-12s wal:%-18s %-13s %lld of %lld files before %s (%s)\n",
			       "would remove", db, "wal", n, stored, from, why);
		else if (dry)
			printf("%-12s wal:%-18s %-13s %lld files: %s\n", "keep", db, "wal", stored, why);
		else if (n)
			log_info("removed %lld WAL files of %s before %s (%s)", n, db, from, why);
		else
			log_info("keep the WAL archive of %s (%lld files): %s", db, stored, why);
	}
}

/* The plan without the object keys (thousands of them) for --json. */
static json_t *wal_summary(json_t *wal)
{
	json_t *out = json_deep_copy(wal), *w;
	size_t i;

	json_array_foreach(out, i, w)
		json_object_del(w, "keys");
	return out;
}

/* kind: "database" or "volume"; key: the entry's field that names it. */
static void print_kept(json_t *kept, const char *kind, const char *key, int dry)
{
	json_t *k;
	size_t i;

	json_array_foreach(kept, i, k) {
		const char *name = json_string_value(json_object_get(k, key));
		const char *action = json_string_value(json_object_get(k, "action"));
		const char *why = json_string_value(json_object_get(k, "reason"));

		if (!action)
			continue; /* not looked at: already a warning */
		if (dry)
			printf("%-12s %-22s %-13s %s\n", strcmp(action, "keep") ? "would remove" : "keep",
			       name, kind, why);
		else
			log_info("%s %s (%s): %s", strcmp(action, "keep") ? "removed" : "keep", name,
				 kind, why);
	}
}

/* An optional duration of "retention" (key under it), at least 0; *ms
 * keeps its default when the key is absent. */
static int retention_duration(const struct config *cfg, const char *key, const char *example,
			      long long *ms, struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT;
	const char *v;
	int rc = 0;

	strbuf_addf(&path, "retention.%s", key);
	v = config_str(cfg, path.buf, NULL);
	if (v && (config_duration_ms(v, ms) || *ms < 0))
		rc = errbuf_set(e, BL_EUSAGE, "%s: %s: expected a duration such as \"%s\", got \"%s\"",
				cfg->path, path.buf, example, v);
	strbuf_release(&path);
	return rc;
}

int cmd_prune(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct retention_policy pol;
	struct strbuf state = STRBUF_INIT, lockpath = STRBUF_INIT;
	struct repo *r = NULL;
	struct lock *lk = NULL;
	const char *project = NULL;
	json_t *plan = NULL, *kept = NULL, *kept_vols = NULL, *wal = NULL, *pdbs = NULL;
	long long grace_ms = PRUNE_DEFAULT_GRACE_S * 1000LL, t0 = time_mono_ms(), now;
	long long kept_ms = KEPT_DEFAULT_MS, kept_vol_ms = KEPT_DEFAULT_MS;
	int rc, dry = 0, removed = 0, reported = 0, wal_removed = 0;
	struct parseopt_rest rest;
	const struct option_spec opts[] = {
		OPT_FLAG(0, "dry-run", &dry,
			 "print the plan (keep/remove and the rule that kept each); change nothing"),
		OPT_END()
	};

	rc = cli_parse(ctx, argc, argv, opts, PARSEOPT_NO_ARGS, &rest, e);
	if (rc)
		goto out;
	rc = cli_config(ctx, e);
	if (rc)
		goto out;
	/* A bad policy is exit 2 before the repository is even opened. */
	rc = retention_policy_from_json(config_get(ctx->cfg, "retention"), ctx->cfg->path, &pol, e);
	if (rc)
		goto out;
	rc = retention_duration(ctx->cfg, "incomplete_grace", "24h", &grace_ms, e);
	if (!rc)
		rc = retention_duration(ctx->cfg, "kept_databases", "7d", &kept_ms, e);
	if (!rc)
		rc = retention_duration(ctx->cfg, "kept_volumes", "7d", &kept_vol_ms, e);
	if (rc)
		goto out;
	if (!dry) {
		reported = 1;
		backup_report_start(ctx->cfg);
		rc = lock_state_dir(ctx->cfg, &state, e);
		if (rc)
			goto out;
		/* The run lock: a backup being written must not be judged incomplete. */
		strbuf_addf(&lockpath, "%s/%s.backup.lock", state.buf,
			    config_str(ctx->cfg, "project", ""));
		rc = lock_acquire(lockpath.buf, "prune", 0, &lk, e);
		if (rc)
			goto out;
	}
	rc = backupset_open(ctx->cfg, &r, &project, e);
	if (rc)
		goto out;
	now = time_wall_ms();
	rc = prune_plan(r, project, &pol, grace_ms, now, &plan, e);
	if (rc)
		goto out;
	/* decided from the plan before anything goes, so the WAL a kept base
	 * backup needs is known from the backups that stay */
	pdbs = walarchive_db_names(ctx->cfg);
	rc = prune_wal_plan(r, project, pdbs, plan, &wal, e);
	if (rc)
		goto out;
	if (!dry) {
		int tmps = 0;

		rc = prune_apply(r, project, plan, &removed, e);
		if (!rc)
			rc = prune_wal_apply(r, wal, &wal_removed, e);
		if (rc)
			goto out;
		/* We hold the run lock: temporary objects are dead runs' leftovers. */
		rc = backupset_remove_tmp(r, project, &tmps, e);
		if (rc)
			goto out;
	}
	kept = prune_kept(ctx->cfg, kept_ms, now, dry);
	kept_vols = prune_kept_volumes(ctx->cfg, kept_vol_ms, now, dry);
	if (!ctx->json) {
		print_plan(plan, dry);
		print_kept(kept, "database", "name", dry);
		print_kept(kept_vols, "volume", "path", dry);
		print_wal(wal, dry);
	}
	if (!dry)
		log_info("%d backup%s removed, %zu kept", removed, removed == 1 ? "" : "s",
			 json_array_size(plan) - (size_t)removed);
	if (ctx->json) {
		json_t *res = json_pack("{s:s, s:b, s:O, s:i, s:O, s:O, s:o, s:i}", "event",
					"result", "dry_run", dry, "backups", plan, "removed", removed,
					"kept_databases", kept, "kept_volumes", kept_vols,
					"wal", wal_summary(wal), "wal_removed", wal_removed);

		log_json_result(res);
		json_decref(res);
	}
out:
	if (reported)
		backup_report_prune_done(ctx->cfg, rc, e, plan, t0);
	repo_close(r);
	lock_release(lk);
	json_decref(plan);
	json_decref(kept);
	json_decref(kept_vols);
	json_decref(wal);
	json_decref(pdbs);
	strbuf_release(&state);
	strbuf_release(&lockpath);
	return rc;
}
