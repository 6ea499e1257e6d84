/* ballast-backup drill: restore a backup into scratch databases, check it
 * table by table, drop them, and record the report beside the backup. */
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
#include "proc.h"
#include "interrupt.h"

static void summarise(json_t *rep)
{
	json_t *d, *x;
	size_t i, k;

	json_array_foreach(json_object_get(rep, "databases"), i, d) {
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
	char latest[64];
	long long t0 = time_mono_ms();
	int rc = 0, use_latest = 0, reported = 0;
	struct parseopt_rest rest;
	const struct option_spec opts[] = {
		OPT_FLAG(0, "latest", &use_latest, "the latest good backup (the default)"),
		OPT_INT(0, "jobs", &o.jobs, "N", "pg_restore -j N for each database (default 1)",
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
	if (rest.argc > 1 || (use_latest && rest.argc == 1)) {
		rc = cli_usage_error(ctx, e, "expected one backup ID or --latest");
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
	rc = backupset_resolve(r, project, id ? id : "latest", latest, sizeof(latest), e);
	if (rc)
		goto out;
	id = latest;
	o.now = time(NULL);
	rc = drill_run(ctx->cfg, r, project, id, &o, &report, e);
	if (report) {
		struct errbuf se = ERRBUF_INIT;

		if (drill_save_report(r, project, report, &se)) {
			log_warn("cannot store the drill report: %s", se.msg);
			if (!rc) {
				rc = errbuf_set(e, BL_EFAIL, "drill of %s passed but its report could "
						"not be stored: %s", id, se.msg);
				json_object_set_new(report, "result", json_string("error"));
			}
		}
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
