/*
 * age: the age v1 file format (C2SP age spec, https://age-encryption.org/v1)
 * on OpenSSL's libcrypto: X25519 and scrypt recipients, the header with its
 * HMAC, and the STREAM payload in 64 KiB chunks.
 *
 * Contract:
 * - Keys live in a struct age_keys: recipients (what to encrypt to: age1...
 *   X25519 public keys, or one passphrase) and identities (what to decrypt
 *   with: AGE-SECRET-KEY-1... X25519 secret keys, passphrases). Parsing a
 *   malformed key is BL_EUSAGE naming where it came from, never echoing a
 *   secret.
 * - Encryption and decryption are filters into a sink callback, like
 *   zstream: memory is fixed at creation (one chunk in, one chunk out, and a
 *   header capped at AGE_HEADER_MAX), never growing with the data.
 * - Decryption releases a chunk's plaintext only after its tag verified; a
 *   failure after some chunks leaves those released (the age spec's
 *   behaviour, which the CCTV vectors check). Failures are classified
 *   (age_dec_result) the way the CCTV vectors name them; the errbuf code is
 *   BL_EFAIL when no identity matches (the message names the recipients the
 *   file records, or the stanza types), BL_EVERIFY for a malformed header, a
 *   wrong header MAC or a damaged payload.
 * - Seekable: once the header is read, age_dec_seek() points the decryptor
 *   at chunk i; the caller then feeds ciphertext from age_dec_chunk_offset()
 *   on (a ranged read), and the last chunk is recognised at the end of the
 *   input as usual.
 * - A passphrase recipient is scrypt (work factor AGE_SCRYPT_LOGN unless set)
 *   and, as the spec requires, the only recipient. One struct age_keys wraps
 *   a single random file key under one scrypt stanza and reuses both for
 *   every file it encrypts (each file's payload key still differs, derived
 *   from its own random 16-byte nonce): one scrypt per session instead of
 *   one per object. Decryption caches the last scrypt-derived key the same
 *   way.
 * - X25519 headers also carry a "ballast-recipients" stanza listing the age1
 *   public keys the file was encrypted to (stock age ignores unknown
 *   stanzas), so "no identity matches" can name the key that would open it.
 */
#ifndef BALLAST_AGE_H
#define BALLAST_AGE_H

#include <stddef.h>
#include <stdint.h>

#include "errbuf.h"
#include "strbuf.h"

#define AGE_CHUNK_SIZE 65536
#define AGE_TAG_SIZE 16
#define AGE_NONCE_SIZE 16
#define AGE_FILE_KEY_SIZE 16
#define AGE_HEADER_MAX (256 * 1024)
#define AGE_SCRYPT_LOGN 18
#define AGE_SCRYPT_LOGN_MAX 22
#define AGE_INTRO "age-encryption.org/v1\n"
#define AGE_KEYS_STANZA "ballast-recipients"

typedef int (*age_sink_fn)(void *ctx, const void *buf, size_t len, struct errbuf *e);

enum age_result {
	AGE_RES_OK = 0,
	AGE_RES_HEADER,    /* the header does not parse (or a stanza is invalid) */
	AGE_RES_NO_MATCH,  /* no identity unwraps any stanza */
	AGE_RES_HMAC,      /* a file key unwrapped but the header MAC is wrong */
	AGE_RES_PAYLOAD    /* the STREAM payload is damaged, truncated or extended */
};

struct age_keys;

struct age_keys *age_keys_new(void);
void age_keys_free(struct age_keys *k);
/* "age1..." (lowercase Bech32); where names the source in errors. */
int age_keys_add_recipient(struct age_keys *k, const char *s, const char *where,
			   struct errbuf *e);
/* "AGE-SECRET-KEY-1..." (uppercase Bech32). Also usable as a recipient
 * (its public key) only through age_keys_add_recipient. */
int age_keys_add_identity(struct age_keys *k, const char *s, const char *where,
			  struct errbuf *e);
/* An identity file as age-keygen writes it: one key a line, '#' comments
 * and blank lines ignored; at least one key. */
int age_keys_add_identity_text(struct age_keys *k, const char *text, size_t len,
			       const char *where, struct errbuf *e);
/* A passphrase, as recipient (encrypt: only recipient allowed) and/or
 * identity (decrypt). log_n 0 = AGE_SCRYPT_LOGN. */
int age_keys_set_passphrase(struct age_keys *k, const char *pass, int as_recipient,
			    int as_identity, int log_n, struct errbuf *e);
size_t age_keys_recipient_count(const struct age_keys *k);
size_t age_keys_identity_count(const struct age_keys *k);
/* The i-th X25519 recipient as "age1..." (NULL past the end). */
const char *age_keys_recipient(const struct age_keys *k, size_t i);

/* The public "age1..." key of an "AGE-SECRET-KEY-1..." identity. */
int age_identity_to_recipient(const char *identity, struct strbuf *out, struct errbuf *e);
/* A fresh X25519 identity and its recipient (tests, docs examples). */
int age_keygen(struct strbuf *identity, struct strbuf *recipient, struct errbuf *e);

/* Encryption. The header and nonce reach the sink from age_enc_new. */
struct age_enc;
int age_enc_new(struct age_keys *k, age_sink_fn sink, void *ctx, struct age_enc **out,
		struct errbuf *e);
int age_enc_write(struct age_enc *c, const void *buf, size_t len, struct errbuf *e);
/* Seals the last chunk (possibly empty). */
int age_enc_finish(struct age_enc *c, struct errbuf *e);
void age_enc_free(struct age_enc *c);

/* Decryption. */
struct age_dec;
int age_dec_new(struct age_keys *k, age_sink_fn sink, void *ctx, struct age_dec **out,
		struct errbuf *e);
int age_dec_write(struct age_dec *d, const void *buf, size_t len, struct errbuf *e);
/* Checks that the input ended after a final chunk. */
int age_dec_finish(struct age_dec *d, struct errbuf *e);
enum age_result age_dec_result(const struct age_dec *d);
/* 1 once the header and nonce are read and the file key unwrapped. */
int age_dec_ready(const struct age_dec *d);
/* Byte offset of the payload (header + nonce), valid when ready. */
long long age_dec_payload_offset(const struct age_dec *d);
/* Ciphertext offset of chunk i, and restart the stream at chunk i. */
long long age_dec_chunk_offset(const struct age_dec *d, long long i);
int age_dec_seek(struct age_dec *d, long long chunk, struct errbuf *e);
void age_dec_free(struct age_dec *d);

/* Plaintext size of an age file of cipher_size bytes whose payload starts
 * at payload_offset; -1 when the size cannot be a valid STREAM. */
long long age_plain_size(long long payload_offset, long long cipher_size);
/* 1 when buf starts with the age v1 intro line. */
int age_is_age(const void *buf, size_t len);

/* Rewrap: read a complete header (up to and including the MAC line) with
 * old's identities and write a new header with the same file key for new's
 * recipients into out; the payload that follows stays valid as is. */
int age_rewrap_header(struct age_keys *old, const void *hdr, size_t hdr_len,
		      struct age_keys *nk, struct strbuf *out, struct errbuf *e);
/* Length of the header at the start of buf (through the MAC line), or 0 if
 * buf does not hold a complete one. */
size_t age_header_length(const void *buf, size_t len);

#endif
