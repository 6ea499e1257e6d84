#include "deploy_steps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compose_lint.h"
#include "deploy_lock.h"
#include "deploy_state.h"
#include "hooks.h"
#include "http.h"
#include "log.h"
#include "proc.h"
#include "interrupt.h"

const char *deploy_result_name(enum deploy_result r)
{
	switch (r) {
	case DEPLOY_DEPLOYED: return "deployed";
	case DEPLOY_ROLLED_BACK: return "rolled-back";
	case DEPLOY_ROLLED_BACK_RESTORE: return "rolled-back-with-restore";
	case DEPLOY_FAILED_ATTENTION: return "failed-needs-attention";
	default: return "aborted";
	}
}

int deploy_result_status(enum deploy_result r, int abort_status)
{
	switch (r) {
	case DEPLOY_DEPLOYED: return BL_OK;
	case DEPLOY_ROLLED_BACK:
	case DEPLOY_ROLLED_BACK_RESTORE: return BL_EFAIL;
	case DEPLOY_FAILED_ATTENTION: return BL_EVERIFY;
	default: return abort_status ? abort_status : BL_EFAIL;
	}
}

json_t *deploy_result_line(const char *out)
{
	json_t *found = NULL;
	const char *p = out;

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len && p[0] == '{') {
			json_t *o = json_loadb(p, len, 0, NULL);

			if (json_is_object(o) && json_is_string(json_object_get(o, "event")) &&
			    !strcmp(json_string_value(json_object_get(o, "event")), "result")) {
				json_decref(found);
				found = o;
			} else {
				json_decref(o);
			}
		}
		p = nl ? nl + 1 : NULL;
	}
	return found;
}

/* ---- one run ---- */

struct run {
	struct deploy_env *env;
	const char *action;        /* "deploy", "rollback", "recover" */
	const char *release;       /* what this run brings up */
	json_t *state;
	json_t *steps;             /* [{"step","ms","ok"}] */
	char *backup_id;
	char *prev_release;
	json_t *prev_images;
	json_t *new_images;
	long long schema_before;
	int schema_known;
	long long schema_after;
	int use_migrate;
	int changed;
	int restored;
	char *local_migrations;
	struct strbuf remote_dir;  /* <app_dir>/.ballast/releases/<TAG>/migrations */
	struct deploy_lock lock;
	char started_at[40];
	long long t0;
	char failed_step[32];
	json_t *verify_images;     /* borrowed: the release being verified */
};

static void run_init(struct run *r, struct deploy_env *env, const char *action)
{
	memset(r, 0, sizeof(*r));
	r->env = env;
	r->action = action;
	r->steps = json_array();
	strbuf_init(&r->remote_dir, 0);
	deploy_now_iso(r->started_at, sizeof(r->started_at));
	r->t0 = time_mono_ms();
}

static void run_release(struct run *r)
{
	json_decref(r->state);
	json_decref(r->steps);
	json_decref(r->prev_images);
	json_decref(r->new_images);
	free(r->backup_id);
	free(r->prev_release);
	free(r->local_migrations);
	strbuf_release(&r->remote_dir);
}

static long long step_begin(const char *step, const char *what)
{
	log_info("%s: %s", step, what);
	return time_mono_ms();
}

static void step_end(struct run *r, const char *step, long long t, int rc, struct errbuf *e)
{
	long long ms = time_mono_ms() - t;
	json_t *o = json_pack("{s:s, s:I, s:b}", "step", step, "ms", (json_int_t)ms, "ok", !rc);

	if (rc) {
		json_object_set_new(o, "error", json_string(e->msg));
		if (!r->failed_step[0])
			snprintf(r->failed_step, sizeof(r->failed_step), "%s", step);
		log_error("%s failed after %.1fs: %s", step, ms / 1000.0, e->msg);
	} else {
		log_info("%s: done in %.1fs", step, ms / 1000.0);
	}
	json_array_append(r->steps, o);
	log_event("step", o);
	json_decref(o);
}

static void log_command(struct deploy_env *env, struct strvec *argv, struct strvec *vars,
			const char *dir)
{
	struct strbuf sb = STRBUF_INIT;

	if (!log_enabled(LOG_DEBUG))
		return;
	transport_render(env->t, strvec_argv(argv), vars ? strvec_argv(vars) : NULL, dir, &sb);
	log_debug("%s: %s", transport_describe(env->t), sb.buf);
	strbuf_release(&sb);
}

/* Run a command on the target; a non-zero exit is BL_EFAIL naming the
 * command with the last line of its stderr. */
static int target_run(struct deploy_env *env, struct strvec *argv, struct strvec *vars,
		      const char *dir, struct strbuf *out, long timeout_ms, struct errbuf *e)
{
	struct strbuf err = STRBUF_INIT;
	int rc, status = 0;

	log_command(env, argv, vars, dir);
	rc = transport_run(env->t, strvec_argv(argv), vars ? strvec_argv(vars) : NULL, dir, out,
			   &err, &status, timeout_ms, e);
	if (!rc && status != 0) {
		char line[600] = "";
		size_t end, start;

		strbuf_rtrim(&err);
		end = err.len;
		start = end;
		while (start && err.buf[start - 1] != '\n')
			start--;
		snprintf(line, sizeof(line), "%.*s", (int)(end - start), err.buf + start);
		{
			struct strbuf red = STRBUF_INIT;

			log_redact_str(line, &red);
			if (status < 0)
				rc = errbuf_set(e, BL_EFAIL, "%s was killed%s%s", argv->v[0],
						red.len ? ": " : "", red.buf);
			else
				rc = errbuf_set(e, BL_EFAIL, "%s exited with status %d%s%s", argv->v[0],
						status, red.len ? ": " : "", red.buf);
			strbuf_release(&red);
		}
	}
	strbuf_release(&err);
	return rc;
}

/* "up -d --remove-orphans [--timeout S]". stop_grace is how long a replaced
 * container gets between SIGTERM and SIGKILL: an app that ignores SIGTERM
 * as PID 1 otherwise costs compose's default 10 s per container. */
struct up_args {
	char grace[24];
	const char *v[6];
};

static const char *const *up_args(const struct deploy_env *env, struct up_args *u)
{
	int n = 0;

	u->v[n++] = "up";
	u->v[n++] = "-d";
	u->v[n++] = "--remove-orphans";
	if (env->stop_grace_ms >= 0) {
		snprintf(u->grace, sizeof(u->grace), "%lld", (env->stop_grace_ms + 999) / 1000);
		u->v[n++] = "--timeout";
		u->v[n++] = u->grace;
	}
	u->v[n] = NULL;
	return u->v;
}

static int compose(struct run *r, const char *const *args, json_t *images, struct strbuf *out,
		   struct errbuf *e)
{
	struct strvec argv = STRVEC_INIT, vars = STRVEC_INIT;
	int rc;

	deploy_env_compose_argv(r->env, args, &argv);
	deploy_env_image_vars(images, &vars);
	/* A hung pull or up must end in a rollback, not in a held lock. */
	rc = target_run(r->env, &argv, &vars, r->env->app_dir, out, (long)r->env->compose_timeout_ms, e);
	strvec_clear(&argv);
	strvec_clear(&vars);
	return rc;
}

/* A compose command as a timed step of the run (pull, up, rollback-up). */
static int compose_step(struct run *r, const char *step, const char *what,
			const char *const *args, json_t *images, struct errbuf *e)
{
	long long t = step_begin(step, what);
	int rc = compose(r, args, images, NULL, e);

	step_end(r, step, t, rc, e);
	return rc;
}

static void hook_env(struct run *r, const char *release, struct strvec *out)
{
	strvec_pushf(out, "BALLAST_ENV=%s", r->env->name);
	strvec_pushf(out, "BALLAST_RELEASE=%s", release ? release : "");
	strvec_pushf(out, "BALLAST_PREVIOUS_RELEASE=%s", r->prev_release ? r->prev_release : "");
	strvec_pushf(out, "BALLAST_BACKUP_ID=%s", r->backup_id ? r->backup_id : "");
	strvec_pushf(out, "BALLAST_ACTION=%s", r->action);
}

static int hook(struct run *r, const char *phase, struct errbuf *e)
{
	struct strvec env = STRVEC_INIT;
	long long t;
	int rc, ran = 0;

	if (!json_object_get(r->env->hooks, phase))
		return 0;
	hook_env(r, r->release, &env);
	t = step_begin("hook", phase);
	rc = hooks_run(r->env->cfg, r->env->hooks, phase, strvec_argv(&env),
		       (long)r->env->hook_timeout_ms, &ran, e);
	{
		char name[48];

		snprintf(name, sizeof(name), "hook:%s", phase);
		step_end(r, name, t, rc, e);
	}
	strvec_clear(&env);
	return rc;
}

/* A hook whose failure must not change the outcome (after the fact). */
static void hook_warn(struct run *r, const char *phase)
{
	struct errbuf e = ERRBUF_INIT;

	if (hook(r, phase, &e))
		log_warn("%s", e.msg);
}

/* ---- migrate on the target ---- */

static int migrate_json(struct run *r, const char *const *args, json_t **result, struct errbuf *e)
{
	struct strvec argv = STRVEC_INIT;
	struct strbuf out = STRBUF_INIT;
	int rc;

	*result = NULL;
	deploy_env_migrate_argv(r->env, args, &argv);
	rc = target_run(r->env, &argv, NULL, NULL, &out, 0, e);
	if (!rc) {
		*result = deploy_result_line(out.buf);
		if (!*result)
			rc = errbuf_set(e, BL_EFAIL, "%s: no {\"event\":\"result\"} line in its --json output",
					argv.v[0]);
	}
	strvec_clear(&argv);
	strbuf_release(&out);
	return rc;
}

/* The directory migrate should read on the target: the given release's
 * uploaded directory if it is there. */
static int release_dir(struct run *r, const char *release, struct strbuf *out, struct errbuf *e)
{
	struct transport_stat st;
	struct strbuf rel = STRBUF_INIT;
	int rc;

	strbuf_reset(out);
	if (!release)
		return 0;
	strbuf_addf(&rel, "releases/%s/migrations", release);
	deploy_env_state_path(r->env, rel.buf, out);
	strbuf_release(&rel);
	rc = transport_stat(r->env->t, out->buf, &st, e);
	if (rc || !st.is_dir)
		strbuf_reset(out);
	return rc;
}

static int schema_status(struct run *r, const char *dir, long long *version, struct errbuf *e)
{
	const char *args[] = { "status", "--json", dir ? "--dir" : NULL, dir, NULL };
	json_t *res = NULL;
	int rc;

	rc = migrate_json(r, args, &res, e);
	if (rc)
		return rc;
	if (json_is_true(json_object_get(res, "dirty"))) {
		rc = errbuf_set(e, BL_EFAIL, "the schema is marked dirty at version %lld: a migration failed half-way; see 'ballast-migrate status'",
				(long long)json_integer_value(json_object_get(res, "current_version")));
	} else if (!json_is_integer(json_object_get(res, "current_version"))) {
		rc = errbuf_set(e, BL_EFAIL, "ballast-migrate status: no current_version in its result");
	} else {
		*version = json_integer_value(json_object_get(res, "current_version"));
	}
	json_decref(res);
	return rc;
}

/* ---- verify ---- */

/* The JSON objects of a `ps --format json` (compose v2 prints one object
 * per line, some 2.x versions one array) or of our `docker inspect` format
 * appended to items; anything else is skipped. */
static void ps_parse(const char *buf, json_t *items)
{
	const char *p;

	for (p = buf; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		json_t *v = len ? json_loadb(p, len, 0, NULL) : NULL;

		if (json_is_array(v))
			json_array_extend(items, v);
		else if (json_is_object(v))
			json_array_append(items, v);
		json_decref(v);
		p = nl ? nl + 1 : NULL;
	}
}

/* Compose v1 has no `ps --format json` (it prints its usage and exits 0):
 * the project's container ids from `ps -q`, then `docker inspect` of each
 * in the same shape as v2's objects. */
static int ps_v1(struct run *r, json_t *items, struct errbuf *e)
{
	static const char fmt[] =
		"{\"Service\":{{json (index .Config.Labels \"com.docker.compose.service\")}},"
		"\"State\":{{json .State.Status}},"
		"\"Health\":{{if .State.Health}}{{json .State.Health.Status}}{{else}}\"\"{{end}},"
		"\"ExitCode\":{{.State.ExitCode}}}";
	const char *args[] = { "ps", "-q", NULL };
	struct strbuf ids = STRBUF_INIT, out = STRBUF_INIT;
	struct strvec argv = STRVEC_INIT;
	size_t before = json_array_size(items);
	char *tok, *save = NULL;
	int rc;

	if ((rc = compose(r, args, r->verify_images, &ids, e)))
		goto out;
	strvec_push_json(&argv, r->env->docker_command);
	strvec_push(&argv, "inspect");
	strvec_push(&argv, "--format");
	strvec_push(&argv, fmt);
	for (tok = strtok_r(ids.buf, " \t\r\n", &save); tok; tok = strtok_r(NULL, " \t\r\n", &save))
		strvec_push(&argv, tok);
	if (argv.n == json_array_size(r->env->docker_command) + 3)
		goto out; /* nothing listed: the caller's zero-services check */
	if ((rc = target_run(r->env, &argv, NULL, r->env->app_dir, &out,
			     (long)r->env->compose_timeout_ms, e)))
		goto out;
	ps_parse(out.buf, items);
	if (json_array_size(items) == before)
		rc = errbuf_set(e, BL_EVERIFY, "%s inspect printed nothing usable for the compose containers",
				json_string_value(json_array_get(r->env->docker_command, 0)));
out:
	strvec_clear(&argv);
	strbuf_release(&ids);
	strbuf_release(&out);
	return rc;
}

/* One service as ps or inspect reported it. */
static int ps_item_check(json_t *it, struct errbuf *e)
{
	const char *svc = json_string_value(json_object_get(it, "Service"));
	const char *state = json_string_value(json_object_get(it, "State"));
	const char *health = json_string_value(json_object_get(it, "Health"));
	long long code = json_integer_value(json_object_get(it, "ExitCode"));

	if (!svc || !*svc)
		svc = json_string_value(json_object_get(it, "Name"));
	if (!svc)
		svc = "?";
	if (health && !strcmp(health, "unhealthy"))
		return errbuf_set(e, BL_EVERIFY, "compose service %s is unhealthy", svc);
	if (health && !strcmp(health, "starting"))
		return errbuf_set(e, BL_EVERIFY, "compose service %s is still starting", svc);
	if (state && (!strcmp(state, "restarting") || !strcmp(state, "dead") ||
		      (!strcmp(state, "exited") && code != 0)))
		return errbuf_set(e, BL_EVERIFY, "compose service %s is %s (exit code %lld)", svc,
				  state, code);
	return 0;
}

/* The compose services' own health: at least one listed; none unhealthy,
 * restarting, dead or exited with an error; none still "starting". */
static int ps_probe(void *ctx, struct errbuf *e)
{
	struct run *r = ctx;
	const char *args[] = { "ps", "--format", "json", NULL };
	struct strbuf out = STRBUF_INIT;
	json_t *items = json_array();
	size_t i;
	json_t *it;
	int rc;

	/* The image variables too: compose v2 validates the whole file, and an
	 * unset ${BACKEND_IMAGE} makes even `ps` fail. */
	rc = compose(r, args, r->verify_images, &out, e);
	if (!rc)
		ps_parse(out.buf, items);
	/* No JSON (compose v1, or a failed flag): ask the v1 way, which every
	 * version answers; it reports a real failure of compose itself. */
	if (rc || !json_array_size(items)) {
		errbuf_clear(e);
		if ((rc = ps_v1(r, items, e)))
			goto out;
	}
	if (!json_array_size(items)) {
		rc = errbuf_set(e, BL_EVERIFY, "compose lists no running service for %s",
				r->env->compose_file);
		goto out;
	}
	json_array_foreach(items, i, it) {
		if ((rc = ps_item_check(it, e)))
			break;
	}
out:
	json_decref(items);
	strbuf_release(&out);
	return rc;
}

static int verify(struct run *r, const char *step, json_t *images, struct errbuf *e)
{
	long long t;
	int rc;

	r->verify_images = images;
	t = step_begin(step, "health checks and compose service health");
	rc = http_wait(r->env->health, r->env->nhealth, ps_probe, r, e);
	step_end(r, step, t, rc, e);
	return rc;
}

/* ---- snapshot / restore ---- */

static const char *restore_db_name(struct deploy_env *env)
{
	const char *db = config_str(env->cfg, "migrations.database", NULL);

	if (!db)
		db = config_str(env->cfg, "databases[0].name", NULL);
	return db;
}

static int snapshot(struct run *r, struct errbuf *e)
{
	struct strvec argv = STRVEC_INIT;
	struct strbuf out = STRBUF_INIT, label = STRBUF_INIT;
	json_t *res = NULL;
	long long t;
	int rc;

	strbuf_addf(&label, "release=%s", r->release);
	{
		const char *args[] = { "run", "--label", "reason=pre-deploy", "--label", label.buf,
				       "--json", NULL };

		deploy_env_backup_argv(r->env, args, &argv);
	}
	t = step_begin("snapshot", "pre-deploy backup on the target");
	rc = target_run(r->env, &argv, NULL, NULL, &out, 0, e);
	if (!rc) {
		res = deploy_result_line(out.buf);
		if (!json_is_string(json_object_get(res, "backup_id")))
			rc = errbuf_set(e, BL_EFAIL,
					"%s run: no backup_id in its --json result: the snapshot cannot be trusted",
					argv.v[0]);
		else
			r->backup_id = strdup(json_string_value(json_object_get(res, "backup_id")));
	}
	if (!rc)
		log_info("snapshot: backup %s", r->backup_id);
	step_end(r, "snapshot", t, rc, e);
	json_decref(res);
	strvec_clear(&argv);
	strbuf_release(&out);
	strbuf_release(&label);
	return rc;
}

static int restore(struct run *r, const char *backup_id, struct errbuf *e)
{
	struct strvec argv = STRVEC_INIT;
	const char *db = restore_db_name(r->env);
	const char *args[] = { "restore", backup_id, "--clean", "--json",
			       db ? "--db" : NULL, db, NULL };
	long long t;
	int rc;

	deploy_env_backup_argv(r->env, args, &argv);
	t = step_begin("restore", backup_id);
	rc = target_run(r->env, &argv, NULL, NULL, NULL, 0, e);
	step_end(r, "restore", t, rc, e);
	if (!rc)
		r->restored = 1;
	strvec_clear(&argv);
	return rc;
}

/* The release's directory is replaced as a whole: a tag deployed again
 * with other migrations (a moving "dev" tag) must not see stale files. */
static int upload_migrations(struct run *r, struct errbuf *e)
{
	struct strbuf tmp = STRBUF_INIT;
	struct strvec rm = STRVEC_INIT;
	int rc;

	strbuf_addf(&tmp, "%s.tmp-%ld", r->remote_dir.buf, (long)getpid());
	strvec_push(&rm, "rm");
	strvec_push(&rm, "-rf");
	strvec_push(&rm, "--");
	strvec_push(&rm, tmp.buf);
	if ((rc = target_run(r->env, &rm, NULL, NULL, NULL, 60000, e)))
		goto out;
	if ((rc = transport_put_tree(r->env->t, r->local_migrations, tmp.buf, e)))
		goto out;
	free(rm.v[3]);
	rm.v[3] = strdup(r->remote_dir.buf);
	if (!rm.v[3])
		abort();
	if ((rc = target_run(r->env, &rm, NULL, NULL, NULL, 60000, e)))
		goto out;
	rc = transport_rename(r->env->t, tmp.buf, r->remote_dir.buf, e);
out:
	strvec_clear(&rm);
	strbuf_release(&tmp);
	return rc;
}

/* ---- state ---- */

static int write_pending(struct run *r, struct errbuf *e)
{
	json_t *p = json_pack("{s:s, s:O, s:s?, s:s, s:s, s:s, s:I}",
			      "release", r->release, "images", r->new_images,
			      "backup_id", r->backup_id, "started_at", r->started_at,
			      "by", deploy_whoami(), "host", deploy_hostname(),
			      "pid", (json_int_t)getpid());

	if (r->schema_known)
		json_object_set_new(p, "schema_before", json_integer(r->schema_before));
	json_object_set_new(r->state, "pending", p);
	return deploy_state_write(r->env, r->state, e);
}

static void history(struct run *r, const char *from, const char *to, json_t *images,
		    enum deploy_result res, const char *error)
{
	struct errbuf e = ERRBUF_INIT;
	char at[40];
	json_t *h;

	deploy_now_iso(at, sizeof(at));
	h = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:O, s:s, s:I}",
		      "action", r->action, "env", r->env->name, "by", deploy_whoami(),
		      "host", deploy_hostname(), "started_at", r->started_at, "finished_at", at,
		      "from", from, "to", to, "steps", r->steps, "result", deploy_result_name(res),
		      "ms", (json_int_t)(time_mono_ms() - r->t0));
	if (images)
		json_object_set(h, "images", images);
	if (r->backup_id)
		json_object_set_new(h, "backup_id", json_string(r->backup_id));
	if (r->schema_known)
		json_object_set_new(h, "schema_before", json_integer(r->schema_before));
	if (r->use_migrate || r->schema_known)
		json_object_set_new(h, "schema_after", json_integer(r->schema_after));
	if (error) {
		struct strbuf red = STRBUF_INIT;

		json_object_set_new(h, "error", json_string(log_redact_str(error, &red)));
		strbuf_release(&red);
	}
	if (r->failed_step[0])
		json_object_set_new(h, "failed_step", json_string(r->failed_step));
	if (deploy_history_append(r->env, h, &e))
		log_warn("cannot record the history: %s", e.msg);
	json_decref(h);
}

/* ---- rollback ---- */

struct target {
	const char *release;
	json_t *images;
	long long schema;
	int schema_known;
	const char *backup_id;
	const char *migrate_dir;   /* --dir for goto/plan, may be NULL */
};

static int may_restore(struct run *r, const struct target *tg)
{
	return r->env->data_restore != DEPLOY_RESTORE_NEVER && tg->backup_id && *tg->backup_id;
}

/* Schema (and data if needed) back to tg; 0 when done. */
static int rollback_schema(struct run *r, const struct target *tg, struct errbuf *e)
{
	long long current = -1, t;
	json_t *res = NULL;
	int rc = 0, refused = 0;
	struct strbuf ver = STRBUF_INIT;

	if (!tg->schema_known)
		return 0;
	if (r->env->data_restore == DEPLOY_RESTORE_ALWAYS && tg->backup_id) {
		log_info("data_restore is \"always\": restoring the pre-deploy snapshot");
		rc = restore(r, tg->backup_id, e);
		goto check;
	}
	t = step_begin("rollback-schema", "schema back to the previous release's version");
	{
		struct errbuf se = ERRBUF_INIT;

		if (schema_status(r, tg->migrate_dir, &current, &se)) {
			log_warn("schema status: %s", se.msg);
			current = -1;
		}
	}
	if (current == tg->schema) {
		log_info("rollback-schema: already at version %lld", current);
		step_end(r, "rollback-schema", t, 0, e);
		goto out;
	}
	strbuf_addf(&ver, "%lld", tg->schema);
	{
		const char *args[] = { "plan", "--to", ver.buf, "--json",
				       tg->migrate_dir ? "--dir" : NULL, tg->migrate_dir, NULL };

		rc = migrate_json(r, args, &res, e);
	}
	if (!rc && json_array_size(json_object_get(res, "irreversible"))) {
		struct strbuf list = STRBUF_INIT;
		size_t i;
		json_t *v;

		json_array_foreach(json_object_get(res, "irreversible"), i, v)
			strbuf_addf(&list, "%s%lld", list.len ? ", " : "",
				    (long long)json_integer_value(v));
		rc = errbuf_set(e, BL_EFAIL, "downgrade to version %lld refused: irreversible migration(s) %s",
				tg->schema, list.buf);
		refused = 1;
		strbuf_release(&list);
	}
	json_decref(res);
	res = NULL;
	if (!rc) {
		const char *args[] = { "goto", ver.buf, "--json",
				       tg->migrate_dir ? "--dir" : NULL, tg->migrate_dir, NULL };

		rc = migrate_json(r, args, &res, e);
		json_decref(res);
		res = NULL;
	}
	step_end(r, "rollback-schema", t, rc, e);
	if (rc) {
		if (!may_restore(r, tg)) {
			errbuf_prefix(e, "%s, and no data restore is allowed (data_restore %s%s): ",
				      refused ? "the downgrade was refused" : "the downgrade failed",
				      r->env->data_restore == DEPLOY_RESTORE_NEVER ? "never" : "if-irreversible",
				      tg->backup_id ? "" : ", no snapshot");
			goto out;
		}
		log_warn("%s; restoring the pre-deploy snapshot %s", e->msg, tg->backup_id);
		errbuf_clear(e);
		rc = restore(r, tg->backup_id, e);
	}
check:
	if (!rc && r->restored) {
		struct errbuf se = ERRBUF_INIT;

		if (schema_status(r, tg->migrate_dir, &current, &se) == 0 && current != tg->schema)
			log_warn("after the restore the schema is at version %lld, expected %lld",
				 current, tg->schema);
	}
out:
	if (!rc)
		r->schema_after = tg->schema;
	strbuf_release(&ver);
	return rc;
}

/* Bring tg back and verify it. Sets the state to tg on success. */
static int rollback_to(struct run *r, const struct target *tg, struct errbuf *e)
{
	struct up_args ua;
	struct errbuf ignore = ERRBUF_INIT;
	int rc;

	if (!tg->release || !json_object_size(tg->images))
		return errbuf_set(e, BL_EFAIL,
				  "there is no previous release to roll back to (first deploy of %s)",
				  r->env->name);
	/* A dropped ssh connection: one reconnect before giving up. */
	if (!transport_is_local(r->env->t)) {
		const char *argv[] = { "true", NULL };
		int st = 0;

		if (transport_run(r->env->t, argv, NULL, NULL, NULL, NULL, &st, 15000, &ignore)) {
			log_warn("connection to %s lost (%s); reconnecting for the rollback",
				 transport_describe(r->env->t), ignore.msg);
			if ((rc = transport_reconnect(r->env->t, e)))
				return rc;
		}
	}
	if ((rc = rollback_schema(r, tg, e)))
		return rc;
	rc = compose_step(r, "rollback-up", tg->release, up_args(r->env, &ua), tg->images, e);
	if (rc)
		return rc;
	return verify(r, "rollback-verify", tg->images, e);
}

static void state_set_release(json_t *state, const char *release, json_t *images,
			      int schema_known, long long schema)
{
	char at[40];

	deploy_now_iso(at, sizeof(at));
	json_object_set_new(state, "release", json_string(release));
	json_object_set(state, "images", images);
	if (schema_known)
		json_object_set_new(state, "schema_version", json_integer(schema));
	json_object_set_new(state, "deployed_at", json_string(at));
	json_object_set_new(state, "deployed_by", json_string(deploy_whoami()));
}

/* After a failure once something changed. */
static enum deploy_result recover(struct run *r, const struct target *tg, struct errbuf *e)
{
	struct errbuf re = ERRBUF_INIT, we = ERRBUF_INIT;
	int rc;

	rc = rollback_to(r, tg, &re);
	if (rc) {
		char first[ERRBUF_MSG_MAX];

		snprintf(first, sizeof(first), "%s", e->msg);
		errbuf_set(e, BL_EVERIFY, "failed-needs-attention: %s; then the rollback to %s failed: %s",
			   first, tg->release ? tg->release : "(none)", re.msg);
		return DEPLOY_FAILED_ATTENTION;
	}
	json_object_del(r->state, "pending");
	state_set_release(r->state, tg->release, tg->images, tg->schema_known, tg->schema);
	if (deploy_state_write(r->env, r->state, &we))
		log_error("the rollback worked but state.json could not be written: %s", we.msg);
	return r->restored ? DEPLOY_ROLLED_BACK_RESTORE : DEPLOY_ROLLED_BACK;
}

/* ---- preflight ---- */

static void check_add(json_t *checks, const char *name, int ok, const char *detail)
{
	json_t *o = json_pack("{s:s, s:b, s:s}", "check", name, "ok", ok, "detail", detail);

	if (ok)
		log_info("check %s: %s", name, detail);
	else
		log_error("check %s: %s", name, detail);
	json_array_append_new(checks, o);
}

static int check_file(struct run *r, json_t *checks, const char *name, const char *rel, int dir)
{
	struct strbuf path = STRBUF_INIT, d = STRBUF_INIT;
	struct transport_stat st;
	struct errbuf e = ERRBUF_INIT;
	int ok;

	deploy_env_path(r->env, rel, &path);
	if (transport_stat(r->env->t, path.buf, &st, &e)) {
		strbuf_addstr(&d, e.msg);
		ok = 0;
	} else if (!st.exists) {
		strbuf_addf(&d, "%s: missing", path.buf);
		ok = 0;
	} else if (dir && !st.is_dir) {
		strbuf_addf(&d, "%s: not a directory", path.buf);
		ok = 0;
	} else if (!dir && st.is_dir) {
		strbuf_addf(&d, "%s: a directory, expected a file", path.buf);
		ok = 0;
	} else {
		strbuf_addf(&d, "%s", path.buf);
		ok = 1;
	}
	check_add(checks, name, ok, d.buf);
	strbuf_release(&path);
	strbuf_release(&d);
	return ok;
}

static int check_free(struct run *r, json_t *checks)
{
	struct strvec argv = STRVEC_INIT;
	struct strbuf out = STRBUF_INIT, d = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	long long avail_kb = -1;
	int ok = 0;

	strvec_push(&argv, "df");
	strvec_push(&argv, "-Pk");
	strvec_push(&argv, r->env->app_dir);
	if (target_run(r->env, &argv, NULL, NULL, &out, 30000, &e)) {
		strbuf_addstr(&d, e.msg);
	} else {
		/* POSIX df -P: header, then "fs blocks used avail capacity mount". */
		const char *line = strchr(out.buf, '\n');
		char fs[512];
		long long blocks, used;

		if (line && sscanf(line + 1, "%511s %lld %lld %lld", fs, &blocks, &used, &avail_kb) == 4) {
			ok = avail_kb * 1024 >= r->env->min_free_bytes;
			strbuf_addf(&d, "%.1f MiB free in %s (need %.1f MiB)", avail_kb / 1024.0,
				    r->env->app_dir, r->env->min_free_bytes / 1048576.0);
		} else {
			strbuf_addf(&d, "cannot read the output of df -Pk %s", r->env->app_dir);
		}
	}
	check_add(checks, "disk-space", ok, d.buf);
	strvec_clear(&argv);
	strbuf_release(&out);
	strbuf_release(&d);
	return ok;
}

static int check_tool(struct run *r, json_t *checks, const char *name, json_t *prefix,
		      int compose_cmd)
{
	struct strvec argv = STRVEC_INIT;
	struct strbuf out = STRBUF_INIT, d = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	int ok;

	if (compose_cmd) {
		/* "compose version" rather than a flag: the one form docker
		 * compose, docker-compose and podman compose all take. */
		const char *args[] = { "version", NULL };

		deploy_env_compose_argv(r->env, args, &argv);
	} else {
		strvec_push_json(&argv, prefix);
		strvec_push(&argv, "--version");
	}
	ok = target_run(r->env, &argv, NULL, compose_cmd ? r->env->app_dir : NULL, &out, 30000,
			&e) == 0;
	strbuf_rtrim(&out);
	if (ok)
		strbuf_addf(&d, "%s", out.len ? out.buf : argv.v[0]);
	else
		strbuf_addstr(&d, e.msg);
	check_add(checks, name, ok, d.buf);
	strvec_clear(&argv);
	strbuf_release(&out);
	strbuf_release(&d);
	return ok;
}

/* "lint": true: the compose file on the target must pass the hardening
 * rules (compose_lint), read through the transport. */
static int check_lint(struct run *r, json_t *checks)
{
	struct strbuf path = STRBUF_INIT, text = STRBUF_INIT, d = STRBUF_INIT;
	struct compose_lint cl = COMPOSE_LINT_INIT;
	struct errbuf e = ERRBUF_INIT;
	int exists = 0, ok = 0;

	deploy_env_path(r->env, r->env->compose_file, &path);
	if (transport_read_file(r->env->t, path.buf, &text, COMPOSE_LINT_MAX_BYTES, &exists, &e)) {
		strbuf_addstr(&d, e.msg);
	} else if (!exists) {
		strbuf_addf(&d, "%s: missing", path.buf);
	} else if (compose_lint_string(text.buf, text.len, path.buf, &cl, &e)) {
		strbuf_addf(&d, "%s (see 'ballast-deploy lint %s')", e.msg, r->env->name);
	} else {
		strbuf_addf(&d, "%s: %zu services pass the hardening rules", path.buf, cl.services);
		ok = 1;
	}
	check_add(checks, "lint", ok, d.buf);
	compose_lint_release(&cl);
	strbuf_release(&path);
	strbuf_release(&text);
	strbuf_release(&d);
	return ok;
}

/* Every preflight check; fills r->schema_before. Returns 0 when all pass;
 * current health only warns (deploying a fix to a broken release is what
 * deploys are for) and is reported as its own status. */
static int preflight(struct run *r, json_t *checks, int *health_ok, struct errbuf *e)
{
	struct strbuf d = STRBUF_INIT, dir = STRBUF_INIT;
	int ok = 1;
	const char *cur = json_string_value(json_object_get(r->state, "release"));

	*health_ok = 1;
	check_add(checks, "connect", 1, transport_describe(r->env->t));
	ok &= check_file(r, checks, "app-dir", r->env->app_dir, 1);
	if (ok) {
		ok &= check_file(r, checks, "compose-file", r->env->compose_file, 0);
		if (r->env->env_file)
			ok &= check_file(r, checks, "env-file", r->env->env_file, 0);
		if (json_is_true(json_object_get(r->env->node, "lint")))
			ok &= check_lint(r, checks);
		ok &= check_free(r, checks);
		ok &= check_tool(r, checks, "compose", r->env->compose_command, 1);
		if (r->env->snapshot || r->env->data_restore != DEPLOY_RESTORE_NEVER)
			ok &= check_tool(r, checks, "ballast-backup", r->env->backup_command, 0);
		if (r->use_migrate) {
			if (check_tool(r, checks, "ballast-migrate", r->env->migrate_command, 0)) {
				struct errbuf se = ERRBUF_INIT;

				if (release_dir(r, cur, &dir, &se) == 0 &&
				    schema_status(r, dir.len ? dir.buf : NULL, &r->schema_before, &se) == 0) {
					r->schema_known = 1;
					strbuf_reset(&d);
					strbuf_addf(&d, "version %lld", r->schema_before);
					check_add(checks, "schema", 1, d.buf);
				} else {
					check_add(checks, "schema", 0, se.msg);
					ok = 0;
				}
			} else {
				ok = 0;
			}
		}
	}
	if (ok && cur && r->env->nhealth) {
		for (size_t i = 0; i < r->env->nhealth; i++) {
			struct errbuf he = ERRBUF_INIT;
			long st;

			strbuf_reset(&d);
			if (http_probe(&r->env->health[i], &st, &he)) {
				strbuf_addf(&d, "%s is not healthy now: %s", cur, he.msg);
				*health_ok = 0;
				log_warn("check current-health: %s", d.buf);
				json_array_append_new(checks, json_pack("{s:s, s:b, s:s}", "check",
									"current-health", 0, "detail", d.buf));
			} else {
				strbuf_addf(&d, "%s answers %ld at %s", cur, st, r->env->health[i].url);
				check_add(checks, "current-health", 1, d.buf);
			}
		}
	}
	if (!ok) {
		size_t i;
		json_t *c;

		json_array_foreach(checks, i, c)
			if (!json_is_true(json_object_get(c, "ok")) &&
			    strcmp(json_string_value(json_object_get(c, "check")), "current-health")) {
				errbuf_set(e, BL_EFAIL, "preflight %s: %s",
					   json_string_value(json_object_get(c, "check")),
					   json_string_value(json_object_get(c, "detail")));
				break;
			}
	}
	strbuf_release(&d);
	strbuf_release(&dir);
	return ok ? 0 : BL_EFAIL;
}

int deploy_local_migrations(struct deploy_env *env, const char *explicit_dir, char **dir,
			    struct errbuf *e)
{
	struct strbuf sb = STRBUF_INIT;
	const char *conf = json_string_value(json_object_get(env->node, "migrations_dir"));
	struct stat st;

	*dir = NULL;
	if (explicit_dir) {
		if (stat(explicit_dir, &st) || !S_ISDIR(st.st_mode))
			return errbuf_set(e, BL_EUSAGE, "--migrations %s: not a directory", explicit_dir);
		*dir = strdup(explicit_dir);
		return 0;
	}
	if (!conf)
		conf = config_str(env->cfg, "migrations.dir", NULL);
	if (!conf)
		return 0;
	config_path(env->cfg, conf, &sb);
	if (stat(sb.buf, &st) || !S_ISDIR(st.st_mode)) {
		int rc = errbuf_set(e, BL_EUSAGE,
				    "%s: migrations directory %s (from the config) is missing; give --migrations DIR",
				    env->cfg->path, sb.buf);

		strbuf_release(&sb);
		return rc;
	}
	*dir = strbuf_detach(&sb, NULL);
	return 0;
}

int deploy_preflight_report(struct deploy_env *env, const char *release, json_t *checks,
			    struct errbuf *e)
{
	struct run r;
	int rc, health_ok = 1;

	run_init(&r, env, "check");
	r.release = release;
	if ((rc = deploy_state_read(env, &r.state, e)))
		goto out;
	if ((rc = deploy_local_migrations(env, NULL, &r.local_migrations, e)))
		goto out;
	r.use_migrate = r.local_migrations != NULL;
	rc = preflight(&r, checks, &health_ok, e);
	if (!rc && !health_ok)
		rc = errbuf_set(e, BL_EVERIFY, "environment %s: the current release is not healthy",
				env->name);
out:
	run_release(&r);
	return rc;
}

/* ---- deploy ---- */

static void finish_line(struct run *r, enum deploy_result res, const char *error)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:I, s:O}",
			      "event", "result", "result", deploy_result_name(res),
			      "env", r->env->name, "release", r->release,
			      "previous_release", r->prev_release, "backup_id", r->backup_id,
			      "ms", (json_int_t)(time_mono_ms() - r->t0), "steps", r->steps);
	if (r->schema_known) {
		json_object_set_new(o, "schema_before", json_integer(r->schema_before));
		json_object_set_new(o, "schema_after", json_integer(r->schema_after));
	}
	if (error) {
		struct strbuf red = STRBUF_INIT;

		json_object_set_new(o, "error", json_string(log_redact_str(error, &red)));
		strbuf_release(&red);
	}
	if (log_json()) {
		log_json_result(o);
	} else if (res == DEPLOY_DEPLOYED) {
		printf("deployed: %s is on %s (was %s)", r->env->name, r->release,
		       r->prev_release ? r->prev_release : "nothing");
		if (r->schema_known)
			printf(", schema %lld -> %lld", r->schema_before, r->schema_after);
		if (r->backup_id)
			printf(", snapshot %s", r->backup_id);
		printf(", %.1fs\n", (time_mono_ms() - r->t0) / 1000.0);
		fflush(stdout);
	}
	json_decref(o);
}

/* A pending record means an earlier run changed things and never finished:
 * bring back the release it left. */
static int complete_pending(struct run *outer, enum deploy_result *res, struct errbuf *e)
{
	json_t *pending = json_object_get(outer->state, "pending");
	/* copies: recover() rewrites the state these strings live in */
	char *cur = json_is_string(json_object_get(outer->state, "release")) ?
		strdup(json_string_value(json_object_get(outer->state, "release"))) : NULL;
	char *pend_rel = json_is_string(json_object_get(pending, "release")) ?
		strdup(json_string_value(json_object_get(pending, "release"))) : NULL;
	json_t *images = json_incref(json_object_get(outer->state, "images"));
	struct run r;
	struct target tg;
	struct strbuf dir = STRBUF_INIT;
	int rc = 0;

	run_init(&r, outer->env, "recover");
	r.state = json_incref(outer->state);
	r.release = cur;
	r.prev_release = pend_rel ? strdup(pend_rel) : NULL;
	if (json_is_string(json_object_get(pending, "backup_id")))
		r.backup_id = strdup(json_string_value(json_object_get(pending, "backup_id")));
	log_warn("environment %s: the deploy of %s started %s by %s did not finish; rolling back to %s first",
		 r.env->name, pend_rel ? pend_rel : "?",
		 json_is_string(json_object_get(pending, "started_at")) ?
		 json_string_value(json_object_get(pending, "started_at")) : "?",
		 json_is_string(json_object_get(pending, "by")) ?
		 json_string_value(json_object_get(pending, "by")) : "?", cur ? cur : "(none)");
	memset(&tg, 0, sizeof(tg));
	tg.release = cur;
	tg.images = images;
	tg.backup_id = r.backup_id;
	if (json_is_integer(json_object_get(pending, "schema_before"))) {
		tg.schema = json_integer_value(json_object_get(pending, "schema_before"));
		tg.schema_known = 1;
		r.schema_known = 1;
		r.use_migrate = 1;
		/* the pending release's migrations hold the down SQL's context */
		if ((rc = release_dir(&r, pend_rel, &dir, e)))
			goto out;
		if (!dir.len && (rc = release_dir(&r, cur, &dir, e)))
			goto out;
		tg.migrate_dir = dir.len ? dir.buf : NULL;
		{
			struct errbuf se = ERRBUF_INIT;

			if (schema_status(&r, tg.migrate_dir, &r.schema_before, &se))
				r.schema_before = tg.schema;
		}
	}
	errbuf_set(e, BL_EFAIL, "the deploy of %s was interrupted", pend_rel ? pend_rel : "?");
	*res = recover(&r, &tg, e);
	history(&r, pend_rel, cur, tg.images, *res, *res == DEPLOY_FAILED_ATTENTION ? e->msg : NULL);
	if (*res == DEPLOY_FAILED_ATTENTION) {
		rc = BL_EVERIFY;
		goto out;
	}
	errbuf_clear(e);
	hook_warn(&r, "post-rollback");
	log_info("environment %s: recovered: %s is back on %s", r.env->name, r.env->name, cur);
	/* hand the refreshed state back */
	json_decref(outer->state);
	outer->state = json_incref(r.state);
	json_array_extend(outer->steps, r.steps);
out:
	strbuf_release(&dir);
	run_release(&r);
	json_decref(images);
	free(cur);
	free(pend_rel);
	return rc;
}

int deploy_run(struct deploy_env *env, const struct deploy_opts *o, enum deploy_result *result,
	       struct errbuf *e)
{
	const char *pull[] = { "pull", NULL };
	struct up_args ua;
	struct run r;
	struct target tg;
	struct strbuf lockmsg = STRBUF_INIT, prevdir = STRBUF_INIT;
	json_t *checks = json_array();
	enum deploy_result res = DEPLOY_ABORTED;
	long long t;
	int rc, health_ok;

	*result = DEPLOY_ABORTED;
	run_init(&r, env, "deploy");
	r.release = o->release;
	if ((rc = deploy_local_migrations(env, o->migrations_dir, &r.local_migrations, e)))
		goto done;
	r.use_migrate = r.local_migrations != NULL;
	r.new_images = deploy_env_images_for(env, o->release);

	strbuf_addf(&lockmsg, "deploy %s", o->release);
	t = step_begin("lock", env->name);
	rc = deploy_lock_acquire(env, &r.lock, "deploy", lockmsg.buf, env->lock_ttl_ms,
				 o->lock_wait_ms, 0, e);
	step_end(&r, "lock", t, rc, e);
	if (rc)
		goto done;
	if ((rc = deploy_state_read(env, &r.state, e)))
		goto unlock;
	if (json_object_get(r.state, "pending")) {
		enum deploy_result pres;

		if ((rc = complete_pending(&r, &pres, e))) {
			res = pres;
			goto unlock;
		}
	}
	if (json_is_string(json_object_get(r.state, "release")))
		r.prev_release = strdup(json_string_value(json_object_get(r.state, "release")));
	r.prev_images = json_incref(json_object_get(r.state, "images"));

	if ((rc = hook(&r, "pre-deploy", e)))
		goto failed;
	t = step_begin("preflight", transport_describe(env->t));
	rc = preflight(&r, checks, &health_ok, e);
	step_end(&r, "preflight", t, rc, e);
	if (rc)
		goto failed;
	if (interrupt_signal)
		goto interrupted;
	if (env->snapshot) {
		if ((rc = snapshot(&r, e)))
			goto failed;
		if ((rc = hook(&r, "post-snapshot", e)))
			goto failed;
	}
	if (r.use_migrate) {
		struct strbuf rel = STRBUF_INIT;

		strbuf_addf(&rel, "releases/%s/migrations", o->release);
		deploy_env_state_path(env, rel.buf, &r.remote_dir);
		strbuf_release(&rel);
		t = step_begin("upload", r.remote_dir.buf);
		rc = upload_migrations(&r, e);
		step_end(&r, "upload", t, rc, e);
		if (rc)
			goto failed;
	}
	if (interrupt_signal)
		goto interrupted;
	if ((rc = compose_step(&r, "pull", o->release, pull, r.new_images, e)))
		goto failed;
	if ((rc = hook(&r, "pre-up", e)))
		goto failed;
	if (interrupt_signal)
		goto interrupted;

	/* From here on the environment changes. */
	if ((rc = write_pending(&r, e)))
		goto failed;
	r.changed = 1;
	if (r.use_migrate) {
		const char *args[] = { "up", "--release", o->release, "--dir", r.remote_dir.buf,
				       "--json", NULL };
		json_t *mres = NULL;

		t = step_begin("migrate", o->release);
		rc = migrate_json(&r, args, &mres, e);
		if (!rc) {
			r.schema_after = json_integer_value(json_object_get(mres, "to"));
			log_info("migrate: schema %lld -> %lld", r.schema_before, r.schema_after);
		}
		json_decref(mres);
		step_end(&r, "migrate", t, rc, e);
		if (rc)
			goto failed;
	}
	if (interrupt_signal)
		goto interrupted;
	if ((rc = compose_step(&r, "up", o->release, up_args(env, &ua), r.new_images, e)))
		goto failed;
	if ((rc = verify(&r, "verify", r.new_images, e)))
		goto failed;

	/* record */
	t = step_begin("record", "state.json and history.jsonl");
	json_object_del(r.state, "pending");
	/* Redeploying the running release keeps the older one as "previous",
	 * so that a rollback still has somewhere to go. */
	if (!r.prev_release || strcmp(r.prev_release, o->release)) {
		if (r.prev_release)
			json_object_set_new(r.state, "previous_release", json_string(r.prev_release));
		if (r.prev_images)
			json_object_set(r.state, "previous_images", r.prev_images);
		if (json_is_integer(json_object_get(r.state, "schema_version")))
			json_object_set(r.state, "previous_schema_version",
					json_object_get(r.state, "schema_version"));
		if (r.backup_id)
			json_object_set_new(r.state, "backup_id", json_string(r.backup_id));
		else
			json_object_del(r.state, "backup_id");
	}
	state_set_release(r.state, o->release, r.new_images, r.use_migrate, r.schema_after);
	rc = deploy_state_write(env, r.state, e);
	step_end(&r, "record", t, rc, e);
	if (rc)
		goto failed;
	res = DEPLOY_DEPLOYED;
	history(&r, r.prev_release, o->release, r.new_images, res, NULL);
	hook_warn(&r, "post-verify");
	goto unlock;

interrupted:
	rc = interrupt_check(e);
failed:
	hook_warn(&r, "on-failure");
	if (!r.changed) {
		res = DEPLOY_ABORTED;
		history(&r, r.prev_release, o->release, r.new_images, res, e->msg);
		errbuf_prefix(e, "aborted, nothing was changed: ");
		goto unlock;
	}
	if (!env->rollback_on_failure) {
		res = DEPLOY_FAILED_ATTENTION;
		errbuf_prefix(e, "failed-needs-attention (on_failure is \"none\"): ");
		history(&r, r.prev_release, o->release, r.new_images, res, e->msg);
		goto unlock;
	}
	log_warn("deploy of %s failed at %s; rolling back to %s", o->release, r.failed_step,
		 r.prev_release ? r.prev_release : "(none)");
	memset(&tg, 0, sizeof(tg));
	tg.release = r.prev_release;
	tg.images = r.prev_images;
	tg.schema = r.schema_before;
	tg.schema_known = r.schema_known;
	tg.backup_id = r.backup_id;
	tg.migrate_dir = r.remote_dir.len ? r.remote_dir.buf : NULL;
	{
		/* A signal already delivered must not stop the rollback itself. */
		int sig = interrupt_hold();
		char first[ERRBUF_MSG_MAX];

		snprintf(first, sizeof(first), "%s", e->msg);
		res = recover(&r, &tg, e);
		if (res != DEPLOY_FAILED_ATTENTION)
			errbuf_set(e, BL_EFAIL, "%s: %s failed at %s (%s); %s is back on %s%s",
				   deploy_result_name(res), o->release, r.failed_step, first, env->name,
				   tg.release, res == DEPLOY_ROLLED_BACK_RESTORE ?
				   ", data restored from the pre-deploy snapshot" : "");
		interrupt_resume(sig);
	}
	/* from/to: what was attempted; the result says where it ended */
	history(&r, r.prev_release, o->release, r.new_images, res, e->msg);
	if (res != DEPLOY_FAILED_ATTENTION)
		hook_warn(&r, "post-rollback");
unlock:
	if (r.lock.held) {
		struct errbuf le = ERRBUF_INIT;

		if (deploy_lock_release(env, &r.lock, 0, &le))
			log_error("cannot release the lock: %s", le.msg);
	}
	if (rc || res != DEPLOY_DEPLOYED)
		finish_line(&r, res, e->msg);
	else
		finish_line(&r, res, NULL);
done:
	*result = res;
	json_decref(checks);
	strbuf_release(&lockmsg);
	strbuf_release(&prevdir);
	run_release(&r);
	if (res == DEPLOY_DEPLOYED)
		return 0;
	return deploy_result_status(res, rc ? rc : e->code);
}

/* ---- rollback (the command) ---- */

/* Images and schema version a release ran with, from the history (newest
 * first), else from state.json's previous_* members. */
static int find_release(struct deploy_env *env, json_t *state, const char *release,
			json_t **images, long long *schema, int *schema_known, struct errbuf *e)
{
	json_t *hist = NULL, *h;
	size_t i;
	int rc;

	*images = NULL;
	*schema_known = 0;
	if ((rc = deploy_history_read(env, &hist, e)))
		return rc;
	for (i = json_array_size(hist); i-- > 0;) {
		const char *res, *to;

		h = json_array_get(hist, i);
		res = json_string_value(json_object_get(h, "result"));
		to = json_string_value(json_object_get(h, "to"));
		if (!res || !to || strcmp(to, release) || !json_object_size(json_object_get(h, "images")))
			continue;
		/* a deploy entry's images are the release it tried; only a
		 * deployed one ran them. A rollback or recovery entry's are the
		 * release it went back to. */
		if (!json_is_string(json_object_get(h, "action")) ||
		    (!strcmp(json_string_value(json_object_get(h, "action")), "deploy") ?
		     strcmp(res, "deployed") :
		     strncmp(res, "rolled-back", 11)))
			continue;
		*images = json_incref(json_object_get(h, "images"));
		if (json_is_integer(json_object_get(h, "schema_after"))) {
			*schema = json_integer_value(json_object_get(h, "schema_after"));
			*schema_known = 1;
		}
		break;
	}
	if (!*images && json_is_string(json_object_get(state, "previous_release")) &&
	    !strcmp(json_string_value(json_object_get(state, "previous_release")), release) &&
	    json_object_size(json_object_get(state, "previous_images"))) {
		*images = json_incref(json_object_get(state, "previous_images"));
		if (json_is_integer(json_object_get(state, "previous_schema_version"))) {
			*schema = json_integer_value(json_object_get(state, "previous_schema_version"));
			*schema_known = 1;
		}
	}
	json_decref(hist);
	if (!*images)
		return errbuf_set(e, BL_EUSAGE,
				  "environment %s: release %s was never deployed here (see 'ballast-deploy history %s')",
				  env->name, release, env->name);
	return 0;
}

int deploy_rollback(struct deploy_env *env, const struct deploy_opts *o,
		    enum deploy_result *result, struct errbuf *e)
{
	struct run r;
	struct target tg;
	struct strbuf dir = STRBUF_INIT;
	json_t *images = NULL, *cur_images;
	const char *cur, *to;
	char *cur_s = NULL, *to_s = NULL;
	enum deploy_result res = DEPLOY_ABORTED;
	long long t, schema = 0;
	int rc, schema_known = 0;

	*result = DEPLOY_ABORTED;
	run_init(&r, env, "rollback");
	t = step_begin("lock", env->name);
	rc = deploy_lock_acquire(env, &r.lock, "rollback", o->release ? o->release : "rollback",
				 env->lock_ttl_ms, o->lock_wait_ms, 0, e);
	step_end(&r, "lock", t, rc, e);
	if (rc)
		goto done;
	if ((rc = deploy_state_read(env, &r.state, e)))
		goto unlock;
	if (json_object_get(r.state, "pending")) {
		if ((rc = complete_pending(&r, &res, e)))
			goto unlock;
		cur = json_string_value(json_object_get(r.state, "release"));
		if (!o->release || (cur && !strcmp(o->release, cur))) {
			cur_s = cur ? strdup(cur) : NULL;
			r.release = cur_s;
			goto unlock;
		}
		res = DEPLOY_ABORTED;
	}
	cur_s = json_is_string(json_object_get(r.state, "release")) ?
		strdup(json_string_value(json_object_get(r.state, "release"))) : NULL;
	to_s = o->release ? strdup(o->release) :
	       json_is_string(json_object_get(r.state, "previous_release")) ?
	       strdup(json_string_value(json_object_get(r.state, "previous_release"))) : NULL;
	/* copies: the state object is rewritten below */
	cur = cur_s;
	to = to_s;
	if (!cur) {
		rc = errbuf_set(e, BL_EUSAGE, "environment %s: nothing was deployed here yet", env->name);
		goto unlock;
	}
	if (!to) {
		rc = errbuf_set(e, BL_EUSAGE, "environment %s: no previous release recorded; give --to RELEASE",
				env->name);
		goto unlock;
	}
	if (!strcmp(cur, to)) {
		log_info("environment %s is already on %s", env->name, to);
		r.release = to;
		res = DEPLOY_ROLLED_BACK;
		goto unlock;
	}
	if ((rc = find_release(env, r.state, to, &images, &schema, &schema_known, e)))
		goto unlock;
	r.release = to;
	r.prev_release = strdup(cur);
	cur_images = json_object_get(r.state, "images");
	r.prev_images = json_incref(cur_images);
	if (json_is_string(json_object_get(r.state, "previous_release")) &&
	    !strcmp(json_string_value(json_object_get(r.state, "previous_release")), to) &&
	    json_is_string(json_object_get(r.state, "backup_id")))
		r.backup_id = strdup(json_string_value(json_object_get(r.state, "backup_id")));
	if (json_is_integer(json_object_get(r.state, "schema_version"))) {
		r.schema_before = json_integer_value(json_object_get(r.state, "schema_version"));
		r.schema_known = schema_known;
	}
	if ((rc = release_dir(&r, cur, &dir, e)))
		goto unlock;
	if (!dir.len && (rc = release_dir(&r, to, &dir, e)))
		goto unlock;
	memset(&tg, 0, sizeof(tg));
	tg.release = to;
	tg.images = images;
	tg.schema = schema;
	tg.schema_known = schema_known;
	tg.backup_id = r.backup_id;
	tg.migrate_dir = dir.len ? dir.buf : NULL;
	log_info("rolling %s back from %s to %s", env->name, cur, to);
	rc = rollback_to(&r, &tg, e);
	if (rc) {
		res = DEPLOY_FAILED_ATTENTION;
		errbuf_prefix(e, "failed-needs-attention: rollback of %s to %s: ", env->name, to);
		rc = BL_EVERIFY;
		history(&r, cur, to, images, res, e->msg);
		goto unlock;
	}
	res = r.restored ? DEPLOY_ROLLED_BACK_RESTORE : DEPLOY_ROLLED_BACK;
	json_object_set_new(r.state, "previous_release", json_string(cur));
	json_object_set(r.state, "previous_images", cur_images);
	if (json_is_integer(json_object_get(r.state, "schema_version")))
		json_object_set(r.state, "previous_schema_version",
				json_object_get(r.state, "schema_version"));
	json_object_del(r.state, "backup_id");
	state_set_release(r.state, to, images, schema_known, schema);
	if ((rc = deploy_state_write(env, r.state, e))) {
		res = DEPLOY_FAILED_ATTENTION;
		errbuf_prefix(e, "failed-needs-attention: %s runs %s but state.json was not updated: ",
			      env->name, to);
		rc = BL_EVERIFY;
	}
	history(&r, cur, to, images, res, rc ? e->msg : NULL);
	if (!rc)
		hook_warn(&r, "post-rollback");
unlock:
	if (r.lock.held) {
		struct errbuf le = ERRBUF_INIT;

		if (deploy_lock_release(env, &r.lock, 0, &le))
			log_error("cannot release the lock: %s", le.msg);
	}
	if (res != DEPLOY_ABORTED) {
		json_t *out = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:I, s:O}", "event", "result",
					"result", deploy_result_name(res), "env", env->name,
					"release", r.release, "previous_release", r.prev_release,
					"backup_id", r.backup_id,
					"ms", (json_int_t)(time_mono_ms() - r.t0), "steps", r.steps);

		if (rc)
			json_object_set_new(out, "error", json_string(e->msg));
		if (log_json())
			log_json_result(out);
		else if (!rc)
			printf("%s: %s is on %s%s\n", deploy_result_name(res), env->name, r.release,
			       r.restored ? " (data restored from the pre-deploy snapshot)" : "");
		fflush(stdout);
		json_decref(out);
	}
done:
	*result = res;
	free(cur_s);
	free(to_s);
	json_decref(images);
	strbuf_release(&dir);
	run_release(&r);
	return rc;
}

/* ---- plan ---- */

static void plan_add(struct deploy_env *env, json_t *plan, const char *step, const char *what,
		     struct strvec *argv, struct strvec *vars, const char *dir)
{
	json_t *o = json_pack("{s:s, s:s}", "step", step, "what", what);

	if (argv) {
		struct strbuf sb = STRBUF_INIT;

		transport_render(env->t, strvec_argv(argv), vars ? strvec_argv(vars) : NULL, dir, &sb);
		json_object_set_new(o, "command", json_string(sb.buf));
		strbuf_release(&sb);
	}
	json_array_append_new(plan, o);
}

static void plan_hooks(struct deploy_env *env, json_t *plan, const char *phase)
{
	json_t *v = json_object_get(env->hooks, phase), *it;
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	if (!v)
		return;
	if (json_is_string(v)) {
		config_path(env->cfg, json_string_value(v), &sb);
		plan_add(env, plan, "hook", phase, NULL, NULL, NULL);
		json_object_set_new(json_array_get(plan, json_array_size(plan) - 1), "command",
				    json_string(sb.buf));
	} else {
		json_array_foreach(v, i, it) {
			config_path(env->cfg, json_string_value(it), &sb);
			plan_add(env, plan, "hook", phase, NULL, NULL, NULL);
			json_object_set_new(json_array_get(plan, json_array_size(plan) - 1), "command",
					    json_string(sb.buf));
		}
	}
	strbuf_release(&sb);
}

static void plan_compose(struct deploy_env *env, json_t *plan, const char *step, const char *what,
			 const char *const *args, json_t *images)
{
	struct strvec argv = STRVEC_INIT, vars = STRVEC_INIT;

	deploy_env_compose_argv(env, args, &argv);
	deploy_env_image_vars(images, &vars);
	plan_add(env, plan, step, what, &argv, &vars, env->app_dir);
	strvec_clear(&argv);
	strvec_clear(&vars);
}

static void plan_tool(struct deploy_env *env, json_t *plan, const char *step, const char *what,
		      int backup, const char *const *args)
{
	struct strvec argv = STRVEC_INIT;

	if (backup)
		deploy_env_backup_argv(env, args, &argv);
	else
		deploy_env_migrate_argv(env, args, &argv);
	plan_add(env, plan, step, what, &argv, NULL, NULL);
	strvec_clear(&argv);
}

int deploy_plan(struct deploy_env *env, const struct deploy_opts *o, json_t *plan,
		struct errbuf *e)
{
	struct strbuf sb = STRBUF_INIT, remote = STRBUF_INIT, ver = STRBUF_INIT;
	json_t *state = NULL, *images = NULL, *prev_images;
	const char *cur, *db = restore_db_name(env);
	struct up_args ua;
	char *local = NULL;
	int rc;

	if ((rc = deploy_state_read(env, &state, e)))
		goto out;
	if ((rc = deploy_local_migrations(env, o->migrations_dir, &local, e)))
		goto out;
	cur = json_string_value(json_object_get(state, "release"));
	prev_images = json_object_get(state, "images");
	images = deploy_env_images_for(env, o->release);
	deploy_env_state_path(env, "lock", &sb);
	plan_add(env, plan, "lock", sb.buf, NULL, NULL, NULL);
	if (json_object_get(state, "pending")) {
		strbuf_reset(&sb);
		strbuf_addf(&sb, "an earlier deploy of %s did not finish: roll back to %s first",
			    json_string_value(json_object_get(json_object_get(state, "pending"), "release")),
			    cur ? cur : "(none)");
		plan_add(env, plan, "recover", sb.buf, NULL, NULL, NULL);
	}
	plan_hooks(env, plan, "pre-deploy");
	strbuf_reset(&sb);
	strbuf_addf(&sb, "%s: %s, %s%s%s, free space >= %.0f MiB", transport_describe(env->t),
		    env->app_dir, env->compose_file, env->env_file ? ", " : "",
		    env->env_file ? env->env_file : "", env->min_free_bytes / 1048576.0);
	plan_add(env, plan, "preflight", sb.buf, NULL, NULL, NULL);
	{
		struct strvec argv = STRVEC_INIT;
		const char *vargs[] = { "version", NULL };

		strvec_push(&argv, "df");
		strvec_push(&argv, "-Pk");
		strvec_push(&argv, env->app_dir);
		plan_add(env, plan, "preflight", "disk space", &argv, NULL, NULL);
		strvec_clear(&argv);
		plan_compose(env, plan, "preflight", "compose present", vargs, NULL);
	}
	if (env->snapshot || env->data_restore != DEPLOY_RESTORE_NEVER) {
		const char *a[] = { "--version", NULL };
		struct strvec argv = STRVEC_INIT;

		strvec_push_json(&argv, env->backup_command);
		strvec_push(&argv, a[0]);
		plan_add(env, plan, "preflight", "ballast-backup present", &argv, NULL, NULL);
		strvec_clear(&argv);
	}
	if (local) {
		const char *a[] = { "status", "--json", NULL };

		plan_tool(env, plan, "preflight", "schema version", 0, a);
	}
	if (cur && env->nhealth)
		plan_add(env, plan, "preflight", "current release's health (warning only)", NULL, NULL,
			 NULL);
	if (env->snapshot) {
		struct strbuf label = STRBUF_INIT;
		const char *a[] = { "run", "--label", "reason=pre-deploy", "--label", NULL, "--json",
				    NULL };

		strbuf_addf(&label, "release=%s", o->release);
		a[4] = label.buf;
		plan_tool(env, plan, "snapshot", "pre-deploy backup", 1, a);
		strbuf_release(&label);
		plan_hooks(env, plan, "post-snapshot");
	}
	if (local) {
		strbuf_addf(&ver, "releases/%s/migrations", o->release);
		deploy_env_state_path(env, ver.buf, &remote);
		strbuf_reset(&sb);
		strbuf_addf(&sb, "%s -> %s", local, remote.buf);
		plan_add(env, plan, "upload", sb.buf, NULL, NULL, NULL);
	}
	plan_compose(env, plan, "pull", o->release, (const char *const[]){ "pull", NULL }, images);
	plan_hooks(env, plan, "pre-up");
	if (local) {
		const char *a[] = { "up", "--release", o->release, "--dir", remote.buf, "--json", NULL };

		plan_tool(env, plan, "migrate", o->release, 0, a);
	}
	plan_compose(env, plan, "up", o->release, up_args(env, &ua), images);
	for (size_t i = 0; i < env->nhealth; i++) {
		const struct http_check *c = &env->health[i];

		strbuf_reset(&sb);
		strbuf_addf(&sb, "GET %s expecting %ld", c->url, c->status);
		if (c->body)
			strbuf_addf(&sb, " with \"%s\" in the body", c->body);
		strbuf_addf(&sb, ", every %.1fs, timeout %.1fs, deadline %.1fs, stable for %.1fs",
			    c->interval_ms / 1000.0, c->timeout_ms / 1000.0, c->deadline_ms / 1000.0,
			    c->stable_for_ms / 1000.0);
		plan_add(env, plan, "verify", sb.buf, NULL, NULL, NULL);
	}
	plan_compose(env, plan, "verify", "compose services' health",
		     (const char *const[]){ "ps", "--format", "json", NULL }, images);
	strbuf_reset(&sb);
	deploy_env_state_path(env, "state.json", &sb);
	strbuf_addstr(&sb, ", history.jsonl");
	plan_add(env, plan, "record", sb.buf, NULL, NULL, NULL);
	plan_hooks(env, plan, "post-verify");
	if (!env->rollback_on_failure) {
		plan_add(env, plan, "on-failure", "on_failure is \"none\": stop and leave it as it is",
			 NULL, NULL, NULL);
	} else if (!cur) {
		plan_add(env, plan, "on-failure", "first deploy: nothing to roll back to", NULL, NULL,
			 NULL);
	} else {
		plan_hooks(env, plan, "on-failure");
		if (local && json_is_integer(json_object_get(state, "schema_version"))) {
			strbuf_reset(&ver);
			strbuf_addf(&ver, "%lld",
				    (long long)json_integer_value(json_object_get(state, "schema_version")));
			if (env->data_restore != DEPLOY_RESTORE_ALWAYS) {
				const char *pa[] = { "plan", "--to", ver.buf, "--json", "--dir", remote.buf, NULL };
				const char *ga[] = { "goto", ver.buf, "--json", "--dir", remote.buf, NULL };

				plan_tool(env, plan, "rollback-schema", "is the downgrade reversible?", 0, pa);
				plan_tool(env, plan, "rollback-schema", "stored down SQL", 0, ga);
			}
			if (env->data_restore != DEPLOY_RESTORE_NEVER && env->snapshot) {
				const char *ra[] = { "restore", "<snapshot id>", "--clean", "--json",
						     db ? "--db" : NULL, db, NULL };

				plan_tool(env, plan, "restore",
					  env->data_restore == DEPLOY_RESTORE_ALWAYS ?
					  "always: restore the pre-deploy snapshot" :
					  "only if the downgrade is refused or fails", 1, ra);
			}
		}
		plan_compose(env, plan, "rollback-up", cur, up_args(env, &ua), prev_images);
		plan_add(env, plan, "rollback-verify", "the same checks, for the previous release", NULL,
			 NULL, NULL);
		plan_hooks(env, plan, "post-rollback");
	}
out:
	free(local);
	json_decref(images);
	json_decref(state);
	strbuf_release(&sb);
	strbuf_release(&remote);
	strbuf_release(&ver);
	return rc;
}

void deploy_plan_print(struct deploy_env *env, const struct deploy_opts *o, json_t *plan)
{
	size_t i;
	json_t *s;

	if (log_json()) {
		json_t *res = json_pack("{s:s, s:s, s:s, s:s, s:O}", "event", "result", "env",
					env->name, "release", o->release, "target",
					transport_describe(env->t), "steps", plan);

		log_json_result(res);
		json_decref(res);
		return;
	}
	printf("plan: deploy %s to %s (%s); nothing is run\n", o->release, env->name,
	       transport_describe(env->t));
	json_array_foreach(plan, i, s) {
		const char *cmd = json_string_value(json_object_get(s, "command"));
		struct strbuf red = STRBUF_INIT;

		printf("%3zu. %-15s %s\n", i + 1, json_string_value(json_object_get(s, "step")),
		       json_string_value(json_object_get(s, "what")));
		if (cmd)
			printf("     %-15s $ %s\n", "", log_redact_str(cmd, &red));
		strbuf_release(&red);
	}
	fflush(stdout);
}
