/*
 * session: what the ballast-migrate commands share, the command-line glue
 * over lib/pg/migrator: the --dir/--database/--release options, resolving the
 * configuration and the database, opening the connection and the state,
 * and printing a plan's run. Everything printed by ballast-migrate is
 * printed from this folder; the library returns results.
 */
#ifndef BALLAST_MIGRATE_SESSION_H
#define BALLAST_MIGRATE_SESSION_H

#include "cli.h"
#include "migrator.h"

/* Options common to the commands, from their command lines. */
struct session_cli {
	const char *dir;       /* --dir, else migrations.dir, else ./migrations */
	const char *database;  /* --database, else migrations.database -> databases[] */
	const char *release;   /* --release, else $BALLAST_RELEASE */
	int strict_tx;         /* --strict-transactions */
};

/* The options every session command takes, as parseopt table entries
 * storing into c (a struct session_cli *): SESSION_OPTS first in each
 * table, SESSION_RELEASE_OPT and SESSION_STRICT_OPT in the commands that
 * record a release or apply files. One definition keeps the names and
 * help lines the same in every command. */
#define SESSION_OPTS(c) \
	OPT_STRING(0, "dir", &(c)->dir, "DIR", \
		   "migrations directory (else migrations.dir, else ./migrations)"), \
	OPT_STRING(0, "database", &(c)->database, "URL|CONNINFO", \
		   "the database (else migrations.database, else $DATABASE_URL,\n" \
		   "else the PG* variables)")
#define SESSION_RELEASE_OPT(c) \
	OPT_STRING(0, "release", &(c)->release, "TAG", \
		   "recorded with each migration (else $BALLAST_RELEASE)")
#define SESSION_STRICT_OPT(c) \
	OPT_FLAG(0, "strict-transactions", &(c)->strict_tx, \
		 "refuse files with their own BEGIN/COMMIT (else they run\n" \
		 "statement by statement, marked dirty until they finish)")

/* Everything a command works with: the files, the connection, the state. */
struct session {
	struct strbuf dir;
	struct migration_set files;
	struct migrator *m;
	struct migrator_state st;
	struct strbuf conninfo;
	struct strbuf password;
};

#define SESSION_INIT { STRBUF_INIT, MIGRATION_SET_INIT, NULL, { NULL, 0, 0, 0, 0, 0 }, \
				STRBUF_INIT, STRBUF_INIT }

enum session_mode {
	SESSION_READ = 0,  /* read the state; create and lock nothing */
	SESSION_WRITE      /* take the advisory lock and create the table first */
};

/* The migrations directory: dir, else migrations.dir of the config (if
 * one exists; relative to its file), else ./migrations. */
int session_dir(struct cli_ctx *ctx, const char *dir, struct strbuf *out, struct errbuf *e);

/* Resolve the configuration (optional when --database/--dir or the
 * environment say enough), scan the directory, connect, warn about
 * poolers, lock and create the table in WRITE mode, and load the state. */
int session_open(struct cli_ctx *ctx, const struct session_cli *cli,
			  enum session_mode mode, struct session *s, struct errbuf *e);
void session_close(struct session *s);
/* Reload s->st after changes. */
int session_reload(struct session *s, struct errbuf *e);

/* Before applying anything: BL_EVERIFY naming the first drifted migration,
 * or with allow a warning per drifted one and 0. */
int session_refuse_drift(const struct session *s, int allow, struct errbuf *e);
/* Shared tail of up/down/goto: with dry_run print the plan (and the
 * warnings of migrator_check_plan), else run it; then print the result ({"event":"result","from","to","direction",
 * "applied":[..],"reverted":[..],"dry_run"}). */
int session_execute(struct session *s, const struct migrator_plan *p,
			     int dry_run, int json, struct errbuf *e);

/* A positive step count for --steps N or golang-migrate's `up N`/`down N`
 * (BL_EUSAGE naming what). */
int session_parse_steps(const char *arg, const char *what, uint64_t *steps, struct errbuf *e);

/* goto/plan to an unapplied file older than the current version would go
 * down for a migration that was never applied: BL_EUSAGE naming the file
 * and the current version instead. */
int session_refuse_ooo_target(const struct session *s, const char *what, uint64_t to,
			      struct errbuf *e);

#endif
