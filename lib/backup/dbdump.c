#include "dbdump.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backupset.h"
#include "config.h"
#include "dbconn.h"
#include "dumpcount.h"
#include "fsutil.h"
#include "log.h"
#include "manifest.h"
#include "pg.h"
#include "ring.h"
#include "proc.h"
#include "zstream.h"
#include "interrupt.h"
#include "xalloc.h"

static const char *effective(const char *conninfo)
{
	const char *url = getenv("DATABASE_URL");

	if (conninfo && *conninfo)
		return conninfo;
	return url && *url ? url : "";
}

json_t *dbdump_find_db(const struct config *cfg, const char *name)
{
	json_t *dbs = cfg ? config_get(cfg, "databases") : NULL, *db;
	size_t i;

	json_array_foreach(dbs, i, db) {
		const char *n = json_string_value(json_object_get(db, "name"));

		if (n && !strcmp(n, name))
			return db;
	}
	return NULL;
}

void dbdump_password(json_t *db, struct strbuf *out)
{
	const char *env = json_string_value(json_object_get(db, "password_env"));
	const char *ci = json_string_value(json_object_get(db, "conninfo"));
	PQconninfoOption *opts;

	strbuf_reset(out);
	if (env && getenv(env)) {
		strbuf_addstr(out, getenv(env));
		return;
	}
	opts = PQconninfoParse(effective(ci), NULL);
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (!strcmp(o->keyword, "password") && o->val)
			strbuf_addstr(out, o->val);
	PQconninfoFree(opts);
}

void dbdump_target_password(json_t *db, const char *target, struct strbuf *out)
{
	struct strbuf tpw = STRBUF_INIT;

	strbuf_reset(out);
	if (target) {
		json_t *spec = json_pack("{s:s}", "conninfo", target);

		dbdump_password(spec, &tpw);
		json_decref(spec);
	}
	if (tpw.len) {
		log_add_secret(tpw.buf);
		strbuf_addstr(out, tpw.buf);
	} else if (db) {
		dbdump_password(db, out);
	}
	strbuf_release(&tpw);
}

int dbdump_conninfo_nopw(const char *conninfo, struct strbuf *out, struct errbuf *e)
{
	PQconninfoOption *opts;
	char *err = NULL;
	int rc;

	strbuf_reset(out);
	opts = PQconninfoParse(effective(conninfo), &err);
	if (!opts) {
		rc = errbuf_set(e, BL_EUSAGE, "bad connection string: %s", err ? err : "cannot parse");
		PQfreemem(err);
		return rc;
	}
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (o->val && strcmp(o->keyword, "password"))
			pg_conninfo_add(out, o->keyword, o->val);
	PQconninfoFree(opts);
	return 0;
}

/* The command's program and leading arguments: prefix (a JSON array of
 * strings) or def when the configuration has none. */
void dbdump_push_command(struct strvec *argv, json_t *prefix, const char *def)
{
	json_t *v;
	size_t i;

	if (!json_is_array(prefix) || !json_array_size(prefix)) {
		strvec_push(argv, def);
		return;
	}
	json_array_foreach(prefix, i, v)
		strvec_push(argv, json_string_value(v));
}

int dbdump_tool_version(json_t *db, const char *const *env, struct strbuf *out,
			struct errbuf *e)
{
	struct strvec argv = STRVEC_INIT;
	int rc;

	strbuf_reset(out);
	dbconn_push_tool(&argv, db, "dump_command", "pg_dump", env && env[0]);
	strvec_push(&argv, "--version");
	rc = proc_run(strvec_argv(&argv), env, NULL, out, 60000, e);
	strvec_clear(&argv);
	strbuf_rtrim(out);
	return rc;
}

static long long ms_since(long long t0)
{
	return time_mono_ms() - t0;
}

/* --- backup ------------------------------------------------------------ */

struct dump_sink {
	struct zstream *z;
	struct repo_writer *w;
	const char *name;
	const struct dbdump_opts *o;
	struct dumpcount *dc;   /* exact counts: the archive parsed as it passes */
	long long raw;
	char head[5];
};

static int dump_sink_fn(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	struct dump_sink *s = ctx;
	int rc;

	if (interrupt_signal)
		return interrupt_check(e);
	/* A custom-format archive starts with "PGDMP"; anything else (a
	 * wrapper printing text, a plain-format dump) would not restore. */
	for (size_t i = 0; s->raw + (long long)i < 5 && i < len; i++)
		s->head[s->raw + (long long)i] = ((const char *)buf)[i];
	if (s->raw < 5 && s->raw + (long long)len >= 5 && memcmp(s->head, "PGDMP", 5))
		return errbuf_set(e, BL_EFAIL, "the dump command's output is not a pg_dump "
				  "custom-format archive (expected it to start with PGDMP)");
	s->raw += (long long)len;
	if (s->dc)
		dumpcount_feed(s->dc, buf, len);
	rc = zstream_write(s->z, buf, len, e);
	if (!rc && s->o->progress)
		s->o->progress(s->o->progress_ctx, s->name, zstream_raw_bytes(s->z),
			       zstream_stored_bytes(s->z));
	return rc;
}

static const char tables_sql[] =
	"SELECT n.nspname, c.relname, c.reltuples::bigint FROM pg_class c "
	"JOIN pg_namespace n ON n.oid = c.relnamespace "
	"WHERE c.relkind = 'r' AND n.nspname <> 'information_schema' "
	"AND n.nspname NOT LIKE 'pg\\_%' "
	"AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass "
	"AND d.objid = c.oid AND d.deptype = 'e') ORDER BY 1, 2";

static int excluded(json_t *db, const char *schema, const char *name)
{
	json_t *ex = json_object_get(db, "exclude_tables"), *v;
	char full[512];
	size_t i;

	snprintf(full, sizeof(full), "%s.%s", schema, name);
	json_array_foreach(ex, i, v) {
		const char *s = json_string_value(v);

		if (s && (!strcmp(s, name) || !strcmp(s, full)))
			return 1;
	}
	return 0;
}

/* The tables as [{"schema","name","rows"?}] and, for exact counts, one
 * query counting all of them. */
static int list_tables(PGconn *conn, json_t *db, const char *mode, json_t **tables,
		       struct strbuf *count_sql, struct errbuf *e)
{
	struct strbuf qs = STRBUF_INIT, qn = STRBUF_INIT, ls = STRBUF_INIT, ln = STRBUF_INIT;
	PGresult *res = NULL;
	int rc, i;

	*tables = json_array();
	strbuf_reset(count_sql);
	rc = pg_exec(conn, tables_sql, &res, e);
	if (rc)
		goto out;
	for (i = 0; i < PQntuples(res); i++) {
		const char *s = PQgetvalue(res, i, 0), *n = PQgetvalue(res, i, 1);
		json_t *t;

		if (excluded(db, s, n))
			continue;
		t = json_pack("{s:s, s:s}", "schema", s, "name", n);
		if (!strcmp(mode, "estimate"))
			json_object_set_new(t, "rows", json_integer(strtoll(PQgetvalue(res, i, 2),
									    NULL, 10)));
		json_array_append_new(*tables, t);
		if (strcmp(mode, "exact"))
			continue;
		pg_quote_ident(conn, s, &qs);
		pg_quote_ident(conn, n, &qn);
		pg_quote_literal(conn, s, &ls);
		pg_quote_literal(conn, n, &ln);
		strbuf_addf(count_sql, "%sSELECT %s, %s, count(*) FROM %s.%s",
			    count_sql->len ? " UNION ALL " : "", ls.buf, ln.buf, qs.buf, qn.buf);
	}
out:
	PQclear(res);
	strbuf_release(&qs);
	strbuf_release(&qn);
	strbuf_release(&ls);
	strbuf_release(&ln);
	return rc;
}

static int collect_counts(PGconn *conn, json_t *tables, struct errbuf *e)
{
	PGresult *res;
	int rc = 0;

	while ((res = PQgetResult(conn))) {
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			if (!rc) {
				struct strbuf m = STRBUF_INIT;

				strbuf_addstr(&m, PQresultErrorMessage(res));
				strbuf_rtrim(&m);
				rc = errbuf_set(e, BL_EFAIL, "counting rows failed: %s", m.buf);
				strbuf_release(&m);
			}
			PQclear(res);
			continue;
		}
		for (int i = 0; i < PQntuples(res); i++) {
			const char *s = PQgetvalue(res, i, 0), *n = PQgetvalue(res, i, 1);
			size_t k;
			json_t *t;

			json_array_foreach(tables, k, t)
				if (!strcmp(json_string_value(json_object_get(t, "schema")), s) &&
				    !strcmp(json_string_value(json_object_get(t, "name")), n))
					json_object_set_new(t, "rows", json_integer(
								    strtoll(PQgetvalue(res, i, 2), NULL, 10)));
		}
		PQclear(res);
	}
	return rc;
}

static int cmp_count(const void *a, const void *b)
{
	const struct dumpcount_table *x = *(const struct dumpcount_table *const *)a;
	const struct dumpcount_table *y = *(const struct dumpcount_table *const *)b;
	int c = strcmp(x->schema, y->schema);

	return c ? c : strcmp(x->name, y->name);
}

/* The stream's complete count for table t ({"schema","name"}) among the n
 * sorted entries, or NULL. */
static const struct dumpcount_table *find_count(const struct dumpcount_table **sorted, size_t n,
						json_t *t)
{
	struct dumpcount_table key = {
		.schema = json_string_value(json_object_get(t, "schema")),
		.name = json_string_value(json_object_get(t, "name")),
	}, *kp = &key;
	const struct dumpcount_table **hit;

	if (!n || !key.schema || !key.name)
		return NULL;
	hit = bsearch(&kp, sorted, n, sizeof(*sorted), cmp_count);
	return hit && (*hit)->rows >= 0 ? *hit : NULL;
}

/* The counts read from the dump stream into tables, when the archive was
 * read to its end and holds the data of every listed table; otherwise 1
 * with the reason in why and tables untouched. */
static int counts_from_stream(struct dumpcount *dc, json_t *tables, struct strbuf *why)
{
	const struct dumpcount_table *dt, **sorted = NULL;
	struct errbuf pe = ERRBUF_INIT;
	json_t *t;
	size_t n, i;
	int rc = 1;

	if (dumpcount_finish(dc, &dt, &n, &pe)) {
		strbuf_addstr(why, pe.msg);
		return 1;
	}
	sorted = xcalloc(n, sizeof(*sorted));
	for (i = 0; i < n; i++)
		sorted[i] = &dt[i];
	qsort(sorted, n, sizeof(*sorted), cmp_count);
	for (i = 1; i < n; i++)
		if (!cmp_count(&sorted[i - 1], &sorted[i])) {
			strbuf_addf(why, "table %s.%s has two data entries in the archive",
				    sorted[i]->schema, sorted[i]->name);
			goto out;
		}
	/* every listed table first, so a miss leaves tables as it was */
	json_array_foreach(tables, i, t)
		if (!find_count(sorted, n, t)) {
			strbuf_addf(why, "the archive holds no data for table %s.%s",
				    json_string_value(json_object_get(t, "schema")),
				    json_string_value(json_object_get(t, "name")));
			goto out;
		}
	json_array_foreach(tables, i, t)
		json_object_set_new(t, "rows", json_integer(find_count(sorted, n, t)->rows));
	rc = 0;
out:
	free(sorted);
	return rc;
}

/* docker exec: killing the client leaves the pg_dump it started in the
 * container running (the engine sends it no signal), still waiting for its
 * locks or holding its snapshot. The default dump command's session gets a
 * name of this process's own, so that a dump that fails or is interrupted
 * can end it on the server. An application_name the conninfo sets is the
 * operator's, and kept: such a session is not ended. */
static void container_dump_tag(json_t *db, struct strbuf *ci, struct strbuf *tag)
{
	struct strbuf have = STRBUF_INIT;

	if (dbconn_container(db) && !json_array_size(json_object_get(db, "dump_command")) &&
	    !pg_conninfo_get(ci->buf, "application_name", &have)) {
		strbuf_addf(tag, "ballast-backup pg_dump %ld", (long)getpid());
		pg_conninfo_add(ci, "application_name", tag->buf);
	}
	strbuf_release(&have);
}

/* Ends the session of a pg_dump left in a container (container_dump_tag):
 * with its connection gone, pg_dump exits there. */
static void end_container_dump(PGconn *conn, json_t *db, const char *tag, const char *name)
{
	const char *params[] = { tag };
	struct errbuf te = ERRBUF_INIT;
	PGresult *res = NULL;

	/* an exact dump's transaction is still open, maybe aborted */
	if (PQtransactionStatus(conn) != PQTRANS_IDLE && pg_exec(conn, "ROLLBACK", NULL, &te))
		errbuf_clear(&te);
	if (pg_execp(conn, "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM "
		     "pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()",
		     1, params, &res, &te))
		log_warn("database %s: could not end the session of pg_dump in container %s: %s",
			 name, dbconn_container(db), te.msg);
	else if (strcmp(PQgetvalue(res, 0, 0), "0"))
		log_warn("database %s: pg_dump ran on in container %s after its docker exec "
			 "was stopped: its session was ended", name, dbconn_container(db));
	PQclear(res);
}

int dbdump_backup(json_t *db, struct repo *r, const char *key, const struct dbdump_opts *o,
		  json_t **item, struct errbuf *e)
{
	const char *name = json_string_value(json_object_get(db, "name"));
	const char *conninfo = json_string_value(json_object_get(db, "conninfo"));
	const char *mode = json_string_value(json_object_get(db, "row_counts"));
	const char *lock_wait = json_string_value(json_object_get(db, "lock_wait_timeout"));
	long long lock_wait_ms = 0;
	struct strbuf pw = STRBUF_INIT, ci = STRBUF_INIT,
		      arg_snap = STRBUF_INIT, version = STRBUF_INIT, server = STRBUF_INIT,
		      dbname = STRBUF_INIT, dbsize = STRBUF_INIT, count_sql = STRBUF_INIT,
		      envpw = STRBUF_INIT, why = STRBUF_INIT, lci = STRBUF_INIT,
		      addr = STRBUF_INIT, tag = STRBUF_INIT;
	struct strvec argv = STRVEC_INIT;
	const char *env[2] = { NULL, NULL };
	struct child c = CHILD_INIT;
	struct repo_writer *w = NULL;
	struct zstream *z = NULL;
	struct dumpcount *dc = NULL;
	const char *source = NULL;
	struct dump_sink sink;
	json_t *tables = NULL, *ex, *v;
	PGconn *conn = NULL;
	long long t0 = time_mono_ms(), t_dump = 0, t_dump_ms = 0, t_count_ms = 0, hint;
	int rc, started = 0;
	size_t i;

	*item = NULL;
	if (!mode)
		mode = "exact";
	if (!lock_wait)
		lock_wait = DBDUMP_LOCK_WAIT_DEFAULT;
	/* no where: out: prefixes "backup of database NAME: " */
	rc = config_duration_str(lock_wait, "lock_wait_timeout", 0, 0, NULL, &lock_wait_ms, e);
	if (rc)
		goto out;
	dbdump_password(db, &pw);
	if (pw.len) {
		strbuf_addf(&envpw, "PGPASSWORD=%s", pw.buf);
		env[0] = envpw.buf;
	}
	rc = dbdump_conninfo_nopw(conninfo, &ci, e);
	if (rc)
		goto out;
	container_dump_tag(db, &ci, &tag);
	/* A container that is stopped or gone is named before its docker
	 * exec fails less clearly. */
	rc = dbconn_resolve(db, NULL, &lci, &addr, e);
	if (rc)
		goto out;

	/* The tool's version first: a missing pg_dump fails before anything
	 * touches the server or the repository. */
	rc = dbdump_tool_version(db, env, &version, e);
	if (rc)
		goto out;

	rc = pg_connect(lci.buf, pw.len ? pw.buf : NULL, &conn, e);
	if (rc) {
		if (addr.len)
			errbuf_prefix(e, "container %s at %s: ", dbconn_container(db), addr.buf);
		goto out;
	}
	if (!strcmp(mode, "exact")) {
		rc = pg_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", NULL, e);
		/* This session sits idle in its transaction for the whole dump:
		 * a server-wide idle_in_transaction_session_timeout must not end
		 * it, or pg_dump cannot import the snapshot and the fallback
		 * count has nothing to count in. */
		if (!rc)
			rc = pg_exec(conn, "SET LOCAL idle_in_transaction_session_timeout = 0", NULL,
				     e);
		if (!rc)
			rc = pg_value(conn, "SELECT pg_export_snapshot()", &arg_snap, e);
		if (rc)
			goto out;
	}
	rc = pg_value(conn, "SHOW server_version", &server, e);
	if (!rc)
		rc = pg_value(conn, "SELECT current_database()", &dbname, e);
	if (!rc)
		rc = pg_value(conn, "SELECT pg_database_size(current_database())", &dbsize, e);
	if (!rc && strcmp(mode, "off"))
		rc = list_tables(conn, db, mode, &tables, &count_sql, e);
	if (rc)
		goto out;
	if (!tables)
		tables = json_array();

	dbconn_push_tool(&argv, db, "dump_command", "pg_dump", pw.len > 0);
	strvec_push(&argv, "--format=custom");
	strvec_push(&argv, "--compress=0");
	strvec_push(&argv, "--no-password");
	if (arg_snap.len)
		strvec_pushf(&argv, "--snapshot=%s", arg_snap.buf);
	if (lock_wait_ms > 0)
		strvec_pushf(&argv, "--lock-wait-timeout=%lld", lock_wait_ms);
	ex = json_object_get(db, "exclude_tables");
	json_array_foreach(ex, i, v) {
		strvec_push(&argv, "--exclude-table");
		strvec_push(&argv, json_string_value(v));
	}
	strvec_pushf(&argv, "--dbname=%s", ci.buf);

	/* The database's size bounds the compressed dump in practice: as a
	 * size hint it lets the s3 driver pick its part size once, instead of
	 * doubling parts (and the two part buffers in memory) as an unknown
	 * stream grows past 1.6 GiB. */
	hint = strtoll(dbsize.buf, NULL, 10);
	rc = repo_writer_open(r, key, hint > 0 ? hint : -1, &w, e);
	if (rc)
		goto out;
	rc = zstream_compress_new(o->level, o->threads, repo_writer_sink, w, &z, e);
	if (rc)
		goto out;
	c.argv = strvec_argv(&argv);
	c.env = env;
	c.in_mode = PROC_NULL;
	c.out_mode = PROC_PIPE;
	c.err_mode = PROC_PIPE;
	/* a SIGTERM stops the dump while pg_dump waits for a lock; its 4 KiB
	 * writes are read in batches (proc.c, batch_reads) */
	c.pipe_size = PROC_BATCH_PIPE_SIZE;
	c.interruptible = 1;
	c.batch_reads = 1;
	t_dump = time_mono_ms();
	rc = proc_start(&c, e);
	if (rc)
		goto out;
	started = 1;
	memset(&sink, 0, sizeof(sink));
	/* Exact counts come from the dump itself: with --compress=0 a table's
	 * data is COPY text, one line per row, so the stream is counted as it
	 * passes and the server scans every table once, not twice. */
	if (!strcmp(mode, "exact"))
		dc = sink.dc = dumpcount_new();
	sink.z = z;
	sink.w = w;
	sink.name = name;
	sink.o = o;
	rc = proc_stream(&c, dump_sink_fn, &sink, e);
	if (rc && lock_wait_ms > 0 && strstr(c.err_tail.buf, "Query was: LOCK TABLE")) {
		const char *q = strstr(c.err_tail.buf, "Query was: ");
		int ql = 0;

		while (q && q[ql] && q[ql] != '\n')
			ql++;
		errbuf_set(e, BL_EFAIL, "pg_dump waited longer than lock_wait_timeout (%s) for a "
			   "table lock that another session holds%s%.*s", lock_wait, q ? ": " : "",
			   ql, q ? q : "");
	}
	if (rc)
		goto out;
	if (sink.raw < 5) {
		rc = errbuf_set(e, BL_EFAIL, "the dump command wrote %lld bytes: no archive",
				sink.raw);
		goto out;
	}
	rc = zstream_finish(z, e);
	if (rc)
		goto out;
	t_dump_ms = ms_since(t_dump);
	if (dc && !counts_from_stream(dc, tables, &why)) {
		source = "stream";
	} else if (dc) {
		long long tc = time_mono_ms();

		/* The exported snapshot is still open: counting in it now counts
		 * exactly the rows the dump holds, at the price of a second scan. */
		source = "snapshot";
		log_info("database %s: counting rows in the dump's snapshot: %s", name, why.buf);
		if (count_sql.len && !PQsendQuery(conn, count_sql.buf)) {
			rc = errbuf_set(e, BL_EFAIL, "counting rows failed: %s", PQerrorMessage(conn));
			goto out;
		}
		if (count_sql.len)
			rc = collect_counts(conn, tables, e);
		t_count_ms = ms_since(tc);
		if (rc)
			goto out;
	}
	if (!strcmp(mode, "exact"))
		pg_exec(conn, "COMMIT", NULL, e);
	rc = repo_writer_commit(w, e);
	w = NULL;
	if (rc)
		goto out;
	*item = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:o, s:o, s:{s:I, s:I, s:I}}",
			  "type", "db", "name", name, "database", dbname.buf,
			  "server_version", server.buf, "pg_dump_version", version.buf,
			  "database_size", (json_int_t)strtoll(dbsize.buf, NULL, 10),
			  "row_counts", mode, "tables", json_incref(tables), "object",
			  manifest_object(key, zstream_stored_bytes(z), zstream_sha256(z),
					  zstream_raw_bytes(z)),
			  "timings", "dump_ms", (json_int_t)t_dump_ms, "count_wait_ms",
			  (json_int_t)t_count_ms, "total_ms", (json_int_t)ms_since(t0));
	if (source)
		json_object_set_new(*item, "row_counts_source", json_string(source));
out:
	if (rc && name)
		errbuf_prefix(e, "backup of database %s: ", name);
	if (started)
		proc_release(&c);
	if (rc && started && tag.len)
		end_container_dump(conn, db, tag.buf, name);
	repo_writer_abort(w);
	zstream_free(z);
	dumpcount_free(dc);
	strvec_clear(&argv);
	PQfinish(conn);
	json_decref(tables);
	strbuf_release(&pw);
	strbuf_release(&envpw);
	strbuf_release(&ci);
	strbuf_release(&arg_snap);
	strbuf_release(&version);
	strbuf_release(&server);
	strbuf_release(&dbname);
	strbuf_release(&dbsize);
	strbuf_release(&count_sql);
	strbuf_release(&why);
	strbuf_release(&lci);
	strbuf_release(&addr);
	strbuf_release(&tag);
	return rc;
}

/* --- restore ----------------------------------------------------------- */

int dbdump_check_rows(json_t *db, const char *conninfo, const char *password, json_t *item,
		      struct errbuf *e)
{
	json_t *tables = json_object_get(item, "tables"), *t;
	struct strbuf qs = STRBUF_INIT, qn = STRBUF_INIT, got = STRBUF_INIT, diff = STRBUF_INIT;
	struct errbuf qe = ERRBUF_INIT;
	PGconn *conn = NULL;
	int rc, ndiff = 0;
	size_t i;

	rc = dbconn_connect(db, conninfo, password, &conn, e);
	if (rc)
		goto out;
	/* A count(*) over a large table crosses jit_above_cost, and JIT gives
	 * it nothing for the compile it costs in every parallel worker: 620-660
	 * ms instead of 750-820 ms for the benchmark's 4M rows. A server that
	 * refuses the setting still counts, with JIT. */
	if (pg_exec(conn, "SET jit = off", NULL, &qe))
		errbuf_clear(&qe);
	json_array_foreach(tables, i, t) {
		const char *s = json_string_value(json_object_get(t, "schema"));
		const char *n = json_string_value(json_object_get(t, "name"));
		json_t *rows = json_object_get(t, "rows");
		struct strbuf sql = STRBUF_INIT;
		long long have;

		if (!s || !n || !json_is_integer(rows))
			continue;
		pg_quote_ident(conn, s, &qs);
		pg_quote_ident(conn, n, &qn);
		strbuf_addf(&sql, "SELECT count(*) FROM %s.%s", qs.buf, qn.buf);
		if (pg_value(conn, sql.buf, &got, &qe)) {
			ndiff++;
			if (ndiff <= 5)
				strbuf_addf(&diff, "%s%s.%s (missing)", diff.len ? ", " : "", s, n);
		} else if ((have = strtoll(got.buf, NULL, 10)) != json_integer_value(rows)) {
			ndiff++;
			if (ndiff <= 5)
				strbuf_addf(&diff, "%s%s.%s (backup %lld, restored %lld)",
					    diff.len ? ", " : "", s, n,
					    (long long)json_integer_value(rows), have);
		}
		strbuf_release(&sql);
	}
	if (ndiff)
		rc = errbuf_set(e, BL_EVERIFY, "row counts differ from the backup in %d table%s: "
				"%s%s", ndiff, ndiff == 1 ? "" : "s", diff.buf, ndiff > 5 ? ", ..." : "");
out:
	PQfinish(conn);
	strbuf_release(&qs);
	strbuf_release(&qn);
	strbuf_release(&got);
	strbuf_release(&diff);
	return rc;
}

/* What pg_restore reads, pipe or scratch file. The archive passes through
 * dumpcount_pass on its way, which joins pg_dump's one-chunk-per-row data
 * into 64 KiB chunks: pg_restore then sends the server 64 KiB CopyData
 * messages instead of one per row (docs/BENCHMARKS.md, "The restore's
 * framing"). */
struct pipe_sink {
	int fd;
	int broken;
	const struct dbrestore_opts *o;
	const char *name;
	long long raw;
	struct dumpcount *join;
	/* --jobs: the archive's header and table of contents are also
	 * written to toc_fd (toc_path), for the post-data step */
	int toc_fd;
	const char *toc_path;
	long long toc_len;
	int toc_state;          /* 0 writing, 1 complete, -1 unreadable */
};

static int fd_write(void *ctx, const void *buf, size_t len, struct errbuf *e);

static void pipe_sink_init(struct pipe_sink *p, int fd, const struct dbrestore_opts *o,
			   const char *name)
{
	memset(p, 0, sizeof(*p));
	p->fd = fd;
	p->o = o;
	p->name = name;
	p->join = dumpcount_new();
	p->toc_fd = -1;
	dumpcount_set_output(p->join, fd_write, p);
}

/* The input's first dumpcount_data_start() bytes, once the parser has
 * passed them: until then every byte, since it cannot know yet. */
static int toc_tee(struct pipe_sink *p, const void *buf, size_t len, struct errbuf *e)
{
	long long end = dumpcount_data_start(p->join);
	size_t n = len;

	if (end == -2) {
		p->toc_state = -1;
		return 0;
	}
	if (end >= 0) {
		n = end - p->toc_len < (long long)len ? (size_t)(end - p->toc_len) : len;
		p->toc_state = 1;
	}
	if (n && fs_write_all(p->toc_fd, buf, n))
		return errbuf_errno(e, BL_EFAIL, errno, "cannot write the table of contents to %s",
				    p->toc_path);
	p->toc_len += (long long)n;
	return 0;
}

static int fd_sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	struct pipe_sink *p = ctx;
	int rc;

	if (interrupt_signal)
		return interrupt_check(e);
	p->raw += (long long)len;
	/* pg_restore is gone: the rest is read only to learn whether the
	 * object was damaged (its hash, at the end), which would explain why */
	if (p->broken)
		return 0;
	rc = dumpcount_pass(p->join, buf, len, e);
	if (!rc && p->toc_fd >= 0 && !p->toc_state)
		rc = toc_tee(p, buf, len, e);
	if (!rc && p->o->progress)
		p->o->progress(p->o->progress_ctx, p->name, p->raw, -1);
	return rc;
}

static int fd_write(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	struct pipe_sink *p = ctx;
	const char *b = buf;

	if (p->broken)
		return 0;
	while (len) {
		ssize_t n = write(p->fd, b, len);

		if (n < 0 && errno == EINTR && interrupt_signal)
			return interrupt_check(e);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EPIPE) {
			p->broken = 1;
			return 0;
		}
		if (n < 0)
			return errbuf_errno(e, BL_EFAIL, errno, "cannot write the decompressed dump");
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

/* --jobs: the scratch file pg_restore -j reads. A second thread reads,
 * hashes and decompresses the object while this one writes out what it
 * made, so the write's copy into the page cache (about 0.4 s per GB) runs
 * beside the decompression instead of after each block of it: 1.05 s
 * instead of 1.19 s for the benchmark's 966 MB (medians of 3). */
#define SCRATCH_RING 8
#define SCRATCH_CHUNK (256 * 1024)

/* The object's own verdict (size, SHA-256, zstd) wins over a write error
 * it caused: a damaged object is reported as damaged. */
static int write_scratch(struct repo *r, json_t *obj, struct pipe_sink *ps, struct errbuf *e)
{
	struct backupset_reader s = { .r = r, .obj = obj };
	struct errbuf pe = ERRBUF_INIT;
	struct ring *q;
	const void *buf;
	size_t len;
	int rc, prc;

	rc = ring_start(SCRATCH_RING, SCRATCH_CHUNK, backupset_ring_read, &s, "scratch file", &q, e);
	if (rc)
		return rc;
	while (!rc && ring_get(q, &buf, &len))
		rc = fd_sink(ps, buf, len, e);
	if (!rc)
		rc = dumpcount_pass_end(ps->join, e);
	if (rc)
		ring_stop(q);
	prc = ring_join(q, &pe);
	if (prc && (!rc || prc == BL_EVERIFY)) {
		*e = pe;
		rc = prc;
	}
	return rc;
}

/* --clean without --create: empty the target database, then restore into
 * it. pg_restore --clean cannot do this reliably (it fails dropping the
 * constraints of partitions, and it leaves objects the dump does not know,
 * such as tables a later migration added), so every schema goes, the way
 * a rollback to the snapshot expects, and public comes back as initdb makes
 * it. Roles and other databases are untouched. */
static const char empty_sql[] =
	"DO $ballast$ DECLARE s text; BEGIN "
	"FOR s IN SELECT nspname FROM pg_namespace WHERE nspname NOT IN "
	"('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_toast%' "
	"AND nspname NOT LIKE 'pg\\_temp\\_%' LOOP "
	"EXECUTE format('DROP SCHEMA %I CASCADE', s); END LOOP; "
	"IF current_setting('server_version_num')::int >= 150000 THEN "
	"CREATE SCHEMA public AUTHORIZATION pg_database_owner; "
	"GRANT USAGE ON SCHEMA public TO PUBLIC; "
	"COMMENT ON SCHEMA public IS 'standard public schema'; "
	"ELSE CREATE SCHEMA public; GRANT ALL ON SCHEMA public TO PUBLIC; "
	"COMMENT ON SCHEMA public IS 'standard public schema'; END IF; "
	"END $ballast$";

static int empty_database(json_t *db, const char *conninfo, const char *password,
			  struct errbuf *e)
{
	PGconn *conn = NULL;
	int rc = dbconn_connect(db, conninfo, password, &conn, e);

	if (!rc)
		rc = pg_exec(conn, "SET client_min_messages = warning", NULL, e);
	if (!rc)
		rc = pg_exec(conn, "BEGIN", NULL, e);
	if (!rc)
		rc = pg_exec(conn, empty_sql, NULL, e);
	if (!rc)
		rc = pg_exec(conn, "COMMIT", NULL, e);
	if (rc)
		errbuf_prefix(e, "cannot empty the target for --clean: ");
	PQfinish(conn);
	return rc;
}

/* A 0600 scratch file for pg_restore -j, which needs a seekable archive. */
static int scratch_file(struct strbuf *path, int *fd, struct errbuf *e)
{
	const char *t = getenv("TMPDIR");

	strbuf_reset(path);
	strbuf_addf(path, "%s/ballast-restore-XXXXXX", t && *t ? t : "/var/tmp");
	*fd = mkostemp(path->buf, O_CLOEXEC);
	if (*fd < 0)
		return errbuf_errno(e, BL_EFAIL, errno, "cannot create a scratch file %s",
				    path->buf);
	fchmod(*fd, 0600);
	return 0;
}

/* The last line that starts with what (at a line start when bol), or NULL. */
static const char *last_line_with(const char *tail, const char *what, int bol)
{
	const char *p, *hit = NULL;

	for (p = tail; (p = strstr(p, what)); p++)
		if (!bol || p == tail || p[-1] == '\n')
			hit = p;
	return hit;
}

/* pg_restore's last line is often "Command was: ..."; the server's
 * "ERROR:" line before it is what says why. Put that (and the command)
 * into e, which proc_finish() filled with the last line only. Without a
 * server ERROR (the connection lost: the server restarted or went away),
 * pg_restore's own "error:" line says why, and libpq continues its message
 * on tab-indented lines: they are joined into the one line. */
static void restore_errors(const struct child *c, struct errbuf *e)
{
	const char *tail = c->err_tail.buf, *hit, *p, *cmd;
	struct strbuf msg = STRBUF_INIT;
	char desc[128];
	int own = 0;

	hit = last_line_with(tail, "ERROR:", 0);
	if (!hit) {
		hit = last_line_with(tail, "pg_restore: error: ", 1);
		own = 1;
	}
	if (!hit || !WIFEXITED(c->status))
		return;
	proc_describe_status(c->status, desc, sizeof(desc));
	strbuf_addf(&msg, "%s %s: ", c->argv[0], desc);
	for (p = hit; *p && (*p != '\n' || (own && p[1] == '\t')); p++) {
		if (*p == '\n' || *p == '\t') {
			if (msg.len && msg.buf[msg.len - 1] != ' ')
				strbuf_addch(&msg, ' ');
			continue;
		}
		strbuf_addch(&msg, *p);
	}
	cmd = own ? NULL : strstr(hit, "Command was: ");
	if (cmd) {
		strbuf_addstr(&msg, " (");
		for (p = cmd; *p && *p != '\n'; p++)
			strbuf_addch(&msg, *p);
		strbuf_addch(&msg, ')');
	}
	errbuf_set(e, e->code ? e->code : BL_EFAIL, "%s", msg.buf);
	strbuf_release(&msg);
}

/* pg_restore and the options every run of it takes. */
static void restore_argv(struct strvec *argv, json_t *db, int has_pw)
{
	dbconn_push_tool(argv, db, "restore_command", "pg_restore", has_pw);
	strvec_push(argv, "--no-password");
	strvec_push(argv, "--exit-on-error");
}

/* One run of pg_restore. With ps, it reads the object on stdin, passed on
 * through ps (whose fd is set here); without, the file argv names. A
 * pg_restore --section=post-data reads no data (stops_early): its exit
 * before the object's last byte is not an error. */
static int run_pg_restore(struct strvec *argv, const char **env, struct repo *r, json_t *obj,
			  struct pipe_sink *ps, int stops_early, const char *name,
			  struct errbuf *e)
{
	struct child c = CHILD_INIT;
	int rc;

	c.argv = strvec_argv(argv);
	c.env = env;
	c.in_mode = ps ? PROC_PIPE : PROC_NULL;
	/* zstd hands over 128 KiB at a time: into a 64 KiB pipe that is two
	 * wakeups of pg_restore per buffer */
	c.pipe_size = 1024 * 1024;
	c.out_mode = PROC_NULL;
	c.err_mode = PROC_PIPE;
	rc = proc_start(&c, e);
	if (rc)
		return rc;
	if (ps) {
		struct errbuf fe = ERRBUF_INIT;

		ps->fd = c.in;
		rc = backupset_read_object(r, obj, fd_sink, ps, e);
		if (!rc)
			rc = dumpcount_pass_end(ps->join, e);
		close(c.in);
		c.in = -1;
		if (rc && !ps->broken)
			proc_kill(&c, SIGTERM);
		/* the stream's own failure (a damaged object, an interrupt, the
		 * repository) stands: it explains whatever pg_restore said; else
		 * pg_restore's error says more than the broken pipe does */
		if (proc_finish(&c, &fe) && !rc) {
			restore_errors(&c, &fe);
			rc = fe.code;
			memcpy(e->msg, fe.msg, sizeof(e->msg));
			e->code = fe.code;
		} else if (!rc && ps->broken && !stops_early) {
			rc = errbuf_set(e, BL_EFAIL, "pg_restore exited 0 before it read the whole "
					"dump of %s", name);
		}
	} else {
		rc = proc_finish(&c, e);
		if (rc)
			restore_errors(&c, e);
	}
	proc_release(&c);
	return rc;
}

/* --jobs, second step: indexes, constraints, triggers and what follows them
 * (post-data) with pg_restore -j, from the header and table of contents the
 * first step kept in toc_path. Where the parser could not read them (a
 * dump_command's own archive), pg_restore reads them from the object once
 * more, in one session. */
static int restore_post_data(json_t *db, const char *conninfo, const char **env, int has_pw,
			     struct repo *r, json_t *obj, const struct pipe_sink *first,
			     const struct dbrestore_opts *o, const char *name, struct errbuf *e)
{
	struct strvec argv = STRVEC_INIT;
	struct dbrestore_opts quiet = *o;
	struct pipe_sink again;
	int rc;

	/* a signal that came as the first step ended starts nothing more */
	if (interrupt_signal)
		return interrupt_check(e);
	restore_argv(&argv, db, has_pw);
	strvec_push(&argv, "--section=post-data");
	strvec_pushf(&argv, "--dbname=%s", conninfo);
	if (first->toc_state == 1) {
		strvec_pushf(&argv, "--jobs=%d", o->jobs);
		strvec_push(&argv, first->toc_path);
		rc = run_pg_restore(&argv, env, r, obj, NULL, 0, name, e);
	} else {
		log_warn("database %s: the dump's table of contents could not be read apart: "
			 "its indexes and constraints are restored in one session, not %d", name,
			 o->jobs);
		quiet.progress = NULL;
		pipe_sink_init(&again, -1, &quiet, name);
		rc = run_pg_restore(&argv, env, r, obj, &again, 1, name, e);
		dumpcount_free(again.join);
	}
	strvec_clear(&argv);
	return rc;
}

int dbdump_restore(const struct config *cfg, struct repo *r, json_t *item,
		   const struct dbrestore_opts *o, struct errbuf *e)
{
	const char *name = json_string_value(json_object_get(item, "name"));
	const char *dbname = json_string_value(json_object_get(item, "database"));
	json_t *obj = json_object_get(item, "object");
	json_t *db = cfg ? dbdump_find_db(cfg, name) : NULL;
	const char *target = o->target;
	struct strbuf pw = STRBUF_INIT, envpw = STRBUF_INIT, ci = STRBUF_INIT,
		      scratch = STRBUF_INIT, check = STRBUF_INIT;
	const char *env[2] = { NULL, NULL };
	struct strvec argv = STRVEC_INIT;
	struct pipe_sink ps = { .fd = -1, .toc_fd = -1 };
	struct dbrestore_times tm = DBRESTORE_TIMES_INIT;
	/* --jobs: data in one stream, post-data in o->jobs sessions; or, with
	 * parallel_data, the whole archive decompressed into a scratch file
	 * for one pg_restore -j (docs/DECISIONS.md, "--jobs streams") */
	int two_step = o->jobs > 1 && !o->parallel_data;
	int whole_file = o->jobs > 1 && o->parallel_data;
	long long t0 = time_mono_ms(), ts;
	int rc, sfd = -1;

	if (!target) {
		if (!db) {
			rc = errbuf_set(e, BL_EUSAGE, "no database \"%s\" in the configuration: pass "
					"--target CONNINFO", name);
			goto out;
		}
		target = json_string_value(json_object_get(db, "conninfo"));
	}
	dbdump_target_password(db, o->target, &pw);
	if (pw.len) {
		strbuf_addf(&envpw, "PGPASSWORD=%s", pw.buf);
		env[0] = envpw.buf;
	}
	rc = dbdump_conninfo_nopw(target, &ci, e);
	if (rc)
		goto out;
	/* pg_restore -j reads a file, which a container does not see */
	if (o->jobs > 1 && dbconn_container(db) &&
	    !json_array_size(json_object_get(db, "restore_command"))) {
		rc = errbuf_set(e, BL_EUSAGE, "--jobs %d: the database runs in container %s, where "
				"pg_restore cannot read a dump file of this host: restore with "
				"--jobs 1", o->jobs, dbconn_container(db));
		goto out;
	}

	/* Never touch the target before the stored bytes are known good. The
	 * pass that writes a whole scratch file checks them (size and SHA-256)
	 * before pg_restore starts, and a caller that has just checked them
	 * says so: another pass would only read the object again. */
	if (!whole_file && !o->verified) {
		ts = time_mono_ms();
		rc = backupset_verify_object(r, obj, 0, e);
		tm.verify_ms = ms_since(ts);
	}
	if (rc) {
		errbuf_prefix(e, "refusing to restore: ");
		goto out;
	}

	restore_argv(&argv, db, pw.len > 0);
	if (o->clean && o->create) {
		strvec_push(&argv, "--clean");
		strvec_push(&argv, "--if-exists");
	}
	if (o->create)
		strvec_push(&argv, "--create");
	if (two_step) {
		strvec_push(&argv, "--section=pre-data");
		strvec_push(&argv, "--section=data");
	}
	strvec_pushf(&argv, "--dbname=%s", ci.buf);
	if (o->jobs > 1) {
		rc = scratch_file(&scratch, &sfd, e);
		if (rc)
			goto out;
	}
	if (whole_file) {
		pipe_sink_init(&ps, sfd, o, name);
		/* No fsync: the file is read back at once and deleted, so forcing
		 * a gigabyte to disk buys nothing (it cost ~1.5x in the benchmark).
		 * A write error still fails here, and what pg_restore reads is
		 * judged end to end: --exit-on-error, then the row counts. */
		ts = time_mono_ms();
		rc = write_scratch(r, obj, &ps, e);
		tm.scratch_ms = ms_since(ts);
		if (rc) {
			errbuf_prefix(e, "refusing to restore: ");
			goto out;
		}
		strvec_pushf(&argv, "--jobs=%d", o->jobs);
		strvec_push(&argv, scratch.buf);
	}
	if (o->clean && !o->create) {
		rc = empty_database(db, target, pw.len ? pw.buf : NULL, e);
		if (rc)
			goto out;
	}
	ts = time_mono_ms();
	if (whole_file) {
		rc = run_pg_restore(&argv, env, r, obj, NULL, 0, name, e);
	} else {
		pipe_sink_init(&ps, -1, o, name);
		if (two_step) {
			ps.toc_fd = sfd;
			ps.toc_path = scratch.buf;
		}
		rc = run_pg_restore(&argv, env, r, obj, &ps, 0, name, e);
	}
	tm.pg_restore_ms = ms_since(ts);
	if (rc)
		goto out;
	/* what follows connects to the database pg_restore created, by the
	 * password-free string (the password goes beside it) */
	if (o->create) {
		rc = pg_conninfo_with_db(ci.buf, dbname, &check, e);
		if (rc)
			goto out;
		target = check.buf;
	}
	if (two_step) {
		ts = time_mono_ms();
		rc = restore_post_data(db, o->create ? check.buf : ci.buf, env, pw.len > 0, r, obj,
				       &ps, o, name, e);
		tm.post_data_ms = ms_since(ts);
		if (rc)
			goto out;
	}
	if (!json_string_value(json_object_get(item, "row_counts")) ||
	    strcmp(json_string_value(json_object_get(item, "row_counts")), "exact"))
		goto out; /* estimates cannot be compared exactly */
	ts = time_mono_ms();
	rc = dbdump_check_rows(db, target, pw.len ? pw.buf : NULL, item, e);
	tm.count_ms = ms_since(ts);
out:
	if (rc && name)
		errbuf_prefix(e, "restore of database %s: ", name);
	if (o->times) {
		tm.total_ms = ms_since(t0);
		*o->times = tm;
	}
	dumpcount_free(ps.join);
	if (sfd >= 0) {
		close(sfd);
		unlink(scratch.buf);
	}
	strvec_clear(&argv);
	strbuf_release(&pw);
	strbuf_release(&envpw);
	strbuf_release(&ci);
	strbuf_release(&scratch);
	strbuf_release(&check);
	return rc;
}
