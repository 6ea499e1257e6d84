// services: pg
/* Volumes through ballast-backup: run stores a volume item beside the
 * database items, verify checks it, restore --volume / --to / --no-keep
 * swap it back, a whole-set restore brings back databases and volumes,
 * prune removes what restores kept once retention.kept_volumes has passed,
 * and the failure cases (missing path, failing before, SIGTERM, truncated
 * or flipped object, before failing at a restore's swap) fail cleanly with
 * `after` run and nothing half-done. */
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

#include "tbackup.h"
#include "ttree.h"

struct vproj {
	struct proj p;
	char vol[1024];
	char events[1024];
};

/* A project with one volume "data" at dir/vol whose before/after append
 * to dir/events; dbs is the "databases" JSON; before_extra is appended to
 * the before script (e.g. "; exit 3"). */
static void vproj_write(struct vproj *v, const char *dbs, const char *before_extra)
{
	char text[8192];

	snprintf(text, sizeof(text),
		 "{ \"project\": \"shop\", \"state_dir\": \"%s/state\",\n"
		 "  \"repository\": { \"type\": \"local\", \"path\": \"%s\" },\n"
		 "  \"compression\": { \"level\": 3, \"threads\": 2 },\n"
		 "  \"databases\": %s,\n"
		 "  \"volumes\": [ { \"name\": \"data\", \"path\": \"vol\", \"exclude\": [\"*.tmp\"],\n"
		 "    \"before\": [\"sh\", \"-c\", \"echo before >> events%s\"],\n"
		 "    \"after\": [\"sh\", \"-c\", \"echo after >> events\"] } ] }\n",
		 v->p.dir, v->p.repo, dbs, before_extra ? before_extra : "");
	ck_assert_int_eq(twrite_file(v->p.cfg, text), 0);
}

static void vproj_init(struct vproj *v, const char *dbs, const char *before_extra)
{
	v->p.dir = ttmp_dir("volbk");
	ck_assert_ptr_nonnull(v->p.dir);
	snprintf(v->p.cfg, sizeof(v->p.cfg), "%s/ballast.json", v->p.dir);
	snprintf(v->p.repo, sizeof(v->p.repo), "%s/repo", v->p.dir);
	snprintf(v->vol, sizeof(v->vol), "%s/vol", v->p.dir);
	snprintf(v->events, sizeof(v->events), "%s/events", v->p.dir);
	ck_assert_int_eq(mkdir(v->vol, 0755), 0);
	ck_assert_int_eq(ttree_make_sample(v->vol), 0);
	vproj_write(v, dbs, before_extra);
	tinit_repo(v->p.cfg);
}

static void events(const struct vproj *v, struct strbuf *sb)
{
	strbuf_reset(sb);
	tread_file(v->events, sb);
}

static void listing(const char *root, struct strbuf *sb)
{
	strbuf_reset(sb);
	ck_assert_int_eq(ttree_list(root, sb), 0);
}

static void same(const char *want, const char *got)
{
	ck_assert_msg(!strcmp(want, got), "listings differ (%zu vs %zu bytes)", strlen(want),
		      strlen(got));
}

static int exists(const char *p)
{
	struct stat sb;

	return lstat(p, &sb) == 0;
}

/* Drop one file, add another: a volume that moved on since the backup. */
static void mutate(const struct vproj *v)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "cd '%s' && rm plain.txt && echo new > added.txt && "
		 "echo junk > skipped.tmp", v->vol);
	sh(cmd);
}

START_TEST(test_run_verify_restore_volume)
{
	struct vproj v;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, a = STRBUF_INIT, b = STRBUF_INIT,
		      changed = STRBUF_INIT, ev = STRBUF_INIT;
	json_t *res, *m, *item;
	char *id, old[2048], other[2048], stg[2048];

	vproj_init(&v, "[]", NULL);
	listing(v.vol, &a);
	id = backup_ok(&v.p, NULL);
	events(&v, &ev);
	ck_assert_str_eq(ev.buf, "before\nafter\n");

	/* The manifest's volume item. */
	ck_assert_int_eq(bb(&v.p, &out, &err, "show", id, "--json"), 0);
	res = last_json(&out);
	m = json_object_get(res, "manifest");
	ck_assert_int_eq(json_array_size(json_object_get(m, "items")), 1);
	item = json_array_get(json_object_get(m, "items"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(item, "type")), "volume");
	ck_assert_str_eq(json_string_value(json_object_get(item, "name")), "data");
	ck_assert_str_eq(json_string_value(json_object_get(item, "path")), v.vol);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_object_get(item, "object"), "key")),
				     "/volume-data.tar.zst"));
	ck_assert_int_eq(strlen(json_string_value(json_object_get(json_object_get(item, "object"), "sha256"))), 64);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(item, "entries"), "hardlinks")), 2);
	ck_assert_int_eq(json_array_size(json_object_get(item, "warnings")), 0);
	json_decref(res);
	ck_assert_msg(bb(&v.p, &out, &err, "verify", id) == 0, "verify: %s", err.buf);

	/* Restore over a volume that moved on: back to the backup, the moved-on
	 * state kept beside it; the excluded file does not come back. */
	mutate(&v);
	listing(v.vol, &changed);
	ck_assert_msg(bb(&v.p, &out, &err, "restore", id, "--volume", "data") == 0, "restore: %s",
		      err.buf);
	listing(v.vol, &b);
	same(a.buf, b.buf);
	snprintf(old, sizeof(old), "%s.ballast-old-%s", v.vol, id);
	listing(old, &b);
	same(changed.buf, b.buf);
	events(&v, &ev);
	ck_assert_str_eq(ev.buf, "before\nafter\nbefore\nafter\n");

	/* The same backup again: the kept copy is not overwritten ... */
	mutate(&v);
	listing(v.vol, &changed);
	ck_assert_int_eq(bb(&v.p, &out, &err, "restore", id, "--volume", "data"), 1);
	ck_assert_msg(strstr(err.buf, "already exists"), "%s", err.buf);
	listing(v.vol, &b);
	same(changed.buf, b.buf);
	/* ... unless --no-keep says the replaced contents may go. */
	ck_assert_msg(bb(&v.p, &out, &err, "restore", id, "--volume", "data", "--no-keep") == 0,
		      "restore --no-keep: %s", err.buf);
	listing(v.vol, &b);
	same(a.buf, b.buf);
	snprintf(stg, sizeof(stg), "%s/.vol.ballast-restore-%s", v.p.dir, id);
	ck_assert(!exists(stg));

	/* --to: somewhere else, the services left alone. */
	snprintf(other, sizeof(other), "%s/elsewhere", v.p.dir);
	ck_assert_msg(bb(&v.p, &out, &err, "restore", id, "--volume", "data", "--to", other,
			 "--json") == 0, "restore --to: %s", err.buf);
	listing(other, &b);
	same(a.buf, b.buf);
	res = last_json(&out);
	item = json_array_get(json_object_get(res, "restored"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(item, "path")), other);
	json_decref(res);
	events(&v, &ev);
	ck_assert_str_eq(ev.buf, "before\nafter\nbefore\nafter\nbefore\nafter\n");

	ck_assert_int_eq(bb(&v.p, &out, &err, "restore", id, "--volume", "nope"), 2);
	ck_assert_msg(strstr(err.buf, "has no volume \"nope\""), "%s", err.buf);
	free(id);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&a);
	strbuf_release(&b);
	strbuf_release(&changed);
	strbuf_release(&ev);
	proj_done(&v.p);
}
END_TEST

/* prune removes a kept <vol>.ballast-old-<id> once retention.kept_volumes
 * has passed since the restore set it aside; a link, a file or another
 * volume's kept directory with a similar name is never touched. */
START_TEST(test_prune_kept_volumes)
{
	struct vproj v;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	char old[1200], link[1200], file[1200], otherv[1200], target[1200], cmd[16384];
	json_t *res, *k;
	char *id;

	vproj_init(&v, "[]", NULL);
	id = backup_ok(&v.p, NULL);
	mutate(&v);
	ck_assert_msg(bb(&v.p, &out, &err, "restore", id, "--volume", "data") == 0, "restore: %s",
		      err.buf);
	snprintf(old, sizeof(old), "%s.ballast-old-%s", v.vol, id);
	ck_assert(exists(old));
	snprintf(link, sizeof(link), "%s.ballast-old-link", v.vol);
	snprintf(file, sizeof(file), "%s.ballast-old-file", v.vol);
	snprintf(otherv, sizeof(otherv), "%sx.ballast-old-%s", v.vol, id);
	snprintf(target, sizeof(target), "%s/elsewhere", v.p.dir);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s' '%s' && echo keep > '%s/precious' && "
		 "ln -s '%s' '%s' && echo x > '%s'", target, otherv, target, target, link, file);
	sh(cmd);

	vproj_write(&v, "[], \"retention\": { \"keep_last\": 5, \"kept_volumes\": \"1h\" }", NULL);
	ck_assert_msg(bb(&v.p, &out, &err, "prune", "--dry-run") == 0, "%s", err.buf);
	ck_assert_msg(strstr(out.buf, "keep ") && strstr(out.buf, old) &&
		      strstr(out.buf, "replaced within retention.kept_volumes"), "%s", out.buf);
	ck_assert_msg(!strstr(out.buf, link) && !strstr(out.buf, file) && !strstr(out.buf, otherv),
		      "%s", out.buf);
	ck_assert_msg(bb(&v.p, &out, &err, "prune") == 0, "%s", err.buf);
	ck_assert(exists(old));

	vproj_write(&v, "[], \"retention\": { \"keep_last\": 5, \"kept_volumes\": \"0s\" }", NULL);
	ck_assert_msg(bb(&v.p, &out, &err, "prune", "--dry-run") == 0, "%s", err.buf);
	ck_assert_msg(strstr(out.buf, "would remove") && strstr(out.buf, old), "%s", out.buf);
	ck_assert(exists(old));
	ck_assert_msg(bb(&v.p, &out, &err, "prune", "--json") == 0, "%s", err.buf);
	res = last_json(&out);
	ck_assert_int_eq(json_array_size(json_object_get(res, "kept_volumes")), 1);
	k = json_array_get(json_object_get(res, "kept_volumes"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(k, "path")), old);
	ck_assert_str_eq(json_string_value(json_object_get(k, "action")), "remove");
	json_decref(res);
	ck_assert(!exists(old));
	ck_assert(exists(v.vol));
	ck_assert(exists(link) && exists(file) && exists(otherv));
	snprintf(cmd, sizeof(cmd), "%s/precious", target);
	ck_assert(exists(cmd));

	vproj_write(&v, "[], \"retention\": { \"keep_last\": 5, \"kept_volumes\": \"later\" }", NULL);
	ck_assert_int_eq(bb(&v.p, &out, &err, "prune"), 2);
	ck_assert_msg(strstr(err.buf, "kept_volumes"), "%s", err.buf);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s' '%s'", link, file, otherv);
	sh(cmd);
	free(id);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&v.p);
}
END_TEST

START_TEST(test_truncated_object_refused)
{
	struct vproj v;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, a = STRBUF_INIT, b = STRBUF_INIT;
	char *id, obj[2048], stg[2048];
	struct stat sb;

	vproj_init(&v, "[]", NULL);
	id = backup_ok(&v.p, NULL);
	snprintf(obj, sizeof(obj), "%s/shop/backups/%s/volume-data.tar.zst", v.p.repo, id);
	ck_assert_int_eq(stat(obj, &sb), 0);
	ck_assert_int_eq(truncate(obj, sb.st_size / 2), 0);
	ck_assert_int_eq(bb(&v.p, &out, &err, "verify", id), 4);
	mutate(&v);
	listing(v.vol, &a);
	ck_assert_int_eq(bb(&v.p, &out, &err, "restore", id, "--volume", "data"), 4);
	ck_assert_msg(strstr(err.buf, "refusing to restore volume data"), "%s", err.buf);
	listing(v.vol, &b);
	same(a.buf, b.buf);
	snprintf(stg, sizeof(stg), "%s/.vol.ballast-restore-%s", v.p.dir, id);
	ck_assert(!exists(stg));
	free(id);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&a);
	strbuf_release(&b);
	proj_done(&v.p);
}
END_TEST

/* One byte flipped in the middle of the stored object: the restore proves
 * the object while it extracts (no pass of its own first), so the damage
 * shows at the object's end, before the swap. Exit 4, the volume as it
 * was, no staging directory, and the containers never stopped: `before`
 * runs only right before a swap, and there is none. */
START_TEST(test_flipped_object_refused)
{
	struct vproj v;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, a = STRBUF_INIT, b = STRBUF_INIT,
		      ev = STRBUF_INIT, obj = STRBUF_INIT;
	char *id, path[2048], stg[2048], to[2048], tostg[2048];
	FILE *f;

	vproj_init(&v, "[]", NULL);
	id = backup_ok(&v.p, NULL);
	snprintf(path, sizeof(path), "%s/shop/backups/%s/volume-data.tar.zst", v.p.repo, id);
	tread_file(path, &obj);
	ck_assert_uint_gt(obj.len, 64);
	obj.buf[obj.len / 2] ^= 0x5a;
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(obj.buf, 1, obj.len, f), obj.len);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(unlink(v.events), 0);
	mutate(&v);
	listing(v.vol, &a);
	ck_assert_int_eq(bb(&v.p, &out, &err, "restore", id, "--volume", "data"), 4);
	ck_assert_msg(strstr(err.buf, "refusing to restore volume data"), "%s", err.buf);
	ck_assert_msg(strstr(err.buf, "volume-data.tar.zst"), "names the object: %s", err.buf);
	listing(v.vol, &b);
	same(a.buf, b.buf);
	snprintf(stg, sizeof(stg), "%s/.vol.ballast-restore-%s", v.p.dir, id);
	ck_assert(!exists(stg));
	ck_assert(!exists(v.events));
	/* --to: the target is never created either */
	snprintf(to, sizeof(to), "%s/elsewhere", v.p.dir);
	snprintf(tostg, sizeof(tostg), "%s/.elsewhere.ballast-restore-%s", v.p.dir, id);
	ck_assert_int_eq(bb(&v.p, &out, &err, "restore", id, "--volume", "data", "--to", to), 4);
	ck_assert_msg(strstr(err.buf, "refusing to restore volume data"), "%s", err.buf);
	ck_assert(!exists(to));
	ck_assert(!exists(tostg));
	free(id);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&a);
	strbuf_release(&b);
	strbuf_release(&ev);
	strbuf_release(&obj);
	proj_done(&v.p);
}
END_TEST

/* `before` failing at the swap (the app would not stop): no swap, the
 * volume as it was, no staging directory, and `after` still runs. */
START_TEST(test_restore_before_fails_no_swap)
{
	struct vproj v;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, a = STRBUF_INIT, b = STRBUF_INIT,
		      ev = STRBUF_INIT;
	char *id, stg[2048], old[2048];

	vproj_init(&v, "[]", NULL);
	id = backup_ok(&v.p, NULL);
	ck_assert_int_eq(unlink(v.events), 0);
	vproj_write(&v, "[]", "; echo app will not stop >&2; exit 3");
	mutate(&v);
	listing(v.vol, &a);
	ck_assert_int_eq(bb(&v.p, &out, &err, "restore", id, "--volume", "data"), 1);
	ck_assert_msg(strstr(err.buf, "before command failed"), "%s", err.buf);
	listing(v.vol, &b);
	same(a.buf, b.buf);
	snprintf(stg, sizeof(stg), "%s/.vol.ballast-restore-%s", v.p.dir, id);
	snprintf(old, sizeof(old), "%s.ballast-old-%s", v.vol, id);
	ck_assert(!exists(stg));
	ck_assert(!exists(old));
	events(&v, &ev);
	ck_assert_str_eq(ev.buf, "before\nafter\n");
	free(id);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&a);
	strbuf_release(&b);
	strbuf_release(&ev);
	proj_done(&v.p);
}
END_TEST

/* SIGTERM while the object is being extracted (a reading thread and the
 * extracting one both busy): exit 1 naming the signal, the volume as it
 * was, no staging directory, and the containers never stopped. The
 * volume holds 4,000 files of 64 KiB so that the extraction lasts. */
START_TEST(test_sigterm_during_restore)
{
	struct vproj v;
	struct strbuf bin = STRBUF_INIT, log = STRBUF_INIT, a = STRBUF_INIT, b = STRBUF_INIT;
	struct child c = CHILD_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct stat sb;
	char logf[2048], stg[2048], cmd[4096], *id;
	const char *argv[8];
	int seen = 0;

	vproj_init(&v, "[]", NULL);
	snprintf(cmd, sizeof(cmd), "mkdir '%s/big' && cd '%s/big' && "
		 "head -c %d /dev/zero | split -b 65536 -a 4 - f", v.vol, v.vol, 4000 * 65536);
	sh(cmd);
	id = backup_ok(&v.p, NULL);
	ck_assert_int_eq(unlink(v.events), 0);
	mutate(&v);
	listing(v.vol, &a);
	snprintf(logf, sizeof(logf), "%s/restore.log", v.p.dir);
	snprintf(stg, sizeof(stg), "%s/.vol.ballast-restore-%s/big", v.p.dir, id);
	argv[0] = tbin("ballast-backup", &bin);
	argv[1] = "--config";
	argv[2] = v.p.cfg;
	argv[3] = "restore";
	argv[4] = id;
	argv[5] = "--volume";
	argv[6] = "data";
	argv[7] = NULL;
	bb_start(&c, argv, logf, NULL);
	/* the extraction has reached the big directory */
	for (int i = 0; i < 4000 && !seen; i++) {
		seen = lstat(stg, &sb) == 0;
		if (!seen)
			usleep(2000);
	}
	ck_assert_msg(seen, "the restore never reached %s", stg);
	kill(c.pid, SIGTERM);
	ck_assert_int_eq(proc_finish(&c, &e), BL_EFAIL);
	ck_assert(WIFEXITED(c.status));
	ck_assert_int_eq(WEXITSTATUS(c.status), 1);
	proc_release(&c);
	tread_file(logf, &log);
	ck_assert_msg(strstr(log.buf, "interrupted by signal 15"), "%s", log.buf);
	listing(v.vol, &b);
	same(a.buf, b.buf);
	snprintf(stg, sizeof(stg), "%s/.vol.ballast-restore-%s", v.p.dir, id);
	ck_assert(!exists(stg));
	ck_assert(!exists(v.events));
	free(id);
	strbuf_release(&bin);
	strbuf_release(&log);
	strbuf_release(&a);
	strbuf_release(&b);
	proj_done(&v.p);
}
END_TEST

START_TEST(test_whole_set_restore)
{
	struct vproj v;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, a = STRBUF_INIT, b = STRBUF_INIT;
	char dbs[2048], *ci, *id;
	json_t *res;

	sql("postgres", "DROP DATABASE IF EXISTS volset");
	sql("postgres", "CREATE DATABASE volset");
	sql("volset", "CREATE TABLE orders (id int PRIMARY KEY, what text)");
	sql("volset", "INSERT INTO orders SELECT g, 'order ' || g FROM generate_series(1, 500) g");
	ci = tpg_conninfo("volset");
	snprintf(dbs, sizeof(dbs), "[ { \"name\": \"app\", \"conninfo\": \"%s\" } ]", ci);
	vproj_init(&v, dbs, NULL);
	listing(v.vol, &a);
	id = backup_ok(&v.p, NULL);

	sql("volset", "DELETE FROM orders WHERE id > 100");
	mutate(&v);
	ck_assert_msg(bb(&v.p, &out, &err, "restore", id, "--clean", "--json") == 0, "restore: %s",
		      err.buf);
	res = last_json(&out);
	ck_assert_int_eq(json_array_size(json_object_get(res, "restored")), 2);
	json_decref(res);
	ck_assert_int_eq(sql_int("volset", "SELECT count(*) FROM orders"), 500);
	listing(v.vol, &b);
	same(a.buf, b.buf);
	free(ci);
	free(id);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&a);
	strbuf_release(&b);
	proj_done(&v.p);
}
END_TEST

START_TEST(test_missing_path_fails_run)
{
	struct vproj v;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, ev = STRBUF_INIT;

	vproj_init(&v, "[]", NULL);
	ttmp_rm(v.vol);
	ck_assert_int_eq(bb(&v.p, &out, &err, "run"), 1);
	ck_assert_msg(strstr(err.buf, v.vol) && strstr(err.buf, "No such file"), "%s", err.buf);
	events(&v, &ev);
	ck_assert_str_eq(ev.buf, "before\nafter\n");
	ck_assert_int_eq(count_status(&v.p, "good"), 0);
	ck_assert_int_eq(tmp_objects(&v.p), 0);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&ev);
	proj_done(&v.p);
}
END_TEST

START_TEST(test_before_fails_after_runs)
{
	struct vproj v;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, ev = STRBUF_INIT;

	vproj_init(&v, "[]", "; echo etl will not stop >&2; exit 3");
	ck_assert_int_eq(bb(&v.p, &out, &err, "run"), 1);
	ck_assert_msg(strstr(err.buf, "volume data: before command failed: sh exited with status 3: etl will not stop"),
		      "%s", err.buf);
	events(&v, &ev);
	ck_assert_str_eq(ev.buf, "before\nafter\n");
	ck_assert_int_eq(count_status(&v.p, "good"), 0);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&ev);
	proj_done(&v.p);
}
END_TEST

START_TEST(test_sigterm_runs_after)
{
	struct vproj v;
	struct strbuf bin = STRBUF_INIT, ev = STRBUF_INIT, log = STRBUF_INIT;
	struct child c = CHILD_INIT;
	struct errbuf e = ERRBUF_INIT;
	char logf[2048];
	const char *argv[6];

	/* `before` takes a while: SIGTERM lands while it runs. */
	vproj_init(&v, "[]", "; sleep 1");
	snprintf(logf, sizeof(logf), "%s/run.log", v.p.dir);
	argv[0] = tbin("ballast-backup", &bin);
	argv[1] = "--config";
	argv[2] = v.p.cfg;
	argv[3] = "run";
	argv[4] = NULL;
	bb_start(&c, argv, logf, NULL);
	for (int i = 0; i < 200; i++) {
		events(&v, &ev);
		if (strstr(ev.buf, "before"))
			break;
		usleep(25000);
	}
	ck_assert_ptr_nonnull(strstr(ev.buf, "before"));
	kill(c.pid, SIGTERM);
	ck_assert_int_eq(proc_finish(&c, &e), BL_EFAIL);
	ck_assert(WIFEXITED(c.status));
	ck_assert_int_eq(WEXITSTATUS(c.status), 1);
	proc_release(&c);
	tread_file(logf, &log);
	ck_assert_msg(strstr(log.buf, "interrupted by signal 15"), "%s", log.buf);
	events(&v, &ev);
	ck_assert_str_eq(ev.buf, "before\nafter\n");
	ck_assert_int_eq(count_status(&v.p, "good"), 0);
	ck_assert_int_eq(tmp_objects(&v.p), 0);
	strbuf_release(&bin);
	strbuf_release(&ev);
	strbuf_release(&log);
	proj_done(&v.p);
}
END_TEST

START_TEST(test_config_errors)
{
	struct vproj v;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, ev = STRBUF_INIT;
	char text[4096];

	vproj_init(&v, "[]", NULL);
	snprintf(text, sizeof(text),
		 "{ \"project\": \"shop\", \"state_dir\": \"%s/state\",\n"
		 "  \"repository\": { \"type\": \"local\", \"path\": \"%s\" },\n"
		 "  \"volumes\": [ { \"name\": \"data\", \"path\": \"vol\", \"before\": [] } ] }\n",
		 v.p.dir, v.p.repo);
	ck_assert_int_eq(twrite_file(v.p.cfg, text), 0);
	ck_assert_int_eq(bb(&v.p, &out, &err, "run"), 2);
	ck_assert_msg(strstr(err.buf, "volumes[0].before: expected a command"), "%s", err.buf);
	events(&v, &ev);
	ck_assert_str_eq(ev.buf, "");
	ck_assert_int_eq(bb(&v.p, &out, &err, "run", "--only", "volume:nope"), 2);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&ev);
	proj_done(&v.p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("volume_backup");
	TCase *tc = tcase_create("cli");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_run_verify_restore_volume);
	tcase_add_test(tc, test_prune_kept_volumes);
	tcase_add_test(tc, test_truncated_object_refused);
	tcase_add_test(tc, test_flipped_object_refused);
	tcase_add_test(tc, test_restore_before_fails_no_swap);
	tcase_add_test(tc, test_sigterm_during_restore);
	tcase_add_test(tc, test_whole_set_restore);
	tcase_add_test(tc, test_missing_path_fails_run);
	tcase_add_test(tc, test_before_fails_after_runs);
	tcase_add_test(tc, test_sigterm_runs_after);
	tcase_add_test(tc, test_config_errors);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
