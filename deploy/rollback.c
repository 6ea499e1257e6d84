#include "commands.h"
#include "deploy_env.h"
#include "deploy_steps.h"
#include "interrupt.h"

int cmd_rollback(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct deploy_opts o = { 0 };
	struct deploy_env *env = NULL;
	struct parseopt_rest rest;
	enum deploy_result res;
	int rc;
	const struct option_spec opts[] = {
		OPT_STRING('t', "to", &o.release, "RELEASE",
			   "the release to go back to (default the previous)"),
		OPT_SECONDS('w', "lock-wait", &o.lock_wait_ms, "SECONDS",
			    "wait this long for another run's lock (default 0)"),
		OPT_END()
	};

	rc = cli_parse(ctx, argc, argv, opts, 0, &rest, e);
	if (rc)
		return rc;
	if (rest.argc != 1)
		return cli_usage_error(ctx, e, "expected one environment");
	if (o.release && !deploy_tag_valid(o.release))
		return cli_usage_error(ctx, e, "--to \"%s\": not a valid image tag", o.release);
	if ((rc = cli_config(ctx, e)))
		return rc;
	interrupt_catch();
	if ((rc = deploy_env_open(ctx->cfg, rest.argv[0], 1, &env, e)))
		return rc;
	rc = deploy_rollback(env, &o, &res, e);
	deploy_env_close(env);
	return rc;
}
