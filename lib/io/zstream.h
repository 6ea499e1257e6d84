/*
 * zstream: streaming zstd with a SHA-256 and byte count of the stored side.
 *
 * Contract: a zstream is a filter between a producer and a sink callback.
 *   compress:   write(raw) -> zstd (ZSTD_c_nbWorkers threads) -> hash+count -> sink
 *   decompress: write(stored) -> hash+count -> zstd -> sink
 * In both directions the hash and the byte count describe the compressed
 * ("stored") bytes, the ones a repository keeps, so the numbers in a
 * manifest can be checked against either end. Buffers are fixed at creation
 * (zstd's recommended sizes): memory never grows with the stream. A sink
 * error stops the stream and is returned as is. zstream_finish() ends the
 * frame (compress) or checks that the input ended on a complete frame
 * (decompress: a truncated object is an error, BL_EVERIFY). After a
 * decoding error a decompressing zstream keeps hashing and counting what it
 * is given (without decoding), so a caller can finish reading and compare
 * the SHA-256 too; zstream_finish() then still sets the hash and returns
 * BL_EVERIFY.
 */
#ifndef BALLAST_ZSTREAM_H
#define BALLAST_ZSTREAM_H

#include <stddef.h>

#include "errbuf.h"

#define ZSTREAM_SHA256_HEX 65

struct zstream;

typedef int (*zstream_sink_fn)(void *ctx, const void *buf, size_t len, struct errbuf *e);

/* level: zstd level (1..19); threads: worker threads, 0 = every online core,
 * 1 = single-threaded in the caller. sink may be NULL (discard). */
int zstream_compress_new(int level, int threads, zstream_sink_fn sink, void *ctx,
			 struct zstream **out, struct errbuf *e);
/* sink may be NULL: test-decompress only (verify). */
int zstream_decompress_new(zstream_sink_fn sink, void *ctx, struct zstream **out,
			   struct errbuf *e);
int zstream_write(struct zstream *z, const void *buf, size_t len, struct errbuf *e);
int zstream_finish(struct zstream *z, struct errbuf *e);
void zstream_free(struct zstream *z);

/* Raw (uncompressed) and stored (compressed) byte counts so far. */
long long zstream_raw_bytes(const struct zstream *z);
long long zstream_stored_bytes(const struct zstream *z);
/* Lowercase hex SHA-256 of the stored bytes; valid after zstream_finish. */
const char *zstream_sha256(const struct zstream *z);
/* For a caller that hashes the stored bytes itself (lib/storage/objread
 * while reading): no second SHA-256 pass; zstream_sha256() is then "". */
void zstream_skip_hash(struct zstream *z);

/* Worker threads for a "threads" setting (0 = every online core). */
int zstream_threads(int configured);

/* A plain SHA-256 of a byte stream, for callers that only hash. */
struct zhash;
struct zhash *zhash_new(void);
void zhash_update(struct zhash *h, const void *buf, size_t len);
/* Writes 64 hex digits and a NUL into hex; h stays usable only for free. */
void zhash_final(struct zhash *h, char hex[ZSTREAM_SHA256_HEX]);
void zhash_free(struct zhash *h);
/* The SHA-256 of one buffer, as 64 hex digits and a NUL. */
void zhash_hex(const void *buf, size_t len, char hex[ZSTREAM_SHA256_HEX]);
/* The SHA-256 of a local file's content, read in 64 KiB blocks, and its
 * size (size may be NULL). nofollow: a symbolic link is refused (ELOOP)
 * rather than followed. BL_EFAIL naming the file when it cannot be read. */
int zhash_file(const char *path, int nofollow, char hex[ZSTREAM_SHA256_HEX], long long *size,
	       struct errbuf *e);

#endif
