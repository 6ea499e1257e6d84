/*
 * notify: tell people and monitors what happened, without ever changing
 * the outcome.
 *
 * Contract: notify_event() POSTs a JSON body to notify.webhook when the
 * event's status is listed in notify.on (default ["failure"]); notify_ping()
 * calls a healthchecks.io-style URL: "<ping>/start" when a job starts,
 * "<ping>/fail" when it failed, "<ping>" when it succeeded. Both use libcurl
 * with a timeout (notify.timeout, default 10s) and up to 3 attempts with
 * backoff. They return a status so callers can log a warning, but callers
 * must never fail a backup, prune, drill or deploy because a notifier
 * failed. Nothing is sent when the URL is empty or unset.
 *
 * The webhook body: {"project", "event" ("backup"|"prune"|"drill"|"deploy"),
 * "status" ("success"|"failure"), "host", "time", "backup_id", "bytes",
 * "duration_seconds", "error", "text"} plus any extra fields; "text" is a
 * one-line human summary so Slack/Mattermost/Teams-style incoming webhooks
 * show something useful as is. Secrets are redacted from the body.
 */
#ifndef BALLAST_NOTIFY_H
#define BALLAST_NOTIFY_H

#include <jansson.h>

#include "config.h"
#include "errbuf.h"

struct notify_event {
	const char *event;     /* "backup", "prune", "drill", "deploy" */
	int ok;                /* success or failure */
	const char *backup_id; /* may be NULL */
	long long bytes;       /* -1 when not meaningful */
	double duration_s;
	const char *error;     /* failure line, may be NULL */
	json_t *extra;         /* merged into the body, may be NULL */
};

int notify_event(const struct config *cfg, const struct notify_event *ev, struct errbuf *e);
/* which: "start", "fail" or NULL for success. */
int notify_ping(const struct config *cfg, const char *which, struct errbuf *e);

#endif
