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

/* ---- rollback ---- */


/* The pre-deploy snapshot tg can go back to: a backup or a restore point. */
static const char *snapshot_of(const struct target *tg)
{
	if (tg->restore_point && *tg->restore_point)
		return tg->restore_point;
	return tg->backup_id && *tg->backup_id ? tg->backup_id : NULL;
}

static int may_restore(struct run *r, const struct target *tg)
{
	return r->env->data_restore != DEPLOY_RESTORE_NEVER && snapshot_of(tg);
}

static int restore_snapshot(struct run *r, const struct target *tg, struct errbuf *e)
{
	if (tg->restore_point && *tg->restore_point)
		return drun_restore_to_point(r, tg->restore_point, e);
	return drun_restore(r, tg->backup_id, e);
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
	if (r->env->data_restore == DEPLOY_RESTORE_ALWAYS && snapshot_of(tg)) {
		log_info("data_restore is \"always\": restoring the pre-deploy snapshot %s", snapshot_of(tg));
		rc = restore_snapshot(r, tg, e);
		goto check;
	}
	t = drun_step_begin("rollback-schema", "schema back to the previous release's version");
	{
		struct errbuf se = ERRBUF_INIT;

		if (drun_schema_status(r, tg->migrate_dir, &current, &se)) {
			log_warn("schema status: %s", se.msg);
			current = -1;
		}
	}
	if (current == tg->schema) {
		log_info("rollback-schema: already at version %lld", current);
		drun_step_end(r, "rollback-schema", t, 0, e);
		goto out;
	}
	strbuf_addf(&ver, "%lld", tg->schema);
	{
		const char *args[] = { "plan", "--to", ver.buf, "--json",
				       tg->migrate_dir ? "--dir" : NULL, tg->migrate_dir, NULL };

		rc = drun_migrate_json(r, args, &res, e);
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

		rc = drun_migrate_json(r, args, &res, e);
		json_decref(res);
		res = NULL;
	}
	drun_step_end(r, "rollback-schema", t, rc, e);
	if (rc) {
		if (!may_restore(r, tg)) {
			errbuf_prefix(e, "%s, and no data restore is allowed (data_restore %s%s): ",
				      refused ? "the downgrade was refused" : "the downgrade failed",
				      r->env->data_restore == DEPLOY_RESTORE_NEVER ? "never" : "if-irreversible",
				      snapshot_of(tg) ? "" : ", no snapshot");
			goto out;
		}
		log_warn("%s; restoring the pre-deploy snapshot %s", e->msg, snapshot_of(tg));
		errbuf_clear(e);
		rc = restore_snapshot(r, tg, e);
	}
check:
	if (!rc && r->restored) {
		struct errbuf se = ERRBUF_INIT;

		if (drun_schema_status(r, tg->migrate_dir, &current, &se) == 0 && current != tg->schema)
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
int drun_rollback_to(struct run *r, const struct target *tg, struct errbuf *e)
{
	struct up_args ua;
	struct errbuf ignore = ERRBUF_INIT;
	const struct deploy_bundle *saved = r->compose_bundle;
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
	/* the release's own compose files, env file and digests; without a
	 * bundle (deployed before bundles) its tags with app_dir's files */
	r->compose_bundle = tg->bundle;
	if (!tg->bundle)
		log_warn("release %s has no bundle: bringing back its image tags with %s's current compose and env files",
			 tg->release, r->env->app_dir);
	rc = drun_compose_step(r, "rollback-up", tg->release, drun_up_args(r->env, &ua), tg->images, e);
	if (!rc)
		rc = drun_verify(r, "rollback-verify", tg->images, e);
	r->compose_bundle = saved;
	return rc;
}

void drun_state_set_release(json_t *state, const char *release, json_t *images,
			      int schema_known, long long schema, const struct deploy_bundle *b)
{
	char at[40];

	deploy_now_iso(at, sizeof(at));
	json_object_set_new(state, "release", json_string(release));
	json_object_set(state, "images", images);
	if (schema_known)
		json_object_set_new(state, "schema_version", json_integer(schema));
	json_object_set_new(state, "deployed_at", json_string(at));
	json_object_set_new(state, "deployed_by", json_string(deploy_whoami()));
	if (b)
		json_object_set_new(state, "bundle", deploy_bundle_ref(b));
	else
		json_object_del(state, "bundle");
}

/* After a failure once something changed. */
enum deploy_result drun_recover(struct run *r, const struct target *tg, struct errbuf *e)
{
	struct errbuf re = ERRBUF_INIT, we = ERRBUF_INIT;
	int rc;

	rc = drun_rollback_to(r, tg, &re);
	if (rc) {
		char first[ERRBUF_MSG_MAX];

		snprintf(first, sizeof(first), "%s", e->msg);
		errbuf_set(e, BL_EVERIFY, "failed-needs-attention: %s; then the rollback to %s failed: %s",
			   first, tg->release ? tg->release : "(none)", re.msg);
		return DEPLOY_FAILED_ATTENTION;
	}
	json_object_del(r->state, "pending");
	drun_state_set_release(r->state, tg->release, tg->images, tg->schema_known, tg->schema,
			       tg->bundle);
	if (deploy_state_write(r->env, r->state, &we))
		log_error("the rollback worked but state.json could not be written: %s", we.msg);
	return r->restored ? DEPLOY_ROLLED_BACK_RESTORE : DEPLOY_ROLLED_BACK;
}

/* ---- rollback (the command) ---- */

/* Images and schema version a release ran with, from the history (newest
 * first), else from state.json's previous_* members. */
static int find_release(struct deploy_env *env, json_t *state, const char *release,
			json_t **images, long long *schema, int *schema_known, int *had_bundle,
			struct errbuf *e)
{
	json_t *hist = NULL, *h;
	size_t i;
	int rc;

	*images = NULL;
	*schema_known = 0;
	*had_bundle = 0;
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
		*had_bundle = json_object_get(h, "bundle") != NULL;
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
		*had_bundle = json_object_get(state, "previous_bundle") != NULL;
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
	int rc, schema_known = 0, had_bundle = 0;

	*result = DEPLOY_ABORTED;
	drun_run_init(&r, env, "rollback");
	t = drun_step_begin("lock", env->name);
	rc = deploy_lock_acquire(env, &r.lock, "rollback", o->release ? o->release : "rollback",
				 env->lock_ttl_ms, o->lock_wait_ms, 0, e);
	drun_step_end(&r, "lock", t, rc, e);
	if (rc)
		goto done;
	if ((rc = deploy_state_read(env, &r.state, e)))
		goto unlock;
	if (json_object_get(r.state, "pending")) {
		if ((rc = drun_complete_pending(&r, &res, e)))
			goto unlock;
		cur = json_string_value(json_object_get(r.state, "release"));
		if (!o->release || (cur && !strcmp(o->release, cur))) {
			cur_s = xstrdup_or_null(cur);
			r.release = cur_s;
			goto unlock;
		}
		res = DEPLOY_ABORTED;
	}
	cur_s = xstrdup_or_null(json_string_value(json_object_get(r.state, "release")));
	to_s = xstrdup_or_null(o->release ? o->release :
			       json_string_value(json_object_get(r.state, "previous_release")));
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
	if ((rc = find_release(env, r.state, to, &images, &schema, &schema_known, &had_bundle, e)))
		goto unlock;
	/* Proven before anything changes: a bundle that is gone or altered is
	 * refused (2 and 4), never half-used. */
	deploy_bundle_init(&r.prev_bundle, env, to);
	r.have_prev_bundle = 1;
	t = drun_step_begin("bundle", r.prev_bundle.dir.buf);
	rc = deploy_bundle_load(env, &r.prev_bundle, e);
	if (rc == BL_EUSAGE && !had_bundle) {
		/* deployed before bundles existed: its tags, as before */
		log_warn("%s", e->msg);
		errbuf_clear(e);
		deploy_bundle_release(&r.prev_bundle);
		r.have_prev_bundle = 0;
		rc = 0;
	}
	drun_step_end(&r, "bundle", t, rc, e);
	if (rc)
		goto unlock;
	if (r.have_prev_bundle)
		r.history_bundle = deploy_bundle_ref(&r.prev_bundle);
	r.release = to;
	r.prev_release = xstrdup(cur);
	cur_images = json_object_get(r.state, "images");
	r.prev_images = json_incref(cur_images);
	if (json_is_string(json_object_get(r.state, "previous_release")) &&
	    !strcmp(json_string_value(json_object_get(r.state, "previous_release")), to) &&
	    json_is_string(json_object_get(r.state, "backup_id")))
		r.backup_id = xstrdup(json_string_value(json_object_get(r.state, "backup_id")));
	if (json_is_string(json_object_get(r.state, "previous_release")) &&
	    !strcmp(json_string_value(json_object_get(r.state, "previous_release")), to) &&
	    json_is_string(json_object_get(r.state, "restore_point")))
		r.restore_point = xstrdup(json_string_value(json_object_get(r.state, "restore_point")));
	if (json_is_integer(json_object_get(r.state, "schema_version"))) {
		r.schema_before = json_integer_value(json_object_get(r.state, "schema_version"));
		r.schema_known = schema_known;
	}
	drun_set_running(&r, cur, r.prev_images, json_object_get(r.state, "bundle") != NULL);
	if ((rc = drun_release_dir(&r, cur, &dir, e)))
		goto unlock;
	if (!dir.len && (rc = drun_release_dir(&r, to, &dir, e)))
		goto unlock;
	memset(&tg, 0, sizeof(tg));
	tg.release = to;
	tg.images = images;
	tg.schema = schema;
	tg.schema_known = schema_known;
	tg.backup_id = r.backup_id;
	tg.restore_point = r.restore_point;
	tg.migrate_dir = dir.len ? dir.buf : NULL;
	tg.bundle = r.have_prev_bundle ? &r.prev_bundle : NULL;
	log_info("rolling %s back from %s to %s", env->name, cur, to);
	rc = drun_rollback_to(&r, &tg, e);
	if (rc) {
		res = DEPLOY_FAILED_ATTENTION;
		errbuf_prefix(e, "failed-needs-attention: rollback of %s to %s: ", env->name, to);
		rc = BL_EVERIFY;
		drun_history(&r, cur, to, images, res, e->msg);
		goto unlock;
	}
	res = r.restored ? DEPLOY_ROLLED_BACK_RESTORE : DEPLOY_ROLLED_BACK;
	json_object_set_new(r.state, "previous_release", json_string(cur));
	json_object_set(r.state, "previous_images", cur_images);
	if (json_object_get(r.state, "bundle"))
		json_object_set(r.state, "previous_bundle", json_object_get(r.state, "bundle"));
	else
		json_object_del(r.state, "previous_bundle");
	if (json_is_integer(json_object_get(r.state, "schema_version")))
		json_object_set(r.state, "previous_schema_version",
				json_object_get(r.state, "schema_version"));
	json_object_del(r.state, "backup_id");
	json_object_del(r.state, "restore_point");
	drun_state_set_release(r.state, to, images, schema_known, schema, tg.bundle);
	if ((rc = deploy_state_write(env, r.state, e))) {
		res = DEPLOY_FAILED_ATTENTION;
		errbuf_prefix(e, "failed-needs-attention: %s runs %s but state.json was not updated: ",
			      env->name, to);
		rc = BL_EVERIFY;
	}
	drun_history(&r, cur, to, images, res, rc ? e->msg : NULL);
	if (!rc)
		drun_hook_warn(&r, "post-rollback");
unlock:
	drun_unlock(&r);
	if (res != DEPLOY_ABORTED) {
		json_t *out = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:I, s:O}", "event",
					"result", "result", deploy_result_name(res), "env", env->name,
					"release", r.release, "previous_release", r.prev_release,
					"backup_id", r.backup_id, "restore_point", r.restore_point,
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
	drun_run_release(&r);
	return rc;
}
