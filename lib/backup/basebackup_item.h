/*
 * basebackup_item: a database configured "mode": "physical" as an item of
 * a backup: a base backup of the whole cluster, streamed into the
 * repository (the physical twin of dbdump).
 *
 * Contract: basebackup_item_backup() runs `<basebackup_command> -D - -Ft
 * -X fetch -c fast --no-password -d <conninfo without password>` (default
 * command pg_basebackup; the password only as PGPASSWORD in its
 * environment) and streams its one tar through zstream into a repository
 * writer at key, committed only when everything succeeded (aborted
 * otherwise). The WAL needed to make the copy consistent travels inside
 * the tar (-X fetch), so the base backup restores on its own; the WAL
 * after it comes from the archive (walarchive). The server's
 * backup_manifest is checked as it passes (lib/pg/basebackup). *item:
 *   {"type": "basebackup", "name", "pg_version", "pg_basebackup_version",
 *    "timeline", "wal_segment_size" (bytes; absent in older backups, which
 *    read as 16 MiB), "start_lsn", "stop_lsn", "checkpoint_lsn", "start_wal",
 *    "start_time" (server, from backup_label), "finished" (UTC, this host,
 *    when the stream ended: no commit after it is in the copy),
 *    "backup_label": text, "backup_manifest": {"sha256", "size"} or null,
 *    "object": {...}, "timings": {"total_ms"}}
 *
 * basebackup_item_get() reads such an item back, typed; BL_EVERIFY when a
 * member is missing or malformed.
 */
#ifndef BALLAST_BASEBACKUP_ITEM_H
#define BALLAST_BASEBACKUP_ITEM_H

#include <stdint.h>

#include <jansson.h>

#include "dbdump.h"
#include "errbuf.h"
#include "repo.h"

#define BASEBACKUP_ITEM_TYPE "basebackup"

/* 1 when the "databases" entry db is configured "mode": "physical". */
int basebackup_item_physical(json_t *db);

int basebackup_item_backup(json_t *db, struct repo *r, const char *key,
			   const struct dbdump_opts *o, json_t **item, struct errbuf *e);

struct basebackup_meta {
	const char *name;
	const char *pg_version;
	unsigned timeline;
	uint64_t start_lsn, stop_lsn;
	uint64_t wal_segment_size;
	const char *start_wal;
	long long finished_ms;  /* Unix ms */
	json_t *object;
};

int basebackup_item_get(json_t *item, struct basebackup_meta *out, struct errbuf *e);

#endif
