/*
 * dbswap: replacing a live database with a backup without ever leaving it
 * half restored.
 *
 * A restore that replaces a database (restore --clean) runs beside it:
 *   1. an advisory lock on the server (one restore per database at a time;
 *      a second gets BL_ELOCKED), taken from a maintenance connection;
 *   2. scratch databases of an earlier, killed restore of the same database
 *      are dropped;
 *   3. CREATE DATABASE <db>__ballast_restore_<id> (template0, the live
 *      database's owner, encoding and locale; its per-database settings
 *      are copied), and pg_restore into it (dbdump_restore, with no
 *      hash-only pass first: the object is hashed as it streams, and a
 *      mismatch at its end refuses the swap; every table's row count is
 *      compared afterwards);
 *   4. the live database's sessions are terminated or waited for (the
 *      database's "restore_sessions": terminate (default) or wait, with
 *      "restore_wait", default 60s), then one transaction renames
 *      <db> -> <db>__ballast_old_<id> and the scratch database -> <db>;
 *   5. without keep_old the old database is dropped; a kept one carries a
 *      comment "ballast: replaced at <UTC time> by the restore of backup
 *      <id>", which dbswap_prune_kept() reads.
 * Until step 4 commits, the live database is not written to: any failure or
 * signal drops the scratch database (a SIGKILL leaves it for step 2 of the
 * next restore). <id> in the names is the backup id in lower case with '-'
 * as '_', so the names need no quoting; a database whose names would pass
 * PostgreSQL's 63-byte limit is refused (BL_EUSAGE: use --in-place).
 */
#ifndef BALLAST_DBSWAP_H
#define BALLAST_DBSWAP_H

#include <jansson.h>

#include "dbdump.h"
#include "errbuf.h"
#include "repo.h"
#include "strbuf.h"

struct config;

/* What a restore would replace: filled by dbswap_probe(). */
struct dbswap_target {
	struct strbuf conninfo;  /* the configured one, or --target */
	struct strbuf password;
	struct strbuf server;    /* "user@host:port", for messages */
	struct strbuf dbname;    /* current_database() */
	long long objects;       /* relations and non-public schemas */
	struct strbuf container; /* the database's "container" (dbconn.h), or "" */
};
#define DBSWAP_TARGET_INIT { STRBUF_INIT, STRBUF_INIT, STRBUF_INIT, STRBUF_INIT, 0, STRBUF_INIT }

/* Connect to the database item would be restored into (target: a
 * --target conninfo, or NULL for the configured one; db: the configured
 * spec, may be NULL with a target) and count what it holds. */
int dbswap_probe(json_t *db, const char *target, struct dbswap_target *t, struct errbuf *e);
void dbswap_target_release(struct dbswap_target *t);

/* The scratch and kept names for live and backup id (BL_EUSAGE when they
 * would not fit in an identifier). */
int dbswap_names(const char *live, const char *id, struct strbuf *scratch, struct strbuf *old,
		 struct errbuf *e);

/* Where dbswap_restore's own time went, in milliseconds; -1 for a step
 * that did not run. swap_ms is the window in which the live database is
 * unavailable to the application: its sessions ended, the renames. */
struct dbswap_times {
	long long prepare_ms;    /* connect, lock, stale scratch dropped, scratch created */
	long long swap_ms;       /* sessions terminated or waited for, both renames */
	long long drop_ms;       /* the replaced database dropped (without keep_old) */
};

struct dbswap_opts {
	const char *id;          /* the backup's id */
	struct dbswap_times *times; /* filled when not NULL */
	int keep_old;
	const char *sessions;    /* "terminate" / "wait"; NULL = the database's setting */
	struct dbrestore_opts ro; /* jobs and progress; target and modes are set here */
};

/* Restore item into t's database by the swap above; *kept receives the old
 * database's name (empty when it was dropped). */
int dbswap_restore(const struct config *cfg, struct repo *r, json_t *item,
		   const struct dbswap_target *t, const struct dbswap_opts *o,
		   struct strbuf *kept, struct errbuf *e);

/* The one command that brings the kept database back: a psql call (run
 * with docker exec in the database's container, when it has one) that,
 * in one transaction, renames the restored database to
 * <db>__ballast_undone_<id> and kept to <db>. */
int dbswap_undo_command(const struct dbswap_target *t, const char *kept, struct strbuf *out,
			struct errbuf *e);

/* prune's half for databases: the kept databases (<live>__ballast_old_*)
 * beside db (a configured database, on its conninfo's server). Those
 * replaced longer than keep_ms before now_ms (Unix ms) are dropped, unless
 * dry; those without ballast's comment are always kept. One
 * {"database","server","name","replaced_at" (null: unknown),"action"
 * ("keep"|"remove"),"reason"} per kept database is appended to out. */
int dbswap_prune_kept(json_t *db, long long keep_ms, long long now_ms, int dry, json_t *out,
		      struct errbuf *e);

#endif
