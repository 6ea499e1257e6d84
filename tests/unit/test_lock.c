/* lock: exclusive between processes, the holder recorded, released when the
 * holder dies, waiting with a deadline. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "lock.h"
#include "tsupport.h"

START_TEST(test_second_holder_is_refused)
{
	char *dir = ttmp_dir("lock");
	char path[1024];
	struct errbuf e = ERRBUF_INIT;
	struct lock *a = NULL, *b = NULL;
	struct lock_holder h;
	char expect[64];
	pid_t pid;
	int st;

	snprintf(path, sizeof(path), "%s/x.lock", dir);
	ck_assert_int_eq(lock_acquire(path, "backup", 0, &a, &e), 0);
	ck_assert_int_eq(lock_read_holder(path, &h), 0);
	ck_assert_int_eq(h.pid, getpid());
	ck_assert_str_eq(h.what, "backup");
	ck_assert_int_gt((long)h.started, 0);
	ck_assert_int_eq(lock_holder_stale(&h), 0);
	/* another process (flock is per open file, so a child opens its own) */
	pid = fork();
	if (pid == 0) {
		struct errbuf ce = ERRBUF_INIT;
		struct lock *c = NULL;
		int rc = lock_acquire(path, "backup", 300, &c, &ce);

		snprintf(expect, sizeof(expect), "pid %d", (int)getppid());
		_exit(rc == BL_ELOCKED && strstr(ce.msg, expect) && strstr(ce.msg, "started") ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	lock_release(a);
	ck_assert_int_eq(lock_acquire(path, "backup", 0, &b, &e), 0);
	lock_release(b);
	ttmp_rm(dir);
	free(dir);
}
END_TEST

START_TEST(test_dead_holder_releases)
{
	char *dir = ttmp_dir("lock");
	char path[1024];
	struct errbuf e = ERRBUF_INIT;
	struct lock *a = NULL;
	struct lock_holder h;
	int fds[2], st;
	pid_t pid;
	char c;

	snprintf(path, sizeof(path), "%s/x.lock", dir);
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	if (pid == 0) {
		struct errbuf ce = ERRBUF_INIT;
		struct lock *l = NULL;

		if (lock_acquire(path, "backup", 0, &l, &ce))
			_exit(1);
		if (write(fds[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	ck_assert_int_eq(read(fds[0], &c, 1), 1);
	ck_assert_int_eq(lock_acquire(path, "backup", 0, &a, &e), BL_ELOCKED);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	/* the record it left says who, and that it is gone */
	ck_assert_int_eq(lock_read_holder(path, &h), 0);
	ck_assert_int_eq(h.pid, pid);
	ck_assert_int_eq(lock_holder_stale(&h), 1);
	ck_assert_int_eq(lock_acquire(path, "backup", 0, &a, &e), 0);
	lock_release(a);
	close(fds[0]);
	close(fds[1]);
	ttmp_rm(dir);
	free(dir);
}
END_TEST

START_TEST(test_state_dir)
{
	char *dir = ttmp_dir("state");
	char text[2048], sub[1024];
	struct config *cfg = NULL;
	struct errbuf e = ERRBUF_INIT;
	struct strbuf out = STRBUF_INIT;

	snprintf(sub, sizeof(sub), "%s/a/b", dir);
	snprintf(text, sizeof(text), "{\"project\": \"p\", \"state_dir\": \"%s\"}", sub);
	ck_assert_int_eq(config_load_string(text, "t.json", &cfg, &e), 0);
	ck_assert_int_eq(lock_state_dir(cfg, &out, &e), 0);
	ck_assert_str_eq(out.buf, sub);
	ck_assert_int_eq(access(sub, W_OK), 0);
	config_free(cfg);
	strbuf_release(&out);
	ttmp_rm(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lock");
	TCase *tc = tcase_create("lock");

	tcase_add_test(tc, test_second_holder_is_refused);
	tcase_add_test(tc, test_dead_holder_releases);
	tcase_add_test(tc, test_state_dir);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
