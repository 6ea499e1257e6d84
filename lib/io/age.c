#include "age.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "xalloc.h"

#define X25519_LABEL "age-encryption.org/v1/X25519"
#define SCRYPT_LABEL "age-encryption.org/v1/scrypt"
#define WRAPPED_SIZE (AGE_FILE_KEY_SIZE + AGE_TAG_SIZE)
#define CHUNK_CT (AGE_CHUNK_SIZE + AGE_TAG_SIZE)
#define MAX_X25519 64
#define BODY_COLS 64

/* ---- base64 (standard alphabet, no padding, canonical only) ---- */

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64val(int c)
{
	const char *p = c ? strchr(b64chars, c) : NULL;

	return p ? (int)(p - b64chars) : -1;
}

/* Decodes exactly n chars; -1 on any non-alphabet byte, a length that
 * cannot be unpadded base64, or non-zero trailing bits (not canonical). */
static long b64_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
	size_t i, o = 0;
	unsigned acc = 0;
	int bits = 0;

	if (n % 4 == 1)
		return -1;
	for (i = 0; i < n; i++) {
		int v = b64val((unsigned char)s[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= cap)
				return -1;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc)
		return -1;
	return (long)o;
}

static void b64_encode(struct strbuf *sb, const unsigned char *in, size_t n)
{
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];

		strbuf_addch(sb, b64chars[v >> 18]);
		strbuf_addch(sb, b64chars[(v >> 12) & 63]);
		strbuf_addch(sb, b64chars[(v >> 6) & 63]);
		strbuf_addch(sb, b64chars[v & 63]);
	}
	if (n - i == 1) {
		unsigned v = (unsigned)in[i] << 16;

		strbuf_addch(sb, b64chars[v >> 18]);
		strbuf_addch(sb, b64chars[(v >> 12) & 63]);
	} else if (n - i == 2) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;

		strbuf_addch(sb, b64chars[v >> 18]);
		strbuf_addch(sb, b64chars[(v >> 12) & 63]);
		strbuf_addch(sb, b64chars[(v >> 6) & 63]);
	}
}

/* A stanza body: base64 wrapped at 64 columns, the last line shorter
 * (empty when the body is a multiple of 48 bytes). */
static void body_encode(struct strbuf *sb, const unsigned char *in, size_t n)
{
	size_t off = 0;

	for (;;) {
		size_t take = n - off < 48 ? n - off : 48;

		b64_encode(sb, in + off, take);
		strbuf_addch(sb, '\n');
		off += take;
		if (take < 48)
			break;
	}
}

/* ---- Bech32 (BIP 173 checksum, no length limit, as age uses it) ---- */

static const char b32chars[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

static uint32_t b32_polymod(const unsigned char *v, size_t n)
{
	static const uint32_t gen[5] = { 0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd,
					 0x2a1462b3 };
	uint32_t chk = 1;
	size_t i;
	int j;

	for (i = 0; i < n; i++) {
		uint32_t top = chk >> 25;

		chk = (chk & 0x1ffffff) << 5 ^ v[i];
		for (j = 0; j < 5; j++)
			if ((top >> j) & 1)
				chk ^= gen[j];
	}
	return chk;
}

/* Decodes a Bech32 string whose HRP must equal hrp (case-insensitively,
 * the whole string in one case) into exactly want bytes. */
static int b32_decode(const char *s, const char *hrp, unsigned char *out, size_t want)
{
	size_t n = strlen(s), hl = strlen(hrp), i, dl, o = 0;
	unsigned char *v;
	int lower = 0, upper = 0, bits = 0, rc = -1;
	unsigned acc = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < 33 || s[i] > 126)
			return -1;
		lower |= islower((unsigned char)s[i]) != 0;
		upper |= isupper((unsigned char)s[i]) != 0;
	}
	if ((lower && upper) || n < hl + 7 || strncasecmp(s, hrp, hl) || s[hl] != '1')
		return -1;
	dl = n - hl - 1;
	v = xmalloc(hl * 2 + 1 + dl);
	for (i = 0; i < hl; i++) {
		v[i] = (unsigned char)(tolower((unsigned char)hrp[i]) >> 5);
		v[hl + 1 + i] = (unsigned char)(tolower((unsigned char)hrp[i]) & 31);
	}
	v[hl] = 0;
	for (i = 0; i < dl; i++) {
		const char *p = strchr(b32chars, tolower((unsigned char)s[hl + 1 + i]));

		if (!p || !*p)
			goto out;
		v[hl * 2 + 1 + i] = (unsigned char)(p - b32chars);
	}
	if (b32_polymod(v, hl * 2 + 1 + dl) != 1)
		goto out;
	for (i = 0; i + 6 < dl; i++) {
		acc = (acc << 5) | v[hl * 2 + 1 + i];
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			if (o >= want)
				goto out;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (bits >= 5 || acc || o != want)
		goto out;
	rc = 0;
out:
	free(v);
	return rc;
}

static void b32_encode(struct strbuf *sb, const char *hrp, const unsigned char *in, size_t n,
		       int upper)
{
	size_t hl = strlen(hrp), i, dl = 0, cap = hl * 2 + 1 + (n * 8 + 4) / 5 + 6;
	unsigned char *v = xmalloc(cap);
	unsigned acc = 0;
	int bits = 0;
	uint32_t chk;

	for (i = 0; i < hl; i++) {
		v[i] = (unsigned char)(tolower((unsigned char)hrp[i]) >> 5);
		v[hl + 1 + i] = (unsigned char)(tolower((unsigned char)hrp[i]) & 31);
	}
	v[hl] = 0;
	dl = hl * 2 + 1;
	for (i = 0; i < n; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			v[dl++] = (unsigned char)((acc >> bits) & 31);
		}
		acc &= (1u << bits) - 1;
	}
	if (bits)
		v[dl++] = (unsigned char)((acc << (5 - bits)) & 31);
	memset(v + dl, 0, 6);
	chk = b32_polymod(v, dl + 6) ^ 1;
	for (i = 0; i < 6; i++)
		v[dl + i] = (unsigned char)((chk >> (5 * (5 - i))) & 31);
	dl += 6;
	for (i = 0; i < hl; i++)
		strbuf_addch(sb, upper ? toupper((unsigned char)hrp[i]) : tolower((unsigned char)hrp[i]));
	strbuf_addch(sb, '1');
	for (i = hl * 2 + 1; i < dl; i++) {
		char c = b32chars[v[i]];

		strbuf_addch(sb, upper ? toupper((unsigned char)c) : c);
	}
	free(v);
}

/* ---- primitives on libcrypto ---- */

static int crypto_fail(struct errbuf *e, const char *what)
{
	return errbuf_set(e, BL_EFAIL, "age: %s failed in libcrypto", what);
}

static int x25519(const unsigned char priv[32], const unsigned char pub[32],
		  unsigned char out[32])
{
	EVP_PKEY *a = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
	EVP_PKEY *b = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pub, 32);
	EVP_PKEY_CTX *ctx = a ? EVP_PKEY_CTX_new(a, NULL) : NULL;
	static const unsigned char zero[32];
	size_t len = 32;
	int ok;

	/* OpenSSL refuses an all-zero result (a low-order point) itself; the
	 * explicit check keeps that rule visible. */
	ok = ctx && b && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, b) == 1 &&
	     EVP_PKEY_derive(ctx, out, &len) == 1 && len == 32 &&
	     CRYPTO_memcmp(out, zero, 32) != 0;
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
	return ok ? 0 : -1;
}

static int x25519_public(const unsigned char priv[32], unsigned char pub[32])
{
	EVP_PKEY *a = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
	size_t len = 32;
	int ok = a && EVP_PKEY_get_raw_public_key(a, pub, &len) == 1 && len == 32;

	EVP_PKEY_free(a);
	return ok ? 0 : -1;
}

static int hkdf(const unsigned char *ikm, size_t ikm_len, const unsigned char *salt,
		size_t salt_len, const char *info, unsigned char *out, size_t out_len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM p[5], *q = p;
	int ok;

	*q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
	if (salt_len)
		*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt,
							 salt_len);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info,
						 strlen(info));
	*q = OSSL_PARAM_construct_end();
	ok = ctx && EVP_KDF_derive(ctx, out, out_len, p) == 1;
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return ok ? 0 : -1;
}

/* ChaCha20-Poly1305 with a 12-byte nonce; out holds len + 16 (seal). */
static int aead_seal(EVP_CIPHER_CTX *ctx, const unsigned char key[32],
		     const unsigned char nonce[12], const unsigned char *in, size_t len,
		     unsigned char *out)
{
	int n = 0, m = 0;

	if (EVP_EncryptInit_ex(ctx, EVP_chacha20_poly1305(), NULL, key, nonce) != 1 ||
	    (len && EVP_EncryptUpdate(ctx, out, &n, in, (int)len) != 1) ||
	    EVP_EncryptFinal_ex(ctx, out + n, &m) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, AGE_TAG_SIZE, out + len) != 1)
		return -1;
	return 0;
}

/* in holds len bytes of ciphertext followed by the tag; out gets len. */
static int aead_open(EVP_CIPHER_CTX *ctx, const unsigned char key[32],
		     const unsigned char nonce[12], const unsigned char *in, size_t len,
		     unsigned char *out)
{
	int n = 0, m = 0;

	if (EVP_DecryptInit_ex(ctx, EVP_chacha20_poly1305(), NULL, key, nonce) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, AGE_TAG_SIZE,
				(void *)(in + len)) != 1 ||
	    (len && EVP_DecryptUpdate(ctx, out, &n, in, (int)len) != 1) ||
	    EVP_DecryptFinal_ex(ctx, out + n, &m) != 1)
		return -1;
	return 0;
}

static int wrap_key(const unsigned char key[32], const unsigned char file_key[16],
		    unsigned char out[WRAPPED_SIZE])
{
	static const unsigned char zero[12];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int rc = ctx ? aead_seal(ctx, key, zero, file_key, AGE_FILE_KEY_SIZE, out) : -1;

	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

static int unwrap_key(const unsigned char key[32], const unsigned char *body,
		      unsigned char file_key[16])
{
	static const unsigned char zero[12];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int rc = ctx ? aead_open(ctx, key, zero, body, AGE_FILE_KEY_SIZE, file_key) : -1;

	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

static int scrypt_key(const char *pass, const unsigned char salt[16], int log_n,
		      unsigned char out[32])
{
	unsigned char s[sizeof(SCRYPT_LABEL) - 1 + 16];
	uint64_t n = (uint64_t)1 << log_n;

	memcpy(s, SCRYPT_LABEL, sizeof(SCRYPT_LABEL) - 1);
	memcpy(s + sizeof(SCRYPT_LABEL) - 1, salt, 16);
	/* maxmem: scrypt needs 128 * r * N bytes (256 MiB at the default work
	 * factor); OpenSSL's default cap (32 MiB) would refuse it. */
	return EVP_PBE_scrypt(pass, strlen(pass), s, sizeof(s), n, 8, 1,
			      (uint64_t)130 * 8 * n + (1u << 20), out, 32) == 1 ? 0 : -1;
}

/* ---- keys ---- */

struct age_keys {
	size_t nrecip;
	unsigned char recip[MAX_X25519][32];
	char recip_str[MAX_X25519][96];
	size_t nid;
	unsigned char id_sec[MAX_X25519][32];
	unsigned char id_pub[MAX_X25519][32];
	char *pass;          /* identity passphrase */
	char *pass_recip;    /* recipient passphrase */
	int log_n;
	/* encryption with a passphrase: one stanza and file key per session */
	int scrypt_ready;
	unsigned char scrypt_file_key[AGE_FILE_KEY_SIZE];
	struct strbuf scrypt_stanza;
	/* decryption with a passphrase: the last derived key */
	int dcache_ok;
	int dcache_log_n;
	unsigned char dcache_salt[16];
	unsigned char dcache_key[32];
};

struct age_keys *age_keys_new(void)
{
	struct age_keys *k = xcalloc(1, sizeof(*k));

	strbuf_init(&k->scrypt_stanza, 0);
	return k;
}

static void free_secret(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

void age_keys_free(struct age_keys *k)
{
	if (!k)
		return;
	free_secret(k->pass);
	free_secret(k->pass_recip);
	strbuf_release(&k->scrypt_stanza);
	OPENSSL_cleanse(k, sizeof(*k));
	free(k);
}

int age_keys_add_recipient(struct age_keys *k, const char *s, const char *where,
			   struct errbuf *e)
{
	unsigned char pub[32];
	size_t i;

	if (b32_decode(s, "age", pub, 32) || s[0] != 'a')
		return errbuf_set(e, BL_EUSAGE, "%s: \"%.80s\" is not an age X25519 recipient "
				  "(expected age1... as age-keygen prints it)", where, s);
	for (i = 0; i < k->nrecip; i++)
		if (!memcmp(k->recip[i], pub, 32))
			return 0;
	if (k->nrecip == MAX_X25519)
		return errbuf_set(e, BL_EUSAGE, "%s: more than %d recipients", where, MAX_X25519);
	memcpy(k->recip[k->nrecip], pub, 32);
	snprintf(k->recip_str[k->nrecip], sizeof(k->recip_str[0]), "%s", s);
	k->nrecip++;
	return 0;
}

static int parse_identity(const char *s, unsigned char sec[32])
{
	return (b32_decode(s, "AGE-SECRET-KEY-", sec, 32) || s[0] != 'A') ? -1 : 0;
}

int age_keys_add_identity(struct age_keys *k, const char *s, const char *where,
			  struct errbuf *e)
{
	unsigned char sec[32];

	/* Never echo the string: it may be a secret key with a typo. */
	if (parse_identity(s, sec))
		return errbuf_set(e, BL_EUSAGE, "%s: not an age X25519 identity (expected "
				  "AGE-SECRET-KEY-1... as age-keygen writes it)", where);
	if (k->nid == MAX_X25519)
		return errbuf_set(e, BL_EUSAGE, "%s: more than %d identities", where, MAX_X25519);
	memcpy(k->id_sec[k->nid], sec, 32);
	if (x25519_public(sec, k->id_pub[k->nid]))
		return crypto_fail(e, "x25519 public key");
	k->nid++;
	OPENSSL_cleanse(sec, sizeof(sec));
	return 0;
}

int age_keys_add_identity_text(struct age_keys *k, const char *text, size_t len,
			       const char *where, struct errbuf *e)
{
	size_t off = 0, before = k->nid;
	int lineno = 0, rc = 0;

	while (off < len && !rc) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - text - off) : len - off;
		char *line = xmalloc(n + 1), where2[600];
		size_t a = 0, b = n;

		memcpy(line, text + off, n);
		line[n] = 0;
		lineno++;
		while (a < b && isspace((unsigned char)line[a]))
			a++;
		while (b > a && isspace((unsigned char)line[b - 1]))
			line[--b] = 0;
		if (a < b && line[a] != '#') {
			snprintf(where2, sizeof(where2), "%s line %d", where, lineno);
			rc = age_keys_add_identity(k, line + a, where2, e);
		}
		OPENSSL_cleanse(line, n);
		free(line);
		off += n + (nl ? 1 : 0);
	}
	if (!rc && k->nid == before)
		rc = errbuf_set(e, BL_EUSAGE, "%s: no AGE-SECRET-KEY-1... identity in it", where);
	return rc;
}

int age_keys_set_passphrase(struct age_keys *k, const char *pass, int as_recipient,
			    int as_identity, int log_n, struct errbuf *e)
{
	if (!pass || !*pass)
		return errbuf_set(e, BL_EUSAGE, "age: empty passphrase");
	if (log_n < 0 || log_n > AGE_SCRYPT_LOGN_MAX)
		return errbuf_set(e, BL_EUSAGE, "age: scrypt work factor %d out of 1..%d", log_n,
				  AGE_SCRYPT_LOGN_MAX);
	if (as_recipient) {
		free_secret(k->pass_recip);
		k->pass_recip = xstrdup(pass);
		k->scrypt_ready = 0;
	}
	if (as_identity) {
		free_secret(k->pass);
		k->pass = xstrdup(pass);
		k->dcache_ok = 0;
	}
	k->log_n = log_n ? log_n : AGE_SCRYPT_LOGN;
	return 0;
}

size_t age_keys_recipient_count(const struct age_keys *k)
{
	return k->nrecip + (k->pass_recip ? 1 : 0);
}

size_t age_keys_identity_count(const struct age_keys *k)
{
	return k->nid + (k->pass ? 1 : 0);
}

const char *age_keys_recipient(const struct age_keys *k, size_t i)
{
	return i < k->nrecip ? k->recip_str[i] : NULL;
}

int age_identity_to_recipient(const char *identity, struct strbuf *out, struct errbuf *e)
{
	unsigned char sec[32], pub[32];

	if (parse_identity(identity, sec))
		return errbuf_set(e, BL_EUSAGE, "age: not an AGE-SECRET-KEY-1... identity");
	if (x25519_public(sec, pub))
		return crypto_fail(e, "x25519 public key");
	OPENSSL_cleanse(sec, sizeof(sec));
	strbuf_reset(out);
	b32_encode(out, "age", pub, 32, 0);
	return 0;
}

int age_keygen(struct strbuf *identity, struct strbuf *recipient, struct errbuf *e)
{
	unsigned char sec[32], pub[32];

	if (RAND_bytes(sec, 32) != 1 || x25519_public(sec, pub))
		return crypto_fail(e, "key generation");
	strbuf_reset(identity);
	strbuf_reset(recipient);
	b32_encode(identity, "AGE-SECRET-KEY-", sec, 32, 1);
	b32_encode(recipient, "age", pub, 32, 0);
	OPENSSL_cleanse(sec, sizeof(sec));
	return 0;
}

/* ---- header ---- */

struct stanza {
	char *line;          /* the argument line without "-> " and '\n' */
	char *args[8];       /* pointers into line; args[0] is the type */
	int nargs;
	unsigned char *body;
	size_t body_len;
};

struct header {
	struct stanza *st;
	size_t n;
	size_t mac_off;      /* bytes covered by the MAC (through "---") */
	unsigned char mac[32];
	size_t len;          /* the whole header through the MAC line's '\n' */
};

static void header_free(struct header *h)
{
	size_t i;

	for (i = 0; i < h->n; i++) {
		free(h->st[i].line);
		free(h->st[i].body);
	}
	free(h->st);
	memset(h, 0, sizeof(*h));
}

static int valid_arg(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < 33 || *s > 126)
			return 0;
	return 1;
}

/* Next line of buf at *off, without its '\n'; -1 when no '\n' is left. */
static int next_line(const char *buf, size_t len, size_t *off, const char **line, size_t *n)
{
	const char *nl;

	if (*off >= len)
		return -1;
	nl = memchr(buf + *off, '\n', len - *off);
	if (!nl)
		return -1;
	*line = buf + *off;
	*n = (size_t)(nl - (buf + *off));
	*off += *n + 1;
	return 0;
}

/* Parses a complete header (as strictly as the reference implementation:
 * anything it would not re-encode byte for byte is refused, so the MAC
 * over the raw bytes equals the MAC over the re-encoding). */
static int header_parse(const char *buf, size_t len, struct header *h, struct errbuf *e)
{
	size_t off = 0, n;
	const char *line;

	memset(h, 0, sizeof(*h));
	if (len < sizeof(AGE_INTRO) - 1 || memcmp(buf, AGE_INTRO, sizeof(AGE_INTRO) - 1))
		return errbuf_set(e, BL_EVERIFY, "not an age v1 file (expected the line "
				  "\"age-encryption.org/v1\")");
	off = sizeof(AGE_INTRO) - 1;
	for (;;) {
		size_t start = off;

		if (next_line(buf, len, &off, &line, &n))
			goto bad_end;
		if (n >= 3 && !memcmp(line, "---", 3)) {
			if (n != 4 + 43 || line[3] != ' ' ||
			    b64_decode(line + 4, 43, h->mac, 32) != 32)
				return errbuf_set(e, BL_EVERIFY, "age header: malformed MAC line");
			h->mac_off = start + 3;
			h->len = off;
			return 0;
		}
		if (n >= 2 && !memcmp(line, "->", 2)) {
			struct stanza *s;
			char *p;
			size_t bn;

			if (n < 3 || line[2] != ' ')
				return errbuf_set(e, BL_EVERIFY, "age header: malformed stanza line");
			h->st = xrealloc(h->st, (h->n + 1) * sizeof(*h->st));
			s = &h->st[h->n++];
			memset(s, 0, sizeof(*s));
			s->line = xmalloc(n - 2);
			memcpy(s->line, line + 3, n - 3);
			s->line[n - 3] = 0;
			if (memchr(line, 0, n))
				return errbuf_set(e, BL_EVERIFY, "age header: NUL in a stanza line");
			for (p = s->line;;) {
				char *sp = strchr(p, ' ');

				if (sp)
					*sp = 0;
				if (!valid_arg(p))
					return errbuf_set(e, BL_EVERIFY, "age header: bad stanza "
							  "argument");
				if (s->nargs < (int)(sizeof(s->args) / sizeof(s->args[0])))
					s->args[s->nargs] = p;
				s->nargs++;
				if (!sp)
					break;
				p = sp + 1;
			}
			for (;;) {
				long got;

				if (next_line(buf, len, &off, &line, &bn))
					goto bad_end;
				if (bn > BODY_COLS)
					return errbuf_set(e, BL_EVERIFY, "age header: stanza body "
							  "line longer than 64 columns");
				s->body = xrealloc(s->body, s->body_len + 48 + 1);
				got = b64_decode(line, bn, s->body + s->body_len, 48);
				if (got < 0)
					return errbuf_set(e, BL_EVERIFY, "age header: stanza body is "
							  "not canonical base64");
				s->body_len += (size_t)got;
				if (got < 48)
					break;
			}
			continue;
		}
		return errbuf_set(e, BL_EVERIFY, "age header: unexpected line");
	}
bad_end:
	return errbuf_set(e, BL_EVERIFY, "age header: ends before its MAC line");
}

size_t age_header_length(const void *buf, size_t len)
{
	const char *b = buf;
	size_t off = 0;

	while (off < len) {
		const char *nl = memchr(b + off, '\n', len - off);

		if (!nl)
			return 0;
		if ((size_t)(nl - (b + off)) >= 3 && !memcmp(b + off, "---", 3))
			return (size_t)(nl - b) + 1;
		off = (size_t)(nl - b) + 1;
	}
	return 0;
}

int age_is_age(const void *buf, size_t len)
{
	return len >= sizeof(AGE_INTRO) - 1 && !memcmp(buf, AGE_INTRO, sizeof(AGE_INTRO) - 1);
}

static int header_mac(const unsigned char file_key[16], const char *hdr, size_t n,
		      unsigned char out[32])
{
	unsigned char hk[32];
	unsigned int len = 32;
	int ok;

	if (hkdf(file_key, 16, NULL, 0, "header", hk, 32))
		return -1;
	ok = HMAC(EVP_sha256(), hk, 32, (const unsigned char *)hdr, n, out, &len) != NULL;
	OPENSSL_cleanse(hk, sizeof(hk));
	return ok ? 0 : -1;
}

enum unwrap { UW_OK, UW_NO, UW_BAD };

static enum unwrap unwrap_x25519(const struct age_keys *k, size_t id, const struct stanza *s,
				 unsigned char file_key[16], struct errbuf *e)
{
	unsigned char share[32], secret[32], salt[64], wk[32];
	enum unwrap r = UW_NO;

	if (strcmp(s->args[0], "X25519"))
		return UW_NO;
	if (s->nargs != 2 || strlen(s->args[1]) != 43 || b64_decode(s->args[1], 43, share, 32) != 32) {
		errbuf_set(e, BL_EVERIFY, "age header: invalid X25519 stanza");
		return UW_BAD;
	}
	if (s->body_len != WRAPPED_SIZE) {
		errbuf_set(e, BL_EVERIFY, "age header: X25519 stanza wraps a file key of the "
			   "wrong size");
		return UW_BAD;
	}
	if (x25519(k->id_sec[id], share, secret)) {
		errbuf_set(e, BL_EVERIFY, "age header: X25519 share is a low-order point");
		return UW_BAD;
	}
	memcpy(salt, share, 32);
	memcpy(salt + 32, k->id_pub[id], 32);
	if (hkdf(secret, 32, salt, 64, X25519_LABEL, wk, 32)) {
		crypto_fail(e, "hkdf");
		r = UW_BAD;
	} else if (!unwrap_key(wk, s->body, file_key)) {
		r = UW_OK;
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(wk, sizeof(wk));
	return r;
}

static int parse_log_n(const char *s)
{
	int v = 0;

	if (*s < '1' || *s > '9')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > 100)
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

static enum unwrap unwrap_scrypt(struct age_keys *k, const struct stanza *s,
				 unsigned char file_key[16], struct errbuf *e)
{
	unsigned char salt[16], wk[32];
	enum unwrap r;
	int log_n;

	if (strcmp(s->args[0], "scrypt"))
		return UW_NO;
	if (s->nargs != 3 || strlen(s->args[1]) != 22 || b64_decode(s->args[1], 22, salt, 16) != 16) {
		errbuf_set(e, BL_EVERIFY, "age header: invalid scrypt stanza salt");
		return UW_BAD;
	}
	log_n = parse_log_n(s->args[2]);
	if (log_n < 1 || log_n > AGE_SCRYPT_LOGN_MAX) {
		errbuf_set(e, BL_EVERIFY, "age header: scrypt work factor \"%.20s\" is not a "
			   "decimal 1..%d", s->args[2], AGE_SCRYPT_LOGN_MAX);
		return UW_BAD;
	}
	if (s->body_len != WRAPPED_SIZE) {
		errbuf_set(e, BL_EVERIFY, "age header: scrypt stanza wraps a file key of the "
			   "wrong size");
		return UW_BAD;
	}
	if (k->dcache_ok && k->dcache_log_n == log_n && !memcmp(k->dcache_salt, salt, 16)) {
		memcpy(wk, k->dcache_key, 32);
	} else {
		if (scrypt_key(k->pass, salt, log_n, wk)) {
			crypto_fail(e, "scrypt");
			return UW_BAD;
		}
		memcpy(k->dcache_key, wk, 32);
		memcpy(k->dcache_salt, salt, 16);
		k->dcache_log_n = log_n;
		k->dcache_ok = 1;
	}
	r = unwrap_key(wk, s->body, file_key) ? UW_NO : UW_OK;
	OPENSSL_cleanse(wk, sizeof(wk));
	return r;
}

/* "no identity matches" names what would: the recorded recipients, or the
 * stanza types. */
static int no_match(const struct header *h, struct errbuf *e)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i;
	int j;

	for (i = 0; i < h->n; i++) {
		const struct stanza *s = &h->st[i];

		if (!strcmp(s->args[0], AGE_KEYS_STANZA)) {
			for (j = 1; j < s->nargs && j < 8; j++)
				strbuf_addf(&sb, "%s%s", sb.len ? ", " : "", s->args[j]);
		}
	}
	if (sb.len) {
		errbuf_set(e, BL_EFAIL, "age: no identity opens this object; it is encrypted to "
			   "%.700s", sb.buf);
	} else {
		for (i = 0; i < h->n; i++)
			if (strcmp(h->st[i].args[0], AGE_KEYS_STANZA))
				strbuf_addf(&sb, "%s%s", sb.len ? ", " : "", h->st[i].args[0]);
		errbuf_set(e, BL_EFAIL, "age: no identity opens this object (recipient stanzas: "
			   "%.300s%s)", sb.len ? sb.buf : "none",
			   strstr(sb.buf, "scrypt") ? "; it needs the passphrase" : "");
	}
	strbuf_release(&sb);
	return BL_EFAIL;
}

/* Unwraps the file key with k's identities, X25519 ones first, and checks
 * the MAC. Returns an enum age_result. */
static enum age_result header_open(struct age_keys *k, const char *buf, const struct header *h,
				   unsigned char file_key[16], struct errbuf *e)
{
	unsigned char mac[32];
	size_t i, id;
	int found = 0;

	for (i = 0; i < h->n; i++)
		if (!strcmp(h->st[i].args[0], "scrypt") && h->n != 1) {
			errbuf_set(e, BL_EVERIFY, "age header: an scrypt stanza must be the only one");
			return AGE_RES_HEADER;
		}
	for (id = 0; id < k->nid && !found; id++)
		for (i = 0; i < h->n && !found; i++) {
			enum unwrap r = unwrap_x25519(k, id, &h->st[i], file_key, e);

			if (r == UW_BAD)
				return AGE_RES_HEADER;
			found = r == UW_OK;
		}
	if (k->pass)
		for (i = 0; i < h->n && !found; i++) {
			enum unwrap r = unwrap_scrypt(k, &h->st[i], file_key, e);

			if (r == UW_BAD)
				return AGE_RES_HEADER;
			found = r == UW_OK;
		}
	if (!found) {
		no_match(h, e);
		return AGE_RES_NO_MATCH;
	}
	if (header_mac(file_key, buf, h->mac_off, mac)) {
		crypto_fail(e, "hmac");
		return AGE_RES_HEADER;
	}
	if (CRYPTO_memcmp(mac, h->mac, 32)) {
		errbuf_set(e, BL_EVERIFY, "age header: MAC mismatch (the header was altered)");
		return AGE_RES_HMAC;
	}
	return AGE_RES_OK;
}

/* Header for k's recipients around file_key. */
static int header_write(struct age_keys *k, const unsigned char file_key[16],
			struct strbuf *out, struct errbuf *e)
{
	unsigned char mac[32];
	size_t i;

	strbuf_reset(out);
	strbuf_addstr(out, AGE_INTRO);
	if (k->pass_recip) {
		if (k->nrecip)
			return errbuf_set(e, BL_EUSAGE, "age: a passphrase must be the only recipient");
		strbuf_add(out, k->scrypt_stanza.buf, k->scrypt_stanza.len);
	}
	for (i = 0; i < k->nrecip; i++) {
		unsigned char eph[32], share[32], secret[32], salt[64], wk[32], body[WRAPPED_SIZE];
		int bad;

		bad = RAND_bytes(eph, 32) != 1 || x25519_public(eph, share) ||
		      x25519(eph, k->recip[i], secret);
		if (!bad) {
			memcpy(salt, share, 32);
			memcpy(salt + 32, k->recip[i], 32);
			bad = hkdf(secret, 32, salt, 64, X25519_LABEL, wk, 32) ||
			      wrap_key(wk, file_key, body);
		}
		OPENSSL_cleanse(eph, sizeof(eph));
		OPENSSL_cleanse(secret, sizeof(secret));
		OPENSSL_cleanse(wk, sizeof(wk));
		if (bad)
			return errbuf_set(e, BL_EUSAGE, "age: cannot encrypt to recipient %s (not a "
					  "usable X25519 public key)", k->recip_str[i]);
		strbuf_addstr(out, "-> X25519 ");
		b64_encode(out, share, 32);
		strbuf_addch(out, '\n');
		body_encode(out, body, sizeof(body));
	}
	if (k->nrecip) {
		strbuf_addstr(out, "-> " AGE_KEYS_STANZA);
		for (i = 0; i < k->nrecip; i++)
			strbuf_addf(out, " %s", k->recip_str[i]);
		strbuf_addstr(out, "\n\n");
	}
	if (!k->nrecip && !k->pass_recip)
		return errbuf_set(e, BL_EUSAGE, "age: no recipients to encrypt to");
	strbuf_addstr(out, "---");
	if (header_mac(file_key, out->buf, out->len, mac))
		return crypto_fail(e, "hmac");
	strbuf_addch(out, ' ');
	b64_encode(out, mac, 32);
	strbuf_addch(out, '\n');
	return 0;
}

static int scrypt_prepare(struct age_keys *k, struct errbuf *e)
{
	unsigned char salt[16], wk[32], body[WRAPPED_SIZE];
	int bad;

	if (!k->pass_recip || k->scrypt_ready)
		return 0;
	bad = RAND_bytes(salt, 16) != 1 || RAND_bytes(k->scrypt_file_key, 16) != 1 ||
	      scrypt_key(k->pass_recip, salt, k->log_n, wk) || wrap_key(wk, k->scrypt_file_key, body);
	OPENSSL_cleanse(wk, sizeof(wk));
	if (bad)
		return crypto_fail(e, "scrypt");
	strbuf_reset(&k->scrypt_stanza);
	strbuf_addstr(&k->scrypt_stanza, "-> scrypt ");
	b64_encode(&k->scrypt_stanza, salt, 16);
	strbuf_addf(&k->scrypt_stanza, " %d\n", k->log_n);
	body_encode(&k->scrypt_stanza, body, sizeof(body));
	k->scrypt_ready = 1;
	return 0;
}

int age_rewrap_header(struct age_keys *old, const void *hdr, size_t hdr_len,
		      struct age_keys *nk, struct strbuf *out, struct errbuf *e)
{
	struct header h;
	unsigned char fk[16];
	int rc;

	rc = header_parse(hdr, hdr_len, &h, e);
	if (!rc && h.len != hdr_len)
		rc = errbuf_set(e, BL_EVERIFY, "age header: trailing bytes after the MAC line");
	if (!rc && header_open(old, hdr, &h, fk, e) != AGE_RES_OK)
		rc = e->code ? e->code : BL_EVERIFY;
	if (!rc && nk->pass_recip)
		rc = errbuf_set(e, BL_EUSAGE, "age: rewrapping to a passphrase is not supported "
				"(a passphrase session shares one file key)");
	if (!rc)
		rc = header_write(nk, fk, out, e);
	OPENSSL_cleanse(fk, sizeof(fk));
	header_free(&h);
	return rc;
}

/* ---- STREAM ---- */

static void stream_nonce(unsigned char n[12], unsigned long long counter, int last)
{
	int i;

	for (i = 10; i >= 0; i--) {
		n[i] = (unsigned char)(counter & 0xff);
		counter >>= 8;
	}
	n[11] = last ? 1 : 0;
}

struct age_enc {
	age_sink_fn sink;
	void *ctx;
	EVP_CIPHER_CTX *cipher;
	unsigned char key[32];
	unsigned long long counter;
	size_t plen;
	unsigned char plain[AGE_CHUNK_SIZE];
	unsigned char out[CHUNK_CT];
	int done;
};

int age_enc_new(struct age_keys *k, age_sink_fn sink, void *ctx, struct age_enc **out,
		struct errbuf *e)
{
	struct age_enc *c = xcalloc(1, sizeof(*c));
	struct strbuf hdr = STRBUF_INIT;
	unsigned char fk[16], nonce[AGE_NONCE_SIZE];
	int rc;

	*out = NULL;
	c->sink = sink;
	c->ctx = ctx;
	c->cipher = EVP_CIPHER_CTX_new();
	rc = scrypt_prepare(k, e);
	if (rc)
		goto out;
	if (k->pass_recip)
		memcpy(fk, k->scrypt_file_key, 16);
	else if (RAND_bytes(fk, 16) != 1) {
		rc = crypto_fail(e, "random");
		goto out;
	}
	rc = header_write(k, fk, &hdr, e);
	if (rc)
		goto out;
	if (!c->cipher || RAND_bytes(nonce, sizeof(nonce)) != 1 ||
	    hkdf(fk, 16, nonce, sizeof(nonce), "payload", c->key, 32)) {
		rc = crypto_fail(e, "payload key");
		goto out;
	}
	strbuf_add(&hdr, nonce, sizeof(nonce));
	rc = sink(ctx, hdr.buf, hdr.len, e);
out:
	OPENSSL_cleanse(fk, sizeof(fk));
	strbuf_release(&hdr);
	if (rc)
		age_enc_free(c);
	else
		*out = c;
	return rc;
}

static int enc_chunk(struct age_enc *c, int last, struct errbuf *e)
{
	unsigned char n[12];
	size_t plen = c->plen;

	stream_nonce(n, c->counter, last);
	if (aead_seal(c->cipher, c->key, n, c->plain, plen, c->out))
		return crypto_fail(e, "chacha20-poly1305");
	c->counter++;
	c->plen = 0;
	return c->sink(c->ctx, c->out, plen + AGE_TAG_SIZE, e);
}

int age_enc_write(struct age_enc *c, const void *buf, size_t len, struct errbuf *e)
{
	const unsigned char *p = buf;
	int rc;

	while (len) {
		size_t take;

		/* A full chunk waits for more data: only then is it not the last. */
		if (c->plen == AGE_CHUNK_SIZE && (rc = enc_chunk(c, 0, e)))
			return rc;
		take = AGE_CHUNK_SIZE - c->plen;
		if (take > len)
			take = len;
		memcpy(c->plain + c->plen, p, take);
		c->plen += take;
		p += take;
		len -= take;
	}
	return 0;
}

int age_enc_finish(struct age_enc *c, struct errbuf *e)
{
	if (c->done)
		return 0;
	c->done = 1;
	return enc_chunk(c, 1, e);
}

void age_enc_free(struct age_enc *c)
{
	if (!c)
		return;
	EVP_CIPHER_CTX_free(c->cipher);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

enum dec_state { D_HEADER, D_NONCE, D_STREAM, D_DONE, D_FAILED };

struct age_dec {
	struct age_keys *keys;
	age_sink_fn sink;
	void *ctx;
	EVP_CIPHER_CTX *cipher;
	enum dec_state st;
	enum age_result res;
	struct strbuf hdr;
	size_t scanned;      /* hdr bytes already searched for the MAC line */
	size_t hdr_len;
	unsigned char file_key[16];
	unsigned char nonce[AGE_NONCE_SIZE];
	size_t nlen;
	unsigned char key[32];
	unsigned long long counter;
	size_t clen;
	unsigned char in[CHUNK_CT];
	unsigned char out[AGE_CHUNK_SIZE];
};

int age_dec_new(struct age_keys *k, age_sink_fn sink, void *ctx, struct age_dec **out,
		struct errbuf *e)
{
	struct age_dec *d = xcalloc(1, sizeof(*d));

	d->keys = k;
	d->sink = sink;
	d->ctx = ctx;
	strbuf_init(&d->hdr, 0);
	d->cipher = EVP_CIPHER_CTX_new();
	if (!d->cipher) {
		age_dec_free(d);
		*out = NULL;
		return crypto_fail(e, "cipher context");
	}
	*out = d;
	return 0;
}

static int dec_fail(struct age_dec *d, enum age_result r, int code, struct errbuf *e,
		    const char *msg)
{
	d->st = D_FAILED;
	d->res = r;
	if (msg)
		errbuf_set(e, code, "%s", msg);
	return e->code ? e->code : code;
}

static int dec_header_done(struct age_dec *d, struct errbuf *e)
{
	struct header h;
	enum age_result r;
	int rc;

	rc = header_parse(d->hdr.buf, d->hdr_len, &h, e);
	if (rc) {
		header_free(&h);
		return dec_fail(d, AGE_RES_HEADER, BL_EVERIFY, e, NULL);
	}
	r = header_open(d->keys, d->hdr.buf, &h, d->file_key, e);
	header_free(&h);
	if (r != AGE_RES_OK)
		return dec_fail(d, r, r == AGE_RES_NO_MATCH ? BL_EFAIL : BL_EVERIFY, e, NULL);
	d->st = D_NONCE;
	return 0;
}

/* Opens the chunk in d->in as the given kind; 0 when the tag verified. */
static int dec_open(struct age_dec *d, int last)
{
	unsigned char n[12];

	if (d->clen < AGE_TAG_SIZE)
		return -1;
	stream_nonce(n, d->counter, last);
	return aead_open(d->cipher, d->key, n, d->in, d->clen - AGE_TAG_SIZE, d->out);
}

/* Decrypts the buffered chunk. at_end: no byte follows it. */
static int dec_chunk(struct age_dec *d, int at_end, struct errbuf *e)
{
	size_t plen = d->clen - (d->clen >= AGE_TAG_SIZE ? AGE_TAG_SIZE : d->clen);
	int last = 0, rc;

	if (d->clen < CHUNK_CT) {
		/* A short chunk can only be the last, and only the first chunk
		 * (an empty file) may be empty. */
		if (d->clen == AGE_TAG_SIZE && d->counter)
			return dec_fail(d, AGE_RES_PAYLOAD, BL_EVERIFY, e,
					"age payload: empty final chunk after other chunks");
		if (dec_open(d, 1))
			return dec_fail(d, AGE_RES_PAYLOAD, BL_EVERIFY, e,
					"age payload: chunk failed authentication (damaged or "
					"truncated)");
		last = 1;
	} else if (dec_open(d, 0)) {
		if (dec_open(d, 1))
			return dec_fail(d, AGE_RES_PAYLOAD, BL_EVERIFY, e,
					"age payload: chunk failed authentication (damaged or "
					"reordered)");
		last = 1;
	}
	d->counter++;
	d->clen = 0;
	rc = plen ? d->sink(d->ctx, d->out, plen, e) : 0;
	if (rc)
		return dec_fail(d, AGE_RES_PAYLOAD, rc, e, NULL);
	if (last && !at_end)
		return dec_fail(d, AGE_RES_PAYLOAD, BL_EVERIFY, e,
				"age payload: data after the final chunk");
	if (!last && at_end)
		return dec_fail(d, AGE_RES_PAYLOAD, BL_EVERIFY, e,
				"age payload: truncated (no final chunk)");
	if (last)
		d->st = D_DONE;
	return 0;
}

int age_dec_write(struct age_dec *d, const void *buf, size_t len, struct errbuf *e)
{
	const unsigned char *p = buf;
	int rc;

	while (len) {
		switch (d->st) {
		case D_HEADER: {
			size_t take = len, hl;

			/* Take at most one line at a time so payload bytes stay out
			 * of the header buffer. */
			const unsigned char *nl = memchr(p, '\n', len);

			if (nl)
				take = (size_t)(nl - p) + 1;
			if (d->hdr.len + take > AGE_HEADER_MAX)
				return dec_fail(d, AGE_RES_HEADER, BL_EVERIFY, e,
						"age header: longer than 256 KiB");
			strbuf_add(&d->hdr, p, take);
			p += take;
			len -= take;
			if (!nl)
				break;
			hl = age_header_length(d->hdr.buf + d->scanned, d->hdr.len - d->scanned);
			if (!hl) {
				d->scanned = d->hdr.len;
				break;
			}
			d->hdr_len = d->scanned + hl;
			rc = dec_header_done(d, e);
			if (rc)
				return rc;
			break;
		}
		case D_NONCE: {
			size_t take = AGE_NONCE_SIZE - d->nlen;

			if (take > len)
				take = len;
			memcpy(d->nonce + d->nlen, p, take);
			d->nlen += take;
			p += take;
			len -= take;
			if (d->nlen == AGE_NONCE_SIZE) {
				if (hkdf(d->file_key, 16, d->nonce, AGE_NONCE_SIZE, "payload",
					 d->key, 32))
					return dec_fail(d, AGE_RES_PAYLOAD, BL_EFAIL, e,
							"age: hkdf failed in libcrypto");
				d->st = D_STREAM;
			}
			break;
		}
		case D_STREAM: {
			size_t take;

			if (d->clen == CHUNK_CT && (rc = dec_chunk(d, 0, e)))
				return rc;
			take = CHUNK_CT - d->clen;
			if (take > len)
				take = len;
			memcpy(d->in + d->clen, p, take);
			d->clen += take;
			p += take;
			len -= take;
			break;
		}
		case D_DONE:
			return dec_fail(d, AGE_RES_PAYLOAD, BL_EVERIFY, e,
					"age payload: data after the final chunk");
		case D_FAILED:
			return errbuf_set(e, BL_EVERIFY, "age: decryption already failed");
		}
	}
	return 0;
}

int age_dec_finish(struct age_dec *d, struct errbuf *e)
{
	switch (d->st) {
	case D_HEADER:
		return dec_fail(d, AGE_RES_HEADER, BL_EVERIFY, e,
				d->hdr.len ? "age header: ends before its MAC line"
					   : "age: empty object (expected an age header)");
	case D_NONCE:
		return dec_fail(d, AGE_RES_HEADER, BL_EVERIFY, e,
				"age: the payload nonce is cut short");
	case D_STREAM:
		if (!d->clen)
			return dec_fail(d, AGE_RES_PAYLOAD, BL_EVERIFY, e,
					"age payload: truncated (no final chunk)");
		return dec_chunk(d, 1, e);
	case D_DONE:
		return 0;
	case D_FAILED:
		break;
	}
	return e->code ? e->code : BL_EVERIFY;
}

enum age_result age_dec_result(const struct age_dec *d)
{
	return d->res;
}

int age_dec_ready(const struct age_dec *d)
{
	return d->st == D_STREAM || d->st == D_DONE;
}

long long age_dec_payload_offset(const struct age_dec *d)
{
	return (long long)d->hdr_len + AGE_NONCE_SIZE;
}

long long age_dec_chunk_offset(const struct age_dec *d, long long i)
{
	return age_dec_payload_offset(d) + i * (long long)CHUNK_CT;
}

int age_dec_seek(struct age_dec *d, long long chunk, struct errbuf *e)
{
	if (!age_dec_ready(d) || chunk < 0)
		return errbuf_set(e, BL_EFAIL, "age: seek before the header was read");
	d->counter = (unsigned long long)chunk;
	d->clen = 0;
	d->st = D_STREAM;
	return 0;
}

void age_dec_free(struct age_dec *d)
{
	if (!d)
		return;
	EVP_CIPHER_CTX_free(d->cipher);
	strbuf_release(&d->hdr);
	OPENSSL_cleanse(d, sizeof(*d));
	free(d);
}

long long age_plain_size(long long payload_offset, long long cipher_size)
{
	long long p = cipher_size - payload_offset, full, rest;

	if (p < AGE_TAG_SIZE)
		return -1;
	full = p / CHUNK_CT;
	rest = p % CHUNK_CT;
	if (rest == 0)
		return full * AGE_CHUNK_SIZE;
	if (rest < AGE_TAG_SIZE || (rest == AGE_TAG_SIZE && full))
		return -1;
	return full * AGE_CHUNK_SIZE + rest - AGE_TAG_SIZE;
}
