#include <stdlib.h>
#include <string.h>

#include "envfile.h"
#include "tsupport.h"

static json_t *parse_ok(const char *text)
{
	struct errbuf e = ERRBUF_INIT;
	json_t *o = NULL;

	ck_assert_msg(envfile_parse(text, strlen(text), ".env", &o, &e) == 0, "%s", e.msg);
	return o;
}

static const char *get(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

START_TEST(test_basic_forms)
{
	json_t *o = parse_ok("# comment\n"
			     "\n"
			     "A=1\n"
			     "export B=two words  \n"
			     "  C = spaced\n"
			     "EMPTY=\n"
			     "HASH=a#b\n"
			     "INLINE=value # a comment\n"
			     "SQ='lit $X \\n # kept'\n"
			     "DQ=\"line1\\nline2 \\\"q\\\"\"\n"
			     "ML=\"first\nsecond\"\n"
			     "A=override\n");

	ck_assert_str_eq(get(o, "A"), "override");
	ck_assert_str_eq(get(o, "B"), "two words");
	ck_assert_str_eq(get(o, "C"), "spaced");
	ck_assert_str_eq(get(o, "EMPTY"), "");
	ck_assert_str_eq(get(o, "HASH"), "a#b");
	ck_assert_str_eq(get(o, "INLINE"), "value");
	ck_assert_str_eq(get(o, "SQ"), "lit $X \\n # kept");
	ck_assert_str_eq(get(o, "DQ"), "line1\nline2 \"q\"");
	ck_assert_str_eq(get(o, "ML"), "first\nsecond");
	json_decref(o);
}
END_TEST

START_TEST(test_crlf_and_no_trailing_newline)
{
	json_t *o = parse_ok("X=1\r\nY=\"2\"\r\nZ=3");

	ck_assert_str_eq(get(o, "X"), "1");
	ck_assert_str_eq(get(o, "Y"), "2");
	ck_assert_str_eq(get(o, "Z"), "3");
	json_decref(o);
}
END_TEST

START_TEST(test_errors_name_file_and_line)
{
	struct errbuf e = ERRBUF_INIT;
	json_t *o = (json_t *)1;
	const char *bad[] = { "A=1\nnot a pair\n", "A=1\n\nB=\"open\n", "1X=2\n",
			      "A='x' trailing\n" };
	const char *want[] = { ".env:2: expected '=' after not", ".env:3: unterminated double quote",
			       ".env:1: expected KEY=VALUE", ".env:1: unexpected text after quoted" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(envfile_parse(bad[i], strlen(bad[i]), ".env", &o, &e), BL_EUSAGE);
		ck_assert_ptr_null(o);
		ck_assert_msg(strstr(e.msg, want[i]) != NULL, "case %zu: %s", i, e.msg);
	}
}
END_TEST

START_TEST(test_unreadable_file)
{
	struct errbuf e = ERRBUF_INIT;
	json_t *o;

	ck_assert_int_eq(envfile_read("/nonexistent/.env.prod", &o, &e), BL_EUSAGE);
	ck_assert_ptr_nonnull(strstr(e.msg, "/nonexistent/.env.prod"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("envfile");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_basic_forms);
	tcase_add_test(tc, test_crlf_and_no_trailing_newline);
	tcase_add_test(tc, test_errors_name_file_and_line);
	tcase_add_test(tc, test_unreadable_file);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
