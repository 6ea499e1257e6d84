// services: pg
/* Exact row counts from the dump stream against a real PostgreSQL: Pagila
 * plus tables with newlines, tabs, backslashes, NULLs and "\." in their text,
 * odd names, no columns, no rows, and a large object. The parser's counts on
 * pg_dump -Fc -Z0 output equal count(*) for every table; ballast-backup run
 * records them with row_counts_source "stream", also through a dump_command
 * that pipes through gzip and back, and falls back to counting in the
 * snapshot (same counts) when the stream is unreadable or lacks a table. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tbackup.h"
#include "dumpcount.h"

static void setup(void)
{
	load_pagila("mix");
	sql("mix", "CREATE TABLE public.odd (id int, t text, b bytea); "
	    "INSERT INTO public.odd VALUES (1, E'line1\\nline2\\r\\n', '\\x0a0d'), "
	    "(2, E'tab\\there\\\\back\\\\', NULL), (3, NULL, '\\x5c2e0a'), "
	    "(4, E'\\\\.', ''), (5, '', E'\\\\x'), (6, E'\\n\\n\\n', NULL)");
	sql("mix", "CREATE SCHEMA \"Odd Schema\"; "
	    "CREATE TABLE \"Odd Schema\".\"we\"\"ird\ntbl\" (x text); "
	    "INSERT INTO \"Odd Schema\".\"we\"\"ird\ntbl\" SELECT 'r' || g FROM generate_series(1, 777) g; "
	    "CREATE TABLE public.nocols (); INSERT INTO public.nocols DEFAULT VALUES; "
	    "INSERT INTO public.nocols DEFAULT VALUES; CREATE TABLE public.empty (a int); "
	    "SELECT lo_from_bytea(0, convert_to(E'large\\nobject\\n\\\\.\\n', 'UTF8'))");
	/* rows larger than a join (they pass as they are) between small ones */
	sql("mix", "CREATE TABLE public.wide (id int, t text); "
	    "INSERT INTO public.wide SELECT g, CASE WHEN g %% 500 = 0 THEN repeat(md5(g::text), 4000) "
	    "ELSE md5(g::text) END FROM generate_series(1, 3000) g");
}

/* {"schema.name": count(*)} for every ordinary user table of db. */
static json_t *real_counts(const char *db)
{
	PGconn *c = db_connect(db);
	PGresult *r = PQexec(c, "SELECT n.nspname, c.relname, format('SELECT count(*) FROM %I.%I', "
			     "n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON "
			     "n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN "
			     "('pg_catalog', 'information_schema')");
	json_t *o = json_object();

	ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
	for (int i = 0; i < PQntuples(r); i++) {
		PGresult *q = PQexec(c, PQgetvalue(r, i, 2));
		char key[512];

		ck_assert_int_eq(PQresultStatus(q), PGRES_TUPLES_OK);
		snprintf(key, sizeof(key), "%s.%s", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
		json_object_set_new(o, key, json_integer(strtoll(PQgetvalue(q, 0, 0), NULL, 10)));
		PQclear(q);
	}
	PQclear(r);
	PQfinish(c);
	ck_assert_int_gt((int)json_object_size(o), 20);
	return o;
}

START_TEST(test_parser_on_pg_dump)
{
	char *ci = tpg_conninfo("mix");
	const char *argv[] = { "pg_dump", "--format=custom", "--compress=0", ci, NULL };
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	const struct dumpcount_table *t;
	json_t *want = real_counts("mix");
	struct dumpcount *dc = dumpcount_new();
	size_t n, off;

	argv[3] = ci;
	ck_assert_msg(trun(argv, NULL, &out, &err) == 0, "pg_dump: %s", err.buf);
	for (off = 0; off < out.len; off += 7777)
		dumpcount_feed(dc, out.buf + off, out.len - off < 7777 ? out.len - off : 7777);
	ck_assert_msg(dumpcount_finish(dc, &t, &n, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(n, json_object_size(want));
	for (size_t i = 0; i < n; i++) {
		char key[512];

		snprintf(key, sizeof(key), "%s.%s", t[i].schema, t[i].name);
		ck_assert_msg(json_object_get(want, key), "%s is not a table", key);
		ck_assert_msg(t[i].rows == json_integer_value(json_object_get(want, key)),
			      "%s: stream %lld, count(*) %lld", key, t[i].rows,
			      (long long)json_integer_value(json_object_get(want, key)));
	}
	ck_assert_int_eq(json_integer_value(json_object_get(want, "public.odd")), 6);
	ck_assert_int_eq(json_integer_value(json_object_get(want, "public.nocols")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(want, "Odd Schema.we\"ird\ntbl")), 777);
	dumpcount_free(dc);
	json_decref(want);
	strbuf_release(&out);
	strbuf_release(&err);
	free(ci);
}
END_TEST

static int to_strbuf(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	(void)e;
	strbuf_add(ctx, buf, len);
	return 0;
}

/* pg_dump's archive passed through dumpcount_pass (fed in odd pieces) is
 * smaller, restores with pg_restore, and holds the same rows, large object
 * included. */
START_TEST(test_pass_restores)
{
	char *ci = tpg_conninfo("mix"), *ti, path[] = "/tmp/ballast-joined-XXXXXX";
	const char *dump[] = { "pg_dump", "--format=custom", "--compress=0", NULL, NULL };
	const char *restore[] = { "pg_restore", "--exit-on-error", "--no-owner", NULL, path, NULL };
	struct strbuf in = STRBUF_INIT, out = STRBUF_INIT, err = STRBUF_INIT, cmd = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct dumpcount *dc = dumpcount_new();
	int fd;

	dump[3] = ci;
	ck_assert_msg(trun(dump, NULL, &in, &err) == 0, "pg_dump: %s", err.buf);
	dumpcount_set_output(dc, to_strbuf, &out);
	for (size_t off = 0; off < in.len; off += 7777)
		ck_assert_int_eq(dumpcount_pass(dc, in.buf + off,
						in.len - off < 7777 ? in.len - off : 7777, &e), 0);
	ck_assert_int_eq(dumpcount_pass_end(dc, &e), 0);
	/* 5 bytes of framing per row of about 20,000 rows saved at least */
	ck_assert_msg(out.len + 50000 < in.len, "joined %zu bytes, from %zu", out.len, in.len);

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert(write(fd, out.buf, out.len) == (ssize_t)out.len);
	close(fd);
	sql("postgres", "DROP DATABASE IF EXISTS mixj");
	sql("postgres", "CREATE DATABASE mixj");
	ti = tpg_conninfo("mixj");
	strbuf_addf(&cmd, "--dbname=%s", ti);
	restore[3] = cmd.buf;
	strbuf_reset(&err);
	ck_assert_msg(trun(restore, NULL, NULL, &err) == 0, "pg_restore: %s", err.buf);
	assert_same_rows("mix", "mixj");
	ck_assert_int_eq(sql_int("mixj", "SELECT count(*) FROM pg_largeobject_metadata"), 1);
	ck_assert_int_eq(sql_int("mixj", "SELECT count(*) FROM public.wide WHERE length(t) > 65536"), 6);
	unlink(path);
	dumpcount_free(dc);
	strbuf_release(&in);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&cmd);
	free(ci);
	free(ti);
}
END_TEST

/* Back up mix (dump_command: a wrapper script body, or NULL) and check the
 * manifest item: its counts equal count(*) and it names the source. */
static void backup_and_check(const char *tag, const char *wrapper_body, const char *source,
			     const char *log_needle)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	char dbs[4096], path[1024];
	char *ci = tpg_conninfo("mix"), *id;
	json_t *want = real_counts("mix"), *res, *item, *t;
	struct proj p;
	size_t i;

	proj_init(&p, tag, "[]");
	if (wrapper_body) {
		snprintf(path, sizeof(path), "%s/dump.sh", p.dir);
		write_script(path, wrapper_body);
		snprintf(dbs, sizeof(dbs), "[ { \"name\": \"app\", \"conninfo\": \"%s\", "
			 "\"dump_command\": [\"%s\"] } ]", ci, path);
	} else {
		snprintf(dbs, sizeof(dbs), "[ { \"name\": \"app\", \"conninfo\": \"%s\" } ]", ci);
	}
	proj_write_cfg(&p, p.cfg, dbs);
	ck_assert_msg(bb(&p, &out, &err, "run", "--json", "-v") == 0, "%s: run: %s", tag, err.buf);
	if (log_needle)
		ck_assert_msg(strstr(err.buf, log_needle) || strstr(out.buf, log_needle),
			      "%s: no \"%s\" in the log: %s", tag, log_needle, err.buf);
	res = last_json(&out);
	id = strdup(json_string_value(json_object_get(res, "backup_id")));
	json_decref(res);
	ck_assert_int_eq(bb(&p, &out, &err, "show", id, "--json"), 0);
	res = last_json(&out);
	item = json_array_get(json_object_get(json_object_get(res, "manifest"), "items"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(item, "row_counts")), "exact");
	ck_assert_msg(json_string_value(json_object_get(item, "row_counts_source")),
		      "%s: no row_counts_source", tag);
	ck_assert_str_eq(json_string_value(json_object_get(item, "row_counts_source")), source);
	ck_assert_uint_eq(json_array_size(json_object_get(item, "tables")), json_object_size(want));
	json_array_foreach(json_object_get(item, "tables"), i, t) {
		char key[512];

		snprintf(key, sizeof(key), "%s.%s", json_string_value(json_object_get(t, "schema")),
			 json_string_value(json_object_get(t, "name")));
		ck_assert_msg(json_is_integer(json_object_get(t, "rows")), "%s: %s has no rows",
			      tag, key);
		ck_assert_msg(json_integer_value(json_object_get(t, "rows")) ==
			      json_integer_value(json_object_get(want, key)),
			      "%s: %s: manifest %lld, count(*) %lld", tag, key,
			      (long long)json_integer_value(json_object_get(t, "rows")),
			      (long long)json_integer_value(json_object_get(want, key)));
	}
	json_decref(res);
	ck_assert_int_eq(bb(&p, &out, &err, "verify", id), 0);
	free(id);
	free(ci);
	json_decref(want);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}

START_TEST(test_backup_stream)
{
	backup_and_check("stream", NULL, "stream", NULL);
}
END_TEST

/* The bytes come back unchanged through gzip: still counted from them. */
START_TEST(test_backup_through_gzip)
{
	backup_and_check("gzip", "#!/bin/bash\n"
			 "case \"$1\" in --version) exec pg_dump --version;; esac\n"
			 "set -o pipefail\n"
			 "pg_dump \"$@\" | gzip -c | gzip -dc\n", "stream", NULL);
}
END_TEST

/* A wrapper that compresses the archive (a later -Z wins): restorable, but
 * not countable from the stream; the snapshot counts instead. */
START_TEST(test_fallback_compressed)
{
	backup_and_check("compressed", "#!/bin/sh\n"
			 "case \"$1\" in --version) exec pg_dump --version;; esac\n"
			 "exec pg_dump \"$@\" --compress=6\n", "snapshot",
			 "counting rows in the dump's snapshot: unreadable archive: the archive is "
			 "compressed");
}
END_TEST

START_TEST(test_fallback_inserts)
{
	backup_and_check("inserts", "#!/bin/sh\n"
			 "case \"$1\" in --version) exec pg_dump --version;; esac\n"
			 "exec pg_dump \"$@\" --inserts\n", "snapshot", "is not COPY text");
}
END_TEST

START_TEST(test_fallback_missing_table)
{
	backup_and_check("missing", "#!/bin/sh\n"
			 "case \"$1\" in --version) exec pg_dump --version;; esac\n"
			 "exec pg_dump \"$@\" --exclude-table-data=public.film\n", "snapshot",
			 "the archive holds no data for table public.film");
}
END_TEST

/* The session holding the exported snapshot is idle in its transaction
 * while pg_dump runs: a database-wide idle_in_transaction_session_timeout
 * must not end it (pg_dump could not import the snapshot, and the fallback
 * would have nothing to count in). */
START_TEST(test_idle_timeout_spares_the_snapshot)
{
	sql("mix", "ALTER DATABASE mix SET idle_in_transaction_session_timeout = '1s'");
	backup_and_check("idle", "#!/bin/sh\n"
			 "case \"$1\" in --version) exec pg_dump --version;; esac\n"
			 "sleep 2\n"
			 "exec pg_dump \"$@\" --inserts\n", "snapshot", "is not COPY text");
	sql("mix", "ALTER DATABASE mix RESET idle_in_transaction_session_timeout");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dumpcount_pg");
	TCase *tc = tcase_create("dumpcount_pg");

	tcase_set_timeout(tc, 600);
	tcase_add_unchecked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_parser_on_pg_dump);
	tcase_add_test(tc, test_pass_restores);
	tcase_add_test(tc, test_backup_stream);
	tcase_add_test(tc, test_backup_through_gzip);
	tcase_add_test(tc, test_fallback_compressed);
	tcase_add_test(tc, test_fallback_inserts);
	tcase_add_test(tc, test_fallback_missing_table);
	tcase_add_test(tc, test_idle_timeout_spares_the_snapshot);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
