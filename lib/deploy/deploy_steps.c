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
#include "xalloc.h"

/* ---- deploy ---- */

static void finish_line(struct run *r, enum deploy_result res, const char *error)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:I, s:O}",
			      "event", "result", "result", deploy_result_name(res),
			      "env", r->env->name, "release", r->release,
			      "previous_release", r->prev_release, "backup_id", r->backup_id,
			      "restore_point", r->restore_point,
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
		if (r->backup_id || r->restore_point)
			printf(", %s %s", r->backup_id ? "snapshot" : "restore point",
			       r->backup_id ? r->backup_id : r->restore_point);
		printf(", %.1fs\n", (time_mono_ms() - r->t0) / 1000.0);
		fflush(stdout);
	}
	json_decref(o);
}

/* A pending record means an earlier run changed things and never finished:
 * bring back the release it left. */
int drun_complete_pending(struct run *outer, enum deploy_result *res, struct errbuf *e)
{
	json_t *pending = json_object_get(outer->state, "pending");
	/* copies: drun_recover() rewrites the state these strings live in */
	char *cur = xstrdup_or_null(json_string_value(json_object_get(outer->state, "release")));
	char *pend_rel = xstrdup_or_null(json_string_value(json_object_get(pending, "release")));
	json_t *images = json_incref(json_object_get(outer->state, "images"));
	struct run r;
	struct target tg;
	struct strbuf dir = STRBUF_INIT;
	int rc = 0;

	drun_run_init(&r, outer->env, "recover");
	r.state = json_incref(outer->state);
	r.release = cur;
	r.prev_release = xstrdup_or_null(pend_rel);
	if (json_is_string(json_object_get(pending, "backup_id")))
		r.backup_id = xstrdup(json_string_value(json_object_get(pending, "backup_id")));
	if (json_is_string(json_object_get(pending, "restore_point")))
		r.restore_point = xstrdup(json_string_value(json_object_get(pending, "restore_point")));
	/* the interrupted release is taken to be the one running (its up may
	 * have started): a restore stops its services */
	r.new_images = json_incref(json_object_get(pending, "images"));
	drun_set_running(&r, pend_rel, r.new_images, json_object_get(pending, "bundle") != NULL);
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
	tg.restore_point = r.restore_point;
	drun_load_state_bundle(&r, r.state, cur, &r.prev_bundle, &r.have_prev_bundle);
	tg.bundle = r.have_prev_bundle ? &r.prev_bundle : NULL;
	if (tg.bundle)
		r.history_bundle = deploy_bundle_ref(tg.bundle);
	if (json_is_integer(json_object_get(pending, "schema_before"))) {
		tg.schema = json_integer_value(json_object_get(pending, "schema_before"));
		tg.schema_known = 1;
		r.schema_known = 1;
		r.use_migrate = 1;
		/* the pending release's migrations hold the down SQL's context */
		if ((rc = drun_release_dir(&r, pend_rel, &dir, e)))
			goto out;
		if (!dir.len && (rc = drun_release_dir(&r, cur, &dir, e)))
			goto out;
		tg.migrate_dir = dir.len ? dir.buf : NULL;
		{
			struct errbuf se = ERRBUF_INIT;

			if (drun_schema_status(&r, tg.migrate_dir, &r.schema_before, &se))
				r.schema_before = tg.schema;
		}
	}
	errbuf_set(e, BL_EFAIL, "the deploy of %s was interrupted", pend_rel ? pend_rel : "?");
	*res = drun_recover(&r, &tg, e);
	drun_history(&r, pend_rel, cur, tg.images, *res, *res == DEPLOY_FAILED_ATTENTION ? e->msg : NULL);
	if (*res == DEPLOY_FAILED_ATTENTION) {
		rc = BL_EVERIFY;
		goto out;
	}
	errbuf_clear(e);
	drun_hook_warn(&r, "post-rollback");
	log_info("environment %s: recovered: %s is back on %s", r.env->name, r.env->name, cur);
	/* hand the refreshed state back */
	json_decref(outer->state);
	outer->state = json_incref(r.state);
	json_array_extend(outer->steps, r.steps);
out:
	strbuf_release(&dir);
	drun_run_release(&r);
	json_decref(images);
	free(cur);
	free(pend_rel);
	return rc;
}

/* The CI bundle's env file template names variables the target's env file
 * lacks: compose would run with them empty. A warning: a template may list
 * optional variables the compose file defaults. */
static void warn_env_template(struct run *r)
{
	json_t *missing = json_array(), *v;
	struct errbuf te = ERRBUF_INIT;
	struct strbuf names = STRBUF_INIT;
	size_t i;

	if (deploy_incoming_env_missing(r->env, &r->incoming, missing, &te)) {
		log_warn("%s", te.msg);
	} else if (json_array_size(missing)) {
		json_array_foreach(missing, i, v)
			strbuf_addf(&names, "%s%s", i ? ", " : "", json_string_value(v));
		log_warn("the env file %s on the target lacks %s, which the bundle's %s names",
			 r->env->env_file, names.buf, r->incoming.env_template_rel);
	}
	strbuf_release(&names);
	json_decref(missing);
}

/* The staged upload's migrations/ becomes the release bundle's (a rename
 * under .ballast/), hashed where they were read before the upload. */
static int move_migrations(struct run *r, struct errbuf *e)
{
	struct strbuf from = STRBUF_INIT;
	struct strvec rm = STRVEC_INIT;
	int rc;

	deploy_incoming_path(&r->incoming, "migrations", &from);
	strvec_push(&rm, "rm");
	strvec_push(&rm, "-rf");
	strvec_push(&rm, "--");
	strvec_push(&rm, r->remote_dir.buf);
	if (!(rc = drun_target_run(r->env, &rm, NULL, NULL, NULL, 60000, e)) &&
	    !(rc = transport_rename(r->env->t, from.buf, r->remote_dir.buf, e)))
		deploy_bundle_add_files(&r->bundle, r->incoming.files, "migrations");
	strvec_clear(&rm);
	strbuf_release(&from);
	return rc;
}

static void remove_incoming(struct run *r)
{
	struct errbuf ie = ERRBUF_INIT;

	if (r->have_incoming && deploy_incoming_remove(r->env, &r->incoming, &ie))
		log_warn("the staged upload stays (the next deploy removes it): %s", ie.msg);
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
	drun_run_init(&r, env, "deploy");
	r.release = o->release;
	if (env->immutable && !o->allow_mutable && !strcmp(o->release, "latest")) {
		rc = errbuf_set(e, BL_EUSAGE,
				"environment %s is immutable: \"latest\" names other bytes tomorrow; deploy a release tag, or give --allow-mutable",
				env->name);
		goto done;
	}
	r.new_images = deploy_env_images_for(env, o->release);
	if (o->bundle) {
		/* before the lock: a deploy waiting for another has its files on
		 * the target already, and changes nothing outside .ballast/ */
		t = drun_step_begin("stage", o->bundle);
		r.have_incoming = 1;
		rc = deploy_incoming_prepare(env, o->bundle, &r.incoming, e);
		if (!rc)
			rc = deploy_incoming_upload(env, o->release, o->lock_wait_ms + env->lock_ttl_ms,
						    &r.incoming, e);
		drun_step_end(&r, "stage", t, rc, e);
		if (rc)
			goto done;
		deploy_incoming_path(&r.incoming, r.incoming.compose_rel, &r.compose_src);
		r.compose_path = r.compose_src.buf;
		r.use_migrate = r.incoming.has_migrations;
		warn_env_template(&r);
	} else {
		if ((rc = deploy_local_migrations(env, o->migrations_dir, &r.local_migrations, e)))
			goto done;
		r.use_migrate = r.local_migrations != NULL;
	}

	strbuf_addf(&lockmsg, "deploy %s", o->release);
	t = drun_step_begin("lock", env->name);
	rc = deploy_lock_acquire(env, &r.lock, "deploy", lockmsg.buf, env->lock_ttl_ms,
				 o->lock_wait_ms, 0, e);
	drun_step_end(&r, "lock", t, rc, e);
	if (rc)
		goto done;
	if ((rc = deploy_state_read(env, &r.state, e)))
		goto unlock;
	if (json_object_get(r.state, "pending")) {
		enum deploy_result pres;

		if ((rc = drun_complete_pending(&r, &pres, e))) {
			res = pres;
			goto unlock;
		}
	}
	{
		json_t *removed = json_array();
		struct errbuf ce = ERRBUF_INIT;

		/* under the lock: an upload staged by a run that died */
		if (deploy_incoming_clean(env, r.have_incoming ? &r.incoming : NULL, removed, &ce))
			log_warn("staged uploads: %s", ce.msg);
		json_decref(removed);
	}
	if (json_is_string(json_object_get(r.state, "release")))
		r.prev_release = xstrdup(json_string_value(json_object_get(r.state, "release")));
	r.prev_images = json_incref(json_object_get(r.state, "images"));
	/* read (and proven) before this deploy stages anything: a redeploy of
	 * the running release rewrites the same directory */
	drun_load_state_bundle(&r, r.state, r.prev_release, &r.prev_bundle, &r.have_prev_bundle);
	/* until up, the previous release is what runs (and what a restore
	 * after a failed migrate stops) */
	r.running_bundle = r.have_prev_bundle ? &r.prev_bundle : NULL;
	r.running_images = r.prev_images;

	if ((rc = drun_hook(&r, "pre-deploy", e)))
		goto failed;
	t = drun_step_begin("preflight", transport_describe(env->t));
	rc = drun_preflight(&r, checks, &health_ok, e);
	drun_step_end(&r, "preflight", t, rc, e);
	if (rc)
		goto failed;
	if (interrupt_signal)
		goto interrupted;
	if (env->immutable && !o->allow_mutable) {
		t = drun_step_begin("immutable", "the release's tags still name its kept bundle's digests");
		rc = drun_check_immutable(&r, e);
		drun_step_end(&r, "immutable", t, rc, e);
		if (rc)
			goto failed;
	}
	if (env->snapshot) {
		if ((rc = env->snapshot == DEPLOY_SNAPSHOT_POINT ? drun_restore_point(&r, e) :
			  drun_snapshot(&r, e)))
			goto failed;
		if ((rc = drun_hook(&r, "post-snapshot", e)))
			goto failed;
	}
	/* The bundle: this release's compose file, env file and environment
	 * section, then its migrations, all under .ballast/ (nothing outside it
	 * changes before migrate); pull already reads the bundle's files. */
	deploy_bundle_init(&r.bundle, env, o->release);
	r.have_bundle = 1;
	/* a redeploy of the running release: its bundle, proven above under
	 * this lock, already holds the files that have not changed */
	if (r.have_prev_bundle && !strcmp(r.prev_bundle.dir.buf, r.bundle.dir.buf))
		r.bundle.proven = json_incref(r.prev_bundle.files);
	t = drun_step_begin("bundle", r.bundle.dir.buf);
	rc = deploy_bundle_stage(env, &r.bundle, r.compose_path, e);
	drun_step_end(&r, "bundle", t, rc, e);
	if (rc)
		goto failed;
	if (r.use_migrate) {
		struct strbuf rel = STRBUF_INIT;

		strbuf_addf(&rel, "releases/%s/migrations", o->release);
		deploy_env_state_path(env, rel.buf, &r.remote_dir);
		strbuf_release(&rel);
		t = drun_step_begin("upload", r.remote_dir.buf);
		if (r.have_incoming) {
			rc = move_migrations(&r, e);
		} else {
			rc = drun_upload_migrations(&r, e);
			if (!rc)
				rc = deploy_bundle_add_local_tree(&r.bundle, r.local_migrations, "migrations", e);
		}
		drun_step_end(&r, "upload", t, rc, e);
		if (rc)
			goto failed;
	}
	/* the staged upload is in the release bundle now */
	remove_incoming(&r);
	if (interrupt_signal)
		goto interrupted;
	r.compose_bundle = &r.bundle;
	if ((rc = drun_compose_step(&r, "pull", o->release, pull, r.new_images, e)))
		goto failed;
	t = drun_step_begin("pin", "every service's image to its digest");
	rc = drun_pin(&r, &r.bundle, r.new_images, e);
	drun_step_end(&r, "pin", t, rc, e);
	if (rc)
		goto failed;
	r.history_bundle = deploy_bundle_ref(&r.bundle);
	if ((rc = drun_hook(&r, "pre-up", e)))
		goto failed;
	if (interrupt_signal)
		goto interrupted;

	/* From here on the environment changes. */
	if ((rc = drun_write_pending(&r, e)))
		goto failed;
	r.changed = 1;
	if (r.use_migrate) {
		const char *args[] = { "up", "--release", o->release, "--dir", r.remote_dir.buf,
				       "--json", NULL };
		json_t *mres = NULL;

		t = drun_step_begin("migrate", o->release);
		rc = drun_migrate_json(&r, args, &mres, e);
		if (!rc) {
			r.schema_after = json_integer_value(json_object_get(mres, "to"));
			log_info("migrate: schema %lld -> %lld", r.schema_before, r.schema_after);
		}
		json_decref(mres);
		drun_step_end(&r, "migrate", t, rc, e);
		if (rc)
			goto failed;
	}
	if (interrupt_signal)
		goto interrupted;
	/* from up on (even one that fails half-way) this release runs */
	r.running_bundle = &r.bundle;
	r.running_images = r.new_images;
	if ((rc = drun_compose_step(&r, "up", o->release, drun_up_args(env, &ua), r.new_images, e)))
		goto failed;
	if ((rc = drun_verify(&r, "verify", r.new_images, e)))
		goto failed;

	/* record */
	t = drun_step_begin("record", "state.json and history.jsonl");
	json_object_del(r.state, "pending");
	/* Redeploying the running release keeps the older one as "previous",
	 * so that a rollback still has somewhere to go. */
	if (!r.prev_release || strcmp(r.prev_release, o->release)) {
		if (r.prev_release)
			json_object_set_new(r.state, "previous_release", json_string(r.prev_release));
		if (r.prev_images)
			json_object_set(r.state, "previous_images", r.prev_images);
		if (json_object_get(r.state, "bundle"))
			json_object_set(r.state, "previous_bundle", json_object_get(r.state, "bundle"));
		else
			json_object_del(r.state, "previous_bundle");
		if (json_is_integer(json_object_get(r.state, "schema_version")))
			json_object_set(r.state, "previous_schema_version",
					json_object_get(r.state, "schema_version"));
		if (r.backup_id)
			json_object_set_new(r.state, "backup_id", json_string(r.backup_id));
		else
			json_object_del(r.state, "backup_id");
		if (r.restore_point)
			json_object_set_new(r.state, "restore_point", json_string(r.restore_point));
		else
			json_object_del(r.state, "restore_point");
	}
	drun_state_set_release(r.state, o->release, r.new_images, r.use_migrate, r.schema_after,
			       &r.bundle);
	rc = deploy_state_write(env, r.state, e);
	drun_step_end(&r, "record", t, rc, e);
	if (rc)
		goto failed;
	res = DEPLOY_DEPLOYED;
	drun_history(&r, r.prev_release, o->release, r.new_images, res, NULL);
	{
		json_t *removed = json_array(), *v;
		struct errbuf pe = ERRBUF_INIT;
		const char *prev = json_string_value(json_object_get(r.state, "previous_release"));
		size_t i;

		/* after the record: a failed prune costs disk space, not the deploy */
		if (deploy_bundle_prune(env, env->releases_keep, o->release, prev, removed, &pe))
			log_warn("release bundles: %s", pe.msg);
		json_array_foreach(removed, i, v)
			log_info("release bundles: removed %s (releases_keep %lld)", json_string_value(v),
				 env->releases_keep);
		json_decref(removed);
	}
	drun_hook_warn(&r, "post-verify");
	goto unlock;

interrupted:
	rc = interrupt_check(e);
failed:
	r.error = e->msg;
	drun_hook_warn(&r, "on-failure");
	if (!r.changed) {
		res = DEPLOY_ABORTED;
		drun_history(&r, r.prev_release, o->release, r.new_images, res, e->msg);
		errbuf_prefix(e, "aborted, nothing was changed: ");
		goto unlock;
	}
	if (!env->rollback_on_failure) {
		res = DEPLOY_FAILED_ATTENTION;
		errbuf_prefix(e, "failed-needs-attention (on_failure is \"none\"): ");
		drun_history(&r, r.prev_release, o->release, r.new_images, res, e->msg);
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
	tg.restore_point = r.restore_point;
	tg.migrate_dir = r.remote_dir.len ? r.remote_dir.buf : NULL;
	tg.bundle = r.have_prev_bundle ? &r.prev_bundle : NULL;
	{
		/* A signal already delivered must not stop the rollback itself. */
		int sig = interrupt_hold();
		char first[ERRBUF_MSG_MAX];

		snprintf(first, sizeof(first), "%s", e->msg);
		res = drun_recover(&r, &tg, e);
		if (res != DEPLOY_FAILED_ATTENTION)
			errbuf_set(e, BL_EFAIL, "%s: %s failed at %s (%s); %s is back on %s%s",
				   deploy_result_name(res), o->release, r.failed_step, first, env->name,
				   tg.release, res == DEPLOY_ROLLED_BACK_RESTORE ?
				   ", data restored from the pre-deploy snapshot" : "");
		interrupt_resume(sig);
	}
	/* from/to: what was attempted; the result says where it ended */
	drun_history(&r, r.prev_release, o->release, r.new_images, res, e->msg);
	if (res != DEPLOY_FAILED_ATTENTION)
		drun_hook_warn(&r, "post-rollback");
unlock:
	drun_unlock(&r);
	if (rc || res != DEPLOY_DEPLOYED)
		finish_line(&r, res, e->msg);
	else
		finish_line(&r, res, NULL);
done:
	remove_incoming(&r);
	*result = res;
	json_decref(checks);
	strbuf_release(&lockmsg);
	strbuf_release(&prevdir);
	drun_run_release(&r);
	if (res == DEPLOY_DEPLOYED)
		return 0;
	return deploy_result_status(res, rc ? rc : e->code);
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
			 const char *const *args, json_t *images, const struct deploy_bundle *b)
{
	struct strvec argv = STRVEC_INIT, vars = STRVEC_INIT;

	if (b)
		deploy_bundle_compose_argv(env, b, args, &argv);
	else
		deploy_env_compose_argv(env, args, &argv);
	deploy_env_image_vars(images, &vars);
	plan_add(env, plan, step, what, &argv, &vars, env->app_dir);
	strvec_clear(&argv);
	strvec_clear(&vars);
}

/* stop-app before a restore and start-app after a failed one: the
 * services are known once the bundle is pinned, so a placeholder unless
 * restore_stop_services names them; nothing when it is empty. */
static void plan_app(struct deploy_env *env, json_t *plan, const char *cmd, json_t *images,
		     const struct deploy_bundle *b)
{
	struct strvec args = STRVEC_INIT;
	struct up_args ua;
	size_t i;
	json_t *v;

	if (env->restore_stop_services && !json_array_size(env->restore_stop_services))
		return;
	strvec_push(&args, cmd);
	/* stop's grace is up's */
	if (!strcmp(cmd, "stop") && env->stop_grace_ms >= 0) {
		drun_up_args(env, &ua);
		strvec_push(&args, "--timeout");
		strvec_push(&args, ua.grace);
	}
	if (env->restore_stop_services)
		json_array_foreach(env->restore_stop_services, i, v)
			strvec_push(&args, json_string_value(v));
	else
		strvec_push(&args, "<services running one of images>");
	plan_compose(env, plan, !strcmp(cmd, "stop") ? "stop-app" : "start-app",
		     !strcmp(cmd, "stop") ? "the application's services, while the database is restored" :
		     "only if the restore fails: the same services again",
		     strvec_argv(&args), images, b);
	strvec_clear(&args);
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

/* stop-db or start-db of a rollback to a restore point */
static void plan_server(struct deploy_env *env, json_t *plan, int start, json_t *images,
			const struct deploy_bundle *b)
{
	const char *step = start ? "start-db" : "stop-db";
	const char *what = start ? "the database server again, whatever the restore did" :
			   "the database server, for the restore";
	struct strvec argv = STRVEC_INIT;
	struct up_args ua;

	if (env->pitr_service) {
		strvec_push(&argv, start ? "start" : "stop");
		if (!start && env->stop_grace_ms >= 0) {
			drun_up_args(env, &ua);
			strvec_push(&argv, "--timeout");
			strvec_push(&argv, ua.grace);
		}
		strvec_push(&argv, env->pitr_service);
		plan_compose(env, plan, step, what, strvec_argv(&argv), images, b);
	} else {
		strvec_push_json(&argv, start ? env->pitr_start : env->pitr_stop);
		plan_add(env, plan, step, what, &argv, NULL, NULL);
	}
	strvec_clear(&argv);
}

int deploy_plan(struct deploy_env *env, const struct deploy_opts *o, json_t *plan,
		struct errbuf *e)
{
	struct strbuf sb = STRBUF_INIT, remote = STRBUF_INIT, ver = STRBUF_INIT;
	json_t *state = NULL, *images = NULL, *prev_images;
	const char *cur, *db = drun_restore_db_name(env);
	struct up_args ua;
	struct deploy_bundle nb, pb;
	struct deploy_incoming in;
	char *local = NULL;
	int rc, prev_bundle = 0, migr, have_in = 0;

	deploy_bundle_init(&nb, env, o->release);
	memset(&pb, 0, sizeof(pb));
	if ((rc = deploy_state_read(env, &state, e)))
		goto out;
	if (o->bundle) {
		/* read and checked here; nothing is staged */
		have_in = 1;
		if ((rc = deploy_incoming_prepare(env, o->bundle, &in, e)))
			goto out;
	} else if ((rc = deploy_local_migrations(env, o->migrations_dir, &local, e))) {
		goto out;
	}
	migr = have_in ? in.has_migrations : local != NULL;
	cur = json_string_value(json_object_get(state, "release"));
	prev_images = json_object_get(state, "images");
	images = deploy_env_images_for(env, o->release);
	if (have_in) {
		strbuf_reset(&ver);
		strbuf_addf(&ver, "incoming/%s-<random>/files", o->release);
		deploy_env_state_path(env, ver.buf, &remote);
		strbuf_reset(&sb);
		strbuf_addf(&sb, "%s -> %s (before the lock)", o->bundle, remote.buf);
		plan_add(env, plan, "stage", sb.buf, NULL, NULL, NULL);
	}
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
		plan_compose(env, plan, "preflight", "compose present", vargs, NULL, NULL);
	}
	if (env->snapshot || env->data_restore != DEPLOY_RESTORE_NEVER) {
		const char *a[] = { "--version", NULL };
		struct strvec argv = STRVEC_INIT;

		strvec_push_json(&argv, env->backup_command);
		strvec_push(&argv, a[0]);
		plan_add(env, plan, "preflight", "ballast-backup present", &argv, NULL, NULL);
		strvec_clear(&argv);
	}
	if (migr) {
		const char *a[] = { "status", "--json", NULL };

		plan_tool(env, plan, "preflight", "schema version", 0, a);
	}
	if (cur && env->nhealth)
		plan_add(env, plan, "preflight", "current release's health (warning only)", NULL, NULL,
			 NULL);
	if (env->snapshot == DEPLOY_SNAPSHOT_POINT) {
		const char *pdb = drun_point_db(env);
		struct strbuf wait = STRBUF_INIT;
		const char *a[] = { "restore-point", "--wait-archived", NULL, "--json",
				    "ballast-<env>-<release>-<UTC time>", pdb ? "--db" : NULL, pdb, NULL };

		strbuf_addf(&wait, "%lldms", env->pitr_archive_wait_ms);
		a[2] = wait.buf;
		plan_tool(env, plan, "snapshot", "pre-deploy restore point, archived before anything changes",
			  1, a);
		strbuf_release(&wait);
		plan_hooks(env, plan, "post-snapshot");
	} else if (env->snapshot) {
		struct strbuf label = STRBUF_INIT, only = STRBUF_INIT;
		const char *a[] = { "run", "--label", "reason=pre-deploy", "--label", NULL, "--json",
				    db ? "--only" : NULL, NULL, NULL };

		strbuf_addf(&label, "release=%s", o->release);
		if (db)
			strbuf_addf(&only, "db:%s", db);
		a[4] = label.buf;
		a[7] = only.buf;
		plan_tool(env, plan, "snapshot", "pre-deploy backup of the database a rollback restores",
			  1, a);
		strbuf_release(&label);
		strbuf_release(&only);
		plan_hooks(env, plan, "post-snapshot");
	}
	strbuf_reset(&sb);
	strbuf_addf(&sb, "%s (%s%s%s%s, environment.json)", nb.dir.buf,
		    have_in ? "the staged upload's " : "", have_in ? in.compose_rel : env->compose_file,
		    env->env_file ? ", " : "", env->env_file ? env->env_file : "");
	plan_add(env, plan, "bundle", sb.buf, NULL, NULL, NULL);
	deploy_bundle_expect(env, &nb, 0);
	if (migr) {
		strbuf_reset(&ver);
		strbuf_addf(&ver, "releases/%s/migrations", o->release);
		deploy_env_state_path(env, ver.buf, &remote);
		strbuf_reset(&sb);
		strbuf_addf(&sb, "%s -> %s", have_in ? "the staged upload's migrations" : local,
			    remote.buf);
		plan_add(env, plan, "upload", sb.buf, NULL, NULL, NULL);
	}
	plan_compose(env, plan, "pull", o->release, (const char *const[]){ "pull", NULL }, images, &nb);
	plan_compose(env, plan, "pin", "every service's image (then one docker image inspect of all their images)",
		     (const char *const[]){ "config", NULL }, images, &nb);
	deploy_bundle_expect(env, &nb, 1);
	plan_hooks(env, plan, "pre-up");
	if (migr) {
		const char *a[] = { "up", "--release", o->release, "--dir", remote.buf, "--json", NULL };

		plan_tool(env, plan, "migrate", o->release, 0, a);
	}
	plan_compose(env, plan, "up", o->release, drun_up_args(env, &ua), images, &nb);
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
		     (const char *const[]){ "ps", "--format", "json", NULL }, images, &nb);
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
		if (migr && json_is_integer(json_object_get(state, "schema_version"))) {
			strbuf_reset(&ver);
			strbuf_addf(&ver, "%lld",
				    (long long)json_integer_value(json_object_get(state, "schema_version")));
			if (env->data_restore != DEPLOY_RESTORE_ALWAYS) {
				const char *pa[] = { "plan", "--to", ver.buf, "--json", "--dir", remote.buf, NULL };
				const char *ga[] = { "goto", ver.buf, "--json", "--dir", remote.buf, NULL };

				plan_tool(env, plan, "rollback-schema", "is the downgrade reversible?", 0, pa);
				plan_tool(env, plan, "rollback-schema", "stored down SQL", 0, ga);
			}
			if (env->data_restore != DEPLOY_RESTORE_NEVER &&
			    env->snapshot == DEPLOY_SNAPSHOT_POINT) {
				const char *pdb = drun_point_db(env);
				const char *ra[] = { "restore", "--pitr", "--name", "<the restore point>",
						     env->pitr_into_opt, env->pitr_into, "--json",
						     pdb ? "--db" : NULL, pdb, NULL };

				plan_app(env, plan, "stop", images, &nb);
				plan_server(env, plan, 0, images, &nb);
				plan_tool(env, plan, "restore",
					  env->data_restore == DEPLOY_RESTORE_ALWAYS ?
					  "always: recover the database to the pre-deploy restore point" :
					  "only if the downgrade is refused or fails: recover the database "
					  "to the pre-deploy restore point", 1, ra);
				plan_server(env, plan, 1, images, &nb);
				plan_app(env, plan, "start", images, &nb);
			} else if (env->data_restore != DEPLOY_RESTORE_NEVER && env->snapshot) {
				const char *ra[] = { "restore", "<snapshot id>", "--clean", "--json",
						     db ? "--db" : NULL, db, NULL };

				plan_app(env, plan, "stop", images, &nb);
				plan_tool(env, plan, "restore",
					  env->data_restore == DEPLOY_RESTORE_ALWAYS ?
					  "always: restore the pre-deploy snapshot" :
					  "only if the downgrade is refused or fails", 1, ra);
				plan_app(env, plan, "start", images, &nb);
			}
		}
		/* state.json names the running release's bundle: its own files and
		 * digests (proven when the rollback runs) */
		if (json_object_get(state, "bundle")) {
			deploy_bundle_init(&pb, env, cur);
			deploy_bundle_expect(env, &pb, 1);
			prev_bundle = 1;
		}
		plan_compose(env, plan, "rollback-up", cur, drun_up_args(env, &ua), prev_images,
			     prev_bundle ? &pb : NULL);
		plan_add(env, plan, "rollback-verify", "the same checks, for the previous release", NULL,
			 NULL, NULL);
		plan_hooks(env, plan, "post-rollback");
	}
out:
	if (have_in)
		deploy_incoming_release(&in);
	deploy_bundle_release(&nb);
	if (prev_bundle)
		deploy_bundle_release(&pb);
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
