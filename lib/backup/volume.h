/*
 * volume: a directory tree to a pax tar stream, and a pax tar stream back
 * into a directory that replaces the old one atomically.
 *
 * Contract, archiving: volume_archive() walks root physically (symlinks are
 * stored as symlinks, never followed; mount points inside are traversed) and
 * hands a pax tar to sink in chunks of at most VOLUME_CHUNK bytes. Entry
 * names are relative to root: "." is root itself, then "a", "a/b". Stored:
 * regular files, directories (empty ones too), symlinks, FIFOs, hard links
 * (the content once, later names as link entries), sparse files (holes are
 * not stored), numeric owner and group, mode, mtime with nanoseconds, xattrs
 * and POSIX ACLs where the filesystem has them. Sockets and device nodes are
 * skipped with a warning. Memory stays flat whatever the tree's size.
 *
 * Excludes: a pattern without a slash is matched (fnmatch) against each
 * entry's base name ("*.tmp"); a pattern with a slash against the whole
 * relative path with FNM_PATHNAME, so "logs/" followed by "*.log" matches
 * logs/x.log but not logs/old/x.log (a leading slash is ignored). An excluded
 * directory is not descended into.
 *
 * Warnings, never silent: a file that vanishes, cannot be read, or changes
 * (size, mtime or ctime) while it is read is appended to stats->warnings as
 * {"path": REL, "warning": TEXT}; the archive stays well-formed (a file
 * that shrank is padded with zeros, one that grew is cut at its first size).
 * A root that does not exist, is not a directory or cannot be read is an
 * error (BL_EFAIL) before any byte reaches sink. SIGINT/SIGTERM caught by
 * interrupt_catch() stop the walk with BL_EFAIL ("interrupted").
 *
 * Contract, extracting: volume_extract() reads a pax tar, plain or
 * zstd-compressed (as stored in a repository), from src into an
 * existing empty directory with libarchive's secure flags (no "..", no
 * absolute paths, never through a symlink) plus ballast's own checks: every
 * entry name and hard-link target must stay inside the directory, a hard
 * link must point at a regular file already extracted (reached without
 * symlinks), and device nodes and sockets are refused. Any refusal fails the
 * whole extraction (BL_EVERIFY, naming the entry); nothing is ever written
 * outside the directory. Owner, mode, mtime, xattrs and ACLs are restored
 * (owner by number: container users rarely exist on the host). After the
 * archive's end, src is read to its end, so a source that checks a
 * checksum at EOF gets the chance to fail the extraction.
 *
 * Libarchive's disk writer resolves entry names from the working directory,
 * so volume_extract() changes the process's working directory for its
 * duration (as `tar -C` does) and restores it before returning; do not run
 * it concurrently with code that depends on the working directory.
 *
 * volume_restore() extracts into the sibling "<parent>/.<name>.ballast-restore-<id>",
 * syncs it, calls before_swap (when set) and only then swaps it into place (renameat2 RENAME_EXCHANGE where the
 * filesystem supports it, else two renames with a roll-back), so a failed,
 * refused or interrupted restore leaves the old contents exactly as they
 * were. The replaced contents are kept as "<path>.ballast-old-<id>" unless
 * keep_old is 0. A stale staging directory from an interrupted restore is
 * removed first.
 */
#ifndef BALLAST_VOLUME_H
#define BALLAST_VOLUME_H

#include <stddef.h>

#include <jansson.h>

#include "errbuf.h"
#include "proc.h"

/* Most bytes handed to a sink in one call. */
#define VOLUME_CHUNK (256 * 1024)

/* Fill buf with up to cap bytes; *got = 0 at the end of the stream. The
 * same shape as repo_reader_read(). */
typedef int (*volume_source_fn)(void *ctx, void *buf, size_t cap, size_t *got,
				struct errbuf *e);

/* Called for each entry after its metadata was read and before its data is
 * read (progress; tests use it to change files mid-archive). Non-zero stops
 * the walk with that status. */
typedef int (*volume_entry_fn)(void *ctx, const char *rel, long long size,
			       struct errbuf *e);

struct volume_stats {
	long long files;      /* regular files with their content stored */
	long long dirs;
	long long symlinks;
	long long hardlinks;  /* names stored as links to an earlier file */
	long long others;     /* FIFOs */
	long long bytes;      /* file content bytes (logical, holes included) */
	long long tar_bytes;  /* bytes of tar handed to the sink / read from the source */
	json_t *warnings;     /* array of {"path","warning"}; owned, see volume_stats_release */
};

#define VOLUME_STATS_INIT { 0, 0, 0, 0, 0, 0, 0, NULL }

void volume_stats_release(struct volume_stats *st);

struct volume_archive_opts {
	const char *const *exclude;  /* NULL-terminated globs, or NULL */
	volume_entry_fn on_entry;    /* may be NULL */
	void *on_entry_ctx;
};

int volume_archive(const char *root, const struct volume_archive_opts *o,
		   proc_sink_fn sink, void *sink_ctx, struct volume_stats *st,
		   struct errbuf *e);

/* Whether rel (relative to the volume root) matches one of the patterns. */
int volume_excluded(const char *const *exclude, const char *rel);

int volume_extract(const char *dir, volume_source_fn src, void *src_ctx,
		   struct volume_stats *st, struct errbuf *e);

/* A source that lends its own buffer instead of filling the caller's:
 * *buf stays valid until the next call; *got = 0 at the end. */
typedef int (*volume_borrow_fn)(void *ctx, const void **buf, size_t *got, struct errbuf *e);

struct volume_restore_opts {
	const char *id;        /* backup id: names the staging and the kept directory */
	int keep_old;          /* keep the replaced contents as <path>.ballast-old-<id> */
	volume_source_fn src;
	void *src_ctx;         /* for src, or for borrow when that is set */
	volume_borrow_fn borrow;  /* used instead of src when set: no copy */
	/* Called once the staging tree is complete, read to the source's end
	 * and synced, right before the swap (stop what writes to the volume);
	 * a failure refuses the swap. May be NULL. */
	int (*before_swap)(void *ctx, struct errbuf *e);
	void *swap_ctx;
};

struct volume_restore_result {
	char old_path[4096];   /* where the replaced contents are, "" if none kept */
	int replaced;          /* path existed before */
};

int volume_restore(const char *path, const struct volume_restore_opts *o,
		   struct volume_restore_result *res, struct volume_stats *st,
		   struct errbuf *e);

/* Every check volume_restore() makes before it writes anything (id, parent
 * directory, target type, an existing kept copy), so a caller can fail
 * before stopping services. */
int volume_restore_check(const char *path, const char *id, int keep_old, struct errbuf *e);

/* "<parent>/.<name>.ballast-restore-<id>" and "<path>.ballast-old-<id>". */
void volume_staging_path(const char *path, const char *id, struct strbuf *out);
void volume_old_path(const char *path, const char *id, struct strbuf *out);

/* prune's half for volumes: the directories restores kept beside path
 * ("<path>.ballast-old-<id>", directories only, never followed links).
 * Their status-change time is the rename that set them aside; those older
 * than keep_ms before now_ms (Unix ms) are removed unless dry. One
 * {"volume","path","replaced_at","action","reason"} per kept directory is
 * appended to out. */
int volume_prune_kept(const char *path, long long keep_ms, long long now_ms, int dry,
		      json_t *out, struct errbuf *e);

/* Remove a tree without following symlinks; a missing path is fine. */
int volume_remove_tree(const char *path, struct errbuf *e);

#endif
