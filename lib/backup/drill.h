/*
 * drill: prove that a backup restores (a restore drill).
 *
 * Contract: drill_run() takes one committed backup and, for each database
 * item: checks the stored object's size and SHA-256 against the manifest,
 * creates a scratch database "ballast_drill_<db>_<YYYYMMDDHHMMSS>" (TEMPLATE
 * template0) on the database's configured server or on o->target, restores
 * into it with dbdump_restore(), compares every table's row count with the
 * manifest (exact counts only), runs the SQL checks that apply to it (each
 * statement must return true, or at least one row, or be a command), and
 * drops the scratch database WITH (FORCE) whatever happened before, so
 * nothing is left behind. Every database is drilled even when an earlier
 * one failed, so the report is complete.
 *
 * *report is always set once the manifest loaded (else NULL):
 *   {"format": 1, "kind": "drill", "project", "backup_id", "backup_time",
 *    "drill_time", "host", "backup_age_seconds" (RPO: drill start minus the
 *    backup's "created"), "duration_seconds",
 *    "result": "passed" | "failed" (something differs) | "error",
 *    "databases": [{"name", "scratch_database", "restore_seconds" (RTO),
 *                   "row_counts", "tables_checked", "differences":
 *                   [{"table", "backup", "restored" (null: missing)}],
 *                   "checks": [{"file", "line", "sql", "ok", "error"?}],
 *                   "scratch_dropped", "result", "error"?}],
 *    "volumes": [see below], "error"?}
 * A volume item is checked the same way (size and SHA-256 first), then
 * extracted with volume_extract() into a fresh directory under $TMPDIR (else
 * /var/tmp; it needs the volume's size free), hashed again on the way; its
 * counts of files, directories, symlinks, hard links and others and its
 * content bytes are compared with the manifest's "entries" and "bytes",
 * and the directory is removed whatever happened:
 *   "volumes": [{"name", "checksum", "scratch_directory", "restore_seconds",
 *                "files", "bytes", "differences": [{"what", "backup",
 *                "restored"}], "scratch_removed", "result", "error"?}]
 * A base backup item (a physical database) gets the point-in-time drill
 * of drill_pitr_run() from this backup to the end of the archive, unless
 * the configuration says "drill": {"pitr": "off"} or o->pitr.self is NULL
 * (then its object is checked like an unknown item's); its entry is under
 * "databases".
 * Status: 0 passed; BL_EVERIFY when a checksum, a row count or a check
 * differs; BL_EFAIL when the drill could not be carried out (the scratch
 * database cannot be created, the server is unreachable, a scratch
 * database cannot be dropped); BL_EUSAGE when a database of the backup is
 * not configured and no target was given. e names the first problem.
 *
 * drill_save_report() stores the report beside the backup as
 * "<project>/backups/<id>/drill-<YYYYMMDDTHHMMSSZ>.json". prune reads the
 * newest report whose result is "passed" or "failed" to find "the newest
 * backup that passed a drill"; an "error" report says nothing about the
 * backup itself.
 */
#ifndef BALLAST_DRILL_H
#define BALLAST_DRILL_H

#include <time.h>

#include <jansson.h>

#include "errbuf.h"
#include "pitr.h"
#include "repo.h"

struct config;

struct drill_opts {
	const char *target;  /* conninfo of the server for scratch databases; NULL = configured */
	int jobs;            /* pg_restore -j */
	json_t *checks;      /* from drill_load_checks(), may be NULL */
	time_t now;          /* names the scratch databases and the report */
	/* Point-in-time drills: db, id, target, value, timeline, self and
	 * config_path as pitr_restore() takes them. self NULL: drill_run()
	 * only checks a base backup item's object. */
	struct pitr_opts pitr;
	const char *scratch_dir; /* NULL: drill.scratch_dir, else $TMPDIR, else /var/tmp */
};

/* specs: array of {"db": NAME or null, "file": PATH}; reads and splits each
 * file into statements: [{"db", "file", "line", "sql"}]. BL_EUSAGE naming
 * the file when it cannot be read, is empty or does not split. */
int drill_load_checks(json_t *specs, json_t **checks, struct errbuf *e);

int drill_run(const struct config *cfg, struct repo *r, const char *project, const char *id,
	      const struct drill_opts *o, json_t **report, struct errbuf *e);

/* A point-in-time drill of o->pitr.db: pitr_scratch() recovers it to
 * o->pitr's target in a scratch directory under o->scratch_dir, and there
 * every table of every database that takes connections (not templates,
 * not the system schemas) is counted and the SQL checks run (in the
 * database the configured conninfo names, else postgres); a table that
 * cannot be counted is a difference. The report is drill_run()'s with one
 * database, always set (backup_id "" when no base backup was chosen):
 *   {"name", "mode": "pitr", "target", "backup_id", "scratch_directory",
 *    "extract_seconds" (extraction and pg_verifybackup), "recovery_seconds"
 *    (the temporary server's start to its promotion), "checks_seconds",
 *    "rto_seconds" (= "restore_seconds": start to a promoted, checked
 *    server), "rpo_seconds" (the latest target only, else null: drill
 *    start minus the newest commit recovery replayed, or minus the base
 *    backup's end when none was), "last_replayed_commit" (or null),
 *    "timeline", "lsn", "tables": [{"database", "table", "rows"}],
 *    "tables_checked", "differences", "checks", "scratch_removed",
 *    "result", "error"?}
 * Status: as pitr_scratch(); BL_EVERIFY also for a failed check or count. */
int drill_pitr_run(const struct config *cfg, struct repo *r, const char *project,
		   const struct drill_opts *o, json_t **report, struct errbuf *e);

int drill_save_report(struct repo *r, const char *project, json_t *report, struct errbuf *e);

/* "ballast_drill_<db>_<YYYYMMDDHHMMSS>": db lowercased, anything but
 * [a-z0-9_] replaced by '_', cut so the name fits PostgreSQL's 63 bytes. */
void drill_scratch_name(const char *db, time_t t, char out[64]);

#endif
