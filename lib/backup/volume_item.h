/*
 * volume_item: a volume as an item of a backup set (the glue between the
 * volume engine, zstream, the repository and the manifest).
 *
 * Contract: volume_item_backup() runs the volume's `before`, streams the
 * pax archive through zstream (zstd with worker threads, SHA-256 and size of
 * the stored bytes) into a repository writer at key, runs `after` (always
 * once `before` was attempted), and commits the object only when all of it
 * succeeded; on any failure the writer is aborted, so nothing half-written
 * is ever visible. The walk and `before`/`after` run in a second thread that
 * hands the tar over through a ring of 8 x VOLUME_CHUNK buffers, so reading
 * files overlaps compressing them (like `tar | zstd`). *item is the
 * manifest item:
 *   {"type": "volume", "name", "path", "object": {key, size, sha256,
 *    raw_size, compression}, "entries": {files, dirs, symlinks, hardlinks,
 *    others}, "bytes": file content bytes, "exclude": [...],
 *    "warnings": [{"path", "warning"}], "timings": {"total_ms"}}
 *
 * volume_item_restore() reads the stored object in a second thread (its
 * size and SHA-256 proven at its end, then zstd) and hands the tar through
 * the same kind of ring to the extraction into a staging directory; only
 * when the object was read to its end and matched is the staging tree
 * synced and swapped into place (volume_restore), so a damaged object
 * fails (BL_EVERIFY, "refusing to restore volume NAME: ...") with the
 * volume untouched and nothing left behind. When restoring onto the
 * configured path, `before` runs only then, right before the swap, and
 * `after` right after it (always once `before` was attempted): the
 * containers keep running during the extraction and are never stopped for
 * an object that turns out bad. The target is the configured path or o->to.
 */
#ifndef BALLAST_VOLUME_ITEM_H
#define BALLAST_VOLUME_ITEM_H

#include <jansson.h>

#include "errbuf.h"
#include "repo.h"
#include "volume_cmd.h"

typedef void (*volume_progress_fn)(void *ctx, const char *name, long long raw,
				   long long stored);

struct volume_item_opts {
	int level;      /* zstd level */
	int threads;    /* 0 = every core */
	volume_progress_fn progress;
	void *progress_ctx;
};

int volume_item_backup(const struct volume_spec *v, struct repo *r, const char *key,
		       const struct volume_item_opts *o, json_t **item, struct errbuf *e);

struct volume_item_restore_opts {
	const char *id;     /* the backup id: names staging and kept directories */
	const char *to;     /* restore into this directory instead; NULL = configured */
	int keep_old;       /* keep replaced contents as <path>.ballast-old-<id> */
	volume_progress_fn progress;
	void *progress_ctx;
};

/* spec: the configured volume of the item's name, or NULL when the
 * configuration has none (then o->to is required). *where receives the
 * restored path and *old_path the kept copy ("" when none). */
int volume_item_restore(const struct volume_spec *spec, struct repo *r, json_t *item,
			const struct volume_item_restore_opts *o, struct strbuf *where,
			struct strbuf *old_path, json_t **warnings, struct errbuf *e);

#endif
