#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "tsupport.h"

START_TEST(test_never_null)
{
	struct strbuf sb = STRBUF_INIT;

	ck_assert_ptr_nonnull(sb.buf);
	ck_assert_str_eq(sb.buf, "");
	strbuf_release(&sb);
	ck_assert_ptr_nonnull(sb.buf);
	ck_assert_str_eq(sb.buf, "");
}
END_TEST

START_TEST(test_add_and_format)
{
	struct strbuf sb = STRBUF_INIT;

	for (int i = 0; i < 1000; i++)
		strbuf_addf(&sb, "%d,", i);
	ck_assert_uint_eq(sb.len, strlen(sb.buf));
	ck_assert(!strncmp(sb.buf, "0,1,2,", 6));
	ck_assert_ptr_nonnull(strstr(sb.buf, "999,"));
	strbuf_setlen(&sb, 2);
	ck_assert_str_eq(sb.buf, "0,");
	strbuf_addstr(&sb, "x \n\t");
	strbuf_rtrim(&sb);
	ck_assert_str_eq(sb.buf, "0,x");
	strbuf_release(&sb);
}
END_TEST

START_TEST(test_cap)
{
	struct strbuf sb = STRBUF_INIT;

	sb.max = 8;
	ck_assert_int_eq(strbuf_addstr(&sb, "12345678"), 0);
	ck_assert_int_eq(strbuf_addch(&sb, '9'), -1);
	ck_assert_str_eq(sb.buf, "12345678");
	ck_assert_int_eq(strbuf_addf(&sb, "%s", "x"), -1);
	strbuf_release(&sb);
}
END_TEST

START_TEST(test_replace_all_and_detach)
{
	struct strbuf sb = STRBUF_INIT;
	char *s;
	size_t len;

	strbuf_addstr(&sb, "pw=hunter2 again hunter2.");
	strbuf_replace_all(&sb, "hunter2", "***");
	ck_assert_str_eq(sb.buf, "pw=*** again ***.");
	s = strbuf_detach(&sb, &len);
	ck_assert_uint_eq(len, strlen("pw=*** again ***."));
	ck_assert_str_eq(sb.buf, "");
	free(s);
}
END_TEST

START_TEST(test_errbuf_prefix)
{
	struct errbuf e = ERRBUF_INIT;

	ck_assert_int_eq(errbuf_set(&e, BL_EVERIFY, "checksum mismatch on %s", "x.zst"), 4);
	errbuf_prefix(&e, "verify %s: ", "b1");
	ck_assert_str_eq(e.msg, "verify b1: checksum mismatch on x.zst");
	ck_assert_int_eq(e.code, BL_EVERIFY);
	ck_assert_int_eq(errbuf_errno(&e, BL_EFAIL, 2, "cannot open %s", "/x"), 1);
	ck_assert_str_eq(e.msg, "cannot open /x: No such file or directory");
}
END_TEST

/* Wrapping a lower error in a new one passes e->msg to the same errbuf:
 * it once came out doubled, with garbage in the middle. */
START_TEST(test_errbuf_wraps_itself)
{
	struct errbuf e = ERRBUF_INIT;

	errbuf_set(&e, BL_EUSAGE, "undefined variable ${X}");
	errbuf_set(&e, BL_EFAIL, "env file %s is missing on %s (%s)", "/srv/.env", "local",
		   e.msg);
	ck_assert_str_eq(e.msg, "env file /srv/.env is missing on local (undefined variable ${X})");
	errbuf_errno(&e, BL_EFAIL, 2, "%s; and then", e.msg);
	ck_assert_str_eq(e.msg, "env file /srv/.env is missing on local (undefined variable ${X}); "
			 "and then: No such file or directory");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("strbuf");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_never_null);
	tcase_add_test(tc, test_add_and_format);
	tcase_add_test(tc, test_cap);
	tcase_add_test(tc, test_replace_all_and_detach);
	tcase_add_test(tc, test_errbuf_prefix);
	tcase_add_test(tc, test_errbuf_wraps_itself);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
