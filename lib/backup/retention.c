#include "retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const rule_keys[] = { "keep_last", "keep_hourly", "keep_daily",
					 "keep_weekly", "keep_monthly", "keep_yearly" };

int retention_policy_from_json(json_t *retention, const char *file,
			       struct retention_policy *p, struct errbuf *e)
{
	int *slots[] = { &p->keep_last, &p->keep_hourly, &p->keep_daily,
			 &p->keep_weekly, &p->keep_monthly, &p->keep_yearly };
	int any = 0;

	memset(p, 0, sizeof(*p));
	if (!json_is_object(retention))
		return errbuf_set(e, BL_EUSAGE,
				  "%s: retention: missing (expected at least one of keep_last, "
				  "keep_daily, keep_weekly, keep_monthly, keep_yearly); refusing "
				  "to prune without a policy", file);
	for (size_t i = 0; i < sizeof(rule_keys) / sizeof(rule_keys[0]); i++) {
		json_t *v = json_object_get(retention, rule_keys[i]);
		long long n;

		if (!v)
			continue;
		if (json_is_integer(v))
			n = json_integer_value(v);
		else if (json_is_string(v) && *json_string_value(v))
			n = strtoll(json_string_value(v), NULL, 10);
		else
			return errbuf_set(e, BL_EUSAGE, "%s: retention.%s: expected an integer", file,
					  rule_keys[i]);
		if (n < 1 || n > 100000)
			return errbuf_set(e, BL_EUSAGE,
					  "%s: retention.%s: expected a number from 1 to 100000, got "
					  "%lld (remove the key to disable the rule)",
					  file, rule_keys[i], n);
		*slots[i] = (int)n;
		any = 1;
	}
	if (!any)
		return errbuf_set(e, BL_EUSAGE,
				  "%s: retention: no rule (expected at least one of keep_last, "
				  "keep_daily, keep_weekly, keep_monthly, keep_yearly); refusing to "
				  "prune without a policy", file);
	return 0;
}

static int newest_first(const void *a, const void *b)
{
	const struct retention_item *x = a, *y = b;

	if (x->time != y->time)
		return x->time > y->time ? -1 : 1;
	return strcmp(y->id ? y->id : "", x->id ? x->id : "");
}

static void add_reason(struct retention_item *it, const char *what, const char *period)
{
	size_t n = strlen(it->reason);

	it->keep = 1;
	if (n && n + 2 < sizeof(it->reason)) {
		memcpy(it->reason + n, ", ", 3);
		n += 2;
	}
	snprintf(it->reason + n, sizeof(it->reason) - n, "%s%s%s", what, period ? " " : "",
		 period ? period : "");
}

enum period { P_HOUR, P_DAY, P_WEEK, P_MONTH, P_YEAR };

static void period_key(time_t t, enum period p, char *buf, size_t n)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	switch (p) {
	case P_HOUR: strftime(buf, n, "%Y-%m-%dT%H", &tm); break;
	case P_DAY: strftime(buf, n, "%Y-%m-%d", &tm); break;
	case P_WEEK: strftime(buf, n, "%G-W%V", &tm); break;
	case P_MONTH: strftime(buf, n, "%Y-%m", &tm); break;
	case P_YEAR: strftime(buf, n, "%Y", &tm); break;
	}
}

static void keep_periods(struct retention_item *items, size_t n, int count, enum period p,
			 const char *label)
{
	char last[32] = "", key[32];
	int seen = 0;

	if (count <= 0)
		return;
	for (size_t i = 0; i < n && seen < count; i++) {
		period_key(items[i].time, p, key, sizeof(key));
		if (!strcmp(key, last))
			continue;
		/* The first (newest) backup of a period we have not seen yet. */
		memcpy(last, key, sizeof(last));
		add_reason(&items[i], label, key);
		seen++;
	}
}

void retention_apply(const struct retention_policy *p, struct retention_item *items, size_t n)
{
	int kept = 0, good_done = 0, drill_done = 0;

	if (n) /* qsort(NULL, 0) is undefined */
		qsort(items, n, sizeof(*items), newest_first);
	for (size_t i = 0; i < n; i++) {
		items[i].keep = 0;
		items[i].reason[0] = '\0';
	}
	for (size_t i = 0; i < n && (int)i < p->keep_last; i++)
		add_reason(&items[i], "last", NULL);
	keep_periods(items, n, p->keep_hourly, P_HOUR, "hourly");
	keep_periods(items, n, p->keep_daily, P_DAY, "daily");
	keep_periods(items, n, p->keep_weekly, P_WEEK, "weekly");
	keep_periods(items, n, p->keep_monthly, P_MONTH, "monthly");
	keep_periods(items, n, p->keep_yearly, P_YEAR, "yearly");
	for (size_t i = 0; i < n; i++) {
		if (items[i].good && !good_done) {
			add_reason(&items[i], "newest good backup", NULL);
			good_done = 1;
		}
		if (items[i].drilled && !drill_done) {
			add_reason(&items[i], "newest drilled backup", NULL);
			drill_done = 1;
		}
		if (items[i].keep_label)
			add_reason(&items[i], "label keep=true", NULL);
		kept += items[i].keep;
	}
	if (!kept)
		for (size_t i = 0; i < n; i++)
			add_reason(&items[i], "safety: the policy would remove every backup", NULL);
}
