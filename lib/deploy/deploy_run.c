#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compose_lint.h"
#include "deploy_internal.h"
#include "deploy_lock.h"
#include "deploy_state.h"
#include "hooks.h"
#include "http.h"
#include "interrupt.h"
#include "log.h"
#include "proc.h"

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


void drun_run_init(struct run *r, struct deploy_env *env, const char *action)
{
	memset(r, 0, sizeof(*r));
	r->env = env;
	r->action = action;
	r->steps = json_array();
	strbuf_init(&r->remote_dir, 0);
	strbuf_init(&r->compose_src, 0);
	deploy_now_iso(r->started_at, sizeof(r->started_at));
	r->t0 = time_mono_ms();
}

void drun_run_release(struct run *r)
{
	json_decref(r->state);
	json_decref(r->steps);
	json_decref(r->prev_images);
	json_decref(r->new_images);
	free(r->backup_id);
	free(r->restore_point);
	free(r->prev_release);
	free(r->local_migrations);
	strbuf_release(&r->remote_dir);
	if (r->have_bundle)
		deploy_bundle_release(&r->bundle);
	if (r->have_prev_bundle)
		deploy_bundle_release(&r->prev_bundle);
	json_decref(r->history_bundle);
	strbuf_release(&r->compose_src);
	if (r->have_incoming)
		deploy_incoming_release(&r->incoming);
}

long long drun_step_begin(const char *step, const char *what)
{
	log_info("%s: %s", step, what);
	return time_mono_ms();
}

void drun_step_end(struct run *r, const char *step, long long t, int rc, struct errbuf *e)
{
	long long ms = time_mono_ms() - t;
	json_t *o = json_pack("{s:s, s:I, s:b}", "step", step, "ms", (json_int_t)ms, "ok", !rc);

	if (rc) {
		json_object_set_new(o, "error", json_string(e->msg));
		if (!r->failed_step[0])
			snprintf(r->failed_step, sizeof(r->failed_step), "%s", step);
		/* "locked" is the whole story and the command's error line says
		 * it: logging it here too printed it twice */
		if (rc != BL_ELOCKED)
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

int drun_target_exec(struct deploy_env *env, struct strvec *argv, struct strvec *vars,
		     const char *dir, struct strbuf *out, struct strbuf *err, int *status,
		     long timeout_ms, struct errbuf *e)
{
	log_command(env, argv, vars, dir);
	return transport_run(env->t, strvec_argv(argv), vars ? strvec_argv(vars) : NULL, dir, out,
			     err, status, timeout_ms, e);
}

int drun_status_error(struct strvec *argv, int status, struct strbuf *err, struct errbuf *e)
{
	struct strbuf red = STRBUF_INIT;
	char line[600] = "";
	size_t end, start;
	int rc;

	strbuf_rtrim(err);
	end = err->len;
	start = end;
	while (start && err->buf[start - 1] != '\n')
		start--;
	snprintf(line, sizeof(line), "%.*s", (int)(end - start), err->buf + start);
	log_redact_str(line, &red);
	if (status < 0)
		rc = errbuf_set(e, BL_EFAIL, "%s was killed%s%s", argv->v[0], red.len ? ": " : "",
				red.buf);
	else
		rc = errbuf_set(e, BL_EFAIL, "%s exited with status %d%s%s", argv->v[0], status,
				red.len ? ": " : "", red.buf);
	strbuf_release(&red);
	return rc;
}

/* Run a command on the target; a non-zero exit is BL_EFAIL naming the
 * command with the last line of its stderr. */
int drun_target_run(struct deploy_env *env, struct strvec *argv, struct strvec *vars,
		      const char *dir, struct strbuf *out, long timeout_ms, struct errbuf *e)
{
	struct strbuf err = STRBUF_INIT;
	int rc, status = 0;

	rc = drun_target_exec(env, argv, vars, dir, out, &err, &status, timeout_ms, e);
	if (!rc && status != 0)
		rc = drun_status_error(argv, status, &err, e);
	strbuf_release(&err);
	return rc;
}


const char *const *drun_up_args(const struct deploy_env *env, struct up_args *u)
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

void drun_docker_argv(struct run *r, const char *const *args, struct strvec *out)
{
	strvec_push_json(out, r->env->docker_command);
	for (const char *const *a = args; *a; a++)
		strvec_push(out, *a);
}

int drun_compose(struct run *r, const char *const *args, json_t *images, struct strbuf *out,
		   struct errbuf *e)
{
	struct strvec argv = STRVEC_INIT, vars = STRVEC_INIT;
	int rc;

	if (r->compose_bundle)
		deploy_bundle_compose_argv(r->env, r->compose_bundle, args, &argv);
	else
		deploy_env_compose_argv(r->env, args, &argv);
	deploy_env_image_vars(images, &vars);
	/* A hung pull or up must end in a rollback, not in a held lock. */
	rc = drun_target_run(r->env, &argv, &vars, r->env->app_dir, out, (long)r->env->compose_timeout_ms, e);
	strvec_clear(&argv);
	strvec_clear(&vars);
	return rc;
}

/* A compose command as a timed step of the run (pull, up, rollback-up). */
int drun_compose_step(struct run *r, const char *step, const char *what,
			const char *const *args, json_t *images, struct errbuf *e)
{
	long long t = drun_step_begin(step, what);
	int rc = drun_compose(r, args, images, NULL, e);

	drun_step_end(r, step, t, rc, e);
	return rc;
}

static void hook_env(struct run *r, const char *release, struct strvec *out)
{
	strvec_pushf(out, "BALLAST_ENV=%s", r->env->name);
	strvec_pushf(out, "BALLAST_RELEASE=%s", release ? release : "");
	strvec_pushf(out, "BALLAST_PREVIOUS_RELEASE=%s", r->prev_release ? r->prev_release : "");
	strvec_pushf(out, "BALLAST_BACKUP_ID=%s", r->backup_id ? r->backup_id : "");
	strvec_pushf(out, "BALLAST_RESTORE_POINT=%s", r->restore_point ? r->restore_point : "");
	strvec_pushf(out, "BALLAST_ACTION=%s", r->action);
	if (r->error && *r->error) {
		struct strbuf red = STRBUF_INIT;

		/* the same redaction as the log: a hook may post it anywhere */
		log_redact_str(r->error, &red);
		strvec_pushf(out, "BALLAST_ERROR=%s", red.buf);
		strbuf_release(&red);
	}
}

int drun_hook(struct run *r, const char *phase, struct errbuf *e)
{
	struct strvec env = STRVEC_INIT;
	long long t;
	int rc, ran = 0;

	if (!json_object_get(r->env->hooks, phase))
		return 0;
	hook_env(r, r->release, &env);
	t = drun_step_begin("hook", phase);
	rc = hooks_run(r->env->cfg, r->env->hooks, phase, strvec_argv(&env),
		       (long)r->env->hook_timeout_ms, &ran, e);
	{
		char name[48];

		snprintf(name, sizeof(name), "hook:%s", phase);
		drun_step_end(r, name, t, rc, e);
	}
	strvec_clear(&env);
	return rc;
}

void drun_unlock(struct run *r)
{
	struct errbuf le = ERRBUF_INIT;

	if (r->lock.held && deploy_lock_release(r->env, &r->lock, 0, &le))
		log_error("cannot release the lock: %s", le.msg);
}

/* A hook whose failure must not change the outcome (after the fact). */
void drun_hook_warn(struct run *r, const char *phase)
{
	struct errbuf e = ERRBUF_INIT;

	if (drun_hook(r, phase, &e))
		log_warn("%s", e.msg);
}

/* ---- state ---- */

int drun_write_pending(struct run *r, struct errbuf *e)
{
	json_t *p = json_pack("{s:s, s:O, s:s?, s:s?, s:s, s:s, s:s, s:I}",
			      "release", r->release, "images", r->new_images,
			      "backup_id", r->backup_id, "restore_point", r->restore_point,
			      "started_at", r->started_at,
			      "by", deploy_whoami(), "host", deploy_hostname(),
			      "pid", (json_int_t)getpid());

	if (r->schema_known)
		json_object_set_new(p, "schema_before", json_integer(r->schema_before));
	if (r->history_bundle)
		json_object_set(p, "bundle", r->history_bundle);
	json_object_set_new(r->state, "pending", p);
	return deploy_state_write(r->env, r->state, e);
}

void drun_history(struct run *r, const char *from, const char *to, json_t *images,
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
	if (r->restore_point)
		json_object_set_new(h, "restore_point", json_string(r->restore_point));
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
	if (r->history_bundle)
		json_object_set(h, "bundle", r->history_bundle);
	if (deploy_history_append(r->env, h, &e))
		log_warn("cannot record the history: %s", e.msg);
	json_decref(h);
}
