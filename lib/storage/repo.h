/*
 * repo: a backup repository (pgBackRest's storage driver idea).
 *
 * Contract: objects are named by keys, '/'-separated paths relative to the
 * repository root ("audit_app/backups/20261127T021500Z-a1b2/manifest.json").
 * Keys never start with '/', never contain "..", "//" or a NUL.
 *
 * Writes are atomic: repo_writer_open() starts an object under a temporary
 * name (local/sftp: "<key>.tmp-<random>"; s3: a multipart upload);
 * repo_writer_commit() makes it visible under its key in one step (fsync +
 * rename, or completing the upload); repo_writer_abort() removes every trace.
 * A crash between open and commit leaves at most a temporary object, which
 * repo_list() reports with tmp=1 so callers can ignore or delete it; it is
 * never visible under the final key.
 *
 * Reads stream in caller-sized chunks; memory never grows with object size.
 * Every error names the repository and the key.
 */
#ifndef BALLAST_REPO_H
#define BALLAST_REPO_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "errbuf.h"
#include "strbuf.h"

struct repo;
struct repo_writer;
struct repo_reader;
struct config;

struct repo_entry {
	const char *key;
	long long size;
	time_t mtime;
	int tmp;  /* a temporary object left by an interrupted write */
};

typedef int (*repo_list_fn)(void *ctx, const struct repo_entry *ent, struct errbuf *e);

/* Open the repository described by the config's "repository" object. */
int repo_open(const struct config *cfg, struct repo **out, struct errbuf *e);
/* Same from a "repository" JSON object; cfgdir resolves relative paths. */
int repo_open_json(json_t *spec, const char *cfgdir, struct repo **out, struct errbuf *e);
void repo_close(struct repo *r);
/* "/var/backups/ballast", "s3://bucket/prefix", "sftp://user@host:22/path" */
const char *repo_describe(const struct repo *r);
/* Check a key's shape; BL_EUSAGE naming it when it is not acceptable. */
int repo_key_check(const char *key, struct errbuf *e);

/* size_hint: expected size in bytes, or -1 when unknown (s3 uses it to pick
 * the part size). */
int repo_writer_open(struct repo *r, const char *key, long long size_hint,
		     struct repo_writer **out, struct errbuf *e);
int repo_writer_write(struct repo_writer *w, const void *buf, size_t len, struct errbuf *e);
/* repo_writer_write as a sink callback (zstream_sink_fn's shape; ctx is the
 * writer), for the compress-into-the-repository pipelines. */
int repo_writer_sink(void *ctx, const void *buf, size_t len, struct errbuf *e);
/* Makes the object visible and frees w, whether it succeeds or not. */
int repo_writer_commit(struct repo_writer *w, struct errbuf *e);
/* Removes the temporary object and frees w. NULL is fine. */
void repo_writer_abort(struct repo_writer *w);

int repo_reader_open(struct repo *r, const char *key, struct repo_reader **out,
		     struct errbuf *e);
/* *got = 0 at end of object. */
int repo_reader_read(struct repo_reader *rd, void *buf, size_t cap, size_t *got,
		     struct errbuf *e);
void repo_reader_close(struct repo_reader *rd);

/* Whole small objects (manifests, reports): written atomically. */
int repo_put_bytes(struct repo *r, const char *key, const void *buf, size_t len,
		   struct errbuf *e);
/* Fails (BL_EFAIL) when the object is larger than max bytes. */
int repo_get_bytes(struct repo *r, const char *key, struct strbuf *out, size_t max,
		   struct errbuf *e);

/* 1 when the driver cannot rule out a short object under a final key after
 * a killed write (repo_ops.torn_writes). */
int repo_torn_writes(const struct repo *r);

/* Every object whose key starts with prefix, in no particular order. */
int repo_list(struct repo *r, const char *prefix, repo_list_fn fn, void *ctx,
	      struct errbuf *e);
/* 0 and *exists set; missing is not an error. */
int repo_exists(struct repo *r, const char *key, int *exists, long long *size,
		struct errbuf *e);
/* Deleting a missing object succeeds. */
int repo_delete(struct repo *r, const char *key, struct errbuf *e);

#endif
