/* randhex: the names it draws are hex of the asked length, NUL-terminated
 * exactly there, and differ from call to call. */
#include <string.h>

#include "randhex.h"
#include "tsupport.h"

START_TEST(test_shape)
{
	char buf[200];
	const size_t sizes[] = { 1, 4, 8, 16, 64, 70 };

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		memset(buf, 'Z', sizeof(buf));
		randhex(buf, sizes[k]);
		ck_assert_uint_eq(strlen(buf), 2 * sizes[k]);
		ck_assert_uint_eq(strspn(buf, "0123456789abcdef"), 2 * sizes[k]);
		ck_assert_int_eq(buf[2 * sizes[k] + 1], 'Z');
	}
}
END_TEST

START_TEST(test_differs)
{
	char a[33], b[33];

	randhex(a, 16);
	randhex(b, 16);
	ck_assert_str_ne(a, b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("randhex");
	TCase *tc = tcase_create("randhex");

	tcase_add_test(tc, test_shape);
	tcase_add_test(tc, test_differs);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
