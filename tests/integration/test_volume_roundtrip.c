// services:
/* The round trip at full size: every file type and metadata
 * ballast keeps, unicode and very long names, a 1 GiB sparse file and
 * 20,000 small files, archived through a pipe-sized sink and restored over
 * an existing volume; the recursive listings (type, mode, owner, size,
 * mtime, link target, content hash, xattrs/ACLs, hard-link groups) must be
 * identical, and memory must not grow with the data.
 * BALLAST_ROUNDTRIP_DIRS (default 100, of 200 files each) makes it smaller:
 * the sanitizer pass of scripts/test.sh runs 20 directories (its binaries
 * are several times slower; the plain pass keeps the full size). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tsupport.h"
#include "ttree.h"
#include "volume.h"

static int fd_sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	int fd = *(int *)ctx;
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0)
			return errbuf_errno(e, BL_EFAIL, errno, "test sink");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fd_source(void *ctx, void *buf, size_t cap, size_t *got, struct errbuf *e)
{
	ssize_t n = read(*(int *)ctx, buf, cap);

	if (n < 0)
		return errbuf_errno(e, BL_EFAIL, errno, "test source");
	*got = (size_t)n;
	return 0;
}

START_TEST(test_big_tree_roundtrip)
{
	char *tmp = ttmp_dir("volrt");
	struct strbuf src = STRBUF_INIT, tar = STRBUF_INIT, dst = STRBUF_INIT, p = STRBUF_INIT;
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;
	struct volume_stats st = VOLUME_STATS_INIT, rst = VOLUME_STATS_INIT;
	struct volume_restore_result res;
	struct errbuf e = ERRBUF_INIT;
	struct stat sb;
	struct rusage ru;
	const char *nd = getenv("BALLAST_ROUNDTRIP_DIRS");
	int ndirs = nd && atoi(nd) > 0 ? atoi(nd) : 100;
	int fd;

	ck_assert_ptr_nonnull(tmp);
	strbuf_addf(&src, "%s/src", tmp);
	strbuf_addf(&tar, "%s/v.tar", tmp);
	strbuf_addf(&dst, "%s/vol", tmp);
	ck_assert_int_eq(mkdir(src.buf, 0755), 0);
	ck_assert_int_eq(ttree_make_sample(src.buf), 0);

	/* 1 GiB sparse: a few data islands, holes everywhere else. */
	strbuf_addf(&p, "%s/disk.img", src.buf);
	fd = open(p.buf, O_WRONLY | O_CREAT | O_TRUNC, 0640);
	ck_assert_int_ge(fd, 0);
	for (long long off = 0; off < (1LL << 30); off += 256LL << 20)
		ck_assert_int_eq(pwrite(fd, "island", 6, (off_t)off + 4096), 6);
	ck_assert_int_eq(ftruncate(fd, 1LL << 30), 0);
	close(fd);

	/* 20,000 small files in 100 directories. */
	for (int d = 0; d < ndirs; d++) {
		strbuf_reset(&p);
		strbuf_addf(&p, "%s/many/d%03d", src.buf, d);
		if (d == 0) {
			struct strbuf m = STRBUF_INIT;

			strbuf_addf(&m, "%s/many", src.buf);
			ck_assert_int_eq(mkdir(m.buf, 0755), 0);
			strbuf_release(&m);
		}
		ck_assert_int_eq(mkdir(p.buf, 0755), 0);
		for (int f = 0; f < 200; f++) {
			char name[4096];

			snprintf(name, sizeof(name), "%s/f%03d.txt", p.buf, f);
			ck_assert_int_eq(ttree_write_random(name, (size_t)(f * 37 % 3000), (unsigned)(d * 1000 + f)), 0);
		}
	}
	ck_assert_int_eq(ttree_list(src.buf, &a), 0);

	fd = open(tar.buf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_msg(volume_archive(src.buf, NULL, fd_sink, &fd, &st, &e) == 0, "%s", e.msg);
	close(fd);
	ck_assert_int_eq(json_array_size(st.warnings), 0);
	ck_assert_int_ge(st.files, ndirs * 200);
	ck_assert_int_eq(st.hardlinks, 2);
	/* The holes of the 1 GiB file are not in the archive. */
	ck_assert_int_eq(stat(tar.buf, &sb), 0);
	ck_assert_int_lt(sb.st_size, 128LL << 20);

	/* Restore over an existing volume. */
	ck_assert_int_eq(mkdir(dst.buf, 0755), 0);
	strbuf_reset(&p);
	strbuf_addf(&p, "%s/stale.txt", dst.buf);
	ck_assert_int_eq(twrite_file(p.buf, "yesterday\n"), 0);
	fd = open(tar.buf, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	{
		struct volume_restore_opts o = { "20261127T021500Z-beef", 0, fd_source, &fd, NULL, NULL, NULL };

		ck_assert_msg(volume_restore(dst.buf, &o, &res, &rst, &e) == 0, "%s", e.msg);
	}
	close(fd);
	ck_assert_int_eq(res.replaced, 1);
	ck_assert_int_eq(json_array_size(rst.warnings), 0);
	ck_assert_int_eq(ttree_list(dst.buf, &b), 0);
	ck_assert_msg(a.len == b.len && memcmp(a.buf, b.buf, a.len) == 0,
		      "restored listing differs (%zu vs %zu bytes)", a.len, b.len);
	ck_assert_ptr_nonnull(strstr(b.buf, "disk.img f 0640 0:0 size=1073741824"));
	ck_assert_ptr_null(strstr(b.buf, "stale.txt"));

	/* Still sparse after the restore. */
	strbuf_reset(&p);
	strbuf_addf(&p, "%s/disk.img", dst.buf);
	ck_assert_int_eq(stat(p.buf, &sb), 0);
	ck_assert_int_lt(sb.st_blocks * 512, 16LL << 20);

	/* Flat memory: a 1 GiB file and 20,000 files went through; the
	 * listings themselves take a few MiB. */
	ck_assert_int_eq(getrusage(RUSAGE_SELF, &ru), 0);
#if !defined(__SANITIZE_ADDRESS__)
	ck_assert_msg(ru.ru_maxrss < 96 * 1024, "max RSS %ld KiB", ru.ru_maxrss);
#endif

	volume_stats_release(&st);
	volume_stats_release(&rst);
	strbuf_release(&src);
	strbuf_release(&tar);
	strbuf_release(&dst);
	strbuf_release(&p);
	strbuf_release(&a);
	strbuf_release(&b);
	ttmp_rm(tmp);
	free(tmp);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("volume_roundtrip");
	TCase *tc = tcase_create("big");

	tcase_set_timeout(tc, 880);  /* under ASan on a busy machine it needs minutes */
	tcase_add_test(tc, test_big_tree_roundtrip);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
