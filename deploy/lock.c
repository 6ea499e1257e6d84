#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "deploy_env.h"
#include "deploy_lock.h"
#include "deploy_state.h"
#include "log.h"

static int lock_status(struct deploy_env *env, struct errbuf *e)
{
	json_t *lock = NULL, *res;
	char why[200] = "";
	int rc, stale = 0;

	if ((rc = deploy_lock_read(env, &lock, e)))
		return rc;
	if (lock)
		stale = deploy_lock_is_stale(lock, why, sizeof(why));
	if (log_json()) {
		res = json_pack("{s:s, s:s, s:b, s:O?, s:b}", "event", "result", "env", env->name,
				"locked", lock != NULL, "lock", lock, "stale", stale);
		json_object_del(json_object_get(res, "lock"), "token");
		log_json_result(res);
		json_decref(res);
	} else if (!lock) {
		printf("%s: free\n", env->name);
	} else {
		struct strbuf d = STRBUF_INIT;

		deploy_lock_describe(lock, &d);
		printf("%s: locked, %s%s%s%s\n", env->name, d.buf, stale ? " (stale: " : "",
		       stale ? why : "", stale ? ")" : "");
		strbuf_release(&d);
	}
	fflush(stdout);
	json_decref(lock);
	return 0;
}

int cmd_lock(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct deploy_env *env = NULL;
	struct deploy_lock lk = { "", 0 };
	struct parseopt_rest rest;
	const char *msg = NULL, *verb;
	long long ttl_ms = 0;
	int force = 0, rc;
	/* No --lock-wait (the getopt table listed it and never read it):
	 * acquire does not wait, a held lock is exit 3. */
	const struct option_spec opts[] = {
		OPT_STRING('m', "message", &msg, "MSG", "why the lock is taken (acquire)"),
		OPT_VALUE(PARSEOPT_DURATION, 't', "ttl", &ttl_ms, "DURATION", "a duration like \"2h\"",
			  0, "the operator lock expires after this (acquire; default never)"),
		OPT_FLAG('f', "force", &force, "release a run's lock too, not only an operator's"),
		OPT_END()
	};

	rc = cli_parse(ctx, argc, argv, opts, 0, &rest, e);
	if (rc)
		return rc;
	if (rest.argc != 2)
		return cli_usage_error(ctx, e, "expected an environment and status, acquire or release");
	verb = rest.argv[1];
	if (strcmp(verb, "status") && strcmp(verb, "acquire") && strcmp(verb, "release"))
		return cli_usage_error(ctx, e, "unknown lock action \"%s\" (status, acquire, release)", verb);
	if (!strcmp(verb, "acquire") && (!msg || !*msg))
		return cli_usage_error(ctx, e, "lock acquire needs -m MESSAGE saying why");
	if ((rc = cli_config(ctx, e)))
		return rc;
	if ((rc = deploy_env_open(ctx->cfg, rest.argv[0], 1, &env, e)))
		return rc;
	if (!strcmp(verb, "status")) {
		rc = lock_status(env, e);
	} else if (!strcmp(verb, "acquire")) {
		rc = deploy_lock_acquire(env, &lk, "lock acquire", msg, ttl_ms, 0, 1, e);
		if (!rc) {
			if (log_json()) {
				json_t *o = json_pack("{s:s, s:s, s:b}", "event", "result", "env", env->name,
						      "locked", 1);

				log_json_result(o);
				json_decref(o);
			} else {
				printf("%s: locked by %s: %s\n", env->name, deploy_whoami(), msg);
			}
		}
	} else {
		json_t *cur = NULL;

		/* A lock taken by `lock acquire` belongs to the operators, so any
		 * of them may release it; a running deploy's lock needs --force. */
		rc = deploy_lock_read(env, &cur, e);
		if (!rc && cur) {
			int manual = json_is_true(json_object_get(cur, "manual"));

			if (!manual && !force) {
				struct strbuf d = STRBUF_INIT;

				deploy_lock_describe(cur, &d);
				rc = errbuf_set(e, BL_ELOCKED,
						"environment %s: the lock belongs to a run (%s); use --force if that run is gone",
						env->name, d.buf);
				strbuf_release(&d);
			} else {
				rc = deploy_lock_release(env, &lk, 1, e);
			}
		}
		if (!rc) {
			if (log_json()) {
				json_t *o = json_pack("{s:s, s:s, s:b, s:b}", "event", "result", "env",
						      env->name, "locked", 0, "released", cur != NULL);

				log_json_result(o);
				json_decref(o);
			} else {
				printf("%s: %s\n", env->name, cur ? "released" : "was not locked");
			}
		}
		json_decref(cur);
	}
	fflush(stdout);
	deploy_env_close(env);
	return rc;
}
