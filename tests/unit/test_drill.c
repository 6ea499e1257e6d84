/* drill's pure parts: scratch database names and SQL check files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drill.h"
#include "tsupport.h"

START_TEST(test_scratch_names)
{
	char name[64];
	time_t t = 1795745700; /* 2026-11-27T02:15:00Z */

	drill_scratch_name("app", t, name);
	ck_assert_str_eq(name, "ballast_drill_app_20261127021500");
	drill_scratch_name("Shop-DB.v2", t, name);
	ck_assert_str_eq(name, "ballast_drill_shop_db_v2_20261127021500");
	/* a long name is cut: PostgreSQL would silently truncate at 63 bytes,
	 * and two drills of different databases could then collide */
	drill_scratch_name("a_very_long_database_name_that_goes_on_and_on_and_on", t, name);
	ck_assert_uint_eq(strlen(name), 63);
	ck_assert_str_eq(name + 63 - 14, "20261127021500");
	ck_assert(!strncmp(name, "ballast_drill_a_very_long", 25));
}
END_TEST

START_TEST(test_load_checks)
{
	char *dir = ttmp_dir("drill-unit");
	char a[512], b[512], empty[512], bad[512];
	struct errbuf e = ERRBUF_INIT;
	json_t *specs, *checks = NULL;

	snprintf(a, sizeof(a), "%s/a.sql", dir);
	snprintf(b, sizeof(b), "%s/b.sql", dir);
	snprintf(empty, sizeof(empty), "%s/empty.sql", dir);
	snprintf(bad, sizeof(bad), "%s/bad.sql", dir);
	ck_assert_int_eq(twrite_file(a, "-- header\nSELECT ';' = ';';\n\nSELECT $$a;b$$ <> '';\n"), 0);
	ck_assert_int_eq(twrite_file(b, "SELECT 1"), 0);
	ck_assert_int_eq(twrite_file(empty, "-- nothing here\n"), 0);
	ck_assert_int_eq(twrite_file(bad, "SELECT 'unterminated;\n"), 0);

	specs = json_pack("[{s:n, s:s}, {s:s, s:s}]", "db", "file", a, "db", "app", "file", b);
	ck_assert_int_eq(drill_load_checks(specs, &checks, &e), 0);
	ck_assert_uint_eq(json_array_size(checks), 3);
	ck_assert_int_eq((int)json_integer_value(json_object_get(json_array_get(checks, 0), "line")), 2);
	ck_assert_int_eq((int)json_integer_value(json_object_get(json_array_get(checks, 1), "line")), 4);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_array_get(checks, 1), "sql")),
				     "$$a;b$$"));
	ck_assert(json_is_null(json_object_get(json_array_get(checks, 0), "db")));
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(checks, 2), "db")), "app");
	json_decref(checks);
	json_decref(specs);

	specs = json_pack("[{s:n, s:s}]", "db", "file", empty);
	ck_assert_int_eq(drill_load_checks(specs, &checks, &e), BL_EUSAGE);
	ck_assert_ptr_nonnull(strstr(e.msg, "empty.sql: no SQL statement"));
	ck_assert_ptr_null(checks);
	json_decref(specs);

	specs = json_pack("[{s:n, s:s}]", "db", "file", bad);
	ck_assert_int_eq(drill_load_checks(specs, &checks, &e), BL_EUSAGE);
	ck_assert_ptr_nonnull(strstr(e.msg, "bad.sql"));
	json_decref(specs);

	specs = json_pack("[{s:n, s:s}]", "db", "file", "/nonexistent/x.sql");
	ck_assert_int_eq(drill_load_checks(specs, &checks, &e), BL_EUSAGE);
	ck_assert_ptr_nonnull(strstr(e.msg, "/nonexistent/x.sql"));
	json_decref(specs);
	ttmp_rm(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("drill");
	TCase *tc = tcase_create("drill");

	tcase_add_test(tc, test_scratch_names);
	tcase_add_test(tc, test_load_checks);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
