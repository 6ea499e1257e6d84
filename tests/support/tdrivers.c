#include "tdrivers.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "tsupport.h"

static const char *const names[TDRV_COUNT] = { "local", "sftp", "s3" };

const char *tdrv_name(int drv)
{
	return drv >= 0 && drv < TDRV_COUNT ? names[drv] : "?";
}

static char *fact(const char *svc, const char *name)
{
	char *v = tsvc_read(svc, name);

	ck_assert_msg(v != NULL, "%s fact %s missing (does the suite declare \"%s\"?)", svc, name,
		      svc);
	return v;
}

json_t *tdrv_spec(int drv, const char *tag)
{
	static int seq;
	json_t *j = NULL;

	if (drv == TDRV_LOCAL) {
		char *dir = ttmp_dir(tag);

		ck_assert_ptr_nonnull(dir);
		j = json_pack("{s:s, s:s}", "type", "local", "path", dir);
		free(dir);
	} else if (drv == TDRV_SFTP) {
		char *port = fact("sshd", "port"), *user = fact("sshd", "user");
		char *key = fact("sshd", "key"), *kh = fact("sshd", "known_hosts_file");
		char *dir = ttmp_dir(tag);

		ck_assert_ptr_nonnull(dir);
		j = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s}", "type", "sftp", "host",
			      "127.0.0.1", "port", atoi(port), "user", user, "key", key,
			      "known_hosts", kh, "host_key_policy", "strict", "path", dir);
		free(port);
		free(user);
		free(key);
		free(kh);
		free(dir);
	} else if (drv == TDRV_S3) {
		char *ep = fact("s3", "endpoint"), *bucket = fact("s3", "bucket");
		char *ak = fact("s3", "access_key"), *sk = fact("s3", "secret_key");
		char prefix[160];

		setenv("BALLAST_TEST_S3_ACCESS", ak, 1);
		setenv("BALLAST_TEST_S3_SECRET", sk, 1);
		snprintf(prefix, sizeof(prefix), "%s-%d-%d", tag, (int)getpid(), ++seq);
		j = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:i}", "type", "s3",
			      "endpoint", ep, "bucket", bucket, "prefix", prefix, "path_style", 1,
			      "region", "us-east-1", "access_key_env", "BALLAST_TEST_S3_ACCESS",
			      "secret_key_env", "BALLAST_TEST_S3_SECRET", "part_size",
			      5 * 1024 * 1024);
		free(ep);
		free(bucket);
		free(ak);
		free(sk);
	}
	ck_assert_msg(j != NULL, "no driver %d", drv);
	return j;
}

int tdrv_of(json_t *spec)
{
	const char *t = json_string_value(json_object_get(spec, "type"));

	for (int i = 0; i < TDRV_COUNT; i++)
		if (t && !strcmp(t, names[i]))
			return i;
	ck_abort_msg("repository spec without a known type");
	return -1;
}

void tdrv_write_config(const char *path, const char *project, const char *state_dir,
		       json_t *spec, const char *databases_json, const char *extra_json)
{
	json_error_t je;
	json_t *dbs = json_loads(databases_json, 0, &je), *cfg;
	char *text;

	ck_assert_msg(dbs != NULL, "databases JSON: %s", je.text);
	cfg = json_pack("{s:s, s:s, s:O, s:{s:i, s:i}, s:o}", "project", project, "state_dir",
			state_dir, "repository", spec, "compression", "level", 3, "threads", 2,
			"databases", dbs);
	ck_assert_ptr_nonnull(cfg);
	if (extra_json) {
		json_t *extra = json_loads(extra_json, 0, &je);

		ck_assert_msg(json_is_object(extra), "extra JSON: %s", je.text);
		ck_assert_int_eq(json_object_update(cfg, extra), 0);
		json_decref(extra);
	}
	text = json_dumps(cfg, JSON_INDENT(2));
	ck_assert_int_eq(twrite_file(path, text), 0);
	free(text);
	json_decref(cfg);
}

struct repo *tdrv_open(json_t *spec)
{
	struct repo *r = NULL;
	struct errbuf e = ERRBUF_INIT;

	ck_assert_msg(repo_open_json(spec, "/", &r, &e) == 0, "%s: %s",
		      tdrv_name(tdrv_of(spec)), e.msg);
	return r;
}

/* s3rver's data directory, from the service's state. */
static void s3_data_dir(struct strbuf *out)
{
	const char *root = getenv("BALLAST_TEST_SVC");
	char *bucket = fact("s3", "bucket");

	ck_assert_ptr_nonnull(root);
	strbuf_addf(out, "%s/s3/data/%s", root, bucket);
	free(bucket);
}

static const char *s3_prefix(json_t *spec)
{
	return json_string_value(json_object_get(spec, "prefix"));
}

void tdrv_object_path(json_t *spec, const char *key, struct strbuf *out)
{
	strbuf_reset(out);
	if (tdrv_of(spec) == TDRV_S3) {
		s3_data_dir(out);
		strbuf_addf(out, "/%s/%s._S3rver_object", s3_prefix(spec), key);
	} else {
		strbuf_addf(out, "%s/%s", json_string_value(json_object_get(spec, "path")), key);
	}
}

static int tmp_fn(void *ctx, const struct repo_entry *ent, struct errbuf *e)
{
	(void)e;
	*(int *)ctx += ent->tmp;
	return 0;
}

/* Unfinished multipart uploads: s3rver keeps each in
 * data/<bucket>/._S3rver_uploads/<uploadId>/ with the object key in "key". */
static int s3_pending(json_t *spec, const char *prefix)
{
	struct strbuf dir = STRBUF_INIT, want = STRBUF_INIT;
	DIR *d;
	struct dirent *de;
	int n = 0;

	s3_data_dir(&dir);
	strbuf_addstr(&dir, "/._S3rver_uploads");
	strbuf_addf(&want, "%s/%s", s3_prefix(spec), prefix);
	d = opendir(dir.buf);
	while (d && (de = readdir(d))) {
		struct strbuf kf = STRBUF_INIT, key = STRBUF_INIT;

		if (de->d_name[0] == '.')
			continue;
		strbuf_addf(&kf, "%s/%s/key", dir.buf, de->d_name);
		if (tread_file(kf.buf, &key) == 0 && !strncmp(key.buf, want.buf, want.len))
			n++;
		strbuf_release(&kf);
		strbuf_release(&key);
	}
	if (d)
		closedir(d);
	strbuf_release(&dir);
	strbuf_release(&want);
	return n;
}

int tdrv_pending(json_t *spec, const char *prefix)
{
	struct repo *r;
	struct errbuf e = ERRBUF_INIT;
	int n = 0;

	if (tdrv_of(spec) == TDRV_S3)
		return s3_pending(spec, prefix);
	r = tdrv_open(spec);
	ck_assert_msg(repo_list(r, prefix, tmp_fn, &n, &e) == 0, "%s", e.msg);
	repo_close(r);
	return n;
}

void tdrv_flip_byte(json_t *spec, const char *key, long long off)
{
	struct strbuf path = STRBUF_INIT;
	FILE *f;
	int ch;

	tdrv_object_path(spec, key, &path);
	f = fopen(path.buf, "r+b");
	ck_assert_msg(f != NULL, "cannot open %s", path.buf);
	ck_assert_int_eq(fseeko(f, (off_t)off, SEEK_SET), 0);
	ch = fgetc(f);
	ck_assert_int_ne(ch, EOF);
	ck_assert_int_eq(fseeko(f, (off_t)off, SEEK_SET), 0);
	ck_assert_int_ne(fputc(ch ^ 0x10, f), EOF);
	ck_assert_int_eq(fclose(f), 0);
	strbuf_release(&path);
}

void tdrv_truncate(json_t *spec, const char *key, long long by)
{
	struct strbuf path = STRBUF_INIT;
	struct stat st;

	tdrv_object_path(spec, key, &path);
	ck_assert_msg(stat(path.buf, &st) == 0, "cannot stat %s", path.buf);
	ck_assert_int_ge(st.st_size, by);
	ck_assert_int_eq(truncate(path.buf, st.st_size - (off_t)by), 0);
	strbuf_release(&path);
}

static int collect_fn(void *ctx, const struct repo_entry *ent, struct errbuf *e)
{
	(void)e;
	json_array_append_new(ctx, json_string(ent->key));
	return 0;
}

void tdrv_cleanup(json_t *spec)
{
	if (!spec)
		return;
	if (tdrv_of(spec) == TDRV_S3) {
		struct repo *r = tdrv_open(spec);
		struct errbuf e = ERRBUF_INIT;
		json_t *keys = json_array(), *k;
		size_t i;

		ck_assert_msg(repo_list(r, "", collect_fn, keys, &e) == 0, "%s", e.msg);
		json_array_foreach(keys, i, k)
			ck_assert_msg(repo_delete(r, json_string_value(k), &e) == 0, "%s", e.msg);
		json_decref(keys);
		repo_close(r);
	} else {
		ttmp_rm(json_string_value(json_object_get(spec, "path")));
	}
	json_decref(spec);
}
