/* Commands whose issue has not landed yet: they say so and fail. */
#include "commands.h"

int cmd_status(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #7");
}

int cmd_up(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #7");
}

int cmd_down(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #7");
}

int cmd_goto(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #7");
}

int cmd_plan(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #7");
}

int cmd_history(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #7");
}

int cmd_verify(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #7");
}

int cmd_force(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #7");
}

int cmd_baseline(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #7");
}

int cmd_new(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #7");
}
