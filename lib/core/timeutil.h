/*
 * timeutil: the clocks and the one UTC time format ballast writes.
 *
 * Contract: time_mono_ms() is a monotonic clock in milliseconds, for
 * durations and deadlines (it never jumps with the wall clock);
 * time_wall_ms() is Unix time in milliseconds, the clock backup ids and
 * their grace periods are measured in. time_utc_format() writes
 * "2026-11-27T02:15:00Z" (manifests, lock files, reports);
 * time_utc_parse() reads exactly that form back, -1 on anything else.
 */
#ifndef BALLAST_TIMEUTIL_H
#define BALLAST_TIMEUTIL_H

#include <time.h>

#define TIME_UTC_MAX 32

long long time_mono_ms(void);
long long time_wall_ms(void);
void time_utc_format(time_t t, char buf[TIME_UTC_MAX]);
time_t time_utc_parse(const char *s);
/* ISO 8601 with a zone: "2026-12-05T18:30:00Z", "2026-12-05 18:30:00.123+01:00"
 * (S3's LastModified, restore --pitr --time): Unix ms; -1 when it is not such
 * a time. The zone is required: a server's TimeZone is not this host's. */
long long time_iso_parse_ms(const char *s);

#endif
