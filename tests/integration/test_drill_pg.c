// services: pg
/* ballast-backup drill against a real PostgreSQL: the Pagila backup
 * restores into a scratch database and passes; a backup whose manifest
 * disagrees with its dump (rows altered through lib/manifest, test-only), a
 * truncated object, a failing SQL check and a server that refuses the
 * scratch database all fail with the documented exit code and name what
 * differs; no scratch database is ever left behind. */
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

#include "manifest.h"
#include "pg.h"
#include "tbackup.h"

static void setup(void)
{
	static int loaded;

	if (!loaded)
		load_pagila("pagila");
	loaded = 1;
	sql("postgres", "DROP DATABASE IF EXISTS small");
	sql("postgres", "CREATE DATABASE small");
	sql("small", "CREATE TABLE t (id int primary key, v text); "
	    "INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 321) g; "
	    "CREATE TABLE u (id int); INSERT INTO u VALUES (1), (2)");
}

/* A project with metrics; db: a database of the test server. */
static void drill_proj(struct proj *p, const char *tag, const char *db)
{
	char *ci = tpg_conninfo(db);
	char text[8192];

	proj_init(p, tag, "[]");
	snprintf(text, sizeof(text),
		 "{ \"project\": \"shop\", \"state_dir\": \"%s/state\",\n"
		 "  \"repository\": { \"type\": \"local\", \"path\": \"%s\" },\n"
		 "  \"compression\": { \"level\": 3, \"threads\": 2 },\n"
		 "  \"metrics\": { \"textfile\": \"%s/ballast.prom\" },\n"
		 "  \"databases\": [ { \"name\": \"app\", \"conninfo\": \"%s\" } ] }\n",
		 p->dir, p->repo, p->dir, ci);
	ck_assert_int_eq(twrite_file(p->cfg, text), 0);
	free(ci);
}

static long long scratch_dbs(void)
{
	return sql_int("postgres", "SELECT count(*) FROM pg_database "
		       "WHERE datname LIKE 'ballast\\_drill\\_%'");
}

/* The "report" of drill --json's result (new reference); a failed drill
 * carries it in its {"event":"error"} line. */
static json_t *report_of(const struct strbuf *out)
{
	json_t *res = tjson_result(out), *rep = json_incref(json_object_get(res, "report"));

	json_decref(res);
	ck_assert_msg(rep != NULL, "no report in: %s", out->buf);
	return rep;
}

/* The drill reports stored beside backup id, parsed, newest last. */
static json_t *stored_reports(const struct proj *p, const char *id)
{
	char dir[2048];
	struct dirent *de;
	json_t *arr = json_array();
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/shop/backups/%s", p->repo, id);
	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "drill-", 6) && strstr(de->d_name, ".json") &&
		    !strstr(de->d_name, ".tmp")) {
			char path[4096];
			struct strbuf sb = STRBUF_INIT;

			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			ck_assert_int_eq(tread_file(path, &sb), 0);
			json_array_append_new(arr, json_loads(sb.buf, 0, NULL));
			strbuf_release(&sb);
		}
	closedir(d);
	return arr;
}

static double prom_value(const char *dir, const char *series)
{
	char path[2048];
	struct strbuf sb = STRBUF_INIT;
	const char *p;
	double v = -1;

	snprintf(path, sizeof(path), "%s/ballast.prom", dir);
	if (tread_file(path, &sb) == 0 && (p = strstr(sb.buf, series)) &&
	    (p == sb.buf || p[-1] == '\n') && p[strlen(series)] == ' ')
		v = strtod(p + strlen(series) + 1, NULL);
	strbuf_release(&sb);
	return v;
}

START_TEST(test_pagila_drill_passes)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct proj p;
	char checks[2048];
	json_t *rep, *db, *stored;
	char *id;
	time_t t0 = time(NULL);

	drill_proj(&p, "drill-ok", "pagila");
	snprintf(checks, sizeof(checks), "%s/checks.sql", p.dir);
	ck_assert_int_eq(twrite_file(checks, "-- the catalogue is there\n"
				     "SELECT count(*) = 1000 FROM public.film;\n\n"
				     "SELECT title FROM public.film WHERE film_id = 1;\n"), 0);
	id = backup_ok(&p, NULL);
	ck_assert_msg(bb(&p, &out, &err, "drill", "--latest", "--check-sql", checks, "--json") == 0,
		      "drill: %s", err.buf);
	rep = report_of(&out);
	ck_assert_str_eq(json_string_value(json_object_get(rep, "result")), "passed");
	ck_assert_str_eq(json_string_value(json_object_get(rep, "backup_id")), id);
	ck_assert_int_ge(json_integer_value(json_object_get(rep, "backup_age_seconds")), 0);
	ck_assert_int_le(json_integer_value(json_object_get(rep, "backup_age_seconds")),
			 (long long)(time(NULL) - t0) + 1);
	db = json_array_get(json_object_get(rep, "databases"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(db, "name")), "app");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(db, "scratch_database")),
				     "ballast_drill_app_"));
	ck_assert_int_ge(json_integer_value(json_object_get(db, "tables_checked")), 20);
	ck_assert_int_eq((int)json_array_size(json_object_get(db, "differences")), 0);
	ck_assert(json_real_value(json_object_get(db, "restore_seconds")) > 0);
	ck_assert(json_is_true(json_object_get(db, "scratch_dropped")));
	ck_assert_int_eq((int)json_array_size(json_object_get(db, "checks")), 2);
	ck_assert(json_is_true(json_object_get(json_array_get(json_object_get(db, "checks"), 1), "ok")));
	ck_assert_int_eq((int)json_integer_value(json_object_get(
		json_array_get(json_object_get(db, "checks"), 1), "line")), 4);
	json_decref(rep);
	ck_assert_int_eq(scratch_dbs(), 0);
	/* the report is stored beside the backup */
	stored = stored_reports(&p, id);
	ck_assert_int_eq((int)json_array_size(stored), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(stored, 0), "result")),
			 "passed");
	json_decref(stored);
	/* parallel restore too, by id */
	ck_assert_msg(bb(&p, &out, &err, "drill", id, "--jobs", "2") == 0, "drill -j2: %s", err.buf);
	ck_assert_int_eq(scratch_dbs(), 0);
	/* the textfile after run and drill */
	ck_assert(prom_value(p.dir, "ballast_drill_last_success_timestamp_seconds{project=\"shop\",item=\"db:app\"}") >= (double)t0);
	ck_assert(prom_value(p.dir, "ballast_drill_restore_seconds{project=\"shop\",item=\"db:app\"}") > 0);
	ck_assert(prom_value(p.dir, "ballast_drill_failures_total{project=\"shop\"}") == 0);
	ck_assert(prom_value(p.dir, "ballast_backup_last_success_timestamp_seconds{project=\"shop\",item=\"db:app\"}") >= (double)t0);
	ck_assert(prom_value(p.dir, "ballast_backup_bytes{project=\"shop\",item=\"db:app\"}") > 1000);
	free(id);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

/* Rewrite a backup's manifest (test-only): table t's count plus delta. */
static void alter_rows(const struct proj *p, const char *id, const char *table, int delta)
{
	char path[2048];
	struct strbuf sb = STRBUF_INIT, text = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	json_t *m, *t;
	size_t i;
	int done = 0;

	snprintf(path, sizeof(path), "%s/shop/backups/%s/manifest.json", p->repo, id);
	ck_assert_int_eq(tread_file(path, &sb), 0);
	ck_assert_int_eq(manifest_parse(sb.buf, sb.len, path, &m, &e), 0);
	json_array_foreach(json_object_get(json_array_get(json_object_get(m, "items"), 0), "tables"),
			   i, t)
		if (!strcmp(json_string_value(json_object_get(t, "name")), table)) {
			json_object_set_new(t, "rows", json_integer(json_integer_value(
						    json_object_get(t, "rows")) + delta));
			done = 1;
		}
	ck_assert(done);
	ck_assert_int_eq(manifest_seal(m, &text, &e), 0);
	ck_assert_int_eq(twrite_file(path, text.buf), 0);
	json_decref(m);
	strbuf_release(&sb);
	strbuf_release(&text);
}

START_TEST(test_altered_rows_fail_with_4)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct proj p;
	json_t *rep, *db, *diff, *stored;
	char *id;

	drill_proj(&p, "drill-rows", "small");
	id = backup_ok(&p, NULL);
	alter_rows(&p, id, "t", 5);
	ck_assert_int_eq(bb(&p, &out, &err, "drill", id, "--json"), 4);
	ck_assert_msg(strstr(err.buf, "public.t (backup 326, restored 321)"), "stderr: %s", err.buf);
	rep = report_of(&out);
	ck_assert_str_eq(json_string_value(json_object_get(rep, "result")), "failed");
	db = json_array_get(json_object_get(rep, "databases"), 0);
	ck_assert_int_eq((int)json_integer_value(json_object_get(db, "tables_checked")), 2);
	ck_assert_int_eq((int)json_array_size(json_object_get(db, "differences")), 1);
	diff = json_array_get(json_object_get(db, "differences"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(diff, "table")), "public.t");
	ck_assert_int_eq((int)json_integer_value(json_object_get(diff, "backup")), 326);
	ck_assert_int_eq((int)json_integer_value(json_object_get(diff, "restored")), 321);
	ck_assert(json_is_true(json_object_get(db, "scratch_dropped")));
	json_decref(rep);
	ck_assert_int_eq(scratch_dbs(), 0);
	stored = stored_reports(&p, id);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(stored, 0), "result")),
			 "failed");
	json_decref(stored);
	ck_assert(prom_value(p.dir, "ballast_drill_failures_total{project=\"shop\"}") == 1);
	free(id);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

START_TEST(test_truncated_object_fails_with_4)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct proj p;
	char path[2048];
	struct stat st;
	json_t *rep;
	char *id;

	drill_proj(&p, "drill-trunc", "small");
	id = backup_ok(&p, NULL);
	snprintf(path, sizeof(path), "%s/shop/backups/%s/db-app.dump.zst", p.repo, id);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(truncate(path, st.st_size / 2), 0);
	ck_assert_int_eq(bb(&p, &out, &err, "drill", id, "--json"), 4);
	ck_assert_msg(strstr(err.buf, "db-app.dump.zst") && strstr(err.buf, "truncated"),
		      "stderr: %s", err.buf);
	rep = report_of(&out);
	ck_assert_str_eq(json_string_value(json_object_get(rep, "result")), "failed");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
		json_object_get(rep, "databases"), 0), "checksum")), "mismatch");
	json_decref(rep);
	ck_assert_int_eq(scratch_dbs(), 0);
	free(id);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

START_TEST(test_scratch_refused_exit_1)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, target = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct proj p;
	char *base, *id;
	json_t *stored;

	sql("postgres", "DROP ROLE IF EXISTS drill_nocreate");
	sql("postgres", "CREATE ROLE drill_nocreate LOGIN NOCREATEDB");
	drill_proj(&p, "drill-refused", "small");
	id = backup_ok(&p, NULL);
	base = tpg_conninfo("postgres");
	strbuf_addf(&target, "%s user=drill_nocreate", base);
	ck_assert_int_eq(bb(&p, &out, &err, "drill", id, "--target", target.buf), 1);
	ck_assert_msg(strstr(err.buf, "cannot create the scratch database ballast_drill_app_") &&
		      strstr(err.buf, "permission denied"), "stderr: %s", err.buf);
	ck_assert_int_eq(scratch_dbs(), 0);
	stored = stored_reports(&p, id);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(stored, 0), "result")),
			 "error");
	json_decref(stored);
	/* an unreachable server: exit 1 as well */
	strbuf_reset(&target);
	ck_assert_int_eq(pg_conninfo_with_db(base, "postgres", &target, &e), 0);
	strbuf_addstr(&target, " port=1");
	ck_assert_int_eq(bb(&p, &out, &err, "drill", id, "--target", target.buf), 1);
	ck_assert_msg(strstr(err.buf, "cannot create the scratch database"), "stderr: %s", err.buf);
	free(base);
	free(id);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&target);
	proj_done(&p);
}
END_TEST

START_TEST(test_sql_checks)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct proj p;
	char good[2048], bad[2048], other[2200], missing[2048];
	json_t *rep, *checks;
	char *id;

	drill_proj(&p, "drill-checks", "small");
	snprintf(good, sizeof(good), "%s/good.sql", p.dir);
	snprintf(bad, sizeof(bad), "%s/bad.sql", p.dir);
	snprintf(missing, sizeof(missing), "%s/missing.sql", p.dir);
	ck_assert_int_eq(twrite_file(good, "SELECT max(id) = 321 FROM t;\nSELECT v FROM t WHERE id = 7;\n"
				     "SET search_path = public;\n"), 0);
	ck_assert_int_eq(twrite_file(bad, "SELECT true;\nSELECT count(*) = 0 FROM t;\n"
				     "SELECT v FROM t WHERE id = -1;\nSELECT NULL::bool;\n"
				     "SELECT * FROM no_such_table;\n"), 0);
	id = backup_ok(&p, NULL);
	ck_assert_msg(bb(&p, &out, &err, "drill", id, "--check-sql", good) == 0, "%s", err.buf);
	ck_assert_int_eq(bb(&p, &out, &err, "drill", id, "--check-sql", bad, "--json"), 4);
	ck_assert_msg(strstr(err.buf, "4 SQL checks failed") && strstr(err.buf, "bad.sql:2"),
		      "stderr: %s", err.buf);
	rep = report_of(&out);
	checks = json_object_get(json_array_get(json_object_get(rep, "databases"), 0), "checks");
	ck_assert_int_eq((int)json_array_size(checks), 5);
	ck_assert(json_is_true(json_object_get(json_array_get(checks, 0), "ok")));
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(checks, 1), "error")),
			 "returned false");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(checks, 2), "error")),
			 "returned no rows");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(checks, 3), "error")),
			 "returned NULL");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_array_get(checks, 4),
								       "error")), "no_such_table"));
	json_decref(rep);
	ck_assert_int_eq(scratch_dbs(), 0);
	/* NAME=FILE applies to that database only */
	snprintf(other, sizeof(other), "other=%s", bad);
	ck_assert_msg(bb(&p, &out, &err, "drill", id, "--check-sql", other) == 0, "%s", err.buf);
	/* an unreadable check file is a usage error before anything runs */
	ck_assert_int_eq(bb(&p, &out, &err, "drill", id, "--check-sql", missing), 2);
	ck_assert_ptr_nonnull(strstr(err.buf, "missing.sql"));
	ck_assert_int_eq(scratch_dbs(), 0);
	free(id);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

START_TEST(test_bad_usage)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct proj p;

	drill_proj(&p, "drill-usage", "small");
	ck_assert_int_eq(bb(&p, &out, &err, "drill", "--jobs", "0"), 2);
	ck_assert_int_eq(bb(&p, &out, &err, "drill", "a", "b"), 2);
	ck_assert_int_eq(bb(&p, &out, &err, "drill", "not-an-id"), 2);
	/* nothing to drill yet */
	ck_assert_int_eq(bb(&p, &out, &err, "drill"), 1);
	ck_assert_ptr_nonnull(strstr(err.buf, "no good backup"));
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

/* SIGTERM while the scratch database exists: exit 1, nothing left behind. */
START_TEST(test_sigterm_drops_scratch)
{
	struct strbuf bin = STRBUF_INIT, log = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct child c = CHILD_INIT;
	struct proj p;
	const char *argv[6];
	char outfile[2048];
	char *id;
	int seen = 0;

	drill_proj(&p, "drill-term", "pagila");
	id = backup_ok(&p, NULL);
	argv[0] = tbin("ballast-backup", &bin);
	argv[1] = "--config";
	argv[2] = p.cfg;
	argv[3] = "drill";
	argv[4] = id;
	argv[5] = NULL;
	snprintf(outfile, sizeof(outfile), "%s/drill.out", p.dir);
	bb_start(&c, argv, outfile, NULL);
	for (int i = 0; i < 600 && !seen; i++) {
		seen = scratch_dbs() > 0;
		if (!seen)
			usleep(50000);
	}
	ck_assert_msg(seen, "the scratch database never appeared");
	kill(c.pid, SIGTERM);
	proc_finish(&c, &e);
	ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 1, "status %d", c.status);
	proc_release(&c);
	tread_file(outfile, &log);
	ck_assert_msg(strstr(log.buf, "interrupted by signal 15"), "output: %s", log.buf);
	ck_assert_int_eq(scratch_dbs(), 0);
	free(id);
	strbuf_release(&bin);
	strbuf_release(&log);
	proj_done(&p);
}
END_TEST

/* A volume in the set: extracted to a scratch directory under $TMPDIR,
 * counts and bytes compared, the directory removed; an altered count or a
 * truncated archive fails with 4 and names the volume. */
START_TEST(test_volume_drill)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, m = STRBUF_INIT, text = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct proj p;
	char vol[2048], tmpd[2048], env_tmp[2100], path[4096], mpath[4096], cfgtext[8192];
	const char *env[] = { env_tmp, NULL };
	char *ci = tpg_conninfo("small"), *id;
	json_t *rep, *v, *man, *it;
	struct stat st;
	size_t i;

	drill_proj(&p, "drill-vol", "small");
	snprintf(vol, sizeof(vol), "%s/vol", p.dir);
	snprintf(tmpd, sizeof(tmpd), "%s/tmp", p.dir);
	snprintf(env_tmp, sizeof(env_tmp), "TMPDIR=%s", tmpd);
	ck_assert_int_eq(mkdir(vol, 0755), 0);
	ck_assert_int_eq(mkdir(tmpd, 0700), 0);
	snprintf(path, sizeof(path), "%s/sub", vol);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/a.txt", vol);
	ck_assert_int_eq(twrite_file(path, "hello volume\n"), 0);
	snprintf(path, sizeof(path), "%s/sub/b.bin", vol);
	ck_assert_int_eq(twrite_file(path, "0123456789"), 0);
	snprintf(path, sizeof(path), "%s/link", vol);
	ck_assert_int_eq(symlink("a.txt", path), 0);
	snprintf(cfgtext, sizeof(cfgtext),
		 "{ \"project\": \"shop\", \"state_dir\": \"%s/state\",\n"
		 "  \"repository\": { \"type\": \"local\", \"path\": \"%s\" },\n"
		 "  \"metrics\": { \"textfile\": \"%s/ballast.prom\" },\n"
		 "  \"databases\": [ { \"name\": \"app\", \"conninfo\": \"%s\" } ],\n"
		 "  \"volumes\": [ { \"name\": \"files\", \"path\": \"%s\" } ] }\n",
		 p.dir, p.repo, p.dir, ci, vol);
	ck_assert_int_eq(twrite_file(p.cfg, cfgtext), 0);
	id = backup_ok(&p, NULL);

	ck_assert_msg(bb_env(&p, env, &out, &err, "drill", id, "--json", (const char *)NULL) == 0,
		      "drill: %s", err.buf);
	rep = report_of(&out);
	ck_assert_str_eq(json_string_value(json_object_get(rep, "result")), "passed");
	v = json_array_get(json_object_get(rep, "volumes"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(v, "name")), "files");
	ck_assert_int_eq((int)json_integer_value(json_object_get(v, "files")), 2);
	ck_assert_int_eq((int)json_integer_value(json_object_get(v, "bytes")), 23);
	ck_assert(json_is_true(json_object_get(v, "scratch_removed")));
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(v, "scratch_directory")), tmpd));
	json_decref(rep);
	/* nothing left in $TMPDIR, not even an empty directory */
	ck_assert_int_eq(rmdir(tmpd), 0);
	ck_assert_int_eq(mkdir(tmpd, 0700), 0);
	ck_assert(prom_value(p.dir, "ballast_drill_last_success_timestamp_seconds{project=\"shop\",item=\"volume:files\"}") > 0);

	/* the manifest claims one file more than the archive holds */
	snprintf(mpath, sizeof(mpath), "%s/shop/backups/%s/manifest.json", p.repo, id);
	ck_assert_int_eq(tread_file(mpath, &m), 0);
	ck_assert_int_eq(manifest_parse(m.buf, m.len, mpath, &man, &e), 0);
	json_array_foreach(json_object_get(man, "items"), i, it)
		if (!strcmp(json_string_value(json_object_get(it, "type")), "volume"))
			json_object_set_new(json_object_get(it, "entries"), "files", json_integer(3));
	ck_assert_int_eq(manifest_seal(man, &text, &e), 0);
	ck_assert_int_eq(twrite_file(mpath, text.buf), 0);
	json_decref(man);
	ck_assert_int_eq(bb_env(&p, env, &out, &err, "drill", id, "--json", (const char *)NULL), 4);
	ck_assert_msg(strstr(err.buf, "volume files: files differ from the backup (backup 3, restored 2)"),
		      "stderr: %s", err.buf);
	/* nothing left in $TMPDIR, not even an empty directory */
	ck_assert_int_eq(rmdir(tmpd), 0);
	ck_assert_int_eq(mkdir(tmpd, 0700), 0);
	ck_assert_int_eq(scratch_dbs(), 0);

	/* a truncated archive: exit 4 naming the object, nothing extracted */
	snprintf(path, sizeof(path), "%s/shop/backups/%s/volume-files.tar.zst", p.repo, id);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(truncate(path, st.st_size - 7), 0);
	ck_assert_int_eq(bb_env(&p, env, &out, &err, "drill", id, (const char *)NULL), 4);
	ck_assert_msg(strstr(err.buf, "volume-files.tar.zst"), "stderr: %s", err.buf);
	ck_assert_int_eq(scratch_dbs(), 0);
	ck_assert_int_eq(rmdir(tmpd), 0);
	free(ci);
	free(id);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&m);
	strbuf_release(&text);
	proj_done(&p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("drill");
	TCase *tc = tcase_create("drill");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_pagila_drill_passes);
	tcase_add_test(tc, test_altered_rows_fail_with_4);
	tcase_add_test(tc, test_truncated_object_fails_with_4);
	tcase_add_test(tc, test_scratch_refused_exit_1);
	tcase_add_test(tc, test_sql_checks);
	tcase_add_test(tc, test_bad_usage);
	tcase_add_test(tc, test_sigterm_drops_scratch);
	tcase_add_test(tc, test_volume_drill);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
