/* backupset on a local repository: what list calls good and incomplete,
 * which id "latest", a full id and a prefix resolve to, a stored object
 * that no longer matches its manifest, and a delete that leaves nothing.
 * Encrypted: the plaintext index (backup_index.h) as a key host and a
 * write-only host see it, a tampered field named, the ciphertext checked
 * without a key, a missing index. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#include <openssl/evp.h>

#include "backup_index.h"
#include "backupset.h"
#include "config.h"
#include "manifest.h"
#include "repo.h"
#include "repo_crypt.h"
#include "repomark.h"
#include "tsupport.h"

static char *dir;
static struct config *cfg;
static struct repo *r;

#define OLD "20261101T010000Z-0001"
#define MID "20261102T010000Z-0002"
#define NEW "20261103T010000Z-0003"
#define BAD "20261104T010000Z-0004" /* objects only: a run that died */

static void sha256_hex(const void *buf, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0;

	ck_assert_int_eq(EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL), 1);
	for (unsigned i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* A committed backup with one db item whose object holds text, zstd'd. */
static void put_backup(const char *id, time_t created, const char *text, int commit)
{
	struct strbuf key = STRBUF_INIT, sealed = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	size_t cap = ZSTD_compressBound(strlen(text)), n;
	char *z = malloc(cap), hex[65];
	json_t *m = manifest_new(id, "shop", created, NULL);

	n = ZSTD_compress(z, cap, text, strlen(text), 3);
	ck_assert(!ZSTD_isError(n));
	sha256_hex(z, n, hex);
	manifest_backup_prefix("shop", id, &key);
	strbuf_addstr(&key, "db-app.dump.zst");
	ck_assert_msg(repo_put_bytes(r, key.buf, z, n, &e) == 0, "%s", e.msg);
	json_array_append_new(json_object_get(m, "items"),
			      json_pack("{s:s, s:s, s:o}", "type", "db", "name", "app", "object",
					manifest_object(key.buf, (long long)n, hex,
							(long long)strlen(text))));
	if (commit) {
		ck_assert_int_eq(manifest_seal(m, &sealed, &e), 0);
		strbuf_reset(&key);
		manifest_backup_prefix("shop", id, &key);
		strbuf_addstr(&key, "manifest.json");
		ck_assert_msg(repo_put_bytes(r, key.buf, sealed.buf, sealed.len, &e) == 0, "%s",
			      e.msg);
	}
	json_decref(m);
	free(z);
	strbuf_release(&key);
	strbuf_release(&sealed);
}

static void setup(void)
{
	struct strbuf json = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	const char *project;
	char mark[REPOMARK_ID_LEN + 1];
	int existed = 0, adopted = 0;

	dir = ttmp_dir("backupset");
	strbuf_addf(&json, "{\"project\": \"shop\", \"repository\": {\"type\": \"local\", "
		    "\"path\": \"%s/repo\"}}", dir);
	ck_assert_msg(config_load_string(json.buf, "ballast.json", &cfg, &e) == 0, "%s", e.msg);
	ck_assert_msg(backupset_open_unchecked(cfg, &r, &project, &e) == 0, "%s", e.msg);
	ck_assert_msg(repomark_init(r, "shop", mark, &existed, &adopted, &e) == 0, "%s", e.msg);
	put_backup(OLD, 1761958800, "old rows", 1);
	put_backup(MID, 1762045200, "mid rows", 1);
	put_backup(NEW, 1762131600, "new rows", 1);
	put_backup(BAD, 1762218000, "never committed", 0);
	strbuf_release(&json);
}

static void teardown(void)
{
	repo_close(r);
	config_free(cfg);
	ttmp_rm(dir);
	free(dir);
}

START_TEST(test_list_and_latest)
{
	struct errbuf e = ERRBUF_INIT;
	json_t *list = NULL, *b;
	char id[64];
	size_t i;
	int good = 0, incomplete = 0;

	ck_assert_msg(backupset_list(r, "shop", &list, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(json_array_size(list), 4);
	json_array_foreach(list, i, b) {
		const char *st = json_string_value(json_object_get(b, "status"));
		const char *bid = json_string_value(json_object_get(b, "id"));

		if (!strcmp(st, "good"))
			good++;
		if (!strcmp(st, "incomplete")) {
			incomplete++;
			ck_assert_str_eq(bid, BAD);
		}
	}
	ck_assert_int_eq(good, 3);
	ck_assert_int_eq(incomplete, 1);
	json_decref(list);
	/* the newest good one, never the newer incomplete one */
	ck_assert_int_eq(backupset_latest(r, "shop", id, sizeof(id), &e), 0);
	ck_assert_str_eq(id, NEW);
}
END_TEST

START_TEST(test_resolve)
{
	struct errbuf e = ERRBUF_INIT;
	char id[64];

	ck_assert_int_eq(backupset_resolve(r, "shop", "latest", id, sizeof(id), &e), 0);
	ck_assert_str_eq(id, NEW);
	ck_assert_int_eq(backupset_resolve(r, "shop", MID, id, sizeof(id), &e), 0);
	ck_assert_str_eq(id, MID);
	ck_assert_int_eq(backupset_resolve(r, "shop", "20261101", id, sizeof(id), &e), 0);
	ck_assert_str_eq(id, OLD);
	ck_assert_int_eq(backupset_resolve(r, "shop", "202611", id, sizeof(id), &e), BL_EUSAGE);
	ck_assert_msg(strstr(e.msg, OLD) && strstr(e.msg, NEW), "names the candidates: %s", e.msg);
	errbuf_clear(&e);
	ck_assert_int_eq(backupset_resolve(r, "shop", "20251", id, sizeof(id), &e), BL_EFAIL);
}
END_TEST

START_TEST(test_damage_and_delete)
{
	struct strbuf key = STRBUF_INIT, path = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	json_t *m = NULL, *list = NULL;
	struct manifest_item it;
	FILE *f;

	ck_assert_msg(backupset_load(r, "shop", MID, &m, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(manifest_item_get(m, 0, &it), 0);
	ck_assert_msg(backupset_verify_object(r, json_object_get(it.json, "object"), 1, &e) == 0,
		      "%s", e.msg);
	/* one byte flipped behind the repository's back */
	strbuf_addf(&path, "%s/repo/%s", dir, it.obj.key);
	f = fopen(path.buf, "r+b");
	ck_assert_ptr_nonnull(f);
	fseek(f, 2, SEEK_SET);
	fputc(0x5a, f);
	fclose(f);
	ck_assert_int_eq(backupset_verify_object(r, json_object_get(it.json, "object"), 1, &e),
			 BL_EVERIFY);
	ck_assert_msg(strstr(e.msg, it.obj.key), "names the object: %s", e.msg);
	json_decref(m);
	errbuf_clear(&e);
	ck_assert_msg(backupset_delete(r, "shop", MID, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(backupset_load(r, "shop", MID, &m, &e), BL_EFAIL);
	ck_assert_int_eq(backupset_list(r, "shop", &list, &e), 0);
	ck_assert_int_eq(json_array_size(list), 3);
	json_decref(list);
	strbuf_release(&key);
	strbuf_release(&path);
}
END_TEST

/* The C2SP CCTV X25519 identity and its recipient. */
#define T_AGE_ID "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0"
#define T_AGE_PUB "age1xmwwc06ly3ee5rytxm9mflaz2u56jjj36s0mypdrwsvlul66mv4q47ryef"

static struct repo *open_enc(const char *enc, struct config **c)
{
	struct strbuf json = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	const char *project;
	struct repo *er;

	strbuf_addf(&json, "{\"project\": \"shop\", \"repository\": {\"type\": \"local\", "
		    "\"path\": \"%s/erepo\"}, \"encryption\": %s}", dir, enc);
	ck_assert_msg(config_load_string(json.buf, "ballast.json", c, &e) == 0, "%s", e.msg);
	ck_assert_msg(backupset_open_unchecked(*c, &er, &project, &e) == 0, "%s", e.msg);
	strbuf_release(&json);
	return er;
}

static const char *status_of(struct repo *er, const char *id, struct strbuf *why)
{
	static char st[32];
	struct errbuf e = ERRBUF_INIT;
	json_t *list = NULL, *b;
	size_t i;

	ck_assert_msg(backupset_list(er, "shop", &list, &e) == 0, "%s", e.msg);
	st[0] = '\0';
	json_array_foreach(list, i, b)
		if (!strcmp(json_string_value(json_object_get(b, "id")), id)) {
			snprintf(st, sizeof(st), "%s", json_string_value(json_object_get(b, "status")));
			strbuf_reset(why);
			if (json_string_value(json_object_get(b, "error")))
				strbuf_addstr(why, json_string_value(json_object_get(b, "error")));
		}
	json_decref(list);
	return st;
}

/* An encrypted backup committed as backup_run commits one (objects,
 * manifest, index), with a db item and a base backup item; labels (may be
 * NULL) are taken. */
static void put_enc_backup(struct repo *kr, const char *id, json_t *labels)
{
	struct strbuf key = STRBUF_INIT, text = STRBUF_INIT, sealed = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct repo *keep = r;
	json_t *m, *idx = NULL;
	long long size;
	char sha[65];

	r = kr;
	put_backup(id, 1761958800, "encrypted rows", 0);
	r = keep;
	m = manifest_new(id, "shop", 1761958800, NULL);
	if (labels)
		json_object_set_new(m, "labels", labels);
	manifest_backup_prefix("shop", id, &key);
	strbuf_addstr(&key, "db-app.dump.zst");
	ck_assert(repo_crypt_stored(kr, key.buf, &size, sha));
	ck_assert_msg(repo_get_bytes(kr, key.buf, &text, 1 << 20, &e) == 0, "%s", e.msg);
	sha256_hex(text.buf, text.len, sha);
	json_array_append_new(json_object_get(m, "items"), json_pack(
		"{s:s, s:s, s:o}", "type", "db", "name", "app", "object",
		manifest_object(key.buf, (long long)text.len, sha, 14)));
	/* (its object: the same one, as only the index's members matter here) */
	json_array_append_new(json_object_get(m, "items"), json_pack(
		"{s:s, s:s, s:s, s:i, s:s, s:o}", "type", "basebackup", "name", "phys",
		"start_wal", "000000010000000000000005", "timeline", 1, "start_lsn", "0/5000028",
		"object", manifest_object(key.buf, (long long)text.len, sha, 14)));
	json_object_set_new(m, "index", json_string(BACKUP_INDEX_NAME));
	ck_assert_int_eq(manifest_seal(m, &sealed, &e), 0);
	strbuf_reset(&key);
	manifest_backup_prefix("shop", id, &key);
	strbuf_addstr(&key, "manifest.json");
	ck_assert_msg(repo_put_bytes(kr, key.buf, sealed.buf, sealed.len, &e) == 0, "%s", e.msg);
	ck_assert_msg(backup_index_build(kr, m, key.buf, &idx, &e) == 0, "%s", e.msg);
	ck_assert_msg(backup_index_put(kr, "shop", id, idx, &e) == 0, "%s", e.msg);
	json_decref(idx);
	json_decref(m);
	strbuf_release(&key);
	strbuf_release(&text);
	strbuf_release(&sealed);
}

START_TEST(test_encrypted_index)
{
	struct config *kc = NULL, *wc = NULL;
	struct strbuf why = STRBUF_INIT, text = STRBUF_INIT, path = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct repo *kr, *wr;
	json_t *idx = NULL;
	char mark[REPOMARK_ID_LEN + 1];
	int existed = 0, adopted = 0;
	FILE *f;

	setenv("BALLAST_T_AGE_ID", T_AGE_ID, 1);
	kr = open_enc("{\"recipients\": [\"" T_AGE_PUB "\"], \"identity_env\": \"BALLAST_T_AGE_ID\"}",
		      &kc);
	wr = open_enc("{\"recipients\": [\"" T_AGE_PUB "\"]}", &wc);
	ck_assert(backup_index_wanted(kr));
	ck_assert_msg(repomark_init(kr, "shop", mark, &existed, &adopted, &e) == 0, "%s", e.msg);
	put_enc_backup(kr, OLD, json_pack("{s:s}", "keep", "true"));

	/* both hosts see it good; the write-only one from the index alone */
	ck_assert_str_eq(status_of(kr, OLD, &why), "good");
	ck_assert_str_eq(status_of(wr, OLD, &why), "good");
	ck_assert_msg(backup_index_get(wr, "shop", OLD, &idx, &text, &e) == 0, "%s", e.msg);
	ck_assert_msg(backup_index_check_objects(wr, idx, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(idx, "labels"), "keep")),
			 "true");
	/* plaintext: readable without any key, and holds no manifest detail */
	strbuf_addf(&path, "%s/erepo/shop/backups/%s/index.json", dir, OLD);
	ck_assert_ptr_null(strstr(text.buf, "raw_size"));

	/* a tampered field: the key host names it, the write-only one cannot tell */
	json_object_set_new(idx, "created", json_string("2020-01-01T00:00:00Z"));
	ck_assert_int_eq(backup_index_put(kr, "shop", OLD, idx, &e), 0);
	ck_assert_str_eq(status_of(kr, OLD, &why), "failed-verify");
	ck_assert_msg(strstr(why.buf, "created"), "%s", why.buf);
	ck_assert_str_eq(status_of(wr, OLD, &why), "good");
	{
		json_t *lm = NULL;

		ck_assert_int_eq(backupset_load(kr, "shop", OLD, &lm, &e), BL_EVERIFY);
		ck_assert_ptr_null(lm);
		errbuf_clear(&e);
	}

	/* a flipped ciphertext byte: the write-only check names the object */
	json_decref(idx);
	idx = NULL;
	ck_assert_int_eq(backup_index_get(wr, "shop", OLD, &idx, &text, &e), 0);
	strbuf_reset(&path);
	strbuf_addf(&path, "%s/erepo/shop/backups/%s/db-app.dump.zst", dir, OLD);
	f = fopen(path.buf, "r+b");
	ck_assert_ptr_nonnull(f);
	fseek(f, -3, SEEK_END);
	fputc(0x5a, f);
	fclose(f);
	ck_assert_int_eq(backup_index_check_objects(wr, idx, &e), BL_EVERIFY);
	ck_assert_msg(strstr(e.msg, "db-app.dump.zst"), "%s", e.msg);
	errbuf_clear(&e);

	/* no index: unindexed without a key, an unfinished commit with one */
	strbuf_reset(&path);
	strbuf_addf(&path, "%s/erepo/shop/backups/%s/index.json", dir, OLD);
	ck_assert_int_eq(remove(path.buf), 0);
	ck_assert_str_eq(status_of(wr, OLD, &why), "unindexed");
	ck_assert_str_eq(status_of(kr, OLD, &why), "incomplete");

	json_decref(idx);
	repo_close(kr);
	repo_close(wr);
	config_free(kc);
	config_free(wc);
	strbuf_release(&why);
	strbuf_release(&text);
	strbuf_release(&path);
}
END_TEST

static int discard(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	(void)ctx, (void)buf, (void)len, (void)e;
	return 0;
}

/* Every read of an object of a loaded encrypted backup checks its stored
 * bytes against the index (not only that they decrypt to the manifest's
 * plaintext); the index records what a write-only prune needs of a base
 * backup, authenticated like the rest. */
START_TEST(test_index_read_check)
{
	struct config *kc = NULL, *kc2 = NULL, *wc = NULL;
	struct strbuf key = STRBUF_INIT, text = STRBUF_INIT, plain = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct repo *kr, *kr2, *wr;
	json_t *m = NULL, *idx = NULL, *it;
	char mark[REPOMARK_ID_LEN + 1];
	const char *wal;
	int existed = 0, adopted = 0, found = 0;

	setenv("BALLAST_T_AGE_ID", T_AGE_ID, 1);
	kr = open_enc("{\"recipients\": [\"" T_AGE_PUB "\"], \"identity_env\": \"BALLAST_T_AGE_ID\"}",
		      &kc);
	wr = open_enc("{\"recipients\": [\"" T_AGE_PUB "\"]}", &wc);
	ck_assert_msg(repomark_init(kr, "shop", mark, &existed, &adopted, &e) == 0, "%s", e.msg);
	put_enc_backup(kr, OLD, NULL);

	/* the index records the base backup's start WAL file and timeline */
	ck_assert_msg(backup_index_get(wr, "shop", OLD, &idx, &text, &e) == 0, "%s", e.msg);
	wal = backup_index_start_wal(idx, "basebackup", "phys", &found);
	ck_assert(found);
	ck_assert_str_eq(wal, "000000010000000000000005");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(
		json_object_get(idx, "items"), 1), "timeline")), 1);
	ck_assert_ptr_null(backup_index_start_wal(idx, "basebackup", "other", &found));
	ck_assert(!found);
	ck_assert_ptr_null(strstr(text.buf, "start_lsn"));

	/* a fresh key host (a restore): the stored dump replaced by another
	 * encryption of the same zstd bytes decrypts to the manifest's
	 * plaintext, yet is refused once the backup is loaded, naming the
	 * backup and the object, at the end of the stream */
	kr2 = open_enc("{\"recipients\": [\"" T_AGE_PUB "\"], \"identity_env\": "
		       "\"BALLAST_T_AGE_ID\"}", &kc2);
	manifest_backup_prefix("shop", OLD, &key);
	strbuf_addstr(&key, "db-app.dump.zst");
	ck_assert_msg(repo_get_bytes(kr2, key.buf, &plain, 1 << 20, &e) == 0, "%s", e.msg);
	ck_assert_msg(repo_put_bytes(kr, key.buf, plain.buf, plain.len, &e) == 0, "%s", e.msg);
	ck_assert_msg(repo_get_bytes(kr2, key.buf, &plain, 1 << 20, &e) == 0, "%s", e.msg);
	ck_assert_msg(backupset_load(kr2, "shop", OLD, &m, &e) == 0, "%s", e.msg);
	it = json_array_get(json_object_get(m, "items"), 0);
	ck_assert_int_eq(backupset_read_object(kr2, json_object_get(it, "object"), discard, NULL,
					       &e), BL_EVERIFY);
	ck_assert_msg(strstr(e.msg, "backup " OLD) && strstr(e.msg, key.buf) &&
		      strstr(e.msg, "index.json"), "%s", e.msg);
	errbuf_clear(&e);
	ck_assert_int_eq(backupset_verify_object(kr2, json_object_get(it, "object"), 0, &e),
			 BL_EVERIFY);
	errbuf_clear(&e);
	/* ... and a longer object is refused before its end */
	strbuf_addstr(&plain, "trailing");
	{
		struct repo *w3;
		struct config *c3 = NULL;

		w3 = open_enc("{\"recipients\": [\"" T_AGE_PUB "\"]}", &c3);
		ck_assert_msg(repo_put_bytes(w3, key.buf, plain.buf, plain.len, &e) == 0, "%s",
			      e.msg);
		repo_close(w3);
		config_free(c3);
	}
	ck_assert_int_eq(backupset_read_object(kr2, json_object_get(it, "object"), discard, NULL,
					       &e), BL_EVERIFY);
	ck_assert_msg(strstr(e.msg, "stored bytes the index records"), "%s", e.msg);
	errbuf_clear(&e);
	json_decref(m);
	m = NULL;

	/* a tampered start_wal: the key host names the field */
	json_object_set_new(json_array_get(json_object_get(idx, "items"), 1), "start_wal",
			    json_string("000000010000000000000009"));
	ck_assert_int_eq(backup_index_put(kr, "shop", OLD, idx, &e), 0);
	ck_assert_int_eq(backupset_load(kr2, "shop", OLD, &m, &e), BL_EVERIFY);
	ck_assert_msg(strstr(e.msg, "items[1].start_wal"), "%s", e.msg);
	errbuf_clear(&e);
	/* ... and one that is not a WAL file name is refused by its shape */
	json_object_set_new(json_array_get(json_object_get(idx, "items"), 1), "start_wal",
			    json_string("../x"));
	ck_assert_int_eq(backup_index_put(kr, "shop", OLD, idx, &e), 0);
	json_decref(idx);
	ck_assert_int_eq(backup_index_get(wr, "shop", OLD, &idx, &text, &e), BL_EVERIFY);
	ck_assert_msg(strstr(e.msg, "start_wal"), "%s", e.msg);
	errbuf_clear(&e);

	json_decref(idx);
	repo_close(kr);
	repo_close(kr2);
	repo_close(wr);
	config_free(kc);
	config_free(kc2);
	config_free(wc);
	strbuf_release(&key);
	strbuf_release(&text);
	strbuf_release(&plain);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("backupset");
	TCase *tc = tcase_create("backupset");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_list_and_latest);
	tcase_add_test(tc, test_resolve);
	tcase_add_test(tc, test_damage_and_delete);
	tcase_add_test(tc, test_encrypted_index);
	tcase_add_test(tc, test_index_read_check);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
