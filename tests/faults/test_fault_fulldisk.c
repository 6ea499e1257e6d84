// services: pg
/* The repository's disk fills mid-run (a database and a volume). The repository sits on a small tmpfs
 * (mounted here; as root only: elsewhere the suite exits 77, which CTest
 * reports as a skip, never as a pass), and the
 * room left for the next backup is swept from none at all to a little more
 * than it needs, page by page near the end, so the disk fills in the middle
 * of an object, between objects and at the manifest. Every run either
 * succeeds with a backup that verifies, or fails with exit 1 and one line
 * naming the full disk, leaving no manifest, no temporary object and the
 * earlier backup verifying. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tfault.h"

static char *dbs, *vols, *voldir;

static void setup(void)
{
	char *ci;

	sql("postgres", "DROP DATABASE IF EXISTS fulldisk");
	sql("postgres", "CREATE DATABASE fulldisk");
	sql("fulldisk", "CREATE TABLE t (id bigint primary key, body text); INSERT INTO t "
	    "SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 30000) g");
	voldir = ttmp_dir("fulldisk-vol");
	ck_assert_ptr_nonnull(voldir);
	ft_reseed(7);
	vols = ft_volume(voldir, 100, 1L << 20);
	ci = tpg_conninfo("fulldisk");
	dbs = malloc(4096);
	snprintf(dbs, 4096, "[ { \"name\": \"app\", \"conninfo\": \"%s\" } ]", ci);
	free(ci);
}

static void teardown(void)
{
	free(dbs);
	free(vols);
	ttmp_rm(voldir);
	free(voldir);
}

static long long avail(const char *dir)
{
	struct statvfs v;

	ck_assert_int_eq(statvfs(dir, &v), 0);
	return (long long)v.f_bavail * (long long)v.f_frsize;
}

/* Leave about room bytes free on the tmpfs at dir (filler at fill). */
static void leave_room(const char *dir, const char *fill, long long room)
{
	long long cur, want;
	int fd;

	unlink(fill);
	cur = avail(dir);
	want = cur - room;
	if (want <= 0)
		return;
	fd = open(fill, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	/* real pages: tmpfs counts written bytes, not a sparse size */
	{
		static char zero[65536];

		while (want > 0) {
			ssize_t n = write(fd, zero, want < (long long)sizeof(zero) ? (size_t)want :
					  sizeof(zero));

			if (n <= 0)
				break;
			want -= n;
		}
	}
	close(fd);
}

START_TEST(test_disk_fills_mid_run)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct proj p;
	char fill[1200], obj[1500];
	const char *names[] = { "db-app.dump.zst", "volume-files.tar.zst", "manifest.json" };
	char *good;
	struct stat st;
	long long need, rooms[32];
	int nrooms = 0, failed = 0, succeeded = 0;

	ft_proj(&p, "fulldisk", NULL, dbs, vols);
	mkdir(p.repo, 0700);
	ck_assert_msg(mount("tmpfs", p.repo, "tmpfs", 0, "size=16m,mode=0700") == 0,
		      "cannot mount a tmpfs on %s: %s", p.repo, strerror(errno));
	tinit_repo(p.cfg);  /* the disk is mounted: now it can be a repository */
	good = backup_ok(&p, NULL);
	need = 0;
	for (int k = 0; k < 3; k++) {
		snprintf(obj, sizeof(obj), "%s/shop/backups/%s/%s", p.repo, good, names[k]);
		ck_assert_msg(stat(obj, &st) == 0, "%s: %s", obj, strerror(errno));
		need += (long long)st.st_size;
	}
	snprintf(fill, sizeof(fill), "%s/filler", p.repo);
	rooms[nrooms++] = 0;
	for (int pct = 10; pct < 100; pct += 20)
		rooms[nrooms++] = need * pct / 100;
	/* page by page around the end of the object: the manifest, the rename */
	for (long long k = -2; k <= 4; k++)
		rooms[nrooms++] = need + k * 4096;
	rooms[nrooms++] = need * 2;
	for (int i = 0; i < nrooms; i++) {
		int st_run;

		leave_room(p.repo, fill, rooms[i] < 0 ? 0 : rooms[i]);
		st_run = bb(&p, &out, &err, "run");
		if (st_run == 0) {
			json_t *list = list_backups(&p), *last = json_array_get(list, json_array_size(list) - 1);
			const char *id = json_string_value(json_object_get(last, "id"));

			succeeded++;
			ck_assert_int_eq(bb(&p, &out, &err, "verify", id), 0);
			/* back to one backup for the next round */
			{
				char cmd[1600];

				snprintf(cmd, sizeof(cmd), "rm -rf '%s/shop/backups/%s'", p.repo, id);
				sh(cmd);
			}
			json_decref(list);
		} else {
			failed++;
			ck_assert_msg(st_run == 1, "room %lld: run exited %d: %s", rooms[i], st_run,
				      err.buf);
			ck_assert_msg(strstr(err.buf, "No space left on device"),
				      "room %lld: stderr does not name the full disk: %s", rooms[i], err.buf);
			ck_assert_msg(strchr(err.buf, '\n') == err.buf + err.len - 1,
				      "room %lld: more than one line: %s", rooms[i], err.buf);
		}
		ck_assert_msg(tmp_objects(&p) == 0, "room %lld: temporary objects left", rooms[i]);
		ck_assert_int_eq(count_status(&p, "good"), 1);
		ck_assert_int_eq(count_status(&p, "incomplete"), 0);
		ck_assert_msg(bb(&p, &out, &err, "verify", good) == 0, "room %lld: the earlier backup "
			      "no longer verifies: %s", rooms[i], err.buf);
	}
	fprintf(stderr, "fault_fulldisk: %d runs with %lld..%lld bytes free: %d failed cleanly, "
		"%d succeeded and verified\n", nrooms, rooms[0], rooms[nrooms - 1], failed,
		succeeded);
	ck_assert_int_gt(failed, 0);
	ck_assert_int_gt(succeeded, 0);
	unlink(fill);
	umount(p.repo);
	free(good);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

/* A database-only repository on a tiny tmpfs: the second run hits ENOSPC
 * and says so in one line; the first backup is untouched. */
START_TEST(test_second_run_hits_full_disk)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct proj p;
	char fill[1200], obj[1500];
	char *good;
	struct stat st;
	long long used;

	ft_proj(&p, "fulldisk-db", NULL, dbs, NULL);
	mkdir(p.repo, 0700);
	ck_assert_msg(mount("tmpfs", p.repo, "tmpfs", 0, "size=8m,mode=0700") == 0,
		      "cannot mount a tmpfs on %s: %s", p.repo, strerror(errno));
	tinit_repo(p.cfg);  /* the disk is mounted: now it can be a repository */
	good = backup_ok(&p, NULL);
	snprintf(obj, sizeof(obj), "%s/shop/backups/%s/db-app.dump.zst", p.repo, good);
	ck_assert_int_eq(stat(obj, &st), 0);
	used = (long long)st.st_size;
	/* leave less room than one more backup needs */
	snprintf(fill, sizeof(fill), "%s/filler", p.repo);
	leave_room(p.repo, fill, used / 2);
	ck_assert_int_eq(bb(&p, &out, &err, "run"), 1);
	ck_assert_msg(strstr(err.buf, "No space left on device"), "%s", err.buf);
	ck_assert_int_eq(tmp_objects(&p), 0);
	ck_assert_int_eq(count_status(&p, "good"), 1);
	ck_assert_int_eq(count_status(&p, "incomplete"), 0);
	ck_assert_int_eq(bb(&p, &out, &err, "verify", good), 0);
	umount(p.repo);
	free(good);
	strbuf_release(&out);
	strbuf_release(&err);
	proj_done(&p);
}
END_TEST

/* Whether this process may mount a tmpfs (root with CAP_SYS_ADMIN, no
 * seccomp profile in the way): the suite's precondition. */
static int can_mount_tmpfs(char *why, size_t n)
{
	char dir[] = "/tmp/ballast-mountprobe-XXXXXX";
	int ok;

	if (!mkdtemp(dir)) {
		snprintf(why, n, "mkdtemp: %s", strerror(errno));
		return 0;
	}
	ok = mount("tmpfs", dir, "tmpfs", 0, "size=1m") == 0;
	if (!ok)
		snprintf(why, n, "mount tmpfs on %s: %s", dir, strerror(errno));
	else
		umount(dir);
	rmdir(dir);
	return ok;
}

int main(void)
{
	Suite *s = suite_create("fault_fulldisk");
	TCase *tc = tcase_create("fulldisk");
	char why[512];

	if (!can_mount_tmpfs(why, sizeof(why))) {
		fprintf(stderr, "fault_fulldisk: SKIPPED: %s; this suite needs root and mount "
			"permission\n", why);
		return TSKIP_EXIT;
	}
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_disk_fills_mid_run);
	tcase_add_test(tc, test_second_run_hits_full_disk);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
