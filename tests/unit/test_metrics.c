#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "metrics.h"
#include "tsupport.h"

/* Parse the textfile back: value of one series, or -1 when absent. */
static double series_value(const char *text, const char *key)
{
	const char *p = text;
	size_t kl = strlen(key);

	while ((p = strstr(p, key))) {
		if ((p == text || p[-1] == '\n') && p[kl] == ' ')
			return strtod(p + kl + 1, NULL);
		p += kl;
	}
	return -1;
}

START_TEST(test_write_merge_and_count)
{
	char *dir = ttmp_dir("metrics");
	char path[512];
	struct strbuf sb = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct metric_sample run1[] = {
		{ "ballast_backup_last_success_timestamp_seconds", "last good backup", "gauge",
		  "project=\"p\",item=\"db:app\"", 1700000000, 0 },
		{ "ballast_backup_bytes", "stored bytes", "gauge", "project=\"p\",item=\"db:app\"",
		  12345, 0 },
	};
	struct metric_sample fail[] = {
		{ "ballast_backup_failures_total", "failed runs", "counter", "project=\"p\"", 1, 1 },
	};
	struct metric_sample run2[] = {
		{ "ballast_backup_bytes", "stored bytes", "gauge", "project=\"p\",item=\"db:app\"",
		  999, 0 },
	};

	snprintf(path, sizeof(path), "%s/ballast.prom", dir);
	{
		/* node_exporter reads it as another user, even under umask 077 */
		mode_t old = umask(077);
		struct stat st;

		ck_assert_int_eq(metrics_update(path, run1, 2, &e), 0);
		umask(old);
		ck_assert_int_eq(stat(path, &st), 0);
		ck_assert_int_eq(st.st_mode & 0777, 0644);
	}
	ck_assert_int_eq(metrics_update(path, fail, 1, &e), 0);
	ck_assert_int_eq(metrics_update(path, fail, 1, &e), 0);
	ck_assert_int_eq(metrics_update(path, run2, 1, &e), 0);
	ck_assert_int_eq(tread_file(path, &sb), 0);
	ck_assert_double_eq(series_value(sb.buf, "ballast_backup_bytes{project=\"p\",item=\"db:app\"}"), 999);
	ck_assert_double_eq(series_value(sb.buf, "ballast_backup_last_success_timestamp_seconds{project=\"p\",item=\"db:app\"}"), 1700000000);
	ck_assert_double_eq(series_value(sb.buf, "ballast_backup_failures_total{project=\"p\"}"), 2);
	ck_assert_ptr_nonnull(strstr(sb.buf, "# TYPE ballast_backup_failures_total counter\n"));
	ck_assert_ptr_nonnull(strstr(sb.buf, "# HELP ballast_backup_bytes stored bytes\n"));
	/* HELP/TYPE once per metric. */
	ck_assert_ptr_null(strstr(strstr(sb.buf, "# TYPE ballast_backup_bytes") + 1,
				  "# TYPE ballast_backup_bytes"));
	ttmp_rm(dir);
	free(dir);
	strbuf_release(&sb);
}
END_TEST

START_TEST(test_unwritable_dir_fails_cleanly)
{
	struct errbuf e = ERRBUF_INIT;
	struct metric_sample s = { "m", NULL, "gauge", "", 1, 0 };

	ck_assert_int_eq(metrics_update("/nonexistent-dir/x.prom", &s, 1, &e), BL_EFAIL);
	ck_assert_ptr_nonnull(strstr(e.msg, "/nonexistent-dir/x.prom"));
	ck_assert_int_eq(metrics_update("", &s, 1, &e), 0);
}
END_TEST

START_TEST(test_label_escape)
{
	char buf[64];

	metrics_label_escape("a\"b\\c\nd", buf, sizeof(buf));
	ck_assert_str_eq(buf, "a\\\"b\\\\c\\nd");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("textfile");

	tcase_add_test(tc, test_write_merge_and_count);
	tcase_add_test(tc, test_unwritable_dir_fails_cleanly);
	tcase_add_test(tc, test_label_escape);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
