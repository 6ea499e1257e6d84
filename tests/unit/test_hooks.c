/* hooks: a phase's hooks run in order, relative paths from the config's
 * directory, with BALLAST_PHASE and the caller's variables, without a shell;
 * the first failure (exit status, timeout) stops the phase and names the
 * phase and the hook. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "hooks.h"
#include "tsupport.h"

static char *dir;
static struct config *cfg;
static char logpath[1024];

static void script(const char *name, const char *body)
{
	char path[1024], text[2048];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(text, sizeof(text), "#!/bin/sh\n%s\n", body);
	ck_assert_int_eq(twrite_file(path, text), 0);
	ck_assert_int_eq(chmod(path, 0755), 0);
}

static void setup(void)
{
	struct errbuf e = ERRBUF_INIT;
	char path[1024];

	dir = ttmp_dir("hooks");
	snprintf(logpath, sizeof(logpath), "%s/log", dir);
	snprintf(path, sizeof(path), "%s/ballast.json", dir);
	ck_assert_int_eq(twrite_file(path, "{}"), 0);
	ck_assert_msg(config_load(path, &cfg, &e) == 0, "%s", e.msg);
	/* each hook appends its name, phase and a caller variable */
	script("a", "echo \"a $BALLAST_PHASE $BALLAST_RELEASE $#\" >> \"$(dirname \"$0\")/log\"");
	script("b", "echo \"b $BALLAST_PHASE\" >> \"$(dirname \"$0\")/log\"");
	script("fails", "echo fails >> \"$(dirname \"$0\")/log\"; exit 3");
	script("slow", "exec sleep 30");
}

static void teardown(void)
{
	config_free(cfg);
	ttmp_rm(dir);
	free(dir);
}

static void log_is(const char *want)
{
	struct strbuf got = STRBUF_INIT;

	if (tread_file(logpath, &got))
		strbuf_reset(&got);
	ck_assert_str_eq(got.buf, want);
	strbuf_release(&got);
	unlink(logpath);
}

START_TEST(test_in_order_with_env)
{
	const char *env[] = { "BALLAST_RELEASE=v2", NULL };
	json_t *hooks = json_pack("{s:[s,s], s:s}", "pre-deploy", "a", "b", "post-deploy", "b");
	struct errbuf e = ERRBUF_INIT;
	int ran = -1;

	ck_assert_msg(hooks_run(cfg, hooks, "pre-deploy", env, 0, &ran, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(ran, 2);
	/* no arguments: no shell splits anything */
	log_is("a pre-deploy v2 0\nb pre-deploy\n");
	ck_assert_int_eq(hooks_run(cfg, hooks, "post-deploy", NULL, 0, &ran, &e), 0);
	ck_assert_int_eq(ran, 1);
	log_is("b post-deploy\n");
	/* a phase without hooks is success */
	ck_assert_int_eq(hooks_run(cfg, hooks, "on-failure", NULL, 0, &ran, &e), 0);
	ck_assert_int_eq(ran, 0);
	log_is("");
	json_decref(hooks);
}
END_TEST

START_TEST(test_failure_stops_the_phase)
{
	json_t *hooks = json_pack("{s:[s,s,s]}", "pre-deploy", "a", "fails", "b");
	struct errbuf e = ERRBUF_INIT;
	int ran = 0;

	ck_assert_int_eq(hooks_run(cfg, hooks, "pre-deploy", NULL, 0, &ran, &e), BL_EFAIL);
	ck_assert_int_eq(ran, 2);
	ck_assert_msg(strstr(e.msg, "pre-deploy") && strstr(e.msg, "fails"), "%s", e.msg);
	log_is("a pre-deploy  0\nfails\n");
	json_decref(hooks);
}
END_TEST

START_TEST(test_timeout_and_missing)
{
	json_t *hooks = json_pack("{s:s, s:s}", "pre-deploy", "slow", "post-deploy", "nosuch");
	struct errbuf e = ERRBUF_INIT;

	ck_assert_int_eq(hooks_run(cfg, hooks, "pre-deploy", NULL, 300, NULL, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "pre-deploy") && strstr(e.msg, "slow"), "%s", e.msg);
	errbuf_clear(&e);
	ck_assert_int_eq(hooks_run(cfg, hooks, "post-deploy", NULL, 0, NULL, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "nosuch"), "%s", e.msg);
	json_decref(hooks);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hooks");
	TCase *tc = tcase_create("hooks");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_in_order_with_env);
	tcase_add_test(tc, test_failure_stops_the_phase);
	tcase_add_test(tc, test_timeout_and_missing);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
