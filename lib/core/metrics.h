/*
 * metrics: a Prometheus textfile (node_exporter's textfile collector).
 *
 * Contract: metrics_update() merges samples into the file at path: series
 * it names are replaced (or, for counters with add set, incremented), every
 * other series already in the file is kept, and the file is rewritten
 * atomically (temp file in the same directory, fsync, rename), so the
 * collector never reads half a file. HELP/TYPE lines are written once per
 * metric name. An empty path does nothing.
 */
#ifndef BALLAST_METRICS_H
#define BALLAST_METRICS_H

#include <stddef.h>

#include "errbuf.h"

struct metric_sample {
	const char *name;    /* "ballast_backup_last_success_timestamp_seconds" */
	const char *help;
	const char *type;    /* "gauge" or "counter" */
	const char *labels;  /* "project=\"audit_app\",item=\"db:app\"" (escaped), may be "" */
	double value;
	int add;             /* counters: add value to the current one */
};

int metrics_update(const char *path, const struct metric_sample *s, size_t n,
		   struct errbuf *e);

/* Escape a label value (backslash, quote, newline) into buf. */
void metrics_label_escape(const char *v, char *buf, size_t n);

#endif
