/*
 * migrator: the database side of ballast-migrate.
 *
 * Contract: migrator_open() connects (conninfo or URL; NULL/"" falls back
 * to $DATABASE_URL and PG* variables) and remembers where the history table
 * lives (`<schema>.<table>`, default public.ballast_migrations). Reading the
 * state (migrator_load) never creates anything, so `status` on a fresh
 * database changes nothing. Changing commands first take the session
 * advisory lock with migrator_lock(), which polls pg_try_advisory_lock
 * until lock_wait and then fails with BL_ELOCKED naming the holder's pid,
 * then migrator_ensure_table(), then reload the state: a second migrator
 * that waited finds the work already done.
 *
 * Each up migration runs in its own transaction together with its history
 * row (version, name, up checksum, the down SQL as applied or NULL when
 * irreversible, applied_at, duration_ms, applied_by, release, dirty), with
 * SET LOCAL lock_timeout / statement_timeout. A file whose first line is
 * `-- ballast:no-transaction` runs statement by statement in autocommit:
 * its row is inserted dirty first and marked clean after, so a failure
 * leaves the dirty flag for `force`. Downgrades run the stored down SQL
 * and delete the row the same way. SQL errors name the file (or "stored
 * down SQL of <version>"), the line within it when the server gives a
 * position, and the server's message.
 */
#ifndef BALLAST_MIGRATOR_H
#define BALLAST_MIGRATOR_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>

#include "errbuf.h"
#include "migration.h"
#include "strbuf.h"

struct migrator_opts {
	const char *conninfo;       /* NULL/"": $DATABASE_URL, then PG* */
	const char *password;       /* may be NULL */
	const char *schema;         /* NULL: "public" */
	const char *table;          /* NULL: "ballast_migrations" */
	long long lock_timeout_ms;  /* per migration; 0 disables */
	long long statement_timeout_ms;
	long long lock_wait_ms;     /* how long to wait for the advisory lock */
	const char *release;        /* recorded with each applied migration, may be NULL */
	int strict_tx;              /* refuse files with their own BEGIN/COMMIT (BL_EUSAGE) */
};

/* One row of the history table. */
struct migrator_row {
	uint64_t version;
	char *name;
	char *checksum;     /* hex SHA-256 of the up file as applied; NULL for baseline rows without a file */
	char *down_sql;     /* NULL: irreversible */
	char *applied_at;   /* ISO 8601 UTC */
	long long duration_ms;
	char *applied_by;
	char *release;
	char *note;
	int dirty;
};

struct migrator_state {
	struct migrator_row *rows;  /* by version, ascending */
	size_t n;
	int table_exists;
	uint64_t current;           /* highest applied version, 0 = none */
	int dirty;                  /* some row is dirty */
	uint64_t dirty_version;
};

struct migrator {
	PGconn *conn;
	struct migrator_opts opts;
	char *qtable;         /* quoted "schema"."table" */
	char *qschema;
	char *applied_by;     /* user@host */
	int32_t lock_key;     /* second key of the advisory lock */
	int locked;
};

int migrator_open(const struct migrator_opts *opts, struct migrator **out, struct errbuf *e);
/* Releases the advisory lock (if held) and closes the connection. */
void migrator_close(struct migrator *m);

/* A warning line when the server looks like a pooler (pgbouncer), else
 * empty: transaction pooling breaks session advisory locks. */
void migrator_pooler_warning(struct migrator *m, struct strbuf *out);

int migrator_lock(struct migrator *m, struct errbuf *e);
int migrator_ensure_table(struct migrator *m, struct errbuf *e);

/* Read the history table (ordered by version); an absent table is empty. */
int migrator_load(struct migrator *m, struct migrator_state *st, struct errbuf *e);
/* The same rows in applied_at order (history). */
int migrator_load_history(struct migrator *m, struct migrator_state *st, struct errbuf *e);
void migrator_state_release(struct migrator_state *st);
const struct migrator_row *migrator_state_find(const struct migrator_state *st, uint64_t version);

/* Another tool's history table found in the database (for baseline). */
struct migrator_foreign {
	const char *tool;     /* "golang-migrate", "dbmate", "goose", "alembic" */
	char *table;          /* "schema"."table" as found */
	int has_version;      /* version below is meaningful */
	uint64_t version;     /* the tool's current version */
	int dirty;            /* golang-migrate's dirty flag */
	char *revision;       /* alembic's version_num (not a number), else NULL */
};

/* Look for golang-migrate's and dbmate's schema_migrations (told apart by
 * golang-migrate's dirty column), goose's goose_db_version and Alembic's
 * alembic_version in any schema, and read each one's current version.
 * Reads only. *out is malloc'ed; free with migrator_foreign_release. */
int migrator_detect_foreign(struct migrator *m, struct migrator_foreign **out, size_t *n,
			    struct errbuf *e);
void migrator_foreign_release(struct migrator_foreign *f, size_t n);

/* Flags for migrator_apply and migrator_plan_to. */
#define MIGRATOR_OUT_OF_ORDER 1u  /* apply files older than the current version */

/* Apply one migration from its files (down file read now and stored).
 * A file with transaction control of its own (migration_tx_control) runs
 * like a no-transaction file, dirty first, or is refused with BL_EUSAGE
 * under opts.strict_tx. With MIGRATOR_OUT_OF_ORDER the row's note says it
 * was applied out of order. */
int migrator_apply(struct migrator *m, const struct migration *mig, unsigned flags,
		   struct errbuf *e);
/* Revert one applied migration with its stored down SQL. */
int migrator_revert(struct migrator *m, const struct migrator_row *row, struct errbuf *e);

/* Clear the dirty state at version v: dirty rows at or below v are kept
 * (marked clean, as applied), dirty rows above v are deleted (as not
 * applied). The note column records who forced what and when. BL_EUSAGE
 * when nothing is dirty. */
int migrator_force(struct migrator *m, uint64_t v, struct errbuf *e);

/* Record mig as applied without running it (baseline), storing its down
 * SQL when there is a down file. */
int migrator_baseline_one(struct migrator *m, const struct migration *mig, struct errbuf *e);

/* BL_EFAIL naming the dirty version when the database is dirty. */
int migrator_refuse_dirty(const struct migrator_state *st, struct errbuf *e);

/* Versions whose up file on disk no longer matches the stored checksum. */
int migrator_drift(const struct migration_set *files, const struct migrator_state *st,
		   uint64_t **out, size_t *n, struct errbuf *e);

/* One step of a plan. Up steps point at a file, down steps at a row. */
struct migrator_step {
	uint64_t version;
	const char *name;
	int up;
	int reversible;
	int out_of_order;             /* up step older than the current version */
	const struct migration *mig;
	const struct migrator_row *row;
};

struct migrator_plan {
	uint64_t from, to;
	int direction;                /* 1 up, -1 down, 0 none */
	struct migrator_step *steps;  /* in the order they run */
	size_t n;
	uint64_t *irreversible;       /* down steps without stored down SQL */
	size_t n_irreversible;
};

/* Unapplied files older than the current version and at most upto: 1
 * with *first (the oldest) and *n set, else 0. */
int migrator_out_of_order(const struct migration_set *files, const struct migrator_state *st,
			  uint64_t upto, const struct migration **first, size_t *n);

/* What reaching `target` takes. Going up (target >= current) takes every
 * unapplied file up to target; BL_EUSAGE naming the file and the current
 * version when one is older than the current version (out of order),
 * unless flags has MIGRATOR_OUT_OF_ORDER. A target below the current
 * version goes down. */
int migrator_plan_to(const struct migration_set *files, const struct migrator_state *st,
		     uint64_t target, unsigned flags, struct migrator_plan *p, struct errbuf *e);
void migrator_plan_release(struct migrator_plan *p);
/* The refusal for a downgrade across irreversible migrations (BL_EFAIL). */
int migrator_refuse_irreversible(const struct migrator_plan *p, struct errbuf *e);
/* Before anything runs: read every step's SQL and find transaction
 * control inside it; BL_EUSAGE naming file and line under opts.strict_tx,
 * else a warning naming file and line per such step. */
int migrator_check_plan(struct migrator *m, const struct migrator_plan *p, struct errbuf *e);
/* Run the steps (after migrator_check_plan), logging an event per step;
 * *done counts finished steps. */
int migrator_run_plan(struct migrator *m, const struct migrator_plan *p, size_t *done,
		      struct errbuf *e);

/* The steps as JSON: [{"version","name","direction","reversible",
 * "first_line"}]; first lines come from the files (up) or the stored down
 * SQL (down). */
int migrator_plan_steps_json(const struct migrator_plan *p, json_t **out, struct errbuf *e);


#endif
