// services: pg
/* ballast-backup against a real PostgreSQL: Pagila backed up and restored
 * table for table; restore modes (--jobs, --create); row counts taken in
 * the dump's own snapshot and checked after a restore. */
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

static void setup(void)
{
	load_pagila("pagila");
}

static void pagila_proj(struct proj *p, const char *tag)
{
	char *ci = tpg_conninfo("pagila");
	char dbs[2048];

	snprintf(dbs, sizeof(dbs), "[ { \"name\": \"app\", \"conninfo\": \"%s\" } ]", ci);
	proj_init(p, tag, dbs);
	free(ci);
}

START_TEST(test_pagila_roundtrip)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, s1 = STRBUF_INIT, s2 = STRBUF_INIT;
	struct proj p;
	json_t *res, *b, *m, *item, *t;
	char *id, *target;
	size_t i;
	int film_found = 0;

	pagila_proj(&p, "roundtrip");
	ck_assert_int_eq(bb(&p, &out, &err, "run", "--label", "release=v1.2.3", "--json"), 0);
	res = last_json(&out);
	ck_assert_str_eq(json_string_value(json_object_get(res, "event")), "result");
	ck_assert_str_eq(json_string_value(json_object_get(res, "status")), "ok");
	id = strdup(json_string_value(json_object_get(res, "backup_id")));
	ck_assert_int_eq((int)strlen(id), 21);
	json_decref(res);

	b = list_backups(&p);
	ck_assert_int_eq((int)json_array_size(b), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(b, 0), "id")), id);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(b, 0), "status")), "good");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_array_get(b, 0),
									   "labels"), "release")), "v1.2.3");
	ck_assert_int_gt(json_integer_value(json_object_get(json_array_get(b, 0), "size")), 0);
	json_decref(b);

	/* the manifest's counts are the source's */
	ck_assert_int_eq(bb(&p, &out, &err, "show", id, "--json"), 0);
	res = last_json(&out);
	m = json_object_get(res, "manifest");
	item = json_array_get(json_object_get(m, "items"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(item, "type")), "db");
	ck_assert_str_eq(json_string_value(json_object_get(item, "row_counts")), "exact");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(item, "pg_dump_version")),
				     "pg_dump"));
	ck_assert_int_gt(json_integer_value(json_object_get(item, "database_size")), 0);
	json_array_foreach(json_object_get(item, "tables"), i, t)
		if (!strcmp(json_string_value(json_object_get(t, "name")), "film")) {
			film_found = 1;
			ck_assert_int_eq(json_integer_value(json_object_get(t, "rows")),
					 sql_int("pagila", "SELECT count(*) FROM public.film"));
		}
	ck_assert(film_found);
	json_decref(res);

	ck_assert_int_eq(bb(&p, &out, &err, "verify", id), 0);

	sql("postgres", "DROP DATABASE IF EXISTS restored");
	sql("postgres", "CREATE DATABASE restored");
	target = tpg_conninfo("restored");
	ck_assert_msg(bb(&p, &out, &err, "restore", id, "--db", "app", "--target", target,
			 "--json") == 0, "restore: %s", err.buf);
	res = last_json(&out);
	ck_assert_str_eq(json_string_value(json_object_get(res, "status")), "ok");
	json_decref(res);
	assert_same_rows("pagila", "restored");
	schema_of("pagila", &s1);
	schema_of("restored", &s2);
	ck_assert_int_gt((int)s1.len, 1000);
	ck_assert_msg(!strcmp(s1.buf, s2.buf), "schema-only dumps differ");

	free(target);
	free(id);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&s1);
	strbuf_release(&s2);
	proj_done(&p);
}
END_TEST

START_TEST(test_restore_jobs)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, s1 = STRBUF_INIT, s2 = STRBUF_INIT;
	struct proj p;
	char *id, *target;

	pagila_proj(&p, "jobs");
	id = backup_ok(&p, NULL);
	target = tpg_fresh_db("restored_j");
	ck_assert_msg(bb(&p, &out, &err, "restore", id, "--target", target, "--jobs", "2",
			 "--json") == 0, "restore --jobs 2: %s", err.buf);
	assert_same_rows("pagila", "restored_j");
	/* the post-data step (pg_restore -j of the kept table of contents)
	 * built every index, constraint and trigger */
	schema_of("pagila", &s1);
	schema_of("restored_j", &s2);
	ck_assert_msg(!strcmp(s1.buf, s2.buf), "schema differs after restore --jobs 2");
	/* --jobs streams the data, so a database alone gets its own
	 * hash-only pass first, as with --jobs 1; no scratch copy */
	{
		json_t *res = last_json(&out);
		json_t *t = json_object_get(json_array_get(json_object_get(res, "restored"), 0),
					    "timings");

		ck_assert_ptr_null(json_object_get(t, "scratch_ms"));
		ck_assert_msg(json_is_integer(json_object_get(t, "verify_ms")) &&
			      json_integer_value(json_object_get(t, "verify_ms")) >= 0, "%s", out.buf);
		ck_assert_msg(json_is_integer(json_object_get(t, "pg_restore_ms")), "%s", out.buf);
		ck_assert_msg(json_is_integer(json_object_get(t, "post_data_ms")), "%s", out.buf);
		ck_assert_msg(json_is_integer(json_object_get(t, "count_ms")), "%s", out.buf);
		ck_assert_ptr_null(json_object_get(t, "swap_ms"));
		json_decref(res);
	}
	/* --parallel-data without --jobs is a usage error, before anything */
	ck_assert_int_eq(bb(&p, &out, &err, "restore", id, "--target", target,
			    "--parallel-data"), 2);
	ck_assert_msg(strstr(err.buf, "--parallel-data needs --jobs"), "%s", err.buf);
	/* --parallel-data: one pg_restore -j over a scratch copy, whose pass
	 * checks the object: no hash-only pass before it (verify_ms 0) */
	sql("postgres", "DROP DATABASE restored_j");
	sql("postgres", "CREATE DATABASE restored_j");
	ck_assert_msg(bb(&p, &out, &err, "restore", id, "--target", target, "--jobs", "2",
			 "--parallel-data", "--json") == 0, "restore --parallel-data: %s", err.buf);
	assert_same_rows("pagila", "restored_j");
	schema_of("restored_j", &s2);
	ck_assert_msg(!strcmp(s1.buf, s2.buf), "schema differs after restore --parallel-data");
	{
		json_t *res = last_json(&out);
		json_t *t = json_object_get(json_array_get(json_object_get(res, "restored"), 0),
					    "timings");

		ck_assert_msg(json_is_integer(json_object_get(t, "scratch_ms")), "%s", out.buf);
		ck_assert_msg(json_is_integer(json_object_get(t, "verify_ms")) &&
			      json_integer_value(json_object_get(t, "verify_ms")) == 0, "%s", out.buf);
		ck_assert_ptr_null(json_object_get(t, "post_data_ms"));
		json_decref(res);
	}
	/* --clean restores in place over existing objects */
	sql("restored_j", "DELETE FROM public.payment_p2022_01; "
	    "CREATE TABLE public.added_later (id int)");
	ck_assert_msg(bb(&p, &out, &err, "restore", id, "--target", target, "--clean") == 0,
		      "restore --clean: %s", err.buf);
	assert_same_rows("pagila", "restored_j");
	schema_of("pagila", &s1);
	schema_of("restored_j", &s2);
	ck_assert_msg(!strcmp(s1.buf, s2.buf), "schema differs after restore --clean");
	free(id);
	free(target);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&s1);
	strbuf_release(&s2);
	proj_done(&p);
}
END_TEST

/* --jobs on an archive the parser cannot read apart (here pg_dump
 * --inserts: its table data is not COPY text): the post-data step has no
 * table of contents of its own, so pg_restore reads it from the object once
 * more, in one session, and the restore is still whole. */
START_TEST(test_restore_jobs_unreadable)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct proj p;
	char *ci, *target, dbs[4096], path[1100];
	char *id;

	ci = tpg_fresh_db("ins");
	sql("ins", "CREATE TABLE a (id int primary key); "
	    "CREATE TABLE b (id int primary key, a_id int REFERENCES a, v text); "
	    "CREATE INDEX b_v ON b (v); "
	    "INSERT INTO a SELECT g FROM generate_series(1, 50) g; "
	    "INSERT INTO b SELECT g, g %% 50 + 1, 'v' || g FROM generate_series(1, 500) g");
	proj_init(&p, "inserts", "[]");
	snprintf(path, sizeof(path), "%s/dump-inserts", p.dir);
	write_script(path, "#!/bin/sh\ncase \"$1\" in --version) exec pg_dump --version;; esac\n"
		     "exec pg_dump --inserts \"$@\"\n");
	snprintf(dbs, sizeof(dbs), "[ { \"name\": \"ins\", \"conninfo\": \"%s\", "
		 "\"dump_command\": [\"%s\"] } ]", ci, path);
	proj_write_cfg(&p, p.cfg, dbs);
	id = backup_ok(&p, NULL);
	target = tpg_fresh_db("ins_r");
	ck_assert_msg(bb(&p, &out, &err, "restore", id, "--target", target, "--jobs", "2") == 0,
		      "restore --jobs 2: %s", err.buf);
	ck_assert_msg(strstr(err.buf, "could not be read apart"), "stderr: %s", err.buf);
	assert_same_rows("ins", "ins_r");
	ck_assert_int_eq(sql_int("ins_r", "SELECT count(*) FROM pg_constraint WHERE connamespace = "
				 "'public'::regnamespace AND contype IN "
				 "('p', 'f')"), 3);
	ck_assert_int_eq(sql_int("ins_r", "SELECT count(*) FROM pg_indexes WHERE indexname = "
				 "'b_v'"), 1);
	free(id);
	free(ci);
	free(target);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

START_TEST(test_restore_create)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct proj p;
	char *ci, *maint, *tcp, *pw, dbs[2048], target[1024];
	char *id;

	sql("postgres", "DROP DATABASE IF EXISTS small");
	sql("postgres", "CREATE DATABASE small");
	sql("small", "CREATE TABLE t (id int primary key, v text); "
	    "INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 1234) g");
	ci = tpg_conninfo("small");
	snprintf(dbs, sizeof(dbs), "[ { \"name\": \"small\", \"conninfo\": \"%s\" } ]", ci);
	proj_init(&p, "create", dbs);
	id = backup_ok(&p, NULL);
	sql("postgres", "DROP DATABASE small");
	maint = tpg_conninfo("postgres");
	ck_assert_msg(bb(&p, &out, &err, "restore", id, "--target", maint, "--create") == 0,
		      "restore --create: %s", err.buf);
	ck_assert_int_eq(sql_int("small", "SELECT count(*) FROM t"), 1234);
	/* --create with --jobs: the post-data step connects to the database
	 * the first step created */
	sql("postgres", "DROP DATABASE small");
	ck_assert_msg(bb(&p, &out, &err, "restore", id, "--target", maint, "--create",
			 "--jobs", "2") == 0, "restore --create --jobs 2: %s", err.buf);
	ck_assert_int_eq(sql_int("small", "SELECT count(*) FROM t"), 1234);
	ck_assert_int_eq(sql_int("small", "SELECT count(*) FROM pg_constraint "
				 "WHERE conname = 't_pkey'"), 1);
	/* over TCP, where the server asks for the password and only --target
	 * has it: the post-data step and the counts connect to the created
	 * database by the password-free string, the password given beside */
	sql("postgres", "DROP DATABASE small");
	tcp = tsvc_read("pg", "conninfo_tcp");
	pw = tsvc_read("pg", "password");
	ck_assert_ptr_nonnull(tcp);
	ck_assert_ptr_nonnull(pw);
	snprintf(target, sizeof(target), "%s password=%s", tcp, pw);
	ck_assert_msg(bb(&p, &out, &err, "restore", id, "--target", target, "--create",
			 "--jobs", "2") == 0, "restore --create --jobs 2 over TCP: %s", err.buf);
	ck_assert_int_eq(sql_int("small", "SELECT count(*) FROM t"), 1234);
	ck_assert_int_eq(sql_int("small", "SELECT count(*) FROM pg_constraint "
				 "WHERE conname = 't_pkey'"), 1);
	ck_assert_ptr_null(strstr(err.buf, pw));
	free(id);
	free(ci);
	free(maint);
	free(tcp);
	free(pw);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

/* Rows written after the snapshot was exported but before pg_dump started
 * are neither in the dump nor in the counts: both describe one snapshot. */
START_TEST(test_counts_in_dump_snapshot)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct proj p;
	char *ci, *target, *sdir, dbs[4096], script[1024], body[2048];
	json_t *res, *t;
	char *id;

	sql("postgres", "DROP DATABASE IF EXISTS snap");
	sql("postgres", "CREATE DATABASE snap");
	sql("snap", "CREATE TABLE t (id serial primary key, v text); "
	    "INSERT INTO t (v) SELECT 'x' FROM generate_series(1, 500)");
	ci = tpg_conninfo("snap");
	sdir = ttmp_dir("scripts");
	snprintf(script, sizeof(script), "%s/dump-after-insert", sdir);
	snprintf(body, sizeof(body),
		 "#!/bin/sh\n"
		 "case \"$1\" in --version) exec pg_dump --version;; esac\n"
		 "psql -q -X -d \"%s\" -c \"INSERT INTO t (v) SELECT 'late' FROM generate_series(1, 77)\" "
		 ">/dev/null || exit 1\n"
		 "exec pg_dump \"$@\"\n", ci);
	write_script(script, body);
	snprintf(dbs, sizeof(dbs), "[ { \"name\": \"snap\", \"conninfo\": \"%s\", "
		 "\"dump_command\": [\"%s\"] } ]", ci, script);
	proj_init(&p, "snap", dbs);
	id = backup_ok(&p, NULL);
	ck_assert_int_eq(sql_int("snap", "SELECT count(*) FROM t"), 577);
	ck_assert_int_eq(bb(&p, &out, &err, "show", id, "--json"), 0);
	res = last_json(&out);
	t = json_array_get(json_object_get(json_array_get(json_object_get(
		json_object_get(res, "manifest"), "items"), 0), "tables"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(t, "name")), "t");
	ck_assert_int_eq(json_integer_value(json_object_get(t, "rows")), 500);
	json_decref(res);
	sql("postgres", "DROP DATABASE IF EXISTS snap_r");
	sql("postgres", "CREATE DATABASE snap_r");
	target = tpg_conninfo("snap_r");
	ck_assert_msg(bb(&p, &out, &err, "restore", id, "--target", target) == 0, "%s", err.buf);
	ck_assert_int_eq(sql_int("snap_r", "SELECT count(*) FROM t"), 500);
	ttmp_rm(sdir);
	free(sdir);
	free(id);
	free(ci);
	free(target);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

/* A restore whose result lacks rows the manifest recorded exits 4 and
 * names the table. */
START_TEST(test_restore_row_mismatch)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct proj p;
	char *ci, *target, *sdir, dbs[4096], script[1024], body[2048];
	char *id;

	ci = tpg_conninfo("pagila");
	target = tpg_conninfo("mismatch");
	sdir = ttmp_dir("scripts");
	snprintf(script, sizeof(script), "%s/restore-then-delete", sdir);
	snprintf(body, sizeof(body),
		 "#!/bin/sh\npg_restore \"$@\" || exit $?\n"
		 "psql -q -X -d \"%s\" -c 'DELETE FROM public.payment_p2022_02 WHERE ctid IN "
		 "(SELECT ctid FROM public.payment_p2022_02 LIMIT 3)' >/dev/null\n",
		 target);
	write_script(script, body);
	snprintf(dbs, sizeof(dbs), "[ { \"name\": \"app\", \"conninfo\": \"%s\", "
		 "\"restore_command\": [\"%s\"] } ]", ci, script);
	proj_init(&p, "mismatch", dbs);
	id = backup_ok(&p, NULL);
	sql("postgres", "DROP DATABASE IF EXISTS mismatch");
	sql("postgres", "CREATE DATABASE mismatch");
	ck_assert_msg(bb(&p, &out, &err, "restore", id, "--target", target) == 4, "restore: %s",
		      err.buf);
	ck_assert_msg(strstr(err.buf, "public.payment_p2022_02 (backup ") && strstr(err.buf, "row counts differ"),
		      "stderr: %s", err.buf);
	ttmp_rm(sdir);
	free(sdir);
	free(id);
	free(ci);
	free(target);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

START_TEST(test_row_count_modes)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct proj p;
	char *ci = tpg_conninfo("pagila"), dbs[2048];
	json_t *res, *item, *t;
	char *id;

	sql("pagila", "ANALYZE");
	snprintf(dbs, sizeof(dbs), "[ { \"name\": \"est\", \"conninfo\": \"%s\", "
		 "\"row_counts\": \"estimate\" }, { \"name\": \"off\", \"conninfo\": \"%s\", "
		 "\"row_counts\": \"off\" } ]", ci, ci);
	proj_init(&p, "modes", dbs);
	id = backup_ok(&p, NULL);
	ck_assert_int_eq(bb(&p, &out, &err, "show", id, "--json"), 0);
	res = last_json(&out);
	item = json_array_get(json_object_get(json_object_get(res, "manifest"), "items"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(item, "row_counts")), "estimate");
	t = json_array_get(json_object_get(item, "tables"), 0);
	ck_assert(json_is_integer(json_object_get(t, "rows")));
	item = json_array_get(json_object_get(json_object_get(res, "manifest"), "items"), 1);
	ck_assert_str_eq(json_string_value(json_object_get(item, "row_counts")), "off");
	ck_assert_int_eq((int)json_array_size(json_object_get(item, "tables")), 0);
	json_decref(res);
	/* --only picks one database */
	free(id);
	id = backup_ok(&p, "--only=db:off");
	ck_assert_int_eq(bb(&p, &out, &err, "show", id, "--json"), 0);
	res = last_json(&out);
	ck_assert_int_eq((int)json_array_size(json_object_get(json_object_get(res, "manifest"),
							     "items")), 1);
	json_decref(res);
	ck_assert_int_eq(bb(&p, &out, &err, "run", "--only", "db:nope"), 2);
	free(id);
	free(ci);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

/* Every exclude_tables entry reaches pg_dump: 40 exclusions (a fixed argv
 * once dropped those past the 26th), none of them in the dump. */
START_TEST(test_exclude_40_tables)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, dbs = STRBUF_INIT;
	struct proj p;
	char *ci, *target;
	json_t *res, *item, *t;
	size_t i;
	char *id;

	sql("postgres", "DROP DATABASE IF EXISTS excl");
	sql("postgres", "CREATE DATABASE excl");
	sql("excl", "DO $$ BEGIN FOR i IN 1..45 LOOP EXECUTE format('CREATE TABLE ex_%%s (v int); "
	    "INSERT INTO ex_%%s VALUES (1)', i, i); END LOOP; END $$");
	ci = tpg_conninfo("excl");
	strbuf_addf(&dbs, "[ { \"name\": \"app\", \"conninfo\": \"%s\", \"exclude_tables\": [", ci);
	for (i = 1; i <= 40; i++)
		strbuf_addf(&dbs, "%s\"%sex_%zu\"", i > 1 ? ", " : "", i % 2 ? "public." : "", i);
	strbuf_addstr(&dbs, "] } ]");
	proj_init(&p, "excl40", dbs.buf);
	id = backup_ok(&p, NULL);
	ck_assert_int_eq(bb(&p, &out, &err, "show", id, "--json"), 0);
	res = last_json(&out);
	item = json_array_get(json_object_get(json_object_get(res, "manifest"), "items"), 0);
	ck_assert_int_eq((int)json_array_size(json_object_get(item, "tables")), 5);
	json_array_foreach(json_object_get(item, "tables"), i, t)
		ck_assert_int_gt(atoi(json_string_value(json_object_get(t, "name")) + 3), 40);
	json_decref(res);
	sql("postgres", "DROP DATABASE IF EXISTS excl_restored");
	sql("postgres", "CREATE DATABASE excl_restored");
	target = tpg_conninfo("excl_restored");
	ck_assert_msg(bb(&p, &out, &err, "restore", id, "--target", target) == 0, "%s", err.buf);
	ck_assert_int_eq(sql_int("excl_restored", "SELECT count(*) FROM pg_tables WHERE "
				 "tablename LIKE 'ex\\_%' AND substr(tablename, 4)::int <= 40"), 0);
	ck_assert_int_eq(sql_int("excl_restored", "SELECT count(*) FROM pg_tables WHERE "
				 "tablename LIKE 'ex\\_%'"), 5);
	free(id);
	free(ci);
	free(target);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&dbs);
	proj_done(&p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("backup_roundtrip");
	TCase *tc = tcase_create("pg");

	tcase_add_unchecked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_pagila_roundtrip);
	tcase_add_test(tc, test_restore_jobs);
	tcase_add_test(tc, test_restore_jobs_unreadable);
	tcase_add_test(tc, test_restore_create);
	tcase_add_test(tc, test_counts_in_dump_snapshot);
	tcase_add_test(tc, test_restore_row_mismatch);
	tcase_add_test(tc, test_row_count_modes);
	tcase_add_test(tc, test_exclude_40_tables);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
