/* ballast-backup drill: restore a backup into scratch databases, check it
 * table by table, drop them, and record the report beside the backup. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup_report.h"
#include "backupset.h"
#include "commands.h"
#include "drill.h"
#include "lock.h"
#include "log.h"
#include "manifest.h"
#include "pitr.h"
#include "proc.h"
#include "interrupt.h"

static void summarise(json_t *rep)
{
	json_t *d, *x;
	size_t i, k;

	json_array_foreach(json_object_get(rep, "databases"), i, d) {
		json_t *rpo = json_object_get(d, "rpo_seconds");

		if (json_object_get(d, "mode")) {
			log_info("database %s: point-in-time drill %s: base backup %s recovered to %s "
				 "in %.1fs (extract and verify %.1fs, recovery %.1fs, checks %.1fs), "
				 "%lld tables counted",
				 json_string_value(json_object_get(d, "name")),
				 json_string_value(json_object_get(d, "result")),
				 json_string_value(json_object_get(d, "backup_id")),
				 json_string_value(json_object_get(d, "target")),
				 json_number_value(json_object_get(d, "rto_seconds")),
				 json_number_value(json_object_get(d, "extract_seconds")),
				 json_number_value(json_object_get(d, "recovery_seconds")),
				 json_number_value(json_object_get(d, "checks_seconds")),
				 (long long)json_integer_value(json_object_get(d, "tables_checked")));
			if (json_is_number(rpo))
				log_info("database %s: RPO %.1fs (newest commit in the archive: %s)",
					 json_string_value(json_object_get(d, "name")),
					 json_number_value(rpo),
					 json_is_string(json_object_get(d, "last_replayed_commit")) ?
					 json_string_value(json_object_get(d, "last_replayed_commit")) :
					 "none since the base backup");
			continue;
		}
		log_info("database %s: %s in %.1fs into %s, %lld tables checked, %zu differences",
			 json_string_value(json_object_get(d, "name")),
			 json_string_value(json_object_get(d, "result")),
			 json_number_value(json_object_get(d, "restore_seconds")),
			 json_string_value(json_object_get(d, "scratch_database")),
			 (long long)json_integer_value(json_object_get(d, "tables_checked")),
			 json_array_size(json_object_get(d, "differences")));
		json_array_foreach(json_object_get(d, "differences"), k, x) {
			json_t *got = json_object_get(x, "restored");

			if (json_is_integer(got))
				log_warn("database %s: table %s: the backup records %lld rows, the "
					 "restore has %lld", json_string_value(json_object_get(d, "name")),
					 json_string_value(json_object_get(x, "table")),
					 (long long)json_integer_value(json_object_get(x, "backup")),
					 (long long)json_integer_value(got));
			else
				log_warn("database %s: table %s is missing from the restore",
					 json_string_value(json_object_get(d, "name")),
					 json_string_value(json_object_get(x, "table")));
		}
	}
	log_info("drill of %s: %s (backup age %llds)", json_string_value(json_object_get(rep, "backup_id")),
		 json_string_value(json_object_get(rep, "result")),
		 (long long)json_integer_value(json_object_get(rep, "backup_age_seconds")));
}

/* --check-sql [DB=]FILE, repeatable, into the specs array: DB= scopes the
 * file to one database of the backup (a '/' before the '=' means the '='
 * is part of the path). The files are read after the parse, by
 * drill_load_checks. */
static int opt_check_sql(const struct option_spec *opt, const char *name, const char *arg,
			 struct errbuf *e)
{
	const char *eq = strchr(arg, '=');
	json_t *spec = json_pack("{s:n, s:s}", "db", "file", arg);

	(void)name;
	(void)e;
	if (eq && eq != arg && memchr(arg, '/', (size_t)(eq - arg)) == NULL) {
		json_object_set_new(spec, "db", json_stringn(arg, (size_t)(eq - arg)));
		json_object_set_new(spec, "file", json_string(eq + 1));
	}
	json_array_append_new(opt->value, spec);
	return 0;
}

int cmd_drill(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct drill_opts o;
	struct strbuf state = STRBUF_INIT, lockpath = STRBUF_INIT;
	struct repo *r = NULL;
	struct lock *lk = NULL;
	const char *project = NULL, *id = NULL;
	json_t *specs = json_array(), *report = NULL;
	char latest[64], self[PATH_MAX], cfgpath[PATH_MAX];
	long long t0 = time_mono_ms();
	int rc = 0, use_latest = 0, reported = 0, pitr = 0;
	struct pitr_target_opt tg = { &o.pitr, 0 };
	struct parseopt_rest rest;
	const struct option_spec opts[] = {
		OPT_FLAG(0, "latest", &use_latest,
			 "the latest good backup (the default); with --pitr: recover to the end of "
			 "the WAL archive (the default)"),
		OPT_FLAG(0, "pitr", &pitr, "a point-in-time drill of a physical database"),
		OPT_STRING(0, "db", &o.pitr.db, "NAME",
			   "with --pitr: the database (default: the only physical one)"),
		OPT_CALLBACK_DATA(0, "time", &tg, "T", "with --pitr: recover to this time, with its "
				  "zone", pitr_opt_target, PITR_TIME),
		OPT_CALLBACK_DATA(0, "name", &tg, "RESTORE_POINT",
				  "with --pitr: recover to this restore point", pitr_opt_target,
				  PITR_NAME),
		OPT_CALLBACK_DATA(0, "lsn", &tg, "LSN", "with --pitr: recover to this LSN",
				  pitr_opt_target, PITR_LSN),
		OPT_STRING(0, "timeline", &o.pitr.timeline, "latest|current|N",
			   "with --pitr: recovery_target_timeline (default latest)"),
		OPT_STRING(0, "scratch-dir", &o.scratch_dir, "DIR",
			   "where point-in-time drills extract (default: drill.scratch_dir, "
			   "$TMPDIR, /var/tmp)"),
		OPT_INT(0, "jobs", &o.jobs, "N", "indexes and constraints in N sessions (default 1)",
			1, 256),
		OPT_CALLBACK(0, "check-sql", specs, "[DB=]FILE",
			     "run these SQL checks (repeatable; DB=FILE: in database DB only)",
			     opt_check_sql),
		OPT_STRING(0, "target", &o.target, "CONNINFO",
			   "the server for the scratch databases (default: each database's own)"),
		OPT_END()
	};

	memset(&o, 0, sizeof(o));
	o.jobs = 1;
	rc = cli_parse(ctx, argc, argv, opts, 0, &rest, e);
	if (rc)
		goto out;
	if (rest.argc > 1 || (use_latest && rest.argc == 1 && !pitr)) {
		rc = cli_usage_error(ctx, e, "expected one backup ID or --latest");
		goto out;
	}
	if (!pitr && (tg.n || o.pitr.db || o.pitr.timeline)) {
		rc = cli_usage_error(ctx, e, "--db, --time, --name, --lsn and --timeline need --pitr");
		goto out;
	}
	if (pitr && (tg.n + use_latest > 1 || o.target)) {
		rc = cli_usage_error(ctx, e, o.target ? "--pitr drills on a scratch server of its "
				     "own: --target does not apply" : "--pitr takes at most one of "
				     "--time T, --name RESTORE_POINT, --lsn LSN or --latest");
		goto out;
	}
	id = rest.argc == 1 ? rest.argv[0] : NULL;
	rc = drill_load_checks(specs, &o.checks, e);
	if (rc)
		goto out;
	rc = cli_config(ctx, e);
	if (rc)
		goto out;
	reported = 1;
	backup_report_start(ctx->cfg);
	rc = lock_state_dir(ctx->cfg, &state, e);
	if (rc)
		goto out;
	/* One drill at a time; backups and prunes go on meanwhile. */
	strbuf_addf(&lockpath, "%s/%s.drill.lock", state.buf, config_str(ctx->cfg, "project", ""));
	rc = lock_acquire(lockpath.buf, "drill", 0, &lk, e);
	if (rc)
		goto out;
	interrupt_catch();
	rc = backupset_open(ctx->cfg, &r, &project, e);
	if (rc)
		goto out;
	/* the scratch server's restore_command calls this very binary */
	rc = pitr_self(ctx->cfg, self, cfgpath, e);
	if (rc)
		goto out;
	o.pitr.self = self;
	o.pitr.config_path = cfgpath;
	o.now = time(NULL);
	if (pitr) {
		/* the base backup as restore --pitr chooses it, or ID */
		o.pitr.id = id;
		rc = drill_pitr_run(ctx->cfg, r, project, &o, &report, e);
		id = json_string_value(json_object_get(report, "backup_id"));
	} else {
		rc = backupset_resolve(r, project, id ? id : "latest", latest, sizeof(latest), e);
		if (rc)
			goto out;
		id = latest;
		rc = drill_run(ctx->cfg, r, project, id, &o, &report, e);
	}
	/* no base backup chosen: nothing to store the report beside */
	if (report && id && *id) {
		struct errbuf se = ERRBUF_INIT;

		if (drill_save_report(r, project, report, &se)) {
			log_warn("cannot store the drill report: %s", se.msg);
			if (!rc) {
				rc = errbuf_set(e, BL_EFAIL, "drill of %s passed but its report could "
						"not be stored: %s", id, se.msg);
				json_object_set_new(report, "result", json_string("error"));
			}
		}
	}
	if (report) {
		summarise(report);
		if (ctx->json) {
			json_t *res = json_pack("{s:s, s:O}", "event", "result", "report", report);

			log_json_result(res);
			json_decref(res);
		}
	}
out:
	if (reported)
		backup_report_drill_done(ctx->cfg, rc, e, report, t0);
	repo_close(r);
	lock_release(lk);
	json_decref(report);
	json_decref(specs);
	json_decref(o.checks);
	strbuf_release(&state);
	strbuf_release(&lockpath);
	return rc;
}
