#include "commands.h"

static const struct cli_command commands[] = {
	{ "status", cmd_status, "show current version, pending and applied migrations, drift",
	  "status [--exit-code] [--database URL]" },
	{ "up", cmd_up, "apply pending migrations",
	  "up [--to V] [--release TAG] [--dry-run] [--allow-drift]" },
	{ "down", cmd_down, "revert migrations with their stored down SQL",
	  "down [--to V | --steps N] [--dry-run]" },
	{ "goto", cmd_goto, "migrate up or down to a version",
	  "goto V [--dry-run]" },
	{ "plan", cmd_plan, "show what would run to reach a version",
	  "plan --to V" },
	{ "history", cmd_history, "list applied migrations in the order they were applied",
	  "history" },
	{ "verify", cmd_verify, "check applied migrations against their files",
	  "verify" },
	{ "force", cmd_force, "clear the dirty state at a version",
	  "force V" },
	{ "baseline", cmd_baseline, "mark migrations up to a version as applied without running them",
	  "baseline V" },
	{ "new", cmd_new, "create a new migration pair with a timestamp version",
	  "new NAME" },
	{ NULL, NULL, NULL, NULL }
};

int main(int argc, char **argv)
{
	return cli_main("ballast-migrate",
			"Apply and revert schema migrations; the down SQL is stored in the database when a migration is applied.",
			commands, argc, argv);
}
