/*
 * repo_crypt: client-side encryption of every object, as a repository
 * driver that wraps another (a decorator over struct repo_ops).
 *
 * Contract: repo_crypt_wrap() (repo_driver.h) takes the config's "encryption" object and an
 * open repository and returns one whose writers encrypt (age v1, lib/io/age.h)
 * what callers write, and whose readers decrypt, so callers keep storing
 * zstd bytes and checking their SHA-256 as before. Keys, listing, sizes
 * (ciphertext), deletion and atomic commits are the inner driver's.
 *
 * Fail closed:
 * - a malformed recipient, a recipient libcrypto cannot encrypt to, an unset
 *   passphrase_env, recipients and a passphrase together, an unreadable or
 *   malformed identity_file / identity_env: BL_EUSAGE from repo_crypt_wrap,
 *   before any object is written;
 * - no recipient and no passphrase: every writer_open is refused (a host
 *   configured to read only never stores plaintext);
 * - an object without an age header is refused on read (a plaintext object
 *   substituted into an encrypted repository is not trusted).
 * The ciphertext's size and SHA-256 are computed as objects are written
 * and read (repo_crypt_stored), for the plaintext index; once a caller has
 * said what an index records of an object (repo_crypt_expect), every read
 * of it through r checks its ciphertext as it streams: a read past the
 * recorded size fails at once, and the read that finds the end (and so
 * every object reader, objread.h, at the same point as its own checks)
 * returns BL_EVERIFY when the size or the SHA-256 differ.
 * identity_command runs once, at the first read (never on a write-only
 * run), from argv without a shell; its stdout is the identity file text.
 * When no identity opens an object the error is one line naming the
 * repository, the key and the age1 recipients (or "passphrase") that would.
 * Secrets are read from the environment or the files named, never from
 * argv, and never appear in messages.
 */
#ifndef BALLAST_REPO_CRYPT_H
#define BALLAST_REPO_CRYPT_H

#include <jansson.h>

#include "errbuf.h"
#include "repo.h"
#include "zstream.h"

/* repo_crypt_wrap() is declared in repo_driver.h: repo_open calls it, and
 * repo.c must not include this header (modules do not include each other). */

/* Key rotation: rewrite key's age header so that exactly r's current
 * recipients can open it, unwrapping the file key with r's identities; the
 * payload bytes are copied as stored, never decrypted. The object is
 * rewritten through the inner driver's atomic write (a whole new object:
 * the header's length changes with the recipients). *changed = 0 when its
 * header already names exactly these recipients (the object is then read
 * to its end anyway, so repo_crypt_stored knows it). BL_EUSAGE when r has no
 * X25519 recipients (a passphrase cannot be rewrapped: its file key is
 * shared by a session) or is not encrypting. */
int repo_crypt_rekey(struct repo *r, const char *key, int *changed, struct errbuf *e);

/* 1 when r encrypts (is a repo_crypt wrapper). */
int repo_crypt_enabled(const struct repo *r);

/* 1 when r can decrypt: it is not encrypting, or it has an identity (or an
 * identity_command still to run, or one that failed: its error is what a
 * read reports). 0 on a write-only host, which works from the plaintext
 * index (backup_index.h) instead of the manifests. */
int repo_crypt_can_read(const struct repo *r);

/* The ciphertext of key as this process last stored it (a committed write,
 * a rekey) or read it to its end with every chunk authenticated: its size
 * and SHA-256 (hex). 1 when known, 0 when not (or r does not encrypt).
 * This is what the plaintext index records and is checked against,
 * without a second read of any object. */
int repo_crypt_stored(struct repo *r, const char *key, long long *size,
		      char sha256[ZSTREAM_SHA256_HEX]);

/* From now on, every read of key through r must find a ciphertext of size
 * bytes whose SHA-256 is sha256 (hex), else BL_EVERIFY at the end of the
 * stream: "<by>: object <key>: stored sha256 ..., the index records ...".
 * by names the record ("backup <id>: index.json"). Storing key through r
 * (a write, a rekey) drops the expectation. A no-op when r does not
 * encrypt. */
void repo_crypt_expect(struct repo *r, const char *key, long long size, const char *sha256,
		       const char *by);

/* The driver below the encryption (r itself when r does not encrypt):
 * the plaintext index and report summaries are stored through it, and a
 * write-only host checks the ciphertext's size and hash through it. */
struct repo *repo_crypt_inner(struct repo *r);

#endif
