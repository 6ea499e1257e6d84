/*
 * backupset: the backups of a project in a repository, as the commands see
 * them (list, show, verify, restore; later prune and drill).
 *
 * Contract: only lib/repo.h calls, so every driver works. A backup is the
 * set of objects under "<project>/backups/<id>/"; it is committed when its
 * manifest.json exists. Temporary objects (interrupted writes) are ignored.
 *
 * backupset_list() returns a JSON array sorted by id (oldest first) of
 *   {"id", "time", "labels", "items": [{"type","name"}], "size",
 *    "status": "good" | "incomplete" | "failed-verify" | "unindexed",
 *    "error"?}
 * where "incomplete" has no manifest (or, on a driver whose killed writes
 * can leave a short object, a manifest cut short: repo_torn_writes() and
 * manifest_torn()) and "failed-verify" has a manifest that does not check
 * out or whose last verify (verify.json beside it) failed.
 *
 * In an encrypted repository (backup_index.h) the plaintext index is the
 * commit: with an identity, a manifest that names an index that is absent
 * (or, with torn writes, cut short), or a manifest that fails to decrypt
 * with no index beside it on a driver with torn writes, is "incomplete";
 * an index that disagrees with the manifest is "failed-verify";
 * backupset_load() refuses both (BL_EFAIL, BL_EVERIFY). Without an
 * identity (repo_crypt_can_read() is 0) the list is read from the indexes
 * and the reports' plaintext summaries; a backup with a manifest but no
 * index is "unindexed".
 *
 * backupset_verify_object() re-reads one stored object, compares its size
 * and SHA-256 with the manifest and test-decompresses it; BL_EVERIFY naming
 * the object on any difference.
 */
#ifndef BALLAST_BACKUPSET_H
#define BALLAST_BACKUPSET_H

#include <jansson.h>

#include "errbuf.h"
#include "repo.h"
#include "zstream.h"

#define BACKUPSET_MANIFEST_MAX (64 * 1024 * 1024)

struct config;
struct ring;

/* The configured repository and project name ("project" must be set);
 * BL_EUSAGE when the project has no repository marker (repomark.h), so no
 * command writes into a path `ballast-backup init` never made a repository.
 * backupset_open_unchecked() skips the marker: for init itself. */
int backupset_open(const struct config *cfg, struct repo **r, const char **project,
		   struct errbuf *e);
int backupset_open_unchecked(const struct config *cfg, struct repo **r,
			     const char **project, struct errbuf *e);

int backupset_list(struct repo *r, const char *project, json_t **out, struct errbuf *e);

/* Load and check a committed backup's manifest. BL_EUSAGE when id is
 * malformed, BL_EFAIL when there is no such committed backup, BL_EVERIFY
 * when the manifest is corrupt. */
int backupset_load(struct repo *r, const char *project, const char *id, json_t **manifest,
		   struct errbuf *e);

/* The newest backup whose status is "good"; BL_EFAIL when there is none. */
int backupset_latest(struct repo *r, const char *project, char *id, size_t n,
		     struct errbuf *e);

/* What an operator may type where a backup id is taken (restic's rules):
 * a full id, "latest" (the newest good backup), or a unique prefix of an
 * id in the repository ("20261127T02"). The id into id[n]. BL_EUSAGE
 * naming the candidates when a prefix is ambiguous, BL_EFAIL when nothing
 * matches. */
int backupset_resolve(struct repo *r, const char *project, const char *arg, char *id,
		      size_t n, struct errbuf *e);

/* Re-read obj (an item's "object"); decompress: also test-decompress. */
int backupset_verify_object(struct repo *r, json_t *obj, int decompress, struct errbuf *e);

/* Stream obj out of the repository through zstd into sink, checking its
 * size and SHA-256 on the way; BL_EVERIFY (after the sink saw the data)
 * when they differ. */
int backupset_read_object(struct repo *r, json_t *obj, zstream_sink_fn sink, void *ctx,
			  struct errbuf *e);

/* The producer of a ring (lib/core/ring) that streams obj as
 * backupset_read_object() does, for a consumer that works on the bytes
 * while the next ones are read and decompressed: ring_start(...,
 * backupset_ring_read, &reader, ...), the reader living until ring_join(),
 * which returns the object's verdict. progress, when set, is called from
 * the producer's thread with the bytes handed over so far. */
struct backupset_reader {
	struct repo *r;
	json_t *obj;
	void (*progress)(void *ctx, long long raw);
	void *progress_ctx;
	long long raw;
	struct ring *q;
};

int backupset_ring_read(void *arg, struct ring *q, struct errbuf *e);

/* Record a verify result beside the manifest (verify.json). */
int backupset_record_verify(struct repo *r, const char *project, const char *id, int ok,
			    const char *error, struct errbuf *e);

/* Remove every object of a backup (a failed run's leftovers, a pruned
 * one): its manifest first, then its index, then the rest, so a removal
 * that stops halfway leaves an "incomplete" backup on every host, never
 * a committed-looking or an "unindexed" one. */
int backupset_delete(struct repo *r, const char *project, const char *id, struct errbuf *e);

/* Remove temporary objects under the project's backups (after a crash). */
int backupset_remove_tmp(struct repo *r, const char *project, int *removed, struct errbuf *e);

#endif
