#include "zstream.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "xalloc.h"

struct zhash {
	EVP_MD_CTX *md;
};

struct zhash *zhash_new(void)
{
	struct zhash *h = xcalloc(1, sizeof(*h));

	h->md = EVP_MD_CTX_new();
	if (!h->md || !EVP_DigestInit_ex(h->md, EVP_sha256(), NULL))
		abort(); /* OpenSSL without SHA-256 is not a state ballast can run in */
	return h;
}

void zhash_update(struct zhash *h, const void *buf, size_t len)
{
	EVP_DigestUpdate(h->md, buf, len);
}

void zhash_final(struct zhash *h, char hex[ZSTREAM_SHA256_HEX])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_DigestFinal_ex(h->md, d, &n);
	for (unsigned int i = 0; i < n && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	hex[64] = '\0';
}

void zhash_hex(const void *buf, size_t len, char hex[ZSTREAM_SHA256_HEX])
{
	struct zhash *h = zhash_new();

	zhash_update(h, buf, len);
	zhash_final(h, hex);
	zhash_free(h);
}

int zhash_file(const char *path, int nofollow, char hex[ZSTREAM_SHA256_HEX], long long *size,
	       struct errbuf *e)
{
	struct zhash *h;
	char buf[65536];
	long long total = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0)), rc = 0;

	if (size)
		*size = 0;
	if (fd < 0)
		return errbuf_errno(e, BL_EFAIL, errno, "cannot open %s", path);
	h = zhash_new();
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = errbuf_errno(e, BL_EFAIL, errno, "cannot read %s", path);
			break;
		}
		zhash_update(h, buf, (size_t)n);
		total += n;
	}
	if (!rc) {
		zhash_final(h, hex);
		if (size)
			*size = total;
	}
	zhash_free(h);
	close(fd);
	return rc;
}

void zhash_free(struct zhash *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->md);
	free(h);
}

struct zstream {
	int compress;
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	zstream_sink_fn sink;
	void *ctx;
	struct zhash *hash;
	void *obuf;
	size_t ocap;
	long long raw, stored;
	size_t last_ret;   /* decompress: 0 when the last frame was complete */
	int finished;
	int corrupt;       /* decompress: bad data seen; later input is only hashed */
	int nohash;        /* the caller hashes the stored bytes itself */
	char hex[ZSTREAM_SHA256_HEX];
};

int zstream_threads(int configured)
{
	long n;

	if (configured > 0)
		return configured;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

static void hash_stored(struct zstream *z, const void *buf, size_t len)
{
	if (!z->nohash)
		zhash_update(z->hash, buf, len);
}

void zstream_skip_hash(struct zstream *z)
{
	z->nohash = 1;
}

static int emit(struct zstream *z, const void *buf, size_t len, struct errbuf *e)
{
	if (!len)
		return 0;
	if (z->compress) {
		hash_stored(z, buf, len);
		z->stored += (long long)len;
	} else {
		z->raw += (long long)len;
	}
	return z->sink ? z->sink(z->ctx, buf, len, e) : 0;
}

int zstream_compress_new(int level, int threads, zstream_sink_fn sink, void *ctx,
			 struct zstream **out, struct errbuf *e)
{
	struct zstream *z;
	size_t r;
	int nthreads = zstream_threads(threads);

	*out = NULL;
	if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel() || level == 0)
		return errbuf_set(e, BL_EUSAGE, "compression.level: expected %d..%d, got %d", 1,
				  ZSTD_maxCLevel(), level);
	z = xcalloc(1, sizeof(*z));
	z->compress = 1;
	z->sink = sink;
	z->ctx = ctx;
	z->cctx = ZSTD_createCCtx();
	z->ocap = ZSTD_CStreamOutSize();
	z->obuf = xmalloc(z->ocap);
	z->hash = zhash_new();
	if (!z->cctx) {
		zstream_free(z);
		return errbuf_set(e, BL_EFAIL, "zstd: out of memory");
	}
	ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, level);
	ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 1);
	/* One thread means "in the caller": zstd's workers only pay off with two
	 * or more, and nbWorkers=1 would add a thread without parallelism. */
	if (nthreads > 1) {
		r = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_nbWorkers, nthreads);
		if (ZSTD_isError(r)) {
			zstream_free(z);
			return errbuf_set(e, BL_EFAIL, "zstd: cannot use %d worker threads: %s",
					  nthreads, ZSTD_getErrorName(r));
		}
	}
	*out = z;
	return 0;
}

int zstream_decompress_new(zstream_sink_fn sink, void *ctx, struct zstream **out,
			   struct errbuf *e)
{
	struct zstream *z;

	*out = NULL;
	z = xcalloc(1, sizeof(*z));
	z->sink = sink;
	z->ctx = ctx;
	z->dctx = ZSTD_createDCtx();
	z->ocap = ZSTD_DStreamOutSize();
	z->obuf = xmalloc(z->ocap);
	z->hash = zhash_new();
	if (!z->dctx) {
		zstream_free(z);
		return errbuf_set(e, BL_EFAIL, "zstd: out of memory");
	}
	*out = z;
	return 0;
}

static int compress_step(struct zstream *z, const void *buf, size_t len, ZSTD_EndDirective mode,
			 struct errbuf *e)
{
	ZSTD_inBuffer in = { buf, len, 0 };
	int rc;

	for (;;) {
		ZSTD_outBuffer o = { z->obuf, z->ocap, 0 };
		size_t left = ZSTD_compressStream2(z->cctx, &o, &in, mode);

		if (ZSTD_isError(left))
			return errbuf_set(e, BL_EFAIL, "zstd: compression failed: %s",
					  ZSTD_getErrorName(left));
		rc = emit(z, z->obuf, o.pos, e);
		if (rc)
			return rc;
		if (mode == ZSTD_e_continue ? in.pos == in.size : left == 0)
			return 0;
	}
}

static int decompress_step(struct zstream *z, const void *buf, size_t len, struct errbuf *e)
{
	ZSTD_inBuffer in = { buf, len, 0 };
	int rc;

	hash_stored(z, buf, len);
	z->stored += (long long)len;
	if (z->corrupt)
		return 0;
	/* Keep calling until the input is consumed and the output buffer was not
	 * filled completely (zstd may hold decoded bytes otherwise). */
	for (;;) {
		ZSTD_outBuffer o = { z->obuf, z->ocap, 0 };
		size_t before = in.pos;
		size_t r = ZSTD_decompressStream(z->dctx, &o, &in);

		if (ZSTD_isError(r)) {
			z->corrupt = 1;
			return errbuf_set(e, BL_EVERIFY, "zstd: corrupt data at stored byte %lld: %s",
					  z->stored - (long long)(in.size - in.pos),
					  ZSTD_getErrorName(r));
		}
		/* A frame that ends exactly where the output buffer does needs one
		 * more call to see that nothing follows; that call makes no progress
		 * and returns the size hint for a next frame, which must not count
		 * as "the last frame is incomplete". */
		if (o.pos || in.pos != before)
			z->last_ret = r;
		rc = emit(z, z->obuf, o.pos, e);
		if (rc)
			return rc;
		if (in.pos == in.size && o.pos < o.size)
			return 0;
	}
}

int zstream_write(struct zstream *z, const void *buf, size_t len, struct errbuf *e)
{
	if (z->finished)
		return errbuf_set(e, BL_EFAIL, "zstd: write after finish");
	if (z->corrupt && !z->compress) {
		hash_stored(z, buf, len);
		z->stored += (long long)len;
		return 0;
	}
	if (!len)
		return 0;
	if (z->compress) {
		z->raw += (long long)len;
		return compress_step(z, buf, len, ZSTD_e_continue, e);
	}
	return decompress_step(z, buf, len, e);
}

int zstream_finish(struct zstream *z, struct errbuf *e)
{
	int rc = 0;

	if (z->finished)
		return 0;
	if (z->compress)
		rc = compress_step(z, NULL, 0, ZSTD_e_end, e);
	else if (z->corrupt)
		rc = errbuf_set(e, BL_EVERIFY, "zstd: corrupt data");
	else if (z->stored == 0)
		rc = errbuf_set(e, BL_EVERIFY, "zstd: empty input, expected a zstd frame");
	else if (z->last_ret != 0)
		rc = errbuf_set(e, BL_EVERIFY, "zstd: input is truncated (the last frame is "
				"incomplete after %lld stored bytes)", z->stored);
	if (rc && z->compress)
		return rc;
	/* Even a bad stream gets its hash: callers report a checksum mismatch
	 * before a decoding error, which is the more useful of the two. */
	if (!z->nohash)
		zhash_final(z->hash, z->hex);
	z->finished = 1;
	return rc;
}

void zstream_free(struct zstream *z)
{
	if (!z)
		return;
	ZSTD_freeCCtx(z->cctx);
	ZSTD_freeDCtx(z->dctx);
	zhash_free(z->hash);
	free(z->obuf);
	free(z);
}

long long zstream_raw_bytes(const struct zstream *z)
{
	return z->raw;
}

long long zstream_stored_bytes(const struct zstream *z)
{
	return z->stored;
}

const char *zstream_sha256(const struct zstream *z)
{
	return z->hex;
}
