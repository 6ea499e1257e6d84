/*
 * manifest: the JSON record that commits a backup.
 *
 * Contract: a manifest is a JSON object
 *   { "format": 1, "id", "project", "created", "finished" (UTC ISO-8601),
 *     "host", "ballast_version", "status": "ok", "labels": {k: v},
 *     "items": [ {"type": "db", "name", ..., "object": {...}},
 *                {"type": "volume", "name", ..., "object": {...}} ],
 *     "size": stored bytes of every object, "checksum": "sha256:<hex>",
 *     "index": "index.json" (only in an encrypted repository, where the
 *     plaintext index written after the manifest is the commit:
 *     backup_index.h) }
 * where each item's "object" is {"key", "size", "sha256", "raw_size",
 * "compression": "zstd"} describing the stored bytes. Item types other than
 * "db" are carried through untouched, so new item types slot in.
 *
 * "checksum" is a self-hash: SHA-256 of the manifest serialised compactly
 * with sorted keys and without the "checksum" member. manifest_parse()
 * recomputes it, so a corrupted or hand-edited manifest is a verification
 * failure (BL_EVERIFY), not a silently trusted one. A self-hash rather than a
 * sidecar file keeps the commit a single object: manifest.json is written
 * last and its presence is the commit.
 *
 * Ids sort by time: "20261127T021500Z-a1b2" (UTC; three hex digits of the
 * millisecond, scaled to 0-ffb, then one random hex digit), so backups
 * taken within one second still list, and are retained, in order.
 */
#ifndef BALLAST_MANIFEST_H
#define BALLAST_MANIFEST_H

#include <jansson.h>
#include <time.h>

#include "errbuf.h"
#include "strbuf.h"
#include "timeutil.h"

#define MANIFEST_ID_MAX 24
#define MANIFEST_FORMAT 1

/* A new id for time t plus msec (0-999) milliseconds. Two calls in one
 * millisecond collide one time in 16: callers check the id is unused. */
void manifest_new_id(time_t t, int msec, char id[MANIFEST_ID_MAX]);
/* 1 when id has the shape above. */
int manifest_id_valid(const char *id);
/* The time an id names, in Unix milliseconds (the seconds, plus the
 * millisecond digits when the id has them); -1 when it does not parse. */
long long manifest_id_time_ms(const char *id);

/* "<project>/backups/" and "<project>/backups/<id>/" */
void manifest_backups_prefix(const char *project, struct strbuf *out);
void manifest_backup_prefix(const char *project, const char *id, struct strbuf *out);

/* A new manifest with id, project, created, host, version and a copy of
 * labels (an object of strings, may be NULL) and an empty items list. */
json_t *manifest_new(const char *id, const char *project, time_t created, json_t *labels);
/* The object description for an item. */
json_t *manifest_object(const char *key, long long size, const char *sha256,
			long long raw_size);

/* Set "finished", "size" and "checksum", and serialise for storage. */
int manifest_seal(json_t *m, struct strbuf *text, struct errbuf *e);
/* Parse a stored manifest; BL_EVERIFY when it is not valid JSON, lacks the
 * required members, or its checksum does not match. where names it in the
 * error ("audit_app/backups/<id>/manifest.json"). */
int manifest_parse(const char *text, size_t len, const char *where, json_t **out,
		   struct errbuf *e);
/* 1 when text is a manifest cut short: empty, or JSON that ends before it
 * is complete (the parser ran out of input). A write that was killed on a
 * server that stores a request body as it arrives leaves exactly this. */
int manifest_torn(const char *text, size_t len);
/* The checksum a manifest should carry ("sha256:<hex>"), into out. */
int manifest_checksum(json_t *m, struct strbuf *out);

/* An item's stored object, typed ({"key", "size", "sha256", "raw_size"});
 * the strings are borrowed from the JSON. */
struct manifest_obj {
	const char *key;
	long long size;
	const char *sha256;
	long long raw_size;   /* -1 when not recorded */
};

/* Fill out from an item's "object"; BL_EVERIFY when key, size or sha256
 * is missing or of the wrong type. */
int manifest_obj_get(json_t *obj, struct manifest_obj *out, struct errbuf *e);

/* Find the item of a type and name; NULL when absent. */
json_t *manifest_find_item(json_t *m, const char *type, const char *name);

/* Typed views of a manifest that manifest_parse() accepted (or that
 * manifest_new() built), so readers name fields instead of walking JSON.
 * Strings are borrowed from the JSON and live as long as it does; a member
 * a manifest lacks (an older format, a backup still being written) is NULL,
 * or -1 for a number. */
struct manifest_head {
	const char *id, *project, *created, *finished, *host, *version, *status;
	long long size;   /* stored bytes of every object; -1 before the seal */
	json_t *labels;   /* object of strings, or NULL */
	size_t nitems;
};
void manifest_head_get(json_t *m, struct manifest_head *out);

/* One item: its type and name (manifest_parse checked both are strings),
 * its stored object (obj.key NULL when it has none), and the whole item for
 * the members only its type has (dbdump.h, volume_item.h, basebackup_item.h
 * read those). */
struct manifest_item {
	const char *type, *name;
	struct manifest_obj obj;
	json_t *json;
};
/* Item i; 0, or -1 past the last one. */
int manifest_item_get(json_t *m, size_t i, struct manifest_item *out);
#define manifest_foreach_item(m, i, it) \
	for ((i) = 0; manifest_item_get((m), (i), &(it)) == 0; (i)++)

#endif
