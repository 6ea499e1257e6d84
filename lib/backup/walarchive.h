/*
 * walarchive: the WAL archive of a physical database in the repository,
 * behind `wal-push` (archive_command) and `wal-fetch` (restore_command).
 *
 * Contract: every WAL file (segments "000000010000000000000002", their
 * ".partial" twins, backup history "….00000028.backup" and timeline history
 * "00000002.history" files) is one object
 *   <project>/wal/<db>/<first 16 characters, or "history">/<name>-<sha256>.zst
 * whose name carries the SHA-256 of the raw file, so the object is its own
 * checksum record and is committed in one atomic step (repo writer); its
 * bytes are zstd (and, with "encryption", age through repo_crypt below).
 *
 * walarchive_push() hashes the file, then: the same name with the same
 * hash already stored is success (PostgreSQL retries an archive_command
 * whose exit it did not see); with another hash it is BL_EFAIL naming the
 * file and both hashes, and nothing is written; otherwise it compresses the
 * file into the repository (the file is hashed again on the way and a
 * change in between fails). Names that are not WAL file names are
 * BL_EUSAGE (they become keys).
 *
 * walarchive_fetch() writes the named file to dest (through dest.ballast-tmp
 * and a rename, so dest is never half written). A name not in the archive
 * is BL_EFAIL with *missing = 1 (restore_command's "no such file"; the
 * server probes for files that may not exist); an object that does not
 * decompress or whose content does not hash to its name is BL_EVERIFY
 * naming the object. When $BALLAST_WAL_FETCH_REPORT names a file, every
 * failure but a missing file also appends its one-line error there, so a
 * point-in-time restore (pitr) that started the server learns that a
 * "missing" WAL file was really a damaged one.
 *
 * A segment that is not archived but whose partial copy is (wal-stream's
 * wal_stream.partial_interval: pg_receivewal's ".partial", zero-padded to
 * the segment size) is fetched as that copy, so a recovery to the latest
 * point ends in it — but only when it is the last WAL of its timeline: a
 * later segment of the same timeline stored makes it BL_EVERIFY (a gap),
 * and a history file of a later timeline makes it missing (a promotion's
 * ".partial" that recovery must not replay).
 *
 * walarchive_put_partial() stores what fd holds from its offset on (a
 * stable snapshot whose SHA-256 is hex; read in bounded blocks, hashed
 * again on the way) as the only copy of the partial segment name (a
 * ".partial" name): the same content already stored is nothing (*stored
 * 0); otherwise the new object is committed, then every older copy deleted
 * (between the two, fetch takes the larger).
 * walarchive_drop_partial() deletes the partial copies of a segment (once
 * the finished segment is committed); walarchive_drop_superseded() those
 * of every segment that is archived whole, appending each such segment's
 * name to dropped (if not NULL): what a streamer killed between the two
 * steps left behind.
 *
 * walarchive_list() maps every stored WAL file name to its key (a JSON
 * object); walarchive_gap() finds the first segment missing on a timeline.
 */
#ifndef BALLAST_WALARCHIVE_H
#define BALLAST_WALARCHIVE_H

#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "errbuf.h"
#include "repo.h"
#include "strbuf.h"

#define WALARCHIVE_REPORT_ENV "BALLAST_WAL_FETCH_REPORT"

/* The "databases" entry the WAL commands work on: the one named name, or
 * the only physical database when name is NULL. BL_EUSAGE otherwise. */
int walarchive_db(const struct config *cfg, const char *name, json_t **db, struct errbuf *e);

/* The names of the configured physical databases (the ones with a WAL
 * archive), in configuration order: a new array the caller releases. The
 * one walk over "databases" that prune and verify --wal share. */
json_t *walarchive_db_names(const struct config *cfg);
/* 1 for a WAL file name PostgreSQL archives or restores. */
int walarchive_name_valid(const char *name);
/* "<project>/wal/<db>/" */
void walarchive_prefix(const char *project, const char *db, struct strbuf *out);

int walarchive_push(struct repo *r, const char *project, const char *db, const char *path,
		    int level, int *already, struct errbuf *e);
int walarchive_put_partial(struct repo *r, const char *project, const char *db, const char *name,
			   int fd, const char *hex, int level, int *stored, struct errbuf *e);
int walarchive_drop_partial(struct repo *r, const char *project, const char *db,
			    const char *segment, struct errbuf *e);
int walarchive_drop_superseded(struct repo *r, const char *project, const char *db,
			       json_t *dropped, struct errbuf *e);
int walarchive_fetch(struct repo *r, const char *project, const char *db, const char *name,
		     const char *dest, int *missing, struct errbuf *e);
int walarchive_list(struct repo *r, const char *project, const char *db, json_t **names,
		    struct errbuf *e);
/* The first segment missing from names on the way recovery takes from a
 * base backup that ends in stop_wal (on timeline tli; the backup carries
 * that segment itself) to the newest segment stored of timeline target,
 * into gap ("" when there is none; a ".partial" counts as the segment only
 * as the newest of the way, where recovery ends in it: before a later
 * segment it is a gap).
 * history is target's history file text (NULL when target is tli or has
 * none): each timeline it names from tli on is needed up to the segment
 * before its switch point, the next one from that segment on, as
 * PostgreSQL reads them. When that history does not pass through tli after
 * stop_wal (the backup lies on a branch the target left earlier), only tli
 * itself is checked, up to its newest stored segment. segsize is the
 * cluster's WAL segment size: names count 2^32 / segsize segments per log
 * file. */
void walarchive_gap(json_t *names, unsigned tli, const char *stop_wal, uint64_t segsize,
		    unsigned target, const char *history, struct strbuf *gap);

/* The timeline a recovery to want goes to, and its history file's text
 * read from the archive (checked against its hash like a fetch; at most
 * 1 MiB): want 0 is "latest", the highest timeline with a stored history
 * file (else tli). *target = tli and text "" when no history applies
 * (want is tli, or its history file is not stored). A damaged history
 * file is BL_EVERIFY naming it. */
int walarchive_history(struct repo *r, json_t *names, unsigned tli, unsigned want,
		       unsigned *target, struct strbuf *text, struct errbuf *e);

/* Re-read every file of names (walarchive_list's map): each must
 * decompress and hash to the SHA-256 its object's name carries. A file
 * that does not is appended to damaged as {"file", "error"} (its one-line
 * reason); 0 then still, so every file is looked at. A repository that
 * fails to read, or an interrupt, is the error. */
int walarchive_verify(struct repo *r, json_t *names, json_t *damaged, struct errbuf *e);

/* 1 when the WAL file name lies wholly before the segment keep_from (a
 * segment name): compared by log and segment number whatever the
 * timelines, because a base backup that starts at keep_from replays
 * nothing before it on any timeline, and the timelines it can reach fork
 * after it. History files ("*.history") are never before: a recovery reads
 * them to choose its timeline. */
int walarchive_before(const char *name, const char *keep_from);

#endif
