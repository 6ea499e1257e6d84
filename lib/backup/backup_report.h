/*
 * backup_report: what ballast-backup tells the outside world after run,
 * prune and drill: the healthchecks-style ping, the webhook (lib/notify)
 * and the Prometheus textfile (lib/metrics).
 *
 * Contract: backup_report_start() pings "<ping>/start"; the *_done()
 * functions ping "<ping>" or "<ping>/fail", POST the webhook when the
 * outcome is listed in notify.on, and merge the command's series into
 * metrics.textfile. None of them can fail: a notifier or metrics failure
 * is a warning on stderr, never a change of the command's exit status,
 * because a backup that worked must not be reported as failed (or a failed
 * one hidden) because a monitoring endpoint was down.
 *
 * Series written (every one labelled project="<project>"):
 *   run ok      ballast_backup_last_success_timestamp_seconds{item="db:app"}
 *               ballast_backup_duration_seconds{item}  (that item, last good run)
 *               ballast_backup_bytes{item}             (stored bytes, last good run)
 *               ballast_backup_failures_total{item}    (created at 0)
 *   run failed  ballast_backup_failures_total{item}    += 1; item is the one
 *               that failed, or "run" when no item was running (lock, repository)
 *   prune ok    ballast_prune_last_success_timestamp_seconds, ballast_prune_kept,
 *               ballast_prune_removed, ballast_prune_failures_total (created at 0)
 *   prune fail  ballast_prune_failures_total += 1
 *   drill ok    ballast_drill_last_success_timestamp_seconds{item} (and item="all"),
 *               ballast_drill_restore_seconds{item} (RTO), ballast_drill_backup_age_seconds
 *               (RPO), ballast_drill_failures_total (created at 0)
 *   drill fail  ballast_drill_failures_total += 1
 */
#ifndef BALLAST_BACKUP_REPORT_H
#define BALLAST_BACKUP_REPORT_H

#include <jansson.h>

#include "config.h"
#include "errbuf.h"

void backup_report_start(const struct config *cfg);

/* rc/e: the run's outcome; id: the backup id or NULL; manifest: the sealed
 * manifest on success (items, sizes, timings), may be NULL on failure;
 * failed_item: "db:app" when an item was running when it failed. */
void backup_report_run_done(const struct config *cfg, int rc, const struct errbuf *e,
			    const char *id, json_t *manifest, const char *failed_item,
			    long long started_ms);

/* plan: prune's decisions (array of {"id","action",...}); may be NULL on failure. */
void backup_report_prune_done(const struct config *cfg, int rc, const struct errbuf *e,
			      json_t *plan, long long started_ms);

/* report: the drill report (lib/drill.h); may be NULL when the drill never started. */
void backup_report_drill_done(const struct config *cfg, int rc, const struct errbuf *e,
			      json_t *report, long long started_ms);

#endif
