/* A volume's before/after commands: `after` runs whenever `before` ran —
 * on success, when `before` fails, when archiving fails, and when the
 * process gets SIGTERM or SIGINT — and the config checks of volumes[]. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "tsupport.h"
#include "ttree.h"
#include "volume_cmd.h"
#include "interrupt.h"

static char *tmp;

static void setup(void)
{
	tmp = ttmp_dir("volcmd");
	ck_assert_ptr_nonnull(tmp);
}

static void teardown(void)
{
	ttmp_rm(tmp);
	free(tmp);
}

/* A config whose volume "v" has path src and before/after commands that
 * append to the file "events" (before_rc: exit status of before). */
static struct config *load(const char *before, const char *after, const char *path)
{
	struct strbuf text = STRBUF_INIT;
	struct config *cfg = NULL;
	struct errbuf e = ERRBUF_INIT;

	strbuf_addf(&text, "{ \"project\": \"p\", \"volumes\": [ { \"name\": \"v\", \"path\": \"%s\"",
		    path);
	if (before)
		strbuf_addf(&text, ", \"before\": [\"sh\", \"-c\", \"%s\"]", before);
	if (after)
		strbuf_addf(&text, ", \"after\": [\"sh\", \"-c\", \"%s\"]", after);
	strbuf_addstr(&text, " } ] }");
	ck_assert_msg(config_load_string(text.buf, "ballast.json", &cfg, &e) == 0, "%s", e.msg);
	strbuf_release(&text);
	return cfg;
}

static void events(struct strbuf *sb)
{
	struct strbuf p = STRBUF_INIT;

	strbuf_reset(sb);
	strbuf_addf(&p, "%s/events", tmp);
	tread_file(p.buf, sb);
	strbuf_release(&p);
}

struct counting {
	int calls;
	int fail;
	int delay_us;
};

static int sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	struct counting *c = ctx;

	c->calls++;
	if (c->delay_us)
		usleep((useconds_t)c->delay_us);
	if (c->fail)
		return errbuf_set(e, BL_EFAIL, "repository full");
	return 0;
}

static char *src_dir(int files)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s/src", tmp), 0);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	for (int i = 0; i < files; i++) {
		char f[4096];

		snprintf(f, sizeof(f), "%s/f%03d", p, i);
		ck_assert_int_eq(ttree_write_random(f, 256 * 1024, (unsigned)i), 0);
	}
	return p;
}

static int snapshot(struct config *cfg, struct counting *c, struct errbuf *e)
{
	struct volume_spec v = VOLUME_SPEC_INIT;
	struct volume_stats st = VOLUME_STATS_INIT;
	int rc;

	ck_assert_int_eq(volume_spec_find(cfg, "v", &v, e), 0);
	rc = volume_snapshot(&v, sink, c, &st, e);
	volume_spec_release(&v);
	volume_stats_release(&st);
	return rc;
}

START_TEST(test_before_archive_after_in_order)
{
	char *src = src_dir(2);
	struct config *cfg;
	struct counting c = { 0, 0, 0 };
	struct errbuf e = ERRBUF_INIT;
	struct strbuf ev = STRBUF_INIT;

	ck_assert_int_eq(chdir(tmp), 0);
	cfg = load("echo before >> events", "echo after >> events", src);
	ck_assert_msg(snapshot(cfg, &c, &e) == 0, "%s", e.msg);
	ck_assert_int_gt(c.calls, 0);
	events(&ev);
	ck_assert_str_eq(ev.buf, "before\nafter\n");
	config_free(cfg);
	strbuf_release(&ev);
	free(src);
}
END_TEST

START_TEST(test_before_fails_after_runs)
{
	char *src = src_dir(1);
	struct config *cfg;
	struct counting c = { 0, 0, 0 };
	struct errbuf e = ERRBUF_INIT;
	struct strbuf ev = STRBUF_INIT;

	ck_assert_int_eq(chdir(tmp), 0);
	cfg = load("echo before >> events; echo compose is down >&2; exit 3",
		   "echo after >> events", src);
	ck_assert_int_eq(snapshot(cfg, &c, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "volume v: before command failed: sh exited with status 3: compose is down"),
		      "%s", e.msg);
	ck_assert_int_eq(c.calls, 0);  /* nothing archived */
	events(&ev);
	ck_assert_str_eq(ev.buf, "before\nafter\n");
	config_free(cfg);
	strbuf_release(&ev);
	free(src);
}
END_TEST

START_TEST(test_archive_fails_after_runs)
{
	char *src = src_dir(1), *missing;
	struct config *cfg;
	struct counting c = { 0, 1, 0 };
	struct errbuf e = ERRBUF_INIT;
	struct strbuf ev = STRBUF_INIT;

	ck_assert_int_eq(chdir(tmp), 0);
	cfg = load("echo before >> events", "echo after >> events", src);
	ck_assert_int_eq(snapshot(cfg, &c, &e), BL_EFAIL);
	ck_assert_str_eq(e.msg, "volume v: repository full");
	events(&ev);
	ck_assert_str_eq(ev.buf, "before\nafter\n");
	config_free(cfg);

	/* A path that does not exist: the error names it, after still runs. */
	ck_assert_int_ge(asprintf(&missing, "%s/gone", tmp), 0);
	cfg = load("echo before2 >> events", "echo after2 >> events", missing);
	c.fail = 0;
	c.calls = 0;
	ck_assert_int_eq(snapshot(cfg, &c, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, missing) && strstr(e.msg, "No such file"), "%s", e.msg);
	ck_assert_int_eq(c.calls, 0);
	events(&ev);
	ck_assert_str_eq(ev.buf, "before\nafter\nbefore2\nafter2\n");
	config_free(cfg);
	strbuf_release(&ev);
	free(src);
	free(missing);
}
END_TEST

START_TEST(test_after_failure_fails_snapshot)
{
	char *src = src_dir(1);
	struct config *cfg;
	struct counting c = { 0, 0, 0 };
	struct errbuf e = ERRBUF_INIT;

	ck_assert_int_eq(chdir(tmp), 0);
	cfg = load(NULL, "echo cannot start etl >&2; exit 1", src);
	ck_assert_int_eq(snapshot(cfg, &c, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "volume v: after command failed: sh exited with status 1: cannot start etl"),
		      "%s", e.msg);
	ck_assert_int_gt(c.calls, 0);
	config_free(cfg);
	free(src);
}
END_TEST

/* The snapshot runs in a child that catches signals like ballast-backup
 * does; the test signals it mid-way and checks `after` ran. */
static void signal_during(int sig, const char *before, int wait_for_sink)
{
	char *src = src_dir(60);
	struct config *cfg;
	struct strbuf ev = STRBUF_INIT, msgp = STRBUF_INIT, msg = STRBUF_INIT;
	int status;
	pid_t pid;

	ck_assert_int_eq(chdir(tmp), 0);
	cfg = load(before, "echo after >> events", src);
	strbuf_addf(&msgp, "%s/msg", tmp);
	pid = fork();
	if (pid == 0) {
		struct counting c = { 0, 0, 20000 };
		struct errbuf e = ERRBUF_INIT;
		int rc;

		interrupt_catch();
		rc = snapshot(cfg, &c, &e);
		twrite_file(msgp.buf, e.msg);
		_exit(rc);
	}
	/* Wait until `before` ran (and, if asked, archiving is under way). */
	for (int i = 0; i < 500; i++) {
		events(&ev);
		if (strstr(ev.buf, "before"))
			break;
		usleep(10000);
	}
	ck_assert_ptr_nonnull(strstr(ev.buf, "before"));
	if (wait_for_sink)
		usleep(300000);
	kill(pid, sig);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), BL_EFAIL);
	ck_assert_int_eq(tread_file(msgp.buf, &msg), 0);
	ck_assert_msg(strstr(msg.buf, "interrupted by signal"), "%s", msg.buf);
	events(&ev);
	ck_assert_msg(strstr(ev.buf, "after\n"), "after did not run: %s", ev.buf);
	config_free(cfg);
	strbuf_release(&ev);
	strbuf_release(&msgp);
	strbuf_release(&msg);
	free(src);
}

START_TEST(test_sigterm_while_archiving_runs_after)
{
	signal_during(SIGTERM, "echo before >> events", 1);
}
END_TEST

START_TEST(test_sigint_while_archiving_runs_after)
{
	signal_during(SIGINT, "echo before >> events", 1);
}
END_TEST

START_TEST(test_sigterm_during_before_skips_archive_runs_after)
{
	/* The signal lands while `before` still runs; `before` finishes (it
	 * is in its own process group), the archive is skipped, after runs. */
	signal_during(SIGTERM, "echo before >> events; sleep 0.5", 0);
}
END_TEST

START_TEST(test_spec_checks)
{
	struct config *cfg = NULL;
	struct volume_spec v = VOLUME_SPEC_INIT;
	struct errbuf e = ERRBUF_INIT;

	ck_assert_int_eq(config_load_string(
		"{\"volumes\":[{\"name\":\"a/b\",\"path\":\"/x\"},"
		"{\"name\":\"ok\",\"path\":\"rel/dir\",\"exclude\":[\"*.tmp\"],\"before\":[]},"
		"{\"name\":\"good\",\"path\":\"data\",\"exclude\":[\"*.tmp\",\"c/*\"],"
		"\"before\":[\"docker\",\"compose\",\"stop\",\"etl\"]}]}",
		"/etc/ballast/ballast.json", &cfg, &e), 0);
	ck_assert_int_eq(volume_spec_find(cfg, "a/b", &v, &e), BL_EUSAGE);
	ck_assert_str_eq(e.msg, "volumes[0].name: expected letters, digits, '.', '_' or '-', got 'a/b'");
	ck_assert_int_eq(volume_spec_find(cfg, "ok", &v, &e), BL_EUSAGE);
	ck_assert_str_eq(e.msg, "volumes[1].before: expected a command (a non-empty argv array)");
	ck_assert_int_eq(volume_spec_find(cfg, "nope", &v, &e), BL_EUSAGE);
	ck_assert_str_eq(e.msg, "no volume named 'nope' in the configuration (known: a/b, ok, good)");
	ck_assert_int_eq(volume_spec_find(cfg, "good", &v, &e), 0);
	ck_assert_str_eq(v.path.buf, "/etc/ballast/data");
	ck_assert_str_eq(v.exclude[1], "c/*");
	ck_assert_ptr_null(v.exclude[2]);
	ck_assert_str_eq(v.before[3], "etl");
	ck_assert_ptr_null(v.after);
	volume_spec_release(&v);
	config_free(cfg);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("volume_cmd");
	TCase *tc = tcase_create("cmd");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_before_archive_after_in_order);
	tcase_add_test(tc, test_before_fails_after_runs);
	tcase_add_test(tc, test_archive_fails_after_runs);
	tcase_add_test(tc, test_after_failure_fails_snapshot);
	tcase_add_test(tc, test_sigterm_while_archiving_runs_after);
	tcase_add_test(tc, test_sigint_while_archiving_runs_after);
	tcase_add_test(tc, test_sigterm_during_before_skips_archive_runs_after);
	tcase_add_test(tc, test_spec_checks);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
