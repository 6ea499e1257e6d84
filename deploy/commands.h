/*
 * ballast-deploy: one file per command; main.c holds the table.
 */
#ifndef BALLAST_DEPLOY_COMMANDS_H
#define BALLAST_DEPLOY_COMMANDS_H

#include "cli.h"

int cmd_deploy(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_rollback(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_plan(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_status(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_releases(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_history(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_lock(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_check(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_lint(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_tag_for_ref(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_env_for_ref(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);

/* tag_for_ref.c: the body of tag-for-ref and env-for-ref. */
int deploy_ref_command(int argc, char **argv, struct cli_ctx *ctx, int want_env,
		       struct errbuf *e);

#endif
