#include "notify.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "strbuf.h"

/* notify.timeout, 10s when unset (or "0"). */
static int timeout_ms(const struct config *cfg, long *tmo, struct errbuf *e)
{
	struct strbuf where = STRBUF_INIT;
	long long ms;
	int rc;

	strbuf_addf(&where, "%s: notify", cfg->path);
	rc = config_duration_opt(config_get(cfg, "notify"), "timeout", 0, 0, where.buf, &ms, e);
	strbuf_release(&where);
	*tmo = ms > 0 ? (long)ms : 10000;
	return rc;
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
	(void)p;
	(void)u;
	return s * n;
}

/* One request with retries: 5xx and transport errors are retried. */
static int send_request(const char *url, const char *body, long tmo, struct errbuf *e)
{
	struct strbuf shown = STRBUF_INIT;
	struct curl_slist *hdr = NULL;
	int rc = 0;

	log_redact_str(url, &shown);
	for (int attempt = 1; attempt <= 3; attempt++) {
		CURL *c = curl_easy_init();
		CURLcode res;
		long status = 0;

		if (!c) {
			rc = errbuf_set(e, BL_EFAIL, "notify: cannot initialise libcurl");
			break;
		}
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, tmo);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, tmo);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(c, CURLOPT_USERAGENT, "ballast/" BALLAST_VERSION);
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
		if (body) {
			if (!hdr)
				hdr = curl_slist_append(NULL, "Content-Type: application/json");
			curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		}
		res = curl_easy_perform(c);
		if (res == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_cleanup(c);
		if (res == CURLE_OK && status >= 200 && status < 300) {
			rc = 0;
			break;
		}
		if (res != CURLE_OK)
			rc = errbuf_set(e, BL_EFAIL, "notify: %s: %s (attempt %d of 3)", shown.buf,
					curl_easy_strerror(res), attempt);
		else
			rc = errbuf_set(e, BL_EFAIL, "notify: %s answered HTTP %ld (attempt %d of 3)",
					shown.buf, status, attempt);
		if (res == CURLE_OK && status < 500 && status != 429)
			break; /* a 4xx will not get better */
		if (attempt < 3)
			usleep((useconds_t)(attempt * 500000));
	}
	curl_slist_free_all(hdr);
	strbuf_release(&shown);
	return rc;
}

static int wanted(const struct config *cfg, int ok)
{
	json_t *on = config_get(cfg, "notify.on");
	const char *want = ok ? "success" : "failure";
	size_t i;
	json_t *v;

	if (!json_is_array(on))
		return !ok;
	json_array_foreach(on, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), want))
			return 1;
	return 0;
}

int notify_event(const struct config *cfg, const struct notify_event *ev, struct errbuf *e)
{
	const char *url = config_str(cfg, "notify.webhook", NULL);
	const char *project = config_str(cfg, "project", "ballast");
	struct strbuf text = STRBUF_INIT;
	char host[256] = "", when[32];
	time_t now = time(NULL);
	struct tm tm;
	json_t *body;
	char *s;
	long tmo;
	int rc;

	if (!url || !*url || !wanted(cfg, ev->ok))
		return 0;
	if ((rc = timeout_ms(cfg, &tmo, e)))
		return rc;
	gethostname(host, sizeof(host) - 1);
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	strbuf_addf(&text, "ballast %s %s on %s (%s)", ev->event, ev->ok ? "succeeded" : "FAILED",
		    host, project);
	if (ev->backup_id)
		strbuf_addf(&text, ", backup %s", ev->backup_id);
	if (ev->error)
		strbuf_addf(&text, ": %s", ev->error);
	body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:s}", "project", project, "event",
			 ev->event, "status", ev->ok ? "success" : "failure", "host", host, "time",
			 when, "duration_seconds", ev->duration_s, "text", text.buf);
	if (ev->backup_id)
		json_object_set_new(body, "backup_id", json_string(ev->backup_id));
	if (ev->bytes >= 0)
		json_object_set_new(body, "bytes", json_integer(ev->bytes));
	if (ev->error)
		json_object_set_new(body, "error", json_string(ev->error));
	if (ev->extra)
		json_object_update(body, ev->extra);
	s = json_dumps(body, JSON_COMPACT);
	strbuf_reset(&text);
	log_redact_str(s ? s : "{}", &text);
	rc = send_request(url, text.buf, tmo, e);
	free(s);
	json_decref(body);
	strbuf_release(&text);
	return rc;
}

int notify_ping(const struct config *cfg, const char *which, struct errbuf *e)
{
	const char *base = config_str(cfg, "notify.ping", NULL);
	struct strbuf url = STRBUF_INIT;
	long tmo;
	int rc;

	if (!base || !*base)
		return 0;
	if ((rc = timeout_ms(cfg, &tmo, e)))
		return rc;
	strbuf_addstr(&url, base);
	while (url.len && url.buf[url.len - 1] == '/')
		strbuf_setlen(&url, url.len - 1);
	if (which)
		strbuf_addf(&url, "/%s", which);
	rc = send_request(url.buf, NULL, tmo, e);
	strbuf_release(&url);
	return rc;
}
