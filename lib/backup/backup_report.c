#include "backup_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "manifest.h"
#include "metrics.h"
#include "notify.h"
#include "proc.h"
#include "strbuf.h"
#include "xalloc.h"

/* Samples own their label strings: a small growable batch. */
struct batch {
	struct metric_sample *s;
	char **labels;
	size_t n, alloc;
};

/* A sample labelled project and, when item is set, key="item". */
static void batch_add_key(struct batch *b, const char *name, const char *help, const char *type,
			  const char *project, const char *key, const char *item, double value,
			  int add)
{
	char pe[256], ie[256];
	struct strbuf l = STRBUF_INIT;

	if (b->n == b->alloc) {
		b->alloc = b->alloc ? 2 * b->alloc : 16;
		b->s = xrealloc(b->s, b->alloc * sizeof(*b->s));
		b->labels = xrealloc(b->labels, b->alloc * sizeof(*b->labels));
	}
	metrics_label_escape(project, pe, sizeof(pe));
	strbuf_addf(&l, "project=\"%s\"", pe);
	if (item) {
		metrics_label_escape(item, ie, sizeof(ie));
		strbuf_addf(&l, ",%s=\"%s\"", key, ie);
	}
	b->labels[b->n] = strbuf_detach(&l, NULL);
	b->s[b->n] = (struct metric_sample){ name, help, type, b->labels[b->n], value, add };
	b->n++;
}

static void batch_add(struct batch *b, const char *name, const char *help, const char *type,
		      const char *project, const char *item, double value, int add)
{
	batch_add_key(b, name, help, type, project, "item", item, value, add);
}

static void batch_write(const struct config *cfg, struct batch *b)
{
	const char *path = config_str(cfg, "metrics.textfile", NULL);
	struct strbuf p = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;

	if (path && *path && b->n) {
		config_path(cfg, path, &p);
		if (metrics_update(p.buf, b->s, b->n, &e))
			log_warn("%s (the command's result is unchanged)", e.msg);
	}
	for (size_t i = 0; i < b->n; i++)
		free(b->labels[i]);
	free(b->labels);
	free(b->s);
	strbuf_release(&p);
}

static void send_notifications(const struct config *cfg, struct notify_event *ev)
{
	struct errbuf e = ERRBUF_INIT;

	if (notify_ping(cfg, ev->ok ? NULL : "fail", &e))
		log_warn("%s (the %s result is unchanged)", e.msg, ev->event);
	errbuf_clear(&e);
	if (notify_event(cfg, ev, &e))
		log_warn("%s (the %s result is unchanged)", e.msg, ev->event);
}

void backup_report_start(const struct config *cfg)
{
	struct errbuf e = ERRBUF_INIT;

	if (cfg && notify_ping(cfg, "start", &e))
		log_warn("%s (carrying on)", e.msg);
}

static double seconds_since(long long started_ms)
{
	return (double)(time_mono_ms() - started_ms) / 1000.0;
}

void backup_report_run_done(const struct config *cfg, int rc, const struct errbuf *e,
			    const char *id, json_t *manifest, const char *failed_item,
			    long long started_ms)
{
	const char *project = config_str(cfg, "project", "");
	struct notify_event ev = { "backup", rc == 0, id && *id ? id : NULL, -1,
				   seconds_since(started_ms), rc ? e->msg : NULL, NULL };
	struct batch b = { NULL, NULL, 0, 0 };
	double now = (double)time(NULL);
	json_t *items = json_array();
	struct manifest_head h;
	struct manifest_item it;
	size_t i;

	if (!cfg)
		return;
	if (!rc && manifest) {
		/* a sealed manifest: its size and every item's object are there */
		manifest_head_get(manifest, &h);
		ev.bytes = h.size > 0 ? h.size : 0;
		manifest_foreach_item(manifest, i, it) {
			json_t *timings = json_object_get(it.json, "timings");
			json_t *ms = json_object_get(timings, "total_ms");
			struct strbuf name = STRBUF_INIT;

			strbuf_addf(&name, "%s:%s", it.type, it.name);
			json_array_append_new(items, json_pack("{s:s, s:I, s:I}", "item", name.buf,
							       "bytes", (json_int_t)it.obj.size,
							       "raw_bytes",
							       (json_int_t)it.obj.raw_size));
			batch_add(&b, "ballast_backup_last_success_timestamp_seconds",
				  "Unix time of the item's last successful backup", "gauge", project,
				  name.buf, now, 0);
			batch_add(&b, "ballast_backup_duration_seconds",
				  "How long the item's last successful backup took", "gauge", project,
				  name.buf, json_is_integer(ms) ? (double)json_integer_value(ms) / 1000.0 :
				  ev.duration_s, 0);
			batch_add(&b, "ballast_backup_bytes",
				  "Stored (compressed) bytes of the item's last successful backup",
				  "gauge", project, name.buf,
				  (double)it.obj.size, 0);
			batch_add(&b, "ballast_backup_failures_total", "Failed backup runs", "counter",
				  project, name.buf, 0, 1);
			strbuf_release(&name);
		}
	} else if (rc) {
		batch_add(&b, "ballast_backup_failures_total", "Failed backup runs", "counter",
			  project, failed_item && *failed_item ? failed_item : "run", 1, 1);
		if (failed_item && *failed_item)
			json_array_append_new(items, json_pack("{s:s}", "item", failed_item));
	}
	ev.extra = json_pack("{s:o}", "items", items);
	send_notifications(cfg, &ev);
	batch_write(cfg, &b);
	json_decref(ev.extra);
}

void backup_report_prune_done(const struct config *cfg, int rc, const struct errbuf *e,
			      json_t *plan, long long started_ms)
{
	const char *project = config_str(cfg, "project", "");
	struct notify_event ev = { "prune", rc == 0, NULL, -1, seconds_since(started_ms),
				   rc ? e->msg : NULL, NULL };
	struct batch b = { NULL, NULL, 0, 0 };
	json_t *removed = json_array(), *p;
	long long kept = 0;
	size_t i;

	if (!cfg)
		return;
	json_array_foreach(plan, i, p) {
		if (!strcmp(json_string_value(json_object_get(p, "action")), "remove"))
			json_array_append(removed, json_object_get(p, "id"));
		else
			kept++;
	}
	if (!rc) {
		batch_add(&b, "ballast_prune_last_success_timestamp_seconds",
			  "Unix time of the last successful prune", "gauge", project, NULL,
			  (double)time(NULL), 0);
		batch_add(&b, "ballast_prune_kept", "Backups the last prune kept", "gauge", project,
			  NULL, (double)kept, 0);
		batch_add(&b, "ballast_prune_removed", "Backups the last prune removed", "gauge",
			  project, NULL, (double)json_array_size(removed), 0);
		batch_add(&b, "ballast_prune_failures_total", "Failed prune runs", "counter",
			  project, NULL, 0, 1);
	} else {
		batch_add(&b, "ballast_prune_failures_total", "Failed prune runs", "counter",
			  project, NULL, 1, 1);
	}
	ev.extra = json_pack("{s:I, s:o}", "kept", (json_int_t)kept, "removed", removed);
	send_notifications(cfg, &ev);
	batch_write(cfg, &b);
	json_decref(ev.extra);
}

void backup_report_drill_done(const struct config *cfg, int rc, const struct errbuf *e,
			      json_t *report, long long started_ms)
{
	const char *project = config_str(cfg, "project", "");
	const char *id = json_string_value(json_object_get(report, "backup_id"));
	struct notify_event ev = { "drill", rc == 0, id, -1, seconds_since(started_ms),
				   rc ? e->msg : NULL, NULL };
	struct batch b = { NULL, NULL, 0, 0 };
	double now = (double)time(NULL);
	json_t *it;
	size_t i;

	if (!cfg)
		return;
	if (!rc && report) {
		static const char *const kinds[] = { "databases", "volumes" };

		for (size_t k = 0; k < 2; k++)
			json_array_foreach(json_object_get(report, kinds[k]), i, it) {
				struct strbuf name = STRBUF_INIT;

				strbuf_addf(&name, "%s:%s", k ? "volume" : "db",
					    json_string_value(json_object_get(it, "name")));
				batch_add(&b, "ballast_drill_last_success_timestamp_seconds",
					  "Unix time of the last restore drill that passed", "gauge",
					  project, name.buf, now, 0);
				batch_add(&b, "ballast_drill_restore_seconds",
					  "Restore time of the item in the last drill that passed (RTO)",
					  "gauge", project, name.buf,
					  json_number_value(json_object_get(it, "restore_seconds")), 0);
				strbuf_release(&name);
				/* point-in-time drills (drill.h): per database */
				if (json_is_number(json_object_get(it, "rto_seconds")))
					batch_add_key(&b, "ballast_drill_rto_seconds",
						      "Start to a promoted, checked server in the last "
						      "point-in-time drill that passed", "gauge", project,
						      "database",
						      json_string_value(json_object_get(it, "name")),
						      json_number_value(json_object_get(it,
											"rto_seconds")),
						      0);
				if (json_is_number(json_object_get(it, "rpo_seconds")))
					batch_add_key(&b, "ballast_drill_rpo_seconds",
						      "Drill start minus the newest commit the WAL archive "
						      "held, in the last point-in-time drill to the latest "
						      "point that passed", "gauge", project, "database",
						      json_string_value(json_object_get(it, "name")),
						      json_number_value(json_object_get(it,
											"rpo_seconds")),
						      0);
			}
		batch_add(&b, "ballast_drill_last_success_timestamp_seconds",
			  "Unix time of the last restore drill that passed", "gauge", project, "all",
			  now, 0);
		batch_add(&b, "ballast_drill_backup_age_seconds",
			  "Age of the backup the last passing drill restored (RPO)", "gauge",
			  project, NULL,
			  json_number_value(json_object_get(report, "backup_age_seconds")), 0);
		batch_add(&b, "ballast_drill_failures_total", "Failed restore drills", "counter",
			  project, NULL, 0, 1);
	} else if (rc) {
		batch_add(&b, "ballast_drill_failures_total", "Failed restore drills", "counter",
			  project, NULL, 1, 1);
	}
	if (report)
		ev.extra = json_pack("{s:O}", "drill", report);
	send_notifications(cfg, &ev);
	batch_write(cfg, &b);
	json_decref(ev.extra);
}
