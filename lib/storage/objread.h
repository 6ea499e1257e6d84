/*
 * objread: read a stored object and prove it is the one that was written
 * (pgBackRest's read filter group: read -> size -> SHA-256, compared at the
 * end). verify, restore, drill and volume restore all read through it, so
 * the check and its messages exist once.
 *
 * Contract: objread_open() starts reading key and remembers the size and
 * SHA-256 (hex) the caller expects. objread_read() fills up to cap bytes;
 * a read that would pass the expected size fails at once, and the read
 * that finds the end (*got = 0) returns BL_EVERIFY naming the object when
 * the size or the hash differs: "object <key>: size N, the manifest records
 * M (truncated or replaced)" or "object <key>: sha256 mismatch (manifest
 * ab12..., stored bytes cd34...)". Bytes handed out before the end are not
 * yet proven: a caller that acts on them must be able to undo (extract into
 * staging, restore into a scratch database) or have checked the object
 * first with objread_check(), which reads to the end and discards.
 * Memory is bounded by the caller's buffer.
 */
#ifndef BALLAST_OBJREAD_H
#define BALLAST_OBJREAD_H

#include <stddef.h>

#include "errbuf.h"
#include "repo.h"

struct objread;

int objread_open(struct repo *r, const char *key, long long size, const char *sha256,
		 struct objread **out, struct errbuf *e);
int objread_read(struct objread *o, void *buf, size_t cap, size_t *got, struct errbuf *e);
/* Bytes read so far. */
long long objread_bytes(const struct objread *o);
/* NULL is fine. */
void objread_close(struct objread *o);

/* Read the whole object, checking it; nothing is kept. */
int objread_check(struct repo *r, const char *key, long long size, const char *sha256,
		  struct errbuf *e);

#endif
