#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "deploy_env.h"
#include "deploy_lock.h"
#include "deploy_state.h"
#include "deploy_steps.h"
#include "log.h"

/* Run one of the ballast tools on the target and keep its result line;
 * a failure is reported in the status rather than failing it. */
static json_t *tool_result(struct deploy_env *env, int backup, const char *const *args,
			   struct strbuf *why)
{
	struct strvec argv = STRVEC_INIT;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	json_t *res = NULL;
	int status = 0;

	if (backup)
		deploy_env_backup_argv(env, args, &argv);
	else
		deploy_env_migrate_argv(env, args, &argv);
	if (transport_run(env->t, strvec_argv(&argv), NULL, NULL, &out, &err, &status, 60000, &e)) {
		strbuf_addstr(why, e.msg);
	} else if (status) {
		strbuf_rtrim(&err);
		strbuf_addf(why, "%s exited with status %d", argv.v[0], status);
	} else if (!(res = deploy_result_line(out.buf))) {
		strbuf_addf(why, "%s printed no result", argv.v[0]);
	}
	strvec_clear(&argv);
	strbuf_release(&out);
	strbuf_release(&err);
	return res;
}

/* A pending deploy whose lock is held by a live run (not an operator's lock,
 * not stale) is still going: advising a rollback would only earn exit 3. */
static int pending_running(json_t *state, json_t *lock)
{
	char why[200];

	return json_object_get(state, "pending") && lock &&
	       !json_is_true(json_object_get(lock, "manual")) &&
	       !deploy_lock_is_stale(lock, why, sizeof(why));
}

int cmd_status(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct deploy_env *env = NULL;
	struct strbuf why_m = STRBUF_INIT, why_b = STRBUF_INIT, d = STRBUF_INIT;
	json_t *state = NULL, *lock = NULL, *mig = NULL, *bk = NULL, *last = NULL, *res;
	const char *margs[] = { "status", "--json", NULL };
	const char *bargs[] = { "list", "--json", NULL };
	struct parseopt_rest rest;
	int rc, running;
	const struct option_spec opts[] = { OPT_END() };

	rc = cli_parse(ctx, argc, argv, opts, 0, &rest, e);
	if (rc)
		return rc;
	if (rest.argc != 1)
		return cli_usage_error(ctx, e, "expected one environment");
	if ((rc = cli_config(ctx, e)) || (rc = deploy_env_open(ctx->cfg, rest.argv[0], 1, &env, e)))
		return rc;
	if ((rc = deploy_state_read(env, &state, e)) || (rc = deploy_lock_read(env, &lock, e)))
		goto out;
	/* Ask the tools only about what this project uses. */
	if (json_object_get(state, "schema_version") || config_get(ctx->cfg, "migrations"))
		mig = tool_result(env, 0, margs, &why_m);
	else
		strbuf_addstr(&why_m, "not managed (no migrations configured)");
	if (config_get(ctx->cfg, "repository"))
		bk = tool_result(env, 1, bargs, &why_b);
	else
		strbuf_addstr(&why_b, "no repository configured");
	if (bk) {
		json_t *b;
		size_t i;

		/* the newest good backup; ids sort by time */
		json_array_foreach(json_object_get(bk, "backups"), i, b) {
			const char *st = json_string_value(json_object_get(b, "status"));
			const char *id = json_string_value(json_object_get(b, "id"));

			if (!id || (st && strcmp(st, "good")))
				continue;
			if (!last || strcmp(id, json_string_value(json_object_get(last, "id"))) > 0)
				last = b;
		}
	}
	if (lock)
		json_object_del(lock, "token");
	running = pending_running(state, lock);
	if (log_json()) {
		res = json_pack("{s:s, s:s, s:s, s:O, s:O?, s:O?, s:O?}", "event", "result", "env",
				env->name, "target", transport_describe(env->t), "state", state,
				"lock", lock, "last_backup", last,
				"schema_version", mig ? json_object_get(mig, "current_version") : NULL);
		if (!mig)
			json_object_set_new(res, "schema_error", json_string(why_m.buf));
		if (!bk)
			json_object_set_new(res, "backup_error", json_string(why_b.buf));
		if (json_object_get(state, "pending"))
			json_object_set_new(res, "pending", json_string(running ? "running" : "interrupted"));
		log_json_result(res);
		json_decref(res);
	} else {
		const char *rel = json_string_value(json_object_get(state, "release"));
		json_t *imgs = json_object_get(state, "images"), *v;
		const char *k;

		printf("environment  %s (%s, %s)\n", env->name, transport_describe(env->t), env->app_dir);
		if (rel)
			printf("release      %s, deployed %s by %s\n", rel,
			       json_string_value(json_object_get(state, "deployed_at")),
			       json_string_value(json_object_get(state, "deployed_by")));
		else
			printf("release      none deployed by ballast yet\n");
		if (json_is_string(json_object_get(state, "previous_release")))
			printf("previous     %s\n",
			       json_string_value(json_object_get(state, "previous_release")));
		json_object_foreach(imgs, k, v)
			printf("image        %s=%s\n", k, json_string_value(v));
		if (mig)
			printf("schema       version %lld%s%s\n",
			       (long long)json_integer_value(json_object_get(mig, "current_version")),
			       json_is_true(json_object_get(mig, "dirty")) ? " (DIRTY)" : "",
			       json_array_size(json_object_get(mig, "pending")) ? " (migrations pending)" : "");
		else
			printf("schema       %s\n", why_m.buf);
		if (last)
			printf("last backup  %s\n", json_string_value(json_object_get(last, "id")));
		else
			printf("last backup  %s\n", bk ? "none" : why_b.buf);
		if (lock) {
			deploy_lock_describe(lock, &d);
			printf("lock         %s\n", d.buf);
		} else {
			printf("lock         free\n");
		}
		if (json_object_get(state, "pending") && running)
			printf("running      a deploy of %s is in progress (its run holds the lock)\n",
			       json_string_value(json_object_get(json_object_get(state, "pending"), "release")));
		else if (json_object_get(state, "pending"))
			printf("ATTENTION    the deploy of %s did not finish: run 'ballast-deploy rollback %s'\n",
			       json_string_value(json_object_get(json_object_get(state, "pending"), "release")),
			       env->name);
	}
	fflush(stdout);
out:
	json_decref(state);
	json_decref(lock);
	json_decref(mig);
	json_decref(bk);
	strbuf_release(&why_m);
	strbuf_release(&why_b);
	strbuf_release(&d);
	deploy_env_close(env);
	return rc;
}
