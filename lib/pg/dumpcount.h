/*
 * dumpcount: exact row counts read from a pg_dump custom-format archive as
 * it streams by; and the same reading used to pass an archive on to
 * pg_restore in larger chunks (dumpcount_pass, below).
 *
 * With --compress=0 every TABLE DATA entry's data is COPY text, one line per
 * row (COPY escapes newlines inside values), so counting lines in the data
 * blocks counts the rows the dump holds, at no cost to the server.
 *
 * Feed the archive's bytes in order, in chunks of any size, with
 * dumpcount_feed(); then dumpcount_finish() says whether the whole archive
 * was read and, if so, lists every TABLE DATA entry with its rows. Memory is
 * O(1) apart from the TABLE DATA entries of the table of contents; the input
 * is untrusted and bounded: a table of contents over DUMPCOUNT_TOC_MAX bytes,
 * an absurd length, an unknown archive version (only 1.14, 1.15 and 1.16,
 * written by pg_dump 12 to 17, are read), a compressed or non-custom
 * archive, a table whose data is not COPY text (--inserts), a malformed
 * integer or block, or a truncated stream makes the archive "unreadable"
 * and dumpcount_finish() return BL_EFAIL with the reason. It never guesses
 * a count: an archive it cannot read exactly gives no counts at all.
 *
 * The data of a table is its COPY lines up to an optional "\." line (the end
 * marker pg_dump 15 writes, followed only by empty lines); a line "\." cannot
 * be a row, since COPY text writes a backslash in a value as "\\".
 */
#ifndef BALLAST_DUMPCOUNT_H
#define BALLAST_DUMPCOUNT_H

#include <stddef.h>

#include "errbuf.h"

#define DUMPCOUNT_TOC_MAX (64LL << 20)

struct dumpcount;

struct dumpcount_table {
	const char *schema;
	const char *name;
	long long rows;     /* -1: the entry's data block never came */
};

/* A parser waiting for the first byte; never NULL (aborts when out of
 * memory, like the rest of the core). */
struct dumpcount *dumpcount_new(void);

/* Parse the next len bytes of the archive. Returns 0, or BL_EFAIL once the
 * archive is unreadable (further input is ignored; the reason comes from
 * dumpcount_finish). */
int dumpcount_feed(struct dumpcount *dc, const void *buf, size_t len);

/* The end of the stream: 0 with *tables (n of them, in the order of the
 * table of contents, owned by dc) when the archive was read to a clean end;
 * BL_EFAIL with "unreadable archive: <reason>" otherwise. */
int dumpcount_finish(struct dumpcount *dc, const struct dumpcount_table **tables,
		     size_t *n, struct errbuf *e);

/*
 * Passing the archive on, re-chunked for pg_restore. pg_dump --compress=0
 * writes every row of a table as a chunk of its own (a length, then the
 * row), and pg_restore hands each chunk to the server as one CopyData
 * message: a 4M-row table is 4M messages, each with its own cost in
 * pg_restore and in the backend. With an output set, dumpcount_pass()
 * writes the archive on byte for byte, except that the consecutive chunks
 * of each data block are joined into chunks of up to DUMPCOUNT_JOIN bytes;
 * a larger chunk passes as it is. The rows, their order and every byte
 * pg_restore sends are the same; only the framing changes (pg_restore
 * reads chunks of any size, and COPY takes its data cut anywhere).
 *
 * Rows are not counted while passing. Where the archive is unreadable (any
 * reason above, e.g. --inserts or a compressed dump) or ends early, what
 * was joined so far is written out and the rest passes unchanged: the
 * output always reads as the input does, damage included. Memory stays
 * bounded: about 2 * DUMPCOUNT_JOIN of buffer, whatever the chunk sizes.
 */
#define DUMPCOUNT_JOIN (64 * 1024)

typedef int (*dumpcount_out_fn)(void *ctx, const void *buf, size_t len, struct errbuf *e);

/* Before the first byte: write what is passed to out. */
void dumpcount_set_output(struct dumpcount *dc, dumpcount_out_fn out, void *ctx);

/* Pass the next len bytes on. Returns 0 or the output's error (which
 * stops the pass); an unreadable archive is not an error here. */
int dumpcount_pass(struct dumpcount *dc, const void *buf, size_t len, struct errbuf *e);

/* The end of the input: write out whatever is held back. */
int dumpcount_pass_end(struct dumpcount *dc, struct errbuf *e);

/* The length of the header and the table of contents, which is where the
 * data blocks begin, once both were read (with or without an output);
 * -1 while they are still being read, -2 when the archive turned unreadable
 * before their end. These bytes pass unchanged, so they are the same in
 * the input and the output. They are all a `pg_restore --section=post-data`
 * reads: dbdump's --jobs restore gives them to pg_restore -j as a file of
 * their own. */
long long dumpcount_data_start(const struct dumpcount *dc);

/* The archive version read from the header ("1.14"); "" before it. */
const char *dumpcount_version(const struct dumpcount *dc);

void dumpcount_free(struct dumpcount *dc);

#endif
