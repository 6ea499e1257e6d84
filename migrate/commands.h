/*
 * ballast-migrate: one file per command; main.c holds the table.
 */
#ifndef BALLAST_MIGRATE_COMMANDS_H
#define BALLAST_MIGRATE_COMMANDS_H

#include "cli.h"

int cmd_status(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_up(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_down(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_goto(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_plan(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_history(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_verify(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_force(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_baseline(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_new(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);

#endif
