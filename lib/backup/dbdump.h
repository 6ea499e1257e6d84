/*
 * dbdump: the database item of a backup: pg_dump into the repository, and
 * back out through pg_restore.
 *
 * Backup: `<dump_command> --format=custom --compress=0` (default pg_dump)
 * streams through zstream into a repo writer; nothing is staged on disk.
 * Row counts (the database's "row_counts": exact, estimate, off):
 *   exact     a libpq connection opens a REPEATABLE READ transaction,
 *             exports its snapshot, and pg_dump runs with --snapshot; the
 *             rows are counted from the dump stream itself (dumpcount.h:
 *             the COPY lines of every TABLE DATA entry) as it passes. When
 *             the stream cannot be read that way (a dump_command that
 *             changes it) or lacks a listed table, one count(*) query over
 *             every table runs after the dump in that same, still open
 *             snapshot. Either way the counts describe exactly the rows the
 *             dump holds; the item's "row_counts_source" says which way
 *             ("stream" or "snapshot");
 *   estimate  pg_class.reltuples;
 *   off       no counts.
 * pg_dump runs with --lock-wait-timeout (the database's "lock_wait_timeout",
 * default DBDUMP_LOCK_WAIT_DEFAULT, "0" = wait for ever): a table lock held
 * elsewhere fails the backup with a line saying so instead of hanging it.
 * The item records the server version, the dump tool's version, the
 * database size, the tables and their counts, and timings.
 *
 * Restore: the object's checksum is verified in full before pg_restore is
 * started: here, or by the caller just before when it says so (verified:
 * restore and drill check every object first, and a second hash-only pass
 * would only read it again). jobs == 1 streams the object through zstd into pg_restore's
 * stdin (hashed again on the way). jobs > 1 streams the same way into
 * pg_restore --section=pre-data --section=data, keeping the archive's
 * header and table of contents (a few KB to MB) in a 0600 temporary file
 * as they pass, then runs pg_restore --section=post-data -j on that file:
 * indexes and constraints are built in parallel, and no copy of the dump
 * lands on disk. With parallel_data, jobs > 1 instead decompresses the
 * whole archive into a 0600 temporary file (checked before use) and runs
 * one pg_restore -j on it, which also loads tables in parallel. Either way
 * the archive passes through dumpcount_pass (lib/pg/dumpcount.h), which
 * joins pg_dump's one-chunk-per-row data into 64 KiB chunks, so pg_restore
 * sends the server 64 KiB CopyData messages, not one per row. Afterwards
 * every table's row count is compared with the manifest (BL_EVERIFY on any
 * difference, naming the tables).
 *
 * Passwords reach the children only as PGPASSWORD in their environment; the
 * conninfo on their command line has any password removed.
 */
#ifndef BALLAST_DBDUMP_H
#define BALLAST_DBDUMP_H

#include <jansson.h>

#include "errbuf.h"
#include "repo.h"
#include "strbuf.h"

struct config;

#define DBDUMP_LOCK_WAIT_DEFAULT "5m"

typedef void (*dbdump_progress_fn)(void *ctx, const char *name, long long raw,
				   long long stored);

struct dbdump_opts {
	int level;      /* zstd level */
	int threads;    /* 0 = every core */
	dbdump_progress_fn progress;
	void *progress_ctx;
};

/* Dump database spec db (an element of "databases") into key; on success
 * *item is the manifest item ({"type":"db", ...}). */
int dbdump_backup(json_t *db, struct repo *r, const char *key, const struct dbdump_opts *o,
		  json_t **item, struct errbuf *e);

/* Where one dbdump_restore's time went, in milliseconds; -1 for a stage
 * that did not run. */
struct dbrestore_times {
	long long verify_ms;     /* its own pass over the object before pg_restore */
	long long scratch_ms;    /* parallel_data: decompressing into the scratch file */
	long long pg_restore_ms; /* pg_restore fed the stream (with jobs > 1 its
				    pre-data and data), or its run on the scratch file */
	long long post_data_ms;  /* jobs > 1 without parallel_data: pg_restore -j
				    of the post-data section */
	long long count_ms;      /* the row counts compared afterwards */
	long long total_ms;
};
/* every stage "did not run" */
#define DBRESTORE_TIMES_INIT { .verify_ms = -1, .scratch_ms = -1, .pg_restore_ms = -1, \
			       .post_data_ms = -1, .count_ms = -1, .total_ms = -1 }

struct dbrestore_opts {
	const char *target;   /* conninfo; NULL = the configured database's */
	int create;           /* pg_restore --create (target names the maintenance db) */
	int clean;            /* pg_restore --clean --if-exists */
	int jobs;             /* > 1: post-data in this many sessions */
	int parallel_data;    /* with jobs > 1: the data too, from a scratch file */
	int verified;         /* the caller proved the object's size and SHA-256
				 just before: no hash-only pass here (the stream
				 or the scratch pass still hashes, and a mismatch
				 still fails) */
	dbdump_progress_fn progress;
	void *progress_ctx;
	struct dbrestore_times *times; /* filled when set (also on failure) */
};

/* Restore item (type "db") using its configured database (config may be
 * NULL when o->target is set). */
int dbdump_restore(const struct config *cfg, struct repo *r, json_t *item,
		   const struct dbrestore_opts *o, struct errbuf *e);

/* Compare the tables of item with the database at conninfo, on db's server
 * (dbconn.h; db may be NULL). */
int dbdump_check_rows(json_t *db, const char *conninfo, const char *password, json_t *item,
		      struct errbuf *e);

/* The "databases" entry named name, or NULL. */
json_t *dbdump_find_db(const struct config *cfg, const char *name);
/* The password for a database spec: $<password_env>, else one inside its
 * conninfo; empty when none. */
void dbdump_password(json_t *db, struct strbuf *out);
/* "pg_dump (PostgreSQL) 15.18": the configured dump_command (else pg_dump)
 * with --version, env as its environment (the password). */
int dbdump_tool_version(json_t *db, const char *const *env, struct strbuf *out,
			struct errbuf *e);
/* A command's program and leading arguments into argv: prefix (a JSON
 * array of strings, as "dump_command") or def when there is none. */
void dbdump_push_command(struct strvec *argv, json_t *prefix, const char *def);
/* The password for restoring into target (a --target conninfo, may be NULL):
 * one inside target wins (and is registered as a secret), else db's (may
 * be NULL). */
void dbdump_target_password(json_t *db, const char *target, struct strbuf *out);
/* conninfo (or URL; "" = $DATABASE_URL) as key='value' pairs without any
 * password, for a child's command line. */
int dbdump_conninfo_nopw(const char *conninfo, struct strbuf *out, struct errbuf *e);

#endif
