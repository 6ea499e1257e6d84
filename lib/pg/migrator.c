#include "migrator.h"

#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "pg.h"
#include "timeutil.h"
#include "interrupt.h"
#include "xalloc.h"

/* First key of the two-key advisory lock: "bala" in ASCII, so the lock is
 * recognisable in pg_locks (classid) next to an application's own locks. */
#define MIGRATOR_LOCK_CLASS 1650551905

/* Server notices (RAISE NOTICE in a migration, "already exists, skipping")
 * go through the log instead of libpq's bare stderr print. */
static void on_notice(void *arg, const char *message)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_addstr(&sb, message);
	strbuf_rtrim(&sb);
	log_info("server: %s", sb.buf);
	strbuf_release(&sb);
}

static int32_t lock_key_for(const char *qtable)
{
	uint32_t h = 2166136261u;

	/* FNV-1a: stable across releases and hosts, unlike hashtext(). */
	for (const unsigned char *p = (const unsigned char *)qtable; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return (int32_t)(h & 0x7fffffff);
}

int migrator_open(const struct migrator_opts *opts, struct migrator **out, struct errbuf *e)
{
	struct migrator *m = xcalloc(1, sizeof(*m));
	struct strbuf sb = STRBUF_INIT, q = STRBUF_INIT;
	char host[256] = "localhost";
	const char *user = getenv("USER");
	int rc;

	m->opts = *opts;
	if (!m->opts.schema || !*m->opts.schema)
		m->opts.schema = "public";
	if (!m->opts.table || !*m->opts.table)
		m->opts.table = "ballast_migrations";
	rc = pg_connect(opts->conninfo, opts->password, &m->conn, e);
	if (rc)
		goto out;
	PQsetNoticeProcessor(m->conn, on_notice, NULL);
	if (pg_quote_ident(m->conn, m->opts.schema, &q)) {
		rc = errbuf_set(e, BL_EUSAGE, "migrations.schema: cannot quote %s", m->opts.schema);
		goto out;
	}
	m->qschema = xstrdup_or_null(q.buf);
	strbuf_addf(&sb, "%s.", q.buf);
	if (pg_quote_ident(m->conn, m->opts.table, &q)) {
		rc = errbuf_set(e, BL_EUSAGE, "migrations.table: cannot quote %s", m->opts.table);
		goto out;
	}
	strbuf_addstr(&sb, q.buf);
	m->qtable = xstrdup_or_null(sb.buf);
	m->lock_key = lock_key_for(m->qtable);
	if (!user || !*user) {
		struct passwd *pw = getpwuid(geteuid());

		user = pw ? pw->pw_name : "unknown";
	}
	if (gethostname(host, sizeof(host) - 1))
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	strbuf_reset(&sb);
	strbuf_addf(&sb, "%s@%s", user, host);
	m->applied_by = xstrdup_or_null(sb.buf);
out:
	strbuf_release(&sb);
	strbuf_release(&q);
	if (rc) {
		migrator_close(m);
		m = NULL;
	}
	*out = m;
	return rc;
}

void migrator_close(struct migrator *m)
{
	if (!m)
		return;
	if (m->conn && m->locked) {
		PGresult *r = PQexec(m->conn, "SELECT pg_advisory_unlock_all()");

		PQclear(r);
	}
	if (m->conn)
		PQfinish(m->conn);
	free(m->qtable);
	free(m->qschema);
	free(m->applied_by);
	free(m);
}

void migrator_pooler_warning(struct migrator *m, struct strbuf *out)
{
	struct strbuf port = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	const char *cport = PQport(m->conn), *chost = PQhost(m->conn);

	strbuf_reset(out);
	if (cport && !strcmp(cport, "6432")) {
		strbuf_addstr(out, "the connection uses port 6432, pgbouncer's default: "
				   "transaction pooling breaks the session advisory lock; "
				   "connect to PostgreSQL directly");
		goto out;
	}
	/* Over TCP, a server that listens on another port than the one we
	 * dialled sits behind a proxy or pooler. */
	if (chost && chost[0] != '/' && cport && *cport &&
	    !pg_value(m->conn, "SELECT current_setting('port')", &port, &e) && port.len &&
	    strcmp(port.buf, cport))
		strbuf_addf(out, "connected on port %s but the server listens on %s: a pooler "
				 "such as pgbouncer in transaction mode breaks the session advisory "
				 "lock; connect to PostgreSQL directly",
			    cport, port.buf);
out:
	strbuf_release(&port);
}

int migrator_lock(struct migrator *m, struct errbuf *e)
{
	struct strbuf sql = STRBUF_INIT, v = STRBUF_INIT;
	long long start = time_mono_ms();
	long wait_step = 50;
	int rc = 0;

	strbuf_addf(&sql, "SELECT pg_try_advisory_lock(%d, %d)", MIGRATOR_LOCK_CLASS,
		    (int)m->lock_key);
	for (;;) {
		rc = pg_value(m->conn, sql.buf, &v, e);
		if (rc)
			goto out;
		if (!strcmp(v.buf, "t")) {
			m->locked = 1;
			goto out;
		}
		if (interrupt_signal) {
			rc = errbuf_set(e, BL_EFAIL, "interrupted while waiting for the migration lock");
			goto out;
		}
		if (time_mono_ms() - start >= m->opts.lock_wait_ms)
			break;
		if (wait_step == 50)
			log_info("waiting for the migration lock on %s (up to %lld ms)", m->qtable,
				 m->opts.lock_wait_ms);
		usleep((useconds_t)wait_step * 1000);
		if (wait_step < 500)
			wait_step *= 2;
	}
	strbuf_reset(&sql);
	strbuf_addf(&sql,
		    "SELECT string_agg(l.pid::text || coalesce(' (' || nullif(a.application_name, '') || ')', ''), ', ')"
		    " FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
		    " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %d"
		    " AND l.objid = %d AND l.objsubid = 2",
		    MIGRATOR_LOCK_CLASS, (int)m->lock_key);
	if (pg_value(m->conn, sql.buf, &v, e))
		strbuf_reset(&v);
	rc = errbuf_set(e, BL_ELOCKED,
			"another migrator holds the migration lock for %s on %s (pid %s); "
			"gave up after %lld ms (migrations.lock_wait)",
			m->qtable, PQdb(m->conn), v.len ? v.buf : "unknown", m->opts.lock_wait_ms);
out:
	strbuf_release(&sql);
	strbuf_release(&v);
	return rc;
}

static int table_exists(struct migrator *m, int *exists, struct errbuf *e)
{
	const char *p[1] = { m->qtable };
	PGresult *r;
	int rc = pg_execp(m->conn, "SELECT to_regclass($1) IS NOT NULL", 1, p, &r, e);

	if (rc)
		return rc;
	*exists = PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "t");
	PQclear(r);
	return 0;
}

int migrator_ensure_table(struct migrator *m, struct errbuf *e)
{
	const char *p[1] = { m->opts.schema };
	PGresult *r = NULL;
	int exists = 0, rc;

	rc = table_exists(m, &exists, e);
	if (rc || exists)
		return rc;
	/* CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when
	 * the schema exists: only ask for it when the schema is missing. */
	rc = pg_execp(m->conn, "SELECT to_regnamespace($1) IS NULL", 1, p, &r, e);
	if (rc)
		return rc;
	if (!strcmp(PQgetvalue(r, 0, 0), "t"))
		rc = pg_execf(m->conn, NULL, e, "CREATE SCHEMA IF NOT EXISTS %s", m->qschema);
	PQclear(r);
	if (rc)
		goto out;
	rc = pg_execf(m->conn, NULL, e,
		      "CREATE TABLE IF NOT EXISTS %s ("
		      " version bigint PRIMARY KEY CHECK (version > 0),"
		      " name text NOT NULL,"
		      " checksum text,"
		      " down_sql text,"
		      " applied_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
		      " duration_ms bigint NOT NULL DEFAULT 0,"
		      " applied_by text,"
		      " release text,"
		      " dirty boolean NOT NULL DEFAULT false,"
		      " note text)",
		      m->qtable);
out:
	if (rc)
		errbuf_prefix(e, "cannot create the migrations table %s: ", m->qtable);
	return rc;
}

void migrator_state_release(struct migrator_state *st)
{
	for (size_t i = 0; i < st->n; i++) {
		struct migrator_row *r = &st->rows[i];

		free(r->name);
		free(r->checksum);
		free(r->down_sql);
		free(r->applied_at);
		free(r->applied_by);
		free(r->release);
		free(r->note);
	}
	free(st->rows);
	memset(st, 0, sizeof(*st));
}

static char *field(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : xstrdup_or_null(PQgetvalue(r, row, col));
}

static int load(struct migrator *m, struct migrator_state *st, const char *order,
		struct errbuf *e)
{
	PGresult *r = NULL;
	int rc, exists = 0;

	memset(st, 0, sizeof(*st));
	rc = table_exists(m, &exists, e);
	if (rc || !exists)
		return rc;
	st->table_exists = 1;
	rc = pg_execf(m->conn, &r, e,
		      "SELECT version, name, checksum, down_sql,"
		      " to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
		      " duration_ms, applied_by, release, dirty, note FROM %s ORDER BY %s",
		      m->qtable, order);
	if (rc) {
		errbuf_prefix(e, "cannot read %s: ", m->qtable);
		return rc;
	}
	st->n = (size_t)PQntuples(r);
	st->rows = xcalloc(st->n, sizeof(*st->rows));
	for (size_t i = 0; i < st->n; i++) {
		struct migrator_row *row = &st->rows[i];
		int k = (int)i;

		row->version = strtoull(PQgetvalue(r, k, 0), NULL, 10);
		row->name = field(r, k, 1);
		row->checksum = field(r, k, 2);
		row->down_sql = field(r, k, 3);
		row->applied_at = field(r, k, 4);
		row->duration_ms = strtoll(PQgetvalue(r, k, 5), NULL, 10);
		row->applied_by = field(r, k, 6);
		row->release = field(r, k, 7);
		row->dirty = !strcmp(PQgetvalue(r, k, 8), "t");
		row->note = field(r, k, 9);
		if (row->version > st->current)
			st->current = row->version;
		if (row->dirty && !st->dirty) {
			st->dirty = 1;
			st->dirty_version = row->version;
		}
	}
	PQclear(r);
	return 0;
}

int migrator_load(struct migrator *m, struct migrator_state *st, struct errbuf *e)
{
	return load(m, st, "version", e);
}

int migrator_load_history(struct migrator *m, struct migrator_state *st, struct errbuf *e)
{
	return load(m, st, "applied_at, version", e);
}

const struct migrator_row *migrator_state_find(const struct migrator_state *st, uint64_t version)
{
	for (size_t i = 0; i < st->n; i++)
		if (st->rows[i].version == version)
			return &st->rows[i];
	return NULL;
}

/* Run migration SQL: an empty file (only comments) is fine. */
static PGresult *exec_sql(PGconn *conn, const char *sql, int *ok)
{
	PGresult *r = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(r);

	*ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
	if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
		/* COPY ... FROM STDIN has no data to read here: cancel it. */
		PQputCopyEnd(conn, "COPY FROM STDIN/TO STDOUT is not supported in migrations");
		PQclear(r);
		while ((r = PQgetResult(conn)) && PQresultStatus(r) != PGRES_FATAL_ERROR)
			PQclear(r);
		*ok = 0;
		{
			PGresult *rest;

			while ((rest = PQgetResult(conn)))
				PQclear(rest);
		}
	}
	return r;
}

/* One line: "<where>[:line N]: <severity>: <message> [(<detail>)]". */
static void describe_error(PGconn *conn, PGresult *r, const char *where, const char *text,
			   size_t len, unsigned base_line, struct strbuf *out)
{
	const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *pos = r ? PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION) : NULL;
	const char *detail = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *sev = r ? PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED) : NULL;
	unsigned line = 0;

	strbuf_reset(out);
	if (pos)
		line = migration_line_at(text, len, strtol(pos, NULL, 10), base_line);
	else if (base_line > 1)
		line = base_line;
	strbuf_addstr(out, where);
	if (line)
		strbuf_addf(out, ":%u", line);
	strbuf_addf(out, ": %s: ", sev ? sev : "ERROR");
	if (msg)
		strbuf_addstr(out, msg);
	else
		strbuf_addstr(out, PQerrorMessage(conn));
	if (detail)
		strbuf_addf(out, " (%s)", detail);
	strbuf_rtrim(out);
	for (size_t i = 0; i < out->len; i++)
		if (out->buf[i] == '\n' || out->buf[i] == '\r')
			out->buf[i] = ' ';
}

/* Why it failed, for timeouts, in operator terms. */
static const char *timeout_hint(PGresult *r, const struct migrator_opts *o, struct strbuf *sb)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	strbuf_reset(sb);
	if (state && !strcmp(state, "55P03"))
		strbuf_addf(sb, "timed out waiting for a lock (migrations.lock_timeout %lld ms); ",
			    o->lock_timeout_ms);
	else if (state && !strcmp(state, "25001"))
		strbuf_addstr(sb, "a statement in a file of several cannot run in a transaction: "
				  "make the file's first line '-- ballast:no-transaction'; ");
	else if (state && !strcmp(state, "57014") && o->statement_timeout_ms > 0)
		strbuf_addf(sb, "canceled by migrations.statement_timeout %lld ms; ",
			    o->statement_timeout_ms);
	return sb->buf;
}

static void rollback(PGconn *conn)
{
	PGresult *r = PQexec(conn, "ROLLBACK");

	PQclear(r);
}

/* "LOCAL" also opens the transaction: one round trip instead of two,
 * which is most of the per-migration cost when migrations are small. */
static int set_timeouts(struct migrator *m, const char *scope, struct errbuf *e)
{
	return pg_execf(m->conn, NULL, e, "%sSET %s lock_timeout = %lld; SET %s statement_timeout = %lld",
			strcmp(scope, "LOCAL") ? "" : "BEGIN; ", scope, m->opts.lock_timeout_ms, scope,
			m->opts.statement_timeout_ms);
}

/* The history row and the COMMIT in one round trip. Values go in as
 * escaped literals because a parameterised query cannot carry a second
 * statement. */
static int insert_and_commit(struct migrator *m, const char *const *params, struct errbuf *e)
{
	struct strbuf sql = STRBUF_INIT, lit = STRBUF_INIT;
	int rc = 0;

	strbuf_addf(&sql, "INSERT INTO %s (version, name, checksum, down_sql, duration_ms,"
			  " applied_by, release, note) VALUES (", m->qtable);
	for (int i = 0; i < 8; i++) {
		if (!params[i]) {
			strbuf_addstr(&sql, i ? ", NULL" : "NULL");
			continue;
		}
		if (pg_quote_literal(m->conn, params[i], &lit)) {
			rc = errbuf_set(e, BL_EFAIL, "cannot quote a value: %s", PQerrorMessage(m->conn));
			goto out;
		}
		strbuf_addf(&sql, "%s%s", i ? ", " : "", lit.buf);
	}
	strbuf_addstr(&sql, "); COMMIT");
	rc = pg_exec(m->conn, sql.buf, NULL, e);
out:
	strbuf_release(&sql);
	strbuf_release(&lit);
	return rc;
}

static void reset_timeouts(struct migrator *m)
{
	PGresult *r = PQexec(m->conn, "RESET lock_timeout; RESET statement_timeout");

	PQclear(r);
}

/* After a file ran statement by statement: a transaction the file opened
 * and did not close (or that an error aborted) is rolled back, so the
 * history update that follows is not swallowed by it. Returns 1 when one
 * was open. */
static int close_open_tx(struct migrator *m)
{
	if (PQtransactionStatus(m->conn) == PQTRANS_IDLE)
		return 0;
	rollback(m->conn);
	return 1;
}

/* Run text statement by statement outside ballast's transaction. The
 * timeouts are set again before each statement: a COMMIT, ROLLBACK or SET
 * inside the file must not leave the rest unprotected. On failure, err
 * holds the located message. */
static int run_split(struct migrator *m, const char *where, const char *text, size_t len,
		     struct strbuf *err, PGresult **failed, struct errbuf *e)
{
	struct migration_stmt *stmts = NULL;
	struct strbuf one = STRBUF_INIT;
	size_t n = 0;
	int rc, ok;

	*failed = NULL;
	rc = migration_split(text, len, &stmts, &n, e);
	if (rc) {
		errbuf_prefix(e, "%s: ", where);
		strbuf_reset(err);
		strbuf_addstr(err, e->msg);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		PGresult *r;

		rc = set_timeouts(m, "SESSION", e);
		if (rc) {
			strbuf_reset(err);
			strbuf_addf(err, "%s:%u: cannot set the timeouts: %s", where, stmts[i].line,
				    e->msg);
			goto out;
		}
		strbuf_reset(&one);
		strbuf_add(&one, text + stmts[i].start, stmts[i].len);
		r = exec_sql(m->conn, one.buf, &ok);
		if (!ok) {
			describe_error(m->conn, r, where, one.buf, one.len, stmts[i].line, err);
			*failed = r;
			rc = BL_EFAIL;
			goto out;
		}
		PQclear(r);
	}
	if (PQtransactionStatus(m->conn) != PQTRANS_IDLE) {
		strbuf_reset(err);
		strbuf_addf(err, "%s: ends inside a transaction it opened (no COMMIT after its "
				 "last BEGIN); that open part was rolled back", where);
		rc = BL_EFAIL;
	}
out:
	close_open_tx(m);
	free(stmts);
	strbuf_release(&one);
	return rc;
}

/* Whether sql runs outside ballast's transaction: the directive, or
 * transaction control of its own (which would end ballast's transaction
 * half-way and leave the rest in autocommit). */
static int tx_mode(struct migrator *m, const char *where, const char *sql, int warn, int *no_tx,
		   struct errbuf *e)
{
	struct strbuf word = STRBUF_INIT;
	unsigned line = 0;
	int rc = 0;

	*no_tx = migration_no_transaction(sql);
	if (*no_tx)
		goto out;
	rc = migration_tx_control(sql, strlen(sql), &line, &word, e);
	if (rc) {
		errbuf_prefix(e, "%s: ", where);
		goto out;
	}
	if (!line) {
		rc = migration_single_no_tx(sql, strlen(sql), &word, e);
		if (!rc && word.len) {
			*no_tx = 1;
			if (warn)
				log_info("%s: its one statement (%s) cannot run inside a transaction: "
					 "running it outside one, marked dirty until it finishes",
					 where, word.buf);
		}
		goto out;
	}
	*no_tx = 1;
	if (m->opts.strict_tx) {
		rc = errbuf_set(e, BL_EUSAGE,
				"%s:%u: %s inside the file: it controls its own transactions, which "
				"--strict-transactions refuses; remove its BEGIN/COMMIT (ballast runs "
				"each migration in one transaction) or make its first line "
				"'-- ballast:no-transaction'; nothing was changed",
				where, line, word.buf);
		goto out;
	}
	if (warn)
		log_warn("%s:%u: %s inside the file: running it statement by statement outside "
			 "ballast's transaction; a failure part-way leaves the database dirty",
			 where, line, word.buf);
out:
	strbuf_release(&word);
	return rc;
}

int migrator_apply(struct migrator *m, const struct migration *mig, unsigned flags,
		   struct errbuf *e)
{
	struct strbuf up = STRBUF_INIT, down = STRBUF_INIT, err = STRBUF_INIT, hint = STRBUF_INIT;
	struct strbuf vs = STRBUF_INIT, ds = STRBUF_INIT;
	char sum[65];
	PGresult *r = NULL;
	long long t0;
	int rc, ok, no_tx = 0;
	const char *params[8];

	rc = migration_load(mig, MIGRATION_UP, &up, e);
	if (!rc && mig->down_path)
		rc = migration_load(mig, MIGRATION_DOWN, &down, e);
	if (!rc)
		rc = migration_sha256_hex(up.buf, up.len, sum, e);
	if (!rc)
		rc = tx_mode(m, mig->up_path, up.buf, 0, &no_tx, e);
	if (rc)
		goto out;
	strbuf_addf(&vs, "%" PRIu64, mig->version);
	params[0] = vs.buf;
	params[1] = mig->name;
	params[2] = sum;
	params[3] = mig->down_path ? down.buf : NULL;
	params[5] = m->applied_by;
	params[6] = m->opts.release && *m->opts.release ? m->opts.release : NULL;
	params[7] = flags & MIGRATOR_OUT_OF_ORDER ? "applied out of order (--allow-out-of-order)"
						  : NULL;

	if (!no_tx) {
		rc = set_timeouts(m, "LOCAL", e);
		if (rc)
			goto fail_tx;
		t0 = time_mono_ms();
		r = exec_sql(m->conn, up.buf, &ok);
		if (!ok) {
			describe_error(m->conn, r, mig->up_path, up.buf, up.len, 1, &err);
			rollback(m->conn);
			rc = errbuf_set(e, BL_EFAIL,
					"migration %" PRIu64 " (%s) failed: %s%s; rolled back, version unchanged",
					mig->version, mig->name, timeout_hint(r, &m->opts, &hint),
					err.buf);
			goto out;
		}
		PQclear(r);
		r = NULL;
		strbuf_addf(&ds, "%lld", time_mono_ms() - t0);
		params[4] = ds.buf;
		rc = insert_and_commit(m, params, e);
		if (rc)
			goto fail_tx;
		goto out;
fail_tx:
		rollback(m->conn);
		errbuf_prefix(e, "migration %" PRIu64 " (%s): ", mig->version, mig->name);
		goto out;
	}

	/* No transaction: the row goes in dirty first, so a failure part-way
	 * is visible to every later run until someone looks and forces. */
	params[4] = "0";
	strbuf_addf(&hint, "INSERT INTO %s (version, name, checksum, down_sql, duration_ms,"
			   " applied_by, release, note, dirty)"
			   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, true)",
		    m->qtable);
	rc = pg_execp(m->conn, hint.buf, 8, params, NULL, e);
	if (rc) {
		errbuf_prefix(e, "migration %" PRIu64 " (%s): ", mig->version, mig->name);
		goto out;
	}
	t0 = time_mono_ms();
	if (run_split(m, mig->up_path, up.buf, up.len, &err, &r, e)) {
		reset_timeouts(m);
		rc = errbuf_set(e, BL_EFAIL,
				"migration %" PRIu64 " (%s) failed outside a transaction: %s%s; "
				"what ran before the failure stays committed and the database is "
				"marked dirty at %" PRIu64 ": check what was applied, "
				"then run 'ballast-migrate force VERSION'",
				mig->version, mig->name, timeout_hint(r, &m->opts, &hint), err.buf,
				mig->version);
		goto out;
	}
	reset_timeouts(m);
	strbuf_reset(&ds);
	strbuf_addf(&ds, "%lld", time_mono_ms() - t0);
	params[1] = ds.buf;
	strbuf_reset(&hint);
	strbuf_addf(&hint, "UPDATE %s SET dirty = false, duration_ms = $2 WHERE version = $1",
		    m->qtable);
	rc = pg_execp(m->conn, hint.buf, 2, params, NULL, e);
	if (rc)
		errbuf_prefix(e, "migration %" PRIu64 " ran but cannot be marked clean: ",
			      mig->version);
out:
	PQclear(r);
	strbuf_release(&up);
	strbuf_release(&down);
	strbuf_release(&err);
	strbuf_release(&hint);
	strbuf_release(&vs);
	strbuf_release(&ds);
	return rc;
}

int migrator_revert(struct migrator *m, const struct migrator_row *row, struct errbuf *e)
{
	struct strbuf where = STRBUF_INIT, err = STRBUF_INIT, hint = STRBUF_INIT,
		      sql = STRBUF_INIT, vs = STRBUF_INIT;
	const char *params[1];
	PGresult *r = NULL;
	size_t len;
	int rc = 0, ok, no_tx = 0;

	if (!row->down_sql)
		return errbuf_set(e, BL_EFAIL,
				  "migration %" PRIu64 " (%s) is irreversible: it was applied "
				  "without a down file",
				  row->version, row->name);
	len = strlen(row->down_sql);
	strbuf_addf(&where, "stored down SQL of %" PRIu64 "_%s", row->version, row->name);
	strbuf_addf(&vs, "%" PRIu64, row->version);
	params[0] = vs.buf;
	strbuf_addf(&sql, "DELETE FROM %s WHERE version = $1", m->qtable);
	rc = tx_mode(m, where.buf, row->down_sql, 0, &no_tx, e);
	if (rc)
		goto out;

	if (!no_tx) {
		rc = set_timeouts(m, "LOCAL", e);
		if (rc)
			goto fail_tx;
		r = exec_sql(m->conn, row->down_sql, &ok);
		if (!ok) {
			describe_error(m->conn, r, where.buf, row->down_sql, len, 1, &err);
			rollback(m->conn);
			rc = errbuf_set(e, BL_EFAIL,
					"reverting %" PRIu64 " (%s) failed: %s%s; rolled back, version unchanged",
					row->version, row->name, timeout_hint(r, &m->opts, &hint),
					err.buf);
			goto out;
		}
		PQclear(r);
		r = NULL;
		strbuf_reset(&sql);
		strbuf_addf(&sql, "DELETE FROM %s WHERE version = %" PRIu64 "; COMMIT", m->qtable,
			    row->version);
		rc = pg_exec(m->conn, sql.buf, NULL, e);
		if (rc)
			goto fail_tx;
		goto out;
fail_tx:
		rollback(m->conn);
		errbuf_prefix(e, "reverting %" PRIu64 " (%s): ", row->version, row->name);
		goto out;
	}

	strbuf_addf(&hint, "UPDATE %s SET dirty = true WHERE version = $1", m->qtable);
	rc = pg_execp(m->conn, hint.buf, 1, params, NULL, e);
	if (rc) {
		errbuf_prefix(e, "reverting %" PRIu64 " (%s): ", row->version, row->name);
		goto out;
	}
	if (run_split(m, where.buf, row->down_sql, len, &err, &r, e)) {
		reset_timeouts(m);
		rc = errbuf_set(e, BL_EFAIL,
				"reverting %" PRIu64 " (%s) failed outside a transaction: %s%s; "
				"what ran before the failure stays committed and the database is marked dirty at %" PRIu64 ": check what was reverted, "
				"then run 'ballast-migrate force VERSION'",
				row->version, row->name, timeout_hint(r, &m->opts, &hint), err.buf,
				row->version);
		goto out;
	}
	reset_timeouts(m);
	rc = pg_execp(m->conn, sql.buf, 1, params, NULL, e);
	if (rc)
		errbuf_prefix(e, "reverted %" PRIu64 " but cannot remove its row: ", row->version);
out:
	PQclear(r);
	strbuf_release(&where);
	strbuf_release(&err);
	strbuf_release(&hint);
	strbuf_release(&sql);
	strbuf_release(&vs);
	return rc;
}

int migrator_force(struct migrator *m, uint64_t v, struct errbuf *e)
{
	struct strbuf sql = STRBUF_INIT, vs = STRBUF_INIT, note = STRBUF_INIT;
	const char *params[2];
	PGresult *r = NULL;
	int rc;

	strbuf_addf(&vs, "%" PRIu64, v);
	strbuf_addf(&note, "forced by %s", m->applied_by);
	params[0] = vs.buf;
	params[1] = note.buf;
	rc = pg_exec(m->conn, "BEGIN", NULL, e);
	if (rc)
		goto out;
	strbuf_addf(&sql, "SELECT count(*) FROM %s WHERE dirty", m->qtable);
	rc = pg_exec(m->conn, sql.buf, &r, e);
	if (rc)
		goto fail;
	if (!strcmp(PQgetvalue(r, 0, 0), "0")) {
		rc = errbuf_set(e, BL_EUSAGE, "force %" PRIu64 ": the database is not dirty; nothing to do", v);
		goto fail;
	}
	PQclear(r);
	r = NULL;
	/* Dirty rows above v did not happen as far as the history goes: the
	 * note on the surviving row at or below v keeps the record. */
	strbuf_reset(&sql);
	strbuf_addf(&sql,
		    "WITH gone AS (DELETE FROM %s WHERE dirty AND version > $1"
		    "   RETURNING version, name),"
		    " kept AS (UPDATE %s SET dirty = false, note = concat_ws('; ', note,"
		    "   $2 || ' at ' || to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
		    "   || ': dirty flag cleared, kept as applied')"
		    "   WHERE dirty AND version <= $1 RETURNING version)"
		    " UPDATE %s SET note = concat_ws('; ', note, $2 || ' at '"
		    "   || to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
		    "   || ': removed dirty ' || (SELECT string_agg(version || '_' || name, ', ') FROM gone))"
		    " WHERE version = (SELECT max(version) FROM %s WHERE version <= $1 AND NOT dirty)"
		    "   AND NOT EXISTS (SELECT 1 FROM kept) AND EXISTS (SELECT 1 FROM gone)",
		    m->qtable, m->qtable, m->qtable, m->qtable);
	rc = pg_execp(m->conn, sql.buf, 2, params, NULL, e);
	if (!rc)
		rc = pg_exec(m->conn, "COMMIT", NULL, e);
	if (rc)
		goto fail;
	goto out;
fail:
	rollback(m->conn);
out:
	PQclear(r);
	strbuf_release(&sql);
	strbuf_release(&vs);
	strbuf_release(&note);
	return rc;
}

int migrator_baseline_one(struct migrator *m, const struct migration *mig, struct errbuf *e)
{
	struct strbuf up = STRBUF_INIT, down = STRBUF_INIT, sql = STRBUF_INIT, vs = STRBUF_INIT,
		      note = STRBUF_INIT;
	const char *params[7];
	char sum[65];
	int rc;

	rc = migration_load(mig, MIGRATION_UP, &up, e);
	if (!rc && mig->down_path)
		rc = migration_load(mig, MIGRATION_DOWN, &down, e);
	if (!rc)
		rc = migration_sha256_hex(up.buf, up.len, sum, e);
	if (rc)
		goto out;
	strbuf_addf(&vs, "%" PRIu64, mig->version);
	strbuf_addf(&note, "baseline by %s: recorded as applied without running", m->applied_by);
	params[0] = vs.buf;
	params[1] = mig->name;
	params[2] = sum;
	params[3] = mig->down_path ? down.buf : NULL;
	params[4] = m->applied_by;
	params[5] = m->opts.release && *m->opts.release ? m->opts.release : NULL;
	params[6] = note.buf;
	strbuf_addf(&sql, "INSERT INTO %s (version, name, checksum, down_sql, applied_by, release,"
			  " note) VALUES ($1, $2, $3, $4, $5, $6, $7)",
		    m->qtable);
	rc = pg_execp(m->conn, sql.buf, 7, params, NULL, e);
	if (rc)
		errbuf_prefix(e, "baseline %" PRIu64 " (%s): ", mig->version, mig->name);
out:
	strbuf_release(&up);
	strbuf_release(&down);
	strbuf_release(&sql);
	strbuf_release(&vs);
	strbuf_release(&note);
	return rc;
}

void migrator_foreign_release(struct migrator_foreign *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(f[i].table);
		free(f[i].revision);
	}
	free(f);
}

int migrator_detect_foreign(struct migrator *m, struct migrator_foreign **out, size_t *n,
			    struct errbuf *e)
{
	/* The version queries read each tool's own rule for "current":
	 * golang-migrate keeps one row; dbmate one row per applied version
	 * (text); goose a log whose latest row per version says applied or
	 * not, with a version 0 row of its own. */
	static const char *const find =
		"SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relname,"
		" EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid"
		"   AND a.attname = 'dirty' AND NOT a.attisdropped)"
		" FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
		" WHERE c.relkind IN ('r', 'p')"
		"   AND c.relname IN ('schema_migrations', 'goose_db_version', 'alembic_version')"
		"   AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
		" ORDER BY 1";
	struct migrator_foreign *v = NULL;
	PGresult *r = NULL, *q = NULL;
	size_t nv = 0;
	int rc;

	*out = NULL;
	*n = 0;
	rc = pg_exec(m->conn, find, &r, e);
	if (rc)
		goto out;
	v = xcalloc((size_t)PQntuples(r) + 1, sizeof(*v));
	for (int i = 0; i < PQntuples(r); i++) {
		struct migrator_foreign *f = &v[nv];
		const char *t = PQgetvalue(r, i, 0), *rel = PQgetvalue(r, i, 1);
		int has_dirty = !strcmp(PQgetvalue(r, i, 2), "t");

		f->table = xstrdup(t);
		if (!strcmp(rel, "schema_migrations") && has_dirty) {
			f->tool = "golang-migrate";
			rc = pg_execf(m->conn, &q, e, "SELECT version, dirty FROM %s ORDER BY version DESC "
					  "LIMIT 1", t);
		} else if (!strcmp(rel, "schema_migrations")) {
			f->tool = "dbmate";
			rc = pg_execf(m->conn, &q, e, "SELECT max(version::numeric)::text, false FROM %s"
					  " WHERE version ~ '^[0-9]+$'", t);
		} else if (!strcmp(rel, "goose_db_version")) {
			f->tool = "goose";
			rc = pg_execf(m->conn, &q, e,
				      "SELECT max(version_id), false FROM (SELECT DISTINCT ON (version_id)"
				      " version_id, is_applied FROM %s ORDER BY version_id, id DESC) l"
				      " WHERE is_applied AND version_id > 0", t);
		} else {
			f->tool = "alembic";
			rc = pg_execf(m->conn, &q, e, "SELECT string_agg(version_num, ', '), false FROM %s", t);
		}
		if (rc) {
			errbuf_prefix(e, "reading %s's %s: ", f->tool, t);
			migrator_foreign_release(v, nv + 1);
			v = NULL;
			nv = 0;
			goto out;
		}
		if (PQntuples(q) == 1 && !PQgetisnull(q, 0, 0)) {
			if (!strcmp(f->tool, "alembic")) {
				f->revision = xstrdup(PQgetvalue(q, 0, 0));
			} else {
				struct errbuf pe = ERRBUF_INIT;

				if (!migration_parse_version(PQgetvalue(q, 0, 0), t, &f->version, &pe))
					f->has_version = f->version > 0;
			}
			f->dirty = !strcmp(PQgetvalue(q, 0, 1), "t");
		}
		PQclear(q);
		q = NULL;
		nv++;
	}
	*out = v;
	*n = nv;
	v = NULL;
out:
	free(v);
	PQclear(r);
	PQclear(q);
	return rc;
}

int migrator_refuse_dirty(const struct migrator_state *st, struct errbuf *e)
{
	const struct migrator_row *r;

	if (!st->dirty)
		return 0;
	r = migrator_state_find(st, st->dirty_version);
	return errbuf_set(e, BL_EFAIL,
			  "the database is dirty at version %" PRIu64 " (%s): a migration outside a "
			  "transaction failed part-way; repair it by hand, then run "
			  "'ballast-migrate force VERSION'",
			  st->dirty_version, r && r->name ? r->name : "?");
}

int migrator_drift(const struct migration_set *files, const struct migrator_state *st,
		   uint64_t **out, size_t *n, struct errbuf *e)
{
	struct strbuf sql = STRBUF_INIT;
	uint64_t *v = NULL;
	size_t nv = 0;
	char sum[65];
	int rc = 0;

	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < st->n; i++) {
		const struct migrator_row *r = &st->rows[i];
		const struct migration *mig = migration_find(files, r->version);

		if (!mig || !r->checksum)
			continue;
		rc = migration_load(mig, MIGRATION_UP, &sql, e);
		if (!rc)
			rc = migration_sha256_hex(sql.buf, sql.len, sum, e);
		if (rc)
			goto out;
		if (strcmp(sum, r->checksum)) {
			v = xrealloc(v, (nv + 1) * sizeof(*v));
			v[nv++] = r->version;
		}
	}
	*out = v;
	*n = nv;
	v = NULL;
out:
	free(v);
	strbuf_release(&sql);
	return rc;
}

static void add_step(struct migrator_plan *p, size_t *alloc, const struct migrator_step *s)
{
	if (p->n == *alloc) {
		*alloc = *alloc ? *alloc * 2 : 16;
		p->steps = xrealloc(p->steps, *alloc * sizeof(*p->steps));
	}
	p->steps[p->n++] = *s;
}

int migrator_out_of_order(const struct migration_set *files, const struct migrator_state *st,
			   uint64_t upto, const struct migration **first, size_t *n)
{
	*first = NULL;
	*n = 0;
	for (size_t i = 0; i < files->n; i++) {
		const struct migration *mig = &files->items[i];

		if (mig->version >= st->current || mig->version > upto)
			break;
		if (migrator_state_find(st, mig->version))
			continue;
		if (!*first)
			*first = mig;
		(*n)++;
	}
	return *n != 0;
}

int migrator_plan_to(const struct migration_set *files, const struct migrator_state *st,
		     uint64_t target, unsigned flags, struct migrator_plan *p, struct errbuf *e)
{
	const struct migration *ooo;
	size_t alloc = 0, nooo;

	memset(p, 0, sizeof(*p));
	p->from = st->current;
	p->to = target;
	if (target >= st->current) {
		/* Up: every unapplied file up to target. One older than the
		 * current version (merged from a branch) is refused whatever
		 * else is pending, so it cannot be skipped silently. */
		if (migrator_out_of_order(files, st, target, &ooo, &nooo) &&
		    !(flags & MIGRATOR_OUT_OF_ORDER))
			return errbuf_set(e, BL_EUSAGE,
					  "%s is not applied but older than the current version "
					  "%" PRIu64 "%s: pass --allow-out-of-order to apply it, or "
					  "renumber it above %" PRIu64,
					  ooo->up_path, st->current,
					  nooo > 1 ? " (and more out-of-order files)" : "",
					  st->current);
		p->direction = 1;
		for (size_t i = 0; i < files->n; i++) {
			const struct migration *mig = &files->items[i];
			struct migrator_step s;

			if (mig->version > target)
				break;
			if (migrator_state_find(st, mig->version))
				continue;
			memset(&s, 0, sizeof(s));
			s.version = mig->version;
			s.name = mig->name;
			s.up = 1;
			s.reversible = mig->down_path != NULL;
			s.out_of_order = mig->version < st->current;
			s.mig = mig;
			add_step(p, &alloc, &s);
		}
		p->to = p->from;
		if (p->n && p->steps[p->n - 1].version > p->to)
			p->to = p->steps[p->n - 1].version;
	} else {
		p->direction = -1;
		for (size_t i = st->n; i-- > 0;) {
			const struct migrator_row *r = &st->rows[i];
			struct migrator_step s;

			if (r->version <= target)
				break;
			memset(&s, 0, sizeof(s));
			s.version = r->version;
			s.name = r->name;
			s.reversible = r->down_sql != NULL;
			s.row = r;
			add_step(p, &alloc, &s);
			if (!s.reversible) {
				p->irreversible = xrealloc(p->irreversible,
							   (p->n_irreversible + 1) * sizeof(uint64_t));
				p->irreversible[p->n_irreversible++] = r->version;
			}
		}
		/* The version we land on is the highest applied one not reverted. */
		p->to = 0;
		for (size_t i = 0; i < st->n; i++)
			if (st->rows[i].version <= target)
				p->to = st->rows[i].version;
	}
	if (!p->n)
		p->direction = 0;
	return 0;
}

void migrator_plan_release(struct migrator_plan *p)
{
	free(p->steps);
	free(p->irreversible);
	memset(p, 0, sizeof(*p));
}

int migrator_refuse_irreversible(const struct migrator_plan *p, struct errbuf *e)
{
	struct strbuf list = STRBUF_INIT;
	int rc;

	if (!p->n_irreversible)
		return 0;
	for (size_t i = 0; i < p->n; i++)
		if (!p->steps[i].reversible)
			strbuf_addf(&list, "%s%" PRIu64 " (%s)", list.len ? ", " : "",
				    p->steps[i].version, p->steps[i].name);
	rc = errbuf_set(e, BL_EFAIL,
			"downgrade from %" PRIu64 " to %" PRIu64 " refused: it would cross irreversible "
			"migration%s %s (applied without a down file); nothing was changed",
			p->from, p->to, p->n_irreversible > 1 ? "s" : "", list.buf);
	strbuf_release(&list);
	return rc;
}

int migrator_check_plan(struct migrator *m, const struct migrator_plan *p, struct errbuf *e)
{
	struct strbuf sql = STRBUF_INIT, where = STRBUF_INIT;
	int rc = 0, no_tx;

	for (size_t i = 0; i < p->n && !rc; i++) {
		const struct migrator_step *s = &p->steps[i];

		if (s->up) {
			rc = migration_load(s->mig, MIGRATION_UP, &sql, e);
			if (!rc)
				rc = tx_mode(m, s->mig->up_path, sql.buf, 1, &no_tx, e);
		} else if (s->row->down_sql) {
			strbuf_reset(&where);
			strbuf_addf(&where, "stored down SQL of %" PRIu64 "_%s", s->version, s->name);
			rc = tx_mode(m, where.buf, s->row->down_sql, 1, &no_tx, e);
		}
	}
	strbuf_release(&sql);
	strbuf_release(&where);
	return rc;
}

int migrator_run_plan(struct migrator *m, const struct migrator_plan *p, size_t *done,
		      struct errbuf *e)
{
	int rc;

	*done = 0;
	rc = migrator_check_plan(m, p, e);
	if (rc)
		return rc;
	for (size_t i = 0; i < p->n; i++) {
		const struct migrator_step *s = &p->steps[i];
		long long t0 = time_mono_ms();
		json_t *ev;

		if (interrupt_signal) {
			return errbuf_set(e, BL_EFAIL,
					  "interrupted after %zu of %zu migrations; the database is at a "
					  "consistent version",
					  *done, p->n);
		}
		rc = s->up ? migrator_apply(m, s->mig, s->out_of_order ? MIGRATOR_OUT_OF_ORDER : 0, e)
			   : migrator_revert(m, s->row, e);
		if (rc)
			return rc;
		(*done)++;
		log_info("%s %" PRIu64 "_%s (%lld ms)", s->up ? "applied" : "reverted", s->version,
			 s->name, time_mono_ms() - t0);
		ev = json_pack("{s:I, s:s, s:s, s:I}", "version", (json_int_t)s->version, "name",
			       s->name, "direction", s->up ? "up" : "down", "duration_ms",
			       (json_int_t)(time_mono_ms() - t0));
		log_event(s->up ? "applied" : "reverted", ev);
		json_decref(ev);
	}
	return rc;
}

int migrator_plan_steps_json(const struct migrator_plan *p, json_t **out, struct errbuf *e)
{
	struct strbuf sql = STRBUF_INIT, line = STRBUF_INIT;
	json_t *arr = json_array();
	int rc = 0;

	for (size_t i = 0; i < p->n; i++) {
		const struct migrator_step *s = &p->steps[i];

		strbuf_reset(&line);
		if (s->up) {
			rc = migration_load(s->mig, MIGRATION_UP, &sql, e);
			if (rc)
				goto out;
			migration_first_line(sql.buf, &line);
		} else if (s->row->down_sql) {
			migration_first_line(s->row->down_sql, &line);
		}
		json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:b, s:s}", "version",
						     (json_int_t)s->version, "name", s->name,
						     "direction", s->up ? "up" : "down",
						     "reversible", s->reversible, "first_line",
						     line.buf));
	}
	*out = arr;
	arr = NULL;
out:
	json_decref(arr);
	strbuf_release(&sql);
	strbuf_release(&line);
	return rc;
}
