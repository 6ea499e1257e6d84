/* "snapshot": "restore-point": the pre-deploy snapshot as a named point in
 * the WAL of a physical database, and the rollback's restore to it
 * (contracts in deploy_internal.h; the restore itself is ballast-backup's
 * restore --pitr, lib/backup/pitr.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deploy_internal.h"
#include "log.h"
#include "timeutil.h"
#include "xalloc.h"

/* How long the server gets to answer after it started on restored data:
 * it replays nothing (the restore ended with a clean shutdown), so this is
 * the container's start. */
#define POINT_START_WAIT_MS (2 * 60 * 1000)
/* restore point names: under 64 bytes (PostgreSQL's limit), of the
 * characters config_name_valid() takes */
#define POINT_NAME_MAX 63

const char *drun_point_db(struct deploy_env *env)
{
	return env->pitr_db ? env->pitr_db : drun_restore_db_name(env);
}

static void add_name_part(struct strbuf *out, const char *s, size_t max)
{
	for (size_t i = 0; s[i] && i < max; i++) {
		char c = s[i];

		strbuf_addch(out, (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ? c : '_');
	}
}

/* ballast-<env>-<release>-<YYYYmmddTHHMMSSZ>: the release is shortened
 * when the whole would not fit; the time keeps a release deployed twice
 * apart. */
static void point_name(struct run *r, struct strbuf *out)
{
	char when[24];
	time_t now = time(NULL);
	struct tm tm;
	size_t fixed;

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y%m%dT%H%M%SZ", &tm);
	strbuf_addstr(out, "ballast-");
	add_name_part(out, r->env->name, 16);
	strbuf_addch(out, '-');
	fixed = out->len + 1 + strlen(when);
	add_name_part(out, r->release, POINT_NAME_MAX - fixed);
	strbuf_addf(out, "-%s", when);
}

int drun_restore_point(struct run *r, struct errbuf *e)
{
	struct strvec argv = STRVEC_INIT;
	struct strbuf out = STRBUF_INIT, name = STRBUF_INIT, wait = STRBUF_INIT;
	const char *db = drun_point_db(r->env);
	json_t *res = NULL;
	const char *lsn;
	long long t;
	int rc;

	point_name(r, &name);
	strbuf_addf(&wait, "%lldms", r->env->pitr_archive_wait_ms);
	{
		const char *args[] = { "restore-point", "--wait-archived", wait.buf, "--json", name.buf,
				       db ? "--db" : NULL, db, NULL };

		deploy_env_backup_argv(r->env, args, &argv);
	}
	t = drun_step_begin("snapshot", "pre-deploy restore point on the target");
	rc = drun_target_run(r->env, &argv, NULL, NULL, &out, 0, e);
	if (!rc) {
		res = deploy_result_line(out.buf);
		lsn = json_string_value(json_object_get(json_object_get(res, "restore_point"), "lsn"));
		if (!lsn)
			rc = errbuf_set(e, BL_EFAIL, "%s restore-point: no lsn in its --json result: the "
					"snapshot cannot be trusted", argv.v[0]);
		else {
			r->restore_point = strbuf_detach(&name, NULL);
			log_info("snapshot: restore point %s at LSN %s", r->restore_point, lsn);
		}
	}
	drun_step_end(r, "snapshot", t, rc, e);
	json_decref(res);
	strvec_clear(&argv);
	strbuf_release(&out);
	strbuf_release(&name);
	strbuf_release(&wait);
	return rc;
}

/* Stop (start = 0) or start the database server: its compose service, or
 * the configured commands. */
static int server_ctl(struct run *r, int start, struct errbuf *e)
{
	struct strvec argv = STRVEC_INIT;
	int rc;

	if (r->env->pitr_service) {
		strvec_push(&argv, r->env->pitr_service);
		rc = drun_app_compose(r, start ? "start" : "stop", &argv, e);
	} else {
		strvec_push_json(&argv, start ? r->env->pitr_start : r->env->pitr_stop);
		rc = drun_target_run(r->env, &argv, NULL, NULL, NULL, r->env->compose_timeout_ms, e);
	}
	if (rc)
		errbuf_prefix(e, "%s the database server: ", start ? "starting" : "stopping");
	strvec_clear(&argv);
	return rc;
}

/* The server accepts connections again: the schema status answers. Without
 * migrations there is nothing of ours to ask; the health checks wait for
 * the application. */
static int wait_server(struct run *r, struct errbuf *e)
{
	long long until = time_mono_ms() + POINT_START_WAIT_MS, version;
	struct errbuf se = ERRBUF_INIT;

	if (!r->use_migrate)
		return 0;
	while (drun_schema_status(r, NULL, &version, &se)) {
		if (time_mono_ms() >= until)
			return errbuf_set(e, BL_EFAIL, "the database server did not answer within %d s "
					  "after it started: %s", POINT_START_WAIT_MS / 1000, se.msg);
		errbuf_clear(&se);
		sleep(1);
	}
	return 0;
}

int drun_restore_to_point(struct run *r, const char *name, struct errbuf *e)
{
	struct strvec svcs = STRVEC_INIT;
	struct strbuf what = STRBUF_INIT;
	struct errbuf se = ERRBUF_INIT;
	const char *db = drun_point_db(r->env);
	long long t;
	int rc, src;

	if ((rc = drun_app_stop(r, &svcs, e)))
		goto out;
	strbuf_addf(&what, "the database server (%s), for the restore",
		    r->env->pitr_service ? r->env->pitr_service : "stop_command");
	t = drun_step_begin("stop-db", what.buf);
	rc = server_ctl(r, 0, e);
	drun_step_end(r, "stop-db", t, rc, e);
	if (!rc) {
		const char *args[] = { "restore", "--pitr", "--name", name, r->env->pitr_into_opt,
				       r->env->pitr_into, "--json", db ? "--db" : NULL, db, NULL };

		rc = drun_restore_step(r, args, name, e);
	}
	/* Whatever happened the server comes back: on the restored data, or on
	 * its own, which a failed restore leaves as it was. */
	t = drun_step_begin("start-db", "the database server again");
	src = server_ctl(r, 1, &se);
	if (!src)
		src = wait_server(r, &se);
	drun_step_end(r, "start-db", t, src, &se);
	if (!rc && src)
		rc = errbuf_set(e, se.code, "the data was restored to %s, but %s", name, se.msg);
	/* after a restore the rollback's up starts the application with the
	 * previous release; after a failed one nothing that ran may stay
	 * stopped */
	if (rc && svcs.n)
		drun_app_start(r, &svcs);
out:
	strvec_clear(&svcs);
	strbuf_release(&what);
	return rc;
}
