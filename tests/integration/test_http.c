// services: http
/* http: health checks against the real test HTTP server (tests/services/
 * http_server.py): status, body substring, per-request timeout, deadline,
 * stable-for window and the extra probe. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "proc.h"
#include "tsupport.h"

static char *url, *state;

static void set_release(const char *rel)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/release", state);
	if (rel)
		ck_assert_int_eq(twrite_file(path, rel), 0);
	else
		unlink(path);
}

static void set_fail(const char *rel, const char *mode)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/fail/%s", state, rel);
	if (mode)
		ck_assert_int_eq(twrite_file(path, mode), 0);
	else
		unlink(path);
}

static void setup(void)
{
	url = tsvc_read("http", "url");
	state = tsvc_read("http", "state");
	ck_assert_ptr_nonnull(url);
	ck_assert_ptr_nonnull(state);
	set_release("r1");
	set_fail("r1", NULL);
}

static void teardown(void)
{
	set_fail("r1", NULL);
	free(url);
	free(state);
}

static struct http_check check(long status, const char *body, long long timeout,
			       long long interval, long long deadline, long long stable)
{
	struct http_check c;

	memset(&c, 0, sizeof(c));
	c.url = url;
	c.status = status;
	c.body = (char *)body;
	c.timeout_ms = timeout;
	c.interval_ms = interval;
	c.deadline_ms = deadline;
	c.stable_for_ms = stable;
	return c;
}

START_TEST(test_probe_ok_and_body)
{
	struct http_check c = check(200, "\"release\": \"r1\"", 2000, 100, 1000, 0);
	struct errbuf e = ERRBUF_INIT;
	long st = 0;

	ck_assert_int_eq(http_probe(&c, &st, &e), 0);
	ck_assert_int_eq(st, 200);
	c.body = "r2";
	ck_assert_int_eq(http_probe(&c, &st, &e), BL_EVERIFY);
	ck_assert_msg(strstr(e.msg, "does not contain \"r2\"") && strstr(e.msg, url), "%s", e.msg);
}
END_TEST

START_TEST(test_probe_status)
{
	struct http_check c = check(200, NULL, 2000, 100, 1000, 0);
	struct errbuf e = ERRBUF_INIT;
	long st = 0;

	set_fail("r1", "500");
	ck_assert_int_eq(http_probe(&c, &st, &e), BL_EVERIFY);
	ck_assert_int_eq(st, 500);
	ck_assert_msg(strstr(e.msg, "expected status 200, got 500"), "%s", e.msg);
	c.status = 500;
	ck_assert_int_eq(http_probe(&c, &st, &e), 0);
	set_release(NULL);
	c.status = 200;
	ck_assert_int_eq(http_probe(&c, &st, &e), BL_EVERIFY);
	ck_assert_int_eq(st, 503);
}
END_TEST

START_TEST(test_probe_timeout)
{
	struct http_check c = check(200, NULL, 500, 100, 1000, 0);
	struct errbuf e = ERRBUF_INIT;
	long long t0 = time_mono_ms();
	long st = 0;

	set_fail("r1", "hang");
	ck_assert_int_eq(http_probe(&c, &st, &e), BL_EVERIFY);
	ck_assert_int_lt(time_mono_ms() - t0, 3000);
	ck_assert_msg(strstr(e.msg, "imed out"), "%s", e.msg);
}
END_TEST

START_TEST(test_probe_refused)
{
	struct http_check c = check(200, NULL, 1000, 100, 1000, 0);
	struct errbuf e = ERRBUF_INIT;
	long st = 0;

	c.url = "http://127.0.0.1:1/health";
	ck_assert_int_eq(http_probe(&c, &st, &e), BL_EVERIFY);
	ck_assert_int_eq(st, 0);
	ck_assert_msg(strstr(e.msg, "127.0.0.1:1"), "%s", e.msg);
}
END_TEST

START_TEST(test_wait_deadline)
{
	struct http_check c = check(200, NULL, 300, 100, 1000, 0);
	struct errbuf e = ERRBUF_INIT;
	long long t0 = time_mono_ms();

	set_fail("r1", "500");
	ck_assert_int_eq(http_wait(&c, 1, NULL, NULL, &e), BL_EVERIFY);
	ck_assert_int_ge(time_mono_ms() - t0, 1000);
	ck_assert_int_lt(time_mono_ms() - t0, 5000);
	ck_assert_msg(strstr(e.msg, "got 500") && strstr(e.msg, "deadline 1.0s passed"), "%s", e.msg);
}
END_TEST

START_TEST(test_wait_recovers_before_deadline)
{
	struct http_check c = check(200, NULL, 300, 100, 10000, 0);
	struct errbuf e = ERRBUF_INIT;
	char cmd[1200];

	/* the release comes up 1 s into the wait */
	set_release(NULL);
	snprintf(cmd, sizeof(cmd), "(sleep 1; echo r1 > '%s/release') &", state);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_msg(http_wait(&c, 1, NULL, NULL, &e) == 0, "%s", e.msg);
}
END_TEST

START_TEST(test_wait_stable_for)
{
	/* margins for a sanitizer build on a loaded machine: the flip may
	 * come up to 2.8 s late, a request may take 2 s */
	struct http_check c = check(200, NULL, 2000, 100, 4000, 3000);
	struct errbuf e = ERRBUF_INIT;
	long long t0 = time_mono_ms();
	char cmd[1200];

	/* healthy, then 500 after 0.2 s: never stable for 3 s before 4 s */
	snprintf(cmd, sizeof(cmd), "(sleep 0.2; echo 500 > '%s/fail/r1') &", state);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(http_wait(&c, 1, NULL, NULL, &e), BL_EVERIFY);
	ck_assert_msg(strstr(e.msg, "deadline"), "%s", e.msg);
	set_fail("r1", NULL);
	/* stable: passes, but not before the window */
	c.deadline_ms = 20000;
	t0 = time_mono_ms();
	ck_assert_msg(http_wait(&c, 1, NULL, NULL, &e) == 0, "%s", e.msg);
	ck_assert_int_ge(time_mono_ms() - t0, 3000);
}
END_TEST

static int extra_calls;

static int extra_probe(void *ctx, struct errbuf *e)
{
	int *ok_after = ctx;

	extra_calls++;
	if (extra_calls >= *ok_after)
		return 0;
	return errbuf_set(e, BL_EVERIFY, "service still starting");
}

START_TEST(test_wait_extra_probe)
{
	struct http_check c = check(200, NULL, 2000, 100, 20000, 0);
	struct errbuf e = ERRBUF_INIT;
	int ok_after = 3;

	extra_calls = 0;
	ck_assert_msg(http_wait(&c, 1, extra_probe, &ok_after, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(extra_calls, 3);
	/* never ready: the deadline is what ends it */
	c.deadline_ms = 1500;
	extra_calls = 0;
	ok_after = 1000;
	ck_assert_int_eq(http_wait(&c, 1, extra_probe, &ok_after, &e), BL_EVERIFY);
	ck_assert_msg(strstr(e.msg, "service still starting"), "%s", e.msg);
}
END_TEST

START_TEST(test_parse)
{
	json_t *o = json_loads("{\"url\":\"http://x/h\",\"status\":\"204\",\"timeout\":\"2s\","
			       "\"deadline\":\"1m\",\"stable_for\":\"500ms\",\"body\":\"ok\"}", 0, NULL);
	struct http_check c;
	struct errbuf e = ERRBUF_INIT;

	ck_assert_int_eq(http_check_parse(o, "health[0]", &c, &e), 0);
	ck_assert_int_eq(c.status, 204);
	ck_assert_int_eq(c.timeout_ms, 2000);
	ck_assert_int_eq(c.interval_ms, 2000);
	ck_assert_int_eq(c.deadline_ms, 60000);
	ck_assert_int_eq(c.stable_for_ms, 500);
	ck_assert_str_eq(c.body, "ok");
	http_check_release(&c);
	json_object_set_new(o, "status", json_integer(42));
	ck_assert_int_eq(http_check_parse(o, "health[0]", &c, &e), BL_EUSAGE);
	ck_assert_msg(strstr(e.msg, "health[0].status"), "%s", e.msg);
	json_decref(o);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("http");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_probe_ok_and_body);
	tcase_add_test(tc, test_probe_status);
	tcase_add_test(tc, test_probe_timeout);
	tcase_add_test(tc, test_probe_refused);
	tcase_add_test(tc, test_wait_deadline);
	tcase_add_test(tc, test_wait_recovers_before_deadline);
	tcase_add_test(tc, test_wait_stable_for);
	tcase_add_test(tc, test_wait_extra_probe);
	tcase_add_test(tc, test_parse);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
