#include "timeutil.h"

#include <string.h>

static long long clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long time_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

long long time_wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

void time_utc_format(time_t t, char buf[TIME_UTC_MAX])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, TIME_UTC_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

time_t time_utc_parse(const char *s)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	if (!s)
		return -1;
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end)
		return -1;
	return timegm(&tm);
}
