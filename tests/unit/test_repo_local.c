/* The local repository driver: atomic writes, permissions, listing,
 * temporary objects, deletion. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repo.h"
#include "tsupport.h"

static struct repo *open_repo(const char *dir)
{
	json_t *spec = json_pack("{s:s, s:s}", "type", "local", "path", dir);
	struct errbuf e = ERRBUF_INIT;
	struct repo *r = NULL;

	ck_assert_msg(repo_open_json(spec, "/", &r, &e) == 0, "%s", e.msg);
	json_decref(spec);
	return r;
}

struct seen {
	int n, tmp;
	long long size;
};

static int count_fn(void *ctx, const struct repo_entry *ent, struct errbuf *e)
{
	struct seen *s = ctx;

	(void)e;
	s->n++;
	s->tmp += ent->tmp;
	s->size += ent->size;
	return 0;
}

START_TEST(test_write_read_list_delete)
{
	char *dir = ttmp_dir("repo");
	char path[1024];
	struct repo *r = open_repo(dir);
	struct errbuf e = ERRBUF_INIT;
	struct repo_writer *w;
	struct strbuf got = STRBUF_INIT;
	struct seen s = { 0, 0, 0 };
	struct stat st;
	long long size = 0;
	int exists = 0;

	ck_assert_str_eq(repo_describe(r), dir);
	ck_assert_int_eq(repo_writer_open(r, "p/backups/1/a.zst", -1, &w, &e), 0);
	ck_assert_int_eq(repo_writer_write(w, "hello ", 6, &e), 0);
	/* not visible under its key before the commit */
	ck_assert_int_eq(repo_exists(r, "p/backups/1/a.zst", &exists, NULL, &e), 0);
	ck_assert_int_eq(exists, 0);
	ck_assert_int_eq(repo_list(r, "p/", count_fn, &s, &e), 0);
	ck_assert_int_eq(s.n, 1);
	ck_assert_int_eq(s.tmp, 1);
	ck_assert_int_eq(repo_writer_write(w, "world", 5, &e), 0);
	ck_assert_int_eq(repo_writer_commit(w, &e), 0);
	ck_assert_int_eq(repo_exists(r, "p/backups/1/a.zst", &exists, &size, &e), 0);
	ck_assert_int_eq(exists, 1);
	ck_assert_int_eq(size, 11);
	ck_assert_int_eq(repo_get_bytes(r, "p/backups/1/a.zst", &got, 100, &e), 0);
	ck_assert_str_eq(got.buf, "hello world");
	ck_assert_int_eq(repo_get_bytes(r, "p/backups/1/a.zst", &got, 5, &e), BL_EFAIL);

	/* modes: directories 0700, files 0600 */
	snprintf(path, sizeof(path), "%s/p/backups/1", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/p/backups/1/a.zst", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);

	ck_assert_int_eq(repo_put_bytes(r, "p/backups/2/m.json", "{}", 2, &e), 0);
	ck_assert_int_eq(repo_put_bytes(r, "q/other", "x", 1, &e), 0);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(repo_list(r, "p/backups/", count_fn, &s, &e), 0);
	ck_assert_int_eq(s.n, 2);
	ck_assert_int_eq(s.tmp, 0);
	ck_assert_int_eq(s.size, 13);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(repo_list(r, "p/backups/2", count_fn, &s, &e), 0);
	ck_assert_int_eq(s.n, 1);

	/* deleting empties and removes the directory; a missing key is fine */
	ck_assert_int_eq(repo_delete(r, "p/backups/2/m.json", &e), 0);
	ck_assert_int_eq(repo_delete(r, "p/backups/2/m.json", &e), 0);
	snprintf(path, sizeof(path), "%s/p/backups/2", dir);
	ck_assert_int_ne(access(path, F_OK), 0);
	ck_assert_int_eq(repo_delete(r, "../escape", &e), BL_EUSAGE);
	ck_assert_int_eq(repo_reader_open(r, "p/missing", (struct repo_reader **)&w, &e), BL_EFAIL);
	ck_assert_ptr_nonnull(strstr(e.msg, "p/missing"));

	repo_close(r);
	ttmp_rm(dir);
	free(dir);
	strbuf_release(&got);
}
END_TEST

START_TEST(test_abort_leaves_nothing)
{
	char *dir = ttmp_dir("repo");
	struct repo *r = open_repo(dir);
	struct errbuf e = ERRBUF_INIT;
	struct repo_writer *w;
	struct seen s = { 0, 0, 0 };

	ck_assert_int_eq(repo_put_bytes(r, "p/k", "old", 3, &e), 0);
	ck_assert_int_eq(repo_writer_open(r, "p/k", -1, &w, &e), 0);
	ck_assert_int_eq(repo_writer_write(w, "new!", 4, &e), 0);
	repo_writer_abort(w);
	ck_assert_int_eq(repo_list(r, "", count_fn, &s, &e), 0);
	ck_assert_int_eq(s.n, 1);
	ck_assert_int_eq(s.tmp, 0);
	ck_assert_int_eq(s.size, 3); /* the old object is untouched */
	repo_close(r);
	ttmp_rm(dir);
	free(dir);
}
END_TEST

START_TEST(test_bad_path)
{
	json_t *spec = json_pack("{s:s}", "type", "local");
	struct errbuf e = ERRBUF_INIT;
	struct repo *r = NULL;

	ck_assert_int_eq(repo_open_json(spec, "/", &r, &e), BL_EUSAGE);
	ck_assert_ptr_nonnull(strstr(e.msg, "repository.path"));
	json_object_set_new(spec, "path", json_string("/etc/hostname"));
	ck_assert_int_ne(repo_open_json(spec, "/", &r, &e), 0);
	ck_assert_ptr_null(r);
	json_decref(spec);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("repo_local");
	TCase *tc = tcase_create("local");

	tcase_add_test(tc, test_write_read_list_delete);
	tcase_add_test(tc, test_abort_leaves_nothing);
	tcase_add_test(tc, test_bad_path);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
