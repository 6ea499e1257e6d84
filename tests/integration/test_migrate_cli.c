// services: pg
/* ballast-migrate end to end against the real PostgreSQL test service:
 * stored down SQL after the files are gone, concurrent migrators, the
 * no-transaction directive and dirty state, lock timeouts, irreversible
 * crossings, SQL error locations, drift and bad input. Each test works in
 * its own database. */
#include <fcntl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errbuf.h"
#include "pg.h"
#include "tpg.h"
#include "tsupport.h"

struct fx {
	char *dir;        /* temp dir; migrations in dir/m */
	char mdir[4096];
	char *conninfo;   /* of the test's own database */
	char dbname[64];
};

static PGconn *connect_to(const char *ci)
{
	PGconn *c = PQconnectdb(ci);

	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
	return c;
}

static void sql_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
		      "%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

/* First column of the first row, as a long. */
static long sql_long(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	long v;

	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
	v = PQgetisnull(r, 0, 0) ? -1 : atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static void fx_init(struct fx *f, const char *tag)
{
	f->dir = ttmp_dir(tag);
	ck_assert_ptr_nonnull(f->dir);
	snprintf(f->mdir, sizeof(f->mdir), "%s/m", f->dir);
	ck_assert_int_eq(mkdir(f->mdir, 0755), 0);
	snprintf(f->dbname, sizeof(f->dbname), "mig_%s_%d", tag, (int)getpid());
	f->conninfo = tpg_fresh_db(f->dbname);
}

static void fx_free(struct fx *f)
{
	ttmp_rm(f->dir);
	free(f->dir);
	free(f->conninfo);
}

static void put(struct fx *f, const char *fname, const char *text)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/%s", f->mdir, fname);
	ck_assert_int_eq(twrite_file(path, text), 0);
}

/* Run ballast-migrate CMD --database <db> --dir <mdir> ARGS... (NULL-terminated). */
/* Run ballast-migrate with the arguments pre[0..npre) then those of ap up
 * to NULL. out/err may be NULL. */
static int mig_va(const char *const *pre, int npre, va_list ap, struct strbuf *out,
		  struct strbuf *err)
{
	const char *argv[32];
	struct strbuf bin = STRBUF_INIT, o = STRBUF_INIT, e = STRBUF_INIT;
	int n = 0, rc;
	const char *a;

	argv[n++] = tbin("ballast-migrate", &bin);
	for (int i = 0; i < npre; i++)
		argv[n++] = pre[i];
	while ((a = va_arg(ap, const char *)) && n < 31)
		argv[n++] = a;
	argv[n] = NULL;
	rc = trun(argv, NULL, out ? out : &o, err ? err : &e);
	strbuf_release(&bin);
	strbuf_release(&o);
	strbuf_release(&e);
	return rc;
}

static int mig(struct fx *f, struct strbuf *out, struct strbuf *err, const char *cmd, ...)
{
	const char *pre[] = { cmd, "--database", f->conninfo, "--dir", f->mdir };
	va_list ap;
	int rc;

	va_start(ap, cmd);
	rc = mig_va(pre, 5, ap, out, err);
	va_end(ap);
	return rc;
}

/* The result object of --json output (tjson_result). */
static json_t *result_of(const struct strbuf *out)
{
	return tjson_result(out);
}

static long long jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	ck_assert_msg(json_is_integer(v), "%s is not an integer", key);
	return json_integer_value(v);
}

static long long status_version(struct fx *f, int *dirty)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	json_t *j;
	long long v;

	ck_assert_msg(mig(f, &out, &err, "status", "--json", NULL) == 0, "status: %s", err.buf);
	j = result_of(&out);
	v = jint(j, "current_version");
	if (dirty)
		*dirty = json_is_true(json_object_get(j, "dirty"));
	json_decref(j);
	strbuf_release(&out);
	strbuf_release(&err);
	return v;
}

/* pg_dump --schema-only of the test's database. */
static void schema_dump(struct fx *f, struct strbuf *out)
{
	tpg_schema_dump(f->conninfo, NULL, out);
}

/* 50 migrations of varied kinds; every one reversible. */
static void write_fifty(struct fx *f)
{
	char name[64], up[1024], down[512];

	for (int i = 1; i <= 50; i++) {
		switch (i % 5) {
		case 1:
			snprintf(up, sizeof(up),
				 "CREATE TABLE t%d (id bigint PRIMARY KEY, label text NOT NULL DEFAULT 'x;y');\n", i);
			snprintf(down, sizeof(down), "DROP TABLE t%d;\n", i);
			break;
		case 2:
			snprintf(up, sizeof(up), "ALTER TABLE t%d ADD COLUMN c%d integer;\n"
				 "CREATE INDEX t%d_c ON t%d (c%d);\n", i - 1, i, i - 1, i - 1, i);
			snprintf(down, sizeof(down), "DROP INDEX t%d_c;\nALTER TABLE t%d DROP COLUMN c%d;\n",
				 i - 1, i - 1, i);
			break;
		case 3:
			snprintf(up, sizeof(up),
				 "CREATE FUNCTION f%d(a int) RETURNS int LANGUAGE plpgsql AS $fn$\n"
				 "BEGIN\n  RETURN a + %d; -- semicolons inside; fine\nEND\n$fn$;\n", i, i);
			snprintf(down, sizeof(down), "DROP FUNCTION f%d(int);\n", i);
			break;
		case 4:
			snprintf(up, sizeof(up), "CREATE VIEW v%d AS SELECT id, label FROM t%d;\n"
				 "COMMENT ON VIEW v%d IS 'view %d';\n", i, i - 3, i, i);
			snprintf(down, sizeof(down), "DROP VIEW v%d;\n", i);
			break;
		default:
			snprintf(up, sizeof(up), "CREATE TYPE e%d AS ENUM ('a', 'b');\n"
				 "ALTER TABLE t%d ADD COLUMN k e%d;\n", i, i - 4, i);
			snprintf(down, sizeof(down), "ALTER TABLE t%d DROP COLUMN k;\nDROP TYPE e%d;\n",
				 i - 4, i);
			break;
		}
		snprintf(name, sizeof(name), "%d_step%d.up.sql", i, i);
		put(f, name, up);
		snprintf(name, sizeof(name), "%d_step%d.down.sql", i, i);
		put(f, name, down);
	}
}

START_TEST(test_fifty_then_down_without_files)
{
	struct fx f;
	struct strbuf at10 = STRBUF_INIT, after = STRBUF_INIT, out = STRBUF_INIT, err = STRBUF_INIT;
	json_t *j;

	fx_init(&f, "fifty");
	write_fifty(&f);
	ck_assert_msg(mig(&f, &out, &err, "up", "--to", "10", "--json", NULL) == 0, "%s", err.buf);
	ck_assert_int_eq(status_version(&f, NULL), 10);
	schema_dump(&f, &at10);
	ck_assert_ptr_nonnull(strstr(at10.buf, "CREATE TABLE public.t6"));
	strbuf_reset(&out);
	ck_assert_msg(mig(&f, &out, &err, "up", "--release", "v2.0.0", "--json", NULL) == 0, "%s", err.buf);
	j = result_of(&out);
	ck_assert_int_eq(jint(j, "from"), 10);
	ck_assert_int_eq(jint(j, "to"), 50);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "applied")), 40);
	json_decref(j);

	/* The release being rolled back to ships no migrations at all. */
	ttmp_rm(f.mdir);
	strbuf_reset(&out);
	ck_assert_msg(mig(&f, &out, &err, "down", "--to", "10", "--json", NULL) == 0, "%s", err.buf);
	j = result_of(&out);
	ck_assert_int_eq(jint(j, "from"), 50);
	ck_assert_int_eq(jint(j, "to"), 10);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "reverted")), 40);
	/* reverse version order */
	ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(j, "reverted"), 0)), 50);
	json_decref(j);
	ck_assert_int_eq(status_version(&f, NULL), 10);
	schema_dump(&f, &after);
	ck_assert_str_eq(after.buf, at10.buf);
	strbuf_release(&at10);
	strbuf_release(&after);
	strbuf_release(&out);
	strbuf_release(&err);
	fx_free(&f);
}
END_TEST

/* Start ballast-migrate up in the background, output into a file. */
static pid_t spawn_up(struct fx *f, const char *outfile)
{
	struct strbuf bin = STRBUF_INIT;
	pid_t pid;

	tbin("ballast-migrate", &bin);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(outfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd < 0)
			_exit(126);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(bin.buf, bin.buf, "up", "--json", "--database", f->conninfo, "--dir", f->mdir,
		      (char *)NULL);
		_exit(127);
	}
	strbuf_release(&bin);
	return pid;
}

START_TEST(test_two_concurrent_ups)
{
	struct fx f;
	char o1[4200], o2[4200], name[64], up[256];
	struct strbuf out1 = STRBUF_INIT, out2 = STRBUF_INIT;
	PGconn *c;
	pid_t p1, p2;
	int s1, s2;
	json_t *j1, *j2;
	size_t n1, n2;

	fx_init(&f, "conc");
	c = connect_to(f.conninfo);
	sql_ok(c, "CREATE TABLE runs (version int)");
	for (int i = 1; i <= 5; i++) {
		snprintf(name, sizeof(name), "%d_slow%d.up.sql", i, i);
		snprintf(up, sizeof(up), "SELECT pg_sleep(0.3);\nINSERT INTO runs VALUES (%d);\n", i);
		put(&f, name, up);
	}
	snprintf(o1, sizeof(o1), "%s/out1", f.dir);
	snprintf(o2, sizeof(o2), "%s/out2", f.dir);
	p1 = spawn_up(&f, o1);
	p2 = spawn_up(&f, o2);
	ck_assert_int_eq(waitpid(p1, &s1, 0), p1);
	ck_assert_int_eq(waitpid(p2, &s2, 0), p2);
	tread_file(o1, &out1);
	tread_file(o2, &out2);
	ck_assert_msg(WIFEXITED(s1) && WEXITSTATUS(s1) == 0, "first: %s", out1.buf);
	ck_assert_msg(WIFEXITED(s2) && WEXITSTATUS(s2) == 0, "second: %s", out2.buf);
	j1 = result_of(&out1);
	j2 = result_of(&out2);
	n1 = json_array_size(json_object_get(j1, "applied"));
	n2 = json_array_size(json_object_get(j2, "applied"));
	/* one applied everything, the other waited and found nothing to do */
	ck_assert_msg((n1 == 5 && n2 == 0) || (n1 == 0 && n2 == 5), "applied %zu and %zu", n1, n2);
	ck_assert_int_eq(sql_long(c, "SELECT count(*) FROM runs"), 5);
	ck_assert_int_eq(sql_long(c, "SELECT count(DISTINCT version) FROM runs"), 5);
	ck_assert_int_eq(status_version(&f, NULL), 5);
	json_decref(j1);
	json_decref(j2);
	PQfinish(c);
	strbuf_release(&out1);
	strbuf_release(&out2);
	fx_free(&f);
}
END_TEST

START_TEST(test_no_transaction_and_dirty)
{
	struct fx f;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	PGconn *c;
	int dirty = 0;
	json_t *j;

	fx_init(&f, "notx");
	put(&f, "1_table.up.sql", "CREATE TABLE items (id int, v int);\n"
			     "INSERT INTO items SELECT g, g % 7 FROM generate_series(1, 1000) g;\n");
	put(&f, "1_table.down.sql", "DROP TABLE items;\n");
	put(&f, "2_index.up.sql", "-- ballast:no-transaction\n"
			     "CREATE INDEX CONCURRENTLY items_v ON items (v);\n"
			     "CREATE INDEX CONCURRENTLY items_id ON items (id);\n");
	put(&f, "2_index.down.sql", "-- ballast:no-transaction\nDROP INDEX CONCURRENTLY items_id;\n"
			       "DROP INDEX CONCURRENTLY items_v;\n");
	ck_assert_msg(mig(&f, &out, &err, "up", NULL) == 0, "%s", err.buf);
	c = connect_to(f.conninfo);
	ck_assert_int_eq(sql_long(c, "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
				     "WHERE c.relname IN ('items_v', 'items_id') AND i.indisvalid"), 2);
	/* without the directive PostgreSQL refuses CONCURRENTLY in a
	 * transaction, in a file of several statements; the error says what
	 * to do */
	put(&f, "3_bad.up.sql", "CREATE INDEX CONCURRENTLY items_v2 ON items (v);\nSELECT 1;\n");
	strbuf_reset(&err);
	ck_assert_int_eq(mig(&f, &out, &err, "up", NULL), 1);
	ck_assert_msg(strstr(err.buf, "cannot run inside a transaction block") &&
		      strstr(err.buf, "-- ballast:no-transaction"), "%s", err.buf);
	ck_assert_int_eq(status_version(&f, &dirty), 2);
	ck_assert_int_eq(dirty, 0);

	/* a no-transaction migration failing half-way leaves the dirty flag */
	put(&f, "3_bad.up.sql", "-- ballast:no-transaction\n"
			   "CREATE INDEX CONCURRENTLY items_v2 ON items (v);\n"
			   "SELECT 1 / 0;\n");
	strbuf_reset(&err);
	ck_assert_int_eq(mig(&f, &out, &err, "up", NULL), 1);
	ck_assert_msg(strstr(err.buf, "3_bad.up.sql:3") && strstr(err.buf, "division by zero") &&
		      strstr(err.buf, "dirty"), "%s", err.buf);
	ck_assert_int_eq(status_version(&f, &dirty), 3);
	ck_assert_int_eq(dirty, 1);
	/* every command but status, history and force refuses */
	strbuf_reset(&err);
	ck_assert_int_eq(mig(&f, &out, &err, "up", NULL), 1);
	ck_assert_ptr_nonnull(strstr(err.buf, "dirty at version 3"));
	ck_assert_int_eq(mig(&f, &out, &err, "down", NULL), 1);
	ck_assert_int_eq(mig(&f, &out, &err, "goto", "1", NULL), 1);
	ck_assert_int_eq(mig(&f, &out, &err, "plan", "--to", "1", NULL), 1);
	ck_assert_int_eq(mig(&f, &out, &err, "verify", NULL), 1);
	ck_assert_int_eq(mig(&f, &out, &err, "history", NULL), 0);
	/* force 3: the operator checked, the index exists: keep it as applied */
	strbuf_reset(&out);
	ck_assert_msg(mig(&f, &out, &err, "force", "3", "--json", NULL) == 0, "%s", err.buf);
	ck_assert_int_eq(status_version(&f, &dirty), 3);
	ck_assert_int_eq(dirty, 0);
	strbuf_reset(&out);
	ck_assert_int_eq(mig(&f, &out, &err, "history", "--json", NULL), 0);
	j = result_of(&out);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(
		json_array_get(json_object_get(j, "history"), 2), "note")), "forced by"));
	json_decref(j);
	/* force when nothing is dirty is a usage error */
	ck_assert_int_eq(mig(&f, &out, &err, "force", "3", NULL), 2);
	/* 3 was applied without a down file: going below it is refused */
	strbuf_reset(&err);
	ck_assert_int_eq(mig(&f, &out, &err, "down", "--to", "1", NULL), 1);
	ck_assert_ptr_nonnull(strstr(err.buf, "irreversible"));
	/* the stored no-transaction down SQL of 2 runs statement by statement */
	sql_ok(c, "DELETE FROM ballast_migrations WHERE version = 3");
	ck_assert_msg(mig(&f, &out, &err, "down", "--to", "1", NULL) == 0, "%s", err.buf);
	ck_assert_int_eq(sql_long(c, "SELECT count(*) FROM pg_class WHERE relname IN ('items_v', 'items_id')"), 0);
	ck_assert_int_eq(status_version(&f, NULL), 1);
	PQfinish(c);
	strbuf_release(&out);
	strbuf_release(&err);
	fx_free(&f);
}
END_TEST

START_TEST(test_lock_timeout)
{
	struct fx f;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, bin = STRBUF_INIT;
	char cfg[4200], text[8400];
	PGconn *c;
	int rc;

	fx_init(&f, "lockto");
	put(&f, "1_t.up.sql", "CREATE TABLE busy (id int);\n");
	put(&f, "1_t.down.sql", "DROP TABLE busy;\n");
	put(&f, "2_alter.up.sql", "ALTER TABLE busy ADD COLUMN extra int;\n");
	put(&f, "2_alter.down.sql", "ALTER TABLE busy DROP COLUMN extra;\n");
	ck_assert_msg(mig(&f, &out, &err, "up", "--to", "1", NULL) == 0, "%s", err.buf);
	snprintf(cfg, sizeof(cfg), "%s/ballast.json", f.dir);
	snprintf(text, sizeof(text), "{ \"project\": \"t\", \"migrations\": { \"dir\": \"%s\", "
		 "\"lock_timeout\": \"300ms\" } }\n", f.mdir);
	ck_assert_int_eq(twrite_file(cfg, text), 0);
	c = connect_to(f.conninfo);
	sql_ok(c, "BEGIN");
	sql_ok(c, "LOCK TABLE busy IN ACCESS SHARE MODE");
	{
		const char *argv[] = { tbin("ballast-migrate", &bin), "--config", cfg, "up",
				       "--database", f.conninfo, NULL };

		rc = trun(argv, NULL, &out, &err);
	}
	ck_assert_int_eq(rc, 1);
	ck_assert_msg(strstr(err.buf, "lock_timeout 300 ms") && strstr(err.buf, "rolled back") &&
		      strstr(err.buf, "2_alter"), "%s", err.buf);
	sql_ok(c, "ROLLBACK");
	ck_assert_int_eq(status_version(&f, NULL), 1);
	ck_assert_int_eq(sql_long(c, "SELECT count(*) FROM information_schema.columns "
				     "WHERE table_name = 'busy' AND column_name = 'extra'"), 0);
	/* once the lock is gone the same migration applies */
	ck_assert_msg(mig(&f, &out, &err, "up", NULL) == 0, "%s", err.buf);
	ck_assert_int_eq(status_version(&f, NULL), 2);
	PQfinish(c);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&bin);
	fx_free(&f);
}
END_TEST

START_TEST(test_advisory_lock_wait)
{
	struct fx f;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, bin = STRBUF_INIT;
	char cfg[4200], text[8400], sql[256], pid[32];
	const char *q = "\"public\".\"ballast_migrations\"";
	uint32_t h = 2166136261u;
	PGconn *c;
	int rc;

	fx_init(&f, "advlock");
	put(&f, "1_t.up.sql", "CREATE TABLE t (id int);\n");
	/* The lock key is part of the contract between releases: FNV-1a of
	 * the quoted table name, under class 'bala'. */
	for (const char *p = q; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 16777619u;
	}
	c = connect_to(f.conninfo);
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_lock(1650551905, %d)", (int)(h & 0x7fffffff));
	sql_ok(c, sql);
	snprintf(pid, sizeof(pid), "pid %d", PQbackendPID(c));
	snprintf(cfg, sizeof(cfg), "%s/ballast.json", f.dir);
	snprintf(text, sizeof(text), "{ \"migrations\": { \"lock_wait\": \"700ms\" } }\n");
	ck_assert_int_eq(twrite_file(cfg, text), 0);
	{
		const char *argv[] = { tbin("ballast-migrate", &bin), "up", "--config", cfg,
				       "--database", f.conninfo, "--dir", f.mdir, NULL };

		rc = trun(argv, NULL, &out, &err);
	}
	ck_assert_int_eq(rc, 3);
	ck_assert_msg(strstr(err.buf, pid), "want %s in: %s", pid, err.buf);
	ck_assert_int_eq(status_version(&f, NULL), 0);
	sql_ok(c, "SELECT pg_advisory_unlock_all()");
	ck_assert_msg(mig(&f, &out, &err, "up", NULL) == 0, "%s", err.buf);
	ck_assert_int_eq(status_version(&f, NULL), 1);
	PQfinish(c);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&bin);
	fx_free(&f);
}
END_TEST

START_TEST(test_irreversible_refused)
{
	struct fx f;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, before = STRBUF_INIT, after = STRBUF_INIT;
	json_t *j, *irr;

	fx_init(&f, "irrev");
	put(&f, "1_a.up.sql", "CREATE TABLE a (id int);\n");
	put(&f, "1_a.down.sql", "DROP TABLE a;\n");
	put(&f, "2_b.up.sql", "ALTER TABLE a ADD COLUMN gone text;\nALTER TABLE a DROP COLUMN gone;\n");
	put(&f, "3_c.up.sql", "CREATE TABLE c (id int);\n");
	put(&f, "3_c.down.sql", "DROP TABLE c;\n");
	ck_assert_msg(mig(&f, &out, &err, "up", "--release", "v3", NULL) == 0, "%s", err.buf);
	schema_dump(&f, &before);
	strbuf_reset(&out);
	ck_assert_int_eq(mig(&f, &out, &err, "plan", "--to", "1", "--json", NULL), 0);
	j = result_of(&out);
	ck_assert_str_eq(json_string_value(json_object_get(j, "direction")), "down");
	irr = json_object_get(j, "irreversible");
	ck_assert_uint_eq(json_array_size(irr), 1);
	ck_assert_int_eq(json_integer_value(json_array_get(irr, 0)), 2);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "steps")), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "steps"), 0),
							   "first_line")), "DROP TABLE c;");
	json_decref(j);
	strbuf_reset(&err);
	ck_assert_int_eq(mig(&f, &out, &err, "goto", "1", "--json", NULL), 1);
	ck_assert_msg(strstr(err.buf, "irreversible") && strstr(err.buf, "2 (b)"), "%s", err.buf);
	strbuf_reset(&err);
	ck_assert_int_eq(mig(&f, &out, &err, "down", "--to", "0", NULL), 1);
	ck_assert_ptr_nonnull(strstr(err.buf, "irreversible"));
	/* nothing changed: 3 was not reverted even though it could have been */
	ck_assert_int_eq(status_version(&f, NULL), 3);
	schema_dump(&f, &after);
	ck_assert_str_eq(after.buf, before.buf);
	/* one step down does not cross 2 */
	ck_assert_msg(mig(&f, &out, &err, "down", NULL) == 0, "%s", err.buf);
	ck_assert_int_eq(status_version(&f, NULL), 2);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&before);
	strbuf_release(&after);
	fx_free(&f);
}
END_TEST

START_TEST(test_sql_error_location_and_rollback)
{
	struct fx f;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	PGconn *c;

	fx_init(&f, "sqlerr");
	put(&f, "1_a.up.sql", "CREATE TABLE a (id int);\n");
	put(&f, "2_bad.up.sql", "-- a comment\nCREATE TABLE half (id int);\nSELECT\n  nosuch_col FROM half;\n");
	ck_assert_int_eq(mig(&f, &out, &err, "up", NULL), 1);
	ck_assert_msg(strstr(err.buf, "2_bad.up.sql:4:") && strstr(err.buf, "nosuch_col") &&
		      strstr(err.buf, "does not exist") && strstr(err.buf, "rolled back"), "%s", err.buf);
	/* 1 committed on its own; 2 left nothing behind */
	ck_assert_int_eq(status_version(&f, NULL), 1);
	c = connect_to(f.conninfo);
	ck_assert_int_eq(sql_long(c, "SELECT count(*) FROM pg_class WHERE relname = 'half'"), 0);
	ck_assert_int_eq(sql_long(c, "SELECT count(*) FROM ballast_migrations"), 1);
	PQfinish(c);
	strbuf_release(&out);
	strbuf_release(&err);
	fx_free(&f);
}
END_TEST

START_TEST(test_drift_pending_and_bad_files)
{
	struct fx f;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	json_t *j;

	fx_init(&f, "drift");
	put(&f, "1_a.up.sql", "CREATE TABLE a (id int);\n");
	put(&f, "1_a.down.sql", "DROP TABLE a;\n");
	put(&f, "2_b.up.sql", "CREATE TABLE b (id int);\n");
	/* status on a fresh database changes nothing and lists pending */
	ck_assert_int_eq(mig(&f, &out, &err, "status", "--exit-code", NULL), 5);
	strbuf_reset(&out);
	ck_assert_int_eq(mig(&f, &out, &err, "status", "--json", NULL), 0);
	j = result_of(&out);
	ck_assert_int_eq(jint(j, "current_version"), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "pending")), 2);
	json_decref(j);
	{
		PGconn *c = connect_to(f.conninfo);

		ck_assert_int_eq(sql_long(c, "SELECT count(*) FROM pg_class WHERE relname = 'ballast_migrations'"), 0);
		PQfinish(c);
	}
	ck_assert_int_eq(mig(&f, &out, &err, "up", "--dry-run", NULL), 0);
	ck_assert_int_eq(status_version(&f, NULL), 0);
	ck_assert_msg(mig(&f, &out, &err, "up", "--to", "1", NULL) == 0, "%s", err.buf);
	ck_assert_int_eq(mig(&f, &out, &err, "status", "--exit-code", NULL), 5);
	ck_assert_int_eq(mig(&f, &out, &err, "verify", NULL), 0);
	/* someone edits an applied migration */
	put(&f, "1_a.up.sql", "CREATE TABLE a (id bigint);\n");
	strbuf_reset(&err);
	ck_assert_int_eq(mig(&f, &out, &err, "verify", NULL), 4);
	ck_assert_int_eq(mig(&f, &out, &err, "up", NULL), 4);
	ck_assert_msg(strstr(err.buf, "migration 1 (a) changed"), "%s", err.buf);
	ck_assert_int_eq(status_version(&f, NULL), 1);
	strbuf_reset(&out);
	ck_assert_int_eq(mig(&f, &out, &err, "status", "--json", NULL), 0);
	j = result_of(&out);
	ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(j, "drift"), 0)), 1);
	json_decref(j);
	ck_assert_msg(mig(&f, &out, &err, "up", "--allow-drift", NULL) == 0, "%s", err.buf);
	ck_assert_int_eq(status_version(&f, NULL), 2);

	/* bad directories: exit 2, nothing touched */
	put(&f, "3_c.down.sql", "SELECT 1;\n");
	strbuf_reset(&err);
	ck_assert_int_eq(mig(&f, &out, &err, "up", NULL), 2);
	ck_assert_msg(strstr(err.buf, "3_c.down.sql has no matching .up.sql"), "%s", err.buf);
	put(&f, "3_c.up.sql", "SELECT 1;\n");
	put(&f, "3_d.up.sql", "SELECT 1;\n");
	strbuf_reset(&err);
	ck_assert_int_eq(mig(&f, &out, &err, "up", NULL), 2);
	ck_assert_msg(strstr(err.buf, "two up files for version 3:") && strstr(err.buf, "3_c.up.sql and ") &&
		      strstr(err.buf, "3_d.up.sql"), "%s", err.buf);
	{
		char p[4200];

		snprintf(p, sizeof(p), "%s/3_d.up.sql", f.mdir);
		unlink(p);
	}
	put(&f, "4-e.up.sql", "SELECT 1;\n");
	strbuf_reset(&err);
	ck_assert_int_eq(mig(&f, &out, &err, "up", NULL), 2);
	ck_assert_msg(strstr(err.buf, "4-e.up.sql: expected <version>_<name>"), "%s", err.buf);
	{
		char p[4200];

		snprintf(p, sizeof(p), "%s/4-e.up.sql", f.mdir);
		unlink(p);
	}
	ck_assert_int_eq(status_version(&f, NULL), 2);
	ck_assert_int_eq(mig(&f, &out, &err, "goto", "x", NULL), 2);
	strbuf_release(&out);
	strbuf_release(&err);
	fx_free(&f);
}
END_TEST

START_TEST(test_baseline_history_and_env_connection)
{
	struct fx f;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, bin = STRBUF_INIT, env = STRBUF_INIT;
	PGconn *c;
	json_t *j, *h;

	fx_init(&f, "base");
	c = connect_to(f.conninfo);
	sql_ok(c, "CREATE TABLE legacy (id int)");
	put(&f, "1_legacy.up.sql", "CREATE TABLE legacy (id int);\n");
	put(&f, "1_legacy.down.sql", "DROP TABLE legacy;\n");
	put(&f, "2_more.up.sql", "CREATE TABLE more (id int);\n");
	put(&f, "2_more.down.sql", "DROP TABLE more;\n");
	ck_assert_msg(mig(&f, &out, &err, "baseline", "1", NULL) == 0, "%s", err.buf);
	ck_assert_int_eq(status_version(&f, NULL), 1);
	/* the connection from DATABASE_URL, the release from BALLAST_RELEASE */
	strbuf_addf(&env, "DATABASE_URL=%s", f.conninfo);
	{
		const char *argv[] = { tbin("ballast-migrate", &bin), "up", "--dir", f.mdir, NULL };
		const char *envv[] = { env.buf, "BALLAST_RELEASE=v9.9.9", NULL };

		ck_assert_msg(trun(argv, envv, &out, &err) == 0, "%s", err.buf);
	}
	ck_assert_int_eq(sql_long(c, "SELECT count(*) FROM pg_class WHERE relname = 'more'"), 1);
	strbuf_reset(&out);
	ck_assert_int_eq(mig(&f, &out, &err, "history", "--json", NULL), 0);
	j = result_of(&out);
	h = json_object_get(j, "history");
	ck_assert_uint_eq(json_array_size(h), 2);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_array_get(h, 0), "note")), "baseline"));
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(h, 1), "release")), "v9.9.9");
	json_decref(j);
	/* the baseline stored the down SQL of its file: down to 0 works */
	ck_assert_msg(mig(&f, &out, &err, "goto", "0", NULL) == 0, "%s", err.buf);
	ck_assert_int_eq(sql_long(c, "SELECT count(*) FROM pg_class WHERE relname IN ('more', 'legacy')"), 0);
	ck_assert_int_eq(status_version(&f, NULL), 0);
	PQfinish(c);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&bin);
	strbuf_release(&env);
	fx_free(&f);
}
END_TEST

/* Run ballast-migrate with argv exactly as given (NULL-terminated), for
 * option orders that mig() does not produce. */
static int mig_argv(struct strbuf *out, struct strbuf *err, const char *first, ...)
{
	const char *pre[] = { first };
	va_list ap;
	int rc;

	va_start(ap, first);
	rc = mig_va(pre, 1, ap, out, err);
	va_end(ap);
	return rc;
}

/* A golang-migrate folder as it is: up and down paired by version even
 * where their names differ; both names reported; the stored down is the
 * differently named file. */
START_TEST(test_golang_migrate_pairs)
{
	struct fx f;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	PGconn *c;
	json_t *j, *p;

	fx_init(&f, "gmpair");
	put(&f, "1_create_tables.up.sql", "CREATE TABLE coll (id int);\n");
	put(&f, "1_create_tables.down.sql", "DROP TABLE coll;\n");
	put(&f, "2_collection_pub_magic_metadata.up.sql", "ALTER TABLE coll ADD COLUMN pub jsonb;\n");
	put(&f, "2_collection_drop_pub_magic_metadata.down.sql", "ALTER TABLE coll DROP COLUMN pub;\n");
	strbuf_reset(&out);
	ck_assert_msg(mig(&f, &out, &err, "status", "--json", NULL) == 0, "%s", err.buf);
	j = result_of(&out);
	p = json_array_get(json_object_get(j, "pending"), 1);
	ck_assert_str_eq(json_string_value(json_object_get(p, "name")), "collection_pub_magic_metadata");
	ck_assert_str_eq(json_string_value(json_object_get(p, "down_name")),
			 "collection_drop_pub_magic_metadata");
	ck_assert(json_is_true(json_object_get(p, "reversible")));
	json_decref(j);
	strbuf_reset(&out);
	ck_assert_int_eq(mig(&f, &out, &err, "status", NULL), 0);
	ck_assert_msg(strstr(out.buf, "down file named collection_drop_pub_magic_metadata"), "%s", out.buf);
	ck_assert_msg(mig(&f, &out, &err, "up", NULL) == 0, "%s", err.buf);
	c = connect_to(f.conninfo);
	ck_assert_int_eq(sql_long(c, "SELECT count(*) FROM information_schema.columns "
				     "WHERE table_name = 'coll' AND column_name = 'pub'"), 1);
	ck_assert_msg(mig(&f, &out, &err, "down", NULL) == 0, "%s", err.buf);
	ck_assert_int_eq(sql_long(c, "SELECT count(*) FROM information_schema.columns "
				     "WHERE table_name = 'coll' AND column_name = 'pub'"), 0);
	ck_assert_int_eq(status_version(&f, NULL), 1);
	PQfinish(c);
	strbuf_release(&out);
	strbuf_release(&err);
	fx_free(&f);
}
END_TEST

/* A file with its own BEGIN/COMMIT cannot be rolled back as one: it runs
 * statement by statement, dirty first, and a failure says so honestly. */
START_TEST(test_in_file_transaction_control)
{
	struct fx f;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	PGconn *c;
	int dirty = 0;

	fx_init(&f, "inftx");
	c = connect_to(f.conninfo);
	/* the reproduction from the issue, BEGIN on line 2 */
	put(&f, "1_half.up.sql", "create table a (i int);\nBEGIN;\ncreate table b (i int);\n"
			    "COMMIT;\ncreate table c (i int);\nselect 1/0;\n");
	put(&f, "1_half.down.sql", "drop table c; drop table b; drop table a;\n");
	/* under --strict-transactions: refused before anything runs */
	strbuf_reset(&err);
	ck_assert_int_eq(mig(&f, &out, &err, "up", "--strict-transactions", NULL), 2);
	ck_assert_msg(strstr(err.buf, "1_half.up.sql:2: BEGIN inside the file") &&
		      strstr(err.buf, "nothing was changed"), "%s", err.buf);
	ck_assert_int_eq(sql_long(c, "SELECT count(*) FROM pg_class WHERE relname IN ('a', 'b', 'c')"), 0);
	ck_assert_int_eq(status_version(&f, NULL), 0);
	/* the same from ballast.json: migrations.strict_transactions */
	{
		struct strbuf bin = STRBUF_INIT;
		char cfg[4200], text[8400];
		const char *argv[] = { tbin("ballast-migrate", &bin), "--config", cfg, "up",
				       "--database", f.conninfo, NULL };

		snprintf(cfg, sizeof(cfg), "%s/ballast.json", f.dir);
		snprintf(text, sizeof(text), "{ \"project\": \"t\", \"migrations\": { \"dir\": "
			 "\"%s\", \"strict_transactions\": true } }\n", f.mdir);
		ck_assert_int_eq(twrite_file(cfg, text), 0);
		strbuf_reset(&err);
		ck_assert_int_eq(trun(argv, NULL, &out, &err), 2);
		ck_assert_msg(strstr(err.buf, "1_half.up.sql:2: BEGIN inside the file"), "%s",
			      err.buf);
		ck_assert_int_eq(status_version(&f, NULL), 0);
		strbuf_release(&bin);
	}
	strbuf_reset(&err);
	ck_assert_int_eq(mig(&f, &out, &err, "up", NULL), 1);
	ck_assert_msg(strstr(err.buf, "1_half.up.sql:2: BEGIN inside the file") &&
		      strstr(err.buf, "warning"), "%s", err.buf);
	ck_assert_msg(strstr(err.buf, "1_half.up.sql:6") && strstr(err.buf, "division by zero") &&
		      strstr(err.buf, "marked dirty at 1"), "%s", err.buf);
	ck_assert_msg(!strstr(err.buf, "rolled back"), "%s", err.buf);
	ck_assert_int_eq(sql_long(c, "SELECT count(*) FROM pg_class WHERE relname IN ('a', 'b', 'c')"), 3);
	ck_assert_int_eq(status_version(&f, &dirty), 1);
	ck_assert_int_eq(dirty, 1);
	/* the next up does not trip over "relation a already exists": it
	 * refuses on the dirty mark */
	strbuf_reset(&err);
	ck_assert_int_eq(mig(&f, &out, &err, "up", NULL), 1);
	ck_assert_msg(strstr(err.buf, "dirty at version 1"), "%s", err.buf);
	ck_assert_msg(mig(&f, &out, &err, "force", "1", NULL) == 0, "%s", err.buf);

	/* timeouts hold after the file's COMMIT and its own SET: they are set
	 * again before every statement */
	put(&f, "2_own.up.sql",
	    "BEGIN;\nSET LOCAL lock_timeout = 0;\nCREATE TABLE d (i int);\nCOMMIT;\n"
	    "SET lock_timeout = 0;\nSET statement_timeout = 0;\n"
	    "DO $$ BEGIN IF current_setting('lock_timeout') <> '5s' OR "
	    "current_setting('statement_timeout') <> '0' THEN RAISE EXCEPTION "
	    "'lock_timeout is %', current_setting('lock_timeout'); END IF; END $$;\n");
	put(&f, "2_own.down.sql", "BEGIN;\nDROP TABLE d;\nCOMMIT;\n");
	ck_assert_msg(mig(&f, &out, &err, "up", NULL) == 0, "%s", err.buf);
	ck_assert_int_eq(status_version(&f, &dirty), 2);
	ck_assert_int_eq(dirty, 0);
	/* a file that opens a transaction and never closes it: the open part
	 * is rolled back and the migration stays dirty */
	put(&f, "3_open.up.sql", "CREATE TABLE e (i int);\nBEGIN;\nCREATE TABLE f (i int);\n");
	strbuf_reset(&err);
	ck_assert_int_eq(mig(&f, &out, &err, "up", NULL), 1);
	ck_assert_msg(strstr(err.buf, "ends inside a transaction it opened"), "%s", err.buf);
	ck_assert_int_eq(sql_long(c, "SELECT count(*) FROM pg_class WHERE relname = 'e'"), 1);
	ck_assert_int_eq(sql_long(c, "SELECT count(*) FROM pg_class WHERE relname = 'f'"), 0);
	ck_assert_int_eq(status_version(&f, &dirty), 3);
	ck_assert_int_eq(dirty, 1);
	ck_assert_msg(mig(&f, &out, &err, "force", "2", NULL) == 0, "%s", err.buf);
	sql_ok(c, "DROP TABLE e");
	{
		char p[4200];

		snprintf(p, sizeof(p), "%s/3_open.up.sql", f.mdir);
		unlink(p);
	}
	/* the stored down with its own BEGIN/COMMIT runs the same way */
	strbuf_reset(&err);
	ck_assert_msg(mig(&f, &out, &err, "down", NULL) == 0, "%s", err.buf);
	ck_assert_msg(strstr(err.buf, "stored down SQL of 2_own:1: BEGIN inside the file"), "%s", err.buf);
	ck_assert_int_eq(sql_long(c, "SELECT count(*) FROM pg_class WHERE relname = 'd'"), 0);
	ck_assert_int_eq(status_version(&f, &dirty), 1);
	ck_assert_int_eq(dirty, 0);
	PQfinish(c);
	strbuf_release(&out);
	strbuf_release(&err);
	fx_free(&f);
}
END_TEST

/* A file older than the current version (a merged branch) is never
 * skipped silently: up refuses naming it, verify reports it, goto does
 * not go down for it, --allow-out-of-order applies it on the record. */
START_TEST(test_out_of_order)
{
	struct fx f;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	PGconn *c;
	json_t *j, *h;

	fx_init(&f, "ooo");
	c = connect_to(f.conninfo);
	put(&f, "1_a.up.sql", "CREATE TABLE a (i int);\n");
	put(&f, "1_a.down.sql", "DROP TABLE a;\n");
	put(&f, "3_c.up.sql", "CREATE TABLE c (i int);\n");
	put(&f, "3_c.down.sql", "DROP TABLE c;\n");
	ck_assert_msg(mig(&f, &out, &err, "up", NULL) == 0, "%s", err.buf);
	put(&f, "2_b.up.sql", "CREATE TABLE b (i int);\n");
	put(&f, "2_b.down.sql", "DROP TABLE b;\n");
	/* nothing newer pending: still refused, not "nothing to do" */
	strbuf_reset(&err);
	ck_assert_int_eq(mig(&f, &out, &err, "up", NULL), 2);
	ck_assert_msg(strstr(err.buf, "2_b.up.sql is not applied but older than the current version 3"),
		      "%s", err.buf);
	/* and with something newer pending too */
	put(&f, "4_d.up.sql", "CREATE TABLE d (i int);\n");
	put(&f, "4_d.down.sql", "DROP TABLE d;\n");
	strbuf_reset(&err);
	ck_assert_int_eq(mig(&f, &out, &err, "up", NULL), 2);
	ck_assert_msg(strstr(err.buf, "2_b.up.sql"), "%s", err.buf);
	ck_assert_int_eq(mig(&f, &out, &err, "up", "--dry-run", NULL), 2);
	ck_assert_int_eq(status_version(&f, NULL), 3);
	/* status lists it pending and out of order; verify fails */
	strbuf_reset(&out);
	ck_assert_int_eq(mig(&f, &out, &err, "status", "--json", NULL), 0);
	j = result_of(&out);
	ck_assert(json_is_true(json_object_get(json_array_get(json_object_get(j, "pending"), 0),
					       "out_of_order")));
	ck_assert(json_is_false(json_object_get(json_array_get(json_object_get(j, "pending"), 1),
						"out_of_order")));
	json_decref(j);
	strbuf_reset(&err);
	ck_assert_int_eq(mig(&f, &out, &err, "verify", NULL), 4);
	ck_assert_msg(strstr(err.buf, "2_b.up.sql"), "%s", err.buf);
	strbuf_reset(&out);
	ck_assert_int_eq(mig(&f, &out, &err, "verify", "--json", NULL), 4);
	j = result_of(&out);
	ck_assert(json_is_false(json_object_get(j, "ok")));
	ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(j, "out_of_order"), 0)), 2);
	json_decref(j);
	/* goto 2 does not revert 3 for a migration never applied */
	strbuf_reset(&err);
	ck_assert_int_eq(mig(&f, &out, &err, "goto", "2", NULL), 2);
	ck_assert_msg(strstr(err.buf, "out of order"), "%s", err.buf);
	ck_assert_int_eq(mig(&f, &out, &err, "plan", "--to", "2", NULL), 2);
	ck_assert_int_eq(status_version(&f, NULL), 3);
	ck_assert_int_eq(sql_long(c, "SELECT count(*) FROM pg_class WHERE relname = 'c'"), 1);
	/* applied explicitly, recorded in the history */
	ck_assert_msg(mig(&f, &out, &err, "up", "--allow-out-of-order", NULL) == 0, "%s", err.buf);
	ck_assert_int_eq(sql_long(c, "SELECT count(*) FROM pg_class WHERE relname IN ('b', 'd')"), 2);
	ck_assert_int_eq(status_version(&f, NULL), 4);
	strbuf_reset(&out);
	ck_assert_int_eq(mig(&f, &out, &err, "history", "--json", NULL), 0);
	j = result_of(&out);
	h = json_object_get(j, "history");
	ck_assert_int_eq(jint(json_array_get(h, 2), "version"), 2);
	ck_assert_msg(strstr(json_string_value(json_object_get(json_array_get(h, 2), "note")),
			     "out of order"), "%s", out.buf);
	json_decref(j);
	ck_assert_int_eq(mig(&f, &out, &err, "verify", NULL), 0);
	/* down goes back in version order, 2 included */
	ck_assert_msg(mig(&f, &out, &err, "goto", "1", NULL) == 0, "%s", err.buf);
	ck_assert_int_eq(sql_long(c, "SELECT count(*) FROM pg_class WHERE relname IN ('b', 'c', 'd')"), 0);
	PQfinish(c);
	strbuf_release(&out);
	strbuf_release(&err);
	fx_free(&f);
}
END_TEST

/* golang-migrate habits: `up N`/`down N` are steps, and the options may
 * come before the command. */
START_TEST(test_steps_and_option_order)
{
	struct fx f;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;

	fx_init(&f, "steps");
	for (int i = 1; i <= 4; i++) {
		char n[64], sql[128];

		snprintf(n, sizeof(n), "%d_t%d.up.sql", i, i);
		snprintf(sql, sizeof(sql), "CREATE TABLE t%d (i int);\n", i);
		put(&f, n, sql);
		snprintf(n, sizeof(n), "%d_t%d.down.sql", i, i);
		snprintf(sql, sizeof(sql), "DROP TABLE t%d;\n", i);
		put(&f, n, sql);
	}
	ck_assert_msg(mig_argv(&out, &err, "--database", f.conninfo, "--dir", f.mdir, "up", "1", NULL) == 0,
		      "%s", err.buf);
	ck_assert_int_eq(status_version(&f, NULL), 1);
	{
		struct strbuf d = STRBUF_INIT;

		strbuf_addf(&d, "--dir=%s", f.mdir);
		ck_assert_msg(mig_argv(&out, &err, "--json", d.buf, "--database", f.conninfo, "up",
				       "--steps", "2", NULL) == 0, "%s", err.buf);
		strbuf_release(&d);
	}
	ck_assert_int_eq(status_version(&f, NULL), 3);
	ck_assert_msg(mig(&f, &out, &err, "down", "2", NULL) == 0, "%s", err.buf);
	ck_assert_int_eq(status_version(&f, NULL), 1);
	strbuf_reset(&err);
	ck_assert_int_eq(mig(&f, &out, &err, "up", "x", NULL), 2);
	ck_assert_msg(strstr(err.buf, "--to VERSION"), "%s", err.buf);
	ck_assert_int_eq(mig(&f, &out, &err, "up", "0", NULL), 2);
	ck_assert_int_eq(mig(&f, &out, &err, "up", "2", "--to", "3", NULL), 2);
	ck_assert_int_eq(status_version(&f, NULL), 1);
	ck_assert_msg(mig(&f, &out, &err, "up", NULL) == 0, "%s", err.buf);
	ck_assert_int_eq(status_version(&f, NULL), 4);
	strbuf_release(&out);
	strbuf_release(&err);
	fx_free(&f);
}
END_TEST

/* A dbmate folder and a goose folder as they are: single files with both
 * directions, applied, reverted from the stored SQL with no directory, and
 * applied again; errors carry the file's own line numbers. */
/* files: three good files (name, text) in [0..5], a bad one in [6..7]
 * and where its error must point in [8]. */
static void single_file_history(const char *tag, const char *const *files)
{
	struct fx f;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, dump1 = STRBUF_INIT, dump2 = STRBUF_INIT;
	char nodir[4200];
	PGconn *c;
	int dirty = 0;

	fx_init(&f, tag);
	for (size_t i = 0; i < 6; i += 2)
		put(&f, files[i], files[i + 1]);
	ck_assert_msg(mig(&f, &out, &err, "up", NULL) == 0, "%s: %s", tag, err.buf);
	ck_assert_int_eq(status_version(&f, &dirty), 20240103000000LL);
	ck_assert_int_eq(dirty, 0);
	c = connect_to(f.conninfo);
	ck_assert_int_eq(sql_long(c, "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
				     "WHERE c.relname = 'users_email' AND i.indisvalid"), 1);
	ck_assert_int_eq(sql_long(c, "SELECT f_one()"), 1);
	ck_assert_int_eq(sql_long(c, "SELECT count(*) FROM users"), 1);
	schema_dump(&f, &dump1);
	/* the downs come from the database */
	snprintf(nodir, sizeof(nodir), "%s/gone", f.dir);
	{
		struct strbuf bin = STRBUF_INIT;
		const char *argv[] = { tbin("ballast-migrate", &bin), "down", "--to", "0", "--database",
				       f.conninfo, "--dir", nodir, NULL };

		ck_assert_msg(trun(argv, NULL, &out, &err) == 0, "%s: %s", tag, err.buf);
		strbuf_release(&bin);
	}
	ck_assert_int_eq(sql_long(c, "SELECT count(*) FROM pg_class WHERE relname IN ('users', 'users_email')"), 0);
	ck_assert_int_eq(sql_long(c, "SELECT count(*) FROM pg_proc WHERE proname = 'f_one'"), 0);
	ck_assert_int_eq(status_version(&f, NULL), 0);
	ck_assert_msg(mig(&f, &out, &err, "up", NULL) == 0, "%s: %s", tag, err.buf);
	schema_dump(&f, &dump2);
	ck_assert_str_eq(dump1.buf, dump2.buf);
	/* an error's line is the file's */
	put(&f, files[6], files[7]);
	strbuf_reset(&err);
	ck_assert_int_eq(mig(&f, &out, &err, "up", NULL), 1);
	ck_assert_msg(strstr(err.buf, files[8]) && strstr(err.buf, "nosuch"), "%s: %s", tag, err.buf);
	PQfinish(c);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&dump1);
	strbuf_release(&dump2);
	fx_free(&f);
}

START_TEST(test_dbmate_format)
{
	static const char *const files[] = {
		"20240101000000_users.sql",
		"-- migrate:up\n"
		"create table users (id int primary key, email text);\n"
		"insert into users values (1, 'a@example.com');\n"
		"\n"
		"-- migrate:down\n"
		"drop table users;\n",
		"20240102000000_email_index.sql",
		"-- migrate:up transaction:false\n"
		"create index concurrently users_email on users (email);\n"
		"\n"
		"-- migrate:down transaction:false\n"
		"drop index concurrently users_email;\n",
		"20240103000000_fn.sql",
		"-- migrate:up\n"
		"create function f_one() returns int language plpgsql as $$\n"
		"begin\n  return 1;\nend\n$$;\n"
		"-- migrate:down\n"
		"drop function f_one();\n",
		"20240104000000_bad.sql",
		"-- migrate:up\n"
		"\n"
		"select nosuch from users;\n"
		"-- migrate:down\n",
		"20240104000000_bad.sql:3",
		NULL
	};

	single_file_history("dbmate", files);
}
END_TEST

START_TEST(test_goose_format)
{
	static const char *const files[] = {
		"20240101000000_users.sql",
		"-- +goose Up\n"
		"create table users (id int primary key, email text);\n"
		"insert into users values (1, 'a@example.com');\n"
		"\n"
		"-- +goose Down\n"
		"drop table users;\n",
		"20240102000000_email_index.sql",
		"-- +goose NO TRANSACTION\n"
		"-- +goose Up\n"
		"create index concurrently users_email on users (email);\n"
		"select 1;\n"
		"\n"
		"-- +goose Down\n"
		"drop index concurrently users_email;\n",
		"20240103000000_fn.sql",
		"-- +goose Up\n"
		"-- +goose StatementBegin\n"
		"create function f_one() returns int language plpgsql as $$\n"
		"begin\n  return 1;\nend\n$$;\n"
		"-- +goose StatementEnd\n"
		"\n"
		"-- +goose Down\n"
		"drop function f_one();\n",
		"20240104000000_bad.sql",
		"-- +goose Up\n"
		"select 1;\n"
		"\n"
		"select nosuch from users;\n",
		"20240104000000_bad.sql:4",
		NULL
	};

	single_file_history("goose", files);
}
END_TEST

/* Adopting a database another tool migrated: baseline without V finds the
 * tool's table and proposes its version; baseline V stores the downs read
 * from the files then, so the adopted versions can be reverted later. */
START_TEST(test_baseline_detects_other_tools)
{
	struct fx f;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	PGconn *c;
	json_t *j;

	fx_init(&f, "bldet");
	c = connect_to(f.conninfo);
	put(&f, "1_a.up.sql", "CREATE TABLE a (i int);\n");
	put(&f, "1_a.down.sql", "DROP TABLE a;\n");
	put(&f, "2_b.up.sql", "CREATE TABLE b (i int);\n");
	put(&f, "2_b_drop.down.sql", "DROP TABLE b;\n");
	put(&f, "3_c.up.sql", "CREATE TABLE c (i int);\n");
	put(&f, "3_c.down.sql", "DROP TABLE c;\n");
	/* nothing to detect */
	strbuf_reset(&err);
	ck_assert_int_eq(mig(&f, &out, &err, "baseline", NULL), 2);
	ck_assert_msg(strstr(err.buf, "no golang-migrate, dbmate, goose or Alembic"), "%s", err.buf);
	/* golang-migrate ran 1 and 2 */
	sql_ok(c, "CREATE TABLE a (i int); CREATE TABLE b (i int)");
	sql_ok(c, "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)");
	sql_ok(c, "INSERT INTO schema_migrations VALUES (2, true)");
	strbuf_reset(&err);
	ck_assert_int_eq(mig(&f, &out, &err, "baseline", NULL), 1);
	ck_assert_msg(strstr(err.buf, "dirty at version 2"), "%s", err.buf);
	sql_ok(c, "UPDATE schema_migrations SET dirty = false");
	strbuf_reset(&out);
	ck_assert_msg(mig(&f, &out, &err, "baseline", "--json", NULL) == 0, "%s", err.buf);
	j = result_of(&out);
	ck_assert_int_eq(jint(j, "proposed"), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "detected"), 0),
							    "tool")), "golang-migrate");
	json_decref(j);
	ck_assert_int_eq(status_version(&f, NULL), 0);
	ck_assert_msg(mig(&f, &out, &err, "baseline", "2", NULL) == 0, "%s", err.buf);
	ck_assert_msg(mig(&f, &out, &err, "up", NULL) == 0, "%s", err.buf);
	ck_assert_int_eq(status_version(&f, NULL), 3);
	/* the downs of the adopted versions were stored: no files needed */
	{
		struct strbuf bin = STRBUF_INIT;
		char nodir[4200];
		const char *argv[] = { tbin("ballast-migrate", &bin), "goto", "0", "--database", f.conninfo,
				       "--dir", nodir, NULL };

		snprintf(nodir, sizeof(nodir), "%s/gone", f.dir);
		ck_assert_msg(trun(argv, NULL, &out, &err) == 0, "%s", err.buf);
		strbuf_release(&bin);
	}
	ck_assert_int_eq(sql_long(c, "SELECT count(*) FROM pg_class WHERE relname IN ('a', 'b', 'c')"), 0);
	/* goose: the latest row per version says whether it is applied */
	sql_ok(c, "DROP TABLE schema_migrations");
	sql_ok(c, "CREATE TABLE goose_db_version (id serial PRIMARY KEY, version_id bigint NOT NULL,"
		  " is_applied boolean NOT NULL, tstamp timestamp DEFAULT now())");
	sql_ok(c, "INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (1, true),"
		  " (2, true), (3, true), (3, false)");
	strbuf_reset(&out);
	ck_assert_msg(mig(&f, &out, &err, "baseline", "--json", NULL) == 0, "%s", err.buf);
	j = result_of(&out);
	ck_assert_int_eq(jint(j, "proposed"), 2);
	json_decref(j);
	/* dbmate: one text row per applied version */
	sql_ok(c, "DROP TABLE goose_db_version");
	sql_ok(c, "CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY)");
	sql_ok(c, "INSERT INTO schema_migrations VALUES ('1'), ('3')");
	strbuf_reset(&out);
	ck_assert_msg(mig(&f, &out, &err, "baseline", NULL) == 0, "%s", err.buf);
	ck_assert_msg(strstr(out.buf, "found dbmate's public.schema_migrations at version 3") &&
		      strstr(out.buf, "baseline 3"), "%s", out.buf);
	/* Alembic: a revision, not a number: reported, nothing proposed */
	sql_ok(c, "DROP TABLE schema_migrations");
	sql_ok(c, "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)");
	sql_ok(c, "INSERT INTO alembic_version VALUES ('ae1027a6acf')");
	strbuf_reset(&out);
	strbuf_reset(&err);
	ck_assert_int_eq(mig(&f, &out, &err, "baseline", NULL), 2);
	ck_assert_msg(strstr(out.buf, "revision ae1027a6acf"), "%s", out.buf);
	PQfinish(c);
	strbuf_release(&out);
	strbuf_release(&err);
	fx_free(&f);
}
END_TEST

static int new_in(struct fx *f, struct strbuf *out, const char *name, const char *opt)
{
	struct strbuf bin = STRBUF_INIT, err = STRBUF_INIT;
	const char *argv[] = { tbin("ballast-migrate", &bin), "new", name, "--dir", f->mdir, opt, NULL };
	int rc = trun(argv, NULL, out, &err);

	strbuf_release(&bin);
	strbuf_release(&err);
	return rc;
}

START_TEST(test_new_pair)
{
	struct fx f;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	json_t *j;
	const char *up;

	fx_init(&f, "new");
	ck_assert_int_eq(new_in(&f, &out, "add_users", "--json"), 0);
	j = result_of(&out);
	up = json_string_value(json_object_get(j, "up"));
	ck_assert_int_ge(jint(j, "version"), 20260101000000LL);
	ck_assert_int_eq(access(up, F_OK), 0);
	ck_assert_int_eq(access(json_string_value(json_object_get(j, "down")), F_OK), 0);
	json_decref(j);
	/* a second one in the same second still sorts after the first */
	strbuf_reset(&out);
	ck_assert_int_eq(new_in(&f, &out, "add_more", NULL), 0);
	ck_assert_int_eq(new_in(&f, &out, "bad name", NULL), 2);
	ck_assert_msg(mig(&f, &out, &err, "up", NULL) == 0, "%s", err.buf);
	strbuf_reset(&out);
	ck_assert_int_eq(mig(&f, &out, &err, "status", "--json", NULL), 0);
	j = result_of(&out);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "applied")), 2);
	json_decref(j);
	strbuf_release(&out);
	strbuf_release(&err);
	fx_free(&f);
}
END_TEST

/* The database from ballast.json: databases[] entry named by
 * migrations.database, password from password_env over TCP (scram), the
 * directory relative to the config file. */
START_TEST(test_config_database)
{
	struct fx f;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, bin = STRBUF_INIT, ci = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	char *tcp = tsvc_read("pg", "conninfo_tcp"), *pw = tsvc_read("pg", "password");
	char cfg[4200], text[8400], envpw[256];
	json_t *j;
	int rc;

	fx_init(&f, "cfgdb");
	put(&f, "1_a.up.sql", "CREATE TABLE a (id int);\n");
	ck_assert_int_eq(pg_conninfo_with_db(tcp, f.dbname, &ci, &e), 0);
	snprintf(cfg, sizeof(cfg), "%s/ballast.json", f.dir);
	snprintf(text, sizeof(text),
		 "{ \"databases\": [ { \"name\": \"other\", \"conninfo\": \"host=/nonexistent\" },"
		 " { \"name\": \"app\", \"conninfo\": \"%s\", \"password_env\": \"MIG_TEST_PW\" } ],"
		 " \"migrations\": { \"database\": \"app\", \"dir\": \"m\" } }\n", ci.buf);
	ck_assert_int_eq(twrite_file(cfg, text), 0);
	snprintf(envpw, sizeof(envpw), "MIG_TEST_PW=%s", pw);
	{
		const char *argv[] = { tbin("ballast-migrate", &bin), "--config", cfg, "up", "--json", NULL };
		const char *envv[] = { envpw, "DATABASE_URL", "PGPASSWORD", NULL };

		rc = trun(argv, envv, &out, &err);
		ck_assert_msg(rc == 0, "%s", err.buf);
		j = result_of(&out);
		ck_assert_uint_eq(json_array_size(json_object_get(j, "applied")), 1);
		json_decref(j);
	}
	ck_assert_int_eq(status_version(&f, NULL), 1);
	{
		/* a wrong password fails with a line that does not show it */
		const char *argv[] = { tbin("ballast-migrate", &bin), "--config", cfg, "status", NULL };
		const char *envv[] = { "MIG_TEST_PW=wrong-secret-pw", "PGPASSWORD", NULL };

		strbuf_reset(&err);
		ck_assert_int_eq(trun(argv, envv, &out, &err), 1);
		ck_assert_msg(strstr(err.buf, "password") && !strstr(err.buf, "wrong-secret-pw"), "%s", err.buf);
	}
	snprintf(text, sizeof(text), "{ \"migrations\": { \"database\": \"nope\" } }\n");
	ck_assert_int_eq(twrite_file(cfg, text), 0);
	{
		const char *argv[] = { tbin("ballast-migrate", &bin), "--config", cfg, "status", NULL };

		strbuf_reset(&err);
		ck_assert_int_eq(trun(argv, NULL, &out, &err), 2);
		ck_assert_msg(strstr(err.buf, "migrations.database") && strstr(err.buf, "nope"), "%s", err.buf);
	}
	free(tcp);
	free(pw);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&bin);
	strbuf_release(&ci);
	fx_free(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("migrate_cli");
	TCase *tc = tcase_create("migrate");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_fifty_then_down_without_files);
	tcase_add_test(tc, test_two_concurrent_ups);
	tcase_add_test(tc, test_no_transaction_and_dirty);
	tcase_add_test(tc, test_lock_timeout);
	tcase_add_test(tc, test_advisory_lock_wait);
	tcase_add_test(tc, test_irreversible_refused);
	tcase_add_test(tc, test_sql_error_location_and_rollback);
	tcase_add_test(tc, test_drift_pending_and_bad_files);
	tcase_add_test(tc, test_baseline_history_and_env_connection);
	tcase_add_test(tc, test_new_pair);
	tcase_add_test(tc, test_config_database);
	tcase_add_test(tc, test_golang_migrate_pairs);
	tcase_add_test(tc, test_in_file_transaction_control);
	tcase_add_test(tc, test_out_of_order);
	tcase_add_test(tc, test_steps_and_option_order);
	tcase_add_test(tc, test_dbmate_format);
	tcase_add_test(tc, test_goose_format);
	tcase_add_test(tc, test_baseline_detects_other_tools);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
