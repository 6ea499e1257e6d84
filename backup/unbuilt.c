/* Commands whose issue has not landed yet: they say so and fail. */
#include "commands.h"

int cmd_prune(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #5");
}

int cmd_drill(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #5");
}
