#include "commands.h"

static const struct cli_command commands[] = {
	{ "run", cmd_run, "take a backup of every configured database and volume",
	  "run [--label K=V]... [--only db:NAME|volume:NAME]... [--wait SECONDS] [--dry-run]" },
	{ "list", cmd_list, "list backups in the repository",
	  "list [--json]" },
	{ "show", cmd_show, "show one backup's manifest",
	  "show ID|PREFIX|latest|--latest [--json]\n\n"
	  "ID may be a full backup id, a unique prefix of one, or latest (the newest\n"
	  "good backup)." },
	{ "verify", cmd_verify, "re-read checksums and test-decompress stored objects",
	  "verify ID|PREFIX|latest|--latest|--all [--json]" },
	{ "restore", cmd_restore, "restore databases and volumes from a backup",
	  "restore ID|--latest [--db NAME] [--volume NAME] [--target CONNINFO] [--to DIR] [--create|--clean] [--jobs N] [--no-keep]" },
	{ "prune", cmd_prune, "delete backups the retention policy no longer keeps",
	  "prune [--dry-run] [--json]\n\n"
	  "Applies \"retention\" (keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly,\n"
	  "keep_yearly; restic semantics, UTC times from the manifests). Never removes the\n"
	  "newest good backup, the newest backup that passed a drill, a backup labelled\n"
	  "keep=true, or every backup. Incomplete backups older than\n"
	  "retention.incomplete_grace (default 24h) are removed. --dry-run prints the plan\n"
	  "(keep/remove and the rule that kept each) and changes nothing." },
	{ "drill", cmd_drill, "restore a backup into scratch databases and check it",
	  "drill [ID|PREFIX|latest|--latest] [--jobs N] [--check-sql [DB=]FILE]... [--target CONNINFO] [--json]\n\n"
	  "Checks the stored objects, restores each database into a scratch database\n"
	  "ballast_drill_<db>_<time> (on its configured server or --target), compares every\n"
	  "table's row count with the manifest, runs the SQL checks (each statement must\n"
	  "return true or at least one row), drops the scratch database, and stores the\n"
	  "report beside the backup (drill-<time>.json). Default: the latest good backup.\n"
	  "Exit 4 when anything differs, 1 when the drill could not be carried out." },
	{ "rekey", cmd_rekey, "rewrap every object's key for encryption.recipients",
	  "rekey [--json]\n\n"
	  "Rewrites each stored object's age header so that exactly the configured\n"
	  "encryption.recipients can open it (old recipients lose access), unwrapping\n"
	  "its file key with the configured identity. Payloads are copied as stored,\n"
	  "never decrypted. Records the rotation in <project>/rekey/. See\n"
	  "docs/encryption.md." },
	{ NULL, NULL, NULL, NULL }
};

int main(int argc, char **argv)
{
	return cli_main("ballast-backup",
			"Back up PostgreSQL databases and volume directories into a repository, verify and restore them.",
			commands, argc, argv);
}
