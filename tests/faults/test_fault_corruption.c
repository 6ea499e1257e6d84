// services: pg
/* A corruption sweep: single-byte flips and truncations at random offsets of
 * a backup's stored objects (a database and a volume) and its manifest.
 * After each one, verify exits 4 naming the backup, and restore --clean
 * exits 4 before it touches anything: the target database keeps its one sentinel
 * table, alone and unchanged, and the volume's target is never created. The
 * pristine file is put back before the next round.
 * BALLAST_FAULT_FLIPS (default 200), BALLAST_FAULT_TRUNCATIONS (default
 * 50) and BALLAST_FAULT_SEED (printed) tune and replay it. */
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

#include "tfault.h"

static char *dbs, *target, *vols, *voldir;

static void setup(void)
{
	char *ci;

	sql("postgres", "DROP DATABASE IF EXISTS corrupt");
	sql("postgres", "CREATE DATABASE corrupt");
	sql("corrupt", "CREATE TABLE items (id int primary key, name text, price numeric); "
	    "INSERT INTO items SELECT g, 'item ' || g, g * 0.25 FROM generate_series(1, 300) g");
	sql("postgres", "DROP DATABASE IF EXISTS corrupt_target");
	sql("postgres", "CREATE DATABASE corrupt_target");
	sql("corrupt_target", "CREATE TABLE sentinel (v text); INSERT INTO sentinel VALUES ('untouched')");
	voldir = ttmp_dir("corrupt-vol");
	ck_assert_ptr_nonnull(voldir);
	ft_reseed(3);
	vols = ft_volume(voldir, 20, 64L << 10);
	ci = tpg_conninfo("corrupt");
	dbs = malloc(4096);
	snprintf(dbs, 4096, "[ { \"name\": \"app\", \"conninfo\": \"%s\" } ]", ci);
	free(ci);
	target = tpg_conninfo("corrupt_target");
}

static void teardown(void)
{
	free(dbs);
	free(target);
	free(vols);
	ttmp_rm(voldir);
	free(voldir);
}

static void read_all(const char *path, struct strbuf *sb)
{
	strbuf_reset(sb);
	ck_assert_int_eq(tread_file(path, sb), 0);
}

static void write_all(const char *path, const struct strbuf *sb)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, sb->buf, sb->len), (ssize_t)sb->len);
	close(fd);
}

static void target_untouched(const char *what)
{
	ck_assert_msg(sql_int("corrupt_target", "SELECT count(*) FROM pg_tables WHERE schemaname "
			      "NOT IN ('pg_catalog', 'information_schema')") == 1,
		      "%s: restore created tables in the target", what);
	ck_assert_msg(sql_int("corrupt_target", "SELECT count(*) FROM sentinel WHERE v = "
			      "'untouched'") == 1, "%s: the target's sentinel changed", what);
}

START_TEST(test_flips_and_truncations)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, orig[8], bad = STRBUF_INIT;
	struct proj p;
	char *id, files[8][1700], verifyf[1500], what[2000];
	int nfiles = 0, flips = ft_count("BALLAST_FAULT_FLIPS", 200);
	int truncs = ft_count("BALLAST_FAULT_TRUNCATIONS", 50), per_file[8] = { 0 };
	DIR *d;
	struct dirent *de;
	char dir[1300], volto[1300];
	struct stat vst;

	ft_seed("fault_corruption");
	ft_proj(&p, "corrupt", NULL, dbs, vols);
	snprintf(volto, sizeof(volto), "%s/restored-volume", p.dir);
	id = backup_ok(&p, NULL);
	/* the restore works on the pristine backup (into a scratch database) */
	snprintf(dir, sizeof(dir), "%s/shop/backups/%s", p.repo, id);
	snprintf(verifyf, sizeof(verifyf), "%s/verify.json", dir);
	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && strcmp(de->d_name, "verify.json") && nfiles < 8) {
			snprintf(files[nfiles], sizeof(files[0]), "%s/%s", dir, de->d_name);
			strbuf_init(&orig[nfiles], 0);
			read_all(files[nfiles], &orig[nfiles]);
			nfiles++;
		}
	closedir(d);
	ck_assert_int_eq(nfiles, 3); /* the manifest, the database, the volume */
	ck_assert_int_eq(bb(&p, &out, &err, "verify", id), 0);
	for (int i = 0; i < flips + truncs; i++) {
		int f = (int)ft_below(nfiles), st;
		long long off = ft_below((long long)orig[f].len);
		const char *base = strrchr(files[f], '/') + 1;

		strbuf_reset(&bad);
		strbuf_add(&bad, orig[f].buf, orig[f].len);
		if (i < flips) {
			bad.buf[off] ^= (char)(1 + ft_below(255));
			snprintf(what, sizeof(what), "round %d: byte %lld of %s flipped", i, off, base);
		} else {
			bad.len = (size_t)off;
			snprintf(what, sizeof(what), "round %d: %s truncated to %lld bytes", i, base, off);
		}
		per_file[f]++;
		write_all(files[f], &bad);
		st = bb(&p, &out, &err, "verify", id);
		ck_assert_msg(st == 4, "%s: verify exited %d: %s", what, st, err.buf);
		ck_assert_msg(strstr(err.buf, id), "%s: verify does not name the backup: %s", what,
			      err.buf);
		/* --clean: the path that would replace the target's contents */
		st = bb(&p, &out, &err, "restore", id, "--target", target, "--to", volto,
			"--clean");
		ck_assert_msg(st == 4, "%s: restore exited %d: %s", what, st, err.buf);
		target_untouched(what);
		ck_assert_msg(lstat(volto, &vst) != 0, "%s: restore created the volume target", what);
		write_all(files[f], &orig[f]);
		unlink(verifyf);
	}
	ck_assert_int_eq(bb(&p, &out, &err, "verify", id), 0);
	fprintf(stderr, "fault_corruption: %d flips and %d truncations over %d files:", flips,
		truncs, nfiles);
	for (int f = 0; f < nfiles; f++)
		fprintf(stderr, " %s (%zu bytes) %d", strrchr(files[f], '/') + 1, orig[f].len,
			per_file[f]);
	fprintf(stderr, "; every one refused by verify and restore\n");
	for (int f = 0; f < nfiles; f++)
		strbuf_release(&orig[f]);
	free(id);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&bad);
	proj_done(&p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fault_corruption");
	TCase *tc = tcase_create("corruption");

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 800);
	tcase_add_test(tc, test_flips_and_truncations);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
