// services: pg sshd s3
/* Every ballast-backup command on every repository driver: the same test
 * bodies, registered once per driver (local directory; sftp to OpenSSH's
 * sshd; s3 to s3rver), the driver chosen only by the "repository" object
 * of the ballast.json the real binary reads (tests/support/tdrivers.h).
 *
 * - Pagila backed up with `run`, seen by `list` and `show`, checked by
 *   `verify`, restored by `restore` into a new database with identical
 *   per-table ordered row hashes; the stored object is where the driver
 *   says it is.
 * - A byte flipped in the stored dump (on disk behind the driver's back):
 *   `verify` exits 4 naming the object, `list` marks the backup, `restore`
 *   refuses before touching the target; a truncated object likewise; the
 *   earlier backup still verifies.
 * - A run SIGKILLed mid-upload: `list` shows nothing new as good or
 *   incomplete, and the next run succeeds.
 * - prune (keep_last 1) removes the older backups' objects from the store
 *   and keeps the newest; drill restores into a scratch database, stores
 *   its report beside the backup and leaves no scratch database; after a
 *   flipped byte it exits 4.
 * - A manifest cut short (what a killed PUT leaves on s3rver), in clear and
 *   encrypted: incomplete on s3, failed-verify elsewhere; encrypted, the
 *   plaintext index is the commit (missing: incomplete; cut short on s3:
 *   incomplete).
 * - A volume (every kind of entry, plus 12 MiB of random data: several
 *   s3 parts) beside a database: restored with --to, the tree listings
 *   are identical; a flipped byte in its archive: verify exits 4, restore
 *   refuses and writes nothing.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "age.h"
#include "tbackup.h"
#include "tdrivers.h"
#include "ttree.h"

static char *sdir; /* dump-command wrappers */

static void setup(void)
{
	load_pagila("pagila");
	/* Big enough that the stored dump spans several 5 MiB s3 parts
	 * (random hex compresses about 2:1), and that more than one part has
	 * left zstd's worker jobs by the time the dump goes quiet: a stalled
	 * input leaves the last jobs' output inside the compressor. */
	sql("postgres", "DROP DATABASE IF EXISTS bulk");
	sql("postgres", "CREATE DATABASE bulk");
	sql("bulk", "CREATE TABLE blob (id int primary key, body text); "
	    "INSERT INTO blob SELECT g, (SELECT string_agg(md5(random()::text), '' ORDER BY k) "
	    "FROM generate_series(1, 12) k WHERE g > 0) FROM generate_series(1, 180000) g");
	sql("postgres", "DROP DATABASE IF EXISTS tiny");
	sql("postgres", "CREATE DATABASE tiny");
	sql("tiny", "CREATE TABLE t (id int primary key, v text); "
	    "INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 777) g");
	sdir = ttmp_dir("drvscripts");
	ck_assert_ptr_nonnull(sdir);
}

static void teardown(void)
{
	ttmp_rm(sdir);
	free(sdir);
}

/* A scratch project whose repository is driver drv's. */
struct dproj {
	struct proj p;
	json_t *spec;
	int drv;
};

static void dproj_init_x(struct dproj *d, int drv, const char *tag, const char *dbs,
			 const char *extra)
{
	char state[1200];

	d->drv = drv;
	proj_init(&d->p, tag, dbs);
	d->spec = tdrv_spec(drv, tag);
	snprintf(state, sizeof(state), "%s/state", d->p.dir);
	tdrv_write_config(d->p.cfg, "shop", state, d->spec, dbs, extra);
	tinit_repo(d->p.cfg);
}

static void dproj_init(struct dproj *d, int drv, const char *tag, const char *dbs)
{
	dproj_init_x(d, drv, tag, dbs, NULL);
}

static void dproj_done(struct dproj *d)
{
	tdrv_cleanup(d->spec);
	proj_done(&d->p);
}

static void one_db(char *dbs, size_t n, const char *name, const char *db, const char *dump)
{
	char *ci = tpg_conninfo(db);

	if (dump)
		snprintf(dbs, n, "[ { \"name\": \"%s\", \"conninfo\": \"%s\", "
			 "\"dump_command\": [\"%s\"] } ]", name, ci, dump);
	else
		snprintf(dbs, n, "[ { \"name\": \"%s\", \"conninfo\": \"%s\" } ]", name, ci);
	free(ci);
}

static void fresh_db(const char *name)
{
	sql("postgres", "DROP DATABASE IF EXISTS %s", name);
	sql("postgres", "CREATE DATABASE %s", name);
}

static json_t *show(const struct dproj *d, const char *id)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	json_t *res, *m;

	ck_assert_msg(bb(&d->p, &out, &err, "show", id, "--json") == 0, "show: %s", err.buf);
	res = last_json(&out);
	m = json_incref(json_object_get(res, "manifest"));
	ck_assert_ptr_nonnull(m);
	json_decref(res);
	strbuf_release(&out);
	strbuf_release(&err);
	return m;
}

/* The first item's stored object key, from the manifest. */
static char *dump_key(const struct dproj *d, const char *id)
{
	json_t *m = show(d, id);
	char *key = strdup(json_string_value(json_object_get(json_object_get(
		json_array_get(json_object_get(m, "items"), 0), "object"), "key")));

	json_decref(m);
	return key;
}

START_TEST(test_pagila_roundtrip)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, obj = STRBUF_INIT;
	struct dproj d;
	json_t *res, *b, *m, *item, *t;
	char dbs[2048], want[256], rdb[32], *id, *target, *key;
	struct stat st;
	size_t i;
	int film = 0;

	one_db(dbs, sizeof(dbs), "app", "pagila", NULL);
	dproj_init(&d, _i, tdrv_name(_i), dbs);
	ck_assert_msg(bb(&d.p, &out, &err, "run", "--label", "driver=x", "--json") == 0,
		      "%s: run: %s", tdrv_name(_i), err.buf);
	res = last_json(&out);
	ck_assert_str_eq(json_string_value(json_object_get(res, "status")), "ok");
	id = strdup(json_string_value(json_object_get(res, "backup_id")));
	json_decref(res);

	/* list: one good backup, with its label and size */
	b = list_backups(&d.p);
	ck_assert_int_eq((int)json_array_size(b), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(b, 0), "id")), id);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(b, 0), "status")), "good");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_array_get(b, 0),
									   "labels"), "driver")), "x");
	ck_assert_int_gt(json_integer_value(json_object_get(json_array_get(b, 0), "size")), 0);
	json_decref(b);

	/* show: the manifest as stored, with the source's row counts */
	m = show(&d, id);
	ck_assert_str_eq(json_string_value(json_object_get(m, "id")), id);
	item = json_array_get(json_object_get(m, "items"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(item, "name")), "app");
	json_array_foreach(json_object_get(item, "tables"), i, t)
		if (!strcmp(json_string_value(json_object_get(t, "name")), "rental")) {
			film = 1;
			ck_assert_int_eq(json_integer_value(json_object_get(t, "rows")),
					 sql_int("pagila", "SELECT count(*) FROM public.rental"));
		}
	ck_assert(film);
	/* the object is in the driver's store, with the manifest's size */
	key = strdup(json_string_value(json_object_get(json_object_get(item, "object"), "key")));
	snprintf(want, sizeof(want), "shop/backups/%s/db-app.dump.zst", id);
	ck_assert_str_eq(key, want);
	tdrv_object_path(d.spec, key, &obj);
	ck_assert_msg(stat(obj.buf, &st) == 0, "%s: %s not stored at %s", tdrv_name(_i), key,
		      obj.buf);
	ck_assert_int_eq((long long)st.st_size, json_integer_value(json_object_get(
		json_object_get(item, "object"), "size")));
	json_decref(m);
	/* and no temporary object is left behind */
	ck_assert_int_eq(tdrv_pending(d.spec, "shop/"), 0);
	/* the human forms read the same repository */
	ck_assert_msg(bb(&d.p, &out, &err, "list") == 0, "%s", err.buf);
	ck_assert_msg(strstr(out.buf, id) && strstr(out.buf, "good"), "%s: list: %s", tdrv_name(_i),
		      out.buf);
	ck_assert_msg(bb(&d.p, &out, &err, "show", id) == 0, "%s", err.buf);
	ck_assert_msg(strstr(out.buf, id) && strstr(out.buf, "rental"), "%s: show: %s",
		      tdrv_name(_i), out.buf);
	/* an id the repository does not hold: exit 1 naming the repository */
	ck_assert_int_eq(bb(&d.p, &out, &err, "show", "20200101T000000Z-0000"), 1);
	ck_assert_msg(strstr(err.buf, "no committed backup 20200101T000000Z-0000") &&
		      strstr(err.buf, _i == TDRV_S3 ? "s3://" : _i == TDRV_SFTP ? "sftp://" :
			     json_string_value(json_object_get(d.spec, "path"))), "%s: %s",
		      tdrv_name(_i), err.buf);

	ck_assert_msg(bb(&d.p, &out, &err, "verify", id) == 0, "%s: verify: %s", tdrv_name(_i),
		      err.buf);
	ck_assert_msg(bb(&d.p, &out, &err, "verify", "--latest") == 0, "%s", err.buf);

	snprintf(rdb, sizeof(rdb), "restored_%s", tdrv_name(_i));
	fresh_db(rdb);
	target = tpg_conninfo(rdb);
	ck_assert_msg(bb(&d.p, &out, &err, "restore", id, "--db", "app", "--target", target,
			 "--json") == 0, "%s: restore: %s", tdrv_name(_i), err.buf);
	res = last_json(&out);
	ck_assert_str_eq(json_string_value(json_object_get(res, "status")), "ok");
	json_decref(res);
	assert_same_rows("pagila", rdb);
	/* --latest --clean over it finds the same backup through the driver */
	sql(rdb, "DELETE FROM public.payment_p2022_03");
	ck_assert_msg(bb(&d.p, &out, &err, "restore", "--latest", "--target", target, "--clean")
		      == 0, "%s: restore --latest --clean: %s", tdrv_name(_i), err.buf);
	assert_same_rows("pagila", rdb);
	sql("postgres", "DROP DATABASE %s", rdb);

	free(key);
	free(target);
	free(id);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&obj);
	dproj_done(&d);
}
END_TEST

START_TEST(test_flipped_byte)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, obj = STRBUF_INIT;
	struct dproj d;
	char dbs[2048], tdb[32], *good, *id, *key, *target;
	json_t *b;
	struct stat st;

	one_db(dbs, sizeof(dbs), "app", "pagila", NULL);
	dproj_init(&d, _i, "flip", dbs);
	good = backup_ok(&d.p, NULL);
	id = backup_ok(&d.p, NULL);
	key = dump_key(&d, id);
	ck_assert_int_eq(bb(&d.p, &out, &err, "verify", id), 0);
	tdrv_object_path(d.spec, key, &obj);
	ck_assert_int_eq(stat(obj.buf, &st), 0);
	tdrv_flip_byte(d.spec, key, (long long)st.st_size / 2);

	ck_assert_int_eq(bb(&d.p, &out, &err, "verify", id), 4);
	ck_assert_msg(strstr(err.buf, key) && strstr(err.buf, "sha256 mismatch"), "%s: %s",
		      tdrv_name(_i), err.buf);
	ck_assert_int_eq(bb(&d.p, &out, &err, "verify", "--all"), 4);
	ck_assert_msg(strstr(err.buf, key), "%s", err.buf);
	/* list marks it, and only it */
	b = list_backups(&d.p);
	ck_assert_int_eq((int)json_array_size(b), 2);
	/* Two backups taken in the same second sort by their random suffix:
	 * look them up by id, not by position. */
	for (size_t k = 0; k < 2; k++) {
		json_t *ent = json_array_get(b, k);
		const char *bid = json_string_value(json_object_get(ent, "id"));

		ck_assert_str_eq(json_string_value(json_object_get(ent, "status")),
				 !strcmp(bid, id) ? "failed-verify" : "good");
	}
	json_decref(b);

	/* restore refuses before the target sees anything */
	snprintf(tdb, sizeof(tdb), "flip_%s", tdrv_name(_i));
	fresh_db(tdb);
	target = tpg_conninfo(tdb);
	ck_assert_int_eq(bb(&d.p, &out, &err, "restore", id, "--target", target), 4);
	ck_assert_msg(strstr(err.buf, "refusing to restore") && strstr(err.buf, key), "%s: %s",
		      tdrv_name(_i), err.buf);
	ck_assert_int_eq(bb(&d.p, &out, &err, "restore", id, "--target", target, "--jobs", "2"), 4);
	ck_assert_int_eq(sql_int(tdb, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON "
				 "n.oid = c.relnamespace WHERE n.nspname = 'public'"), 0);

	/* a truncated object: the size differs */
	tdrv_truncate(d.spec, key, 100);
	ck_assert_int_eq(bb(&d.p, &out, &err, "verify", id), 4);
	ck_assert_msg(strstr(err.buf, key) && strstr(err.buf, "truncated"), "%s: %s",
		      tdrv_name(_i), err.buf);
	ck_assert_int_eq(bb(&d.p, &out, &err, "restore", id, "--target", target), 4);
	ck_assert_int_eq(sql_int(tdb, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON "
				 "n.oid = c.relnamespace WHERE n.nspname = 'public'"), 0);

	/* the earlier backup is untouched and still restores */
	ck_assert_msg(bb(&d.p, &out, &err, "verify", good) == 0, "%s", err.buf);
	ck_assert_msg(bb(&d.p, &out, &err, "restore", good, "--target", target) == 0, "%s: %s",
		      tdrv_name(_i), err.buf);
	assert_same_rows("pagila", tdb);
	sql("postgres", "DROP DATABASE %s", tdb);

	free(target);
	free(key);
	free(id);
	free(good);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&obj);
	dproj_done(&d);
}
END_TEST

/* A dump command that runs pg_dump, marks the end of its output, then
 * keeps stdout open: the run is mid-write when it is killed. */
static char *hanging_dump(const char *name)
{
	char path[1024], body[2048];

	snprintf(path, sizeof(path), "%s/%s", sdir, name);
	snprintf(body, sizeof(body),
		 "#!/bin/sh\n"
		 "case \"$1\" in --version) exec pg_dump --version;; esac\n"
		 "echo $$ > %s/%s.pid\n"
		 "pg_dump \"$@\" || exit $?\n"
		 "touch %s/%s.dumped\n"
		 "sleep 60\n", sdir, name, sdir, name);
	write_script(path, body);
	return strdup(path);
}

START_TEST(test_sigkill_then_clean_run)
{
	struct strbuf bin = STRBUF_INIT, out = STRBUF_INIT, err = STRBUF_INIT, pid = STRBUF_INIT;
	struct child c = CHILD_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct dproj d;
	char name[32], dbs[4096], hang_cfg[1200], done[1200], pidf[1200], logf[1200], state[1200];
	char *w, *good, *next;
	const char *argv[] = { NULL, "--config", NULL, "run", NULL };
	json_t *b;
	int pending = 0;

	snprintf(name, sizeof(name), "hang-%s", tdrv_name(_i));
	w = hanging_dump(name);
	snprintf(done, sizeof(done), "%s/%s.dumped", sdir, name);
	snprintf(pidf, sizeof(pidf), "%s/%s.pid", sdir, name);
	unlink(done);
	one_db(dbs, sizeof(dbs), "bulk", "bulk", NULL);
	dproj_init(&d, _i, "sigkill", dbs);
	good = backup_ok(&d.p, NULL);
	/* the same repository, a dump that hangs once its output is written */
	one_db(dbs, sizeof(dbs), "bulk", "bulk", w);
	snprintf(hang_cfg, sizeof(hang_cfg), "%s.hang", d.p.cfg);
	snprintf(state, sizeof(state), "%s/state", d.p.dir);
	tdrv_write_config(hang_cfg, "shop", state, d.spec, dbs, NULL);
	snprintf(logf, sizeof(logf), "%s/kill.log", d.p.dir);
	argv[0] = tbin("ballast-backup", &bin);
	argv[2] = hang_cfg;
	bb_start(&c, argv, logf, NULL);
	ck_assert_int_eq(wait_for_file(done, 60), 0);
	/* Mid-write: a temporary object, or on s3 a multipart upload with
	 * parts already sent (the dump is over 5 MiB compressed). */
	for (int k = 0; k < 200 && !pending; k++) {
		pending = tdrv_pending(d.spec, "shop/");
		if (!pending)
			usleep(50000);
	}
	ck_assert_msg(pending >= 1, "%s: nothing in flight before the kill", tdrv_name(_i));
	proc_kill(&c, SIGKILL);
	proc_finish(&c, &e);
	ck_assert(WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGKILL);
	proc_release(&c);
	if (tread_file(pidf, &pid) == 0 && atoi(pid.buf) > 0)
		kill(-atoi(pid.buf), SIGKILL); /* the dump's process group */

	/* nothing new looks like a backup, good or incomplete */
	b = list_backups(&d.p);
	ck_assert_int_eq((int)json_array_size(b), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(b, 0), "id")), good);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(b, 0), "status")), "good");
	json_decref(b);
	ck_assert_int_eq(bb(&d.p, &out, &err, "verify", "--all"), 0);

	/* the next run succeeds (the kernel released the lock) */
	next = backup_ok(&d.p, NULL);
	ck_assert_str_ne(next, good);
	ck_assert_int_eq(count_status(&d.p, "good"), 2);
	ck_assert_int_eq(count_status(&d.p, "incomplete"), 0);
	ck_assert_msg(bb(&d.p, &out, &err, "verify", "--all") == 0, "%s: %s", tdrv_name(_i),
		      err.buf);
	/* Temporary objects are removed by the next run; an s3 upload left
	 * by a killed process stays invisible until the bucket's lifecycle
	 * rule aborts it (docs/repositories.md). */
	if (_i == TDRV_S3)
		ck_assert_int_eq(tdrv_pending(d.spec, "shop/"), pending);
	else
		ck_assert_int_eq(tdrv_pending(d.spec, "shop/"), 0);

	free(w);
	free(good);
	free(next);
	strbuf_release(&bin);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&pid);
	dproj_done(&d);
}
END_TEST

START_TEST(test_volume_roundtrip)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, a = STRBUF_INIT, b = STRBUF_INIT;
	struct strbuf obj = STRBUF_INIT;
	struct dproj d;
	char dbs[2048], extra[2048], vol[1200], big[1300], to[1200], to2[1200], key[256];
	char *id;
	json_t *m, *it;
	size_t i;
	int found = 0;
	struct stat st;

	one_db(dbs, sizeof(dbs), "app", "pagila", NULL);
	/* the volume lives in the project directory: the config is written
	 * again once it exists */
	dproj_init(&d, _i, "vol", dbs);
	snprintf(vol, sizeof(vol), "%s/vol", d.p.dir);
	ck_assert_int_eq(mkdir(vol, 0755), 0);
	ck_assert_int_eq(ttree_make_sample(vol), 0);
	snprintf(big, sizeof(big), "%s/random.bin", vol);
	ck_assert_int_eq(ttree_write_random(big, 12u << 20, 7), 0);
	snprintf(extra, sizeof(extra), "{ \"volumes\": [ { \"name\": \"data\", \"path\": \"%s\" } ] }",
		 vol);
	{
		char state[1200];

		snprintf(state, sizeof(state), "%s/state", d.p.dir);
		tdrv_write_config(d.p.cfg, "shop", state, d.spec, dbs, extra);
	}
	id = backup_ok(&d.p, NULL);
	m = show(&d, id);
	snprintf(key, sizeof(key), "shop/backups/%s/volume-data.tar.zst", id);
	json_array_foreach(json_object_get(m, "items"), i, it)
		if (!strcmp(json_string_value(json_object_get(it, "type")), "volume")) {
			found = 1;
			ck_assert_str_eq(json_string_value(json_object_get(json_object_get(it, "object"),
									   "key")), key);
		}
	json_decref(m);
	ck_assert(found);
	tdrv_object_path(d.spec, key, &obj);
	ck_assert_msg(stat(obj.buf, &st) == 0, "%s: %s not at %s", tdrv_name(_i), key, obj.buf);
	ck_assert_int_gt((long long)st.st_size, 10LL << 20);
	ck_assert_msg(bb(&d.p, &out, &err, "verify", id) == 0, "%s: verify: %s", tdrv_name(_i),
		      err.buf);

	snprintf(to, sizeof(to), "%s/restored", d.p.dir);
	ck_assert_msg(bb(&d.p, &out, &err, "restore", id, "--volume", "data", "--to", to) == 0,
		      "%s: restore --volume: %s", tdrv_name(_i), err.buf);
	ck_assert_int_eq(ttree_list(vol, &a), 0);
	ck_assert_int_eq(ttree_list(to, &b), 0);
	ck_assert_int_gt((int)a.len, 100);
	ck_assert_msg(!strcmp(a.buf, b.buf), "%s: restored tree differs:\n%s\n---\n%s",
		      tdrv_name(_i), a.buf, b.buf);

	/* bit rot in the archive: verify and restore refuse, nothing written */
	tdrv_flip_byte(d.spec, key, (long long)st.st_size / 3);
	ck_assert_int_eq(bb(&d.p, &out, &err, "verify", id), 4);
	ck_assert_msg(strstr(err.buf, key), "%s: %s", tdrv_name(_i), err.buf);
	snprintf(to2, sizeof(to2), "%s/restored2", d.p.dir);
	ck_assert_int_eq(bb(&d.p, &out, &err, "restore", id, "--volume", "data", "--to", to2), 4);
	ck_assert_msg(access(to2, F_OK) != 0, "%s: %s was created", tdrv_name(_i), to2);

	free(id);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&a);
	strbuf_release(&b);
	strbuf_release(&obj);
	dproj_done(&d);
}
END_TEST

static int count_fn(void *ctx, const struct repo_entry *ent, struct errbuf *e)
{
	(void)e;
	*(int *)ctx += !ent->tmp;
	return 0;
}

/* Committed objects under prefix, through the driver. */
static int objects_under(json_t *spec, const char *prefix)
{
	struct repo *r = tdrv_open(spec);
	struct errbuf e = ERRBUF_INIT;
	int n = 0;

	ck_assert_msg(repo_list(r, prefix, count_fn, &n, &e) == 0, "%s", e.msg);
	repo_close(r);
	return n;
}

START_TEST(test_prune)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct dproj d;
	char dbs[2048], prefix[256], *ids[3];
	json_t *b;
	int k;

	one_db(dbs, sizeof(dbs), "app", "tiny", NULL);
	dproj_init_x(&d, _i, "prune", dbs, "{ \"retention\": { \"keep_last\": 1 } }");
	/* A second apart: ids and manifest times have one-second resolution,
	 * and "newest" must not depend on the random suffix. */
	for (k = 0; k < 3; k++) {
		if (k)
			usleep(1100000);
		ids[k] = backup_ok(&d.p, NULL);
	}
	ck_assert_msg(bb(&d.p, &out, &err, "prune", "--dry-run") == 0, "%s: %s", tdrv_name(_i),
		      err.buf);
	ck_assert_int_eq(count_status(&d.p, "good"), 3);
	ck_assert_msg(bb(&d.p, &out, &err, "prune") == 0, "%s: prune: %s", tdrv_name(_i), err.buf);
	b = list_backups(&d.p);
	ck_assert_int_eq((int)json_array_size(b), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(b, 0), "id")), ids[2]);
	json_decref(b);
	for (k = 0; k < 3; k++) {
		snprintf(prefix, sizeof(prefix), "shop/backups/%s/", ids[k]);
		if (k < 2)
			ck_assert_msg(objects_under(d.spec, prefix) == 0, "%s: %s not removed",
				      tdrv_name(_i), prefix);
		else
			ck_assert_int_ge(objects_under(d.spec, prefix), 2);
		free(ids[k]);
	}
	ck_assert_msg(bb(&d.p, &out, &err, "verify", "--all") == 0, "%s", err.buf);
	strbuf_release(&out);
	strbuf_release(&err);
	dproj_done(&d);
}
END_TEST

/* The age identity of the encrypted variants (C2SP CCTV's X25519 vector),
 * given to ballast through identity_env. */
#define TORN_AGE_ID "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0"

static void remove_object(const struct dproj *d, const char *key)
{
	struct repo *r = tdrv_open(d->spec);
	struct errbuf e = ERRBUF_INIT;

	ck_assert_msg(repo_delete(r, key, &e) == 0, "%s", e.msg);
	repo_close(r);
}

/* A manifest cut short behind the driver's back. On s3 that is what a
 * killed PUT leaves on a server that stores the body as it arrives
 * (s3rver): an unfinished commit, listed as incomplete, skipped by
 * verify --all and removed by prune. On local and sftp (commit by rename)
 * only damage cuts a manifest short: failed-verify, verify --all exits 4.
 * Either way verify and restore of that id exit 4, and the other backup
 * stays good. Encrypted (enc), the cut fails authentication and the
 * plaintext index, written after the manifest, was never written: the
 * index's absence is what makes it an unfinished commit; a run killed
 * between the manifest and the index is one on every driver, and an index
 * cut short is one on s3. */
static void torn_manifest(int drv, int enc)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct dproj d;
	char dbs[2048], key[256], idx[256], extra[1024], *ids[2];
	int s3 = drv == TDRV_S3;
	json_t *b;

	if (enc) {
		struct strbuf pub = STRBUF_INIT;
		struct errbuf e = ERRBUF_INIT;

		ck_assert_msg(age_identity_to_recipient(TORN_AGE_ID, &pub, &e) == 0, "%s", e.msg);
		setenv("BALLAST_T_AGE_ID", TORN_AGE_ID, 1);
		snprintf(extra, sizeof(extra), "{ \"retention\": { \"keep_last\": 5, "
			 "\"incomplete_grace\": \"0s\" }, \"encryption\": { \"recipients\": "
			 "[\"%s\"], \"identity_env\": \"BALLAST_T_AGE_ID\" } }", pub.buf);
		strbuf_release(&pub);
	} else {
		snprintf(extra, sizeof(extra), "{ \"retention\": { \"keep_last\": 5, "
			 "\"incomplete_grace\": \"0s\" } }");
	}
	one_db(dbs, sizeof(dbs), "app", "tiny", NULL);
	dproj_init_x(&d, drv, enc ? "torn-enc" : "torn", dbs, extra);
	ids[0] = backup_ok(&d.p, NULL);
	ids[1] = backup_ok(&d.p, NULL);
	snprintf(key, sizeof(key), "shop/backups/%s/manifest.json", ids[1]);
	snprintf(idx, sizeof(idx), "shop/backups/%s/index.json", ids[1]);
	tdrv_truncate(d.spec, key, 200);
	if (enc)
		remove_object(&d, idx);   /* the kill came before the index */
	b = list_backups(&d.p);
	for (size_t k = 0; k < json_array_size(b); k++) {
		json_t *ent = json_array_get(b, k);
		const char *bid = json_string_value(json_object_get(ent, "id"));

		ck_assert_msg(!strcmp(json_string_value(json_object_get(ent, "status")),
				      strcmp(bid, ids[1]) ? "good" : s3 ? "incomplete" :
				      "failed-verify"), "%s%s: %s is %s (%s)", tdrv_name(drv),
			      enc ? " encrypted" : "", bid,
			      json_string_value(json_object_get(ent, "status")),
			      json_string_value(json_object_get(ent, "error")));
	}
	json_decref(b);
	ck_assert_int_eq(bb(&d.p, &out, &err, "verify", ids[1]), 4);
	ck_assert_msg(strstr(err.buf, ids[1]), "%s: %s", tdrv_name(drv), err.buf);
	ck_assert_int_eq(bb(&d.p, &out, &err, "verify", "--all"), s3 ? 0 : 4);
	ck_assert_msg(bb(&d.p, &out, &err, "prune") == 0, "%s: prune: %s", tdrv_name(drv), err.buf);
	ck_assert_int_eq(count_status(&d.p, "good"), 1);
	ck_assert_int_eq(objects_under(d.spec, key) == 0, s3);
	/* an empty manifest (the kill landed before the first body byte) */
	free(ids[1]);
	ids[1] = backup_ok(&d.p, NULL);
	snprintf(key, sizeof(key), "shop/backups/%s/manifest.json", ids[1]);
	snprintf(idx, sizeof(idx), "shop/backups/%s/index.json", ids[1]);
	{
		struct repo *r = tdrv_open(d.spec);
		struct errbuf e = ERRBUF_INIT;

		ck_assert_msg(repo_put_bytes(r, key, "", 0, &e) == 0, "%s", e.msg);
		repo_close(r);
	}
	if (enc)
		remove_object(&d, idx);
	ck_assert_int_eq(count_status(&d.p, s3 ? "incomplete" : "failed-verify"), s3 ? 1 : 2);
	ck_assert_int_eq(count_status(&d.p, "good"), 1);
	if (enc) {
		/* killed between the manifest and the index: an unfinished
		 * commit on every driver, removed by prune */
		ck_assert_msg(bb(&d.p, &out, &err, "prune") == 0, "prune: %s", err.buf);
		free(ids[1]);
		ids[1] = backup_ok(&d.p, NULL);
		snprintf(idx, sizeof(idx), "shop/backups/%s/index.json", ids[1]);
		remove_object(&d, idx);
		ck_assert_int_eq(count_status(&d.p, "incomplete"), 1);
		ck_assert_int_eq(bb(&d.p, &out, &err, "verify", ids[1]), 1);
		ck_assert_msg(strstr(err.buf, "index.json"), "%s: %s", tdrv_name(drv), err.buf);
		ck_assert_msg(bb(&d.p, &out, &err, "prune") == 0, "prune: %s", err.buf);
		ck_assert_int_eq(count_status(&d.p, "incomplete"), 0);
		/* an index cut short: an unfinished commit on s3, damage elsewhere */
		free(ids[1]);
		ids[1] = backup_ok(&d.p, NULL);
		snprintf(idx, sizeof(idx), "shop/backups/%s/index.json", ids[1]);
		tdrv_truncate(d.spec, idx, 40);
		/* elsewhere beside the two damaged manifests above */
		ck_assert_int_eq(count_status(&d.p, s3 ? "incomplete" : "failed-verify"), s3 ? 1 : 3);
		ck_assert_int_eq(count_status(&d.p, "good"), 1);
	}
	free(ids[0]);
	free(ids[1]);
	strbuf_release(&out);
	strbuf_release(&err);
	dproj_done(&d);
}

START_TEST(test_torn_manifest)
{
	torn_manifest(_i, 0);
}
END_TEST

START_TEST(test_torn_manifest_encrypted)
{
	torn_manifest(_i, 1);
}
END_TEST

START_TEST(test_drill)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, obj = STRBUF_INIT;
	struct dproj d;
	char dbs[2048], prefix[256], *id, *key;
	struct stat st;

	one_db(dbs, sizeof(dbs), "app", "tiny", NULL);
	dproj_init(&d, _i, "drill", dbs);
	id = backup_ok(&d.p, NULL);
	ck_assert_msg(bb(&d.p, &out, &err, "drill", "--latest") == 0, "%s: drill: %s",
		      tdrv_name(_i), err.buf);
	snprintf(prefix, sizeof(prefix), "shop/backups/%s/drill-", id);
	ck_assert_int_eq(objects_under(d.spec, prefix), 1);
	ck_assert_int_eq(sql_int("postgres", "SELECT count(*) FROM pg_database "
				 "WHERE datname LIKE 'ballast\\_drill\\_%'"), 0);
	ck_assert_int_eq(count_status(&d.p, "good"), 1);
	/* bit rot: the drill fails as a verification, naming the object */
	key = dump_key(&d, id);
	tdrv_object_path(d.spec, key, &obj);
	ck_assert_int_eq(stat(obj.buf, &st), 0);
	tdrv_flip_byte(d.spec, key, (long long)st.st_size / 2);
	ck_assert_int_eq(bb(&d.p, &out, &err, "drill", id), 4);
	ck_assert_msg(strstr(err.buf, key), "%s: %s", tdrv_name(_i), err.buf);
	ck_assert_int_eq(sql_int("postgres", "SELECT count(*) FROM pg_database "
				 "WHERE datname LIKE 'ballast\\_drill\\_%'"), 0);
	free(key);
	free(id);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&obj);
	dproj_done(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("backup_drivers");
	TCase *tc = tcase_create("drivers");
	TCase *ops = tcase_create("ops");

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_pagila_roundtrip, 0, TDRV_COUNT);
	tcase_add_loop_test(tc, test_flipped_byte, 0, TDRV_COUNT);
	tcase_add_loop_test(tc, test_sigkill_then_clean_run, 0, TDRV_COUNT);
	tcase_add_loop_test(tc, test_volume_roundtrip, 0, TDRV_COUNT);
	suite_add_tcase(s, tc);

	tcase_add_unchecked_fixture(ops, setup, teardown);
	tcase_set_timeout(ops, 300);
	tcase_add_loop_test(ops, test_prune, 0, TDRV_COUNT);
	tcase_add_loop_test(ops, test_drill, 0, TDRV_COUNT);
	tcase_add_loop_test(ops, test_torn_manifest, 0, TDRV_COUNT);
	tcase_add_loop_test(ops, test_torn_manifest_encrypted, 0, TDRV_COUNT);
	suite_add_tcase(s, ops);
	return trun_suite(s);
}
