#include "drill.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "backup_index.h"
#include "basebackup_item.h"
#include "backupset.h"
#include "config.h"
#include "dbconn.h"
#include "dbdump.h"
#include "log.h"
#include "manifest.h"
#include "objread.h"
#include "migration.h"
#include "pg.h"
#include "proc.h"
#include "timeutil.h"
#include "volume.h"
#include "walarchive.h"
#include "zstream.h"
#include "interrupt.h"

#define BOOLOID 16

void drill_scratch_name(const char *db, time_t t, char out[64])
{
	char stamp[16], clean[64];
	struct strbuf sb = STRBUF_INIT;
	struct tm tm;
	size_t n = 0;

	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
	/* 63 bytes = "ballast_drill_" (14) + db + "_" + 14 digits */
	for (; db && *db && n < 63 - 14 - 1 - 14; db++) {
		unsigned char c = (unsigned char)*db;

		clean[n++] = isalnum(c) ? (char)tolower(c) : '_';
	}
	clean[n] = '\0';
	strbuf_addf(&sb, "ballast_drill_%s_%.14s", clean, stamp);
	memcpy(out, sb.buf, sb.len < 63 ? sb.len + 1 : 64);
	out[63] = '\0';
	strbuf_release(&sb);
}

int drill_load_checks(json_t *specs, json_t **checks, struct errbuf *e)
{
	json_t *out = json_array(), *spec;
	size_t i;
	int rc = 0;

	*checks = NULL;
	json_array_foreach(specs, i, spec) {
		const char *file = json_string_value(json_object_get(spec, "file"));
		struct strbuf text = STRBUF_INIT;
		struct migration_stmt *st = NULL;
		size_t n = 0;

		rc = migration_read(file, &text, e);
		if (!rc)
			rc = migration_split(text.buf, text.len, &st, &n, e);
		if (rc) {
			rc = BL_EUSAGE;
			e->code = BL_EUSAGE;
			errbuf_prefix(e, "--check-sql %s: ", file);
		} else if (!n) {
			rc = errbuf_set(e, BL_EUSAGE, "--check-sql %s: no SQL statement in the file",
					file);
		}
		for (size_t k = 0; !rc && k < n; k++) {
			struct strbuf sql = STRBUF_INIT;

			strbuf_add(&sql, text.buf + st[k].start, st[k].len);
			json_array_append_new(out, json_pack("{s:O, s:s, s:i, s:s}", "db",
							     json_object_get(spec, "db"), "file", file,
							     "line", (int)st[k].line, "sql", sql.buf));
			strbuf_release(&sql);
		}
		free(st);
		strbuf_release(&text);
		if (rc)
			break;
	}
	if (rc) {
		json_decref(out);
		return rc;
	}
	*checks = out;
	return 0;
}

/* Keep the first problem's message and the worst status. */
static void note(int *worst, struct errbuf *first, int rc, const struct errbuf *e)
{
	if (!rc)
		return;
	if (!first->code)
		errbuf_set(first, rc, "%s", e->msg);
	if (rc > *worst && rc != BL_EUSAGE)
		*worst = rc;
	else if (rc == BL_EUSAGE && !*worst)
		*worst = rc;
}

static int count_rows(PGconn *conn, const char *schema, const char *name, long long *n,
		      struct errbuf *e)
{
	struct strbuf qs = STRBUF_INIT, qn = STRBUF_INIT, sql = STRBUF_INIT, v = STRBUF_INIT;
	int rc;

	pg_quote_ident(conn, schema, &qs);
	pg_quote_ident(conn, name, &qn);
	strbuf_addf(&sql, "SELECT count(*) FROM %s.%s", qs.buf, qn.buf);
	rc = pg_value(conn, sql.buf, &v, e);
	if (!rc)
		*n = strtoll(v.buf, NULL, 10);
	strbuf_release(&qs);
	strbuf_release(&qn);
	strbuf_release(&sql);
	strbuf_release(&v);
	return rc;
}

/* Every table's count against the manifest, each difference recorded. */
static int compare_rows(json_t *db, const char *conninfo, const char *pw, json_t *item,
			json_t *diffs, int *checked, struct errbuf *e)
{
	PGconn *conn = NULL;
	json_t *t;
	size_t i;
	int rc = dbconn_connect(db, conninfo, pw, &conn, e);

	*checked = 0;
	if (rc)
		return rc;
	json_array_foreach(json_object_get(item, "tables"), i, t) {
		const char *s = json_string_value(json_object_get(t, "schema"));
		const char *n = json_string_value(json_object_get(t, "name"));
		json_t *rows = json_object_get(t, "rows");
		struct errbuf qe = ERRBUF_INIT;
		struct strbuf full = STRBUF_INIT;
		long long have = -1;
		int missing;

		if (!s || !n || !json_is_integer(rows))
			continue;
		(*checked)++;
		missing = count_rows(conn, s, n, &have, &qe) != 0;
		strbuf_addf(&full, "%s.%s", s, n);
		if (missing)
			json_array_append_new(diffs, json_pack("{s:s, s:O, s:n, s:s}", "table", full.buf,
							       "backup", rows, "restored", "error",
							       qe.msg));
		else if (have != json_integer_value(rows))
			json_array_append_new(diffs, json_pack("{s:s, s:O, s:I}", "table", full.buf,
							       "backup", rows, "restored",
							       (json_int_t)have));
		strbuf_release(&full);
	}
	PQfinish(conn);
	return 0;
}

/* A check passes when its statement is a command, or returns at least one
 * row and is not a single false/NULL boolean-ish value. */
static int run_checks(json_t *db, const char *conninfo, const char *pw, const char *dbname,
		      json_t *checks, json_t *out, struct errbuf *e)
{
	PGconn *conn = NULL;
	json_t *c;
	size_t i;
	int rc = 0, failed = 0, any = 0;
	char first[512] = "";

	json_array_foreach(checks, i, c) {
		const char *want = json_string_value(json_object_get(c, "db"));

		if (!want || !strcmp(want, dbname))
			any = 1;
	}
	if (!any)
		return 0;
	rc = dbconn_connect(db, conninfo, pw, &conn, e);
	if (rc)
		return rc;
	json_array_foreach(checks, i, c) {
		const char *want = json_string_value(json_object_get(c, "db"));
		const char *sql = json_string_value(json_object_get(c, "sql"));
		struct strbuf shown = STRBUF_INIT, why = STRBUF_INIT;
		PGresult *res;
		int ok = 0;

		if (want && strcmp(want, dbname))
			continue;
		migration_first_line(sql, &shown);
		res = PQexec(conn, sql);
		switch (PQresultStatus(res)) {
		case PGRES_COMMAND_OK:
			ok = 1;
			break;
		case PGRES_TUPLES_OK:
			if (PQntuples(res) == 0) {
				strbuf_addstr(&why, "returned no rows");
			} else if (PQnfields(res) == 1 && PQntuples(res) == 1 &&
				   PQgetisnull(res, 0, 0)) {
				strbuf_addstr(&why, "returned NULL");
			} else if (PQnfields(res) == 1 && PQntuples(res) == 1 &&
				   PQftype(res, 0) == BOOLOID && strcmp(PQgetvalue(res, 0, 0), "t")) {
				strbuf_addstr(&why, "returned false");
			} else {
				ok = 1;
			}
			break;
		default:
			strbuf_addstr(&why, PQresultErrorMessage(res));
			strbuf_rtrim(&why);
			break;
		}
		PQclear(res);
		json_array_append_new(out, json_pack("{s:O, s:O, s:s, s:b}", "file",
						     json_object_get(c, "file"), "line",
						     json_object_get(c, "line"), "sql", shown.buf,
						     "ok", ok));
		if (!ok) {
			json_object_set_new(json_array_get(out, json_array_size(out) - 1), "error",
					    json_string(why.buf));
			if (!failed++)
				snprintf(first, sizeof(first), "%s:%lld (%s) %s",
					 json_string_value(json_object_get(c, "file")),
					 (long long)json_integer_value(json_object_get(c, "line")),
					 shown.buf, why.buf);
		}
		/* a failed statement aborts nothing: each check runs on its own */
		strbuf_release(&shown);
		strbuf_release(&why);
	}
	PQfinish(conn);
	if (failed)
		return errbuf_set(e, BL_EVERIFY, "%d SQL check%s failed; first: %s", failed,
				  failed == 1 ? "" : "s", first);
	return 0;
}

static int scratch_create(json_t *db, const char *base, const char *pw, const char *name,
			  struct errbuf *e)
{
	struct strbuf q = STRBUF_INIT, where = STRBUF_INIT;
	PGconn *conn = NULL;
	int rc = dbconn_connect(db, base, pw, &conn, e);

	if (rc) {
		errbuf_prefix(e, "cannot create the scratch database %s: ", name);
		return rc;
	}
	pg_describe(conn, &where);
	pg_quote_ident(conn, name, &q);
	rc = pg_execf(conn, NULL, e, "CREATE DATABASE %s TEMPLATE template0", q.buf);
	if (rc)
		errbuf_prefix(e, "cannot create the scratch database %s on %s: ", name, where.buf);
	PQfinish(conn);
	strbuf_release(&q);
	strbuf_release(&where);
	return rc;
}

static int scratch_drop(json_t *db, const char *base, const char *pw, const char *name,
			struct errbuf *e)
{
	struct strbuf q = STRBUF_INIT, ver = STRBUF_INIT;
	PGconn *conn = NULL;
	int rc = dbconn_connect(db, base, pw, &conn, e);

	if (!rc)
		rc = pg_value(conn, "SHOW server_version_num", &ver, e);
	if (!rc) {
		pg_quote_ident(conn, name, &q);
		/* FORCE (PostgreSQL 13+) ends sessions a killed pg_restore left */
		rc = pg_execf(conn, NULL, e, "DROP DATABASE IF EXISTS %s%s", q.buf,
			      atoi(ver.buf) >= 130000 ? " WITH (FORCE)" : "");
	}
	if (rc)
		errbuf_prefix(e, "cannot drop the scratch database %s (drop it by hand): ", name);
	PQfinish(conn);
	strbuf_release(&q);
	strbuf_release(&ver);
	return rc;
}

static int drill_db(const struct config *cfg, struct repo *r, const struct manifest_item *it,
		    const struct drill_opts *o, json_t *rep, struct errbuf *e)
{
	json_t *item = it->json;
	const char *name = it->name;
	/* a db item's own member (dbdump.h) */
	const char *mode = json_string_value(json_object_get(item, "row_counts"));
	json_t *db = dbdump_find_db(cfg, name);
	json_t *diffs = json_array(), *checks = json_array();
	struct strbuf pw = STRBUF_INIT, sci = STRBUF_INIT;
	struct dbrestore_opts ro;
	struct errbuf first = ERRBUF_INIT, one = ERRBUF_INIT;
	const char *base;
	char scratch[64];
	long long t0;
	int worst = 0, rc, created = 0, checked = 0, dropped = 0;

	drill_scratch_name(name, o->now, scratch);
	json_object_set_new(rep, "scratch_database", json_string(scratch));
	json_object_set_new(rep, "row_counts", json_string(mode ? mode : "off"));
	/* a configured database without conninfo uses $DATABASE_URL / PG* ("");
	 * base is the conninfo as written (for a database in a container, as
	 * seen from inside it): every connection goes through dbconn */
	base = o->target ? o->target : !db ? NULL :
	       json_string_value(json_object_get(db, "conninfo")) ?
	       json_string_value(json_object_get(db, "conninfo")) : "";
	if (!base) {
		rc = errbuf_set(&one, BL_EUSAGE, "backup holds database \"%s\", which the "
				"configuration does not name: pass --target CONNINFO", name);
		note(&worst, &first, rc, &one);
		goto out;
	}
	dbdump_target_password(db, o->target, &pw);
	/* The stored bytes first: a corrupt object never reaches a server. */
	rc = backupset_verify_object(r, json_object_get(item, "object"), 0, &one);
	json_object_set_new(rep, "checksum", json_string(rc ? "mismatch" : "ok"));
	if (rc) {
		note(&worst, &first, rc, &one);
		goto out;
	}
	rc = scratch_create(db, base, pw.len ? pw.buf : NULL, scratch, &one);
	if (rc) {
		note(&worst, &first, rc, &one);
		goto out;
	}
	created = 1;
	rc = pg_conninfo_with_db(base, scratch, &sci, &one);
	if (rc) {
		note(&worst, &first, rc, &one);
		goto out;
	}
	memset(&ro, 0, sizeof(ro));
	ro.target = sci.buf;
	ro.jobs = o->jobs > 0 ? o->jobs : 1;
	ro.verified = 1; /* the checksum pass above */
	t0 = time_mono_ms();
	rc = dbdump_restore(cfg, r, item, &ro, &one);
	json_object_set_new(rep, "restore_seconds",
			    json_real((double)(time_mono_ms() - t0) / 1000.0));
	if (mode && !strcmp(mode, "exact") && (!rc || rc == BL_EVERIFY)) {
		struct errbuf ce = ERRBUF_INIT;

		/* dbdump_restore only says the counts differ; the report names each table */
		if (rc == BL_EVERIFY) {
			if (compare_rows(db, sci.buf, pw.len ? pw.buf : NULL, item, diffs, &checked, &ce))
				note(&worst, &first, ce.code, &ce);
		} else {
			json_t *t;
			size_t i;

			json_array_foreach(json_object_get(item, "tables"), i, t)
				checked += json_is_integer(json_object_get(t, "rows"));
		}
	}
	note(&worst, &first, rc, &one);
	if (!rc || rc == BL_EVERIFY) {
		errbuf_clear(&one);
		rc = run_checks(db, sci.buf, pw.len ? pw.buf : NULL, name, o->checks, checks, &one);
		note(&worst, &first, rc, &one);
	}
out:
	if (created) {
		errbuf_clear(&one);
		rc = scratch_drop(db, base, pw.len ? pw.buf : NULL, scratch, &one);
		dropped = !rc;
		/* a scratch database left behind outranks a difference: exit 1 */
		if (rc) {
			if (worst == BL_EVERIFY)
				worst = BL_EFAIL;
			note(&worst, &first, rc, &one);
		}
	}
	json_object_set_new(rep, "tables_checked", json_integer(checked));
	json_object_set_new(rep, "differences", diffs);
	json_object_set_new(rep, "checks", checks);
	json_object_set_new(rep, "scratch_dropped", json_boolean(dropped || !created));
	json_object_set_new(rep, "result", json_string(!worst ? "passed" : worst == BL_EVERIFY ?
						       "failed" : "error"));
	if (worst) {
		json_object_set_new(rep, "error", json_string(first.msg));
		errbuf_set(e, worst, "%s", first.msg);
	}
	strbuf_release(&pw);
	strbuf_release(&sci);
	return worst;
}

/* --- volumes ----------------------------------------------------------- */

/* The stored object for libarchive, checked by objread as it ends; a
 * signal stops the extraction between chunks. */
static int vsource_read(void *ctx, void *buf, size_t cap, size_t *got, struct errbuf *e)
{
	*got = 0;
	if (interrupt_signal)
		return interrupt_check(e);
	return objread_read(ctx, buf, cap, got, e);
}

/* Extract a volume item into a fresh temporary directory and compare what
 * came out with the manifest's counts; the directory is always removed. */
static int drill_volume(struct repo *r, const struct manifest_item *it, json_t *rep,
			struct errbuf *e)
{
	static const char *const kinds[] = { "files", "dirs", "symlinks", "hardlinks", "others" };
	json_t *item = it->json;
	const char *name = it->name;
	/* a volume item's own members (volume_item.h) */
	json_t *want = json_object_get(item, "entries"), *diffs = json_array();
	struct volume_stats st = VOLUME_STATS_INIT;
	struct strbuf dir = STRBUF_INIT;
	struct errbuf re = ERRBUF_INIT;
	struct objread *src = NULL;
	const char *tmp = getenv("TMPDIR");
	long long t0 = time_mono_ms();
	int rc, made = 0;

	if (!it->obj.key) {
		rc = errbuf_set(e, BL_EVERIFY, "volume %s: the manifest item has no complete object",
				name);
		goto out;
	}
	/* the stored bytes first, as for a database */
	rc = backupset_verify_object(r, json_object_get(item, "object"), 0, e);
	json_object_set_new(rep, "checksum", json_string(rc ? "mismatch" : "ok"));
	if (rc)
		goto out;
	strbuf_addf(&dir, "%s/ballast-drill-XXXXXX", tmp && *tmp ? tmp : "/var/tmp");
	if (!mkdtemp(dir.buf)) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "cannot create a scratch directory %s", dir.buf);
		goto out;
	}
	made = 1;
	json_object_set_new(rep, "scratch_directory", json_string(dir.buf));
	rc = objread_open(r, it->obj.key, it->obj.size, it->obj.sha256, &src, e);
	if (rc)
		goto out;
	rc = volume_extract(dir.buf, vsource_read, src, &st, e);
	json_object_set_new(rep, "restore_seconds",
			    json_real((double)(time_mono_ms() - t0) / 1000.0));
	if (rc)
		goto out;
	{
		long long have[5] = { st.files, st.dirs, st.symlinks, st.hardlinks, st.others };

		for (size_t i = 0; i < 5; i++) {
			json_t *w = json_object_get(want, kinds[i]);

			if (json_is_integer(w) && json_integer_value(w) != have[i])
				json_array_append_new(diffs, json_pack("{s:s, s:O, s:I}", "what", kinds[i],
								       "backup", w, "restored",
								       (json_int_t)have[i]));
		}
		if (json_is_integer(json_object_get(item, "bytes")) &&
		    json_integer_value(json_object_get(item, "bytes")) != st.bytes)
			json_array_append_new(diffs, json_pack("{s:s, s:O, s:I}", "what", "bytes",
							       "backup", json_object_get(item, "bytes"),
							       "restored", (json_int_t)st.bytes));
	}
	json_object_set_new(rep, "files", json_integer(st.files));
	json_object_set_new(rep, "bytes", json_integer(st.bytes));
	if (json_array_size(diffs)) {
		json_t *d0 = json_array_get(diffs, 0);

		rc = errbuf_set(e, BL_EVERIFY, "volume %s: %s differ from the backup (backup %lld, "
				"restored %lld)", name, json_string_value(json_object_get(d0, "what")),
				(long long)json_integer_value(json_object_get(d0, "backup")),
				(long long)json_integer_value(json_object_get(d0, "restored")));
	}
out:
	if (made && volume_remove_tree(dir.buf, &re)) {
		log_error("%s", re.msg);
		if (rc != BL_EFAIL)
			rc = errbuf_set(e, BL_EFAIL, "cannot remove the scratch directory %s: %s",
					dir.buf, re.msg);
	}
	json_object_set_new(rep, "differences", diffs);
	json_object_set_new(rep, "scratch_removed", json_boolean(!made || !re.code));
	json_object_set_new(rep, "result", json_string(!rc ? "passed" : rc == BL_EVERIFY ?
						       "failed" : "error"));
	if (rc) {
		json_object_set_new(rep, "error", json_string(e->msg));
		if (strncmp(e->msg, "volume ", 7))
			errbuf_prefix(e, "volume %s: ", name);
	}
	objread_close(src);
	volume_stats_release(&st);
	strbuf_release(&dir);
	return rc;
}

/* --- point-in-time drills ------------------------------------------------ */

struct pitr_ctx {
	const char *name;     /* the configured database */
	const char *checkdb;  /* where the SQL checks run */
	json_t *checks_in;    /* drill_load_checks() */
	json_t *tables, *diffs, *checks;
	int checked;
};

/* Every table of one database of the recovered cluster, counted. */
static int pitr_count_db(struct pitr_ctx *x, const char *ci, const char *dbname,
			 struct errbuf *e)
{
	struct strbuf dci = STRBUF_INIT;
	PGconn *conn = NULL;
	PGresult *res = NULL;
	int rc = pg_conninfo_with_db(ci, dbname, &dci, e);

	if (!rc)
		rc = pg_connect(dci.buf, NULL, &conn, e);
	/* partitions are counted through their parent */
	if (!rc)
		rc = pg_execp(conn, "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
			      "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND NOT "
			      "c.relispartition AND n.nspname NOT IN ('pg_catalog', "
			      "'information_schema') AND n.nspname NOT LIKE 'pg_toast%' "
			      "ORDER BY 1, 2", 0, NULL, &res, e);
	for (int i = 0; !rc && i < PQntuples(res); i++) {
		const char *s = PQgetvalue(res, i, 0), *n = PQgetvalue(res, i, 1);
		struct strbuf full = STRBUF_INIT;
		struct errbuf qe = ERRBUF_INIT;
		long long have = -1;

		strbuf_addf(&full, "%s.%s", s, n);
		x->checked++;
		if (count_rows(conn, s, n, &have, &qe))
			json_array_append_new(x->diffs, json_pack("{s:s, s:s, s:n, s:n, s:s}",
								  "database", dbname, "table",
								  full.buf, "backup", "restored",
								  "error", qe.msg));
		else
			json_array_append_new(x->tables, json_pack("{s:s, s:s, s:I}", "database",
								   dbname, "table", full.buf,
								   "rows", (json_int_t)have));
		strbuf_release(&full);
	}
	PQclear(res);
	PQfinish(conn);
	strbuf_release(&dci);
	return rc;
}

static int pitr_checks(void *ctx, const char *ci, struct errbuf *e)
{
	struct pitr_ctx *x = ctx;
	struct strbuf cci = STRBUF_INIT;
	PGconn *conn = NULL;
	PGresult *res = NULL;
	int rc = pg_connect(ci, NULL, &conn, e);

	if (!rc)
		rc = pg_execp(conn, "SELECT datname FROM pg_database WHERE datallowconn AND NOT "
			      "datistemplate ORDER BY 1", 0, NULL, &res, e);
	for (int i = 0; !rc && i < PQntuples(res); i++)
		rc = pitr_count_db(x, ci, PQgetvalue(res, i, 0), e);
	PQclear(res);
	PQfinish(conn);
	if (rc)
		goto out;
	if (json_array_size(x->diffs)) {
		json_t *d0 = json_array_get(x->diffs, 0);

		rc = errbuf_set(e, BL_EVERIFY, "table %s of database %s cannot be counted: %s",
				json_string_value(json_object_get(d0, "table")),
				json_string_value(json_object_get(d0, "database")),
				json_string_value(json_object_get(d0, "error")));
		goto out;
	}
	rc = pg_conninfo_with_db(ci, x->checkdb, &cci, e);
	if (!rc)
		rc = run_checks(NULL, cci.buf, NULL, x->name, x->checks_in, x->checks, e);
out:
	strbuf_release(&cci);
	return rc;
}

static const char *pitr_target_name(const struct pitr_opts *o, struct strbuf *out)
{
	strbuf_reset(out);
	switch (o->target) {
	case PITR_LATEST:
		strbuf_addstr(out, "latest");
		return out->buf;
	case PITR_TIME:
		strbuf_addstr(out, "time");
		break;
	case PITR_NAME:
		strbuf_addstr(out, "name");
		break;
	case PITR_LSN:
		strbuf_addstr(out, "lsn");
		break;
	}
	strbuf_addf(out, " %s", o->value);
	return out->buf;
}

/* The scratch directories' parent: the option, the configuration, $TMPDIR,
 * /var/tmp. */
static void scratch_parent(const struct config *cfg, const char *opt, struct strbuf *out)
{
	const char *c = config_str(cfg, "drill.scratch_dir", NULL), *tmp = getenv("TMPDIR");

	if (opt && *opt)
		strbuf_addstr(out, opt);
	else if (c && *c)
		config_path(cfg, c, out);
	else
		strbuf_addstr(out, tmp && *tmp ? tmp : "/var/tmp");
}

/* One database's point-in-time drill into rep (an element of
 * "databases"). */
static int drill_pitr_db(const struct config *cfg, const struct pitr_opts *po,
			 const struct drill_opts *o, json_t *rep, struct errbuf *e)
{
	struct pitr_ctx x = { NULL, "postgres", o->checks, json_array(), json_array(), json_array(),
			      0 };
	struct pitr_result res;
	struct strbuf parent = STRBUF_INIT, tdesc = STRBUF_INIT, checkdb = STRBUF_INIT;
	json_t *spec = NULL;
	long long t0 = time_mono_ms(), start_ms = (long long)o->now * 1000;
	double rto;
	int rc;

	pitr_result_init(&res);
	rc = walarchive_db(cfg, po->db, &spec, e);
	x.name = rc ? po->db : json_string_value(json_object_get(spec, "name"));
	json_object_set_new(rep, "name", json_string(x.name ? x.name : ""));
	json_object_set_new(rep, "mode", json_string("pitr"));
	json_object_set_new(rep, "target", json_string(pitr_target_name(po, &tdesc)));
	if (rc)
		goto out;
	if (pg_conninfo_get(json_string_value(json_object_get(spec, "conninfo")), "dbname",
			    &checkdb))
		x.checkdb = checkdb.buf;
	scratch_parent(cfg, o->scratch_dir, &parent);
	rc = pitr_scratch(cfg, po, parent.buf, pitr_checks, &x, &res, e);
out:
	rto = (double)(time_mono_ms() - t0) / 1000.0;
	json_object_set_new(rep, "backup_id", json_string(res.id));
	json_object_set_new(rep, "scratch_directory", res.scratch.len ?
			    json_string(res.scratch.buf) : json_null());
	json_object_set_new(rep, "extract_seconds", json_real((double)res.extract_ms / 1000.0));
	json_object_set_new(rep, "recovery_seconds", json_real((double)res.recovery_ms / 1000.0));
	json_object_set_new(rep, "checks_seconds", json_real((double)res.check_ms / 1000.0));
	json_object_set_new(rep, "rto_seconds", json_real(rto));
	json_object_set_new(rep, "restore_seconds", json_real(rto));
	/* RPO: what a loss of the server at the drill's start would have cost,
	 * as far as the archive shows: the newest commit it replays (or the
	 * base backup's end on a quiet server). A chosen earlier point says
	 * nothing about that. */
	if (!rc && po->target == PITR_LATEST) {
		long long at = res.replay_ms >= 0 ? res.replay_ms : res.base_end_ms;

		json_object_set_new(rep, "rpo_seconds",
				    json_real(at > 0 && start_ms > at ?
					      (double)(start_ms - at) / 1000.0 : 0.0));
	} else {
		json_object_set_new(rep, "rpo_seconds", json_null());
	}
	if (res.replay_ms >= 0) {
		char when[TIME_UTC_MAX];

		time_utc_format((time_t)(res.replay_ms / 1000), when);
		json_object_set_new(rep, "last_replayed_commit", json_string(when));
	} else {
		json_object_set_new(rep, "last_replayed_commit", json_null());
	}
	json_object_set_new(rep, "timeline", json_integer(res.timeline));
	json_object_set_new(rep, "lsn", res.lsn.len ? json_string(res.lsn.buf) : json_null());
	json_object_set_new(rep, "tables", x.tables);
	json_object_set_new(rep, "tables_checked", json_integer(x.checked));
	json_object_set_new(rep, "differences", x.diffs);
	json_object_set_new(rep, "checks", x.checks);
	json_object_set_new(rep, "scratch_removed", json_boolean(res.scratch_removed ||
								!res.scratch.len));
	json_object_set_new(rep, "result", json_string(!rc ? "passed" : rc == BL_EVERIFY ?
						       "failed" : "error"));
	if (rc)
		json_object_set_new(rep, "error", json_string(e->msg));
	pitr_result_release(&res);
	strbuf_release(&parent);
	strbuf_release(&tdesc);
	strbuf_release(&checkdb);
	return rc;
}

/* The report's head, as drill_run() writes it. */
static json_t *report_head(const char *project, const char *id, const char *created, time_t now)
{
	char when[TIME_UTC_MAX], host[256] = "";
	time_t t = created ? time_utc_parse(created) : -1;

	gethostname(host, sizeof(host) - 1);
	time_utc_format(now, when);
	return json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "format", 1, "kind", "drill",
			 "project", project, "backup_id", id, "backup_time", created ? created : "",
			 "drill_time", when, "host", host,
			 "backup_age_seconds", (json_int_t)(t >= 0 ? now - t : -1));
}

/* drill.pitr: how drill_run treats a base backup item. */
static int pitr_items(const struct config *cfg, const struct drill_opts *o)
{
	return o->pitr.self && strcmp(config_str(cfg, "drill.pitr", "latest"), "off");
}

int drill_pitr_run(const struct config *cfg, struct repo *r, const char *project,
		   const struct drill_opts *o, json_t **report, struct errbuf *e)
{
	json_t *one = json_object(), *rep, *m = NULL;
	struct manifest_head h;
	struct errbuf le = ERRBUF_INIT;
	long long t0 = time_mono_ms();
	int rc = drill_pitr_db(cfg, &o->pitr, o, one, e);
	const char *id = json_string_value(json_object_get(one, "backup_id"));

	memset(&h, 0, sizeof(h));
	/* the backup's time, for the head */
	if (*id && !backupset_load(r, project, id, &m, &le))
		manifest_head_get(m, &h);
	rep = report_head(project, id, h.created, o->now);
	json_object_set_new(rep, "databases", json_pack("[o]", one));
	json_object_set_new(rep, "volumes", json_array());
	json_object_set_new(rep, "duration_seconds",
			    json_real((double)(time_mono_ms() - t0) / 1000.0));
	json_object_set(rep, "result", json_object_get(one, "result"));
	if (rc) {
		const char *name = json_string_value(json_object_get(one, "name"));

		json_object_set_new(rep, "error", json_string(e->msg));
		if (*name)
			errbuf_prefix(e, "point-in-time drill of database %s: ", name);
	}
	json_decref(m);
	*report = rep;
	return rc;
}

int drill_run(const struct config *cfg, struct repo *r, const char *project, const char *id,
	      const struct drill_opts *o, json_t **report, struct errbuf *e)
{
	json_t *m = NULL, *rep, *dbs = json_array(), *vols = json_array();
	struct manifest_head h;
	struct manifest_item it;
	struct errbuf first = ERRBUF_INIT;
	long long t0 = time_mono_ms();
	size_t i;
	int rc, worst = 0;

	*report = NULL;
	rc = backupset_load(r, project, id, &m, e);
	if (rc) {
		json_decref(dbs);
		json_decref(vols);
		return rc;
	}
	manifest_head_get(m, &h);
	rep = report_head(project, id, h.created, o->now);
	json_object_set_new(rep, "databases", dbs);
	json_object_set_new(rep, "volumes", vols);
	manifest_foreach_item(m, i, it) {
		const char *type = it.type;
		json_t *one = json_pack("{s:s}", "name", it.name);
		struct errbuf ie = ERRBUF_INIT;

		if (interrupt_signal) {
			json_decref(one);
			interrupt_check(&ie);
			note(&worst, &first, BL_EFAIL, &ie);
			break;
		}
		if (!strcmp(type, "db")) {
			json_array_append_new(dbs, one);
			rc = drill_db(cfg, r, &it, o, one, &ie);
			note(&worst, &first, rc, &ie);
		} else if (!strcmp(type, BASEBACKUP_ITEM_TYPE) && pitr_items(cfg, o)) {
			struct pitr_opts po = o->pitr;

			/* this backup, recovered to the end of the archive */
			po.db = it.name;
			po.id = id;
			po.target = PITR_LATEST;
			po.value = NULL;
			json_array_append_new(dbs, one);
			rc = drill_pitr_db(cfg, &po, o, one, &ie);
			if (rc)
				errbuf_prefix(&ie, "point-in-time drill of database %s: ", it.name);
			note(&worst, &first, rc, &ie);
		} else if (!strcmp(type, "volume")) {
			json_array_append_new(vols, one);
			rc = drill_volume(r, &it, one, &ie);
			note(&worst, &first, rc, &ie);
		} else {
			/* unknown item types: at least their stored bytes must check out */
			json_array_append_new(vols, one);
			json_object_set_new(one, "type", json_string(type));
			rc = backupset_verify_object(r, json_object_get(it.json, "object"), 1, &ie);
			json_object_set_new(one, "checksum", json_string(rc ? "mismatch" : "ok"));
			json_object_set_new(one, "result", json_string(rc ? "failed" : "passed"));
			if (rc)
				json_object_set_new(one, "error", json_string(ie.msg));
			note(&worst, &first, rc, &ie);
		}
	}
	/* A signal that arrived after the last item's data was sent still
	 * means the drill was not carried out as asked. */
	if (interrupt_signal && !worst) {
		struct errbuf ie = ERRBUF_INIT;

		interrupt_check(&ie);
		note(&worst, &first, BL_EFAIL, &ie);
	}
	if (!json_array_size(dbs) && !json_array_size(vols) && !worst) {
		errbuf_set(&first, BL_EFAIL, "backup %s holds no item to drill", id);
		worst = BL_EFAIL;
	}
	json_object_set_new(rep, "duration_seconds",
			    json_real((double)(time_mono_ms() - t0) / 1000.0));
	json_object_set_new(rep, "result", json_string(!worst ? "passed" : worst == BL_EVERIFY ?
						       "failed" : "error"));
	if (worst) {
		json_object_set_new(rep, "error", json_string(first.msg));
		errbuf_set(e, worst, "drill of %s: %s", id, first.msg);
	}
	json_decref(m);
	*report = rep;
	return worst;
}

int drill_save_report(struct repo *r, const char *project, json_t *report, struct errbuf *e)
{
	const char *id = json_string_value(json_object_get(report, "backup_id"));
	time_t t = time_utc_parse(json_string_value(json_object_get(report, "drill_time")));
	struct strbuf key = STRBUF_INIT;
	char stamp[32];
	struct tm tm;
	char *text;
	int rc;

	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	manifest_backup_prefix(project, id, &key);
	strbuf_addf(&key, "drill-%s.json", stamp);
	text = json_dumps(report, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	rc = repo_put_bytes(r, key.buf, text, strlen(text), e);
	if (!rc) {
		/* what prune needs, for a host without the identity */
		json_t *sum = json_pack("{s:s, s:O, s:O}", "backup_id", id, "drill_time",
					json_object_get(report, "drill_time"), "result",
					json_object_get(report, "result"));

		strbuf_reset(&key);
		strbuf_addf(&key, "drill-%s.json", stamp);
		rc = backup_index_put_summary(r, project, id, key.buf, sum, e);
		json_decref(sum);
	}
	free(text);
	strbuf_release(&key);
	return rc;
}
