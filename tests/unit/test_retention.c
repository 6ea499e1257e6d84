#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retention.h"
#include "tsupport.h"

#define MAXI 800

static struct retention_item items[MAXI];
static char ids[MAXI][32];
static size_t nitems;

static time_t utc(int y, int mo, int d, int h, int mi)
{
	struct tm tm = { 0 };

	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	return timegm(&tm);
}

static void add(time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(ids[nitems], sizeof(ids[0]), "%Y%m%dT%H%M%SZ", &tm);
	memset(&items[nitems], 0, sizeof(items[0]));
	items[nitems].id = ids[nitems];
	items[nitems].time = t;
	items[nitems].good = 1;
	nitems++;
}

static struct retention_item *find(const char *id)
{
	for (size_t i = 0; i < nitems; i++)
		if (!strcmp(items[i].id, id))
			return &items[i];
	return NULL;
}

/* Nightly at 02:15 UTC from 2025-12-01 to 2026-11-27, nothing on
 * 2026-11-20..22, and two more backups on 2026-11-27. */
static void year_history(void)
{
	nitems = 0;
	for (time_t t = utc(2025, 12, 1, 2, 15); t <= utc(2026, 11, 27, 2, 15); t += 86400) {
		if (t >= utc(2026, 11, 20, 0, 0) && t < utc(2026, 11, 23, 0, 0))
			continue;
		add(t);
	}
	add(utc(2026, 11, 27, 10, 0));
	add(utc(2026, 11, 27, 18, 0));
}

static const char *const year_expected[] = {
	"20261127T180000Z", "20261127T100000Z", "20261127T021500Z", /* last 3 */
	"20261126T021500Z", "20261125T021500Z", "20261124T021500Z", "20261123T021500Z",
	"20261119T021500Z", "20261118T021500Z",                     /* daily 7, gap skipped */
	"20261115T021500Z", "20261108T021500Z",                     /* weekly W46, W45 */
	"20261031T021500Z", "20260930T021500Z", "20260831T021500Z", "20260731T021500Z",
	"20260630T021500Z",                                         /* monthly */
	"20251231T021500Z",                                         /* yearly 2025 */
	NULL
};

static void check_year(void)
{
	size_t kept = 0, want = 0;

	for (size_t i = 0; i < nitems; i++)
		kept += items[i].keep;
	for (const char *const *p = year_expected; *p; p++, want++) {
		struct retention_item *it = find(*p);

		ck_assert_msg(it != NULL, "missing %s", *p);
		ck_assert_msg(it->keep, "%s should be kept", *p);
	}
	ck_assert_uint_eq(kept, want);
}

START_TEST(test_year_with_gaps_and_several_per_day)
{
	struct retention_policy p = { 3, 0, 7, 4, 6, 2 };

	year_history();
	retention_apply(&p, items, nitems);
	check_year();
	ck_assert_str_eq(find("20261127T180000Z")->reason,
			 "last, daily 2026-11-27, weekly 2026-W48, monthly 2026-11, yearly 2026, "
			 "newest good backup");
	ck_assert_str_eq(find("20261119T021500Z")->reason, "daily 2026-11-19, weekly 2026-W47");
	ck_assert_str_eq(find("20251231T021500Z")->reason, "yearly 2025");
	ck_assert_int_eq(find("20261117T021500Z")->keep, 0);
	ck_assert_str_eq(find("20261117T021500Z")->reason, "");
}
END_TEST

START_TEST(test_timezone_and_dst_do_not_matter)
{
	struct retention_policy p = { 3, 0, 7, 4, 6, 2 };

	/* Local time zones with DST changes (2026-03-29, 2026-10-25) must not
	 * move a backup into another period: periods are UTC. */
	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	year_history();
	retention_apply(&p, items, nitems);
	check_year();
	setenv("TZ", "America/New_York", 1);
	tzset();
	year_history();
	retention_apply(&p, items, nitems);
	check_year();
	unsetenv("TZ");
	tzset();
}
END_TEST

START_TEST(test_hourly)
{
	struct retention_policy p = { 0, 2, 0, 0, 0, 0 };

	nitems = 0;
	add(utc(2026, 1, 1, 10, 5));
	add(utc(2026, 1, 1, 10, 50));
	add(utc(2026, 1, 1, 11, 5));
	add(utc(2026, 1, 1, 12, 5));
	retention_apply(&p, items, nitems);
	ck_assert_int_eq(find("20260101T120500Z")->keep, 1);
	ck_assert_int_eq(find("20260101T110500Z")->keep, 1);
	ck_assert_int_eq(find("20260101T105000Z")->keep, 0);
	ck_assert_int_eq(find("20260101T100500Z")->keep, 0);
}
END_TEST

START_TEST(test_never_delete_rules)
{
	struct retention_policy p = { 1, 0, 0, 0, 0, 0 };

	nitems = 0;
	for (int d = 1; d <= 10; d++)
		add(utc(2026, 5, d, 2, 0));
	/* The newest backup failed verification: the newest good one stays. */
	find("20260510T020000Z")->good = 0;
	/* An old backup is the newest that passed a drill. */
	find("20260503T020000Z")->drilled = 1;
	find("20260501T020000Z")->drilled = 1;
	/* And one is labelled keep=true. */
	find("20260502T020000Z")->keep_label = 1;
	retention_apply(&p, items, nitems);
	ck_assert_str_eq(find("20260510T020000Z")->reason, "last");
	ck_assert_str_eq(find("20260509T020000Z")->reason, "newest good backup");
	ck_assert_str_eq(find("20260503T020000Z")->reason, "newest drilled backup");
	ck_assert_str_eq(find("20260502T020000Z")->reason, "label keep=true");
	ck_assert_int_eq(find("20260501T020000Z")->keep, 0);
	ck_assert_int_eq(find("20260508T020000Z")->keep, 0);
}
END_TEST

START_TEST(test_nothing_good_keeps_everything_rules_keep)
{
	struct retention_policy p = { 1, 0, 0, 0, 0, 0 };

	nitems = 0;
	add(utc(2026, 5, 1, 2, 0));
	add(utc(2026, 5, 2, 2, 0));
	items[0].good = items[1].good = 0;
	retention_apply(&p, items, nitems);
	ck_assert_int_eq(find("20260502T020000Z")->keep, 1);
	ck_assert_int_eq(find("20260501T020000Z")->keep, 0);
	/* Empty input is fine. */
	retention_apply(&p, items, 0);
}
END_TEST

static void policy_error(const char *json, const char *want)
{
	struct retention_policy p;
	struct errbuf e = ERRBUF_INIT;
	json_t *v = json ? json_loads(json, 0, NULL) : NULL;

	ck_assert_int_eq(retention_policy_from_json(v, "ballast.json", &p, &e), BL_EUSAGE);
	ck_assert_msg(strstr(e.msg, want) != NULL, "want '%s' in '%s'", want, e.msg);
	json_decref(v);
}

START_TEST(test_bad_policies_refused)
{
	struct retention_policy p;
	struct errbuf e = ERRBUF_INIT;
	json_t *ok = json_loads("{\"keep_last\": 3, \"keep_daily\": \"7\"}", 0, NULL);

	policy_error(NULL, "retention: missing");
	policy_error("{}", "retention: no rule");
	policy_error("{\"keep_daily\": 0}", "retention.keep_daily: expected a number from 1");
	policy_error("{\"keep_last\": 2, \"keep_weekly\": -1}", "retention.keep_weekly");
	policy_error("{\"keep_monthly\": true}", "retention.keep_monthly: expected an integer");
	ck_assert_int_eq(retention_policy_from_json(ok, "ballast.json", &p, &e), 0);
	ck_assert_int_eq(p.keep_last, 3);
	ck_assert_int_eq(p.keep_daily, 7);
	ck_assert_int_eq(p.keep_yearly, 0);
	json_decref(ok);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("retention");
	TCase *tc = tcase_create("policy");

	tcase_add_test(tc, test_year_with_gaps_and_several_per_day);
	tcase_add_test(tc, test_timezone_and_dst_do_not_matter);
	tcase_add_test(tc, test_hourly);
	tcase_add_test(tc, test_never_delete_rules);
	tcase_add_test(tc, test_nothing_good_keeps_everything_rules_keep);
	tcase_add_test(tc, test_bad_policies_refused);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
