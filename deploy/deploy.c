#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "deploy_env.h"
#include "deploy_steps.h"
#include "log.h"
#include "interrupt.h"

int cmd_deploy(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	static const struct option opts[] = {
		{ "release", required_argument, NULL, 'r' },
		{ "migrations", required_argument, NULL, 'M' },
		{ "lock-wait", required_argument, NULL, 'w' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "allow-mutable", no_argument, NULL, 'A' },
		{ NULL, 0, NULL, 0 }
	};
	struct deploy_opts o = { NULL, NULL, 0, 0 };
	struct deploy_env *env = NULL;
	enum deploy_result res;
	const char *name;
	int c, dry = 0, rc;
	char *end;

	while ((c = getopt_long(argc, argv, "r:w:n", opts, NULL)) != -1) {
		switch (c) {
		case 'r': o.release = optarg; break;
		case 'M': o.migrations_dir = optarg; break;
		case 'w':
			o.lock_wait_ms = strtoll(optarg, &end, 10) * 1000;
			if (*end || o.lock_wait_ms < 0)
				return cli_usage_error(ctx, e, "--lock-wait: expected seconds, got \"%s\"", optarg);
			break;
		case 'n': dry = 1; break;
		case 'A': o.allow_mutable = 1; break;
		default:
			return cli_usage_error(ctx, e, "unknown option %s", argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error(ctx, e, "expected one environment");
	name = argv[optind];
	if (!o.release)
		return cli_usage_error(ctx, e, "--release TAG is required");
	if (!deploy_tag_valid(o.release))
		return cli_usage_error(ctx, e, "--release \"%s\": not a valid image tag "
				       "([A-Za-z0-9_][A-Za-z0-9_.-]*, at most 128)", o.release);
	if ((rc = cli_config(ctx, e)))
		return rc;
	interrupt_catch();
	if ((rc = deploy_env_open(ctx->cfg, name, 1, &env, e)))
		return rc;
	if (dry) {
		json_t *plan = json_array();

		rc = deploy_plan(env, &o, plan, e);
		if (!rc)
			deploy_plan_print(env, &o, plan);
		json_decref(plan);
	} else {
		rc = deploy_run(env, &o, &res, e);
	}
	deploy_env_close(env);
	return rc;
}
