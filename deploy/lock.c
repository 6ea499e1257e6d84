#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "config.h"
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
	static const struct option opts[] = {
		{ "message", required_argument, NULL, 'm' },
		{ "ttl", required_argument, NULL, 't' },
		{ "force", no_argument, NULL, 'f' },
		{ "lock-wait", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	struct deploy_env *env = NULL;
	struct deploy_lock lk = { "", 0 };
	const char *msg = NULL, *verb;
	long long ttl_ms = 0;
	int c, force = 0, rc;

	while ((c = getopt_long(argc, argv, "m:t:f", opts, NULL)) != -1) {
		switch (c) {
		case 'm': msg = optarg; break;
		case 't':
			if (config_duration_ms(optarg, &ttl_ms))
				return cli_usage_error(ctx, e, "--ttl: expected a duration like \"2h\", got \"%s\"", optarg);
			break;
		case 'f': force = 1; break;
		default:
			return cli_usage_error(ctx, e, "unknown option %s", argv[optind - 1]);
		}
	}
	if (optind + 2 != argc)
		return cli_usage_error(ctx, e, "expected an environment and status, acquire or release");
	verb = argv[optind + 1];
	if (strcmp(verb, "status") && strcmp(verb, "acquire") && strcmp(verb, "release"))
		return cli_usage_error(ctx, e, "unknown lock action \"%s\" (status, acquire, release)", verb);
	if (!strcmp(verb, "acquire") && (!msg || !*msg))
		return cli_usage_error(ctx, e, "lock acquire needs -m MESSAGE saying why");
	if ((rc = cli_config(ctx, e)))
		return rc;
	if ((rc = deploy_env_open(ctx->cfg, argv[optind], 1, &env, e)))
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
