/*
 * cli: the command table and main() shared by the three binaries (git.c's
 * commands[] idea).
 *
 * Contract: a binary's main() is one call to cli_main() with its table.
 * Global options may appear before or after the command: --config FILE,
 * --json, -v/--verbose, -q/--quiet, and -h/--help, --version. `<tool> CMD
 * --help` prints the command's usage and exits 0. An unknown command or
 * option exits 2 with one line. `<tool> CMD --help` (or `<tool> help CMD`)
 * calls the command with ctx->help set: its cli_parse() prints the usage
 * with the option table and returns CLI_HELP_SHOWN, so every command must
 * call cli_parse() before it does anything. A command returns a bl_status; on failure
 * its errbuf line is printed (redacted) as "<tool>: error: <msg>" and, with
 * --json, as an {"event":"error"} line; the status is the exit code.
 */
#ifndef BALLAST_CLI_H
#define BALLAST_CLI_H

#include "config.h"
#include "errbuf.h"
#include "parseopt.h"

struct cli_ctx {
	const char *tool;          /* "ballast-backup" */
	const char *config_path;   /* --config, or NULL */
	int json;
	int verbosity;
	struct config *cfg;        /* loaded by cli_config() */
	const struct cli_command *cmd;
	int help;                  /* <tool> CMD --help: cli_parse prints the help */
};

struct cli_command {
	const char *name;
	int (*fn)(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e);
	const char *summary;  /* one line for the command list */
	const char *usage;    /* full --help text for the command */
};

/* cmds is terminated by an entry with name == NULL. */
int cli_main(const char *tool, const char *about, const struct cli_command *cmds,
	     int argc, char **argv);

/* Load the configuration once (--config, $BALLAST_CONFIG, ...). */
int cli_config(struct cli_ctx *ctx, struct errbuf *e);

/* For commands: an option-parsing failure message with the --help hint. */
int cli_usage_error(struct cli_ctx *ctx, struct errbuf *e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* What cli_parse returns once it printed a command's help: not a
 * bl_status, cli_main turns it into exit 0. */
#define CLI_HELP_SHOWN (-1)

/* A command's options: parseopt_parse() against its table, and on bad
 * input parseopt's one line with the --help hint, as cli_usage_error.
 * With ctx->help, prints the command's help (usage, summary, the table's
 * options) instead and returns CLI_HELP_SHOWN. */
int cli_parse(struct cli_ctx *ctx, int argc, char **argv, const struct option_spec *opts,
	      unsigned flags, struct parseopt_rest *rest, struct errbuf *e);

#endif
