#include <stdlib.h>
#include <string.h>

#include "commands.h"

#define ABOUT \
	"Apply and revert schema migrations; the down SQL is stored in the database when a migration is applied.\n" \
	"The database: --database URL|CONNINFO, else migrations.database of the config,\n" \
	"else $DATABASE_URL, else the PG* variables. Migrations: --dir DIR, else migrations.dir.\n" \
	"--dir, --database and --release may also come before the command.\n" \
	"Besides the exit codes below, status --exit-code exits 5 when migrations are pending."

static const struct cli_command commands[] = {
	{ "status", cmd_status, "show current version, pending and applied migrations, drift",
	  "status [--exit-code] [--dir DIR] [--database URL|CONNINFO]" },
	{ "up", cmd_up, "apply pending migrations",
	  "up [N | --steps N | --to V] [--release TAG] [--dry-run] [--allow-drift] [--allow-out-of-order]\n"
	  "   [--strict-transactions] [--dir DIR] [--database URL|CONNINFO]\n\n"
	  "N (golang-migrate's form) is --steps N." },
	{ "down", cmd_down, "revert migrations with their stored down SQL",
	  "down [N | --steps N | --to V] [--dry-run] [--strict-transactions] [--dir DIR] [--database URL|CONNINFO]\n\n"
	  "Default: one step; a downgrade across an irreversible migration is refused (exit 1)." },
	{ "goto", cmd_goto, "migrate up or down to a version",
	  "goto V [--release TAG] [--dry-run] [--allow-drift] [--allow-out-of-order] [--strict-transactions]\n"
	  "   [--dir DIR] [--database URL|CONNINFO]\n\n"
	  "Never goes down to a version whose file was never applied (out of order; exit 2)." },
	{ "plan", cmd_plan, "show what would run to reach a version",
	  "plan [--to V] [--allow-out-of-order] [--dir DIR] [--database URL|CONNINFO]" },
	{ "history", cmd_history, "list applied migrations in the order they were applied",
	  "history [--dir DIR] [--database URL|CONNINFO]" },
	{ "verify", cmd_verify, "check applied migrations against their files",
	  "verify [--dir DIR] [--database URL|CONNINFO]\n\n"
	  "Exit 4 when an applied migration's up file changed (drift) or a file older than\n"
	  "the current version was never applied (out of order)." },
	{ "force", cmd_force, "clear the dirty state at a version",
	  "force V [--dry-run] [--dir DIR] [--database URL|CONNINFO]\n\n"
	  "V at or above the dirty migration keeps it as applied; below it removes it." },
	{ "baseline", cmd_baseline, "mark migrations up to a version as applied without running them",
	  "baseline [V] [--release TAG] [--dry-run] [--dir DIR] [--database URL|CONNINFO]\n\n"
	  "Without V: look for golang-migrate's, dbmate's, goose's or Alembic's history table\n"
	  "and propose the version it names (exit 2 when none)." },
	{ "new", cmd_new, "create a new migration pair with a timestamp version",
	  "new NAME [--no-down] [--dir DIR]" },
	{ NULL, NULL, NULL, NULL }
};

/* An option of the commands (with its value) that may come before the
 * command word, as in `ballast-migrate --database URL up`: golang-migrate
 * users type it that way. Returns how many arguments it takes, or 0. */
static int pre_option(char **argv, int i, int argc)
{
	static const char *const names[] = { "--dir", "--database", "--release", NULL };

	for (int k = 0; names[k]; k++) {
		size_t n = strlen(names[k]);

		if (!strcmp(argv[i], names[k]))
			return i + 1 < argc ? 2 : 1;
		if (!strncmp(argv[i], names[k], n) && argv[i][n] == '=')
			return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char **args = calloc((size_t)argc + 1, sizeof(*args));
	int n = 1, cmd = -1, rc;

	if (!args)
		return 1;
	args[0] = argv[0];
	/* Find the command word, skipping global options and --config's value;
	 * the command's own options found before it move after it. */
	for (int i = 1; i < argc && cmd < 0; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--config")) {
			i++;
		} else if (pre_option(argv, i, argc)) {
			i += pre_option(argv, i, argc) - 1;
		} else if (argv[i][0] != '-') {
			cmd = i;
		}
	}
	if (cmd < 0) {
		rc = cli_main("ballast-migrate", ABOUT, commands, argc, argv);
		free(args);
		return rc;
	}
	for (int i = 1; i < cmd; i++) {
		int k = strcmp(argv[i], "--config") ? pre_option(argv, i, argc) : 0;

		if (!k) {
			args[n++] = argv[i];
			if (!strcmp(argv[i], "--config"))
				args[n++] = argv[++i];
			continue;
		}
		i += k - 1;
	}
	args[n++] = argv[cmd];
	for (int i = 1; i < cmd; i++) {
		int k;

		if (!strcmp(argv[i], "--config")) {
			i++;
			continue;
		}
		k = pre_option(argv, i, argc);
		for (int j = 0; j < k; j++)
			args[n++] = argv[i + j];
		if (k)
			i += k - 1;
	}
	for (int i = cmd + 1; i < argc; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	rc = cli_main("ballast-migrate", ABOUT, commands, n, args);
	free(args);
	return rc;
}
