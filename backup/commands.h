/*
 * ballast-backup: one file per command; main.c holds the table.
 */
#ifndef BALLAST_BACKUP_COMMANDS_H
#define BALLAST_BACKUP_COMMANDS_H

#include "cli.h"

int cmd_init(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_run(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_list(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_show(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_verify(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_restore(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_prune(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_rekey(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_drill(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_check(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_wal_push(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_wal_stream(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_wal_fetch(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
int cmd_restore_point(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
/* restore --pitr: backup/pitr.c */
int cmd_restore_pitr(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);

#endif
