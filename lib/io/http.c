#include "http.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "config.h"
#include "proc.h"
#include "interrupt.h"
#include "xalloc.h"

int http_check_parse(json_t *obj, const char *where, struct http_check *out, struct errbuf *e)
{
	long long st = 200;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj) || !json_is_string(json_object_get(obj, "url")))
		return errbuf_set(e, BL_EUSAGE, "%s.url: expected a string", where);
	if (json_object_get(obj, "status") &&
	    (config_json_int(json_object_get(obj, "status"), &st) || st < 100 || st > 599))
		return errbuf_set(e, BL_EUSAGE, "%s.status: expected an HTTP status 100-599", where);
	if ((rc = config_duration_opt(obj, "timeout", 5000, 0, where, &out->timeout_ms, e)) ||
	    (rc = config_duration_opt(obj, "interval", 2000, 0, where, &out->interval_ms, e)) ||
	    (rc = config_duration_opt(obj, "deadline", 60000, 0, where, &out->deadline_ms, e)) ||
	    (rc = config_duration_opt(obj, "stable_for", 0, 0, where, &out->stable_for_ms, e)))
		return rc;
	if (out->timeout_ms <= 0)
		out->timeout_ms = 5000;
	if (out->interval_ms <= 0)
		out->interval_ms = 100;
	out->status = (long)st;
	out->url = xstrdup_or_null(json_string_value(json_object_get(obj, "url")));
	out->body = xstrdup_or_null(json_string_value(json_object_get(obj, "body")));
	out->ca_file = xstrdup_or_null(json_string_value(json_object_get(obj, "ca_file")));
	out->insecure = json_is_true(json_object_get(obj, "insecure"));
	return 0;
}

void http_check_release(struct http_check *c)
{
	free(c->url);
	free(c->body);
	free(c->ca_file);
	memset(c, 0, sizeof(*c));
}

static size_t body_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct strbuf *sb = ud;
	size_t n = size * nmemb;

	/* Keep the first HTTP_BODY_MAX bytes and discard the rest without
	 * failing the transfer: a big page is not an unhealthy one. */
	if (sb->len < HTTP_BODY_MAX) {
		size_t room = HTTP_BODY_MAX - sb->len;

		strbuf_add(sb, ptr, n < room ? n : room);
	}
	return n;
}

static int curl_ready(void)
{
	static int done;

	if (!done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT))
			return -1;
		done = 1;
	}
	return 0;
}

static int probe_with(CURL *h, const struct http_check *c, long long timeout_ms, long *status,
		      struct errbuf *e)
{
	struct strbuf body = STRBUF_INIT;
	char cerr[CURL_ERROR_SIZE] = "";
	CURLcode cc;
	int rc = 0;

	*status = 0;
	curl_easy_setopt(h, CURLOPT_URL, c->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 1));
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 1));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "ballast-deploy/" BALLAST_VERSION);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (c->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	if (c->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		rc = errbuf_set(e, BL_EVERIFY, "%s: %s", c->url, cerr[0] ? cerr : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	if (*status != c->status) {
		rc = errbuf_set(e, BL_EVERIFY, "%s: expected status %ld, got %ld", c->url, c->status,
				*status);
		goto out;
	}
	if (c->body && !strstr(body.buf, c->body)) {
		rc = errbuf_set(e, BL_EVERIFY, "%s: status %ld but the body does not contain \"%s\"",
				c->url, *status, c->body);
		goto out;
	}
out:
	strbuf_release(&body);
	return rc;
}

int http_probe(const struct http_check *c, long *status, struct errbuf *e)
{
	CURL *h;
	int rc;

	if (curl_ready() || !(h = curl_easy_init()))
		return errbuf_set(e, BL_EFAIL, "http: cannot initialise libcurl");
	rc = probe_with(h, c, c->timeout_ms, status, e);
	curl_easy_cleanup(h);
	return rc;
}

struct wait_state {
	CURL *h;
	long long ok_since;   /* -1 while failing */
	long long next_at;
	int passed;
	int tries;
	struct errbuf last;
};

int http_wait(const struct http_check *checks, size_t n, http_extra_fn extra, void *ctx,
	      struct errbuf *e)
{
	struct wait_state *ws = NULL;
	struct wait_state xs = { NULL, -1, 0, 0, 0, ERRBUF_INIT };
	long long start = time_mono_ms(), extra_deadline = 0, min_interval = 2000;
	int rc = 0;

	if (curl_ready())
		return errbuf_set(e, BL_EFAIL, "http: cannot initialise libcurl");
	ws = xcalloc(n, sizeof(*ws));
	for (size_t i = 0; i < n; i++) {
		ws[i].h = curl_easy_init();
		ws[i].ok_since = -1;
		ws[i].next_at = start;
		if (!ws[i].h) {
			rc = errbuf_set(e, BL_EFAIL, "http: cannot initialise libcurl");
			goto out;
		}
		if (checks[i].deadline_ms > extra_deadline)
			extra_deadline = checks[i].deadline_ms;
		if (i == 0 || checks[i].interval_ms < min_interval)
			min_interval = checks[i].interval_ms;
	}
	if (!n)
		extra_deadline = 60000;
	xs.passed = !extra;
	xs.next_at = start;
	for (;;) {
		long long now = time_mono_ms(), wake;
		int all = 1;

		if (interrupt_signal) {
			rc = interrupt_check_what(e, "health checks");
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			const struct http_check *c = &checks[i];
			long st;

			if (ws[i].passed)
				continue;
			all = 0;
			if (now < ws[i].next_at)
				continue;
			errbuf_clear(&ws[i].last);
			/* A request started before the deadline gets its whole timeout:
			 * cutting the last one short would fail a check that was about
			 * to pass. */
			if (probe_with(ws[i].h, c, c->timeout_ms, &st, &ws[i].last) == 0) {
				now = time_mono_ms();
				if (ws[i].ok_since < 0)
					ws[i].ok_since = now;
				if (now - ws[i].ok_since >= c->stable_for_ms)
					ws[i].passed = 1;
			} else {
				now = time_mono_ms();
				ws[i].ok_since = -1;
			}
			ws[i].next_at = now + c->interval_ms;
			if (!ws[i].passed && now >= start + c->deadline_ms) {
				if (ws[i].ok_since >= 0)
					rc = errbuf_set(e, BL_EVERIFY,
							"%s: healthy for %.1fs of the %.1fs required when the %.1fs deadline passed",
							c->url, (now - ws[i].ok_since) / 1000.0,
							c->stable_for_ms / 1000.0, c->deadline_ms / 1000.0);
				else
					rc = errbuf_set(e, BL_EVERIFY, "%s (deadline %.1fs passed)",
							ws[i].last.msg, c->deadline_ms / 1000.0);
				goto out;
			}
		}
		/* The extra probe (a remote `compose ps`) can be slow: it runs once
		 * the HTTP checks have passed, so it never starves them. */
		if (!xs.passed && all) {
			all = 0;
			if (now >= xs.next_at) {
				errbuf_clear(&xs.last);
				xs.tries++;
				if (extra(ctx, &xs.last) == 0)
					xs.passed = 1;
				now = time_mono_ms();
				xs.next_at = now + min_interval;
				if (!xs.passed && now >= start + extra_deadline && xs.tries > 1) {
					rc = errbuf_set(e, BL_EVERIFY, "%s (deadline %.1fs passed)",
							xs.last.msg, extra_deadline / 1000.0);
					goto out;
				}
			}
		}
		if (all)
			break;
		wake = -1;
		for (size_t i = 0; i < n; i++)
			if (!ws[i].passed && (wake < 0 || ws[i].next_at < wake))
				wake = ws[i].next_at;
		if (wake < 0 && !xs.passed)
			wake = xs.next_at;
		now = time_mono_ms();
		if (wake > now)
			usleep((useconds_t)((wake - now) > 1000 ? 1000000 : (wake - now) * 1000));
	}
out:
	for (size_t i = 0; i < n; i++)
		if (ws[i].h)
			curl_easy_cleanup(ws[i].h);
	free(ws);
	return rc;
}
