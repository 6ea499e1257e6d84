/* Commands whose issue has not landed yet: they say so and fail. */
#include "commands.h"

int cmd_deploy(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #8");
}

int cmd_rollback(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #8");
}

int cmd_plan(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #8");
}

int cmd_status(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #8");
}

int cmd_history(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #8");
}

int cmd_lock(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #8");
}

int cmd_check(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #8");
}

int cmd_tag_for_ref(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #8");
}

int cmd_env_for_ref(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #8");
}
