// services: sshd s3
/* The repository contract (lib/repo.h), the same tests for every driver,
 * each chosen purely by its "repository" JSON object: put and get streams,
 * small objects, list with temporary-object detection, exists, delete, and
 * atomic commit (abort leaves nothing; a crash before commit leaves nothing
 * visible under the key). Then each driver's bad inputs against the real
 * servers: wrong or unknown keys, refused connections, a server that drops
 * the connection or dies mid-upload, 403, a missing bucket, a 500 on one
 * part. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"
#include "repo.h"
#include "tdrivers.h"
#include "tsupport.h"

#define MIB (1024 * 1024)

/* ---- drivers under test ---- */

static char *fact(const char *svc, const char *name)
{
	char *v = tsvc_read(svc, name);

	ck_assert_msg(v != NULL, "%s fact %s missing", svc, name);
	return v;
}

static int seq;  /* fresh prefix/directory per test */

static json_t *spec_sftp(const char *tag)
{
	char *port = fact("sshd", "port"), *user = fact("sshd", "user");
	char *key = fact("sshd", "key"), *kh = fact("sshd", "known_hosts_file");
	char *dir = ttmp_dir(tag);
	json_t *j = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s}", "type", "sftp",
			      "host", "127.0.0.1", "port", atoi(port), "user", user, "key", key,
			      "known_hosts", kh, "path", dir);

	free(port);
	free(user);
	free(key);
	free(kh);
	free(dir);
	return j;
}

/* A directory on this machine (tests/support/tdrivers.c). */
static json_t *spec_local(const char *tag)
{
	return tdrv_spec(TDRV_LOCAL, tag);
}

static json_t *spec_s3_with(const char *tag, const char *endpoint_fact, int path_style)
{
	char *ep = fact("s3", endpoint_fact), *bucket = fact("s3", "bucket");
	char *ak = fact("s3", "access_key"), *sk = fact("s3", "secret_key");
	char prefix[128];
	json_t *j;

	/* Credentials travel by environment variable names, as in ballast.json. */
	setenv("BALLAST_TEST_S3_ACCESS", ak, 1);
	setenv("BALLAST_TEST_S3_SECRET", sk, 1);
	snprintf(prefix, sizeof(prefix), "%s-%d-%d/", tag, (int)getpid(), ++seq);
	j = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:i, s:i}", "type", "s3",
		      "endpoint", ep, "bucket", bucket, "prefix", prefix, "path_style", path_style,
		      "region", "us-east-1", "access_key_env", "BALLAST_TEST_S3_ACCESS",
		      "secret_key_env", "BALLAST_TEST_S3_SECRET", "part_size", 5 * MIB,
		      "retries", 2);
	free(ep);
	free(bucket);
	free(ak);
	free(sk);
	return j;
}

static json_t *spec_s3(const char *tag)
{
	return spec_s3_with(tag, "endpoint", 1);
}

static json_t *spec_s3_vhost(const char *tag)
{
	return spec_s3_with(tag, "endpoint_vhost", 0);
}

/* HTTPS with a private CA given by ca_file. */
static json_t *spec_s3_tls(const char *tag)
{
	json_t *j = spec_s3_with(tag, "endpoint_tls", 1);
	char *ca = fact("s3", "ca_file");

	json_object_set_new(j, "ca_file", json_string(ca));
	free(ca);
	return j;
}

struct driver {
	const char *name;
	json_t *(*spec)(const char *tag);
	int lists_tmp;   /* a crash leaves a temporary the list reports */
};

static const struct driver drivers[] = {
	{ "sftp", spec_sftp, 1 },
	{ "s3", spec_s3, 0 },
	{ "s3-vhost", spec_s3_vhost, 0 },
	{ "s3-tls", spec_s3_tls, 0 },
	{ "local", spec_local, 1 },
};
#define NDRIVERS ((int)(sizeof(drivers) / sizeof(drivers[0])))

static struct repo *open_driver(int i, json_t **specp)
{
	struct repo *r = NULL;
	struct errbuf e = ERRBUF_INIT;
	json_t *spec = drivers[i].spec(drivers[i].name);

	ck_assert_msg(repo_open_json(spec, "/", &r, &e) == 0, "%s: %s", drivers[i].name, e.msg);
	if (specp)
		*specp = spec;
	else
		json_decref(spec);
	return r;
}

/* Where a local or sftp repository lives on this machine, to clean it up. */
static void cleanup_spec(json_t *spec)
{
	const char *type = json_string_value(json_object_get(spec, "type"));

	if (type && (!strcmp(type, "sftp") || !strcmp(type, "local")))
		ttmp_rm(json_string_value(json_object_get(spec, "path")));
	json_decref(spec);
}

/* A reproducible byte stream: byte n of stream `seed`. */
static unsigned char pat(unsigned seed, long long n)
{
	unsigned long long x = (unsigned long long)n * 2654435761u + seed * 40503u;

	return (unsigned char)(x ^ (x >> 13) ^ (x >> 29));
}

static void fill(unsigned char *buf, size_t len, unsigned seed, long long off)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = pat(seed, off + (long long)i);
}

/* Write `total` bytes of stream seed in uneven chunks. */
static int put_stream(struct repo *r, const char *key, unsigned seed, long long total,
		      long long hint, struct errbuf *e)
{
	static unsigned char buf[300007];
	struct repo_writer *w;
	long long off = 0;
	int rc = repo_writer_open(r, key, hint, &w, e);

	if (rc)
		return rc;
	while (off < total) {
		size_t n = (size_t)(total - off < (long long)sizeof(buf) ? total - off : (long long)sizeof(buf));

		n = n > 1000 && (off / 7) % 3 == 0 ? n / 3 : n;
		fill(buf, n, seed, off);
		rc = repo_writer_write(w, buf, n, e);
		if (rc) {
			repo_writer_abort(w);
			return rc;
		}
		off += (long long)n;
	}
	return repo_writer_commit(w, e);
}

/* Read key back in caller chunks of varying size and compare. */
static void check_stream(struct repo *r, const char *key, unsigned seed, long long total)
{
	static unsigned char buf[200000], want[200000];
	struct repo_reader *rd;
	struct errbuf e = ERRBUF_INIT;
	long long off = 0;
	size_t got, caps[] = { 1, 4096, 65536, 200000, 777 };
	int k = 0;

	ck_assert_msg(repo_reader_open(r, key, &rd, &e) == 0, "%s", e.msg);
	for (;;) {
		size_t cap = caps[k++ % 5];

		ck_assert_msg(repo_reader_read(rd, buf, cap, &got, &e) == 0, "%s", e.msg);
		if (!got)
			break;
		ck_assert_uint_le(got, cap);
		ck_assert_int_le(off + (long long)got, total);
		fill(want, got, seed, off);
		ck_assert_msg(!memcmp(buf, want, got), "%s differs near offset %lld", key, off);
		off += (long long)got;
	}
	repo_reader_close(rd);
	ck_assert_int_eq(off, total);
}

static int exists(struct repo *r, const char *key, long long *size)
{
	struct errbuf e = ERRBUF_INIT;
	int ex = -1;

	ck_assert_msg(repo_exists(r, key, &ex, size, &e) == 0, "%s", e.msg);
	return ex;
}

struct listing {
	struct strbuf keys;   /* "key[:tmp]=size;" sorted by insertion */
	int n, ntmp;
	char tmp_key[512];
};

static int list_cb(void *ctx, const struct repo_entry *ent, struct errbuf *e)
{
	struct listing *l = ctx;

	if (ent->tmp) {
		l->ntmp++;
		snprintf(l->tmp_key, sizeof(l->tmp_key), "%s", ent->key);
		return 0;
	}
	l->n++;
	strbuf_addf(&l->keys, "%s=%lld;", ent->key, ent->size);
	ck_assert_int_gt(ent->mtime, 1700000000);
	return 0;
}

static void list(struct repo *r, const char *prefix, struct listing *l)
{
	struct errbuf e = ERRBUF_INIT;

	strbuf_init(&l->keys, 0);
	l->n = l->ntmp = 0;
	l->tmp_key[0] = 0;
	ck_assert_msg(repo_list(r, prefix, list_cb, l, &e) == 0, "%s", e.msg);
}

static int has(struct listing *l, const char *item)
{
	return strstr(l->keys.buf, item) != NULL;
}

/* ---- the contract, for every driver ---- */

START_TEST(test_stream_round_trip)
{
	json_t *spec;
	struct repo *r = open_driver(_i, &spec);
	struct errbuf e = ERRBUF_INIT;
	long long size = 0;
	long long big = 17LL * MIB + 12345;  /* four parts of 5 MiB on s3 */

	/* Unknown size, then a size hint: both paths of the writer. */
	ck_assert_msg(put_stream(r, "a/backups/x/db-app.dump.zst", 1, big, -1, &e) == 0, "%s",
		      e.msg);
	check_stream(r, "a/backups/x/db-app.dump.zst", 1, big);
	ck_assert_int_eq(exists(r, "a/backups/x/db-app.dump.zst", &size), 1);
	ck_assert_int_eq(size, big);
	ck_assert_msg(put_stream(r, "a/backups/x/hinted", 2, 11LL * MIB, 11LL * MIB, &e) == 0,
		      "%s", e.msg);
	check_stream(r, "a/backups/x/hinted", 2, 11LL * MIB);
	/* A stream far larger than its hint. */
	ck_assert_msg(put_stream(r, "a/underestimated", 4, 6LL * MIB + 1, 1000, &e) == 0, "%s",
		      e.msg);
	check_stream(r, "a/underestimated", 4, 6LL * MIB + 1);
	/* Exactly one part's worth stays one object. */
	ck_assert_msg(put_stream(r, "a/exact", 3, 5LL * MIB, -1, &e) == 0, "%s", e.msg);
	check_stream(r, "a/exact", 3, 5LL * MIB);
	repo_close(r);
	cleanup_spec(spec);
}
END_TEST

START_TEST(test_small_objects)
{
	json_t *spec;
	struct repo *r = open_driver(_i, &spec);
	struct errbuf e = ERRBUF_INIT;
	struct strbuf sb = STRBUF_INIT;
	long long size = -2;
	const char *m = "{\"id\":\"20261127T021500Z-a1b2\",\"note\":\"<&>\"}";

	ck_assert_msg(repo_put_bytes(r, "p/manifest.json", m, strlen(m), &e) == 0, "%s", e.msg);
	ck_assert_msg(repo_get_bytes(r, "p/manifest.json", &sb, 1 << 20, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(sb.buf, m);
	/* Too large for the caller's limit. */
	ck_assert_int_eq(repo_get_bytes(r, "p/manifest.json", &sb, 5, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "p/manifest.json") != NULL, "%s", e.msg);
	/* Replacing an object is atomic and complete. */
	ck_assert_int_eq(repo_put_bytes(r, "p/manifest.json", "v2", 2, &e), 0);
	ck_assert_int_eq(repo_get_bytes(r, "p/manifest.json", &sb, 100, &e), 0);
	ck_assert_str_eq(sb.buf, "v2");
	/* An empty object exists and reads as empty. */
	ck_assert_msg(repo_put_bytes(r, "p/empty", "", 0, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(exists(r, "p/empty", &size), 1);
	ck_assert_int_eq(size, 0);
	ck_assert_int_eq(repo_get_bytes(r, "p/empty", &sb, 100, &e), 0);
	ck_assert_uint_eq(sb.len, 0);
	/* Keys with odd but legal characters. */
	ck_assert_msg(repo_put_bytes(r, "p/sp ace+plus=eq&amp%25é", "odd", 3, &e) == 0, "%s",
		      e.msg);
	ck_assert_int_eq(repo_get_bytes(r, "p/sp ace+plus=eq&amp%25é", &sb, 100, &e), 0);
	ck_assert_str_eq(sb.buf, "odd");
	/* Missing objects. */
	ck_assert_int_eq(exists(r, "p/nothing", &size), 0);
	ck_assert_int_eq(repo_get_bytes(r, "p/nothing", &sb, 100, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "p/nothing") != NULL, "%s", e.msg);
	/* Bad keys never reach the driver. */
	ck_assert_int_eq(repo_put_bytes(r, "../escape", "x", 1, &e), BL_EUSAGE);
	ck_assert_int_eq(repo_put_bytes(r, "/abs", "x", 1, &e), BL_EUSAGE);
	strbuf_release(&sb);
	repo_close(r);
	cleanup_spec(spec);
}
END_TEST

START_TEST(test_list_and_delete)
{
	json_t *spec;
	struct repo *r = open_driver(_i, &spec);
	struct errbuf e = ERRBUF_INIT;
	struct listing l;
	const char *keys[] = { "proj/backups/1/a", "proj/backups/1/bb", "proj/backups/2/a",
			       "proj/locks/x", "other/1" };
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		ck_assert_msg(repo_put_bytes(r, keys[i], keys[i], strlen(keys[i]), &e) == 0, "%s",
			      e.msg);
	list(r, "", &l);
	ck_assert_int_eq(l.n, 5);
	ck_assert_int_eq(l.ntmp, 0);
	ck_assert(has(&l, "proj/backups/1/bb=17;"));
	strbuf_release(&l.keys);
	list(r, "proj/backups/", &l);
	ck_assert_int_eq(l.n, 3);
	ck_assert(!has(&l, "locks"));
	strbuf_release(&l.keys);
	/* A prefix that is not a whole directory name. */
	list(r, "proj/backups/1/b", &l);
	ck_assert_int_eq(l.n, 1);
	ck_assert(has(&l, "proj/backups/1/bb="));
	strbuf_release(&l.keys);
	list(r, "proj/b", &l);
	ck_assert_int_eq(l.n, 3);
	strbuf_release(&l.keys);
	list(r, "nothing/here/", &l);
	ck_assert_int_eq(l.n, 0);
	strbuf_release(&l.keys);

	ck_assert_msg(repo_delete(r, "proj/backups/1/a", &e) == 0, "%s", e.msg);
	ck_assert_int_eq(exists(r, "proj/backups/1/a", NULL), 0);
	ck_assert_int_eq(exists(r, "proj/backups/1/bb", NULL), 1);
	ck_assert_msg(repo_delete(r, "proj/backups/1/a", &e) == 0, "%s", e.msg);
	ck_assert_int_eq(repo_delete(r, "proj/backups/1/bb", &e), 0);
	list(r, "proj/", &l);
	ck_assert_int_eq(l.n, 2);
	ck_assert(has(&l, "proj/backups/2/a=16;"));
	strbuf_release(&l.keys);
	repo_close(r);
	cleanup_spec(spec);
}
END_TEST

START_TEST(test_abort_leaves_nothing)
{
	json_t *spec;
	struct repo *r = open_driver(_i, &spec);
	struct errbuf e = ERRBUF_INIT;
	struct repo_writer *w;
	struct listing l;
	static unsigned char buf[MIB];
	int k;

	ck_assert_int_eq(repo_put_bytes(r, "k/old", "old", 3, &e), 0);
	/* Large enough to be a multipart upload on s3. */
	ck_assert_msg(repo_writer_open(r, "k/new", -1, &w, &e) == 0, "%s", e.msg);
	for (k = 0; k < 12; k++) {
		fill(buf, sizeof(buf), 9, (long long)k * MIB);
		ck_assert_msg(repo_writer_write(w, buf, sizeof(buf), &e) == 0, "%s", e.msg);
	}
	/* Before commit: not visible under its key. */
	ck_assert_int_eq(exists(r, "k/new", NULL), 0);
	list(r, "k/", &l);
	ck_assert_int_eq(l.n, 1);
	ck_assert_int_eq(l.ntmp, drivers[_i].lists_tmp ? 1 : 0);
	if (drivers[_i].lists_tmp)
		ck_assert_msg(!strncmp(l.tmp_key, "k/new.tmp-", 10), "%s", l.tmp_key);
	strbuf_release(&l.keys);
	repo_writer_abort(w);
	list(r, "k/", &l);
	ck_assert_int_eq(l.n, 1);
	ck_assert_int_eq(l.ntmp, 0);
	ck_assert(has(&l, "k/old=3;"));
	strbuf_release(&l.keys);
	ck_assert_int_eq(exists(r, "k/new", NULL), 0);
	/* A writer over an existing key that is aborted keeps the old object. */
	ck_assert_int_eq(repo_writer_open(r, "k/old", -1, &w, &e), 0);
	ck_assert_int_eq(repo_writer_write(w, "new!", 4, &e), 0);
	repo_writer_abort(w);
	{
		struct strbuf sb = STRBUF_INIT;

		ck_assert_int_eq(repo_get_bytes(r, "k/old", &sb, 100, &e), 0);
		ck_assert_str_eq(sb.buf, "old");
		strbuf_release(&sb);
	}
	repo_close(r);
	cleanup_spec(spec);
}
END_TEST

/* A process that dies between open and commit: nothing under the key; a
 * driver with temporaries lists one (tmp=1) that delete removes. */
START_TEST(test_crash_before_commit)
{
	json_t *spec;
	struct repo *r = open_driver(_i, &spec);
	struct errbuf e = ERRBUF_INIT;
	struct listing l;
	pid_t pid;
	int status;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct repo *cr = NULL;
		struct repo_writer *w;
		static unsigned char buf[MIB];
		int k;

		if (repo_open_json(spec, "/", &cr, &e) || repo_writer_open(cr, "c/obj", -1, &w, &e))
			_exit(2);
		for (k = 0; k < 12; k++) {
			fill(buf, sizeof(buf), 4, (long long)k * MIB);
			if (repo_writer_write(w, buf, sizeof(buf), &e))
				_exit(3);
		}
		_exit(0);  /* no commit, no abort: a crash */
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
	ck_assert_int_eq(exists(r, "c/obj", NULL), 0);
	list(r, "c/", &l);
	ck_assert_int_eq(l.n, 0);
	ck_assert_int_eq(l.ntmp, drivers[_i].lists_tmp ? 1 : 0);
	strbuf_release(&l.keys);
	if (drivers[_i].lists_tmp) {
		char tmp[512];

		snprintf(tmp, sizeof(tmp), "%s", l.tmp_key);
		ck_assert_msg(!strncmp(tmp, "c/obj.tmp-", 10), "%s", tmp);
		ck_assert_msg(repo_delete(r, tmp, &e) == 0, "%s", e.msg);
		list(r, "c/", &l);
		ck_assert_int_eq(l.ntmp, 0);
		strbuf_release(&l.keys);
	}
	repo_close(r);
	cleanup_spec(spec);
}
END_TEST

START_TEST(test_describe)
{
	json_t *spec;
	struct repo *r = open_driver(_i, &spec);
	const char *d = repo_describe(r);

	if (!strncmp(drivers[_i].name, "s3", 2)) {
		ck_assert_msg(!strncmp(d, "s3://ballast-test/s3", 20), "%s", d);
	} else if (!strcmp(drivers[_i].name, "local")) {
		ck_assert_str_eq(d, json_string_value(json_object_get(spec, "path")));
	} else {
		ck_assert_msg(!strncmp(d, "sftp://", 7), "%s", d);
		ck_assert_msg(strstr(d, json_string_value(json_object_get(spec, "path"))) != NULL,
			      "%s", d);
	}
	repo_close(r);
	cleanup_spec(spec);
}
END_TEST

/* ---- bad input: sftp ---- */

static json_t *sftp_spec_in(const char *dir)
{
	json_t *spec = spec_sftp("sftp-bad");

	ttmp_rm(json_string_value(json_object_get(spec, "path")));
	json_object_set_new(spec, "path", json_string(dir));
	return spec;
}

static void keygen(const char *path)
{
	const char *argv[] = { "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path, NULL };

	ck_assert_int_eq(trun(argv, NULL, NULL, NULL), 0);
}

START_TEST(test_sftp_wrong_key)
{
	char *dir = ttmp_dir("sftp-wrongkey"), *port = fact("sshd", "port");
	json_t *spec = sftp_spec_in(dir);
	struct repo *r = NULL;
	struct errbuf e = ERRBUF_INIT;
	struct strbuf key = STRBUF_INIT, want = STRBUF_INIT;

	strbuf_addf(&key, "%s/stranger", dir);
	keygen(key.buf);
	json_object_set_new(spec, "key", json_string(key.buf));
	ck_assert_int_eq(repo_open_json(spec, "/", &r, &e), BL_EFAIL);
	ck_assert_ptr_null(r);
	strbuf_addf(&want, "@127.0.0.1:%s", port);
	ck_assert_msg(strstr(e.msg, want.buf) && strstr(e.msg, "authentication") &&
		      strstr(e.msg, key.buf), "%s", e.msg);
	/* A passphrase variable that is not set is a configuration error. */
	json_object_set_new(spec, "passphrase_env", json_string("BALLAST_TEST_NO_SUCH_VAR"));
	unsetenv("BALLAST_TEST_NO_SUCH_VAR");
	ck_assert_int_eq(repo_open_json(spec, "/", &r, &e), BL_EUSAGE);
	ck_assert_msg(strstr(e.msg, "BALLAST_TEST_NO_SUCH_VAR") != NULL, "%s", e.msg);
	json_object_del(spec, "passphrase_env");
	/* sftp does not retry: a "retries" there would be silently ignored */
	json_object_set_new(spec, "retries", json_integer(3));
	ck_assert_int_eq(repo_open_json(spec, "/", &r, &e), BL_EUSAGE);
	ck_assert_msg(strstr(e.msg, "repository.retries") && strstr(e.msg, "s3"), "%s", e.msg);
	json_object_del(spec, "retries");
	/* The passphrase-protected key works with its passphrase from the env. */
	{
		char *kp = fact("sshd", "key_pass"), *pp = fact("sshd", "key_pass_passphrase");

		setenv("BALLAST_TEST_PASSPHRASE", pp, 1);
		json_object_set_new(spec, "key", json_string(kp));
		json_object_set_new(spec, "passphrase_env", json_string("BALLAST_TEST_PASSPHRASE"));
		ck_assert_msg(repo_open_json(spec, "/", &r, &e) == 0, "%s", e.msg);
		repo_close(r);
		free(kp);
		free(pp);
	}
	json_decref(spec);
	strbuf_release(&key);
	strbuf_release(&want);
	ttmp_rm(dir);
	free(dir);
	free(port);
}
END_TEST

START_TEST(test_sftp_host_keys)
{
	char *dir = ttmp_dir("sftp-hostkeys"), *port = fact("sshd", "port");
	char *hostpub = fact("sshd", "host_pubkey");
	json_t *spec = sftp_spec_in(dir);
	struct repo *r = NULL;
	struct errbuf e = ERRBUF_INIT;
	struct strbuf kh = STRBUF_INIT, other = STRBUF_INIT, line = STRBUF_INIT, got = STRBUF_INIT;

	/* Unknown: refused with the fingerprint, file untouched. */
	strbuf_addf(&kh, "%s/known_hosts", dir);
	ck_assert_int_eq(twrite_file(kh.buf, ""), 0);
	json_object_set_new(spec, "known_hosts", json_string(kh.buf));
	ck_assert_int_eq(repo_open_json(spec, "/", &r, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "unknown host key") && strstr(e.msg, "SHA256:") &&
		      strstr(e.msg, port), "%s", e.msg);
	ck_assert_int_eq(tread_file(kh.buf, &got), 0);
	ck_assert_uint_eq(got.len, 0);

	/* accept-new records it, and the repository works. */
	json_object_set_new(spec, "host_key_policy", json_string("accept-new"));
	ck_assert_msg(repo_open_json(spec, "/", &r, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(repo_put_bytes(r, "x", "1", 1, &e), 0);
	repo_close(r);
	ck_assert_int_eq(tread_file(kh.buf, &got), 0);
	ck_assert_msg(strstr(got.buf, hostpub) != NULL, "%s", got.buf);

	/* Changed: refused even with accept-new. */
	strbuf_addf(&other, "%s/otherhost", dir);
	keygen(other.buf);
	strbuf_addstr(&other, ".pub");
	strbuf_reset(&got);
	ck_assert_int_eq(tread_file(other.buf, &got), 0);
	strbuf_addf(&line, "[127.0.0.1]:%s %s", port, got.buf);
	ck_assert_int_eq(twrite_file(kh.buf, line.buf), 0);
	ck_assert_int_eq(repo_open_json(spec, "/", &r, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "CHANGED") && strstr(e.msg, "SHA256:"), "%s", e.msg);
	json_object_set_new(spec, "host_key_policy", json_string("sometimes"));
	ck_assert_int_eq(repo_open_json(spec, "/", &r, &e), BL_EUSAGE);
	json_decref(spec);
	strbuf_release(&kh);
	strbuf_release(&other);
	strbuf_release(&line);
	strbuf_release(&got);
	ttmp_rm(dir);
	free(dir);
	free(port);
	free(hostpub);
}
END_TEST

START_TEST(test_sftp_refused)
{
	char *dir = ttmp_dir("sftp-refused");
	json_t *spec = sftp_spec_in(dir);
	struct repo *r = NULL;
	struct errbuf e = ERRBUF_INIT;

	json_object_set_new(spec, "port", json_integer(1));
	ck_assert_int_eq(repo_open_json(spec, "/", &r, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "127.0.0.1:1:") && strstr(e.msg, "refused"), "%s", e.msg);
	json_object_del(spec, "host");
	ck_assert_int_eq(repo_open_json(spec, "/", &r, &e), BL_EUSAGE);
	ck_assert_msg(strstr(e.msg, "repository.host") != NULL, "%s", e.msg);
	json_decref(spec);
	ttmp_rm(dir);
	free(dir);
}
END_TEST

/* Every descendant of pid (not pid itself): the per-connection sshd
 * processes of the test server. */
static int descendants(pid_t pid, pid_t *out, int max)
{
	int n = 0, changed = 1, i;
	pid_t parents[256];
	int np = 1;

	parents[0] = pid;
	while (changed) {
		DIR *d = opendir("/proc");
		struct dirent *de;

		changed = 0;
		ck_assert_ptr_nonnull(d);
		while ((de = readdir(d))) {
			char path[64], buf[512], *cp;
			pid_t p = (pid_t)atoi(de->d_name), pp;
			FILE *f;
			int known = 0;

			if (p <= 0)
				continue;
			snprintf(path, sizeof(path), "/proc/%d/stat", (int)p);
			if (!(f = fopen(path, "r")))
				continue;
			if (!fgets(buf, sizeof(buf), f)) {
				fclose(f);
				continue;
			}
			fclose(f);
			cp = strrchr(buf, ')');
			if (!cp || sscanf(cp + 2, "%*c %d", &pp) != 1)
				continue;
			for (i = 0; i < np; i++)
				if (parents[i] == p)
					known = 1;
			if (known)
				continue;
			for (i = 0; i < np; i++) {
				if (parents[i] == pp && n < max && np < 256) {
					out[n++] = p;
					parents[np++] = p;
					changed = 1;
					break;
				}
			}
		}
		closedir(d);
	}
	return n;
}

START_TEST(test_sftp_drop_mid_upload)
{
	char *dir = ttmp_dir("sftp-drop"), *pidstr = fact("sshd", "pid");
	json_t *spec = sftp_spec_in(dir);
	struct repo *r = NULL, *r2 = NULL;
	struct repo_writer *w;
	struct errbuf e = ERRBUF_INIT;
	struct strbuf sb = STRBUF_INIT;
	struct listing l;
	static unsigned char buf[MIB];
	pid_t kids[64];
	int nk, k, rc = 0;

	ck_assert_msg(repo_open_json(spec, "/", &r, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(repo_put_bytes(r, "b/earlier/manifest.json", "{}", 2, &e), 0);
	ck_assert_int_eq(repo_writer_open(r, "b/new/db.dump.zst", -1, &w, &e), 0);
	fill(buf, sizeof(buf), 5, 0);
	ck_assert_int_eq(repo_writer_write(w, buf, sizeof(buf), &e), 0);
	/* The server side of our connection dies mid-stream. */
	nk = descendants((pid_t)atoi(pidstr), kids, 64);
	ck_assert_int_gt(nk, 0);
	for (k = 0; k < nk; k++)
		kill(kids[k], SIGKILL);
	for (k = 0; k < 50 && !rc; k++)
		rc = repo_writer_write(w, buf, sizeof(buf), &e);
	if (!rc)
		rc = repo_writer_commit(w, &e);
	else
		repo_writer_abort(w);
	ck_assert_int_eq(rc, BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "b/new/db.dump.zst") && strstr(e.msg, "sftp://"), "%s", e.msg);
	repo_close(r);

	/* A new connection: nothing under the key, the earlier backup intact. */
	ck_assert_msg(repo_open_json(spec, "/", &r2, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(exists(r2, "b/new/db.dump.zst", NULL), 0);
	ck_assert_int_eq(repo_get_bytes(r2, "b/earlier/manifest.json", &sb, 100, &e), 0);
	ck_assert_str_eq(sb.buf, "{}");
	list(r2, "b/", &l);
	ck_assert_int_eq(l.n, 1);
	ck_assert_int_le(l.ntmp, 1);  /* the dead writer's temporary, marked as such */
	strbuf_release(&l.keys);
	repo_close(r2);
	strbuf_release(&sb);
	json_decref(spec);
	ttmp_rm(dir);
	free(dir);
	free(pidstr);
}
END_TEST

/* ---- bad input: s3 ---- */

START_TEST(test_s3_forbidden)
{
	json_t *spec = spec_s3("s3-403");
	struct repo *r = NULL;
	struct errbuf e = ERRBUF_INIT;
	struct listing l = { STRBUF_INIT, 0, 0, "" };
	long long t0;

	setenv("BALLAST_TEST_S3_ACCESS", "NOT-A-KEY", 1);
	ck_assert_msg(repo_open_json(spec, "/", &r, &e) == 0, "%s", e.msg);
	t0 = time_mono_ms();
	ck_assert_int_eq(repo_put_bytes(r, "f/manifest.json", "{}", 2, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "403") && strstr(e.msg, "InvalidAccessKeyId") &&
		      strstr(e.msg, "bucket ballast-test") && strstr(e.msg, "f/manifest.json"),
		      "%s", e.msg);
	/* A 4xx is final: no retries, no backoff. */
	ck_assert_int_lt(time_mono_ms() - t0, 2000);
	ck_assert_int_eq(repo_list(r, "", list_cb, &l, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "403") != NULL, "%s", e.msg);
	repo_close(r);
	/* Credentials missing altogether: configuration error naming the variable. */
	unsetenv("BALLAST_TEST_S3_ACCESS");
	ck_assert_int_eq(repo_open_json(spec, "/", &r, &e), BL_EUSAGE);
	ck_assert_msg(strstr(e.msg, "BALLAST_TEST_S3_ACCESS") != NULL, "%s", e.msg);
	json_decref(spec);
}
END_TEST

START_TEST(test_s3_no_bucket)
{
	json_t *spec = spec_s3("s3-nobucket");
	struct repo *r = NULL;
	struct repo_writer *w;
	struct errbuf e = ERRBUF_INIT;
	struct listing l = { STRBUF_INIT, 0, 0, "" };
	static unsigned char buf[MIB];
	int k, rc = 0;

	json_object_set_new(spec, "bucket", json_string("no-such-bucket-here"));
	ck_assert_msg(repo_open_json(spec, "/", &r, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(repo_put_bytes(r, "m", "{}", 2, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "NoSuchBucket") && strstr(e.msg, "no-such-bucket-here"),
		      "%s", e.msg);
	ck_assert_int_eq(repo_list(r, "", list_cb, &l, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "NoSuchBucket") != NULL, "%s", e.msg);
	ck_assert_int_eq(repo_delete(r, "m", &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "NoSuchBucket") != NULL, "%s", e.msg);
	/* A multipart stream fails at its first part, naming the bucket. */
	ck_assert_int_eq(repo_writer_open(r, "big", -1, &w, &e), 0);
	for (k = 0; k < 12 && !rc; k++)
		rc = repo_writer_write(w, buf, sizeof(buf), &e);
	if (!rc)
		rc = repo_writer_commit(w, &e);
	else
		repo_writer_abort(w);
	ck_assert_int_eq(rc, BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "NoSuchBucket") && strstr(e.msg, "big"), "%s", e.msg);
	repo_close(r);
	json_decref(spec);
}
END_TEST

START_TEST(test_s3_tls_verification)
{
	json_t *spec = spec_s3_tls("s3-tls");
	struct repo *r = NULL;
	struct errbuf e = ERRBUF_INIT;
	struct strbuf sb = STRBUF_INIT, dir = STRBUF_INIT;
	char *ca = fact("s3", "ca_file"), *ep = fact("s3", "endpoint_tls");

	/* Without the CA the server's certificate is refused, at once. */
	json_object_del(spec, "ca_file");
	ck_assert_msg(repo_open_json(spec, "/", &r, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(repo_put_bytes(r, "t/x", "x", 1, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, ep) && strstr(e.msg, "t/x") && strstr(e.msg, "certificate") &&
		      !strstr(e.msg, "attempts"), "%s", e.msg);
	repo_close(r);
	/* A relative ca_file resolves from the config's directory. */
	strbuf_add(&dir, ca, (size_t)(strrchr(ca, '/') - ca));
	json_object_set_new(spec, "ca_file", json_string(strrchr(ca, '/') + 1));
	ck_assert_msg(repo_open_json(spec, dir.buf, &r, &e) == 0, "%s", e.msg);
	ck_assert_msg(repo_put_bytes(r, "t/x", "x", 1, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(repo_get_bytes(r, "t/x", &sb, 10, &e), 0);
	ck_assert_str_eq(sb.buf, "x");
	repo_close(r);
	/* A CA file that does not exist fails naming it. */
	json_object_set_new(spec, "ca_file", json_string("/nonexistent/ca.pem"));
	ck_assert_msg(repo_open_json(spec, "/", &r, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(repo_put_bytes(r, "t/y", "y", 1, &e), BL_EFAIL);
	repo_close(r);
	strbuf_release(&sb);
	strbuf_release(&dir);
	json_decref(spec);
	free(ca);
	free(ep);
}
END_TEST

START_TEST(test_s3_list_pages)
{
	json_t *spec = spec_s3("s3-pages");
	struct repo *r = NULL;
	struct errbuf e = ERRBUF_INIT;
	struct listing l;
	char key[32];
	int k;

	json_object_set_new(spec, "max_keys", json_integer(2));
	ck_assert_msg(repo_open_json(spec, "/", &r, &e) == 0, "%s", e.msg);
	for (k = 0; k < 7; k++) {
		snprintf(key, sizeof(key), "pg/%d", k);
		ck_assert_int_eq(repo_put_bytes(r, key, key, strlen(key), &e), 0);
	}
	list(r, "pg/", &l);
	ck_assert_int_eq(l.n, 7);
	for (k = 0; k < 7; k++) {
		snprintf(key, sizeof(key), "pg/%d=4;", k);
		ck_assert_msg(has(&l, key), "%s missing from %s", key, l.keys.buf);
	}
	strbuf_release(&l.keys);
	repo_close(r);
	json_decref(spec);
}
END_TEST

/* A fault-injecting HTTP proxy in front of s3rver: each connection carries
 * one request (Connection: close); requests whose request line contains
 * `match` get a 500, or have their connection dropped mid-body, `times`
 * times (-1: always). Everything else is relayed. */
struct proxy {
	int lfd, port, upstream;
	const char *match;
	int drop;            /* 0: answer 500; 1: close mid-body; 2: the first
	                        time forward, swallow the server's answer and say
	                        500, then answer 404 NoSuchUpload */
	int times;
	pthread_mutex_t mu;
	int faults, aborts, requests;
	pthread_t th;
	volatile int stop;
};

static int read_full(int fd, char *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static void write_all(int fd, const char *buf, size_t n)
{
	while (n) {
		ssize_t w = write(fd, buf, n);

		if (w <= 0)
			return;
		buf += w;
		n -= (size_t)w;
	}
}

struct conn {
	struct proxy *p;
	int fd;
};

static void *proxy_conn(void *arg)
{
	struct conn *c = arg;
	struct proxy *p = c->p;
	char hdr[65536], chunk[65536];
	size_t hl = 0;
	char *end, *line, *next;
	long long clen = 0, left;
	int expect = 0, fault = 0, up = -1;
	struct strbuf out = STRBUF_INIT;
	struct sockaddr_in sa;

	/* Headers. */
	while (!(end = memmem(hdr, hl, "\r\n\r\n", 4))) {
		ssize_t r = read(c->fd, hdr + hl, sizeof(hdr) - hl - 1);

		if (r <= 0)
			goto out;
		hl += (size_t)r;
	}
	hdr[hl] = 0;
	pthread_mutex_lock(&p->mu);
	p->requests++;
	if (!strncmp(hdr, "DELETE ", 7) && strstr(hdr, "uploadId=") < strstr(hdr, "\r\n"))
		p->aborts++;
	if (p->match && (line = strstr(hdr, p->match)) && line < strstr(hdr, "\r\n") &&
	    (p->times < 0 || p->faults < p->times)) {
		fault = ++p->faults;
	}
	pthread_mutex_unlock(&p->mu);
	/* Rewrite: no Expect, no keep-alive. */
	for (line = hdr; line < end + 2; line = next + 2) {
		next = strstr(line, "\r\n");
		if (!strncasecmp(line, "Content-Length:", 15))
			clen = atoll(line + 15);
		if (!strncasecmp(line, "Expect:", 7)) {
			expect = 1;
			continue;
		}
		if (!strncasecmp(line, "Connection:", 11))
			continue;
		if (next == line)
			break;
		strbuf_add(&out, line, (size_t)(next - line) + 2);
	}
	strbuf_addstr(&out, "Connection: close\r\n\r\n");
	if (expect)
		write_all(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	left = clen - (long long)(hl - (size_t)(end + 4 - hdr));
	if (fault && p->drop == 1) {
		/* Take some of the body, then vanish. */
		if (left > 0)
			read_full(c->fd, chunk, (size_t)(left / 2 < (long long)sizeof(chunk) ?
							 left / 2 : (long long)sizeof(chunk)));
		goto out;
	}
	if (fault == 1 && p->drop == 2)
		goto forward;
	if (fault) {
		const char *body = p->drop == 2 ?
			"<?xml version=\"1.0\"?><Error><Code>NoSuchUpload</Code><Message>The "
			"specified upload does not exist</Message></Error>" :
			"<?xml version=\"1.0\"?><Error><Code>InternalError</Code>"
			"<Message>injected by the test proxy</Message></Error>";
		const char *status = p->drop == 2 ? "404 Not Found" : "500 Internal Server Error";
		char resp[512];

		while (left > 0) {
			size_t n = left < (long long)sizeof(chunk) ? (size_t)left : sizeof(chunk);

			if (read_full(c->fd, chunk, n))
				goto out;
			left -= (long long)n;
		}
		snprintf(resp, sizeof(resp), "HTTP/1.1 %s\r\nContent-Type: "
			 "application/xml\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
			 status, strlen(body), body);
		write_all(c->fd, resp, strlen(resp));
		goto out;
	}
forward:
	up = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)p->upstream);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(up, (struct sockaddr *)&sa, sizeof(sa)))
		goto out;
	write_all(up, out.buf, out.len);
	write_all(up, end + 4, hl - (size_t)(end + 4 - hdr));
	while (left > 0) {
		size_t n = left < (long long)sizeof(chunk) ? (size_t)left : sizeof(chunk);

		if (read_full(c->fd, chunk, n))
			goto out;
		write_all(up, chunk, n);
		left -= (long long)n;
	}
	for (;;) {
		ssize_t r = read(up, chunk, sizeof(chunk));

		if (r <= 0)
			break;
		if (!fault)
			write_all(c->fd, chunk, (size_t)r);
	}
	if (fault) {
		static const char lost[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
					   "Connection: close\r\n\r\n";

		write_all(c->fd, lost, sizeof(lost) - 1);
	}
out:
	if (up >= 0)
		close(up);
	close(c->fd);
	strbuf_release(&out);
	free(c);
	return NULL;
}

static void *proxy_main(void *arg)
{
	struct proxy *p = arg;
	const struct timeval patient = { 30, 0 };

	while (!p->stop) {
		int fd = accept(p->lfd, NULL, NULL);
		struct conn *c;
		pthread_t t;

		if (fd < 0)
			continue;
		/* The accepted socket inherits the listener's 200 ms receive
		 * timeout: a client slowed down between two sends (ASan, a
		 * loaded machine) would be cut off as if by a fault. */
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &patient, sizeof(patient));
		c = malloc(sizeof(*c));
		c->p = p;
		c->fd = fd;
		pthread_create(&t, NULL, proxy_conn, c);
		pthread_detach(t);
	}
	return NULL;
}

static void proxy_start(struct proxy *p, const char *match, int drop, int times)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	char *port = fact("s3", "port");
	struct timeval tv = { 0, 200000 };

	memset(p, 0, sizeof(*p));
	p->upstream = atoi(port);
	free(port);
	p->match = match;
	p->drop = drop;
	p->times = times;
	pthread_mutex_init(&p->mu, NULL);
	p->lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(p->lfd, 16), 0);
	/* accept() wakes up now and then to see `stop`. */
	setsockopt(p->lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	getsockname(p->lfd, (struct sockaddr *)&sa, &sl);
	p->port = ntohs(sa.sin_port);
	pthread_create(&p->th, NULL, proxy_main, p);
}

static void proxy_stop(struct proxy *p)
{
	p->stop = 1;
	pthread_join(p->th, NULL);
	close(p->lfd);
}

static json_t *spec_via_proxy(struct proxy *p, const char *tag)
{
	json_t *spec = spec_s3(tag);
	char ep[64];

	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", p->port);
	json_object_set_new(spec, "endpoint", json_string(ep));
	return spec;
}

/* A 20 MiB stream through the proxy: four parts of 5 MiB. */
static int put_via(struct repo *r, const char *key, struct errbuf *e)
{
	return put_stream(r, key, 7, 20LL * MIB, -1, e);
}

START_TEST(test_s3_500_on_one_part)
{
	struct proxy p;
	json_t *spec;
	struct repo *r = NULL, *direct = NULL;
	struct errbuf e = ERRBUF_INIT;
	struct strbuf sb = STRBUF_INIT;
	struct listing l;

	/* Once: the retry hides it and the object is whole. */
	proxy_start(&p, "partNumber=2&", 0, 1);
	spec = spec_via_proxy(&p, "s3-500");
	ck_assert_msg(repo_open_json(spec, "/", &r, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(repo_put_bytes(r, "bk/earlier/manifest.json", "{}", 2, &e), 0);
	ck_assert_msg(put_via(r, "bk/retried", &e) == 0, "%s", e.msg);
	ck_assert_int_eq(p.faults, 1);
	check_stream(r, "bk/retried", 7, 20LL * MIB);
	repo_close(r);
	proxy_stop(&p);

	/* Always: the upload fails naming the part, and is aborted. */
	proxy_start(&p, "partNumber=2&", 0, -1);
	{
		char ep[64];

		snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", p.port);
		json_object_set_new(spec, "endpoint", json_string(ep));
	}
	ck_assert_msg(repo_open_json(spec, "/", &r, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(put_via(r, "bk/new/db.dump.zst", &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "bk/new/db.dump.zst (part 2)") && strstr(e.msg, "500") &&
		      strstr(e.msg, "InternalError") && strstr(e.msg, "bucket ballast-test") &&
		      strstr(e.msg, "3 attempts"), "%s", e.msg);
	ck_assert_int_eq(p.faults, 3);  /* first try + 2 retries */
	ck_assert_int_ge(p.aborts, 1);
	repo_close(r);
	proxy_stop(&p);

	/* Straight to the server: nothing under the key, the earlier intact. */
	json_decref(spec);
	spec = spec_s3("direct");
	json_object_set_new(spec, "prefix", json_string(""));
	ck_assert_int_eq(repo_open_json(spec, "/", &direct, &e), 0);
	list(direct, "", &l);
	ck_assert_msg(!strstr(l.keys.buf, "bk/new/"), "%s", l.keys.buf);
	ck_assert_msg(strstr(l.keys.buf, "bk/earlier/manifest.json=2;") != NULL, "%s", l.keys.buf);
	strbuf_release(&l.keys);
	repo_close(direct);
	strbuf_release(&sb);
	json_decref(spec);
}
END_TEST

/* The server completes the upload but its answer is lost: the retry hears
 * NoSuchUpload. The object is there, whole and ours: that is a success,
 * not an abort (which would find nothing to abort) and a failed backup. */
START_TEST(test_s3_complete_answer_lost)
{
	struct proxy p;
	json_t *spec;
	struct repo *r = NULL;
	struct errbuf e = ERRBUF_INIT;

	proxy_start(&p, "?uploadId=", 2, -1);
	spec = spec_via_proxy(&p, "s3-lost");
	ck_assert_msg(repo_open_json(spec, "/", &r, &e) == 0, "%s", e.msg);
	ck_assert_msg(put_via(r, "bk/lost-answer", &e) == 0, "%s", e.msg);
	ck_assert_int_eq(p.faults, 2);  /* the lost answer, then NoSuchUpload */
	ck_assert_int_eq(p.aborts, 0);
	check_stream(r, "bk/lost-answer", 7, 20LL * MIB);
	repo_close(r);
	proxy_stop(&p);
	json_decref(spec);
}
END_TEST

START_TEST(test_s3_drop_mid_upload)
{
	struct proxy p;
	json_t *spec;
	struct repo *r = NULL;
	struct errbuf e = ERRBUF_INIT;
	struct listing l;

	proxy_start(&p, "partNumber=3&", 1, -1);
	spec = spec_via_proxy(&p, "s3-drop");
	ck_assert_msg(repo_open_json(spec, "/", &r, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(repo_put_bytes(r, "d/earlier", "ok", 2, &e), 0);
	ck_assert_int_eq(put_via(r, "d/new", &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "d/new (part 3)") && strstr(e.msg, "127.0.0.1"), "%s", e.msg);
	ck_assert_int_eq(p.faults, 3);
	ck_assert_int_eq(exists(r, "d/new", NULL), 0);
	list(r, "d/", &l);
	ck_assert_int_eq(l.n, 1);
	ck_assert(has(&l, "d/earlier=2;"));
	strbuf_release(&l.keys);
	repo_close(r);
	proxy_stop(&p);
	json_decref(spec);
}
END_TEST

/* Last: kills the real server mid-stream, then brings it back. */
START_TEST(test_s3_server_killed)
{
	json_t *spec = spec_s3("s3-killed");
	struct repo *r = NULL;
	struct repo_writer *w;
	struct errbuf e = ERRBUF_INIT;
	struct strbuf sb = STRBUF_INIT, dir = STRBUF_INIT;
	struct listing l;
	static unsigned char buf[MIB];
	char *pid = fact("s3", "pid");
	const char *argv[] = { BALLAST_SOURCE_DIR "/tests/services/s3.sh", "restart", NULL, NULL };
	int k, rc = 0;

	json_object_set_new(spec, "retries", json_integer(1));
	ck_assert_msg(repo_open_json(spec, "/", &r, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(repo_put_bytes(r, "earlier/manifest.json", "{\"ok\":1}", 8, &e), 0);
	ck_assert_int_eq(repo_writer_open(r, "new/db.dump.zst", -1, &w, &e), 0);
	for (k = 0; k < 7; k++) {
		fill(buf, sizeof(buf), 8, (long long)k * MIB);
		ck_assert_msg(repo_writer_write(w, buf, sizeof(buf), &e) == 0, "%s", e.msg);
	}
	ck_assert_int_eq(kill((pid_t)atoi(pid), SIGKILL), 0);
	for (k = 0; k < 20 && !rc; k++)
		rc = repo_writer_write(w, buf, sizeof(buf), &e);
	if (!rc)
		rc = repo_writer_commit(w, &e);
	else
		repo_writer_abort(w);
	ck_assert_int_eq(rc, BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "new/db.dump.zst") && strstr(e.msg, "127.0.0.1") &&
		      (strstr(e.msg, "onnect") || strstr(e.msg, "refused") ||
		       strstr(e.msg, "reply") || strstr(e.msg, "Send") || strstr(e.msg, "Recv")),
		      "%s", e.msg);

	strbuf_addf(&dir, "%s/s3", getenv("BALLAST_TEST_SVC"));
	argv[2] = dir.buf;
	ck_assert_int_eq(trun(argv, NULL, NULL, NULL), 0);
	ck_assert_int_eq(exists(r, "new/db.dump.zst", NULL), 0);
	ck_assert_int_eq(repo_get_bytes(r, "earlier/manifest.json", &sb, 100, &e), 0);
	ck_assert_str_eq(sb.buf, "{\"ok\":1}");
	list(r, "", &l);
	ck_assert_int_eq(l.n, 1);
	strbuf_release(&l.keys);
	repo_close(r);
	strbuf_release(&sb);
	strbuf_release(&dir);
	json_decref(spec);
	free(pid);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("repo_drivers");
	TCase *tc = tcase_create("contract");
	TCase *bad = tcase_create("bad_input");
	TCase *last = tcase_create("server_killed");

	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_stream_round_trip, 0, NDRIVERS);
	tcase_add_loop_test(tc, test_small_objects, 0, NDRIVERS);
	tcase_add_loop_test(tc, test_list_and_delete, 0, NDRIVERS);
	tcase_add_loop_test(tc, test_abort_leaves_nothing, 0, NDRIVERS);
	tcase_add_loop_test(tc, test_crash_before_commit, 0, NDRIVERS);
	tcase_add_loop_test(tc, test_describe, 0, NDRIVERS);
	suite_add_tcase(s, tc);

	tcase_set_timeout(bad, 300);
	tcase_add_test(bad, test_sftp_wrong_key);
	tcase_add_test(bad, test_sftp_host_keys);
	tcase_add_test(bad, test_sftp_refused);
	tcase_add_test(bad, test_sftp_drop_mid_upload);
	tcase_add_test(bad, test_s3_forbidden);
	tcase_add_test(bad, test_s3_no_bucket);
	tcase_add_test(bad, test_s3_tls_verification);
	tcase_add_test(bad, test_s3_list_pages);
	tcase_add_test(bad, test_s3_500_on_one_part);
	tcase_add_test(bad, test_s3_drop_mid_upload);
	tcase_add_test(bad, test_s3_complete_answer_lost);
	suite_add_tcase(s, bad);

	tcase_set_timeout(last, 300);
	tcase_add_test(last, test_s3_server_killed);
	suite_add_tcase(s, last);
	return trun_suite(s);
}
