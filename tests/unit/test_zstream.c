/* zstream: round trips through compress and decompress, the hash and byte
 * counts of the stored side, corrupt and truncated input. */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strbuf.h"
#include "tsupport.h"
#include "zstream.h"

static int collect(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	(void)e;
	strbuf_add(ctx, buf, len);
	return 0;
}

static int fail_after(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	int *calls = ctx;

	(void)buf;
	(void)len;
	if (++*calls > 1)
		return errbuf_set(e, BL_EFAIL, "sink is full");
	return 0;
}

/* Reproducible data that compresses like a dump: text with numbers. */
static void make_input(struct strbuf *sb, size_t n)
{
	unsigned x = 12345;

	while (sb->len < n) {
		x = x * 1103515245 + 12345;
		strbuf_addf(sb, "%u\tcustomer %u\t2026-11-%02u 10:%02u:00\t{\"n\": %u}\n", x % 100000,
			    (x >> 8) % 5000, (x >> 4) % 28 + 1, (x >> 12) % 60, x % 977);
	}
	strbuf_setlen(sb, n);
}

static void sha256_hex(const void *buf, size_t len, char out[65])
{
	unsigned char d[32];
	unsigned int n = 0;

	EVP_Digest(buf, len, d, &n, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void compress_all(const struct strbuf *in, int threads, size_t step, struct strbuf *out,
			 char hex[65])
{
	struct errbuf e = ERRBUF_INIT;
	struct zstream *z;

	ck_assert_int_eq(zstream_compress_new(3, threads, collect, out, &z, &e), 0);
	for (size_t off = 0; off < in->len; off += step)
		ck_assert_int_eq(zstream_write(z, in->buf + off, in->len - off < step ?
					       in->len - off : step, &e), 0);
	ck_assert_int_eq(zstream_finish(z, &e), 0);
	ck_assert_int_eq(zstream_raw_bytes(z), (long long)in->len);
	ck_assert_int_eq(zstream_stored_bytes(z), (long long)out->len);
	strcpy(hex, zstream_sha256(z));
	zstream_free(z);
}

START_TEST(test_roundtrip)
{
	static const int threads[] = { 1, 2, 0 };
	struct strbuf in = STRBUF_INIT;

	make_input(&in, 6 * 1024 * 1024 + 17);
	for (size_t t = 0; t < 3; t++) {
		struct strbuf packed = STRBUF_INIT, back = STRBUF_INIT;
		struct errbuf e = ERRBUF_INIT;
		struct zstream *z;
		char hex[65], want[65];

		compress_all(&in, threads[t], 100000 + t, &packed, hex);
		ck_assert_int_lt((int)packed.len, (int)in.len / 2);
		sha256_hex(packed.buf, packed.len, want);
		ck_assert_str_eq(hex, want);
		ck_assert_int_eq(zstream_decompress_new(collect, &back, &z, &e), 0);
		for (size_t off = 0; off < packed.len; off += 777)
			ck_assert_int_eq(zstream_write(z, packed.buf + off, packed.len - off < 777 ?
						       packed.len - off : 777, &e), 0);
		ck_assert_int_eq(zstream_finish(z, &e), 0);
		ck_assert_str_eq(zstream_sha256(z), want);
		ck_assert_int_eq(zstream_stored_bytes(z), (long long)packed.len);
		ck_assert_int_eq(zstream_raw_bytes(z), (long long)in.len);
		ck_assert(back.len == in.len && !memcmp(back.buf, in.buf, in.len));
		zstream_free(z);
		strbuf_release(&packed);
		strbuf_release(&back);
	}
	strbuf_release(&in);
}
END_TEST

/* A 16 MiB WAL segment of zeros: the decoded stream ends exactly where an
 * output buffer does, and the frame is still complete (it was reported as
 * truncated once). The stored frame is given whole, in one write. */
START_TEST(test_frame_ends_on_buffer_boundary)
{
	struct strbuf in = STRBUF_INIT, packed = STRBUF_INIT, back = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct zstream *z;
	char hex[65], *zeros = calloc(1, 16 * 1024 * 1024);

	ck_assert_ptr_nonnull(zeros);
	strbuf_add(&in, zeros, 16 * 1024 * 1024);
	free(zeros);
	compress_all(&in, 1, in.len, &packed, hex);
	ck_assert_int_eq(zstream_decompress_new(collect, &back, &z, &e), 0);
	ck_assert_int_eq(zstream_write(z, packed.buf, packed.len, &e), 0);
	ck_assert_msg(zstream_finish(z, &e) == 0, "%s", e.msg);
	ck_assert_int_eq((int)back.len, 16 * 1024 * 1024);
	zstream_free(z);
	strbuf_release(&in);
	strbuf_release(&packed);
	strbuf_release(&back);
}
END_TEST

START_TEST(test_corrupt_and_truncated)
{
	struct strbuf in = STRBUF_INIT, packed = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct zstream *z;
	char hex[65], want[65];

	make_input(&in, 300000);
	compress_all(&in, 1, in.len, &packed, hex);

	/* truncated: every byte decodes, but the frame never ends */
	ck_assert_int_eq(zstream_decompress_new(NULL, NULL, &z, &e), 0);
	ck_assert_int_eq(zstream_write(z, packed.buf, packed.len - 10, &e), 0);
	ck_assert_int_eq(zstream_finish(z, &e), BL_EVERIFY);
	ck_assert_ptr_nonnull(strstr(e.msg, "truncated"));
	zstream_free(z);

	/* a flipped byte: a decoding error, and the hash still covers all input */
	packed.buf[packed.len / 2] ^= 0x40;
	sha256_hex(packed.buf, packed.len, want);
	errbuf_clear(&e);
	ck_assert_int_eq(zstream_decompress_new(NULL, NULL, &z, &e), 0);
	ck_assert_int_eq(zstream_write(z, packed.buf, packed.len, &e), BL_EVERIFY);
	ck_assert_int_eq(zstream_finish(z, &e), BL_EVERIFY);
	ck_assert_str_eq(zstream_sha256(z), want);
	ck_assert_int_eq(zstream_stored_bytes(z), (long long)packed.len);
	zstream_free(z);

	/* empty input is not a valid object */
	ck_assert_int_eq(zstream_decompress_new(NULL, NULL, &z, &e), 0);
	ck_assert_int_eq(zstream_finish(z, &e), BL_EVERIFY);
	zstream_free(z);
	strbuf_release(&in);
	strbuf_release(&packed);
}
END_TEST

START_TEST(test_sink_error_and_bad_level)
{
	struct strbuf in = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct zstream *z;
	int calls = 0, rc = 0;

	ck_assert_int_eq(zstream_compress_new(99, 1, NULL, NULL, &z, &e), BL_EUSAGE);
	ck_assert_ptr_null(z);
	ck_assert_ptr_nonnull(strstr(e.msg, "compression.level"));
	make_input(&in, 4 * 1024 * 1024);
	ck_assert_int_eq(zstream_compress_new(1, 1, fail_after, &calls, &z, &e), 0);
	for (size_t off = 0; off < in.len && !rc; off += 65536)
		rc = zstream_write(z, in.buf + off, 65536, &e);
	if (!rc)
		rc = zstream_finish(z, &e);
	ck_assert_int_eq(rc, BL_EFAIL);
	ck_assert_str_eq(e.msg, "sink is full");
	zstream_free(z);
	ck_assert_int_ge(zstream_threads(0), 1);
	ck_assert_int_eq(zstream_threads(3), 3);
	strbuf_release(&in);
}
END_TEST

/* zhash_file: the file's content hashed as zhash_hex hashes it, across
 * several 64 KiB blocks; its size; a symlink refused only with nofollow; a
 * missing file named. */
START_TEST(test_hash_file)
{
	char *dir = ttmp_dir("zhash"), want[ZSTREAM_SHA256_HEX], got[ZSTREAM_SHA256_HEX];
	struct strbuf path = STRBUF_INIT, link_path = STRBUF_INIT, text = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	long long size = -1;

	ck_assert_ptr_nonnull(dir);
	for (int i = 0; i < 20000; i++)
		strbuf_addf(&text, "line %d\n", i);
	strbuf_addf(&path, "%s/f", dir);
	strbuf_addf(&link_path, "%s/l", dir);
	ck_assert_int_eq(twrite_file(path.buf, text.buf), 0);
	ck_assert_int_eq(symlink(path.buf, link_path.buf), 0);
	zhash_hex(text.buf, text.len, want);
	ck_assert_int_eq(zhash_file(path.buf, 1, got, &size, &e), 0);
	ck_assert_str_eq(got, want);
	ck_assert_int_eq(size, (long long)text.len);
	ck_assert_int_eq(zhash_file(link_path.buf, 0, got, NULL, &e), 0);
	ck_assert_str_eq(got, want);
	ck_assert_int_eq(zhash_file(link_path.buf, 1, got, NULL, &e), BL_EFAIL);
	ck_assert_ptr_nonnull(strstr(e.msg, link_path.buf));
	strbuf_addstr(&path, "-missing");
	ck_assert_int_eq(zhash_file(path.buf, 0, got, &size, &e), BL_EFAIL);
	ck_assert_ptr_nonnull(strstr(e.msg, "cannot open"));
	ttmp_rm(dir);
	free(dir);
	strbuf_release(&path);
	strbuf_release(&link_path);
	strbuf_release(&text);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("zstream");
	TCase *tc = tcase_create("zstream");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_frame_ends_on_buffer_boundary);
	tcase_add_test(tc, test_corrupt_and_truncated);
	tcase_add_test(tc, test_sink_error_and_bad_level);
	tcase_add_test(tc, test_hash_file);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
