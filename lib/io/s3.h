/*
 * s3: the S3 API over libcurl, for the s3 repository driver.
 *
 * Contract: an s3_client talks to one bucket at one endpoint (AWS or any
 * S3-compatible server: MinIO, Ceph, B2, Wasabi, Scaleway), path-style
 * ("https://host/bucket/key") or virtual-host ("https://bucket.host/key").
 * Requests are signed by libcurl (CURLOPT_AWS_SIGV4, "aws:amz:<region>:s3")
 * with a SHA-256 of every payload in x-amz-content-sha256, so the server
 * checks what it stored. TLS is verified (ca_file adds a CA bundle).
 *
 * Every request is retried with exponential backoff and jitter on
 * connection errors, timeouts, 5xx and 429; 4xx are final. Bodies are never
 * streamed from an unbounded source: a request body is a buffer in memory
 * (an object of at most one part, or one part of a multipart upload), which
 * is what makes retries possible. Memory per client is bounded by the
 * caller's buffers plus S3_RESP_MAX for XML answers.
 *
 * Errors are one line naming the endpoint, the bucket, the method and the
 * key, with S3's error code and message when the server sent one:
 *   "s3 http://127.0.0.1:9000 bucket backups: PUT app/x: 403 AccessDenied: Access Denied"
 *
 * The functions marked "pure" build requests or parse answers without any
 * I/O; they are what the unit tests check, because the test server
 * (s3rver) does not verify signatures.
 *
 * A client is not thread-safe; an s3_upload has its own connection, so one
 * thread may upload its parts while another uses the client.
 */
#ifndef BALLAST_S3_H
#define BALLAST_S3_H

#include <stddef.h>
#include <time.h>

#include "errbuf.h"
#include "strbuf.h"

#define S3_MIB (1024LL * 1024)
#define S3_MIN_PART (5 * S3_MIB)          /* S3's minimum for all but the last part */
#define S3_MAX_PART (5 * 1024 * S3_MIB)   /* S3's maximum part size */
#define S3_DEFAULT_PART (8 * S3_MIB)
#define S3_MAX_PARTS 1000                 /* the lowest provider limit (AWS: 10,000) */
#define S3_RESP_MAX (16 * S3_MIB)         /* largest XML answer accepted */

struct s3_opts {
	const char *endpoint;      /* "https://s3.eu-west-1.amazonaws.com"; NULL = AWS for region */
	const char *region;        /* NULL = "us-east-1" */
	const char *bucket;
	const char *access_key;
	const char *secret_key;
	const char *session_token; /* may be NULL */
	int path_style;
	const char *ca_file;       /* may be NULL */
	long timeout_ms;           /* connect, and the longest stall of a transfer; 0 = 30 s */
	int retries;               /* attempts per request after the first; <0 = default 4 */
	long retry_base_ms;        /* first backoff; 0 = 500 ms */
	int max_keys;              /* list page size; 0 = the server's (1000) */
};

struct s3_client;
struct s3_upload;

int s3_client_new(const struct s3_opts *o, struct s3_client **out, struct errbuf *e);
void s3_client_free(struct s3_client *c);
/* "s3 <endpoint> bucket <bucket>", the prefix of every error. */
const char *s3_describe(const struct s3_client *c);

/* --- pure: request shape ------------------------------------------------ */

/* AWS's UriEncode: every byte but A-Z a-z 0-9 - _ . ~ as %XX (upper case);
 * '/' is kept when keep_slash (object keys in paths). */
void s3_uri_encode(struct strbuf *out, const char *s, int keep_slash);

/* The URL of a request: key NULL or "" for the bucket itself; query
 * (already canonical: sorted, encoded) may be NULL. host receives the Host
 * header's value (may be NULL). BL_EUSAGE for an endpoint that is not
 * http(s)://host[:port][/path]. */
int s3_url(const struct s3_opts *o, const char *key, const char *query, struct strbuf *url,
	   struct strbuf *host, struct errbuf *e);

/* The canonical query of a ListObjectsV2 page (parameters sorted as SigV4
 * wants them, values encoded). token may be NULL. */
void s3_list_query(struct strbuf *out, const char *prefix, const char *token, int max_keys);

/* Size of part number part_no (1-based) of an upload expected to be
 * size_hint bytes (-1: unknown), starting from base (0 = S3_DEFAULT_PART).
 * With a hint, parts are large enough that the whole object takes at most
 * 80% of S3_MAX_PARTS; if the stream outgrows its hint, or has none, later
 * parts grow so that S3_MAX_PARTS parts cover any stream up to S3's 5 TiB
 * object limit. Always within [S3_MIN_PART, S3_MAX_PART], a whole MiB. */
long long s3_part_size(long long size_hint, long long base, int part_no);

/* --- pure: XML answers ---------------------------------------------------- */

/* The text of the first <tag>...</tag> at or after *pos (entities decoded)
 * into out; *pos moves past it. 1 found, 0 not found. */
int s3_xml_next(const char *xml, size_t len, size_t *pos, const char *tag, struct strbuf *out);

struct s3_object {
	const char *key;
	long long size;
	time_t mtime;
};
typedef int (*s3_list_fn)(void *ctx, const struct s3_object *obj, struct errbuf *e);

/* One ListObjectsV2 page: fn for every <Contents>; *truncated and
 * next_token from <IsTruncated> and <NextContinuationToken>. BL_EFAIL when
 * the body is not a ListBucketResult. */
int s3_parse_list(const char *xml, size_t len, s3_list_fn fn, void *ctx, int *truncated,
		  struct strbuf *next_token, struct errbuf *e);
/* <Error><Code>/<Message>: 1 when the body is an S3 error document. */
int s3_parse_error(const char *xml, size_t len, struct strbuf *code, struct strbuf *message);
/* "2026-11-27T02:15:00.000Z" -> time_t (UTC); -1 when malformed. */
time_t s3_parse_time(const char *s);

/* --- requests ----------------------------------------------------------- */

/* Whole object from memory, visible at once when it returns 0. */
int s3_put(struct s3_client *c, const char *key, const void *buf, size_t len,
	   struct errbuf *e);
/* *exists (missing is not an error), *size, etag (may be NULL). */
int s3_head(struct s3_client *c, const char *key, int *exists, long long *size,
	    struct strbuf *etag, struct errbuf *e);
/* Bytes [off, off+cap) into buf (*got fewer at the end of the object).
 * etag (may be NULL): fail if the object changed since it was read. */
int s3_get_range(struct s3_client *c, const char *key, long long off, void *buf,
		 size_t cap, size_t *got, const char *etag, struct errbuf *e);
/* A missing key is not an error. */
int s3_delete(struct s3_client *c, const char *key, struct errbuf *e);
/* Every object under prefix, page by page. */
int s3_list(struct s3_client *c, const char *prefix, s3_list_fn fn, void *ctx,
	    struct errbuf *e);

/* Multipart upload: begin, parts numbered from 1 in order, then complete
 * (the object appears) or abort (every part is discarded). complete and
 * abort free u. */
int s3_upload_begin(struct s3_client *c, const char *key, struct s3_upload **out,
		    struct errbuf *e);
int s3_upload_part(struct s3_upload *u, int part_no, const void *buf, size_t len,
		   struct errbuf *e);
int s3_upload_complete(struct s3_upload *u, struct errbuf *e);
void s3_upload_abort(struct s3_upload *u);
/* How many parts were uploaded. */
int s3_upload_parts(const struct s3_upload *u);

#endif
