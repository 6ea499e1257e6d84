#include <getopt.h>
#include <stdlib.h>

#include "commands.h"
#include "deploy_env.h"
#include "deploy_steps.h"
#include "interrupt.h"

int cmd_rollback(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "lock-wait", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	struct deploy_opts o = { NULL, NULL, 0, 0 };
	struct deploy_env *env = NULL;
	enum deploy_result res;
	int c, rc;
	char *end;

	while ((c = getopt_long(argc, argv, "t:w:", opts, NULL)) != -1) {
		switch (c) {
		case 't': o.release = optarg; break;
		case 'w':
			o.lock_wait_ms = strtoll(optarg, &end, 10) * 1000;
			if (*end || o.lock_wait_ms < 0)
				return cli_usage_error(ctx, e, "--lock-wait: expected seconds, got \"%s\"", optarg);
			break;
		default:
			return cli_usage_error(ctx, e, "unknown option %s", argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error(ctx, e, "expected one environment");
	if (o.release && !deploy_tag_valid(o.release))
		return cli_usage_error(ctx, e, "--to \"%s\": not a valid image tag", o.release);
	if ((rc = cli_config(ctx, e)))
		return rc;
	interrupt_catch();
	if ((rc = deploy_env_open(ctx->cfg, argv[optind], 1, &env, e)))
		return rc;
	rc = deploy_rollback(env, &o, &res, e);
	deploy_env_close(env);
	return rc;
}
