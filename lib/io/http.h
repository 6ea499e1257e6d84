/*
 * http: health checks over libcurl.
 *
 * Contract: a check is a URL, the expected status (default 200), an
 * optional body substring, a per-request timeout (default 5s), a retry
 * interval (default 2s), an overall deadline (default 60s) and a
 * stable-for window (default 0): the check passes once it has answered as
 * expected on every attempt for stable_for in a row, and fails when its
 * deadline passes first. Bodies are read into a bounded buffer (1 MiB; the
 * substring must be in the first MiB). http_wait() runs several checks, and
 * an optional extra probe (the compose services' health), side by side in
 * one loop, and stops early on SIGINT/SIGTERM (interrupt_signal). Failures
 * are BL_EVERIFY with one line naming the URL, what was expected and what
 * came back last ("http://h/health: expected status 200, got 500 after
 * 10.0s").
 */
#ifndef BALLAST_HTTP_H
#define BALLAST_HTTP_H

#include <jansson.h>

#include "errbuf.h"
#include "strbuf.h"

#define HTTP_BODY_MAX (1024 * 1024)

struct http_check {
	char *url;
	long status;
	char *body;               /* substring, or NULL */
	long long timeout_ms;
	long long interval_ms;
	long long deadline_ms;
	long long stable_for_ms;
	char *ca_file;            /* NULL = system store */
	int insecure;             /* skip TLS verification */
};

/* From a config "health" item; where ("environments.prod.health[0]") names
 * it in errors. Free with http_check_release. */
int http_check_parse(json_t *obj, const char *where, struct http_check *out, struct errbuf *e);
void http_check_release(struct http_check *c);

/* One request. 0 when the answer is as expected; BL_EVERIFY with the
 * reason in why (and e) when not. *status gets the HTTP status (0 when
 * none came back). */
int http_probe(const struct http_check *c, long *status, struct errbuf *e);

/* Extra condition polled with the checks: return 0 when it holds, non-zero
 * with a reason in e when not (yet). */
typedef int (*http_extra_fn)(void *ctx, struct errbuf *e);

int http_wait(const struct http_check *checks, size_t n, http_extra_fn extra, void *ctx,
	      struct errbuf *e);

#endif
