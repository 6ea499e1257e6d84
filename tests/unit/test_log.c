#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tsupport.h"

static char *capture_begin(FILE **f, size_t *len)
{
	char *buf = NULL;

	*f = open_memstream(&buf, len);
	return buf;
}

START_TEST(test_redaction_in_lines)
{
	FILE *f;
	char *buf = NULL;
	size_t len = 0;

	f = open_memstream(&buf, &len);
	log_init("ballast-test", 0, 1);
	log_set_stream(f, NULL);
	log_clear_secrets();
	log_add_secret("hunter22");
	log_add_secret("ab"); /* too short: ignored */
	log_info("connecting with password hunter22 to db ab");
	log_debug("not shown at info level");
	fflush(f);
	ck_assert_str_eq(buf, "ballast-test: info: connecting with password *** to db ab\n");
	log_set_stream(NULL, NULL);
	fclose(f);
	free(buf);
}
END_TEST

/* A name holding a newline or an escape sequence (a volume entry, a key, a
 * path) cannot forge a second line or drive the terminal. */
START_TEST(test_control_characters_escaped)
{
	FILE *f;
	char *buf = NULL;
	size_t len = 0;
	struct strbuf sb = STRBUF_INIT;

	f = open_memstream(&buf, &len);
	log_init("ballast-test", 0, 1);
	log_set_stream(f, NULL);
	log_warn("volume v: %s: changed while being read",
		 "a\nballast-test: error: forged\r\x1b[2J\tb\x7f");
	fflush(f);
	ck_assert_str_eq(buf, "ballast-test: warning: volume v: a\\nballast-test: error: forged"
			 "\\r\\x1b[2J\tb\\x7f: changed while being read\n");
	strbuf_addstr(&sb, "plain text stays as it is");
	log_one_line(&sb);
	ck_assert_str_eq(sb.buf, "plain text stays as it is");
	strbuf_release(&sb);
	log_set_stream(NULL, NULL);
	fclose(f);
	free(buf);
}
END_TEST

START_TEST(test_json_events_redacted_and_parseable)
{
	FILE *f;
	char *buf = NULL, *line, *save = NULL;
	size_t len = 0;
	json_t *ev, *nested;
	int n = 0;

	(void)capture_begin;
	f = open_memstream(&buf, &len);
	log_init("ballast-test", 1, 0);
	log_set_stream(NULL, f);
	log_clear_secrets();
	log_add_secret("tok-SECRET-1");
	log_warn("slow upload with tok-SECRET-1");
	ev = json_pack("{s:s, s:{s:[s]}}", "url", "https://x/?t=tok-SECRET-1", "nested", "list",
		       "Bearer tok-SECRET-1");
	log_event("notify", ev);
	json_decref(ev);
	fflush(f);
	ck_assert_ptr_null(strstr(buf, "tok-SECRET-1"));
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_error_t jerr;
		json_t *o = json_loads(line, 0, &jerr);

		ck_assert_msg(o != NULL, "not JSON: %s", line);
		ck_assert_ptr_nonnull(json_object_get(o, "ts"));
		if (n == 0) {
			ck_assert_str_eq(json_string_value(json_object_get(o, "level")), "warning");
			ck_assert_str_eq(json_string_value(json_object_get(o, "msg")),
					 "slow upload with ***");
		} else {
			ck_assert_str_eq(json_string_value(json_object_get(o, "event")), "notify");
			nested = json_object_get(json_object_get(o, "nested"), "list");
			ck_assert_str_eq(json_string_value(json_array_get(nested, 0)), "Bearer ***");
		}
		json_decref(o);
		n++;
	}
	ck_assert_int_eq(n, 2);
	log_set_stream(NULL, NULL);
	fclose(f);
	free(buf);
}
END_TEST

START_TEST(test_quiet_by_default_off_tty)
{
	FILE *f;
	char *buf = NULL;
	size_t len = 0;

	f = open_memstream(&buf, &len);
	log_init("ballast-test", 0, 0); /* stderr is not a TTY under ctest */
	log_set_stream(f, NULL);
	log_info("cron stays quiet");
	log_warn("but not about this");
	fflush(f);
	ck_assert_ptr_null(strstr(buf, "cron stays quiet"));
	ck_assert_ptr_nonnull(strstr(buf, "warning: but not about this"));
	log_set_stream(NULL, NULL);
	fclose(f);
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");

	tcase_add_test(tc, test_redaction_in_lines);
	tcase_add_test(tc, test_control_characters_escaped);
	tcase_add_test(tc, test_json_events_redacted_and_parseable);
	tcase_add_test(tc, test_quiet_by_default_off_tty);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
