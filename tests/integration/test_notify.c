// services: hooksink
/* Webhook and ping against a real local HTTP server: bodies, the "on"
 * filter, retries on 500, and timeouts that never hang the caller. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "notify.h"
#include "proc.h"
#include "tsupport.h"

static char *url;

static void set_mode(const char *mode)
{
	char path[512], *root = getenv("BALLAST_TEST_SVC");

	snprintf(path, sizeof(path), "%s/hooksink/mode", root);
	ck_assert_int_eq(twrite_file(path, mode), 0);
}

/* Requests received so far, as a JSON array. */
static json_t *requests(void)
{
	char path[512], *root = getenv("BALLAST_TEST_SVC");
	struct strbuf sb = STRBUF_INIT;
	json_t *arr = json_array();
	char *line, *save = NULL;

	snprintf(path, sizeof(path), "%s/hooksink/requests.jsonl", root);
	tread_file(path, &sb);
	for (line = strtok_r(sb.buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		json_array_append_new(arr, json_loads(line, 0, NULL));
	strbuf_release(&sb);
	twrite_file(path, "");
	return arr;
}

static struct config *cfg_with(const char *notify_json)
{
	struct errbuf e = ERRBUF_INIT;
	struct config *cfg;
	char text[2048];

	snprintf(text, sizeof(text), "{\"project\": \"demo\", \"notify\": %s}", notify_json);
	ck_assert_msg(config_load_string(text, "ballast.json", &cfg, &e) == 0, "%s", e.msg);
	return cfg;
}

static void setup(void)
{
	url = tsvc_read("hooksink", "url");
	ck_assert_ptr_nonnull(url);
	set_mode("ok");
	json_decref(requests());
}

static void teardown(void)
{
	free(url);
}

START_TEST(test_failure_posted_success_not_by_default)
{
	char js[512];
	struct config *cfg;
	struct errbuf e = ERRBUF_INIT;
	struct notify_event ok = { "backup", 1, "20261127T021500Z-ab12", 100, 1.5, NULL, NULL };
	struct notify_event bad = { "backup", 0, NULL, -1, 2.0, "pg_dump exited with status 1", NULL };
	json_t *reqs, *body;

	log_clear_secrets();
	setenv("T_HOOK_TOKEN", "tok-abc-123", 1);
	snprintf(js, sizeof(js), "{\"webhook\": \"%s/hook/${T_HOOK_TOKEN}\"}", url);
	cfg = cfg_with(js);
	ck_assert_int_eq(notify_event(cfg, &ok, &e), 0);
	ck_assert_int_eq(notify_event(cfg, &bad, &e), 0);
	reqs = requests();
	ck_assert_uint_eq(json_array_size(reqs), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(reqs, 0), "path")),
			 "/hook/tok-abc-123");
	body = json_loads(json_string_value(json_object_get(json_array_get(reqs, 0), "body")), 0, NULL);
	ck_assert_ptr_nonnull(body);
	ck_assert_str_eq(json_string_value(json_object_get(body, "status")), "failure");
	ck_assert_str_eq(json_string_value(json_object_get(body, "event")), "backup");
	ck_assert_str_eq(json_string_value(json_object_get(body, "project")), "demo");
	ck_assert_str_eq(json_string_value(json_object_get(body, "error")), "pg_dump exited with status 1");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(body, "text")), "FAILED"));
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(reqs, 0), "content_type")),
			 "application/json");
	json_decref(body);
	json_decref(reqs);
	config_free(cfg);
}
END_TEST

START_TEST(test_on_success_too)
{
	char js[512];
	struct config *cfg;
	struct errbuf e = ERRBUF_INIT;
	struct notify_event ok = { "drill", 1, "id-1", 5, 1.0, NULL, NULL };
	json_t *reqs;

	snprintf(js, sizeof(js), "{\"webhook\": \"%s/h\", \"on\": [\"success\", \"failure\"]}", url);
	cfg = cfg_with(js);
	ck_assert_int_eq(notify_event(cfg, &ok, &e), 0);
	reqs = requests();
	ck_assert_uint_eq(json_array_size(reqs), 1);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_array_get(reqs, 0), "body")),
				     "\"backup_id\":\"id-1\""));
	json_decref(reqs);
	config_free(cfg);
}
END_TEST

START_TEST(test_500_retried_then_reported)
{
	char js[512];
	struct config *cfg;
	struct errbuf e = ERRBUF_INIT;
	struct notify_event bad = { "backup", 0, NULL, -1, 0, "x", NULL };
	json_t *reqs;

	set_mode("500");
	snprintf(js, sizeof(js), "{\"webhook\": \"%s/h\"}", url);
	cfg = cfg_with(js);
	ck_assert_int_eq(notify_event(cfg, &bad, &e), BL_EFAIL);
	ck_assert_ptr_nonnull(strstr(e.msg, "answered HTTP 500 (attempt 3 of 3)"));
	reqs = requests();
	ck_assert_uint_eq(json_array_size(reqs), 3);
	json_decref(reqs);
	config_free(cfg);
}
END_TEST

START_TEST(test_timeout_bounded)
{
	char js[512];
	struct config *cfg;
	struct errbuf e = ERRBUF_INIT;
	long long t0 = time_mono_ms();

	set_mode("hang");
	snprintf(js, sizeof(js), "{\"ping\": \"%s/ping/uuid\", \"timeout\": \"300ms\"}", url);
	cfg = cfg_with(js);
	ck_assert_int_eq(notify_ping(cfg, "start", &e), BL_EFAIL);
	ck_assert_ptr_nonnull(strstr(e.msg, "/ping/uuid/start"));
	ck_assert_int_lt(time_mono_ms() - t0, 10000);
	config_free(cfg);
}
END_TEST

START_TEST(test_ping_paths)
{
	char js[512];
	struct config *cfg;
	struct errbuf e = ERRBUF_INIT;
	json_t *reqs;

	snprintf(js, sizeof(js), "{\"ping\": \"%s/ping/uuid/\"}", url);
	cfg = cfg_with(js);
	ck_assert_int_eq(notify_ping(cfg, "start", &e), 0);
	ck_assert_int_eq(notify_ping(cfg, "fail", &e), 0);
	ck_assert_int_eq(notify_ping(cfg, NULL, &e), 0);
	reqs = requests();
	ck_assert_uint_eq(json_array_size(reqs), 3);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(reqs, 0), "path")), "/ping/uuid/start");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(reqs, 1), "path")), "/ping/uuid/fail");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(reqs, 2), "path")), "/ping/uuid");
	json_decref(reqs);
	config_free(cfg);
	/* Nothing configured: nothing sent, no error. */
	cfg = cfg_with("{}");
	ck_assert_int_eq(notify_ping(cfg, NULL, &e), 0);
	config_free(cfg);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("notify");
	TCase *tc = tcase_create("http");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_failure_posted_success_not_by_default);
	tcase_add_test(tc, test_on_success_too);
	tcase_add_test(tc, test_500_retried_then_reported);
	tcase_add_test(tc, test_timeout_bounded);
	tcase_add_test(tc, test_ping_paths);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
