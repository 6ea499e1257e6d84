/*
 * backup_run: the backup engine behind `ballast-backup run`: one new
 * backup of the configured databases and volumes.
 *
 * Contract: backup_run() checks the whole configuration first (project and
 * item names, every selected volume's spec, compression), so a mistake is
 * BL_EUSAGE with nothing started; with o->dry_run it stops there and fills
 * res->plan. Otherwise it takes the project's run lock (waiting up to
 * o->wait_ms, else BL_ELOCKED), removes temporary objects that dead runs
 * left, picks an unused id, writes every item through one path (database
 * and volume items differ only in how their stream is produced), then
 * seals and writes the manifest: its presence is the commit. On any failure
 * after the id was chosen, the run's objects are removed, so nothing half
 * written looks like a backup. Notifications and metrics (backup_report)
 * are sent for every run that got past the checks; their failures never
 * change the result.
 *
 * res is filled on success: id, the sealed manifest (owned by res) and
 * the duration; on failure res->failed_item names the item that was being
 * written ("db:app"), if any. backup_run_release() frees it.
 */
#ifndef BALLAST_BACKUP_RUN_H
#define BALLAST_BACKUP_RUN_H

#include <jansson.h>

#include "config.h"
#include "errbuf.h"
#include "manifest.h"

struct backup_run_opts {
	json_t *labels;    /* object of strings, borrowed; may be NULL */
	json_t *only;      /* array of "db:NAME" / "volume:NAME", borrowed; NULL or [] = all */
	long long wait_ms; /* how long to wait for the run lock */
	int dry_run;
};

struct backup_run_result {
	char id[MANIFEST_ID_MAX];
	json_t *manifest;  /* the committed manifest */
	json_t *plan;      /* dry run: [{"type","name"[,"path"]}] */
	char failed_item[128];
	long long duration_ms;
};

int backup_run(const struct config *cfg, const struct backup_run_opts *o,
	       struct backup_run_result *res, struct errbuf *e);
void backup_run_release(struct backup_run_result *res);

#endif
