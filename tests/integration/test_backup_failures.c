// services: pg
/* ballast-backup when things go wrong: a second run, a dump that fails
 * mid-stream, SIGKILL and SIGTERM mid-run, a corrupted object, a wrong or
 * missing password, a missing pg_dump, a full disk. Every case: a clear
 * exit code and line, no manifest, no temporary objects, earlier backups
 * untouched. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tbackup.h"
#include "lock.h"

static char *sdir; /* scripts, shared by the tests */

static void setup(void)
{
	sql("postgres", "DROP DATABASE IF EXISTS app");
	sql("postgres", "CREATE DATABASE app");
	sql("app", "CREATE TABLE orders (id bigint primary key, customer text, total numeric, "
	    "placed timestamptz, meta jsonb); INSERT INTO orders SELECT g, 'customer ' || g, "
	    "g * 1.5, now() - g * interval '1 minute', jsonb_build_object('n', g) "
	    "FROM generate_series(1, 20000) g");
	sdir = ttmp_dir("bkscripts");
}

static void teardown(void)
{
	ttmp_rm(sdir);
	free(sdir);
}

/* The "databases" JSON for database app; dump_command NULL = pg_dump. */
static void app_dbs(char *dbs, size_t n, const char *dump_command)
{
	char *ci = tpg_conninfo("app");

	if (dump_command)
		snprintf(dbs, n, "[ { \"name\": \"app\", \"conninfo\": \"%s\", "
			 "\"dump_command\": [\"%s\"] } ]", ci, dump_command);
	else
		snprintf(dbs, n, "[ { \"name\": \"app\", \"conninfo\": \"%s\" } ]", ci);
	free(ci);
}

static void app_proj(struct proj *p, const char *tag, const char *dump_command)
{
	char dbs[4096];

	app_dbs(dbs, sizeof(dbs), dump_command);
	proj_init(p, tag, dbs);
}

/* A dump_command: marker file, optional sleep before/after pg_dump. */
static char *wrapper(const char *name, const char *before, const char *after)
{
	char path[1024], body[2048];

	snprintf(path, sizeof(path), "%s/%s", sdir, name);
	snprintf(body, sizeof(body),
		 "#!/bin/sh\n"
		 "case \"$1\" in --version) exec pg_dump --version;; esac\n"
		 "echo $$ > %s/%s.pid\n"
		 "%s\n"
		 "pg_dump \"$@\" || exit $?\n"
		 "touch %s/%s.dumped\n"
		 "%s\n", sdir, name, before ? before : "", sdir, name, after ? after : "");
	write_script(path, body);
	return strdup(path);
}

static void marker(const char *name, const char *ext, char *out, size_t n)
{
	snprintf(out, n, "%s/%s.%s", sdir, name, ext);
	unlink(out);
}

START_TEST(test_concurrent_run_locked)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, bin = STRBUF_INIT, log = STRBUF_INIT;
	struct child c = CHILD_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct proj p;
	/* the second run must meet the lock within the first's sleep, on a
	 * loaded machine in a sanitizer build */
	char *w = wrapper("slow", "sleep 8", NULL), pidf[1200], logf[1200], expect[64];
	const char *argv[6];

	app_proj(&p, "concurrent", w);
	marker("slow", "pid", pidf, sizeof(pidf));
	snprintf(logf, sizeof(logf), "%s/first.log", p.dir);
	argv[0] = tbin("ballast-backup", &bin);
	argv[1] = "--config";
	argv[2] = p.cfg;
	argv[3] = "run";
	argv[4] = NULL;
	bb_start(&c, argv, logf, NULL);
	ck_assert_int_eq(wait_for_file(pidf, 20), 0);
	/* the second run exits 3 at once and names the holder */
	ck_assert_int_eq(bb(&p, &out, &err, "run"), 3);
	snprintf(expect, sizeof(expect), "pid %d", (int)c.pid);
	ck_assert_msg(strstr(err.buf, expect) && strstr(err.buf, "started"), "stderr: %s", err.buf);
	ck_assert_int_eq(proc_finish(&c, &e), 0);
	proc_release(&c);
	ck_assert_int_eq(count_status(&p, "good"), 1);
	/* the lock is free again */
	free(backup_ok(&p, NULL));
	ck_assert_int_eq(count_status(&p, "good"), 2);
	free(w);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&bin);
	strbuf_release(&log);
	proj_done(&p);
}
END_TEST

START_TEST(test_wait_for_lock)
{
	struct strbuf bin = STRBUF_INIT, out = STRBUF_INIT, err = STRBUF_INIT;
	struct child c = CHILD_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct lock *lk = NULL;
	struct proj p;
	char lockf[1200], logf[1200];
	const char *argv[] = { NULL, "--config", NULL, "run", "--wait", "30", NULL };

	app_proj(&p, "wait", NULL);
	snprintf(lockf, sizeof(lockf), "%s/state", p.dir);
	mkdir(lockf, 0700);
	snprintf(lockf, sizeof(lockf), "%s/state/shop.backup.lock", p.dir);
	ck_assert_int_eq(lock_acquire(lockf, "test", 0, &lk, &e), 0);
	ck_assert_int_eq(bb(&p, &out, &err, "run", "--wait", "0.5"), 3);
	ck_assert_ptr_nonnull(strstr(err.buf, "locked"));
	snprintf(logf, sizeof(logf), "%s/wait.log", p.dir);
	argv[0] = tbin("ballast-backup", &bin);
	argv[2] = p.cfg;
	bb_start(&c, argv, logf, NULL);
	sleep(1);
	ck_assert_int_eq(count_status(&p, "good"), 0);
	lock_release(lk);
	ck_assert_int_eq(proc_finish(&c, &e), 0);
	proc_release(&c);
	ck_assert_int_eq(count_status(&p, "good"), 1);
	strbuf_release(&bin);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

START_TEST(test_dump_fails_midstream)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct proj p;
	char path[1024], body[4096], dbs[4096];
	char *good;

	app_proj(&p, "midstream", NULL);
	good = backup_ok(&p, NULL);
	/* same repository, a dump command that dies after 100 kB */
	snprintf(path, sizeof(path), "%s/half", sdir);
	snprintf(body, sizeof(body), "#!/bin/sh\ncase \"$1\" in --version) exec pg_dump --version;; "
		 "esac\npg_dump \"$@\" | head -c 100000\necho 'pg_dump: error: connection lost' >&2\n"
		 "exit 1\n");
	write_script(path, body);
	app_dbs(dbs, sizeof(dbs), path);
	proj_write_cfg(&p, p.cfg, dbs);
	ck_assert_int_eq(bb(&p, &out, &err, "run"), 1);
	ck_assert_msg(strstr(err.buf, "connection lost") && strstr(err.buf, "backup of database app"),
		      "stderr: %s", err.buf);
	ck_assert_msg(!strchr(err.buf, '\n') || strchr(err.buf, '\n') == err.buf + err.len - 1,
		      "more than one line: %s", err.buf);
	ck_assert_int_eq(tmp_objects(&p), 0);
	ck_assert_int_eq(count_status(&p, "good"), 1);
	ck_assert_int_eq(count_status(&p, "incomplete"), 0);
	ck_assert_int_eq(bb(&p, &out, &err, "verify", good), 0);
	free(good);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

static void kill_wrapper(const char *name)
{
	char pidf[1200];
	struct strbuf sb = STRBUF_INIT;

	snprintf(pidf, sizeof(pidf), "%s/%s.pid", sdir, name);
	if (tread_file(pidf, &sb) == 0 && atoi(sb.buf) > 0)
		kill(-atoi(sb.buf), SIGKILL); /* the dump's process group */
	strbuf_release(&sb);
}

START_TEST(test_sigkill_then_clean_run)
{
	struct strbuf bin = STRBUF_INIT, out = STRBUF_INIT, err = STRBUF_INIT;
	struct child c = CHILD_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct proj p;
	char *w = wrapper("hang", NULL, "sleep 60"), done[1200], logf[1200], body[1200];
	const char *argv[] = { NULL, "--config", NULL, "run", NULL };
	char dbs[4096];
	char *good;

	app_proj(&p, "sigkill", NULL);
	/* p.cfg: plain pg_dump; <p.cfg>.hang: a dump that hangs after its output */
	snprintf(body, sizeof(body), "%s.hang", p.cfg);
	app_dbs(dbs, sizeof(dbs), w);
	proj_write_cfg(&p, body, dbs);
	good = backup_ok(&p, NULL);
	marker("hang", "dumped", done, sizeof(done));
	snprintf(logf, sizeof(logf), "%s/kill.log", p.dir);
	argv[0] = tbin("ballast-backup", &bin);
	argv[2] = body;
	bb_start(&c, argv, logf, NULL);
	ck_assert_int_eq(wait_for_file(done, 30), 0);
	usleep(300000);
	ck_assert_int_ge(tmp_objects(&p), 1); /* mid-write */
	proc_kill(&c, SIGKILL);
	proc_finish(&c, &e);
	ck_assert(WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGKILL);
	proc_release(&c);
	kill_wrapper("hang");
	/* list ignores the debris */
	ck_assert_int_eq(count_status(&p, "good"), 1);
	ck_assert_int_eq(count_status(&p, "incomplete"), 0);
	/* the next run is clean and removes it; the lock was released by the kernel */
	free(backup_ok(&p, NULL));
	ck_assert_int_eq(tmp_objects(&p), 0);
	ck_assert_int_eq(count_status(&p, "good"), 2);
	ck_assert_int_eq(bb(&p, &out, &err, "verify", good), 0);
	free(good);
	free(w);
	strbuf_release(&bin);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

START_TEST(test_sigterm_mid_run)
{
	struct strbuf bin = STRBUF_INIT, log = STRBUF_INIT;
	struct child c = CHILD_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct proj p;
	char *w = wrapper("term", NULL, "sleep 60"), done[1200], logf[1200], pidf[1200];
	const char *argv[] = { NULL, "--config", NULL, "run", NULL };
	struct strbuf pid = STRBUF_INIT;
	long long t0;

	app_proj(&p, "sigterm", w);
	marker("term", "dumped", done, sizeof(done));
	snprintf(logf, sizeof(logf), "%s/term.log", p.dir);
	argv[0] = tbin("ballast-backup", &bin);
	argv[2] = p.cfg;
	bb_start(&c, argv, logf, NULL);
	ck_assert_int_eq(wait_for_file(done, 30), 0);
	t0 = time_mono_ms();
	kill(c.pid, SIGTERM);
	proc_finish(&c, &e);
	ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 1, "status %d", c.status);
	ck_assert_int_lt(time_mono_ms() - t0, 10000); /* it did not wait for the sleep */
	proc_release(&c);
	ck_assert_int_eq(tread_file(logf, &log), 0);
	ck_assert_msg(strstr(log.buf, "interrupted"), "log: %s", log.buf);
	ck_assert_int_eq(tmp_objects(&p), 0);
	ck_assert_int_eq(count_status(&p, "good") + count_status(&p, "incomplete"), 0);
	/* the dump command's process group was killed too */
	snprintf(pidf, sizeof(pidf), "%s/term.pid", sdir);
	ck_assert_int_eq(tread_file(pidf, &pid), 0);
	usleep(200000);
	ck_assert_int_ne(kill(atoi(pid.buf), 0), 0);
	free(w);
	strbuf_release(&bin);
	strbuf_release(&log);
	strbuf_release(&pid);
	proj_done(&p);
}
END_TEST

START_TEST(test_flipped_byte)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct proj p;
	char obj[2048], key[512], *target, *id;
	struct stat st;

	app_proj(&p, "flip", NULL);
	id = backup_ok(&p, NULL);
	snprintf(key, sizeof(key), "shop/backups/%s/db-app.dump.zst", id);
	snprintf(obj, sizeof(obj), "%s/%s", p.repo, key);
	ck_assert_int_eq(stat(obj, &st), 0);
	ck_assert_int_eq(bb(&p, &out, &err, "verify", id), 0);
	tflip_byte(obj, -1);
	ck_assert_int_eq(bb(&p, &out, &err, "verify", id), 4);
	ck_assert_msg(strstr(err.buf, key) && strstr(err.buf, "sha256 mismatch"), "%s", err.buf);
	ck_assert_int_eq(bb(&p, &out, &err, "verify", "--all"), 4);
	ck_assert_int_eq(count_status(&p, "failed-verify"), 1);
	sql("postgres", "DROP DATABASE IF EXISTS flip_target");
	sql("postgres", "CREATE DATABASE flip_target");
	target = tpg_conninfo("flip_target");
	ck_assert_int_eq(bb(&p, &out, &err, "restore", id, "--target", target), 4);
	ck_assert_msg(strstr(err.buf, "refusing to restore"), "%s", err.buf);
	ck_assert_int_eq(bb(&p, &out, &err, "restore", id, "--target", target, "--jobs", "2"), 4);
	/* nothing reached the target */
	ck_assert_int_eq(sql_int("flip_target", "SELECT count(*) FROM pg_tables WHERE "
				 "schemaname = 'public'"), 0);
	/* a truncated object too */
	ck_assert_int_eq(truncate(obj, st.st_size - 100), 0);
	ck_assert_int_eq(bb(&p, &out, &err, "verify", id), 4);
	ck_assert_msg(strstr(err.buf, "truncated"), "%s", err.buf);
	free(target);
	free(id);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

/* A project that connects over TCP with the password from $BK_PW. */
static void tcp_proj(struct proj *p, const char *tag, const char *dump_command,
		     const char *inline_pw)
{
	char *ci = tsvc_read("pg", "conninfo_tcp");
	char dbs[4096], cmd[1200] = "";

	ck_assert_ptr_nonnull(ci);
	if (dump_command)
		snprintf(cmd, sizeof(cmd), ", \"dump_command\": [\"%s\"]", dump_command);
	if (inline_pw)
		snprintf(dbs, sizeof(dbs), "[ { \"name\": \"app\", \"conninfo\": \"%s dbname=app "
			 "password=%s\"%s } ]", ci, inline_pw, cmd);
	else
		snprintf(dbs, sizeof(dbs), "[ { \"name\": \"app\", \"conninfo\": \"%s dbname=app\", "
			 "\"password_env\": \"BK_PW\"%s } ]", ci, cmd);
	proj_init(p, tag, dbs);
	free(ci);
}

START_TEST(test_wrong_password)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	const char *env[] = { "BK_PW=not-the-password", "PGPASSWORD", NULL };
	struct proj p;

	tcp_proj(&p, "wrongpw", NULL, NULL);
	ck_assert_int_eq(bb_env(&p, env, &out, &err, "run", (const char *)NULL), 1);
	ck_assert_msg(strstr(err.buf, "password authentication failed"), "%s", err.buf);
	ck_assert_ptr_null(strstr(err.buf, "not-the-password"));
	ck_assert_int_eq(count_status(&p, "good") + count_status(&p, "incomplete"), 0);
	ck_assert_int_eq(tmp_objects(&p), 0);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

/* Some process's command line contains needle; with skip, command lines
 * that start with skip are ignored (the operator's own ballast-backup
 * command, and its forks before they exec). */
static int in_process_list(const char *needle, const char *skip)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int found = 0;

	while (d && (de = readdir(d)) && !found) {
		char path[300], buf[8192];
		size_t n;
		FILE *f;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		for (size_t i = 0; i < n; i++)
			if (!buf[i])
				buf[i] = ' ';
		buf[n] = '\0';
		found = strstr(buf, needle) != NULL && !(skip && !strncmp(buf, skip, strlen(skip)));
	}
	if (d)
		closedir(d);
	return found;
}

static void check_secret_run(int inline_pw)
{
	struct strbuf bin = STRBUF_INIT, log = STRBUF_INIT, man = STRBUF_INIT;
	struct child c = CHILD_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct proj p;
	char *pw = tsvc_read("pg", "password");
	char envpw[256], pidf[1200], logf[1200];
	const char *env[] = { envpw, "PGPASSWORD", NULL };
	const char *argv[] = { NULL, "--config", NULL, "-v", "--json", "run", NULL };
	char *w = wrapper(inline_pw ? "secret2" : "secret", "sleep 1", "sleep 1");
	int seen = 0, polls = 0;

	ck_assert_ptr_nonnull(pw);
	snprintf(envpw, sizeof(envpw), "BK_PW=%s", pw);
	tcp_proj(&p, "secret", w, inline_pw ? pw : NULL);
	marker(inline_pw ? "secret2" : "secret", "pid", pidf, sizeof(pidf));
	snprintf(logf, sizeof(logf), "%s/run.log", p.dir);
	argv[0] = tbin("ballast-backup", &bin);
	argv[2] = p.cfg;
	bb_start(&c, argv, logf, env);
	ck_assert_int_eq(wait_for_file(pidf, 20), 0);
	/* scan every process's argv while pg_dump and its wrapper run */
	while (kill(c.pid, 0) == 0 && polls++ < 100) {
		seen |= in_process_list(pw, NULL);
		usleep(30000);
	}
	ck_assert_int_eq(proc_finish(&c, &e), 0);
	proc_release(&c);
	ck_assert_int_eq(seen, 0);
	ck_assert_int_eq(tread_file(logf, &log), 0);
	ck_assert_ptr_nonnull(strstr(log.buf, "\"event\":\"result\""));
	ck_assert_msg(!strstr(log.buf, pw), "password in the output: %s", log.buf);
	sh("true");
	{
		char cmd[2400];
		struct strbuf found = STRBUF_INIT;
		const char *argv2[] = { "grep", "-rlF", "--", pw, p.dir, NULL };
		struct strbuf e2 = STRBUF_INIT;

		/* nothing under the project (repository, manifests, lock) holds it,
		 * except the config that was given it inline */
		(void)cmd;
		trun(argv2, NULL, &found, &e2);
		if (inline_pw)
			ck_assert_msg(!found.len || !strcmp(found.buf, p.cfg) ||
				      (strstr(found.buf, "ballast.json") && !strstr(found.buf, "repo/")),
				      "password stored in: %s", found.buf);
		else
			ck_assert_msg(found.len == 0, "password stored in: %s", found.buf);
		strbuf_release(&found);
		strbuf_release(&e2);
	}
	ck_assert_int_eq(count_status(&p, "good"), 1);
	free(w);
	free(pw);
	strbuf_release(&bin);
	strbuf_release(&log);
	strbuf_release(&man);
	proj_done(&p);
}

START_TEST(test_password_not_exposed)
{
	check_secret_run(0);
}
END_TEST

START_TEST(test_inline_password_not_exposed)
{
	check_secret_run(1);
}
END_TEST

/* restore over TCP: the password reaches pg_restore only through its
 * environment, also when given inline with --target. */
START_TEST(test_restore_password_not_exposed)
{
	struct strbuf bin = STRBUF_INIT, out = STRBUF_INIT, err = STRBUF_INIT, log = STRBUF_INIT;
	struct child c = CHILD_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct proj p;
	char *pw = tsvc_read("pg", "password"), *tcp = tsvc_read("pg", "conninfo_tcp");
	char envpw[256], script[1024], dbs[4096], target[1024], logf[1200], pidf[1200];
	const char *env[] = { envpw, "PGPASSWORD", NULL };
	const char *argv[] = { NULL, "--config", NULL, "restore", NULL, "--target", target, NULL };
	json_t *res;
	char *id;
	int seen = 0, polls = 0;

	ck_assert_ptr_nonnull(pw);
	ck_assert_ptr_nonnull(tcp);
	snprintf(envpw, sizeof(envpw), "BK_PW=%s", pw);
	snprintf(script, sizeof(script), "%s/slow-restore", sdir);
	snprintf(pidf, sizeof(pidf), "%s/slow-restore.pid", sdir);
	unlink(pidf);
	{
		char body[2048];

		snprintf(body, sizeof(body), "#!/bin/sh\necho $$ > %s\nsleep 1\n"
			 "pg_restore \"$@\" || exit $?\nsleep 1\n", pidf);
		write_script(script, body);
	}
	snprintf(dbs, sizeof(dbs), "[ { \"name\": \"app\", \"conninfo\": \"%s dbname=app\", "
		 "\"password_env\": \"BK_PW\", \"restore_command\": [\"%s\"] } ]", tcp, script);
	proj_init(&p, "restorepw", dbs);
	ck_assert_msg(bb_env(&p, env, &out, &err, "run", "--json", (const char *)NULL) == 0, "%s",
		      err.buf);
	res = last_json(&out);
	id = strdup(json_string_value(json_object_get(res, "backup_id")));
	json_decref(res);
	sql("postgres", "DROP DATABASE IF EXISTS pw_target");
	sql("postgres", "CREATE DATABASE pw_target");
	/* inline in --target; no BK_PW in the environment this time */
	snprintf(target, sizeof(target), "%s dbname=pw_target password=%s", tcp, pw);
	envpw[0] = 'X';
	snprintf(logf, sizeof(logf), "%s/restore.log", p.dir);
	argv[0] = tbin("ballast-backup", &bin);
	argv[2] = p.cfg;
	argv[4] = id;
	bb_start(&c, argv, logf, env);
	ck_assert_int_eq(wait_for_file(pidf, 20), 0);
	while (kill(c.pid, 0) == 0 && polls++ < 100) {
		/* ballast-backup's own argv has it: the operator typed it there */
		seen |= in_process_list(pw, argv[0]);
		usleep(30000);
	}
	ck_assert_int_eq(proc_finish(&c, &e), 0);
	proc_release(&c);
	ck_assert_int_eq(seen, 0);
	ck_assert_int_eq(tread_file(logf, &log), 0);
	ck_assert_msg(!strstr(log.buf, pw), "password in the output: %s", log.buf);
	ck_assert_int_eq(sql_int("pw_target", "SELECT count(*) FROM orders"), 20000);
	free(id);
	free(pw);
	free(tcp);
	strbuf_release(&bin);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&log);
	proj_done(&p);
}
END_TEST

START_TEST(test_missing_pg_dump)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct proj p;

	app_proj(&p, "nodump", "/nonexistent/pg_dump");
	ck_assert_int_eq(bb(&p, &out, &err, "run"), 1);
	ck_assert_msg(strstr(err.buf, "/nonexistent/pg_dump"), "%s", err.buf);
	ck_assert_int_eq(count_status(&p, "good") + count_status(&p, "incomplete"), 0);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

START_TEST(test_unreachable_server)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct proj p;

	proj_init(&p, "unreach", "[ { \"name\": \"app\", \"conninfo\": "
		  "\"host=127.0.0.1 port=1 user=postgres dbname=app connect_timeout=3\" } ]");
	ck_assert_int_eq(bb(&p, &out, &err, "run"), 1);
	ck_assert_msg(strstr(err.buf, "cannot connect to postgres@127.0.0.1:1/app"), "%s", err.buf);
	ck_assert_int_eq(count_status(&p, "good") + count_status(&p, "incomplete"), 0);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

/* A table lock held elsewhere: pg_dump gives up after lock_wait_timeout
 * with a line that says so, instead of hanging the nightly run. */
START_TEST(test_lock_wait_timeout)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct proj p;
	char dbs[4096], *ci = tpg_conninfo("app");
	PGconn *locker = db_connect("app");
	PGresult *r;

	snprintf(dbs, sizeof(dbs), "[ { \"name\": \"app\", \"conninfo\": \"%s\", "
		 "\"lock_wait_timeout\": \"1s\" } ]", ci);
	proj_init(&p, "lockwait", dbs);
	r = PQexec(locker, "BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE");
	ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	ck_assert_int_eq(bb(&p, &out, &err, "run"), 1);
	ck_assert_msg(strstr(err.buf, "lock_wait_timeout (1s)") && strstr(err.buf, "orders"), "%s",
		      err.buf);
	ck_assert_int_eq(count_status(&p, "good"), 0);
	PQclear(PQexec(locker, "COMMIT"));
	PQfinish(locker);
	free(backup_ok(&p, NULL));
	free(ci);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("backup_failures");
	TCase *tc = tcase_create("pg");

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_concurrent_run_locked);
	tcase_add_test(tc, test_wait_for_lock);
	tcase_add_test(tc, test_dump_fails_midstream);
	tcase_add_test(tc, test_sigkill_then_clean_run);
	tcase_add_test(tc, test_lock_wait_timeout);
	tcase_add_test(tc, test_sigterm_mid_run);
	tcase_add_test(tc, test_flipped_byte);
	tcase_add_test(tc, test_wrong_password);
	tcase_add_test(tc, test_password_not_exposed);
	tcase_add_test(tc, test_inline_password_not_exposed);
	tcase_add_test(tc, test_restore_password_not_exposed);
	tcase_add_test(tc, test_missing_pg_dump);
	tcase_add_test(tc, test_unreachable_server);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
