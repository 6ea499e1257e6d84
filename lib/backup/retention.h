/*
 * retention: which backups a keep-last/hourly/daily/weekly/monthly/yearly
 * policy keeps. A pure function: no I/O, no clock.
 *
 * Semantics are restic's: backups are taken newest first; keep_last N keeps
 * the N newest; keep_daily N keeps the newest backup of each of the N most
 * recent days that have a backup (days without backups do not count), and
 * the same for hours, ISO weeks, months and years. Periods are computed in
 * UTC from the manifest's time, so DST changes and file times play no part.
 *
 * Never removed, whatever the rules say: the newest good backup, the newest
 * backup that passed a drill, a backup labelled keep=true. If the rules
 * would remove every backup, all are kept. Each kept backup's `reason`
 * names every rule that kept it ("last, daily 2026-11-27").
 */
#ifndef BALLAST_RETENTION_H
#define BALLAST_RETENTION_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "errbuf.h"

struct retention_policy {
	int keep_last;
	int keep_hourly;
	int keep_daily;
	int keep_weekly;
	int keep_monthly;
	int keep_yearly;
};

struct retention_item {
	const char *id;
	time_t time;      /* UTC seconds, from the manifest */
	int good;         /* complete and not known bad */
	int drilled;      /* passed a restore drill */
	int keep_label;   /* labelled keep=true */
	/* results */
	int keep;
	char reason[160];
};

/* From the config's "retention" object. BL_EUSAGE (naming the key) for a
 * missing object, no rule at all, or a value below 1. */
int retention_policy_from_json(json_t *retention, const char *file,
			       struct retention_policy *p, struct errbuf *e);

/* Decide for every item (any order; the array is sorted newest first). */
void retention_apply(const struct retention_policy *p, struct retention_item *items, size_t n);

#endif
