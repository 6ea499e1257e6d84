#include "progress.h"

#include <jansson.h>
#include <stdio.h>

#include "log.h"
#include "proc.h"

void progress_init(struct progress *p)
{
	p->t0 = time_mono_ms();
	p->last = 0;
	p->json = log_json();
	p->tty = !p->json && log_is_tty() && log_enabled(LOG_INFO);
	p->drawn = 0;
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

void progress_update(void *ctx, const char *name, long long raw, long long stored)
{
	struct progress *p = ctx;
	long long now = time_mono_ms(), el = now - p->t0;
	char in[32], out[32], rate[32];

	if (!p->tty && !p->json)
		return;
	if (now - p->last < (p->tty ? 250 : 5000))
		return;
	p->last = now;
	progress_bytes(el > 0 ? raw * 1000 / el : 0, rate, sizeof(rate));
	if (p->json) {
		json_t *o = json_pack("{s:s, s:I, s:I, s:I}", "item", name, "bytes_in",
				      (json_int_t)raw, "bytes_out", (json_int_t)stored,
				      "elapsed_ms", (json_int_t)el);

		log_event("progress", o);
		json_decref(o);
		return;
	}
	progress_bytes(raw, in, sizeof(in));
	if (stored >= 0) {
		progress_bytes(stored, out, sizeof(out));
		fprintf(stderr, "\r\033[K%s: %s in, %s out (%.1fx), %s/s, %02lld:%02lld", name, in,
			out, stored ? (double)raw / (double)stored : 0.0, rate, el / 60000,
			el / 1000 % 60);
	} else {
		fprintf(stderr, "\r\033[K%s: %s, %s/s, %02lld:%02lld", name, in, rate,
			el / 60000, el / 1000 % 60);
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
}
