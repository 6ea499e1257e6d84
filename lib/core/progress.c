#include "progress.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "proc.h"

void progress_init(struct progress *p)
{
	p->t0 = time_mono_ms();
	p->last = 0;
	p->json = log_json();
	p->tty = !p->json && log_is_tty() && log_enabled(LOG_INFO);
	p->drawn = 0;
	p->total_name[0] = '\0';
	p->total = 0;
}

void progress_expect(struct progress *p, const char *name, long long total)
{
	snprintf(p->total_name, sizeof(p->total_name), "%s", name ? name : "");
	p->total = total > 0 ? total : 0;
}

void progress_bytes(long long n, char *buf, unsigned long size)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

/* The percentage and the time left for an item of known size, while the
 * estimate holds; 0 when there is none to show. done is what the item
 * counts (raw bytes, or the stored bytes of a restore that only reads). */
static int eta(const struct progress *p, const char *name, long long done, long long el,
	       int *pct, long long *left_ms)
{
	if (!p->total || strcmp(name, p->total_name) || done <= 0 || done >= p->total || el <= 0)
		return 0;
	*pct = (int)(done * 100 / p->total);
	*left_ms = (long long)((double)el * (double)(p->total - done) / (double)done);
	return 1;
}

void progress_update(void *ctx, const char *name, long long raw, long long stored)
{
	struct progress *p = ctx;
	long long now = time_mono_ms(), el = now - p->t0, left = 0;
	long long done = raw >= 0 ? raw : stored;
	char in[32], out[32], rate[32], tail[64] = "";
	int pct = 0, known;

	if (!p->tty && !p->json)
		return;
	if (now - p->last < (p->tty ? 250 : 5000))
		return;
	p->last = now;
	known = eta(p, name, done, el, &pct, &left);
	progress_bytes(el > 0 ? done * 1000 / el : 0, rate, sizeof(rate));
	if (p->json) {
		json_t *o = json_pack("{s:s, s:I, s:I, s:I}", "item", name, "bytes_in",
				      (json_int_t)raw, "bytes_out", (json_int_t)stored,
				      "elapsed_ms", (json_int_t)el);

		if (known) {
			json_object_set_new(o, "total", json_integer(p->total));
			json_object_set_new(o, "percent", json_integer(pct));
			json_object_set_new(o, "eta_ms", json_integer(left));
		}
		log_event("progress", o);
		json_decref(o);
		return;
	}
	if (known)
		snprintf(tail, sizeof(tail), ", %d%%, %02lld:%02lld left", pct, left / 60000,
			 left / 1000 % 60);
	progress_bytes(done, in, sizeof(in));
	/* both sides known (a backup): the ratio; one (a restore): that one */
	if (raw >= 0 && stored >= 0) {
		progress_bytes(stored, out, sizeof(out));
		fprintf(stderr, "\r\033[K%s: %s in, %s out (%.1fx), %s/s, %02lld:%02lld%s", name, in,
			out, stored ? (double)raw / (double)stored : 0.0, rate, el / 60000,
			el / 1000 % 60, tail);
	} else {
		fprintf(stderr, "\r\033[K%s: %s, %s/s, %02lld:%02lld%s", name, in, rate,
			el / 60000, el / 1000 % 60, tail);
	}
	fflush(stderr);
	p->drawn = 1;
}

void progress_done(struct progress *p)
{
	if (p->drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	p->drawn = 0;
	p->t0 = time_mono_ms();
	p->last = 0;
	p->total_name[0] = '\0';
	p->total = 0;
}
