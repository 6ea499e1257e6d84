#include "commands.h"

static const struct cli_command commands[] = {
	{ "init", cmd_init, "make the configured repository location a ballast repository",
	  "init [--json]\n\n"
	  "Writes <project>/repository.json (format, repository id, project) into the\n"
	  "configured repository; a local directory is created if missing. Every other\n"
	  "command refuses a repository without it (exit 2), so a backup disk that is\n"
	  "not mounted, or a typo in repository.path, is never filled silently. Safe to\n"
	  "run again (reports the existing id); backups made before markers existed are\n"
	  "adopted as they are." },
	{ "run", cmd_run, "take a backup of every configured database and volume",
	  "run [--label K=V]... [--only db:NAME|volume:NAME]... [--wait SECONDS] [--dry-run]" },
	{ "list", cmd_list, "list backups in the repository",
	  "list [--json]" },
	{ "show", cmd_show, "show one backup's manifest",
	  "show ID|PREFIX|latest|--latest [--json]\n\n"
	  "ID may be a full backup id, a unique prefix of one, or latest (the newest\n"
	  "good backup)." },
	{ "verify", cmd_verify, "re-read checksums and test-decompress stored objects",
	  "verify ID|PREFIX|latest|--latest|--all [--json]\n"
	  "verify --wal [--db NAME] [--json]\n\n"
	  "--wal re-reads a physical database's WAL archive: every file must decompress\n"
	  "and hash to the SHA-256 its object name carries, and no segment may be missing\n"
	  "after the newest good base backup's stop segment (exit 4 naming the file)." },
	{ "restore", cmd_restore, "restore databases and volumes from a backup",
	  "restore ID|PREFIX|latest|--latest [--db NAME] [--volume NAME] [--target CONNINFO] [--to DIR]\n"
	  "        [--clean [--in-place] | --create] [--sessions terminate|wait] [--yes] [--dry-run]\n"
	  "        [--jobs N [--parallel-data]] [--no-keep]\n\n"
	  "Into an empty database the backup is restored directly. A database that is\n"
	  "not empty is refused (exit 2) unless --clean: then the backup is restored\n"
	  "beside it into <db>__ballast_restore_<id>, every table's row count is checked,\n"
	  "the live database's sessions are terminated (or waited for: --sessions wait,\n"
	  "\"restore_sessions\"/\"restore_wait\") and the two are renamed in one\n"
	  "transaction; the old one is kept as <db>__ballast_old_<id> (--no-keep drops it)\n"
	  "and the command that brings it back is printed. Until that rename the live\n"
	  "database is untouched, whatever fails or whoever kills the restore.\n"
	  "--in-place --clean empties the live database and restores into it (no second\n"
	  "copy, nothing kept). On a terminal a restore that replaces anything names the\n"
	  "server, database and backup and asks first; --yes skips that, and without a\n"
	  "terminal it never asks. --dry-run prints the plan and changes nothing.\n"
	  "--jobs N streams the data in one session, then builds indexes and constraints\n"
	  "with pg_restore -j N; --parallel-data loads the tables in parallel too, from a\n"
	  "scratch copy of the dump in $TMPDIR (it needs the dump's raw size free).\n"
	  "Exit 3 when another restore of the database is running.\n\n"
	  "restore --pitr [--db NAME] (--data-dir DIR | --docker-volume NAME [--scratch-dir DIR])\n"
	  "        (--time T | --name RESTORE_POINT | --lsn LSN | --latest) [--id ID]\n"
	  "        [--timeline latest|current|N] [--dry-run]\n\n"
	  "A \"mode\": \"physical\" database: the newest base backup that ends before the target\n"
	  "(or --id) is extracted into DIR.ballast-new-<id> and checked with pg_verifybackup; a\n"
	  "temporary postgres (socket only, as DIR's owner) recovers it with wal-fetch to the\n"
	  "target and promotes; after a sanity query and a clean shutdown it is swapped in and\n"
	  "the old DIR is kept as DIR.ballast-old-<id> (the undo command is printed). DIR's\n"
	  "server must be stopped (exit 2). T needs its zone (2026-12-05T18:30:00Z). A target\n"
	  "before every backup's end, one never reached, or a WAL gap is exit 1, a damaged\n"
	  "WAL file or base backup exit 4; DIR is untouched then. --docker-volume NAME: DIR\n"
	  "is the local volume's _data (docker volume inspect; the docker on PATH, with\n"
	  "DOCKER_HOST); a running container using it is exit 2; the recovery runs in\n"
	  "--scratch-dir (outside Docker's data root, which the volume's owner cannot\n"
	  "traverse) and the result is copied into _data.ballast-new-<id>. See docs/pitr.md." },
	{ "prune", cmd_prune, "delete backups the retention policy no longer keeps",
	  "prune [--dry-run] [--json]\n\n"
	  "Applies \"retention\" (keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly,\n"
	  "keep_yearly; restic semantics, UTC times from the manifests). Never removes the\n"
	  "newest good backup, the newest backup that passed a drill, a backup labelled\n"
	  "keep=true, or every backup. Incomplete backups older than\n"
	  "retention.incomplete_grace (default 24h) are removed, and so are the databases\n"
	  "a swap restore kept (<db>__ballast_old_<id>) once retention.kept_databases\n"
	  "(default 7d) has passed since their restore, and the volumes' kept\n"
	  "<path>.ballast-old-<id> after retention.kept_volumes (default 7d). A physical\n"
	  "database's archived WAL from before the earliest start segment of the base\n"
	  "backups that stay is removed too (history files stay; with no base backup\n"
	  "kept, all of it stays). --dry-run prints the plan (keep/remove and the rule\n"
	  "that kept each) and changes nothing." },
	{ "drill", cmd_drill, "restore a backup into scratch databases and check it",
	  "drill [ID|PREFIX|latest|--latest] [--jobs N] [--check-sql [DB=]FILE]... [--target CONNINFO] [--json]\n"
	  "drill --pitr [--db NAME] [--time T | --name RESTORE_POINT | --lsn LSN | --latest] [ID]\n"
	  "      [--timeline latest|current|N] [--scratch-dir DIR] [--check-sql [DB=]FILE]... [--json]\n\n"
	  "Checks the stored objects, restores each database into a scratch database\n"
	  "ballast_drill_<db>_<time> (on its configured server or --target), compares every\n"
	  "table's row count with the manifest, runs the SQL checks (each statement must\n"
	  "return true or at least one row), drops the scratch database, and stores the\n"
	  "report beside the backup (drill-<time>.json). Default: the latest good backup.\n"
	  "A physical database's base backup is recovered in a scratch directory\n"
	  "(--scratch-dir, drill.scratch_dir, $TMPDIR, /var/tmp) by a temporary postgres on\n"
	  "a private socket, to the end of the WAL archive (--pitr: to the target, from the\n"
	  "base backup restore --pitr would choose, or ID); every table is counted, the\n"
	  "checks run, the server stops and the directory goes. RTO and RPO go to the report\n"
	  "and the metrics. See docs/pitr.md.\n"
	  "Exit 4 when anything differs (or a WAL segment is missing, the target is never\n"
	  "reached), 1 when the drill could not be carried out." },
	{ "check", cmd_check, "preflight: configuration, secrets, databases, volumes, repository",
	  "check [--json]\n\n"
	  "One line per check: the configuration loads; every *_env variable is set; each\n"
	  "database is reachable (server version) and its dump command runs (pg_dump's\n"
	  "version, not older than the server); each volume is readable; the repository\n"
	  "lists and takes a small object (put and deleted); for a local repository the\n"
	  "free space against the last good backup's size; whether a backup holds the run\n"
	  "lock now. Exit 0 when every check passes, 1 when one fails, 2 when the\n"
	  "configuration is unusable or a secret is missing." },
	{ "wal-push", cmd_wal_push, "archive one WAL file (archive_command)",
	  "wal-push [--db NAME] PATH\n\n"
	  "For postgresql.conf: archive_command = 'ballast-backup --config FILE wal-push %p'.\n"
	  "Stores the file zstd-compressed (and encrypted when configured) under\n"
	  "<project>/wal/<db>/ in one atomic step, its SHA-256 in its name. A file\n"
	  "already archived with the same content is success; with other content it\n"
	  "is exit 1 naming it, and nothing is replaced. --db: the database (default:\n"
	  "the only one with \"mode\": \"physical\"). See docs/pitr.md." },
	{ "wal-stream", cmd_wal_stream, "archive WAL continuously over a replication slot",
	  "wal-stream [--db NAME] [--synchronous] [--once]\n\n"
	  "A long-running process beside the server (the unit ballast-wal-stream@.service),\n"
	  "for servers whose archive_command cannot run ballast-backup (the stock postgres\n"
	  "image): pg_receivewal streams the WAL through a physical replication slot\n"
	  "(created when missing; wal_stream.slot, default ballast_<db>) into a spool\n"
	  "directory, and every finished segment and history file is archived like\n"
	  "wal-push does, then removed from the spool. A lost connection is retried\n"
	  "with backoff (1 s to 60 s); the slot's lag goes to the metrics textfile and\n"
	  "is a warning over wal_stream.max_slot_lag. SIGTERM stops it cleanly (exit 0).\n"
	  "Exit 3 when another wal-stream holds the spool. See docs/pitr.md." },
	{ "wal-fetch", cmd_wal_fetch, "restore one WAL file from the archive (restore_command)",
	  "wal-fetch [--db NAME] NAME DEST\n\n"
	  "For recovery: restore_command = 'ballast-backup --config FILE wal-fetch %f %p'.\n"
	  "Writes the archived file NAME to DEST after checking its SHA-256. Exit 1 when\n"
	  "the archive has no such file (the server asks for files that may not exist),\n"
	  "4 when the stored copy is damaged (the message names it)." },
	{ "restore-point", cmd_restore_point, "create a named point to restore to (pg_create_restore_point)",
	  "restore-point [--db NAME] [--wait-archived DURATION] NAME [--json]\n\n"
	  "Runs pg_create_restore_point(NAME) on the physical database's server (its conninfo\n"
	  "and password; the role needs EXECUTE on the function) and records NAME, its LSN and\n"
	  "timeline in the repository, so that restore --pitr --name NAME picks the newest base\n"
	  "backup that ends before it, and refuses at once when none does. NAME: letters,\n"
	  "digits, '.', '_', '-', under 64 bytes; a name already recorded is exit 2.\n"
	  "--wait-archived: for a point a rollback depends on (ballast-deploy's\n"
	  "\"snapshot\": \"restore-point\"): refused when no good backup holds a base backup\n"
	  "of the database; after creating it the server switches WAL segments and the\n"
	  "command waits until the archive holds the point (exit 1 when it does not)." },
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
