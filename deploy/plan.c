#include <getopt.h>
#include <stdio.h>

#include "commands.h"
#include "deploy_env.h"
#include "deploy_steps.h"

int cmd_plan(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	static const struct option opts[] = {
		{ "release", required_argument, NULL, 'r' },
		{ "migrations", required_argument, NULL, 'M' },
		{ NULL, 0, NULL, 0 }
	};
	struct deploy_opts o = { NULL, NULL, 0, 0 };
	struct deploy_env *env = NULL;
	json_t *plan;
	int c, rc;

	while ((c = getopt_long(argc, argv, "r:", opts, NULL)) != -1) {
		switch (c) {
		case 'r': o.release = optarg; break;
		case 'M': o.migrations_dir = optarg; break;
		default:
			return cli_usage_error(ctx, e, "unknown option %s", argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error(ctx, e, "expected one environment");
	if (!o.release)
		return cli_usage_error(ctx, e, "--release TAG is required");
	if (!deploy_tag_valid(o.release))
		return cli_usage_error(ctx, e, "--release \"%s\": not a valid image tag", o.release);
	if ((rc = cli_config(ctx, e)))
		return rc;
	if ((rc = deploy_env_open(ctx->cfg, argv[optind], 1, &env, e)))
		return rc;
	plan = json_array();
	rc = deploy_plan(env, &o, plan, e);
	if (!rc)
		deploy_plan_print(env, &o, plan);
	json_decref(plan);
	deploy_env_close(env);
	return rc;
}
