/* Commands whose issue has not landed yet: they say so and fail. */
#include "commands.h"

int cmd_run(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #3");
}

int cmd_list(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #3");
}

int cmd_show(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #3");
}

int cmd_verify(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #3");
}

int cmd_restore(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #3");
}

int cmd_prune(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #5");
}

int cmd_drill(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #5");
}
