/* bench/s3_upload.c: stream N bytes into a repository through repo.h and
 * read them back, checking SHA-256 both ways; prints timings. Run by
 * bench/s3_upload.sh under /usr/bin/time -v to measure peak RSS.
 *
 *   s3_upload SPEC_JSON KEY BYTES HINT   (HINT -1: size unknown) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "proc.h"
#include "repo.h"

static void hexdigest(EVP_MD_CTX *md, char out[65])
{
	unsigned char d[32];
	unsigned int n, i;

	EVP_DigestFinal_ex(md, d, &n);
	for (i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

int main(int argc, char **argv)
{
	static unsigned char buf[1 << 20];
	struct errbuf e = ERRBUF_INIT;
	struct repo *r = NULL;
	struct repo_writer *w;
	struct repo_reader *rd;
	json_t *spec;
	json_error_t je;
	long long total, hint, off = 0, t0, t1, t2;
	unsigned long long x = 88172645463325252ULL;
	EVP_MD_CTX *mdw = EVP_MD_CTX_new(), *mdr = EVP_MD_CTX_new();
	char hw[65], hr[65];
	size_t got, i;

	if (argc != 5) {
		fprintf(stderr, "usage: s3_upload SPEC_JSON KEY BYTES HINT\n");
		return 2;
	}
	spec = json_loads(argv[1], 0, &je);
	total = atoll(argv[3]);
	hint = atoll(argv[4]);
	if (!spec || repo_open_json(spec, ".", &r, &e)) {
		fprintf(stderr, "s3_upload: %s\n", spec ? e.msg : je.text);
		return 1;
	}
	EVP_DigestInit_ex(mdw, EVP_sha256(), NULL);
	EVP_DigestInit_ex(mdr, EVP_sha256(), NULL);
	t0 = time_mono_ms();
	if (repo_writer_open(r, argv[2], hint, &w, &e))
		goto fail;
	while (off < total) {
		size_t n = total - off < (long long)sizeof(buf) ? (size_t)(total - off) : sizeof(buf);

		/* xorshift: incompressible like a zstd stream, cheap to make. */
		for (i = 0; i + 8 <= n; i += 8) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			memcpy(buf + i, &x, 8);
		}
		EVP_DigestUpdate(mdw, buf, n);
		if (repo_writer_write(w, buf, n, &e)) {
			repo_writer_abort(w);
			goto fail;
		}
		off += (long long)n;
	}
	if (repo_writer_commit(w, &e))
		goto fail;
	t1 = time_mono_ms();
	if (repo_reader_open(r, argv[2], &rd, &e))
		goto fail;
	off = 0;
	for (;;) {
		if (repo_reader_read(rd, buf, sizeof(buf), &got, &e)) {
			repo_reader_close(rd);
			goto fail;
		}
		if (!got)
			break;
		EVP_DigestUpdate(mdr, buf, got);
		off += (long long)got;
	}
	repo_reader_close(rd);
	t2 = time_mono_ms();
	hexdigest(mdw, hw);
	hexdigest(mdr, hr);
	printf("put %lld bytes in %.1f s (%.0f MiB/s); get %lld bytes in %.1f s (%.0f MiB/s); "
	       "sha256 %s\n", total, (t1 - t0) / 1000.0, total / 1048576.0 / ((t1 - t0 + 1) / 1000.0),
	       off, (t2 - t1) / 1000.0, off / 1048576.0 / ((t2 - t1 + 1) / 1000.0),
	       strcmp(hw, hr) || off != total ? "MISMATCH" : "ok");
	repo_delete(r, argv[2], &e);
	repo_close(r);
	json_decref(spec);
	EVP_MD_CTX_free(mdw);
	EVP_MD_CTX_free(mdr);
	return strcmp(hw, hr) || off != total ? 4 : 0;
fail:
	fprintf(stderr, "s3_upload: %s\n", e.msg);
	repo_close(r);
	json_decref(spec);
	EVP_MD_CTX_free(mdw);
	EVP_MD_CTX_free(mdr);
	return 1;
}
