/* transport, local type: commands from argv with environment and working
 * directory, exit statuses, atomic file writes, exclusive links (the lock
 * primitive), appends, tree uploads, and the rendered command lines. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strbuf.h"
#include "transport.h"
#include "tsupport.h"

static struct transport *t;
static char *dir;

static void setup(void)
{
	struct errbuf e = ERRBUF_INIT;

	ck_assert_int_eq(transport_open(NULL, NULL, &t, &e), 0);
	dir = ttmp_dir("transport");
	ck_assert_ptr_nonnull(dir);
}

static void teardown(void)
{
	transport_close(t);
	ttmp_rm(dir);
	free(dir);
}

START_TEST(test_run)
{
	const char *argv[] = { "sh", "-c", "printf '%s|%s' \"$IMG\" \"$(pwd)\"; echo oops >&2; exit 3", NULL };
	const char *env[] = { "IMG=ns/app:v1 x", NULL };
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, want = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	int status = 0;

	ck_assert_str_eq(transport_describe(t), "local");
	ck_assert_int_eq(transport_run(t, argv, env, dir, &out, &err, &status, 10000, &e), 0);
	ck_assert_int_eq(status, 3);
	strbuf_addf(&want, "ns/app:v1 x|%s", dir);
	ck_assert_str_eq(out.buf, want.buf);
	ck_assert_ptr_nonnull(strstr(err.buf, "oops"));
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&want);
}
END_TEST

START_TEST(test_run_missing_program)
{
	const char *argv[] = { "/nonexistent/ballast-nothing", NULL };
	struct strbuf err = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	int status = 0;

	ck_assert_int_eq(transport_run(t, argv, NULL, NULL, NULL, &err, &status, 10000, &e), 0);
	ck_assert_int_eq(status, 127);
	ck_assert_ptr_nonnull(strstr(err.buf, "/nonexistent/ballast-nothing"));
	strbuf_release(&err);
}
END_TEST

START_TEST(test_run_timeout)
{
	const char *argv[] = { "sleep", "10", NULL };
	struct errbuf e = ERRBUF_INIT;
	int status = 0;

	ck_assert_int_eq(transport_run(t, argv, NULL, NULL, NULL, NULL, &status, 300, &e), BL_EFAIL);
	ck_assert_ptr_nonnull(strstr(e.msg, "timed out"));
}
END_TEST

START_TEST(test_files)
{
	struct strbuf p = STRBUF_INIT, p2 = STRBUF_INIT, got = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct transport_stat st;
	int exists = 1, existed = 0;
	struct stat sb;

	strbuf_addf(&p, "%s/a/b/state.json", dir);
	ck_assert_int_eq(transport_read_file(t, p.buf, &got, 100, &exists, &e), 0);
	ck_assert_int_eq(exists, 0);
	strbuf_reset(&p2);
	strbuf_addf(&p2, "%s/a/b", dir);
	ck_assert_int_eq(transport_mkdir_p(t, p2.buf, 0755, &e), 0);
	ck_assert_int_eq(transport_write_file(t, p.buf, "{\"a\":1}\n", 8, 0640, &e), 0);
	ck_assert_int_eq(transport_write_file(t, p.buf, "{\"a\":2}\n", 8, 0640, &e), 0);
	ck_assert_int_eq(transport_read_file(t, p.buf, &got, 100, &exists, &e), 0);
	ck_assert_int_eq(exists, 1);
	ck_assert_str_eq(got.buf, "{\"a\":2}\n");
	ck_assert_int_eq(stat(p.buf, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0640);
	/* no temporary file left behind */
	{
		struct strbuf ls = STRBUF_INIT;
		const char *argv[] = { "ls", "-A", p2.buf, NULL };

		ck_assert_int_eq(trun(argv, NULL, &ls, NULL), 0);
		ck_assert_str_eq(ls.buf, "state.json\n");
		strbuf_release(&ls);
	}
	ck_assert_int_eq(transport_read_file(t, p.buf, &got, 4, &exists, &e), BL_EFAIL);
	ck_assert_int_eq(transport_stat(t, p2.buf, &st, &e), 0);
	ck_assert_int_eq(st.exists && st.is_dir, 1);
	/* the lock primitive */
	strbuf_reset(&p2);
	strbuf_addf(&p2, "%s/a/lock", dir);
	ck_assert_int_eq(transport_link_excl(t, p.buf, p2.buf, &existed, &e), 0);
	ck_assert_int_eq(existed, 0);
	ck_assert_int_eq(transport_link_excl(t, p.buf, p2.buf, &existed, &e), 0);
	ck_assert_int_eq(existed, 1);
	ck_assert_int_eq(transport_unlink(t, p2.buf, &e), 0);
	ck_assert_int_eq(transport_unlink(t, p2.buf, &e), 0);
	ck_assert_int_eq(transport_stat(t, p2.buf, &st, &e), 0);
	ck_assert_int_eq(st.exists, 0);
	/* append */
	strbuf_reset(&p2);
	strbuf_addf(&p2, "%s/a/history.jsonl", dir);
	ck_assert_int_eq(transport_append_file(t, p2.buf, "1\n", 2, &e), 0);
	ck_assert_int_eq(transport_append_file(t, p2.buf, "2\n", 2, &e), 0);
	ck_assert_int_eq(transport_read_file(t, p2.buf, &got, 100, &exists, &e), 0);
	ck_assert_str_eq(got.buf, "1\n2\n");
	strbuf_release(&p);
	strbuf_release(&p2);
	strbuf_release(&got);
}
END_TEST

START_TEST(test_put_tree)
{
	struct strbuf src = STRBUF_INIT, dst = STRBUF_INIT, f = STRBUF_INIT, got = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	int exists = 0;

	strbuf_addf(&src, "%s/src/sub", dir);
	ck_assert_int_eq(transport_mkdir_p(t, src.buf, 0755, &e), 0);
	strbuf_addstr(&f, src.buf);
	strbuf_addstr(&f, "/2_x.up.sql");
	ck_assert_int_eq(twrite_file(f.buf, "SELECT 2;\n"), 0);
	strbuf_reset(&src);
	strbuf_addf(&src, "%s/src", dir);
	strbuf_reset(&f);
	strbuf_addf(&f, "%s/1_a.up.sql", src.buf);
	ck_assert_int_eq(twrite_file(f.buf, "SELECT 1;\n"), 0);
	strbuf_addf(&dst, "%s/dst/releases/v1/migrations", dir);
	ck_assert_int_eq(transport_put_tree(t, src.buf, dst.buf, &e), 0);
	strbuf_reset(&f);
	strbuf_addf(&f, "%s/sub/2_x.up.sql", dst.buf);
	ck_assert_int_eq(transport_read_file(t, f.buf, &got, 100, &exists, &e), 0);
	ck_assert_str_eq(got.buf, "SELECT 2;\n");
	strbuf_reset(&f);
	strbuf_addf(&f, "%s/1_a.up.sql", dst.buf);
	ck_assert_int_eq(transport_read_file(t, f.buf, &got, 100, &exists, &e), 0);
	ck_assert_str_eq(got.buf, "SELECT 1;\n");
	strbuf_release(&src);
	strbuf_release(&dst);
	strbuf_release(&f);
	strbuf_release(&got);
}
END_TEST

START_TEST(test_render)
{
	const char *argv[] = { "docker", "compose", "-f", "my file.yml", "pull", NULL };
	const char *env[] = { "BACKEND_IMAGE=ns/b:v1", "X=a'b", NULL };
	struct strbuf sb = STRBUF_INIT;

	transport_render(t, argv, env, "/srv/my app", &sb);
	ck_assert_str_eq(sb.buf, "cd '/srv/my app' && BACKEND_IMAGE=ns/b:v1 X='a'\\''b' docker compose -f 'my file.yml' pull");
	strbuf_release(&sb);
}
END_TEST

/* A directory's names: none for a directory that does not exist, each
 * name once (hidden ones too), and an unreadable one is an error naming it. */
START_TEST(test_list_dir)
{
	struct strbuf p = STRBUF_INIT, names = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;

	strbuf_addf(&p, "%s/listed", dir);
	ck_assert_int_eq(transport_list_dir(t, p.buf, &names, &e), 0);
	ck_assert_str_eq(names.buf, "");
	ck_assert_int_eq(transport_mkdir_p(t, p.buf, 0755, &e), 0);
	ck_assert_int_eq(transport_list_dir(t, p.buf, &names, &e), 0);
	ck_assert_str_eq(names.buf, "");
	strbuf_addstr(&p, "/b");
	ck_assert_int_eq(transport_write_file(t, p.buf, "x", 1, 0644, &e), 0);
	strbuf_setlen(&p, p.len - 1);
	strbuf_addstr(&p, ".hidden");
	ck_assert_int_eq(transport_write_file(t, p.buf, "x", 1, 0644, &e), 0);
	strbuf_setlen(&p, p.len - strlen("/.hidden"));
	ck_assert_int_eq(transport_list_dir(t, p.buf, &names, &e), 0);
	ck_assert_str_eq(names.buf, ".hidden\nb\n");
	if (geteuid() != 0) {
		/* root reads any directory: only a user can see the refusal */
		ck_assert_int_eq(chmod(p.buf, 0), 0);
		ck_assert_int_eq(transport_list_dir(t, p.buf, &names, &e), BL_EFAIL);
		ck_assert_ptr_nonnull(strstr(e.msg, "cannot list"));
		ck_assert_str_eq(names.buf, "");
		chmod(p.buf, 0755);
	}
	strbuf_release(&p);
	strbuf_release(&names);
}
END_TEST

START_TEST(test_open_bad_spec)
{
	struct errbuf e = ERRBUF_INIT;
	struct transport *x = NULL;
	json_t *spec = json_pack("{s:s}", "type", "ssh");

	ck_assert_int_eq(transport_open(spec, NULL, &x, &e), BL_EUSAGE);
	ck_assert_ptr_nonnull(strstr(e.msg, "transport.host"));
	json_object_set_new(spec, "host", json_string("h"));
	json_object_set_new(spec, "port", json_integer(70000));
	ck_assert_int_eq(transport_open(spec, NULL, &x, &e), BL_EUSAGE);
	ck_assert_ptr_nonnull(strstr(e.msg, "transport.port"));
	json_object_set_new(spec, "type", json_string("ftp"));
	ck_assert_int_eq(transport_open(spec, NULL, &x, &e), BL_EUSAGE);
	ck_assert_ptr_null(x);
	json_decref(spec);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("transport");
	TCase *tc = tcase_create("local");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_run);
	tcase_add_test(tc, test_run_missing_program);
	tcase_add_test(tc, test_run_timeout);
	tcase_add_test(tc, test_files);
	tcase_add_test(tc, test_put_tree);
	tcase_add_test(tc, test_render);
	tcase_add_test(tc, test_list_dir);
	tcase_add_test(tc, test_open_bad_spec);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
