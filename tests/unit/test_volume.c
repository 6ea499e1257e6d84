/* The volume engine: archive a tree, extract it securely, swap it into
 * place atomically; refuse malicious and truncated archives without
 * touching the target. Real files on the real filesystem (tmpfs for the
 * full-disk case); archives are plain tar files here, compression is
 * ballast-backup's business. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "fsutil.h"
#include "tsupport.h"
#include "ttree.h"
#include "volume.h"
#include "interrupt.h"

static char *tmp;

static void setup(void)
{
	tmp = ttmp_dir("volume");
	ck_assert_ptr_nonnull(tmp);
}

static void teardown(void)
{
	ttmp_rm(tmp);
	free(tmp);
}

static char *pathf(const char *rel)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s/%s", tmp, rel), 0);
	return p;
}

static int fd_sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	int fd = *(int *)ctx;
	const char *p = buf;

	ck_assert_uint_le(len, VOLUME_CHUNK);
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0)
			return errbuf_errno(e, BL_EFAIL, errno, "test sink");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

struct fsrc {
	int fd;
	int delay_us;
	size_t chunk;
};

static int fd_source(void *ctx, void *buf, size_t cap, size_t *got, struct errbuf *e)
{
	struct fsrc *s = ctx;
	ssize_t n;

	if (s->chunk && cap > s->chunk)
		cap = s->chunk;
	if (s->delay_us)
		usleep((useconds_t)s->delay_us);
	n = read(s->fd, buf, cap);
	if (n < 0)
		return errbuf_errno(e, BL_EFAIL, errno, "test source");
	*got = (size_t)n;
	return 0;
}

static int archive_to(const char *root, const char *const *exclude, const char *file,
		      struct volume_stats *st, struct errbuf *e)
{
	struct volume_archive_opts o = { exclude, NULL, NULL };
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int rc;

	ck_assert_int_ge(fd, 0);
	rc = volume_archive(root, &o, fd_sink, &fd, st, e);
	close(fd);
	return rc;
}

static int restore_from(const char *file, const char *target, const char *id, int keep,
			struct volume_restore_result *res, struct volume_stats *st,
			struct errbuf *e)
{
	struct fsrc s = { open(file, O_RDONLY), 0, 0 };
	struct volume_restore_opts o = { id, keep, fd_source, &s, NULL, NULL, NULL };
	int rc;

	ck_assert_int_ge(s.fd, 0);
	rc = volume_restore(target, &o, res, st, e);
	close(s.fd);
	return rc;
}

static void listing(const char *root, struct strbuf *sb)
{
	strbuf_reset(sb);
	ck_assert_int_eq(ttree_list(root, sb), 0);
}

/* Equal listings; on a difference, report only the first differing lines
 * (Check cannot carry whole listings in a message). */
#define same_listing(a, b) same_listing_at(__FILE__, __LINE__, (a), (b))
static void same_listing_at(const char *file, int line, const char *a, const char *b)
{
	size_t i = 0, start = 0;

	while (a[i] && a[i] == b[i]) {
		if (a[i] == '\n')
			start = i + 1;
		i++;
	}
	if (a[i] || b[i]) {
		const char *ea = strchr(a + start, '\n'), *eb = strchr(b + start, '\n');
		int la = ea ? (int)(ea - a - start) : (int)strlen(a + start);
		int lb = eb ? (int)(eb - b - start) : (int)strlen(b + start);

		ck_abort_msg("%s:%d: listings differ:\n  want %.*s\n  got  %.*s", file, line,
			     la > 400 ? 400 : la, a + start, lb > 400 ? 400 : lb, b + start);
	}
}

static int exists(const char *p)
{
	struct stat sb;

	return lstat(p, &sb) == 0;
}

static void make_old_target(const char *target)
{
	char *p;

	ck_assert_int_eq(mkdir(target, 0755), 0);
	ck_assert_int_ge(asprintf(&p, "%s/old.txt", target), 0);
	ck_assert_int_eq(twrite_file(p, "the old contents\n"), 0);
	free(p);
}

START_TEST(test_roundtrip_every_type)
{
	char *src = pathf("src"), *tar = pathf("v.tar");
	char *dst = pathf("restored");
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;
	struct volume_stats st = VOLUME_STATS_INIT, rst = VOLUME_STATS_INIT;
	struct volume_restore_result res;
	struct errbuf e = ERRBUF_INIT;
	struct stat sb;
	char *sp;

	ck_assert_int_eq(mkdir(src, 0750), 0);
	ck_assert_int_eq(ttree_make_sample(src), 0);
	ck_assert_int_eq(chown(src, 1001, 1002), 0);
	listing(src, &a);
	ck_assert_msg(archive_to(src, NULL, tar, &st, &e) == 0, "%s", e.msg);
	ck_assert_msg(json_array_size(st.warnings) == 0, "%s", json_dumps(st.warnings, 0));
	ck_assert_int_eq(st.hardlinks, 2);
	ck_assert_int_ge(st.symlinks, 4);
	ck_assert_int_eq(st.others, 1);  /* the FIFO */
	/* The 16 MiB sparse file's holes are not in the archive. */
	ck_assert_int_eq(stat(tar, &sb), 0);
	ck_assert_int_lt(sb.st_size, 1 << 20);

	ck_assert_msg(restore_from(tar, dst, "20261127T021500Z-abcd", 1, &res, &rst, &e) == 0,
		      "%s", e.msg);
	ck_assert_int_eq(res.replaced, 0);
	ck_assert_str_eq(res.old_path, "");
	listing(dst, &b);
	/* Listings start with the root's own line, so owner and mode of the
	 * volume directory itself are compared as well. */
	same_listing(a.buf, b.buf);
	ck_assert_ptr_nonnull(strstr(b.buf, "system.posix_acl_access"));
	ck_assert_ptr_nonnull(strstr(b.buf, "mtime=1600000000.123456789"));
	sp = pathf("restored/sparse.img");
	ck_assert_int_eq(stat(sp, &sb), 0);
	ck_assert_int_eq(sb.st_size, 16 << 20);
	ck_assert_int_lt(sb.st_blocks * 512, 1 << 20);
	free(sp);
	/* No staging directory is left behind. */
	sp = pathf(".restored.ballast-restore-20261127T021500Z-abcd");
	ck_assert(!exists(sp));
	free(sp);
	volume_stats_release(&st);
	volume_stats_release(&rst);
	strbuf_release(&a);
	strbuf_release(&b);
	free(src);
	free(tar);
	free(dst);
}
END_TEST

START_TEST(test_zstd_compressed_archive_restores)
{
	char *src = pathf("src"), *tar = pathf("v.tar"), *zst = pathf("v.tar.zst");
	char *dst = pathf("restored");
	const char *argv[] = { "zstd", "-q", "-T2", "-3", tar, "-o", zst, NULL };
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;
	struct volume_stats st = VOLUME_STATS_INIT;
	struct volume_restore_result res;
	struct errbuf e = ERRBUF_INIT;
	struct stat sb;

	ck_assert_int_eq(mkdir(src, 0755), 0);
	ck_assert_int_eq(ttree_make_sample(src), 0);
	listing(src, &a);
	ck_assert_msg(archive_to(src, NULL, tar, &st, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(trun(argv, NULL, NULL, NULL), 0);
	ck_assert_int_eq(unlink(tar), 0);
	volume_stats_release(&st);
	st = (struct volume_stats)VOLUME_STATS_INIT;
	ck_assert_msg(restore_from(zst, dst, "Z", 0, &res, &st, &e) == 0, "%s", e.msg);
	listing(dst, &b);
	same_listing(a.buf, b.buf);
	/* tar_bytes counts what was read from the source: the stored bytes. */
	ck_assert_int_eq(stat(zst, &sb), 0);
	ck_assert_int_eq(st.tar_bytes, sb.st_size);
	volume_stats_release(&st);
	strbuf_release(&a);
	strbuf_release(&b);
	free(src);
	free(tar);
	free(zst);
	free(dst);
}
END_TEST

START_TEST(test_restore_swaps_and_keeps_old)
{
	char *src = pathf("src"), *tar = pathf("v.tar");
	char *dst = pathf("vol"), *old = pathf("vol.ballast-old-ID1");
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT, o = STRBUF_INIT;
	struct volume_stats st = VOLUME_STATS_INIT;
	struct volume_restore_result res;
	struct errbuf e = ERRBUF_INIT;

	ck_assert_int_eq(mkdir(src, 0755), 0);
	ck_assert_int_eq(ttree_make_sample(src), 0);
	listing(src, &a);
	ck_assert_msg(archive_to(src, NULL, tar, &st, &e) == 0, "%s", e.msg);
	make_old_target(dst);
	listing(dst, &o);

	ck_assert_msg(restore_from(tar, dst, "ID1", 1, &res, &st, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(res.replaced, 1);
	ck_assert_str_eq(res.old_path, old);
	listing(dst, &b);
	same_listing(a.buf, b.buf);
	listing(old, &b);
	same_listing(o.buf, b.buf);

	/* Same backup again with keep: the kept directory is not overwritten. */
	ck_assert_int_eq(restore_from(tar, dst, "ID1", 1, &res, &st, &e), BL_EFAIL);
	ck_assert_ptr_nonnull(strstr(e.msg, "already exists"));
	listing(old, &b);
	same_listing(o.buf, b.buf);

	/* Without keep the replaced contents are gone afterwards. */
	ck_assert_msg(restore_from(tar, dst, "ID2", 0, &res, &st, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(res.old_path, "");
	free(old);
	old = pathf("vol.ballast-old-ID2");
	ck_assert(!exists(old));
	listing(dst, &b);
	same_listing(a.buf, b.buf);
	volume_stats_release(&st);
	strbuf_release(&a);
	strbuf_release(&b);
	strbuf_release(&o);
	free(src);
	free(tar);
	free(dst);
	free(old);
}
END_TEST

START_TEST(test_excludes)
{
	const char *ex[] = { "*.tmp", "cache", "logs/*.log", NULL };
	char *src = pathf("src"), *tar = pathf("v.tar");
	char *dst = pathf("out");
	struct strbuf cmd = STRBUF_INIT, l = STRBUF_INIT;
	struct volume_stats st = VOLUME_STATS_INIT;
	struct volume_restore_result res;
	struct errbuf e = ERRBUF_INIT;

	strbuf_addf(&cmd, "mkdir -p %s/cache/sub %s/logs/old %s/keep && cd %s && "
		    "touch a.tmp keep/b.tmp keep/b.txt cache/sub/c.txt logs/x.log logs/old/y.log logs/z.txt",
		    src, src, src, src);
	ck_assert_int_eq(system(cmd.buf), 0);
	ck_assert_msg(archive_to(src, ex, tar, &st, &e) == 0, "%s", e.msg);
	ck_assert_msg(restore_from(tar, dst, "X", 0, &res, &st, &e) == 0, "%s", e.msg);
	listing(dst, &l);
	ck_assert_ptr_null(strstr(l.buf, ".tmp "));
	ck_assert_ptr_null(strstr(l.buf, "cache"));
	ck_assert_ptr_null(strstr(l.buf, "logs/x.log"));
	ck_assert_ptr_nonnull(strstr(l.buf, "logs/old/y.log "));
	ck_assert_ptr_nonnull(strstr(l.buf, "logs/z.txt "));
	ck_assert_ptr_nonnull(strstr(l.buf, "keep/b.txt "));
	ck_assert(volume_excluded(ex, "deep/er/x.tmp"));
	ck_assert(!volume_excluded(ex, "tmp"));
	volume_stats_release(&st);
	strbuf_release(&cmd);
	strbuf_release(&l);
	free(src);
	free(tar);
	free(dst);
}
END_TEST

struct mutate {
	const char *root;
};

static int mutate_entry(void *ctx, const char *rel, long long size, struct errbuf *e)
{
	struct mutate *m = ctx;
	char p[4096];

	snprintf(p, sizeof(p), "%s/%s", m->root, rel);
	if (!strcmp(rel, "grows.bin")) {
		FILE *f = fopen(p, "a");

		fputs("more bytes arrive while the file is read\n", f);
		fclose(f);
	} else if (!strcmp(rel, "vanishes.bin")) {
		unlink(p);
	}
	return 0;
}

START_TEST(test_changed_and_vanished_are_warnings)
{
	char *src = pathf("src"), *tar = pathf("v.tar");
	char *dst = pathf("out"), *p;
	struct mutate m;
	struct volume_archive_opts o = { NULL, mutate_entry, &m };
	struct volume_stats st = VOLUME_STATS_INIT;
	struct volume_restore_result res;
	struct errbuf e = ERRBUF_INIT;
	struct strbuf w = STRBUF_INIT;
	int fd;
	char *js;

	ck_assert_int_eq(mkdir(src, 0755), 0);
	m.root = src;
	p = pathf("src/grows.bin");
	ck_assert_int_eq(ttree_write_random(p, 100000, 1), 0);
	free(p);
	p = pathf("src/vanishes.bin");
	ck_assert_int_eq(ttree_write_random(p, 100000, 2), 0);
	free(p);
	p = pathf("src/steady.bin");
	ck_assert_int_eq(ttree_write_random(p, 100000, 3), 0);
	free(p);
	fd = open(tar, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_msg(volume_archive(src, &o, fd_sink, &fd, &st, &e) == 0, "%s", e.msg);
	close(fd);
	js = json_dumps(st.warnings, JSON_SORT_KEYS);
	ck_assert_int_eq(json_array_size(st.warnings), 2);
	ck_assert_msg(strstr(js, "\"path\": \"grows.bin\"") && strstr(js, "changed while being read"), "%s", js);
	ck_assert_msg(strstr(js, "\"path\": \"vanishes.bin\"") && strstr(js, "vanished"), "%s", js);
	ck_assert_ptr_null(strstr(js, "steady"));
	free(js);
	/* The archive is still well-formed and restores. */
	ck_assert_msg(restore_from(tar, dst, "X", 0, &res, &st, &e) == 0, "%s", e.msg);
	p = pathf("out/steady.bin");
	ck_assert_int_eq(tread_file(p, &w), 0);
	ck_assert_int_eq(w.len, 100000);
	free(p);
	volume_stats_release(&st);
	strbuf_release(&w);
	free(src);
	free(tar);
	free(dst);
}
END_TEST

static int count_sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	(*(int *)ctx)++;
	return 0;
}

START_TEST(test_missing_or_unreadable_root)
{
	char *missing = pathf("nope"), *priv = pathf("private");
	struct volume_stats st = VOLUME_STATS_INIT;
	struct errbuf e = ERRBUF_INIT;
	int calls = 0, status;
	pid_t pid;

	ck_assert_int_eq(volume_archive(missing, NULL, count_sink, &calls, &st, &e), BL_EFAIL);
	ck_assert_ptr_nonnull(strstr(e.msg, missing));
	ck_assert_ptr_nonnull(strstr(e.msg, "No such file"));
	ck_assert_int_eq(calls, 0);
	ck_assert_int_eq(twrite_file(missing, "a file"), 0);
	ck_assert_int_eq(volume_archive(missing, NULL, count_sink, &calls, &st, &e), BL_EFAIL);
	ck_assert_ptr_nonnull(strstr(e.msg, "not a directory"));
	ck_assert_int_eq(calls, 0);

	/* Unreadable: root bypasses permissions, so try as nobody. */
	ck_assert_int_eq(mkdir(priv, 0700), 0);
	ck_assert_int_eq(chmod(tmp, 0755), 0);
	pid = fork();
	if (pid == 0) {
		struct errbuf ce = ERRBUF_INIT;
		int n = 0, rc;

		if (setgid(65534) || setuid(65534))
			_exit(99);
		rc = volume_archive(priv, NULL, count_sink, &n, &st, &ce);
		_exit(rc == BL_EFAIL && n == 0 && strstr(ce.msg, "Permission denied") &&
		      strstr(ce.msg, priv) ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	volume_stats_release(&st);
	free(missing);
	free(priv);
}
END_TEST

/* ---- malicious archives, crafted with libarchive ---- */

struct craft {
	const char *name;
	int type;           /* AE_IFREG, AE_IFLNK, AE_IFCHR, 0 = hard link */
	const char *target; /* symlink or hard-link target */
	const char *data;
};

static void craft_archive(const char *file, const struct craft *c)
{
	struct archive *a = archive_write_new();
	struct archive_entry *ent;

	archive_write_set_format_pax(a);
	ck_assert_int_eq(archive_write_open_filename(a, file), ARCHIVE_OK);
	for (; c->name; c++) {
		ent = archive_entry_new();
		archive_entry_set_pathname(ent, c->name);
		archive_entry_set_mtime(ent, 1700000000, 0);
		if (c->type == 0) {
			archive_entry_set_filetype(ent, AE_IFREG);
			archive_entry_set_perm(ent, 0644);
			archive_entry_set_hardlink(ent, c->target);
			archive_entry_set_size(ent, 0);
		} else {
			archive_entry_set_filetype(ent, (unsigned)c->type);
			archive_entry_set_perm(ent, c->type == AE_IFDIR ? 0755 : 0644);
			if (c->type == AE_IFLNK)
				archive_entry_set_symlink(ent, c->target);
			if (c->type == AE_IFCHR)
				archive_entry_set_rdev(ent, makedev(1, 3));
			archive_entry_set_size(ent, c->data ? (la_int64_t)strlen(c->data) : 0);
		}
		ck_assert_int_eq(archive_write_header(a, ent), ARCHIVE_OK);
		if (c->data)
			archive_write_data(a, c->data, strlen(c->data));
		archive_entry_free(ent);
	}
	archive_write_close(a);
	archive_write_free(a);
}

/* Restore the crafted archive over an existing volume: refused with
 * BL_EVERIFY, the volume and everything outside unchanged, no staging left. */
static void expect_refused(const struct craft *c, const char *outside_file, const char *why)
{
	char *tar = pathf("evil.tar"), *dst = pathf("vol");
	char *stg = pathf(".vol.ballast-restore-EVIL");
	char *outside = pathf("outside");
	struct strbuf before = STRBUF_INIT, after = STRBUF_INIT;
	struct strbuf obefore = STRBUF_INIT, oafter = STRBUF_INIT;
	struct volume_stats st = VOLUME_STATS_INIT;
	struct volume_restore_result res;
	struct errbuf e = ERRBUF_INIT;
	int rc;

	craft_archive(tar, c);
	listing(dst, &before);
	listing(outside, &obefore);
	rc = restore_from(tar, dst, "EVIL", 1, &res, &st, &e);
	ck_assert_msg(rc == BL_EVERIFY, "rc %d: %s", rc, e.msg);
	ck_assert_msg(strstr(e.msg, why), "expected '%s' in: %s", why, e.msg);
	listing(dst, &after);
	same_listing(before.buf, after.buf);
	listing(outside, &oafter);
	same_listing(obefore.buf, oafter.buf);
	if (outside_file)
		ck_assert(!exists(outside_file));
	ck_assert(!exists(stg));
	volume_stats_release(&st);
	strbuf_release(&before);
	strbuf_release(&after);
	strbuf_release(&obefore);
	strbuf_release(&oafter);
	free(tar);
	free(dst);
	free(stg);
	free(outside);
}

static void evil_setup(void)
{
	char *dst, *outside, *secret;

	setup();
	dst = pathf("vol");
	outside = pathf("outside");
	secret = pathf("outside/secret");
	make_old_target(dst);
	ck_assert_int_eq(mkdir(outside, 0755), 0);
	ck_assert_int_eq(twrite_file(secret, "secret\n"), 0);
	free(dst);
	free(outside);
	free(secret);
}

START_TEST(test_refuses_dotdot)
{
	char *victim = pathf("pwned");
	const struct craft c[] = {
		{ "ok.txt", AE_IFREG, NULL, "fine\n" },
		{ "../pwned", AE_IFREG, NULL, "owned\n" },
		{ NULL, 0, NULL, NULL }
	};

	expect_refused(c, victim, "leaves the target");
	free(victim);
}
END_TEST

START_TEST(test_refuses_dotdot_inside)
{
	char *victim = pathf("outside/pwned");
	const struct craft c[] = {
		{ "a/../../outside/pwned", AE_IFREG, NULL, "owned\n" },
		{ NULL, 0, NULL, NULL }
	};

	expect_refused(c, victim, "leaves the target");
	free(victim);
}
END_TEST

START_TEST(test_refuses_absolute)
{
	char *victim = pathf("outside/abs");
	const struct craft c[] = {
		{ victim, AE_IFREG, NULL, "owned\n" },
		{ NULL, 0, NULL, NULL }
	};

	expect_refused(c, victim, "leaves the target");
	free(victim);
}
END_TEST

START_TEST(test_refuses_write_through_absolute_symlink)
{
	char *outside = pathf("outside"), *victim = pathf("outside/pwned");
	const struct craft c[] = {
		{ "escape", AE_IFLNK, outside, NULL },
		{ "escape/pwned", AE_IFREG, NULL, "owned\n" },
		{ NULL, 0, NULL, NULL }
	};

	expect_refused(c, victim, "through the symlink 'escape'");
	free(outside);
	free(victim);
}
END_TEST

START_TEST(test_refuses_write_through_relative_symlink)
{
	char *victim = pathf("outside/pwned");
	const struct craft c[] = {
		{ "d", AE_IFDIR, NULL, NULL },
		{ "d/up", AE_IFLNK, "../../outside", NULL },
		{ "d/up/pwned", AE_IFREG, NULL, "owned\n" },
		{ NULL, 0, NULL, NULL }
	};

	expect_refused(c, victim, "through the symlink 'd/up'");
	free(victim);
}
END_TEST

START_TEST(test_refuses_replacing_symlink)
{
	char *secret = pathf("outside/secret");
	const struct craft c[] = {
		{ "s", AE_IFLNK, secret, NULL },
		{ "s", AE_IFREG, NULL, "overwrite the target of s\n" },
		{ NULL, 0, NULL, NULL }
	};

	expect_refused(c, NULL, "replace a symlink");
	free(secret);
}
END_TEST

/* The directory the checks walked last is cached: an entry that replaces
 * it (or a directory above it) by a symlink must not let a later entry be
 * written through the stale cache. Whatever fails, nothing lands outside. */
START_TEST(test_cached_parent_replaced_by_symlink)
{
	char *outside = pathf("outside"), *tar = pathf("evil.tar"), *dst = pathf("vol");
	char *victim = pathf("outside/g"), *victim2 = pathf("outside/h");
	struct strbuf obefore = STRBUF_INIT, oafter = STRBUF_INIT;
	struct volume_stats st = VOLUME_STATS_INIT;
	struct volume_restore_result res;
	struct errbuf e = ERRBUF_INIT;
	const struct craft c[] = {
		{ "d", AE_IFDIR, NULL, NULL },
		{ "d/e", AE_IFDIR, NULL, NULL },
		{ "d/e/f", AE_IFREG, NULL, "f\n" },
		{ "d/e", AE_IFLNK, outside, NULL },
		{ "d/e/g", AE_IFREG, NULL, "owned\n" },
		{ "d", AE_IFLNK, outside, NULL },
		{ "d/h", AE_IFREG, NULL, "owned\n" },
		{ NULL, 0, NULL, NULL }
	};

	craft_archive(tar, c);
	listing(outside, &obefore);
	ck_assert_int_ne(restore_from(tar, dst, "EVIL", 1, &res, &st, &e), 0);
	listing(outside, &oafter);
	same_listing(obefore.buf, oafter.buf);
	ck_assert(!exists(victim));
	ck_assert(!exists(victim2));
	volume_stats_release(&st);
	strbuf_release(&obefore);
	strbuf_release(&oafter);
	free(outside);
	free(tar);
	free(dst);
	free(victim);
	free(victim2);
}
END_TEST

START_TEST(test_refuses_hardlink_outside)
{
	char *secret = pathf("outside/secret");
	const struct craft c1[] = {
		{ "h", 0, secret, NULL },
		{ NULL, 0, NULL, NULL }
	};
	const struct craft c2[] = {
		{ "h", 0, "../outside/secret", NULL },
		{ NULL, 0, NULL, NULL }
	};
	char *outside = pathf("outside");
	const struct craft c3[] = {
		{ "s", AE_IFLNK, outside, NULL },
		{ "h", 0, "s/secret", "data written into the link target\n" },
		{ NULL, 0, NULL, NULL }
	};
	const struct craft c4[] = {
		{ "h", 0, "not-there", NULL },
		{ NULL, 0, NULL, NULL }
	};
	struct stat sb;

	expect_refused(c1, NULL, "leaves the target");
	expect_refused(c2, NULL, "leaves the target");
	expect_refused(c3, NULL, "through the symlink 's'");
	expect_refused(c4, NULL, "not a file extracted earlier");
	ck_assert_int_eq(stat(secret, &sb), 0);
	ck_assert_int_eq(sb.st_nlink, 1);
	free(secret);
	free(outside);
}
END_TEST

START_TEST(test_refuses_device_node)
{
	const struct craft c[] = {
		{ "null", AE_IFCHR, NULL, NULL },
		{ NULL, 0, NULL, NULL }
	};

	expect_refused(c, NULL, "a device node");
}
END_TEST

START_TEST(test_symlink_entries_themselves_are_data)
{
	/* An absolute symlink is a normal thing in a container's volume; it
	 * is restored as a link, and nothing is written through it. */
	char *tar = pathf("ok.tar"), *dst = pathf("vol");
	char *l = pathf("vol/cert"), t[256];
	const struct craft c[] = {
		{ "cert", AE_IFLNK, "/etc/ssl/certs/ca.pem", NULL },
		{ NULL, 0, NULL, NULL }
	};
	struct volume_stats st = VOLUME_STATS_INIT;
	struct volume_restore_result res;
	struct errbuf e = ERRBUF_INIT;
	ssize_t n;

	craft_archive(tar, c);
	ck_assert_msg(restore_from(tar, dst, "OK", 0, &res, &st, &e) == 0, "%s", e.msg);
	n = readlink(l, t, sizeof(t) - 1);
	ck_assert_int_gt(n, 0);
	t[n] = '\0';
	ck_assert_str_eq(t, "/etc/ssl/certs/ca.pem");
	volume_stats_release(&st);
	free(tar);
	free(dst);
	free(l);
}
END_TEST

START_TEST(test_truncated_archive_refused)
{
	char *src = pathf("src"), *tar = pathf("v.tar");
	char *dst = pathf("vol"), *stg = pathf(".vol.ballast-restore-T");
	struct strbuf before = STRBUF_INIT, after = STRBUF_INIT;
	struct volume_stats st = VOLUME_STATS_INIT;
	struct volume_restore_result res;
	struct errbuf e = ERRBUF_INIT;
	struct stat sb;
	int rc;

	ck_assert_int_eq(mkdir(src, 0755), 0);
	for (int i = 0; i < 8; i++) {
		char name[64];

		snprintf(name, sizeof(name), "%s/f%d", src, i);
		ck_assert_int_eq(ttree_write_random(name, 300000, (unsigned)i), 0);
	}
	ck_assert_msg(archive_to(src, NULL, tar, &st, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(stat(tar, &sb), 0);
	ck_assert_int_eq(truncate(tar, sb.st_size / 2), 0);
	make_old_target(dst);
	listing(dst, &before);
	rc = restore_from(tar, dst, "T", 1, &res, &st, &e);
	ck_assert_msg(rc == BL_EVERIFY, "rc %d: %s", rc, e.msg);
	ck_assert_ptr_nonnull(strstr(e.msg, "truncated"));
	listing(dst, &after);
	same_listing(before.buf, after.buf);
	ck_assert(!exists(stg));
	volume_stats_release(&st);
	strbuf_release(&before);
	strbuf_release(&after);
	free(src);
	free(tar);
	free(dst);
	free(stg);
}
END_TEST

static int failing_at_eof(void *ctx, void *buf, size_t cap, size_t *got, struct errbuf *e)
{
	int rc = fd_source(ctx, buf, cap, got, e);

	if (!rc && *got == 0)
		return errbuf_set(e, BL_EVERIFY, "checksum mismatch");
	return rc;
}

START_TEST(test_source_checksum_failure_at_eof_refused)
{
	char *src = pathf("src"), *tar = pathf("v.tar");
	char *dst = pathf("vol");
	struct strbuf before = STRBUF_INIT, after = STRBUF_INIT;
	struct volume_stats st = VOLUME_STATS_INIT;
	struct volume_restore_result res;
	struct errbuf e = ERRBUF_INIT;
	struct fsrc s;
	struct volume_restore_opts o = { "C", 1, failing_at_eof, &s, NULL, NULL, NULL };

	ck_assert_int_eq(mkdir(src, 0755), 0);
	ck_assert_int_eq(ttree_make_sample(src), 0);
	ck_assert_msg(archive_to(src, NULL, tar, &st, &e) == 0, "%s", e.msg);
	make_old_target(dst);
	listing(dst, &before);
	s = (struct fsrc){ open(tar, O_RDONLY), 0, 0 };
	ck_assert_int_eq(volume_restore(dst, &o, &res, &st, &e), BL_EVERIFY);
	close(s.fd);
	ck_assert_str_eq(e.msg, "checksum mismatch");
	listing(dst, &after);
	same_listing(before.buf, after.buf);
	volume_stats_release(&st);
	strbuf_release(&before);
	strbuf_release(&after);
	free(src);
	free(tar);
	free(dst);
}
END_TEST

START_TEST(test_full_disk_leaves_target)
{
	char *src = pathf("src"), *tar = pathf("v.tar");
	char *mnt = pathf("small"), *dst = pathf("small/vol");
	char *big = pathf("src/big.bin");
	struct strbuf before = STRBUF_INIT, after = STRBUF_INIT, ls = STRBUF_INIT;
	struct volume_stats st = VOLUME_STATS_INIT;
	struct volume_restore_result res;
	struct errbuf e = ERRBUF_INIT;
	int rc, mounted;

	ck_assert_int_eq(mkdir(src, 0755), 0);
	ck_assert_int_eq(ttree_write_random(big, 6 << 20, 7), 0);
	ck_assert_msg(archive_to(src, NULL, tar, &st, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(mkdir(mnt, 0755), 0);
	/* A real full filesystem where we may mount one; elsewhere the
	 * file-size limit makes writes fail at the same point (EFBIG). */
	mounted = mount("tmpfs", mnt, "tmpfs", 0, "size=4m") == 0;
	if (!mounted) {
		struct rlimit rl = { 2 << 20, 2 << 20 };

		signal(SIGXFSZ, SIG_IGN);
		ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	}
	make_old_target(dst);
	listing(dst, &before);
	rc = restore_from(tar, dst, "FULL", 1, &res, &st, &e);
	ck_assert_msg(rc == BL_EFAIL, "rc %d: %s", rc, e.msg);
	ck_assert_msg(strstr(e.msg, mounted ? "No space left" : "too large"), "%s", e.msg);
	listing(dst, &after);
	same_listing(before.buf, after.buf);
	/* Only the volume is left on the small filesystem. */
	listing(mnt, &ls);
	ck_assert_ptr_null(strstr(ls.buf, "ballast-restore"));
	if (mounted)
		umount(mnt);
	volume_stats_release(&st);
	strbuf_release(&before);
	strbuf_release(&after);
	strbuf_release(&ls);
	free(src);
	free(tar);
	free(mnt);
	free(dst);
	free(big);
}
END_TEST

/* Kill a restore while it extracts; the old volume must be intact, and
 * the next restore must clean up and succeed. */
static void kill_during_restore(int sig)
{
	char *src = pathf("src"), *tar = pathf("v.tar");
	char *dst = pathf("vol"), *stg = pathf(".vol.ballast-restore-K");
	char *probe;
	struct strbuf before = STRBUF_INIT, after = STRBUF_INIT, want = STRBUF_INIT;
	struct volume_stats st = VOLUME_STATS_INIT;
	struct volume_restore_result res;
	struct errbuf e = ERRBUF_INIT;
	int status;
	pid_t pid;

	ck_assert_int_eq(mkdir(src, 0755), 0);
	for (int i = 0; i < 40; i++) {
		char name[64];

		snprintf(name, sizeof(name), "%s/f%02d", src, i);
		ck_assert_int_eq(ttree_write_random(name, 200000, (unsigned)i), 0);
	}
	listing(src, &want);
	ck_assert_msg(archive_to(src, NULL, tar, &st, &e) == 0, "%s", e.msg);
	make_old_target(dst);
	listing(dst, &before);
	probe = pathf(".vol.ballast-restore-K/f05");
	pid = fork();
	if (pid == 0) {
		struct fsrc s = { open(tar, O_RDONLY), 20000, 16384 };
		struct volume_restore_opts o = { "K", 1, fd_source, &s, NULL, NULL, NULL };
		struct errbuf ce = ERRBUF_INIT;
		struct volume_stats cst = VOLUME_STATS_INIT;

		interrupt_catch();
		_exit(volume_restore(dst, &o, &res, &cst, &ce));
	}
	for (int i = 0; i < 1000 && !exists(probe); i++)
		usleep(10000);
	ck_assert_msg(exists(probe), "the restore never got going");
	kill(pid, sig);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	listing(dst, &after);
	same_listing(before.buf, after.buf);
	if (sig == SIGKILL) {
		ck_assert(WIFSIGNALED(status));
		ck_assert(exists(stg));  /* nothing could clean up */
	} else {
		ck_assert(WIFEXITED(status));
		ck_assert_int_eq(WEXITSTATUS(status), BL_EFAIL);
		ck_assert(!exists(stg));
	}
	ck_assert_msg(restore_from(tar, dst, "K", 1, &res, &st, &e) == 0, "%s", e.msg);
	listing(dst, &after);
	same_listing(want.buf, after.buf);
	ck_assert(!exists(stg));
	volume_stats_release(&st);
	strbuf_release(&before);
	strbuf_release(&after);
	strbuf_release(&want);
	free(src);
	free(tar);
	free(dst);
	free(stg);
	free(probe);
}

START_TEST(test_sigkill_during_restore)
{
	kill_during_restore(SIGKILL);
}
END_TEST

START_TEST(test_sigterm_during_restore)
{
	kill_during_restore(SIGTERM);
}
END_TEST

START_TEST(test_restore_refuses_bad_targets)
{
	char *f = pathf("afile"), *tar = pathf("v.tar");
	char *orphan = pathf("no/such/parent");
	const struct craft c[] = { { "x", AE_IFREG, NULL, "x\n" }, { NULL, 0, NULL, NULL } };
	struct volume_stats st = VOLUME_STATS_INIT;
	struct volume_restore_result res;
	struct errbuf e = ERRBUF_INIT;
	struct strbuf sb = STRBUF_INIT;

	craft_archive(tar, c);
	ck_assert_int_eq(twrite_file(f, "not a volume\n"), 0);
	ck_assert_int_eq(restore_from(tar, f, "B", 1, &res, &st, &e), BL_EFAIL);
	ck_assert_ptr_nonnull(strstr(e.msg, "not a directory"));
	ck_assert_int_eq(tread_file(f, &sb), 0);
	ck_assert_str_eq(sb.buf, "not a volume\n");
	ck_assert_int_eq(restore_from(tar, orphan, "B", 1, &res, &st, &e), BL_EFAIL);
	ck_assert_ptr_nonnull(strstr(e.msg, "parent directory"));
	ck_assert_int_eq(restore_from(tar, "/", "B", 1, &res, &st, &e), BL_EUSAGE);
	ck_assert_int_eq(restore_from(tar, f, "../x", 1, &res, &st, &e), BL_EUSAGE);
	volume_stats_release(&st);
	strbuf_release(&sb);
	free(f);
	free(tar);
	free(orphan);
}
END_TEST

/* The extraction's parent-directory cache compares names in this form. */
START_TEST(test_path_clean)
{
	struct strbuf sb = STRBUF_INIT;

	ck_assert_int_eq(fs_path_clean("a/b/c", &sb), 4);
	ck_assert_str_eq(sb.buf, "a/b/c");
	ck_assert_int_eq(fs_path_clean("./a//b/./c/", &sb), 4);
	ck_assert_str_eq(sb.buf, "a/b/c");
	ck_assert_int_eq(fs_path_clean("a", &sb), 0);
	ck_assert_str_eq(sb.buf, "a");
	ck_assert_int_eq(fs_path_clean("./", &sb), -1);
	ck_assert_str_eq(sb.buf, "");
	ck_assert_int_eq(fs_path_clean("a/../b", &sb), 5);
	ck_assert_str_eq(sb.buf, "a/../b");
	strbuf_release(&sb);
}
END_TEST

/* The one check of a name from an archive (volume entries and hard link
 * targets, bundle entries): its class in the order documented in fsutil.h,
 * and the clean form only when it stays inside. */
START_TEST(test_path_inside)
{
	static const struct {
		const char *path;
		enum fs_path_class want;
		const char *clean;
	} cases[] = {
		{ "", FS_PATH_EMPTY, "" },
		{ "/etc/passwd", FS_PATH_ABSOLUTE, "" },
		{ "/", FS_PATH_ABSOLUTE, "" },
		{ "//a", FS_PATH_ABSOLUTE, "" },
		{ "/../a", FS_PATH_ABSOLUTE, "" },   /* absolute before ".." */
		{ "..", FS_PATH_DOTDOT, "" },
		{ "../a", FS_PATH_DOTDOT, "" },
		{ "a/../b", FS_PATH_DOTDOT, "" },    /* stays inside, still refused */
		{ "a/../../b", FS_PATH_DOTDOT, "" },
		{ "a/..", FS_PATH_DOTDOT, "" },
		{ "a/../", FS_PATH_DOTDOT, "" },
		{ "./..", FS_PATH_DOTDOT, "" },
		{ "a//..//b", FS_PATH_DOTDOT, "" },
		{ "a/b", FS_PATH_INSIDE, "a/b" },
		{ "...", FS_PATH_INSIDE, "..." },
		{ "a/..b/c..", FS_PATH_INSIDE, "a/..b/c.." },
		{ ".a/.", FS_PATH_INSIDE, ".a" },
		{ ".", FS_PATH_INSIDE, "" },
		{ "./", FS_PATH_INSIDE, "" },
		{ "././", FS_PATH_INSIDE, "" },
		{ "./a/./b/.", FS_PATH_INSIDE, "a/b" },
		{ "a//b///c", FS_PATH_INSIDE, "a/b/c" },
		{ "a/b/", FS_PATH_INSIDE, "a/b" },
		{ "a/b//", FS_PATH_INSIDE, "a/b" },
	};
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		strbuf_addstr(&sb, "stale");
		ck_assert_msg(fs_path_inside(cases[i].path, &sb) == cases[i].want, "'%s': class %d, want %d",
			      cases[i].path, (int)fs_path_inside(cases[i].path, NULL), (int)cases[i].want);
		ck_assert_msg(!strcmp(sb.buf, cases[i].clean), "'%s': clean '%s', want '%s'",
			      cases[i].path, sb.buf, cases[i].clean);
		ck_assert_int_eq(fs_path_inside(cases[i].path, NULL), cases[i].want);
	}
	strbuf_release(&sb);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("volume");
	TCase *tc = tcase_create("engine");
	TCase *evil = tcase_create("malicious");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_roundtrip_every_type);
	tcase_add_test(tc, test_path_clean);
	tcase_add_test(tc, test_path_inside);
	tcase_add_test(tc, test_zstd_compressed_archive_restores);
	tcase_add_test(tc, test_restore_swaps_and_keeps_old);
	tcase_add_test(tc, test_excludes);
	tcase_add_test(tc, test_changed_and_vanished_are_warnings);
	tcase_add_test(tc, test_missing_or_unreadable_root);
	tcase_add_test(tc, test_truncated_archive_refused);
	tcase_add_test(tc, test_source_checksum_failure_at_eof_refused);
	tcase_add_test(tc, test_full_disk_leaves_target);
	tcase_add_test(tc, test_sigkill_during_restore);
	tcase_add_test(tc, test_sigterm_during_restore);
	tcase_add_test(tc, test_restore_refuses_bad_targets);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(evil, evil_setup, teardown);
	tcase_add_test(evil, test_refuses_dotdot);
	tcase_add_test(evil, test_refuses_dotdot_inside);
	tcase_add_test(evil, test_refuses_absolute);
	tcase_add_test(evil, test_refuses_write_through_absolute_symlink);
	tcase_add_test(evil, test_refuses_write_through_relative_symlink);
	tcase_add_test(evil, test_refuses_replacing_symlink);
	tcase_add_test(evil, test_cached_parent_replaced_by_symlink);
	tcase_add_test(evil, test_refuses_hardlink_outside);
	tcase_add_test(evil, test_refuses_device_node);
	tcase_add_test(evil, test_symlink_entries_themselves_are_data);
	suite_add_tcase(s, evil);
	return trun_suite(s);
}
