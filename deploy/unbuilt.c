/* Commands whose issue has not landed yet: they say so and fail. */
#include "commands.h"

int cmd_lint(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return cli_not_built(ctx, e, "issue #9");
}
