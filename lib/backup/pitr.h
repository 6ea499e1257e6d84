/*
 * pitr: point-in-time restore of a physical database into a data
 * directory, from a base backup (basebackup_item) and the WAL archive
 * (walarchive).
 *
 * Contract: pitr_restore() touches the data directory DIR only in its last
 * step, a swap by renames; until then every failure, refusal or kill leaves
 * DIR exactly as it was:
 *   1. DIR's server must be stopped: a DIR/postmaster.pid naming a live
 *      process is BL_EUSAGE. Run as root, the temporary postgres runs as
 *      DIR's owner (DIR owned by root is BL_EUSAGE: postgres never runs as
 *      root); otherwise the caller must own DIR.
 *   2. The base backup: o->id, else the newest good backup whose base backup
 *      of the database ends before the target (time: its "finished_ms";
 *      LSN: its stop LSN; a name recorded by pitr_restore_point(): its LSN;
 *      another name and latest: the newest). A target before
 *      every base backup's end (or before o->id's) is BL_EFAIL.
 *   3. The archive must hold every WAL segment of the backup's timeline
 *      after its stop segment up to the newest one stored: a gap is
 *      BL_EFAIL naming the first missing segment (recovery would silently
 *      stop there).
 *   4. Leftovers of an interrupted restore beside DIR are dealt with: a
 *      sibling "DIR.ballast-new-*" that still holds the marker file
 *      PITR_MARKER is removed; one without it holds the old data of a
 *      restore killed inside its swap and is renamed to
 *      "DIR.ballast-old-<its id>"; a marker inside DIR (a restore killed
 *      just after its swap) is removed. A "DIR.ballast-old-<id>" of the
 *      chosen backup, before or after this step, is BL_EFAIL.
 *   5. The base backup is extracted into "DIR.ballast-new-<id>" (the
 *      object's size and SHA-256 proven at its end, volume_extract's secure
 *      extraction, owned by DIR's owner), checked by pg_verifybackup
 *      against the server's backup_manifest (BL_EVERIFY), and given
 *      recovery.signal.
 *   6. A temporary postgres (<pg_bindir>/postgres, default
 *      /usr/lib/postgresql/<PG_VERSION>/bin) runs on it with no TCP, its
 *      socket in a private 0700 directory, its own pg_hba (local trust),
 *      restore_command = "<self> --config <config> wal-fetch --db NAME %f %p",
 *      archive_command = the same binary's wal-push (so the new timeline's
 *      history file reaches the archive), the recovery_target_* settings and
 *      recovery_target_action = promote, all on its command line (nothing
 *      of it stays in the data directory). It dies with this process
 *      (PR_SET_PDEATHSIG through setpriv). Recovery that ends before the
 *      target ("recovery ended before configured recovery target was
 *      reached") is BL_EFAIL; a WAL file that wal-fetch found damaged
 *      ($BALLAST_WAL_FETCH_REPORT) is BL_EVERIFY naming it, even when the
 *      server went on and promoted.
 *   7. After promotion a sanity query (not in recovery; timeline, LSN,
 *      databases), a clean (fast) shutdown, syncfs.
 *   8. Swap: renameat2(RENAME_EXCHANGE) of the sibling and DIR (else two
 *      renames), the old data renamed to "DIR.ballast-old-<id>", parent
 *      fsynced, and only then the marker removed from DIR: it travels with
 *      the restored data, so a sibling without it is never a finished
 *      restore. res->kept names the old data and res->undo is the command
 *      that swaps back.
 *
 * o->docker_volume NAME instead of o->data_dir: DIR is the Mountpoint
 * ("<data root>/volumes/NAME/_data") that one `docker volume inspect`
 * gives (docker from PATH, with the caller's DOCKER_HOST, as in dbconn);
 * a volume that does not exist, whose driver is not "local" or that has
 * driver options (a device or share, mounted only while a container uses
 * it) is BL_EUSAGE. Step 1 is `docker ps --filter volume=NAME`: a running
 * container using it is BL_EUSAGE naming the container (checked again just
 * before the swap); a postmaster.pid in DIR or its siblings names a
 * container's pid and decides nothing. Steps 5 to 7 run in a scratch
 * directory outside Docker's data root, which is 0710 root:root and so
 * closed to the server running as the volume's owner:
 * "<o->scratch_dir>/ballast-restore-<project>-<db>-XXXXXX/data" (the
 * marker in it from the start; killed runs' ones removed first as for
 * drills). After the clean shutdown the tree is renamed to
 * "DIR.ballast-new-<id>", or, when the scratch is on another file system,
 * copied (cp -a) into "DIR.ballast-tmp-<id>" and renamed when complete;
 * step 8 is the same, and the scratch directory is removed whatever
 * happened.
 */
#ifndef BALLAST_PITR_H
#define BALLAST_PITR_H

#include <limits.h>

#include "config.h"
#include "errbuf.h"
#include "manifest.h"
#include "parseopt.h"
#include "strbuf.h"

#define PITR_MARKER "ballast-restore.incomplete"

enum pitr_target { PITR_LATEST, PITR_TIME, PITR_NAME, PITR_LSN };

struct pitr_opts {
	const char *db;           /* configured database name (NULL: the only physical one) */
	const char *data_dir;     /* DIR */
	const char *docker_volume; /* or a Docker named volume: DIR is its _data */
	const char *scratch_dir;  /* docker_volume: where recovery runs (NULL: $TMPDIR, /var/tmp) */
	const char *id;           /* backup id, prefix or "latest"; NULL = chosen by target */
	enum pitr_target target;
	const char *value;        /* the time, restore point name or LSN */
	const char *timeline;     /* recovery_target_timeline; NULL = "latest" */
	const char *self;         /* this binary, for restore_command/archive_command */
	const char *config_path;  /* absolute, for the same */
	int dry_run;              /* choose and check, change nothing */
};

struct pitr_result {
	char id[MANIFEST_ID_MAX];
	struct strbuf data_dir;   /* DIR, absolute (a volume's Mountpoint) */
	struct strbuf kept;       /* DIR.ballast-old-<id>, "" when DIR did not exist */
	struct strbuf undo;       /* shell command that puts the old data back */
	struct strbuf lsn;        /* where the promoted server's WAL ended */
	unsigned timeline;        /* the promoted server's timeline */
	long long recovery_ms;    /* the temporary server's start to its promotion */
	/* pitr_scratch() only */
	long long extract_ms;     /* extraction and pg_verifybackup */
	long long check_ms;       /* the check callback */
	long long replay_ms;      /* pg_last_xact_replay_timestamp() in Unix ms, -1: none */
	long long base_end_ms;    /* the chosen base backup's "finished_ms" */
	struct strbuf scratch;    /* the scratch directory */
	int scratch_removed;
};

void pitr_result_init(struct pitr_result *res);
void pitr_result_release(struct pitr_result *res);


int pitr_restore(const struct config *cfg, const struct pitr_opts *o, struct pitr_result *res,
		 struct errbuf *e);

/* The same recovery for a drill, never near a live data directory: the
 * base backup chosen and the archive checked as by pitr_restore() (steps 2
 * and 3; o->data_dir and o->dry_run are not used), extracted into a fresh
 * "<parent>/ballast-drill-<project>-<db>-XXXXXX/data" (step 5; such
 * directories of killed drills, whose run's lock is free and whose
 * server is not running, are removed first: a run holds an flock on
 * ".ballast.lock" inside its directory), recovered by the same
 * temporary server (step 6, its socket in ".../run", but archive_mode off:
 * nothing of a drill reaches the archive, not even its new timeline's
 * history file, which would lead later recoveries to the latest timeline
 * astray), which as root runs as parent's owner, or "postgres" when parent
 * belongs to root. After
 * promotion check(ctx, conninfo) runs with a conninfo of the bootstrap
 * superuser on the scratch server's socket (dbname=postgres); then the
 * server is stopped (immediate) and the scratch directory removed,
 * whatever happened (res->scratch_removed; a directory that cannot be
 * removed is BL_EFAIL). A failure that says the backup or the archive
 * cannot deliver the target (a WAL gap, recovery ending before the
 * target, a damaged WAL file, pg_verifybackup) is BL_EVERIFY; one that
 * says the drill could not be carried out is BL_EFAIL or BL_EUSAGE; the
 * check's own status passes through. */
typedef int (*pitr_check_fn)(void *ctx, const char *conninfo, struct errbuf *e);

int pitr_scratch(const struct config *cfg, const struct pitr_opts *o, const char *parent,
		 pitr_check_fn check, void *ctx, struct pitr_result *res, struct errbuf *e);

/* This binary and cfg's file as absolute paths, for the temporary
 * server's restore_command and archive_command. */
int pitr_self(const struct config *cfg, char self[PATH_MAX], char cfgpath[PATH_MAX],
	      struct errbuf *e);

/* --time, --name, --lsn and --latest as option callbacks
 * (OPT_CALLBACK_DATA with the enum pitr_target as defval, value a struct
 * pitr_target_opt): each sets o's target and value and counts, so that
 * two of them (or one twice) are refused after the parse. */
struct pitr_target_opt {
	struct pitr_opts *o;
	int n;
};

int pitr_opt_target(const struct option_spec *opt, const char *name, const char *arg,
		    struct errbuf *e);

/* pg_create_restore_point(name) on the database's server (a normal libpq
 * connection with its conninfo and password; the role needs EXECUTE on the
 * function, superuser by default), recorded in the repository as
 * "<project>/wal/<db>/restore-points/<name>.json" ({"name", "database",
 * "lsn", "timeline", "time"}, *out), so that restore --pitr --name picks
 * the newest base backup that ends before it and refuses a name that no
 * kept backup can reach before starting anything. name: letters, digits,
 * '.', '_', '-', under 64 bytes; one already recorded is BL_EUSAGE.
 * wait_ms > 0 makes the point one a rollback can count on: refused
 * (BL_EFAIL, nothing created) when no good backup holds a base backup of
 * the database, and after it is created the server switches to a new WAL
 * segment and the call waits up to wait_ms until the archive holds the
 * segment with the point's record (BL_EFAIL naming it when it does not;
 * the point then stays unrecorded). */
int pitr_restore_point(const struct config *cfg, const char *db, const char *name,
		       long long wait_ms, json_t **out, struct errbuf *e);

#endif
