/*
 * basebackup: a physical base backup as one tar stream from pg_basebackup,
 * read as it passes.
 *
 * Contract: basebackup_stream() runs argv (a pg_basebackup command line
 * that writes one tar to stdout: `-D - -Ft -X fetch`, built by the caller),
 * with env as its extra environment (PGPASSWORD travels there, never in
 * argv), and hands every byte of its stdout to sink unchanged. Meanwhile a
 * tar scanner (ustar headers, 512-byte blocks; memory bounded whatever the
 * cluster's size) picks out three members:
 *   backup_label     kept whole (at most 64 KiB) and parsed: start LSN,
 *                    start WAL file, start timeline, checkpoint LSN, server
 *                    start time;
 *   PG_VERSION       the cluster's major version;
 *   backup_manifest  the server's manifest (PostgreSQL 13+ injects it into
 *                    the tar it writes to stdout): its "Manifest-Checksum"
 *                    (SHA-256 of every line before that one) is checked as
 *                    it passes, and its "WAL-Ranges" (the stop LSN) are read
 *                    from its last 64 KiB.
 * The stream is refused (BL_EFAIL) when the command fails, when it is not a
 * tar, or when it lacks backup_label; a manifest whose checksum differs is
 * BL_EVERIFY naming it. A stream without a manifest is accepted (the server
 * was asked for none) and info->manifest is 0; the stop LSN is then unknown
 * ("").
 *
 * The cluster's WAL segment size (initdb --wal-segsize, 1 MiB to 1 GiB) is
 * the size of the segments -X fetch puts in pg_wal/, or failing that the
 * one size whose naming puts the start LSN in backup_label's start WAL
 * file; a stream that tells neither is refused.
 *
 * basebackup_lsn_parse() reads "X/Y" into a 64-bit LSN; basebackup_wal_name()
 * names the WAL segment holding an LSN for a timeline and segment size
 * (segment names count 2^32 / segsize segments per log file, so the name of
 * an LSN depends on the size).
 */
#ifndef BALLAST_BASEBACKUP_H
#define BALLAST_BASEBACKUP_H

#include <stdint.h>

#include "errbuf.h"
#include "proc.h"
#include "strbuf.h"

#define BASEBACKUP_LSN_MAX 24
#define BASEBACKUP_WAL_NAME 25
#define BASEBACKUP_SEGSIZE_MIN (1ULL << 20)
#define BASEBACKUP_SEGSIZE_MAX (1ULL << 30)
#define BASEBACKUP_SEGSIZE_DEFAULT (16ULL << 20)

struct basebackup_info {
	struct strbuf label;                 /* backup_label as the server wrote it */
	char start_lsn[BASEBACKUP_LSN_MAX];
	char checkpoint_lsn[BASEBACKUP_LSN_MAX];
	char stop_lsn[BASEBACKUP_LSN_MAX];   /* "" without a manifest */
	char start_wal[BASEBACKUP_WAL_NAME];
	char start_time[64];                 /* server time, "2026-12-05 18:21:33 UTC" */
	char pg_version[16];                 /* PG_VERSION: "15" */
	unsigned timeline;                   /* START TIMELINE */
	unsigned stop_timeline;              /* the last WAL range's timeline */
	uint64_t wal_segment_size;           /* bytes */
	int manifest;                        /* a backup_manifest passed and checked */
	char manifest_sha256[65];            /* its Manifest-Checksum */
	long long manifest_size;
	long long tar_bytes;
};

void basebackup_info_init(struct basebackup_info *bi);
void basebackup_info_release(struct basebackup_info *bi);

int basebackup_stream(const char *const *argv, const char *const *env, proc_sink_fn sink,
		      void *ctx, struct basebackup_info *bi, struct errbuf *e);

/* "0/2000028" -> 0x2000028; -1 when s is not an LSN. */
int basebackup_lsn_parse(const char *s, uint64_t *lsn);
void basebackup_wal_name(unsigned timeline, uint64_t lsn, uint64_t segsize,
			 char out[BASEBACKUP_WAL_NAME]);
/* 1 for a power of two from 1 MiB to 1 GiB. */
int basebackup_segsize_valid(uint64_t segsize);

#endif
