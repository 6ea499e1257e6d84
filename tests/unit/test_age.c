/* The age v1 module: every C2SP CCTV vector (tests/data/age-cctv) gives
 * its expected result and payload hash; round trips at chunk edges; every
 * byte flipped, truncations at chunk boundaries and reordered chunks are
 * refused; seekable decryption by chunk; key parsing. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "age.h"
#include "tsupport.h"
#include "zstream.h"

struct collect {
	struct strbuf out;
	struct zhash *h;
	long long n;
};

static int collect_sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	struct collect *c = ctx;

	if (c->h)
		zhash_update(c->h, buf, len);
	else
		strbuf_add(&c->out, buf, len);
	c->n += (long long)len;
	return 0;
}

static int buf_sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	strbuf_add(ctx, buf, len);
	return 0;
}

/* A fixed-seed generator (xorshift) for reproducible plaintexts. */
static void fill(unsigned char *p, size_t n, unsigned seed)
{
	unsigned long long x = 0x9E3779B97F4A7C15ull ^ seed;
	size_t i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)x;
	}
}

/* Decrypts cipher in pieces of `step` bytes (0 = at once). */
static int decrypt(struct age_keys *k, const void *cipher, size_t len, size_t step,
		   struct collect *c, enum age_result *res, struct errbuf *e)
{
	struct age_dec *d;
	size_t off = 0;
	int rc = age_dec_new(k, collect_sink, c, &d, e);

	ck_assert_int_eq(rc, 0);
	while (!rc && off < len) {
		size_t n = step && len - off > step ? step : len - off;

		rc = age_dec_write(d, (const char *)cipher + off, n, e);
		off += n;
	}
	if (!rc)
		rc = age_dec_finish(d, e);
	*res = age_dec_result(d);
	age_dec_free(d);
	return rc;
}

static int encrypt(struct age_keys *k, const void *plain, size_t len, struct strbuf *out,
		   struct errbuf *e)
{
	struct age_enc *c;
	int rc = age_enc_new(k, buf_sink, out, &c, e);

	if (rc)
		return rc;
	rc = age_enc_write(c, plain, len, e);
	if (!rc)
		rc = age_enc_finish(c, e);
	age_enc_free(c);
	return rc;
}

static enum age_result expect_of(const char *s)
{
	if (!strcmp(s, "success"))
		return AGE_RES_OK;
	if (!strcmp(s, "no match"))
		return AGE_RES_NO_MATCH;
	if (!strcmp(s, "HMAC failure"))
		return AGE_RES_HMAC;
	if (!strcmp(s, "header failure"))
		return AGE_RES_HEADER;
	if (!strcmp(s, "payload failure"))
		return AGE_RES_PAYLOAD;
	return (enum age_result)-1;
}

static int zst_sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	strbuf_add(ctx, buf, len);
	return 0;
}

/* Runs one vector; returns 1 when run, 0 when skipped (armor, hybrid). */
static int run_vector(const char *dir, const char *name)
{
	struct strbuf path = STRBUF_INIT, file = STRBUF_INIT, body = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct age_keys *k = age_keys_new();
	enum age_result want = (enum age_result)-1, got;
	char payload[65] = "", hex[ZSTREAM_SHA256_HEX];
	const char *p, *end;
	int compressed = 0, skip = 0, steps;
	size_t hl;

	strbuf_addf(&path, "%s/%s", dir, name);
	ck_assert_int_eq(tread_file(path.buf, &file), 0);
	end = strstr(file.buf, "\n\n");
	ck_assert_msg(end != NULL, "%s: no blank line", name);
	hl = (size_t)(end - file.buf) + 2;
	for (p = file.buf; p < end;) {
		const char *nl = strchr(p, '\n');
		char line[512];
		size_t n = (size_t)(nl - p);

		ck_assert(n < sizeof(line));
		memcpy(line, p, n);
		line[n] = 0;
		p = nl + 1;
		if (!strncmp(line, "expect: ", 8)) {
			want = expect_of(line + 8);
			if (!strcmp(line + 8, "armor failure"))
				skip = 1;
		} else if (!strncmp(line, "payload: ", 9)) {
			snprintf(payload, sizeof(payload), "%.64s", line + 9);
		} else if (!strncmp(line, "identity: ", 10)) {
			if (strncmp(line + 10, "AGE-SECRET-KEY-1", 16))
				skip = 1;   /* ML-KEM hybrid identities */
			else
				ck_assert_msg(age_keys_add_identity(k, line + 10, name, &e) == 0,
					      "%s: %s", name, e.msg);
		} else if (!strncmp(line, "passphrase: ", 12)) {
			ck_assert_int_eq(age_keys_set_passphrase(k, line + 12, 0, 1, 0, &e), 0);
		} else if (!strcmp(line, "armored: yes")) {
			skip = 1;
		} else if (!strcmp(line, "compressed: zstd")) {
			compressed = 1;
		}
	}
	if (skip) {
		age_keys_free(k);
		strbuf_release(&path);
		strbuf_release(&file);
		return 0;
	}
	ck_assert_msg((int)want >= 0, "%s: unknown expect", name);
	if (compressed) {
		struct zstream *z;

		ck_assert_int_eq(zstream_decompress_new(zst_sink, &body, &z, &e), 0);
		ck_assert_int_eq(zstream_write(z, file.buf + hl, file.len - hl, &e), 0);
		ck_assert_int_eq(zstream_finish(z, &e), 0);
		zstream_free(z);
	} else {
		strbuf_add(&body, file.buf + hl, file.len - hl);
	}
	/* At once, and in small odd pieces (headers split across writes). */
	for (steps = 0; steps < 2; steps++) {
		struct collect c = { STRBUF_INIT, zhash_new(), 0 };
		int rc;

		errbuf_clear(&e);
		rc = decrypt(k, body.buf, body.len, steps ? 4093 : 0, &c, &got, &e);
		zhash_final(c.h, hex);
		zhash_free(c.h);
		ck_assert_msg(got == want, "%s: result %d, expected %d (%s)", name, got, want,
			      e.msg);
		ck_assert_msg((rc == 0) == (want == AGE_RES_OK), "%s: rc %d (%s)", name, rc, e.msg);
		if (want != AGE_RES_OK)
			ck_assert_msg(e.msg[0], "%s: failure without a message", name);
		if (payload[0])
			ck_assert_msg(!strcmp(hex, payload), "%s: payload %s, expected %s", name,
				      hex, payload);
		else
			ck_assert_msg(c.n == 0, "%s: released %lld bytes", name, c.n);
	}
	age_keys_free(k);
	strbuf_release(&path);
	strbuf_release(&file);
	strbuf_release(&body);
	return 1;
}

START_TEST(test_cctv_vectors)
{
	const char *dir = BALLAST_SOURCE_DIR "/tests/data/age-cctv/testdata";
	DIR *dh = opendir(dir);
	struct dirent *de;
	int run = 0, skipped = 0;

	ck_assert_ptr_nonnull(dh);
	while ((de = readdir(dh))) {
		if (de->d_name[0] == '.')
			continue;
		if (run_vector(dir, de->d_name))
			run++;
		else
			skipped++;
	}
	closedir(dh);
	printf("age cctv: %d vectors run, %d skipped (armor, ML-KEM hybrid)\n", run, skipped);
	ck_assert_int_eq(run + skipped, 143);
	ck_assert_int_eq(run, 92);
}
END_TEST

static struct age_keys *x25519_keys(struct strbuf *recip_out)
{
	struct strbuf id = STRBUF_INIT, rc = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct age_keys *k = age_keys_new();

	ck_assert_int_eq(age_keygen(&id, &rc, &e), 0);
	ck_assert_int_eq(age_keys_add_identity(k, id.buf, "test", &e), 0);
	ck_assert_int_eq(age_keys_add_recipient(k, rc.buf, "test", &e), 0);
	if (recip_out)
		strbuf_addstr(recip_out, rc.buf);
	strbuf_release(&id);
	strbuf_release(&rc);
	return k;
}

START_TEST(test_round_trip_sizes)
{
	static const size_t sizes[] = { 0, 1, 65535, 65536, 65537, 131072, 200000 };
	struct age_keys *k = x25519_keys(NULL);
	unsigned char *plain = malloc(200000);
	size_t i;

	fill(plain, 200000, 7);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct strbuf ct = STRBUF_INIT;
		struct collect c = { STRBUF_INIT, NULL, 0 };
		struct errbuf e = ERRBUF_INIT;
		enum age_result res;
		long long hl;

		ck_assert_int_eq(encrypt(k, plain, sizes[i], &ct, &e), 0);
		hl = (long long)age_header_length(ct.buf, ct.len) + AGE_NONCE_SIZE;
		ck_assert_int_eq(age_plain_size(hl, (long long)ct.len), (long long)sizes[i]);
		ck_assert_msg(decrypt(k, ct.buf, ct.len, 1000, &c, &res, &e) == 0, "%zu: %s",
			      sizes[i], e.msg);
		ck_assert_int_eq(c.out.len, sizes[i]);
		ck_assert(!memcmp(c.out.buf, plain, sizes[i]));
		strbuf_release(&ct);
		strbuf_release(&c.out);
	}
	free(plain);
	age_keys_free(k);
}
END_TEST

/* Every single-byte change of a small file, and every 499th of a file of
 * three chunks plus every byte around its chunk boundaries, is refused. */
START_TEST(test_tamper_refused)
{
	struct age_keys *k = x25519_keys(NULL);
	unsigned char *plain = malloc(3 * 65536 + 100);
	struct strbuf ct = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	size_t sizes[2] = { 700, 3 * 65536 + 100 }, s, i, hl;
	long long ch;

	fill(plain, sizes[1], 11);
	for (s = 0; s < 2; s++) {
		strbuf_reset(&ct);
		ck_assert_int_eq(encrypt(k, plain, sizes[s], &ct, &e), 0);
		hl = age_header_length(ct.buf, ct.len) + AGE_NONCE_SIZE;
		for (i = 0; i < ct.len; i++) {
			struct collect c = { STRBUF_INIT, NULL, 0 };
			enum age_result res;
			size_t rel = i >= hl ? (i - hl) % (65536 + 16) : 0;

			if (s == 1 && i % 499 && i >= hl && rel > 2 && rel < 65536 + 14)
				continue;
			ct.buf[i] ^= 0x01;
			ck_assert_msg(decrypt(k, ct.buf, ct.len, 0, &c, &res, &e) != 0,
				      "flip at byte %zu accepted", i);
			ct.buf[i] ^= 0x01;
			ck_assert_int_ne(res, AGE_RES_OK);
			/* only whole authenticated chunks before the flip are released */
			ck_assert_int_le(c.out.len, i >= hl ? (i - hl) / (65536 + 16) * 65536 : 0);
			strbuf_release(&c.out);
		}
		/* Truncated at and around every chunk boundary, and mid-header. */
		for (ch = 0; ch <= 4; ch++) {
			long long at = (long long)hl + ch * (65536 + 16), d;

			for (d = -1; d <= 1; d++) {
				struct collect c = { STRBUF_INIT, NULL, 0 };
				enum age_result res;

				if (at + d < 0 || at + d >= (long long)ct.len)
					continue;
				ck_assert_msg(decrypt(k, ct.buf, (size_t)(at + d), 0, &c, &res, &e) != 0,
					      "truncation at %lld accepted", at + d);
				strbuf_release(&c.out);
			}
		}
	}
	/* Chunks 0 and 1 swapped. */
	{
		struct collect c = { STRBUF_INIT, NULL, 0 };
		enum age_result res;
		char *tmp = malloc(65536 + 16);

		hl = age_header_length(ct.buf, ct.len) + AGE_NONCE_SIZE;
		memcpy(tmp, ct.buf + hl, 65536 + 16);
		memmove(ct.buf + hl, ct.buf + hl + 65536 + 16, 65536 + 16);
		memcpy(ct.buf + hl + 65536 + 16, tmp, 65536 + 16);
		ck_assert_int_ne(decrypt(k, ct.buf, ct.len, 0, &c, &res, &e), 0);
		ck_assert_int_eq(res, AGE_RES_PAYLOAD);
		ck_assert_int_eq(c.out.len, 0);
		free(tmp);
	}
	strbuf_release(&ct);
	free(plain);
	age_keys_free(k);
}
END_TEST

START_TEST(test_seek_by_chunk)
{
	struct age_keys *k = x25519_keys(NULL);
	size_t n = 5 * 65536 + 4321, hl;
	unsigned char *plain = malloc(n);
	struct strbuf ct = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	long long i;

	fill(plain, n, 3);
	ck_assert_int_eq(encrypt(k, plain, n, &ct, &e), 0);
	hl = age_header_length(ct.buf, ct.len);
	for (i = 0; i <= 5; i++) {
		struct collect c = { STRBUF_INIT, NULL, 0 };
		struct age_dec *d;
		long long off;

		ck_assert_int_eq(age_dec_new(k, collect_sink, &c, &d, &e), 0);
		ck_assert_int_eq(age_dec_write(d, ct.buf, hl + AGE_NONCE_SIZE, &e), 0);
		ck_assert(age_dec_ready(d));
		ck_assert_int_eq(age_dec_seek(d, i, &e), 0);
		off = age_dec_chunk_offset(d, i);
		ck_assert_int_eq(age_dec_write(d, ct.buf + off, ct.len - (size_t)off, &e), 0);
		ck_assert_msg(age_dec_finish(d, &e) == 0, "%s", e.msg);
		ck_assert_int_eq(c.out.len, n - (size_t)i * 65536);
		ck_assert(!memcmp(c.out.buf, plain + i * 65536, c.out.len));
		age_dec_free(d);
		strbuf_release(&c.out);
	}
	strbuf_release(&ct);
	free(plain);
	age_keys_free(k);
}
END_TEST

START_TEST(test_passphrase_and_no_match)
{
	struct age_keys *w = age_keys_new(), *r = age_keys_new(), *other;
	struct strbuf ct = STRBUF_INIT, ct2 = STRBUF_INIT, recip = STRBUF_INIT;
	struct collect c = { STRBUF_INIT, NULL, 0 };
	struct errbuf e = ERRBUF_INIT;
	enum age_result res;

	ck_assert_int_eq(age_keys_set_passphrase(w, "correct horse", 1, 0, 10, &e), 0);
	ck_assert_int_eq(encrypt(w, "secret data", 11, &ct, &e), 0);
	ck_assert_int_eq(encrypt(w, "more data", 9, &ct2, &e), 0);
	ck_assert_ptr_nonnull(strstr(ct.buf, "-> scrypt "));
	ck_assert_ptr_null(strstr(ct.buf, "correct horse"));
	ck_assert_int_eq(age_keys_set_passphrase(r, "correct horse", 0, 1, 0, &e), 0);
	ck_assert_int_eq(decrypt(r, ct.buf, ct.len, 0, &c, &res, &e), 0);
	ck_assert_int_eq(decrypt(r, ct2.buf, ct2.len, 0, &c, &res, &e), 0);
	ck_assert_str_eq(c.out.buf, "secret datamore data");
	age_keys_free(r);

	r = age_keys_new();
	ck_assert_int_eq(age_keys_set_passphrase(r, "wrong", 0, 1, 0, &e), 0);
	ck_assert_int_eq(decrypt(r, ct.buf, ct.len, 0, &c, &res, &e), BL_EFAIL);
	ck_assert_int_eq(res, AGE_RES_NO_MATCH);
	ck_assert_ptr_nonnull(strstr(e.msg, "passphrase"));
	age_keys_free(r);

	/* X25519: the refusal names the recipient that would open it. */
	strbuf_reset(&ct);
	other = x25519_keys(&recip);
	r = x25519_keys(NULL);
	ck_assert_int_eq(encrypt(other, "x", 1, &ct, &e), 0);
	ck_assert_int_eq(decrypt(r, ct.buf, ct.len, 0, &c, &res, &e), BL_EFAIL);
	ck_assert_int_eq(res, AGE_RES_NO_MATCH);
	ck_assert_msg(strstr(e.msg, recip.buf) != NULL, "%s", e.msg);

	/* A passphrase cannot be combined with X25519 recipients. */
	ck_assert_int_eq(age_keys_set_passphrase(other, "p", 1, 0, 10, &e), 0);
	ck_assert_int_eq(encrypt(other, "x", 1, &ct, &e), BL_EUSAGE);

	age_keys_free(w);
	age_keys_free(r);
	age_keys_free(other);
	strbuf_release(&ct);
	strbuf_release(&ct2);
	strbuf_release(&recip);
	strbuf_release(&c.out);
}
END_TEST

START_TEST(test_keys_and_rewrap)
{
	/* From the CCTV x25519 vector and age-keygen's documented format. */
	const char *id = "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0";
	struct age_keys *k = age_keys_new(), *a, *b;
	struct strbuf sb = STRBUF_INIT, ct = STRBUF_INIT, hdr = STRBUF_INIT, rb = STRBUF_INIT;
	struct collect c = { STRBUF_INIT, NULL, 0 };
	struct errbuf e = ERRBUF_INIT;
	enum age_result res;
	char text[512];
	size_t hl;

	ck_assert_int_eq(age_identity_to_recipient(id, &sb, &e), 0);
	ck_assert_int_eq(strncmp(sb.buf, "age1", 4), 0);
	ck_assert_int_eq(age_keys_add_recipient(k, sb.buf, "t", &e), 0);
	ck_assert_int_eq(age_keys_add_recipient(k, "age1qqqq", "cfg", &e), BL_EUSAGE);
	ck_assert_int_eq(age_keys_add_identity(k, "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM1",
					       "cfg", &e), BL_EUSAGE);
	ck_assert_ptr_null(strstr(e.msg, "EGTZVFF"));
	snprintf(text, sizeof(text), "# created: 2026-01-01\n# public key: %s\n%s\n\n", sb.buf, id);
	ck_assert_int_eq(age_keys_add_identity_text(k, text, strlen(text), "key.txt", &e), 0);
	ck_assert_int_eq(age_keys_add_identity_text(k, "# nothing\n", 10, "key.txt", &e),
			 BL_EUSAGE);

	/* Rewrap to a new recipient: only the header changes. */
	a = x25519_keys(NULL);
	b = x25519_keys(NULL);
	ck_assert_int_eq(encrypt(a, "payload stays", 13, &ct, &e), 0);
	hl = age_header_length(ct.buf, ct.len);
	ck_assert_int_eq(age_rewrap_header(a, ct.buf, hl, b, &hdr, &e), 0);
	strbuf_add(&rb, hdr.buf, hdr.len);
	strbuf_add(&rb, ct.buf + hl, ct.len - hl);
	ck_assert_int_eq(decrypt(b, rb.buf, rb.len, 0, &c, &res, &e), 0);
	ck_assert_str_eq(c.out.buf, "payload stays");
	ck_assert_int_eq(age_rewrap_header(b, ct.buf, hl, a, &hdr, &e), BL_EFAIL);

	age_keys_free(k);
	age_keys_free(a);
	age_keys_free(b);
	strbuf_release(&sb);
	strbuf_release(&ct);
	strbuf_release(&hdr);
	strbuf_release(&rb);
	strbuf_release(&c.out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("age");
	TCase *tc = tcase_create("age");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_cctv_vectors);
	tcase_add_test(tc, test_round_trip_sizes);
	tcase_add_test(tc, test_tamper_refused);
	tcase_add_test(tc, test_seek_by_chunk);
	tcase_add_test(tc, test_passphrase_and_no_match);
	tcase_add_test(tc, test_keys_and_rewrap);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
