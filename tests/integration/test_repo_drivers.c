// services: sshd s3
/* The repository contract (lib/repo.h), the same tests for every driver,
 * each chosen purely by its "repository" JSON object: put and get streams,
 * small objects, list with temporary-object detection, exists, delete, and
 * atomic commit (abort leaves nothing; a crash before commit leaves nothing
 * visible under the key). Then each driver's bad inputs against the real
 * servers: wrong or unknown keys, refused connections, a server that drops
 * the connection or dies mid-upload, 403, a missing bucket, a 500 on one
 * part. The local driver joins the table when it lands (one line). */
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

#include "repo.h"
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

struct driver {
	const char *name;
	json_t *(*spec)(const char *tag);
	int lists_tmp;   /* a crash leaves a temporary the list reports */
};

static const struct driver drivers[] = {
	{ "sftp", spec_sftp, 1 },
	{ "s3", spec_s3, 0 },
	{ "s3-vhost", spec_s3_vhost, 0 },
	/* { "local", spec_local, 1 }, once lib/repo_local.c lands */
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

/* Where an sftp repository lives on this machine, to clean it up. */
static void cleanup_spec(json_t *spec)
{
	const char *type = json_string_value(json_object_get(spec, "type"));

	if (type && !strcmp(type, "sftp"))
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
	} else {
		ck_assert_msg(!strncmp(d, "sftp://", 7), "%s", d);
		ck_assert_msg(strstr(d, json_string_value(json_object_get(spec, "path"))) != NULL,
			      "%s", d);
	}
	repo_close(r);
	cleanup_spec(spec);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("repo_drivers");
	TCase *tc = tcase_create("contract");

	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_stream_round_trip, 0, NDRIVERS);
	tcase_add_loop_test(tc, test_small_objects, 0, NDRIVERS);
	tcase_add_loop_test(tc, test_list_and_delete, 0, NDRIVERS);
	tcase_add_loop_test(tc, test_abort_leaves_nothing, 0, NDRIVERS);
	tcase_add_loop_test(tc, test_crash_before_commit, 0, NDRIVERS);
	tcase_add_loop_test(tc, test_describe, 0, NDRIVERS);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
