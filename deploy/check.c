#include <stdio.h>

#include "commands.h"
#include "deploy_env.h"
#include "deploy_steps.h"
#include "log.h"

int cmd_check(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct deploy_env *env = NULL;
	struct parseopt_rest rest;
	json_t *checks, *c;
	size_t i;
	int rc;
	/* no options: the table still gives one "unknown option" line and
	 * --help its listing */
	const struct option_spec opts[] = { OPT_END() };

	rc = cli_parse(ctx, argc, argv, opts, 0, &rest, e);
	if (rc)
		return rc;
	if (rest.argc != 1)
		return cli_usage_error(ctx, e, "expected one environment");
	if ((rc = cli_config(ctx, e)) || (rc = deploy_env_open(ctx->cfg, rest.argv[0], 1, &env, e)))
		return rc;
	checks = json_array();
	rc = deploy_preflight_report(env, NULL, checks, e);
	if (log_json()) {
		json_t *res = json_pack("{s:s, s:s, s:b, s:O}", "event", "result", "env", env->name,
					"ok", !rc, "checks", checks);

		log_json_result(res);
		json_decref(res);
	} else {
		json_array_foreach(checks, i, c)
			printf("%-4s %-16s %s\n", json_is_true(json_object_get(c, "ok")) ? "ok" : "FAIL",
			       json_string_value(json_object_get(c, "check")),
			       json_string_value(json_object_get(c, "detail")));
		fflush(stdout);
	}
	json_decref(checks);
	deploy_env_close(env);
	return rc;
}
