/*
 * The encrypting repository driver: age v1 around every object of an inner
 * driver (contract in repo_crypt.h).
 */
#include "repo_crypt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "age.h"
#include "config.h"
#include "proc.h"
#include "repo_driver.h"
#include "xalloc.h"
#include "zstream.h"

/* An identity file is a few lines; anything larger is not one. */
#define IDENTITY_MAX (64 * 1024)
#define IDENTITY_COMMAND_TIMEOUT_MS (120 * 1000)
/* Ciphertext read from the inner driver per step: one STREAM chunk. */
#define READ_STEP (AGE_CHUNK_SIZE + AGE_TAG_SIZE)

struct crypt_state {
	struct repo *inner;
	struct age_keys *keys;
	int can_write;
	json_t *identity_command;   /* run at the first read, then NULL */
	struct errbuf command_error; /* its failure, repeated to every read */
	/* key -> {"size", "sha256"} of the ciphertext of every object this
	 * process committed or read to its end (repo_crypt_stored) */
	json_t *stored;
	/* key -> {"size", "sha256", "by"}: what a plaintext index says key's
	 * ciphertext is (repo_crypt_expect), checked as it is read */
	json_t *expect;
};

struct repo_writer {
	const struct repo_ops *ops;
	struct repo *r;
	struct repo_writer *inner;
	struct age_enc *enc;
	char *key;
	struct zhash *h;   /* of the ciphertext, for the plaintext index */
	long long size;
};

struct repo_reader {
	const struct repo_ops *ops;
	struct repo *r;
	struct repo_reader *inner;
	struct age_dec *dec;
	char *key;
	struct zhash *h;   /* of the ciphertext read */
	long long size;
	struct strbuf pending;   /* decrypted, not yet handed out */
	size_t pos;
	int eof;
	unsigned char *buf;
	/* the object's first bytes, to tell a plaintext object from a damaged
	 * age file (inner reads may be short) */
	unsigned char head[sizeof(AGE_INTRO) - 1];
	size_t head_len;
};

static const struct repo_ops crypt_ops, crypt_ops_torn;

static struct crypt_state *state_of(struct repo *r)
{
	return r->state;
}

/* Remember what key holds as stored, once it is whole; its hash into hex. */
static void note_stored(struct repo *r, const char *key, long long size, struct zhash *h,
			char hex[ZSTREAM_SHA256_HEX])
{
	zhash_final(h, hex);
	json_object_set_new(state_of(r)->stored, key, json_pack("{s:I, s:s}", "size",
								(json_int_t)size, "sha256", hex));
}

/* This process has just stored key: what an index said of the old bytes
 * no longer applies (the caller records the new ones). */
static void forget_expected(struct repo *r, const char *key)
{
	json_object_del(state_of(r)->expect, key);
}

/* key's ciphertext as read (size so far, or at the end with its hash)
 * against what the index says: the stored bytes must be the ones the
 * backup recorded, not only bytes that decrypt to the same plaintext. */
static int check_expected(struct repo_reader *rd, const char *sha256, struct errbuf *e)
{
	json_t *x = json_object_get(state_of(rd->r)->expect, rd->key);
	long long want = x ? (long long)json_integer_value(json_object_get(x, "size")) : 0;
	const char *want_sha = json_string_value(json_object_get(x, "sha256"));
	const char *by = json_string_value(json_object_get(x, "by"));

	if (!x)
		return 0;
	if (rd->size > want)
		return errbuf_set(e, BL_EVERIFY, "%s: object %s: larger than the %lld stored "
				  "bytes the index records (the object was replaced, or the "
				  "plaintext index altered)", by, rd->key, want);
	if (sha256 && rd->size != want)
		return errbuf_set(e, BL_EVERIFY, "%s: object %s: stored size %lld, the index "
				  "records %lld (the object was replaced, or the plaintext index "
				  "altered)", by, rd->key, rd->size, want);
	if (sha256 && strcmp(sha256, want_sha))
		return errbuf_set(e, BL_EVERIFY, "%s: object %s: stored sha256 %.12s..., the "
				  "index records %.12s... (the object was replaced, or the "
				  "plaintext index altered)", by, rd->key, sha256, want_sha);
	return 0;
}

static int inner_sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	struct repo_writer *w = ctx;

	zhash_update(w->h, buf, len);
	w->size += (long long)len;
	return repo_writer_write(w->inner, buf, len, e);
}

static void writer_free(struct repo_writer *w)
{
	age_enc_free(w->enc);
	zhash_free(w->h);
	free(w->key);
	free(w);
}

static int crypt_writer_open(struct repo *r, const char *key, long long size_hint,
			     struct repo_writer **out, struct errbuf *e)
{
	struct crypt_state *s = state_of(r);
	struct repo_writer *w;
	long long hint = size_hint;
	int rc;

	if (!s->can_write)
		return errbuf_set(e, BL_EUSAGE, "repo %s: %s: encryption has no recipients "
				  "(encryption.recipients or encryption.passphrase_env); refusing "
				  "to store it unencrypted", repo_describe(r), key);
	/* header (< 4 KiB) + nonce + a tag per chunk */
	if (hint >= 0)
		hint += 4096 + (hint / AGE_CHUNK_SIZE + 1) * AGE_TAG_SIZE;
	w = xcalloc(1, sizeof(*w));
	w->ops = r->ops;
	w->r = r;
	w->key = xstrdup(key);
	w->h = zhash_new();
	rc = repo_writer_open(s->inner, key, hint, &w->inner, e);
	if (!rc) {
		rc = age_enc_new(s->keys, inner_sink, w, &w->enc, e);
		if (rc)
			errbuf_prefix(e, "repo %s: %s: ", repo_describe(r), key);
	}
	if (rc) {
		repo_writer_abort(w->inner);
		writer_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

static int crypt_writer_write(struct repo_writer *w, const void *buf, size_t len,
			      struct errbuf *e)
{
	return age_enc_write(w->enc, buf, len, e);
}

static int crypt_writer_commit(struct repo_writer *w, struct errbuf *e)
{
	char hex[ZSTREAM_SHA256_HEX];
	int rc = age_enc_finish(w->enc, e);

	if (rc)
		repo_writer_abort(w->inner);
	else
		rc = repo_writer_commit(w->inner, e);
	if (!rc) {
		note_stored(w->r, w->key, w->size, w->h, hex);
		forget_expected(w->r, w->key);
	}
	writer_free(w);
	return rc;
}

static void crypt_writer_abort(struct repo_writer *w)
{
	repo_writer_abort(w->inner);
	writer_free(w);
}

/* identity_command: argv, no shell; stdout is an identity file. */
static int run_identity_command(struct repo *r, struct errbuf *e)
{
	struct crypt_state *s = state_of(r);
	struct strbuf out = STRBUF_INIT;
	const char **argv;
	size_t i, n = json_array_size(s->identity_command);
	int rc;

	argv = xcalloc(n + 1, sizeof(*argv));
	for (i = 0; i < n; i++)
		argv[i] = json_string_value(json_array_get(s->identity_command, i));
	rc = proc_run(argv, NULL, NULL, &out, IDENTITY_COMMAND_TIMEOUT_MS, e);
	if (rc)
		errbuf_prefix(e, "encryption.identity_command: ");
	else
		rc = age_keys_add_identity_text(s->keys, out.buf, out.len,
						"encryption.identity_command output", e);
	OPENSSL_cleanse(out.buf, out.len);
	strbuf_release(&out);
	free(argv);
	json_decref(s->identity_command);
	s->identity_command = NULL;
	/* Callers that tolerate a failed read (a status lookup) must not make
	 * later reads look like "no identity": the failure sticks. */
	if (rc)
		s->command_error = *e;
	return rc;
}

static int plain_sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	struct repo_reader *rd = ctx;

	strbuf_add(&rd->pending, buf, len);
	return 0;
}

static int crypt_reader_open(struct repo *r, const char *key, struct repo_reader **out,
			     struct errbuf *e)
{
	struct crypt_state *s = state_of(r);
	struct repo_reader *rd;
	int rc;

	if (s->command_error.code) {
		*e = s->command_error;
		return e->code;
	}
	if (s->identity_command) {
		rc = run_identity_command(r, e);
		if (rc)
			return rc;
	}
	rd = xcalloc(1, sizeof(*rd));
	rd->ops = r->ops;
	rd->r = r;
	rd->key = xstrdup(key);
	rd->h = zhash_new();
	strbuf_init(&rd->pending, 2 * AGE_CHUNK_SIZE);
	rd->buf = xmalloc(READ_STEP);
	rc = repo_reader_open(s->inner, key, &rd->inner, e);
	if (!rc)
		rc = age_dec_new(s->keys, plain_sink, rd, &rd->dec, e);
	if (rc) {
		rd->ops->reader_close(rd);
		return rc;
	}
	*out = rd;
	return 0;
}

/* Feeds one step of ciphertext to the decryptor. */
static int fill(struct repo_reader *rd, struct errbuf *e)
{
	char hex[ZSTREAM_SHA256_HEX];
	size_t got;
	int rc = repo_reader_read(rd->inner, rd->buf, READ_STEP, &got, e);

	if (rc)
		return rc;
	if (!got) {
		rd->eof = 1;
		rc = age_dec_finish(rd->dec, e);
		if (!rc) {
			note_stored(rd->r, rd->key, rd->size, rd->h, hex);
			rc = check_expected(rd, hex, e);
			if (rc)
				return rc;   /* it names the object and the index */
		}
	} else {
		zhash_update(rd->h, rd->buf, got);
		rd->size += (long long)got;
		/* a longer object fails at once, not after all of it is read */
		if ((rc = check_expected(rd, NULL, e)))
			return rc;
		if (rd->head_len < sizeof(rd->head)) {
			size_t n = sizeof(rd->head) - rd->head_len;

			if (n > got)
				n = got;
			memcpy(rd->head + rd->head_len, rd->buf, n);
			rd->head_len += n;
			if (rd->head_len == sizeof(rd->head) && !age_is_age(rd->head, rd->head_len))
				return errbuf_set(e, BL_EVERIFY, "repo %s: %s is not encrypted (no "
						  "age header) but encryption is configured; "
						  "refusing it", repo_describe(rd->r), rd->key);
		}
		rc = age_dec_write(rd->dec, rd->buf, got, e);
	}
	if (rc)
		errbuf_prefix(e, "repo %s: %s: ", repo_describe(rd->r), rd->key);
	return rc;
}

static int crypt_reader_read(struct repo_reader *rd, void *buf, size_t cap, size_t *got,
			     struct errbuf *e)
{
	size_t n;
	int rc;

	*got = 0;
	while (rd->pos == rd->pending.len && !rd->eof) {
		rd->pos = 0;
		strbuf_reset(&rd->pending);
		rc = fill(rd, e);
		if (rc)
			return rc;
	}
	n = rd->pending.len - rd->pos;
	if (n > cap)
		n = cap;
	memcpy(buf, rd->pending.buf + rd->pos, n);
	rd->pos += n;
	*got = n;
	return 0;
}

static void crypt_reader_close(struct repo_reader *rd)
{
	repo_reader_close(rd->inner);
	age_dec_free(rd->dec);
	OPENSSL_cleanse(rd->pending.buf, rd->pending.alloc ? rd->pending.alloc : 0);
	strbuf_release(&rd->pending);
	free(rd->buf);
	free(rd->key);
	zhash_free(rd->h);
	free(rd);
}

static int crypt_list(struct repo *r, const char *prefix, repo_list_fn fn, void *ctx,
		      struct errbuf *e)
{
	return repo_list(state_of(r)->inner, prefix, fn, ctx, e);
}

static int crypt_exists(struct repo *r, const char *key, int *exists, long long *size,
			struct errbuf *e)
{
	return repo_exists(state_of(r)->inner, key, exists, size, e);
}

static int crypt_del(struct repo *r, const char *key, struct errbuf *e)
{
	return repo_delete(state_of(r)->inner, key, e);
}

static void crypt_close(struct repo *r)
{
	struct crypt_state *s = state_of(r);

	repo_close(s->inner);
	age_keys_free(s->keys);
	json_decref(s->identity_command);
	json_decref(s->stored);
	json_decref(s->expect);
	free(s);
	free(r);
}

static const struct repo_ops crypt_ops = {
	"crypt",
	crypt_writer_open, crypt_writer_write, crypt_writer_commit, crypt_writer_abort,
	crypt_reader_open, crypt_reader_read, crypt_reader_close,
	crypt_list, crypt_exists, crypt_del, crypt_close,
	0,
};

/* The same over a driver whose killed writes can leave short objects. */
static const struct repo_ops crypt_ops_torn = {
	"crypt",
	crypt_writer_open, crypt_writer_write, crypt_writer_commit, crypt_writer_abort,
	crypt_reader_open, crypt_reader_read, crypt_reader_close,
	crypt_list, crypt_exists, crypt_del, crypt_close,
	1,
};

static int read_small_file(const char *path, struct strbuf *out, struct errbuf *e)
{
	char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return errbuf_errno(e, BL_EUSAGE, errno, "encryption.identity_file: cannot read %s",
				    path);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = errbuf_errno(e, BL_EUSAGE, errno, "encryption.identity_file: cannot "
					  "read %s", path);
			break;
		}
		if (out->len + (size_t)n > IDENTITY_MAX) {
			rc = errbuf_set(e, BL_EUSAGE, "encryption.identity_file: %s is larger "
					"than %d bytes (expected an age identity file)", path,
					IDENTITY_MAX);
			break;
		}
		strbuf_add(out, buf, (size_t)n);
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	close(fd);
	return rc;
}

static int load_keys(struct crypt_state *s, json_t *spec, const char *cfgdir, struct errbuf *e)
{
	json_t *recips = json_object_get(spec, "recipients"), *v;
	const char *pass_env = json_string_value(json_object_get(spec, "passphrase_env"));
	const char *id_file = json_string_value(json_object_get(spec, "identity_file"));
	const char *id_env = json_string_value(json_object_get(spec, "identity_env"));
	json_t *id_cmd = json_object_get(spec, "identity_command");
	json_t *wf = json_object_get(spec, "scrypt_work_factor");
	long long log_n = 0;
	char where[128];
	size_t i;
	int rc;

	if (recips && !json_is_array(recips))
		return errbuf_set(e, BL_EUSAGE, "encryption.recipients: expected a list of age1... "
				  "public keys");
	json_array_foreach(recips, i, v) {
		snprintf(where, sizeof(where), "encryption.recipients[%zu]", i);
		if (!json_is_string(v))
			return errbuf_set(e, BL_EUSAGE, "%s: expected a string", where);
		rc = age_keys_add_recipient(s->keys, json_string_value(v), where, e);
		if (rc)
			return rc;
	}
	if (wf && (config_json_int(wf, &log_n) || log_n < 1 || log_n > AGE_SCRYPT_LOGN_MAX))
		return errbuf_set(e, BL_EUSAGE, "encryption.scrypt_work_factor: expected 1..%d",
				  AGE_SCRYPT_LOGN_MAX);
	if (pass_env) {
		const char *pass = getenv(pass_env);

		if (json_array_size(recips))
			return errbuf_set(e, BL_EUSAGE, "encryption: recipients and passphrase_env "
					  "together (age allows a passphrase only as the sole "
					  "recipient; use one or the other)");
		if (!pass || !*pass)
			return errbuf_set(e, BL_EUSAGE, "encryption.passphrase_env: $%s is not set "
					  "(refusing to run without the key)", pass_env);
		rc = age_keys_set_passphrase(s->keys, pass, 1, 1, (int)log_n, e);
		if (rc)
			return rc;
	}
	if (id_file) {
		struct strbuf path = STRBUF_INIT, text = STRBUF_INIT;

		if (id_file[0] == '~' && id_file[1] == '/' && getenv("HOME"))
			strbuf_addf(&path, "%s%s", getenv("HOME"), id_file + 1);
		else if (id_file[0] != '/' && cfgdir)
			strbuf_addf(&path, "%s/%s", cfgdir, id_file);
		else
			strbuf_addstr(&path, id_file);
		rc = read_small_file(path.buf, &text, e);
		if (!rc)
			rc = age_keys_add_identity_text(s->keys, text.buf, text.len, path.buf, e);
		if (rc)
			errbuf_prefix(e, "encryption.identity_file: ");
		OPENSSL_cleanse(text.buf, text.len);
		strbuf_release(&text);
		strbuf_release(&path);
		if (rc)
			return rc;
	}
	if (id_env) {
		const char *text = getenv(id_env);

		if (!text || !*text)
			return errbuf_set(e, BL_EUSAGE, "encryption.identity_env: $%s is not set",
					  id_env);
		snprintf(where, sizeof(where), "encryption.identity_env $%.40s", id_env);
		rc = age_keys_add_identity_text(s->keys, text, strlen(text), where, e);
		if (rc)
			return rc;
	}
	if (id_cmd) {
		if (!json_is_array(id_cmd) || !json_array_size(id_cmd))
			return errbuf_set(e, BL_EUSAGE, "encryption.identity_command: expected a "
					  "non-empty argv list");
		json_array_foreach(id_cmd, i, v)
			if (!json_is_string(v))
				return errbuf_set(e, BL_EUSAGE, "encryption.identity_command[%zu]: "
						  "expected a string", i);
		s->identity_command = json_incref(id_cmd);
	}
	if (!age_keys_recipient_count(s->keys) && !age_keys_identity_count(s->keys) && !id_cmd)
		return errbuf_set(e, BL_EUSAGE, "encryption: no key (expected recipients or "
				  "passphrase_env to write, identity_file, identity_env or "
				  "identity_command to read)");
	s->can_write = age_keys_recipient_count(s->keys) > 0;
	return 0;
}

static int discard_sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	return 0;
}

int repo_crypt_wrap(struct repo *inner, json_t *spec, const char *cfgdir, struct repo **out,
		    struct errbuf *e)
{
	struct crypt_state *s;
	struct repo *r;
	int rc;

	*out = NULL;
	if (!json_is_object(spec))
		return errbuf_set(e, BL_EUSAGE, "encryption: expected an object");
	s = xcalloc(1, sizeof(*s));
	s->keys = age_keys_new();
	rc = load_keys(s, spec, cfgdir, e);
	/* Prove the recipients usable now, before a byte is uploaded: a key
	 * libcrypto refuses fails here, not halfway through a backup. */
	if (!rc && s->can_write) {
		struct age_enc *c = NULL;

		rc = age_enc_new(s->keys, discard_sink, NULL, &c, e);
		if (!rc)
			rc = age_enc_finish(c, e);
		age_enc_free(c);
	}
	if (rc) {
		age_keys_free(s->keys);
		json_decref(s->identity_command);
		free(s);
		return rc;
	}
	s->inner = inner;
	s->stored = json_object();
	s->expect = json_object();
	r = xcalloc(1, sizeof(*r));
	r->ops = repo_torn_writes(inner) ? &crypt_ops_torn : &crypt_ops;
	r->state = s;
	snprintf(r->describe, sizeof(r->describe), "%s", repo_describe(inner));
	*out = r;
	return 0;
}

static int hashed_write(struct repo_writer *w, struct zhash *h, long long *size,
			const void *buf, size_t len, struct errbuf *e)
{
	zhash_update(h, buf, len);
	*size += (long long)len;
	return repo_writer_write(w, buf, len, e);
}

int repo_crypt_rekey(struct repo *r, const char *key, int *changed, struct errbuf *e)
{
	struct crypt_state *s;
	struct repo_reader *rd = NULL;
	struct repo_writer *w = NULL;
	struct strbuf head = STRBUF_INIT, want = STRBUF_INIT, nh = STRBUF_INIT;
	unsigned char *buf = NULL;
	struct zhash *h = NULL;
	char hex[ZSTREAM_SHA256_HEX];
	long long size = 0;
	size_t hl = 0, got, i;
	int rc;

	*changed = 0;
	if (!repo_crypt_enabled(r))
		return errbuf_set(e, BL_EUSAGE, "rekey: the repository is not encrypted (no "
				  "encryption in the config)");
	s = state_of(r);
	if (!s->can_write || !age_keys_recipient(s->keys, 0))
		return errbuf_set(e, BL_EUSAGE, "rekey: expected encryption.recipients (age1... "
				  "public keys) to rewrap for");
	if (s->command_error.code) {
		*e = s->command_error;
		return e->code;
	}
	if (s->identity_command && (rc = run_identity_command(r, e)))
		return rc;
	rc = repo_key_check(key, e);
	if (!rc)
		rc = repo_reader_open(s->inner, key, &rd, e);
	if (rc)
		goto out;
	buf = xmalloc(READ_STEP);
	while (!hl) {
		rc = repo_reader_read(rd, buf, READ_STEP, &got, e);
		if (rc)
			goto out;
		if (!got || head.len + got > AGE_HEADER_MAX + READ_STEP) {
			rc = errbuf_set(e, BL_EVERIFY, "repo %s: %s: no complete age header",
					repo_describe(r), key);
			goto out;
		}
		strbuf_add(&head, buf, got);
		hl = age_header_length(head.buf, head.len);
	}
	strbuf_addstr(&want, "\n-> " AGE_KEYS_STANZA);
	for (i = 0; age_keys_recipient(s->keys, i); i++)
		strbuf_addf(&want, " %s", age_keys_recipient(s->keys, i));
	strbuf_addch(&want, '\n');
	if (memmem(head.buf, hl, want.buf, want.len)) {
		/* already for exactly these recipients (an earlier rekey that
		 * stopped halfway): read on only to know its stored hash, which
		 * the index may not have recorded yet */
		h = zhash_new();
		zhash_update(h, head.buf, head.len);
		size = (long long)head.len;
		while (!(rc = repo_reader_read(rd, buf, READ_STEP, &got, e)) && got) {
			zhash_update(h, buf, got);
			size += (long long)got;
		}
		if (!rc) {
			note_stored(r, key, size, h, hex);
			forget_expected(r, key);
		}
		goto out;
	}
	rc = age_rewrap_header(s->keys, head.buf, hl, s->keys, &nh, e);
	if (rc) {
		errbuf_prefix(e, "repo %s: %s: ", repo_describe(r), key);
		goto out;
	}
	h = zhash_new();
	rc = repo_writer_open(s->inner, key, -1, &w, e);
	if (!rc)
		rc = hashed_write(w, h, &size, nh.buf, nh.len, e);
	if (!rc)
		rc = hashed_write(w, h, &size, head.buf + hl, head.len - hl, e);
	while (!rc) {
		rc = repo_reader_read(rd, buf, READ_STEP, &got, e);
		if (rc || !got)
			break;
		rc = hashed_write(w, h, &size, buf, got, e);
	}
	if (!rc) {
		rc = repo_writer_commit(w, e);
		w = NULL;
		*changed = !rc;
		if (!rc) {
			note_stored(r, key, size, h, hex);
			forget_expected(r, key);
		}
	}
out:
	zhash_free(h);
	repo_writer_abort(w);
	repo_reader_close(rd);
	free(buf);
	strbuf_release(&head);
	strbuf_release(&want);
	strbuf_release(&nh);
	return rc;
}

int repo_crypt_enabled(const struct repo *r)
{
	return r && (r->ops == &crypt_ops || r->ops == &crypt_ops_torn);
}

int repo_crypt_can_read(const struct repo *r)
{
	const struct crypt_state *s;

	if (!repo_crypt_enabled(r))
		return 1;
	s = r->state;
	return age_keys_identity_count(s->keys) > 0 || s->identity_command ||
	       s->command_error.code;
}

int repo_crypt_stored(struct repo *r, const char *key, long long *size,
		      char sha256[ZSTREAM_SHA256_HEX])
{
	json_t *o;

	if (!repo_crypt_enabled(r))
		return 0;
	o = json_object_get(state_of(r)->stored, key);
	if (!o)
		return 0;
	*size = (long long)json_integer_value(json_object_get(o, "size"));
	snprintf(sha256, ZSTREAM_SHA256_HEX, "%s", json_string_value(json_object_get(o, "sha256")));
	return 1;
}

void repo_crypt_expect(struct repo *r, const char *key, long long size, const char *sha256,
		       const char *by)
{
	if (!repo_crypt_enabled(r) || !key || !sha256 || size < 0)
		return;
	json_object_set_new(state_of(r)->expect, key, json_pack("{s:I, s:s, s:s}", "size",
								(json_int_t)size, "sha256", sha256,
								"by", by));
}

struct repo *repo_crypt_inner(struct repo *r)
{
	return repo_crypt_enabled(r) ? state_of(r)->inner : r;
}
