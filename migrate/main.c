#include "commands.h"

static const struct cli_command commands[] = {
	{ "status", cmd_status, "show current version, pending and applied migrations, drift",
	  "status [--exit-code] [--dir DIR] [--database URL|CONNINFO]\n"
	  "  --exit-code  exit 5 when migrations are pending" },
	{ "up", cmd_up, "apply pending migrations",
	  "up [--to V] [--release TAG] [--dry-run] [--allow-drift] [--dir DIR] [--database URL|CONNINFO]\n"
	  "  --release TAG  recorded with each migration (else $BALLAST_RELEASE)\n"
	  "  --allow-drift  apply even when an applied migration's file changed (else exit 4)" },
	{ "down", cmd_down, "revert migrations with their stored down SQL",
	  "down [--to V | --steps N] [--dry-run] [--dir DIR] [--database URL|CONNINFO]\n"
	  "  default: one step; a downgrade across an irreversible migration is refused (exit 1)" },
	{ "goto", cmd_goto, "migrate up or down to a version",
	  "goto V [--release TAG] [--dry-run] [--allow-drift] [--dir DIR] [--database URL|CONNINFO]" },
	{ "plan", cmd_plan, "show what would run to reach a version",
	  "plan [--to V] [--dir DIR] [--database URL|CONNINFO]" },
	{ "history", cmd_history, "list applied migrations in the order they were applied",
	  "history [--dir DIR] [--database URL|CONNINFO]" },
	{ "verify", cmd_verify, "check applied migrations against their files",
	  "verify [--dir DIR] [--database URL|CONNINFO]\n"
	  "  exit 4 when an applied migration's up file changed (drift)" },
	{ "force", cmd_force, "clear the dirty state at a version",
	  "force V [--dry-run] [--dir DIR] [--database URL|CONNINFO]\n"
	  "  V at or above the dirty migration keeps it as applied; below it removes it" },
	{ "baseline", cmd_baseline, "mark migrations up to a version as applied without running them",
	  "baseline V [--release TAG] [--dry-run] [--dir DIR] [--database URL|CONNINFO]" },
	{ "new", cmd_new, "create a new migration pair with a timestamp version",
	  "new NAME [--no-down] [--dir DIR]" },
	{ NULL, NULL, NULL, NULL }
};

int main(int argc, char **argv)
{
	return cli_main("ballast-migrate",
			"Apply and revert schema migrations; the down SQL is stored in the database when a migration is applied.\n"
			"The database: --database URL|CONNINFO, else migrations.database of the config,\n"
			"else $DATABASE_URL, else the PG* variables. Migrations: --dir DIR, else migrations.dir.",
			commands, argc, argv);
}
