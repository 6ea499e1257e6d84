/* Point-in-time restore against a real PostgreSQL primary that archives
 * its WAL through the built ballast-backup wal-push: a physical base
 * backup taken while rows are being written, then restores to a restore
 * point, to a time between two commits and to the end of the archive, each
 * compared with the table's hash at that instant; and the refusals (target
 * before the backup, a restore point never reached, a running server, a
 * deleted or corrupted segment, SIGKILL at seeded moments), each leaving
 * the data directory byte for byte as it was.
 *
 * The suite starts its own primary (tests/services/pg.sh with
 * PG_EXTRA_OPTS="-c archive_mode=on"); archive_command is set with ALTER
 * SYSTEM, as an operator would. Kill moments come from BALLAST_FAULT_SEED
 * (scripts/test.sh sets 1; unset, the clock, printed for replay). */
#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <glob.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pitr.h"
#include "proc.h"
#include "strbuf.h"
#include "tsupport.h"
#include "ttree.h"

static char top[1024], pgdir[1100], datadir[1200], cfgpath[1200], repodir[1200];
static char ci_sock[2048], port[16], bindir[512];
/* the table's hash at each instant a restore aims for */
static char h_rp1[128], h_time[128], h_end[128], t_target[64];
static long long rows_before_backup, rows_after_backup;

static unsigned seed_state;

static unsigned next_rand(void)
{
	seed_state = seed_state * 1103515245u + 12345u;
	return (seed_state >> 8) & 0xffffff;
}

static const char *self_bin(void)
{
	static struct strbuf b = STRBUF_INIT;

	return tbin("ballast-backup", &b);
}

static PGconn *conn(void)
{
	PGconn *c = PQconnectdb(ci_sock);

	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect %s: %s", ci_sock, PQerrorMessage(c));
	return c;
}

/* The first value of the first row. */
static void q1(PGconn *c, const char *q, char *out, size_t n)
{
	PGresult *r = PQexec(c, q);

	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK,
		      "%s: %s", q, PQerrorMessage(c));
	if (out)
		snprintf(out, n, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
}

static const char hash_sql[] =
	"SELECT count(*) || ':' || coalesce(md5(string_agg(id || '=' || v, ',' ORDER BY id)), '') "
	"FROM t";

/* Run as the cluster's owner (postgres when we are root). */
static int as_owner(const char *const *argv, struct strbuf *out, struct strbuf *err)
{
	const char *full[32];
	int n = 0;

	if (geteuid() == 0) {
		full[n++] = "runuser";
		full[n++] = "-u";
		full[n++] = "postgres";
		full[n++] = "--";
	}
	for (int i = 0; argv[i] && n < 31; i++)
		full[n++] = argv[i];
	full[n] = NULL;
	return trun(full, NULL, out, err);
}

static void server_start(void)
{
	char pgctl[600], opts[2048], logp[1300];
	struct strbuf err = STRBUF_INIT;
	const char *argv[] = { pgctl, "-D", datadir, "-l", logp, "-w", "-t", "120", "-o", opts,
			       "start", NULL };

	snprintf(pgctl, sizeof(pgctl), "%s/pg_ctl", bindir);
	snprintf(logp, sizeof(logp), "%s/server.log", pgdir);
	snprintf(opts, sizeof(opts), "-c listen_addresses=127.0.0.1 -p %s -c "
		 "unix_socket_directories=%s -c fsync=off -c archive_mode=on", port, pgdir);
	ck_assert_msg(as_owner(argv, NULL, &err) == 0, "pg_ctl start: %s", err.buf);
	strbuf_release(&err);
}

static void server_stop(void)
{
	char pgctl[600];
	struct strbuf err = STRBUF_INIT;
	const char *argv[] = { pgctl, "-D", datadir, "-m", "fast", "-w", "-t", "120", "stop", NULL };

	snprintf(pgctl, sizeof(pgctl), "%s/pg_ctl", bindir);
	ck_assert_msg(as_owner(argv, NULL, &err) == 0, "pg_ctl stop: %s", err.buf);
	strbuf_release(&err);
}

static int run_backup(const char *const *args, struct strbuf *out, struct strbuf *err)
{
	const char *argv[32];
	int n = 0;

	argv[n++] = self_bin();
	argv[n++] = "--config";
	argv[n++] = cfgpath;
	for (int i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	strbuf_reset(out);
	strbuf_reset(err);
	return trun(argv, NULL, out, err);
}

/* Every segment up to the current one archived (the server switched). */
static void wait_archived(PGconn *c)
{
	char want[64], got[64];
	long long deadline = time_mono_ms() + 120000;

	q1(c, "SELECT pg_walfile_name(pg_switch_wal())", want, sizeof(want));
	for (;;) {
		q1(c, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver", got, sizeof(got));
		if (got[0] && strcmp(got, want) >= 0)
			return;
		ck_assert_msg(time_mono_ms() < deadline, "segment %s not archived (last: %s)", want,
			      got);
		usleep(100 * 1000);
	}
}

static volatile int writer_stop;
static long long writer_rows;

/* Rows committed one by one while the base backup runs. */
static void *writer(void *arg)
{
	PGconn *c = PQconnectdb(ci_sock);

	(void)arg;
	while (PQstatus(c) == CONNECTION_OK && !writer_stop) {
		PGresult *r = PQexec(c, "INSERT INTO t (v) VALUES ('during-backup')");

		if (PQresultStatus(r) == PGRES_COMMAND_OK)
			writer_rows++;
		PQclear(r);
	}
	PQfinish(c);
	return NULL;
}

static void setup(void)
{
	char *d = ttmp_dir("pitr"), sh[1300], cfg[4096], sql[2048], now[64];
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	const char *env_seed = getenv("BALLAST_FAULT_SEED");
	pthread_t th;
	PGconn *c;
	struct passwd *pw = getpwnam("postgres");
	int rc;

	/* scripts/test.sh sets the seed; unset (scripts/soak.sh), a fresh one */
	seed_state = env_seed && *env_seed ? (unsigned)strtoul(env_seed, NULL, 10) :
		     (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
	fprintf(stderr, "pitr: seed %u (replay with BALLAST_FAULT_SEED=%u)\n", seed_state,
		seed_state);
	ck_assert_ptr_nonnull(d);
	snprintf(top, sizeof(top), "%s", d);
	free(d);
	/* the cluster's owner reads the configuration and writes the repository */
	chmod(top, 0755);
	snprintf(pgdir, sizeof(pgdir), "%s/pg", top);
	snprintf(datadir, sizeof(datadir), "%s/data", pgdir);
	snprintf(cfgpath, sizeof(cfgpath), "%s/ballast.json", top);
	snprintf(repodir, sizeof(repodir), "%s/repo", top);
	snprintf(sh, sizeof(sh), "%s/tests/services/pg.sh", BALLAST_SOURCE_DIR);
	setenv("PG_EXTRA_OPTS", "-c archive_mode=on -c wal_level=replica", 1);
	/* 1 MiB segments: not PostgreSQL's default 16, so segment names and
	 * the archive's gap check are tested on a size ballast must learn from
	 * the base backup; and every switch archives a sixteenth of the bytes */
	setenv("PG_INITDB_OPTS", "--wal-segsize=1", 1);
	{
		const char *argv[] = { sh, "start", pgdir, NULL };

		rc = trun(argv, NULL, &out, &err);
		ck_assert_msg(rc == 0, "pg.sh start: %s", err.buf);
	}
	unsetenv("PG_EXTRA_OPTS");
	unsetenv("PG_INITDB_OPTS");
	{
		struct strbuf f = STRBUF_INIT;

		snprintf(sh, sizeof(sh), "%s/port", pgdir);
		ck_assert_int_eq(tread_file(sh, &f), 0);
		strbuf_rtrim(&f);
		snprintf(port, sizeof(port), "%s", f.buf);
		strbuf_reset(&f);
		snprintf(sh, sizeof(sh), "%s/bindir", pgdir);
		ck_assert_int_eq(tread_file(sh, &f), 0);
		strbuf_rtrim(&f);
		snprintf(bindir, sizeof(bindir), "%s", f.buf);
		strbuf_reset(&f);
		snprintf(sh, sizeof(sh), "%s/password", pgdir);
		ck_assert_int_eq(tread_file(sh, &f), 0);
		strbuf_rtrim(&f);
		setenv("PITR_PG_PASSWORD", f.buf, 1);
		strbuf_release(&f);
	}
	snprintf(ci_sock, sizeof(ci_sock), "host=%s port=%s user=postgres dbname=postgres", pgdir,
		 port);
	ck_assert_int_eq(mkdir(repodir, 0755), 0);
	if (geteuid() == 0 && pw)
		ck_assert_int_eq(chown(repodir, pw->pw_uid, pw->pw_gid), 0);
	/* Over TCP with a password, as to a server in a container. */
	snprintf(cfg, sizeof(cfg),
		 "{ \"project\": \"pitr\", \"repository\": { \"type\": \"local\", \"path\": \"%s\" },\n"
		 "  \"compression\": { \"level\": 3, \"threads\": 2 },\n"
		 "  \"retention\": { \"keep_last\": 1 },\n"
		 "  \"databases\": [ { \"name\": \"app\", \"mode\": \"physical\",\n"
		 "    \"conninfo\": \"host=127.0.0.1 port=%s user=postgres dbname=postgres\",\n"
		 "    \"password_env\": \"PITR_PG_PASSWORD\", \"pg_bindir\": \"%s\" } ] }\n",
		 repodir, port, bindir);
	ck_assert_int_eq(twrite_file(cfgpath, cfg), 0);
	chmod(cfgpath, 0644);
	tinit_repo(cfgpath);
	/* archive_command runs as the server's owner: the project folder and
	 * marker init made as root are handed over, as an operator would. */
	if (geteuid() == 0 && pw) {
		char p2[sizeof(repodir) + 64];

		snprintf(p2, sizeof(p2), "%s/pitr", repodir);
		ck_assert_int_eq(chown(p2, pw->pw_uid, pw->pw_gid), 0);
		snprintf(p2, sizeof(p2), "%s/pitr/repository.json", repodir);
		ck_assert_int_eq(chown(p2, pw->pw_uid, pw->pw_gid), 0);
	}

	c = conn();
	snprintf(sql, sizeof(sql), "ALTER SYSTEM SET archive_command = '%s --config %s wal-push %%p'",
		 self_bin(), cfgpath);
	q1(c, sql, NULL, 0);
	q1(c, "SELECT pg_reload_conf()", NULL, 0);
	q1(c, "CREATE TABLE t (id bigserial PRIMARY KEY, v text NOT NULL)", NULL, 0);
	q1(c, "INSERT INTO t (v) SELECT 'before-' || g FROM generate_series(1, 5000) g", NULL, 0);
	wait_archived(c);
	/* a restore point no base backup can reach: made before the first */
	{
		const char *args[] = { "restore-point", "pre-backup", NULL };

		rc = run_backup(args, &out, &err);
		ck_assert_msg(rc == 0 && strstr(out.buf, "restore point pre-backup of database app "
						"at LSN "), "restore-point: %s %s", out.buf, err.buf);
	}

	/* The base backup, with commits landing all through it. */
	writer_stop = 0;
	ck_assert_int_eq(pthread_create(&th, NULL, writer, NULL), 0);
	while (writer_rows < 20)
		usleep(10 * 1000);
	rows_before_backup = writer_rows;
	{
		const char *args[] = { "run", NULL };

		rc = run_backup(args, &out, &err);
	}
	rows_after_backup = writer_rows;
	writer_stop = 1;
	pthread_join(th, NULL);
	ck_assert_msg(rc == 0, "run: %s", err.buf);
	ck_assert_msg(rows_after_backup > rows_before_backup, "no commit during the base backup");
	/* the manifest records the segment size the base backup showed */
	{
		char cmd[1400];
		const char *argv[] = { "sh", "-c", cmd, NULL };
		json_t *m, *it;

		snprintf(cmd, sizeof(cmd), "find %s/pitr -name manifest.json -exec cat {} +",
			 repodir);
		ck_assert_int_eq(trun(argv, NULL, &out, &err), 0);
		m = json_loads(out.buf, 0, NULL);
		it = json_array_get(json_object_get(m, "items"), 0);
		ck_assert_msg(json_integer_value(json_object_get(it, "wal_segment_size")) == 1 << 20,
			      "manifest: %.400s", out.buf);
		json_decref(m);
	}

	/* After the backup: rows, a restore point, rows, two commits around a
	 * time, then the end. */
	q1(c, "INSERT INTO t (v) SELECT 'after-' || g FROM generate_series(1, 300) g", NULL, 0);
	/* a segment of its own, so one lies between the backup and the end */
	wait_archived(c);
	q1(c, hash_sql, h_rp1, sizeof(h_rp1));
	{
		const char *args[] = { "restore-point", "before-release", NULL };

		rc = run_backup(args, &out, &err);
		ck_assert_msg(rc == 0, "restore-point: %s", err.buf);
		/* a name is recorded once */
		ck_assert_int_eq(run_backup(args, &out, &err), 2);
		ck_assert_msg(strstr(err.buf, "already exists"), "%s", err.buf);
	}
	q1(c, "INSERT INTO t (v) SELECT 'release-' || g FROM generate_series(1, 200) g", NULL, 0);
	q1(c, "INSERT INTO t (v) VALUES ('x')", NULL, 0);
	q1(c, hash_sql, h_time, sizeof(h_time));
	/* The server's clock, after X committed and before Y starts. */
	q1(c, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', "
	    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')", now, sizeof(now));
	snprintf(t_target, sizeof(t_target), "%s", now);
	/* Commit timestamps have microseconds: keep Y clearly after T. */
	q1(c, "SELECT pg_sleep(0.05)", NULL, 0);
	q1(c, "INSERT INTO t (v) VALUES ('y')", NULL, 0);
	/* pg_basebackup does not switch segments at its end: with these two
	 * switches at least one archived segment lies between the backup's
	 * stop segment and the newest one */
	wait_archived(c);
	q1(c, "INSERT INTO t (v) SELECT 'late-' || g FROM generate_series(1, 100) g", NULL, 0);
	q1(c, hash_sql, h_end, sizeof(h_end));
	wait_archived(c);
	PQfinish(c);
	server_stop();
	strbuf_release(&out);
	strbuf_release(&err);
}

static void teardown(void)
{
	char sh[1300];
	const char *argv[] = { sh, "stop", pgdir, NULL };

	snprintf(sh, sizeof(sh), "%s/tests/services/pg.sh", BALLAST_SOURCE_DIR);
	trun(argv, NULL, NULL, NULL);
	ttmp_rm(top);
}

/* What must not change: every entry of DIR (modes, owners, sizes, mtimes,
 * content hashes), so also PG_VERSION and global/pg_control. */
static void snapshot(struct strbuf *out)
{
	strbuf_reset(out);
	ck_assert_int_eq(ttree_list(datadir, out), 0);
	ck_assert_ptr_nonnull(strstr(out->buf, "global/pg_control"));
}

static void assert_untouched(const struct strbuf *before, const char *what)
{
	struct strbuf now = STRBUF_INIT;

	snapshot(&now);
	ck_assert_msg(!strcmp(now.buf, before->buf), "%s: the data directory changed", what);
	strbuf_release(&now);
}

/* How many paths PATTERN (a glob under pgdir) names. */
static int present(const char *pattern)
{
	char pat[1400];
	glob_t g;
	int n;

	snprintf(pat, sizeof(pat), "%s/%s", pgdir, pattern);
	n = glob(pat, 0, NULL, &g) == 0 ? (int)g.gl_pathc : 0;
	if (n)
		globfree(&g);
	return n;
}

/* No sibling of an unfinished restore stays behind after a clean failure. */
static int siblings(const char *kind)
{
	char pattern[64];

	snprintf(pattern, sizeof(pattern), "data.ballast-%s-*", kind);
	return present(pattern);
}

static void remove_kept(void)
{
	char cmd[1400];
	const char *argv[] = { "sh", "-c", cmd, NULL };

	snprintf(cmd, sizeof(cmd), "rm -rf %s/data.ballast-old-*", pgdir);
	ck_assert_int_eq(trun(argv, NULL, NULL, NULL), 0);
}

static void table_hash(char *out, size_t n)
{
	PGconn *c;

	server_start();
	c = conn();
	q1(c, hash_sql, out, n);
	PQfinish(c);
	server_stop();
}

/* The stored object of one archived segment (the first after the backup). */
static void segment_object(int nth, struct strbuf *path, struct strbuf *name)
{
	char cmd[1400];
	struct strbuf ls = STRBUF_INIT;
	const char *argv[] = { "sh", "-c", cmd, NULL }, *line;
	int i = 0;

	snprintf(cmd, sizeof(cmd), "find %s/pitr/wal/app -type f -name '0000000100000000*' "
		 "-not -name '*.backup-*' -not -name '*.partial-*' | sort", repodir);
	ck_assert_int_eq(trun(argv, NULL, &ls, NULL), 0);
	strbuf_reset(path);
	strbuf_reset(name);
	for (line = ls.buf; *line; i++) {
		const char *eol = strchr(line, '\n');

		if (i == nth) {
			strbuf_add(path, line, eol ? (size_t)(eol - line) : strlen(line));
			break;
		}
		if (!eol)
			break;
		line = eol + 1;
	}
	ck_assert_msg(path->len, "no archived segment %d in %s", nth, ls.buf);
	strbuf_add(name, strrchr(path->buf, '/') + 1, 24);
	strbuf_release(&ls);
}

/* How many segments of timeline 1 are archived. */
static int segments(void)
{
	char cmd[1400];
	struct strbuf ls = STRBUF_INIT;
	const char *argv[] = { "sh", "-c", cmd, NULL };
	int n;

	snprintf(cmd, sizeof(cmd), "find %s/pitr/wal/app -type f -name '0000000100000000*' "
		 "-not -name '*.backup-*' -not -name '*.partial-*' | wc -l", repodir);
	ck_assert_int_eq(trun(argv, NULL, &ls, NULL), 0);
	n = atoi(ls.buf);
	strbuf_release(&ls);
	return n;
}

START_TEST(test_wal_push_fetch)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, obj = STRBUF_INIT,
		      name = STRBUF_INIT, a = STRBUF_INIT, b = STRBUF_INIT;
	char seg[1400], dest[1400], other[1400];
	const char *push[] = { "wal-push", seg, NULL };
	const char *push2[] = { "wal-push", other, NULL };
	const char *fetch[] = { "wal-fetch", NULL, dest, NULL };

	/* fetch a segment, push it back: the same content is success */
	segment_object(1, &obj, &name);
	snprintf(dest, sizeof(dest), "%s/fetched", top);
	fetch[1] = name.buf;
	ck_assert_msg(run_backup(fetch, &out, &err) == 0, "%s", err.buf);
	ck_assert_int_eq(tread_file(dest, &a), 0);
	ck_assert_int_eq((int)a.len, 1024 * 1024); /* initdb --wal-segsize=1 */
	snprintf(seg, sizeof(seg), "%s/%s", top, name.buf);
	ck_assert_int_eq(rename(dest, seg), 0);
	ck_assert_msg(run_backup(push, &out, &err) == 0, "%s", err.buf);
	/* other content under the same name: refused, naming it */
	snprintf(other, sizeof(other), "%s/x/%s", top, name.buf);
	snprintf(dest, sizeof(dest), "%s/x", top);
	ck_assert_int_eq(mkdir(dest, 0755), 0);
	a.buf[4096] ^= 1;
	{
		FILE *f = fopen(other, "wb");

		ck_assert_ptr_nonnull(f);
		ck_assert_int_eq((int)fwrite(a.buf, 1, a.len, f), (int)a.len);
		fclose(f);
	}
	ck_assert_int_eq(run_backup(push2, &out, &err), 1);
	ck_assert_msg(strstr(err.buf, name.buf) && strstr(err.buf, "different content"), "%s",
		      err.buf);
	/* the stored copy is still the first one */
	snprintf(dest, sizeof(dest), "%s/fetched", top);
	ck_assert_msg(run_backup(fetch, &out, &err) == 0, "%s", err.buf);
	ck_assert_int_eq(tread_file(dest, &b), 0);
	a.buf[4096] ^= 1;
	ck_assert(a.len == b.len && !memcmp(a.buf, b.buf, a.len));
	/* what PostgreSQL probes for and is not there: non-zero, nothing written */
	unlink(dest);
	fetch[1] = "00000063.history";
	ck_assert_int_eq(run_backup(fetch, &out, &err), 1);
	ck_assert_int_ne(access(dest, F_OK), 0);
	/* not a WAL file name: a usage error, never a key */
	fetch[1] = "../../etc";
	ck_assert_int_eq(run_backup(fetch, &out, &err), 2);
	unlink(seg);
	unlink(other);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&obj);
	strbuf_release(&name);
	strbuf_release(&a);
	strbuf_release(&b);
}
END_TEST

START_TEST(test_refusals_leave_dir)
{
	struct strbuf before = STRBUF_INIT, out = STRBUF_INIT, err = STRBUF_INIT;
	char pidfile[1300], pidtext[32];
	const char *early[] = { "restore", "--pitr", "--db", "app", "--data-dir", datadir,
				"--time", "2001-01-01T00:00:00Z", NULL };
	const char *noname[] = { "restore", "--pitr", "--db", "app", "--data-dir", datadir,
				 "--timeline", "1", "--name", "never-created", NULL };
	const char *latest[] = { "restore", "--pitr", "--db", "app", "--data-dir", datadir,
				 "--latest", NULL };
	const char *before_backup[] = { "restore", "--pitr", "--db", "app", "--data-dir",
					datadir, "--name", "pre-backup", NULL };
	struct stat st;
	struct timespec times[2];

	snapshot(&before);
	/* a target before the only base backup ended */
	ck_assert_int_eq(run_backup(early, &out, &err), 1);
	ck_assert_msg(strstr(err.buf, "before the end of the oldest base backup"), "%s", err.buf);
	assert_untouched(&before, "target before the backup");
	/* a recorded restore point older than every base backup: refused at
	 * once, nothing extracted */
	ck_assert_int_eq(run_backup(before_backup, &out, &err), 1);
	ck_assert_msg(strstr(err.buf, "restore point \"pre-backup\" is before the end of the oldest "
			      "base backup"), "%s", err.buf);
	ck_assert_int_eq(siblings("new"), 0);
	assert_untouched(&before, "restore point before the backup");
	/* a restore point that is never reached: the server ends recovery */
	ck_assert_int_eq(run_backup(noname, &out, &err), 1);
	ck_assert_msg(strstr(err.buf, "ended before it reached restore point \"never-created\""),
		      "%s", err.buf);
	ck_assert_msg(strchr(err.buf, '\n') == strrchr(err.buf, '\n'), "not one line: %s", err.buf);
	assert_untouched(&before, "unknown restore point");
	ck_assert_int_eq(siblings("new"), 0);
	ck_assert_int_eq(siblings("old"), 0);
	/* a server running on DIR (this process's pid stands in for it) */
	ck_assert_int_eq(stat(datadir, &st), 0);
	snprintf(pidfile, sizeof(pidfile), "%s/postmaster.pid", datadir);
	snprintf(pidtext, sizeof(pidtext), "%ld\n", (long)getpid());
	ck_assert_int_eq(twrite_file(pidfile, pidtext), 0);
	ck_assert_int_eq(run_backup(latest, &out, &err), 2);
	ck_assert_msg(strstr(err.buf, "which is running"), "%s", err.buf);
	unlink(pidfile);
	times[0] = st.st_atim;
	times[1] = st.st_mtim;
	utimensat(AT_FDCWD, datadir, times, 0);
	assert_untouched(&before, "running server");
	strbuf_release(&before);
	strbuf_release(&out);
	strbuf_release(&err);
}
END_TEST

/* A segment the recovery needs, deleted from the repository, then
 * corrupted: refused, naming it, DIR untouched. */
START_TEST(test_missing_and_corrupt_segment)
{
	struct strbuf before = STRBUF_INIT, out = STRBUF_INIT, err = STRBUF_INIT,
		      obj = STRBUF_INIT, name = STRBUF_INIT;
	char aside[1400];
	const char *latest[] = { "restore", "--pitr", "--db", "app", "--data-dir", datadir,
				 "--timeline", "1", "--latest", NULL };

	snapshot(&before);
	/* the last-but-one archived segment: recovery needs it, and one follows */
	segment_object(segments() - 2, &obj, &name);
	snprintf(aside, sizeof(aside), "%s/aside.zst", top);
	ck_assert_int_eq(rename(obj.buf, aside), 0);
	ck_assert_msg(run_backup(latest, &out, &err) == 1, "restore without %s: %s %s", obj.buf,
		      out.buf, err.buf);
	ck_assert_msg(strstr(err.buf, name.buf) && strstr(err.buf, "missing from the archive"),
		      "%s", err.buf);
	assert_untouched(&before, "missing segment");
	ck_assert_int_eq(rename(aside, obj.buf), 0);

	/* corrupted in place: wal-fetch refuses it, the restore names it */
	tflip_byte(obj.buf, -1);
	ck_assert_int_eq(run_backup(latest, &out, &err), 4);
	ck_assert_msg(strstr(err.buf, name.buf) && strstr(err.buf, "damaged"), "%s", err.buf);
	assert_untouched(&before, "corrupt segment");
	ck_assert_int_eq(siblings("new"), 0);
	tflip_byte(obj.buf, -1);	/* put back */
	strbuf_release(&before);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&obj);
	strbuf_release(&name);
}
END_TEST

/* Stops the restore (SIGSTOP, waited for) and tells whether its phase has
 * come. Checked while it stands still, "a sibling still holds the marker"
 * proves the swap has not begun: the marker leaves the sibling only with
 * the exchange. 0: not yet (it runs on), 1: come (it stays stopped), -1:
 * it ended. */
static int stop_at(pid_t pid, int moment)
{
	int st;

	if (kill(pid, SIGSTOP) < 0 || waitpid(pid, &st, WUNTRACED) != pid || !WIFSTOPPED(st))
		return -1;
	if (present("data.ballast-new-*/" PITR_MARKER) &&
	    (moment == 0 || present("data.ballast-new-*/postmaster.pid")))
		return 1;
	kill(pid, SIGCONT);
	return 0;
}

/* SIGKILL while extracting, while the temporary server recovers, and while
 * it goes on alone for a while (to its promotion, on most seeds): DIR as it
 * was every time; the next run cleans up. The restore is stopped at the
 * moment and killed stopped, so no kill can land after the swap however
 * slow or fast the machine is. */
START_TEST(test_sigkill_leaves_dir)
{
	struct strbuf before = STRBUF_INIT, out = STRBUF_INIT, err = STRBUF_INIT;
	char cfgarg[1300];
	const char *argv[] = { self_bin(), "--config", cfgarg, "restore", "--pitr", "--db", "app",
			       "--data-dir", datadir, "--timeline", "1", "--latest", NULL };
	int moment;

	snprintf(cfgarg, sizeof(cfgarg), "%s", cfgpath);
	snapshot(&before);
	for (moment = 0; moment < 3; moment++) {
		struct child c = CHILD_INIT;
		struct errbuf e = ERRBUF_INIT;
		long long deadline = time_mono_ms() + 120000;
		/* while stopped: the temporary server (moments 1, 2) goes on */
		unsigned delay = next_rand() % (moment == 2 ? 1500 : 100);
		int phase;

		c.argv = argv;
		c.in_mode = PROC_NULL;
		c.out_mode = PROC_NULL;
		c.err_mode = PROC_NULL;
		ck_assert_int_eq(proc_start(&c, &e), 0);
		while ((phase = stop_at(c.pid, moment)) == 0) {
			ck_assert_msg(time_mono_ms() < deadline, "moment %d never came", moment);
			usleep(10 * 1000);
		}
		ck_assert_msg(phase == 1, "the restore ended before moment %d", moment);
		usleep(delay * 1000);
		kill(c.pid, SIGKILL);
		proc_finish(&c, &e);
		proc_release(&c);
		assert_untouched(&before, "SIGKILL");
	}
	/* the next restore removes what the killed ones left, and succeeds */
	{
		const char *args[] = { "restore", "--pitr", "--db", "app", "--data-dir", datadir,
				       "--timeline", "1", "--latest", NULL };
		char h[128];
		long long deadline = time_mono_ms() + 60000;
		int rc;

		/* the killed run's server dies with it (PR_SET_PDEATHSIG) */
		while ((rc = run_backup(args, &out, &err)) != 0 &&
		       (strstr(err.buf, "still runs") || strstr(err.buf, "still works in")) &&
		       time_mono_ms() < deadline)
			usleep(200 * 1000);
		ck_assert_msg(rc == 0, "%s", err.buf);
		if (siblings("new")) {
			char cmd[1400];
			struct strbuf ls = STRBUF_INIT;
			const char *sh[] = { "sh", "-c", cmd, NULL };

			snprintf(cmd, sizeof(cmd), "ls -la %s", pgdir);
			trun(sh, NULL, &ls, NULL);
			ck_abort_msg("a sibling stayed: %s\n%s", ls.buf, err.buf);
		}
		ck_assert_int_eq(siblings("tmp"), 0);
		ck_assert_int_eq(siblings("run"), 0);
		ck_assert_int_eq(siblings("old"), 1);
		ck_assert(!present("data/" PITR_MARKER));
		table_hash(h, sizeof(h));
		ck_assert_str_eq(h, h_end);
	}
	/* What a kill between the exchange and the end of the swap leaves,
	 * made by hand (no timing reaches it reliably): the old data under the
	 * sibling's name without the marker, the marker in DIR. The next run
	 * keeps the old data under its kept name, removes the marker, and then
	 * refuses, since that kept name is the one it would need. */
	{
		const char *args[] = { "restore", "--pitr", "--db", "app", "--data-dir", datadir,
				       "--timeline", "1", "--latest", NULL };
		char cmd[1400], marker[1300];
		const char *sh[] = { "sh", "-c", cmd, NULL };
		struct timespec times[2];
		struct stat st;

		snapshot(&before);
		ck_assert_int_eq(stat(datadir, &st), 0);
		snprintf(cmd, sizeof(cmd), "cd %s && mv data.ballast-old-* \"$(ls -d "
			 "data.ballast-old-* | sed 's/-old-/-new-/')\"", pgdir);
		ck_assert_int_eq(trun(sh, NULL, NULL, NULL), 0);
		snprintf(marker, sizeof(marker), "%s/" PITR_MARKER, datadir);
		ck_assert_int_eq(twrite_file(marker, "left by a kill\n"), 0);
		ck_assert_int_eq(run_backup(args, &out, &err), 1);
		ck_assert_msg(strstr(err.buf, "kept as") && strstr(err.buf, "already exists (kept by "
			      "an earlier restore"), "%s", err.buf);
		ck_assert_int_eq(siblings("new"), 0);
		ck_assert_int_eq(siblings("old"), 1);
		ck_assert(!present("data/" PITR_MARKER));
		times[0] = st.st_atim;
		times[1] = st.st_mtim;
		utimensat(AT_FDCWD, datadir, times, 0);
		assert_untouched(&before, "marker left by a kill after the exchange");
		remove_kept();
	}
	strbuf_release(&before);
	strbuf_release(&out);
	strbuf_release(&err);
}
END_TEST

/* The three targets, each from the same base backup on timeline 1. */
START_TEST(test_restore_targets)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	char h[128];
	const char *by_name[] = { "restore", "--pitr", "--db", "app", "--data-dir", datadir,
				  "--timeline", "1", "--name", "before-release", NULL };
	const char *by_time[] = { "restore", "--pitr", "--db", "app", "--data-dir", datadir,
				  "--timeline", "1", "--time", t_target, NULL };
	const char *latest[] = { "restore", "--pitr", "--db", "app", "--data-dir", datadir,
				 "--timeline", "1", "--latest", "--json", NULL };

	/* a restore point: every row before it, none after */
	ck_assert_msg(run_backup(by_name, &out, &err) == 0, "%s", err.buf);
	ck_assert_msg(strstr(out.buf, "to undo") && strstr(out.buf, "ballast-old-"), "%s",
		      out.buf);
	ck_assert_int_eq(siblings("old"), 1);
	table_hash(h, sizeof(h));
	ck_assert_str_eq(h, h_rp1);
	remove_kept();
	/* a time between two commits: X is there, Y is not */
	ck_assert_msg(run_backup(by_time, &out, &err) == 0, "%s", err.buf);
	table_hash(h, sizeof(h));
	ck_assert_str_eq(h, h_time);
	remove_kept();
	/* the end of the archive: everything, the writes during the backup too */
	ck_assert_msg(run_backup(latest, &out, &err) == 0, "%s", err.buf);
	ck_assert_msg(strstr(out.buf, "\"status\":\"ok\"") || strstr(out.buf, "\"status\": \"ok\""),
		      "%s", out.buf);
	table_hash(h, sizeof(h));
	ck_assert_str_eq(h, h_end);
	remove_kept();
	strbuf_release(&out);
	strbuf_release(&err);
}
END_TEST

/* The names (first 24 characters) of the archived WAL files, sorted, one
 * per line, and how many there are. A wal-push the server's archiver has
 * in flight is not one of them: its temporary object ("<key>.tmp-XXXXXX")
 * is not in the archive until renamed. */
static int archived(struct strbuf *names)
{
	char cmd[1400];
	const char *argv[] = { "sh", "-c", cmd, NULL };
	int n = 0;

	snprintf(cmd, sizeof(cmd), "find %s/pitr/wal/app -type f -name '0*' ! -name '*.tmp-*' | "
		 "sed 's|.*/||' | cut -c1-24 | sort", repodir);
	strbuf_reset(names);
	ck_assert_int_eq(trun(argv, NULL, names, NULL), 0);
	for (const char *p = names->buf; (p = strchr(p, '\n')); p++)
		n++;
	return n;
}

/* verify --wal: every archived file re-read and hashed, and the archive
 * continuous after the newest base backup; a flipped byte and a missing
 * segment are each exit 4 naming the file. */
START_TEST(test_verify_wal)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, names = STRBUF_INIT,
		      obj = STRBUF_INIT, name = STRBUF_INIT;
	const char *v[] = { "verify", "--wal", "--json", NULL };
	const char *vdb[] = { "verify", "--wal", "--db", "app", NULL };
	char aside[1400];
	json_t *res = NULL, *w;
	int n = -1;

	/* the server may archive a segment meanwhile (autovacuum writes WAL,
	 * and a loaded machine stretches a push): count on either side, and
	 * take a run the archive stood still for */
	for (int tries = 0; tries < 5; tries++) {
		struct strbuf again = STRBUF_INIT;
		int n2;

		json_decref(res);
		n = archived(&names);
		ck_assert_msg(run_backup(v, &out, &err) == 0, "verify --wal: %s %s", out.buf, err.buf);
		res = tjson_result(&out);
		n2 = archived(&again);
		strbuf_release(&again);
		if (n2 == n)
			break;
	}
	w = json_array_get(json_object_get(res, "wal"), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(w, "files")), n);
	ck_assert_int_eq(json_array_size(json_object_get(w, "damaged")), 0);
	ck_assert_ptr_nonnull(json_string_value(json_object_get(w, "from")));
	ck_assert(json_is_null(json_object_get(w, "gap")) || !json_object_get(w, "gap"));
	/* the restores before promoted new timelines, each archiving its
	 * history: continuity is checked the way recovery to the newest one
	 * goes (timeline 1 up to its switch point, then that timeline) */
	{
		unsigned top_tli = 1, t;

		for (const char *p = names.buf; p && *p; p = strchr(p, '\n'), p += !!p)
			if (!strncmp(p + 8, ".history", 8) && sscanf(p, "%8X", &t) == 1 && t > top_tli)
				top_tli = t;
		ck_assert_uint_gt(top_tli, 1);
		ck_assert_int_eq(json_integer_value(json_object_get(w, "timeline")), top_tli);
	}
	json_decref(res);

	/* one byte flipped in an archived segment */
	segment_object(1, &obj, &name);
	tflip_byte(obj.buf, -1);
	ck_assert_int_eq(run_backup(vdb, &out, &err), 4);
	ck_assert_msg(strstr(err.buf, name.buf) && strstr(err.buf, "damaged"), "%s", err.buf);
	/* the byte put back */
	tflip_byte(obj.buf, -1);

	/* the newest segment but one, gone: recovery would stop before it */
	segment_object(segments() - 2, &obj, &name);
	snprintf(aside, sizeof(aside), "%s/aside-verify.zst", top);
	ck_assert_int_eq(rename(obj.buf, aside), 0);
	ck_assert_int_eq(run_backup(v, &out, &err), 4);
	res = tjson_result(&out);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
				 json_object_get(res, "wal"), 0), "gap")), name.buf);
	ck_assert_msg(strstr(err.buf, name.buf) && strstr(err.buf, "the archive has no"), "%s",
		      err.buf);
	ck_assert_int_eq(rename(aside, obj.buf), 0);
	ck_assert_msg(run_backup(v, &out, &err) == 0, "verify --wal after: %s", err.buf);
	json_decref(res);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&names);
	strbuf_release(&obj);
	strbuf_release(&name);
}
END_TEST

/* prune removes the WAL no kept base backup needs (what was archived before
 * the only base backup's start segment) and keeps the rest, and the
 * archive still recovers to its end. Runs last: it changes the archive. */
START_TEST(test_prune_wal)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, before = STRBUF_INIT,
		      after = STRBUF_INIT;
	const char *dry[] = { "prune", "--dry-run", "--json", NULL };
	const char *prune[] = { "prune", NULL };
	const char *latest[] = { "restore", "--pitr", "--db", "app", "--data-dir", datadir,
				 "--timeline", "1", "--latest", NULL };
	const char *from, *line;
	json_t *res = NULL, *w;
	int n_before, n_after, would;
	char h[128];

	/* as in test_verify_wal: a run the archive stood still for */
	for (int tries = 0; tries < 5; tries++) {
		json_decref(res);
		n_before = archived(&before);
		ck_assert_msg(run_backup(dry, &out, &err) == 0, "prune --dry-run: %s", err.buf);
		res = tjson_result(&out);
		if (archived(&after) == n_before)
			break;
	}
	w = json_array_get(json_object_get(res, "wal"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(w, "database")), "app");
	from = json_string_value(json_object_get(w, "keep_from"));
	ck_assert_ptr_nonnull(from);
	would = (int)json_integer_value(json_object_get(w, "files"));
	/* the segments written before the backup went to the archive first */
	ck_assert_msg(would > 0, "nothing before %s in:\n%s", from, before.buf);
	ck_assert_int_eq(json_integer_value(json_object_get(w, "stored")), n_before);
	ck_assert_ptr_null(json_object_get(w, "keys"));
	ck_assert_int_eq(archived(&after), n_before);

	ck_assert_msg(run_backup(prune, &out, &err) == 0, "prune: %s", err.buf);
	n_after = archived(&after);
	ck_assert_int_eq(n_after, n_before - would);
	/* what stays is everything from the start segment on (and history) */
	for (line = after.buf; *line; line = strchr(line, '\n') + 1)
		ck_assert_msg(!strncmp(line + 8, ".history", 8) ||
			      strncmp(line + 8, from + 8, 16) >= 0, "kept %.24s, before %s", line,
			      from);
	for (line = before.buf; *line; line = strchr(line, '\n') + 1)
		if (!strncmp(line + 8, ".history", 8) || strncmp(line + 8, from + 8, 16) >= 0) {
			char one[32];

			snprintf(one, sizeof(one), "%.*s\n", (int)(strchr(line, '\n') - line), line);
			ck_assert_msg(strstr(after.buf, one) != NULL, "removed %s", one);
		}
	/* a second prune has nothing left to remove */
	ck_assert_msg(run_backup(dry, &out, &err) == 0, "%s", err.buf);
	json_decref(res);
	res = tjson_result(&out);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(
				 json_object_get(res, "wal"), 0), "files")), 0);
	/* and the archive still takes the backup to its end */
	ck_assert_msg(run_backup(latest, &out, &err) == 0, "%s", err.buf);
	table_hash(h, sizeof(h));
	ck_assert_str_eq(h, h_end);
	remove_kept();
	json_decref(res);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&before);
	strbuf_release(&after);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pitr");
	TCase *tc = tcase_create("pitr");

	if (access("/usr/bin/setpriv", X_OK) && access("/bin/setpriv", X_OK)) {
		fprintf(stderr, "setpriv (util-linux) is missing: skipping\n");
		return TSKIP_EXIT;
	}
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_wal_push_fetch);
	tcase_add_test(tc, test_refusals_leave_dir);
	tcase_add_test(tc, test_missing_and_corrupt_segment);
	tcase_add_test(tc, test_sigkill_leaves_dir);
	tcase_add_test(tc, test_restore_targets);
	tcase_add_test(tc, test_verify_wal);
	tcase_add_test(tc, test_prune_wal);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
