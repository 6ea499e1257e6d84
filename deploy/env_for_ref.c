#include "commands.h"

int cmd_env_for_ref(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return deploy_ref_command(argc, argv, ctx, 1, e);
}
