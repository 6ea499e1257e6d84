/*
 * prune: which backups of a project a retention policy removes, and
 * removing them.
 *
 * Contract: prune_plan() reads the repository (any driver) and decides for
 * every backup of the project, newest first:
 *   - committed backups (status "good" or "failed-verify") go through
 *     retention_apply() with their manifest's UTC "created" time (the id's
 *     time when the manifest does not parse); its guards hold: the newest
 *     good backup, the newest backup whose latest drill report passed, a
 *     backup labelled keep=true, and (when the rules would remove every
 *     backup) all of them are kept;
 *   - incomplete backups are removed once their id's time (to the
 *     millisecond) is at least grace_ms before now_ms (Unix time in ms),
 *     else kept ("incomplete, within the grace period"). The caller holds
 *     the run lock, so no incomplete backup it sees is still being written.
 * The plan is a JSON array of {"id", "time", "status", "labels", "drilled",
 * "action": "keep"|"remove", "reason"}. It is pure with respect to the
 * repository: nothing is changed.
 *
 * prune_apply() removes the backups whose action is "remove", each with
 * backupset_delete() (manifest first, so a half-removed backup is never
 * seen as committed), oldest first, stopping at the first failure; it
 * fills *removed with how many went.
 */
#ifndef BALLAST_PRUNE_H
#define BALLAST_PRUNE_H

#include <time.h>

#include <jansson.h>

#include "errbuf.h"
#include "repo.h"
#include "retention.h"

#define PRUNE_DEFAULT_GRACE_S (24 * 3600)

int prune_plan(struct repo *r, const char *project, const struct retention_policy *p,
	       long long grace_ms, long long now_ms, json_t **plan, struct errbuf *e);

int prune_apply(struct repo *r, const char *project, json_t *plan, int *removed,
		struct errbuf *e);

/* Whether the newest drill report stored beside backup id that judged the
 * backup ("passed" or "failed", not "error") passed; the reports are
 * <project>/backups/<id>/drill-<time>.json (lib/drill.h). */
int prune_drill_passed(struct repo *r, const char *project, const char *id, int *passed,
		       struct errbuf *e);

/* The WAL archive's share (physical databases, walarchive.h): for each
 * database named in dbs (a JSON array of names), the WAL files that no
 * base backup the plan keeps needs, i.e. walarchive_before() the earliest
 * start segment among the kept backups' base backups of that database (the
 * earliest by position, not by time: a base backup taken after a
 * point-in-time restore may start before an older one), read from the
 * manifests, or on a host without an identity from the plaintext indexes
 * (backup_index.h records start_wal). A database with no kept base backup
 * keeps its whole archive, and so does one where a kept backup cannot say
 * what it needs (its manifest or index does not load, or its index
 * predates start_wal). *wal is a JSON array of
 * {"database", "action": "keep"|"remove", "files" (how many would go),
 * "stored" (how many there are), "keep_from" (segment) and "backup" (its
 * id) or null, "reason", "keys" (the objects to remove, oldest first)}. */
int prune_wal_plan(struct repo *r, const char *project, json_t *dbs, json_t *plan,
		   json_t **wal, struct errbuf *e);
/* Remove the objects prune_wal_plan() listed, oldest first (an interrupted
 * prune has removed only WAL nobody needs), stopping at the first failure;
 * *removed counts the files. */
int prune_wal_apply(struct repo *r, json_t *wal, int *removed, struct errbuf *e);

#endif
