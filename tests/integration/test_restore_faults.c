// services: pg
/* restore --clean as an atomic swap, against a real PostgreSQL: whatever
 * happens before the swap (SIGTERM or SIGKILL at seeded moments, sessions
 * that hold locks, a corrupt object, a second restore, a non-empty target
 * without --clean), the live database's per-table row hashes are those it
 * had; after the swap it holds the backup and the old one is one command
 * away. */
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

#include "backupset.h"
#include "config.h"
#include "dbdump.h"
#include "manifest.h"
#include "tbackup.h"

#define SEED 20261205u

static char sdir[1024];

static void setup(void)
{
	char *d = ttmp_dir("rfaults");

	ck_assert_ptr_nonnull(d);
	snprintf(sdir, sizeof(sdir), "%s", d);
	free(d);
	load_pagila("pagila");
}

static void teardown(void)
{
	ttmp_rm(sdir);
}

static void drop_db(const char *name)
{
	sql("postgres", "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name);
}

/* Databases whose name starts with prefix. */
static long long count_dbs(const char *prefix)
{
	char q[512];

	snprintf(q, sizeof(q), "SELECT count(*) FROM pg_database WHERE starts_with(datname, '%s')",
		 prefix);
	return sql_int("postgres", q);
}

/* A project over database live, a copy of Pagila; restore_command
 * (a script path, may be NULL) and extra keys for the database spec. */
static void live_proj(struct proj *p, const char *live, const char *cmd, const char *extra)
{
	char dbs[4096], *ci;

	drop_db(live);
	sql("postgres", "CREATE DATABASE %s TEMPLATE pagila", live);
	ci = tpg_conninfo(live);
	snprintf(dbs, sizeof(dbs), "[ { \"name\": \"app\", \"conninfo\": \"%s\"%s%s%s%s } ]", ci,
		 cmd ? ", \"restore_command\": [\"" : "", cmd ? cmd : "", cmd ? "\"]" : "",
		 extra ? extra : "");
	proj_init(p, live, dbs);
	free(ci);
}

/* After the backup: change live, and keep a copy (ref) of it as changed. */
static void diverge(const char *live, const char *ref)
{
	sql(live, "DELETE FROM public.payment_p2022_02; UPDATE public.actor SET last_name = 'X' "
	    "WHERE actor_id < 50; CREATE TABLE public.added_later (v int); "
	    "INSERT INTO public.added_later VALUES (1), (2)");
	drop_db(ref);
	sql("postgres", "CREATE DATABASE %s TEMPLATE %s", ref, live);
}

static char *script(const char *name, const char *body)
{
	char path[1200];

	snprintf(path, sizeof(path), "%s/%s", sdir, name);
	write_script(path, body);
	return strdup(path);
}

START_TEST(test_swap_and_undo)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct proj p;
	json_t *res, *d;
	char kept[256], *id, *line, *eol;

	live_proj(&p, "rf_swap", NULL, NULL);
	id = backup_ok(&p, NULL);
	diverge("rf_swap", "rf_swap_ref");
	ck_assert_msg(bb(&p, &out, &err, "restore", id, "--clean", "--json") == 0, "%s", err.buf);
	assert_same_rows("pagila", "rf_swap");
	ck_assert_int_eq(sql_int("rf_swap", "SELECT count(*) FROM pg_tables WHERE tablename = "
				 "'added_later'"), 0);
	res = last_json(&out);
	d = json_array_get(json_object_get(res, "restored"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(d, "mode")), "swap");
	ck_assert_str_eq(json_string_value(json_object_get(d, "database")), "rf_swap");
	snprintf(kept, sizeof(kept), "%s", json_string_value(json_object_get(d, "kept")));
	ck_assert_msg(!strncmp(kept, "rf_swap__ballast_old_", 21), "%s", kept);
	/* where the time went: every stage of a swap restore with --jobs 1 */
	{
		json_t *t = json_object_get(d, "timings");
		const char *const stages[] = { "verify_ms", "pg_restore_ms", "count_ms",
					       "prepare_ms", "swap_ms", "total_ms" };

		for (size_t k = 0; k < sizeof(stages) / sizeof(stages[0]); k++)
			ck_assert_msg(json_is_integer(json_object_get(t, stages[k])) &&
				      json_integer_value(json_object_get(t, stages[k])) >= 0,
				      "timings.%s missing", stages[k]);
		ck_assert_ptr_null(json_object_get(t, "scratch_ms"));
		/* the old database is kept: nothing was dropped */
		ck_assert_ptr_null(json_object_get(t, "drop_ms"));
		ck_assert_int_ge(json_integer_value(json_object_get(t, "total_ms")),
				 json_integer_value(json_object_get(t, "swap_ms")) +
				 json_integer_value(json_object_get(t, "prepare_ms")));
		ck_assert_int_ge(json_integer_value(json_object_get(t, "total_ms")),
				 json_integer_value(json_object_get(t, "pg_restore_ms")));
	}
	json_decref(res);
	assert_same_rows(kept, "rf_swap_ref");
	ck_assert_int_eq(count_dbs("rf_swap__ballast_restore_"), 0);

	/* the text output names the server and gives the command that brings
	 * the old database back; run exactly that */
	diverge("rf_swap", "rf_swap_ref");
	drop_db(kept);
	ck_assert_msg(bb(&p, &out, &err, "restore", id, "--clean") == 0, "%s", err.buf);
	ck_assert_msg(strstr(out.buf, "into rf_swap on "), "%s", out.buf);
	line = strstr(out.buf, "psql ");
	ck_assert_msg(line != NULL, "%s", out.buf);
	eol = strchr(line, '\n');
	if (eol)
		*eol = '\0';
	sh(line);
	assert_same_rows("rf_swap", "rf_swap_ref");
	ck_assert_int_eq(count_dbs("rf_swap__ballast_undone_"), 1);
	snprintf(kept, sizeof(kept), "rf_swap__ballast_undone_%s",
		 strstr(strstr(out.buf, "kept as "), "_old_") + 5);
	eol = strchr(kept, ';');
	if (eol)
		*eol = '\0';
	assert_same_rows("pagila", kept);
	free(id);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

START_TEST(test_no_keep_and_dry_run)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct proj p;
	char *id;

	live_proj(&p, "rf_nokeep", NULL, NULL);
	id = backup_ok(&p, NULL);
	diverge("rf_nokeep", "rf_nokeep_ref");
	ck_assert_msg(bb(&p, &out, &err, "restore", id, "--clean", "--dry-run") == 0, "%s",
		      err.buf);
	ck_assert_msg(strstr(out.buf, "REPLACE rf_nokeep on ") && strstr(out.buf, id), "%s",
		      out.buf);
	assert_same_rows("rf_nokeep", "rf_nokeep_ref");
	ck_assert_int_eq(count_dbs("rf_nokeep__"), 0);
	/* on a terminal it asks, naming server, database and backup; "n" changes
	 * nothing (script(1) gives the restore a pseudo-terminal) */
	{
		struct strbuf bin = STRBUF_INIT, log = STRBUF_INIT;
		char cmd[4096], logf[1200];

		snprintf(logf, sizeof(logf), "%s/tty.log", sdir);
		snprintf(cmd, sizeof(cmd), "printf 'n\\n' | script -qec '%s --config %s restore %s "
			 "--clean' %s >/dev/null 2>&1; true", tbin("ballast-backup", &bin), p.cfg, id,
			 logf);
		sh(cmd);
		ck_assert_int_eq(tread_file(logf, &log), 0);
		ck_assert_msg(strstr(log.buf, "Go ahead with this restore?") &&
			      strstr(log.buf, "REPLACE rf_nokeep on ") && strstr(log.buf, id) &&
			      strstr(log.buf, "cancelled"), "%s", log.buf);
		strbuf_release(&bin);
		strbuf_release(&log);
	}
	assert_same_rows("rf_nokeep", "rf_nokeep_ref");
	ck_assert_int_eq(count_dbs("rf_nokeep__"), 0);
	ck_assert_msg(bb(&p, &out, &err, "restore", id, "--clean", "--no-keep", "--yes") == 0,
		      "%s", err.buf);
	assert_same_rows("pagila", "rf_nokeep");
	ck_assert_int_eq(count_dbs("rf_nokeep__"), 0);
	free(id);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

/* A lock held on a table, an idle-in-transaction session and an idle one
 * (the broken release's connections): terminated, then swapped. */
START_TEST(test_sessions_terminated)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct proj p;
	PGconn *locker, *idle;
	PGresult *r;
	char *id;

	live_proj(&p, "rf_sess", NULL, NULL);
	id = backup_ok(&p, NULL);
	diverge("rf_sess", "rf_sess_ref");
	locker = db_connect("rf_sess");
	idle = db_connect("rf_sess");
	PQclear(PQexec(locker, "BEGIN; LOCK TABLE public.actor IN ACCESS EXCLUSIVE MODE"));
	ck_assert_msg(bb(&p, &out, &err, "restore", id, "--clean") == 0, "%s", err.buf);
	assert_same_rows("pagila", "rf_sess");
	r = PQexec(idle, "SELECT 1");
	ck_assert_int_ne(PQresultStatus(r), PGRES_TUPLES_OK);
	PQclear(r);
	PQfinish(locker);
	PQfinish(idle);
	free(id);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

/* "restore_sessions": "wait": a session that stays makes the restore fail
 * after restore_wait, with the live database as it was. */
START_TEST(test_sessions_wait_times_out)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct proj p;
	PGconn *locker;
	char *id;

	live_proj(&p, "rf_wait", NULL, ", \"restore_sessions\": \"wait\", \"restore_wait\": \"1s\"");
	id = backup_ok(&p, NULL);
	diverge("rf_wait", "rf_wait_ref");
	locker = db_connect("rf_wait");
	PQclear(PQexec(locker, "BEGIN; LOCK TABLE public.actor IN ACCESS EXCLUSIVE MODE"));
	ck_assert_int_eq(bb(&p, &out, &err, "restore", id, "--clean"), 1);
	ck_assert_msg(strstr(err.buf, "still has 1 session") && strstr(err.buf, "unchanged"), "%s",
		      err.buf);
	PQclear(PQexec(locker, "COMMIT"));
	PQfinish(locker);
	assert_same_rows("rf_wait", "rf_wait_ref");
	ck_assert_int_eq(count_dbs("rf_wait__"), 0);
	/* --sessions terminate overrides the configuration */
	ck_assert_msg(bb(&p, &out, &err, "restore", id, "--clean", "--sessions", "terminate") == 0,
		      "%s", err.buf);
	assert_same_rows("pagila", "rf_wait");
	free(id);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

/* SIGTERM or SIGKILL while pg_restore runs (_i 0, 1) or after it finished
 * and before the swap (_i 2, 3), at a seeded moment: the live database is
 * unchanged; a later restore clears what a SIGKILL left and succeeds. */
START_TEST(test_signal_before_swap)
{
	static const int sigs[] = { SIGTERM, SIGKILL, SIGTERM, SIGKILL };
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, bin = STRBUF_INIT;
	struct child c = CHILD_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct proj p;
	const char *argv[] = { NULL, "--config", NULL, "restore", NULL, "--clean", NULL };
	char body[2048], mark[1200], logf[1200], name[64], *cmd, *id;
	unsigned seed = SEED + (unsigned)_i;
	int after = _i >= 2;

	snprintf(name, sizeof(name), "sig%d", _i);
	snprintf(mark, sizeof(mark), "%s/%s.mark", sdir, name);
	unlink(mark);
	if (after)
		snprintf(body, sizeof(body), "#!/bin/sh\npg_restore \"$@\" || exit $?\n"
			 "touch %s\nsleep 3\n", mark);
	else
		/* the pause after pg_restore keeps the swap 3 s away however
		 * fast pg_restore is: the signal cannot land after it */
		snprintf(body, sizeof(body), "#!/bin/sh\ntouch %s\npg_restore \"$@\"\nrc=$?\n"
			 "sleep 3\nexit $rc\n", mark);
	cmd = script(name, body);
	live_proj(&p, "rf_sig", cmd, NULL);
	id = backup_ok(&p, NULL);
	diverge("rf_sig", "rf_sig_ref");
	argv[0] = tbin("ballast-backup", &bin);
	argv[2] = p.cfg;
	argv[4] = id;
	snprintf(logf, sizeof(logf), "%s/%s.log", sdir, name);
	bb_start(&c, argv, logf, NULL);
	ck_assert_int_eq(wait_for_file(mark, 60), 0);
	usleep((useconds_t)(rand_r(&seed) % 300) * 1000);
	kill(c.pid, sigs[_i]);
	proc_finish(&c, &e);
	ck_assert_msg(c.status != 0, "restore finished before the signal");
	proc_release(&c);
	assert_same_rows("rf_sig", "rf_sig_ref");
	ck_assert_int_eq(sql_int("rf_sig", "SELECT count(*) FROM public.added_later"), 2);
	if (sigs[_i] == SIGTERM)
		ck_assert_int_eq(count_dbs("rf_sig__ballast_restore_"), 0);
	ck_assert_int_eq(count_dbs("rf_sig__ballast_old_"), 0);
	/* the next restore (same repository, without the wrapper) clears any
	 * leftover and succeeds */
	{
		char dbs[2048], *ci = tpg_conninfo("rf_sig");

		snprintf(dbs, sizeof(dbs), "[ { \"name\": \"app\", \"conninfo\": \"%s\" } ]", ci);
		proj_write_cfg(&p, p.cfg, dbs);
		free(ci);
	}
	ck_assert_msg(bb(&p, &out, &err, "restore", id, "--clean", "--no-keep") == 0, "%s",
		      err.buf);
	assert_same_rows("pagila", "rf_sig");
	ck_assert_int_eq(count_dbs("rf_sig__"), 0);
	free(cmd);
	free(id);
	strbuf_release(&bin);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

/* A non-empty target without --clean is refused before anything runs. */
START_TEST(test_non_empty_refused)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct proj p;
	char body[3000], mark[1200], *cmd, *id;

	snprintf(mark, sizeof(mark), "%s/ne.ran", sdir);
	unlink(mark);
	snprintf(body, sizeof(body), "#!/bin/sh\ntouch %s\nexec pg_restore \"$@\"\n", mark);
	cmd = script("ne", body);
	live_proj(&p, "rf_ne", cmd, NULL);
	id = backup_ok(&p, NULL);
	diverge("rf_ne", "rf_ne_ref");
	ck_assert_int_eq(bb(&p, &out, &err, "restore", id), 2);
	ck_assert_msg(strstr(err.buf, "rf_ne on ") && strstr(err.buf, "not empty") &&
		      strstr(err.buf, "--clean"), "%s", err.buf);
	ck_assert_int_ne(access(mark, F_OK), 0);
	ck_assert_int_eq(bb(&p, &out, &err, "restore", id, "--in-place"), 2);
	ck_assert_int_ne(access(mark, F_OK), 0);
	assert_same_rows("rf_ne", "rf_ne_ref");
	ck_assert_int_eq(count_dbs("rf_ne__"), 0);
	free(cmd);
	free(id);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

/* pg_restore's own "ERROR:" line reaches the user, not only its last
 * "Command was:" line. */
START_TEST(test_pg_restore_error_line)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct proj p;
	char *id, *target;

	live_proj(&p, "rf_errl", NULL, NULL);
	id = backup_ok(&p, NULL);
	drop_db("rf_errl_target");
	sql("postgres", "CREATE DATABASE rf_errl_target");
	/* no relation, so "empty"; but it holds a function the dump creates */
	sql("rf_errl_target", "CREATE FUNCTION public.last_day(timestamp with time zone) "
	    "RETURNS date LANGUAGE sql AS 'SELECT current_date'");
	target = tpg_conninfo("rf_errl_target");
	ck_assert_int_eq(bb(&p, &out, &err, "restore", id, "--target", target), 1);
	ck_assert_msg(strstr(err.buf, "ERROR:") && strstr(err.buf, "already exists") &&
		      strstr(err.buf, "Command was:"), "%s", err.buf);
	free(target);
	free(id);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

/* Two restores of the same database at once: the second exits 3. */
START_TEST(test_concurrent_restore_locked)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, bin = STRBUF_INIT;
	struct child c = CHILD_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct proj p;
	const char *argv[] = { NULL, "--config", NULL, "restore", NULL, "--clean", NULL };
	char body[3000], mark[1200], logf[1200], *cmd, *id;

	snprintf(mark, sizeof(mark), "%s/two.mark", sdir);
	unlink(mark);
	snprintf(body, sizeof(body), "#!/bin/sh\n[ -e %s ] || { touch %s; sleep 3; }\n"
		 "exec pg_restore \"$@\"\n", mark, mark);
	cmd = script("two", body);
	live_proj(&p, "rf_two", cmd, NULL);
	id = backup_ok(&p, NULL);
	diverge("rf_two", "rf_two_ref");
	argv[0] = tbin("ballast-backup", &bin);
	argv[2] = p.cfg;
	argv[4] = id;
	snprintf(logf, sizeof(logf), "%s/two.log", sdir);
	bb_start(&c, argv, logf, NULL);
	ck_assert_int_eq(wait_for_file(mark, 60), 0);
	ck_assert_int_eq(bb(&p, &out, &err, "restore", id, "--clean"), 3);
	ck_assert_msg(strstr(err.buf, "another restore of database rf_two"), "%s", err.buf);
	proc_finish(&c, &e);
	ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0, "status %d", c.status);
	proc_release(&c);
	assert_same_rows("pagila", "rf_two");
	free(cmd);
	free(id);
	strbuf_release(&bin);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

/* A corrupt object: refused before anything changes. */
START_TEST(test_corrupt_object)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct proj p;
	char obj[2048];
	struct stat st;
	char *id;

	live_proj(&p, "rf_bad", NULL, NULL);
	id = backup_ok(&p, NULL);
	diverge("rf_bad", "rf_bad_ref");
	snprintf(obj, sizeof(obj), "%s/shop/backups/%s/db-app.dump.zst", p.repo, id);
	ck_assert_int_eq(stat(obj, &st), 0);
	tflip_byte(obj, -1);
	ck_assert_int_eq(bb(&p, &out, &err, "restore", id, "--clean"), 4);
	ck_assert_int_eq(bb(&p, &out, &err, "restore", id, "--clean", "--jobs", "2"), 4);
	assert_same_rows("rf_bad", "rf_bad_ref");
	ck_assert_int_eq(count_dbs("rf_bad__"), 0);
	free(id);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

/* A caller's "verified" only drops dbdump's own hash-only pass: the stream
 * into pg_restore is still hashed, so an object that changed after the
 * caller looked (here: before, and the caller claims otherwise) fails the
 * restore, with --jobs 1 and with the scratch file of --jobs 2. */
START_TEST(test_verified_still_hashes_stream)
{
	struct errbuf e = ERRBUF_INIT;
	struct config *cfg = NULL;
	struct repo *r = NULL;
	struct proj p;
	const char *project;
	json_t *m = NULL, *item;
	char obj[2048], *id, *ci;
	struct stat st;
	int rc, jobs;

	live_proj(&p, "rf_hash", NULL, NULL);
	id = backup_ok(&p, NULL);
	snprintf(obj, sizeof(obj), "%s/shop/backups/%s/db-app.dump.zst", p.repo, id);
	ck_assert_int_eq(stat(obj, &st), 0);
	tflip_byte(obj, -1);
	ck_assert_msg(config_load(p.cfg, &cfg, &e) == 0, "%s", e.msg);
	ck_assert_msg(backupset_open(cfg, &r, &project, &e) == 0, "%s", e.msg);
	ck_assert_msg(backupset_load(r, project, id, &m, &e) == 0, "%s", e.msg);
	item = manifest_find_item(m, "db", "app");
	ck_assert_ptr_nonnull(item);
	for (jobs = 1; jobs <= 2; jobs++) {
		struct dbrestore_opts ro;
		struct dbrestore_times tm;

		drop_db("rf_hash_t");
		sql("postgres", "CREATE DATABASE rf_hash_t");
		ci = tpg_conninfo("rf_hash_t");
		memset(&ro, 0, sizeof(ro));
		ro.target = ci;
		ro.jobs = jobs;
		ro.verified = 1;
		ro.times = &tm;
		errbuf_clear(&e);
		rc = dbdump_restore(cfg, r, item, &ro, &e);
		ck_assert_msg(rc == BL_EVERIFY, "jobs %d: rc %d: %s", jobs, rc, e.msg);
		ck_assert_int_eq(tm.verify_ms, -1); /* no pass of its own */
		free(ci);
	}
	drop_db("rf_hash_t");
	json_decref(m);
	repo_close(r);
	config_free(cfg);
	free(id);
	proj_done(&p);
}
END_TEST

/* prune drops the databases restores kept once retention.kept_databases has
 * passed since their restore (recorded on them as a comment); one without
 * the comment, or another database's, is never touched. */
START_TEST(test_prune_kept_databases)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	const char *old = "rf_kept__ballast_old_20200101t000000z_0000";
	const char *other = "rf_keptx__ballast_old_20200101t000000z_0000";
	const char *manual = "rf_kept__ballast_old_manual";
	const char *note = "ballast: replaced at 2020-01-01T00:00:00Z by the restore of backup "
			   "20200101T000000Z-0000";
	struct proj p;
	json_t *res, *k;
	char dbs[4096], q[512], kept[256], *id, *ci;
	size_t i;
	int removed = 0;

	live_proj(&p, "rf_kept", NULL, NULL);
	id = backup_ok(&p, NULL);
	ck_assert_msg(bb(&p, &out, &err, "restore", id, "--clean", "--json") == 0, "%s", err.buf);
	res = last_json(&out);
	snprintf(kept, sizeof(kept), "%s", json_string_value(json_object_get(
		json_array_get(json_object_get(res, "restored"), 0), "kept")));
	json_decref(res);
	snprintf(q, sizeof(q), "SELECT count(*) FROM pg_database WHERE datname = '%s' AND "
		 "shobj_description(oid, 'pg_database') LIKE 'ballast: replaced at 20%%Z by the "
		 "restore of backup %s'", kept, id);
	ck_assert_int_eq(sql_int("postgres", q), 1);
	for (const char *const *n = (const char *const[]){ old, other, manual, NULL }; *n; n++) {
		drop_db(*n);
		sql("postgres", "CREATE DATABASE %s TEMPLATE template0", *n);
		if (*n != manual)
			sql("postgres", "COMMENT ON DATABASE %s IS '%s'", *n, note);
	}
	ci = tpg_conninfo("rf_kept");
	snprintf(dbs, sizeof(dbs), "[ { \"name\": \"app\", \"conninfo\": \"%s\" } ],\n"
		 "  \"retention\": { \"keep_last\": 5, \"kept_databases\": \"1h\" }", ci);
	proj_write_cfg(&p, p.cfg, dbs);

	/* the plan names each kept database; a dry run drops nothing */
	ck_assert_msg(bb(&p, &out, &err, "prune", "--dry-run") == 0, "%s", err.buf);
	ck_assert_msg(strstr(out.buf, "would remove rf_kept__ballast_old_20200101t000000z_0000"),
		      "%s", out.buf);
	ck_assert_msg(strstr(out.buf, "keep         rf_kept__ballast_old_manual"), "%s", out.buf);
	ck_assert_msg(!strstr(out.buf, other), "%s", out.buf);
	ck_assert_int_eq(count_dbs("rf_kept__ballast_old_"), 3);

	ck_assert_msg(bb(&p, &out, &err, "prune", "--json") == 0, "%s", err.buf);
	res = last_json(&out);
	ck_assert_int_eq(json_array_size(json_object_get(res, "kept_databases")), 3);
	json_array_foreach(json_object_get(res, "kept_databases"), i, k) {
		const char *n = json_string_value(json_object_get(k, "name"));
		const char *a = json_string_value(json_object_get(k, "action"));

		ck_assert_str_eq(a, strcmp(n, old) ? "keep" : "remove");
		removed += !strcmp(a, "remove");
		if (!strcmp(n, manual))
			ck_assert(json_is_null(json_object_get(k, "replaced_at")));
	}
	json_decref(res);
	ck_assert_int_eq(removed, 1);
	ck_assert_int_eq(count_dbs(old), 0);
	ck_assert_int_eq(count_dbs(kept), 1);
	ck_assert_int_eq(count_dbs(manual), 1);
	ck_assert_int_eq(count_dbs(other), 1);

	/* kept for 0s: the restore's own goes too, the one without a time stays */
	snprintf(dbs, sizeof(dbs), "[ { \"name\": \"app\", \"conninfo\": \"%s\" } ],\n"
		 "  \"retention\": { \"keep_last\": 5, \"kept_databases\": \"0s\" }", ci);
	proj_write_cfg(&p, p.cfg, dbs);
	ck_assert_msg(bb(&p, &out, &err, "prune") == 0, "%s", err.buf);
	ck_assert_int_eq(count_dbs(kept), 0);
	ck_assert_int_eq(count_dbs(manual), 1);

	/* a value that is no duration: exit 2 naming the field, nothing dropped */
	snprintf(dbs, sizeof(dbs), "[ { \"name\": \"app\", \"conninfo\": \"%s\" } ],\n"
		 "  \"retention\": { \"keep_last\": 5, \"kept_databases\": \"soon\" }", ci);
	proj_write_cfg(&p, p.cfg, dbs);
	ck_assert_int_eq(bb(&p, &out, &err, "prune"), 2);
	ck_assert_msg(strstr(err.buf, "kept_databases"), "%s", err.buf);
	ck_assert_int_eq(count_dbs(manual), 1);

	drop_db(manual);
	drop_db(other);
	drop_db("rf_kept");
	free(ci);
	free(id);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("restore_faults");
	TCase *tc = tcase_create("pg");

	/* as the binaries' main() does (interrupt_catch): a pg_restore that
	 * exits early is an EPIPE to handle, not a signal that kills the suite */
	signal(SIGPIPE, SIG_IGN);
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_swap_and_undo);
	tcase_add_test(tc, test_no_keep_and_dry_run);
	tcase_add_test(tc, test_prune_kept_databases);
	tcase_add_test(tc, test_sessions_terminated);
	tcase_add_test(tc, test_sessions_wait_times_out);
	tcase_add_loop_test(tc, test_signal_before_swap, 0, 4);
	tcase_add_test(tc, test_non_empty_refused);
	tcase_add_test(tc, test_pg_restore_error_line);
	tcase_add_test(tc, test_concurrent_restore_locked);
	tcase_add_test(tc, test_corrupt_object);
	tcase_add_test(tc, test_verified_still_hashes_stream);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
