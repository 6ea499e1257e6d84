#include "commands.h"

static const struct cli_command commands[] = {
	{ "run", cmd_run, "take a backup of every configured database and volume",
	  "run [--label K=V]... [--only db:NAME|volume:NAME]... [--wait SECONDS] [--dry-run]" },
	{ "list", cmd_list, "list backups in the repository",
	  "list [--json]" },
	{ "show", cmd_show, "show one backup's manifest",
	  "show ID [--json]" },
	{ "verify", cmd_verify, "re-read checksums and test-decompress stored objects",
	  "verify ID|--latest|--all" },
	{ "restore", cmd_restore, "restore databases and volumes from a backup",
	  "restore ID|--latest [--db NAME] [--volume NAME] [--target CONNINFO] [--to DIR] [--create|--clean] [--jobs N] [--no-keep]" },
	{ "prune", cmd_prune, "delete backups the retention policy no longer keeps",
	  "prune [--dry-run]" },
	{ "drill", cmd_drill, "restore a backup into scratch databases and check it",
	  "drill [ID|--latest] [--jobs N] [--check-sql FILE] [--target CONNINFO]" },
	{ NULL, NULL, NULL, NULL }
};

int main(int argc, char **argv)
{
	return cli_main("ballast-backup",
			"Back up PostgreSQL databases and volume directories into a repository, verify and restore them.",
			commands, argc, argv);
}
