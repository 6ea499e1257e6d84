#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "interrupt.h"
#include "proc.h"
#include "tsupport.h"
#include "xalloc.h"

struct count {
	size_t bytes;
	size_t calls;
	size_t max_chunk;
};

static int count_sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	struct count *c = ctx;

	c->bytes += len;
	c->calls++;
	if (len > c->max_chunk)
		c->max_chunk = len;
	return 0;
}

START_TEST(test_capture_stdout_and_env)
{
	const char *argv[] = { "sh", "-c", "printf '%s|%s' \"$T_SECRET\" \"${T_GONE-unset}\"", NULL };
	const char *env[] = { "T_SECRET=pw-in-env", "T_GONE", NULL };
	struct strbuf out = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;

	setenv("T_GONE", "present", 1);
	ck_assert_int_eq(proc_run(argv, env, NULL, &out, 5000, &e), 0);
	ck_assert_str_eq(out.buf, "pw-in-env|unset");
	strbuf_release(&out);
}
END_TEST

START_TEST(test_exit_status_and_stderr_in_error)
{
	const char *argv[] = { "sh", "-c", "echo first >&2; echo 'the real reason' >&2; exit 3", NULL };
	struct errbuf e = ERRBUF_INIT;

	ck_assert_int_eq(proc_run(argv, NULL, NULL, NULL, 5000, &e), BL_EFAIL);
	ck_assert_str_eq(e.msg, "sh exited with status 3: the real reason");
}
END_TEST

START_TEST(test_signal_reported)
{
	const char *argv[] = { "sh", "-c", "kill -KILL $$", NULL };
	struct errbuf e = ERRBUF_INIT;

	ck_assert_int_eq(proc_run(argv, NULL, NULL, NULL, 5000, &e), BL_EFAIL);
	ck_assert_str_eq(e.msg, "sh killed by signal 9 (Killed)");
}
END_TEST

START_TEST(test_missing_program)
{
	const char *argv[] = { "ballast-no-such-program", NULL };
	struct errbuf e = ERRBUF_INIT;

	ck_assert_int_eq(proc_run(argv, NULL, NULL, NULL, 5000, &e), BL_EFAIL);
	ck_assert_str_eq(e.msg, "cannot run ballast-no-such-program: No such file or directory");
}
END_TEST

/* Alive and not a zombie (an orphan may wait a while for its reaper). */
static int alive(pid_t pid)
{
	char path[64], buf[256] = { 0 };
	FILE *f;
	char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

START_TEST(test_timeout_kills_process_group)
{
	/* The grandchild would outlive a plain kill of sh; the group kill
	 * reaches it. It writes its pid so we can check it is gone. */
	char *dir = ttmp_dir("proc");
	char pidfile[512], cmd[1024];
	struct strbuf sb = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	const char *argv[] = { "sh", "-c", cmd, NULL };
	long long t0 = time_mono_ms();
	pid_t gpid;

	snprintf(pidfile, sizeof(pidfile), "%s/pid", dir);
	snprintf(cmd, sizeof(cmd), "sleep 30 & echo $! > %s; wait", pidfile);
	/* long enough for sh to start its sleep and write the pidfile on a
	 * loaded machine */
	ck_assert_int_eq(proc_run(argv, NULL, NULL, NULL, 2000, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "sh: timed out after 2000ms") == e.msg, "%s", e.msg);
	ck_assert_int_lt(time_mono_ms() - t0, 10000);
	ck_assert_int_eq(tread_file(pidfile, &sb), 0);
	gpid = (pid_t)atoi(sb.buf);
	ck_assert_int_gt(gpid, 0);
	for (int i = 0; i < 50 && alive(gpid); i++)
		usleep(20000);
	ck_assert_msg(!alive(gpid), "grandchild %d survived the timeout", (int)gpid);
	strbuf_release(&sb);
	ttmp_rm(dir);
	free(dir);
}
END_TEST

START_TEST(test_stream_bounded_chunks)
{
	/* 20 MiB through the sink: chunks never exceed PROC_CHUNK. */
	const char *argv[] = { "sh", "-c", "head -c 20971520 /dev/zero", NULL };
	struct child c = CHILD_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct count cnt = { 0, 0, 0 };

	c.argv = argv;
	c.out_mode = PROC_PIPE;
	c.err_mode = PROC_PIPE;
	ck_assert_int_eq(proc_start(&c, &e), 0);
	ck_assert_int_eq(proc_stream(&c, count_sink, &cnt, &e), 0);
	proc_release(&c);
	ck_assert_uint_eq(cnt.bytes, 20971520);
	ck_assert_uint_le(cnt.max_chunk, PROC_CHUNK);
	ck_assert_uint_ge(cnt.calls, 20971520 / PROC_CHUNK);
}
END_TEST

static int failing_sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	return errbuf_set(e, BL_EFAIL, "repo: disk full");
}

START_TEST(test_sink_failure_kills_child)
{
	const char *argv[] = { "sh", "-c", "while :; do echo data; done", NULL };
	struct child c = CHILD_INIT;
	struct errbuf e = ERRBUF_INIT;

	c.argv = argv;
	c.out_mode = PROC_PIPE;
	ck_assert_int_eq(proc_start(&c, &e), 0);
	ck_assert_int_eq(proc_stream(&c, failing_sink, NULL, &e), BL_EFAIL);
	ck_assert_str_eq(e.msg, "repo: disk full");
	ck_assert_int_eq(c.pid, -1);
	proc_release(&c);
}
END_TEST

START_TEST(test_stdin_pipe)
{
	const char *argv[] = { "wc", "-c", NULL };
	struct child c = CHILD_INIT;
	struct errbuf e = ERRBUF_INIT;
	char buf[64] = { 0 };
	ssize_t n;

	c.argv = argv;
	c.in_mode = PROC_PIPE;
	c.out_mode = PROC_PIPE;
	ck_assert_int_eq(proc_start(&c, &e), 0);
	ck_assert_int_eq(write(c.in, "12345", 5), 5);
	close(c.in);
	c.in = -1;
	n = read(c.out, buf, sizeof(buf) - 1);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(atoi(buf), 5);
	ck_assert_int_eq(proc_finish(&c, &e), 0);
	proc_release(&c);
}
END_TEST

/* What the kernel lets an unprivileged pipe grow to. */
static long pipe_max(void)
{
	FILE *f = fopen("/proc/sys/fs/pipe-max-size", "r");
	long max = 0;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%ld", &max), 1);
	fclose(f);
	return max;
}

/* pipe_size enlarges both pipes ballast streams through: pg_restore's
 * stdin and pg_dump's stdout (batch_reads naps on a large pipe only).
 * The kernel caps it at pipe-max-size, so expect the smaller of the two. */
START_TEST(test_pipe_size_both_directions)
{
	const char *argv[] = { "cat", NULL };
	struct child c = CHILD_INIT;
	struct errbuf e = ERRBUF_INIT;
	long max = pipe_max(), want = max < 1024 * 1024 ? max : 1024 * 1024;

	c.argv = argv;
	c.in_mode = PROC_PIPE;
	c.out_mode = PROC_PIPE;
	c.pipe_size = 1024 * 1024;
	ck_assert_int_eq(proc_start(&c, &e), 0);
	ck_assert_int_ge(fcntl(c.in, F_GETPIPE_SZ), want);
	ck_assert_int_ge(fcntl(c.out, F_GETPIPE_SZ), want);
	close(c.in);
	c.in = -1;
	ck_assert_int_eq(proc_finish(&c, &e), 0);
	proc_release(&c);
}
END_TEST

/* The child was ended by the stream's SIGKILL, not by finishing its sleep:
 * the stream did not wait for it. */
static void assert_killed(const struct child *c)
{
	ck_assert_int_eq(c->pid, -1);
	ck_assert_msg(WIFSIGNALED(c->status) && WTERMSIG(c->status) == SIGKILL,
		      "wait status %d", c->status);
}

/* Start argv piped as the dump of a database starts pg_dump (dbdump.c),
 * interruptible; pipe_size, batch_reads and timeout_ms are the caller's. */
static void start_as_dump(struct child *c, const char **argv)
{
	struct errbuf e = ERRBUF_INIT;

	c->argv = argv;
	c->in_mode = PROC_NULL;
	c->out_mode = PROC_PIPE;
	c->err_mode = PROC_PIPE;
	c->interruptible = 1;
	ck_assert_msg(proc_start(c, &e) == 0, "%s", e.msg);
}

/* proc_stream() a started child into out (NULL: discard) through sink, a
 * wrapper of proc_capture_sink; release it; proc_stream's status. The
 * child's pid and wait status stay for the caller to look at. */
static int stream_out(struct child *c, proc_sink_fn sink, struct strbuf *out,
		      struct errbuf *e)
{
	struct proc_capture cap = { out, c->argv[0] };
	int rc = proc_stream(c, sink, &cap, e);

	proc_release(c);
	return rc;
}

START_TEST(test_interrupt_before_stream)
{
	const char *argv[] = { "sleep", "60", NULL };
	struct child c = CHILD_INIT;
	struct errbuf e = ERRBUF_INIT;

	start_as_dump(&c, argv);
	interrupt_signal = SIGTERM;
	ck_assert_int_eq(stream_out(&c, proc_capture_sink, NULL, &e), BL_EFAIL);
	interrupt_signal = 0;
	ck_assert_str_eq(e.msg, "interrupted by signal 15");
	assert_killed(&c);
}
END_TEST

/* The child's first line has reached the sink; the stream is back in
 * poll() waiting for more. */
static int first_seen;

static int note_sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	__atomic_store_n(&first_seen, 1, __ATOMIC_RELEASE);
	return proc_capture_sink(ctx, buf, len, e);
}

static void *raise_later(void *arg)
{
	const struct timespec t = { 0, 300 * 1000 * 1000 };

	(void)arg;
	for (int i = 0; i < 100 && !__atomic_load_n(&first_seen, __ATOMIC_ACQUIRE); i++)
		nanosleep(&t, NULL);
	nanosleep(&t, NULL);
	interrupt_signal = SIGINT;
	return NULL;
}

/* The flag set with no signal to break poll() (the signal went to another
 * thread, or came just before poll): the stream must still look at it
 * while the child says nothing. */
START_TEST(test_interrupt_while_child_silent)
{
	const char *argv[] = { "sh", "-c", "echo started; exec sleep 60", NULL };
	struct child c = CHILD_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct strbuf out = STRBUF_INIT;
	pthread_t th;

	first_seen = 0;
	start_as_dump(&c, argv);
	ck_assert_int_eq(pthread_create(&th, NULL, raise_later, NULL), 0);
	ck_assert_int_eq(stream_out(&c, note_sink, &out, &e), BL_EFAIL);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	interrupt_signal = 0;
	ck_assert_str_eq(e.msg, "interrupted by signal 2");
	ck_assert_str_eq(out.buf, "started\n");
	assert_killed(&c);
	strbuf_release(&out);
}
END_TEST

/* Existing callers (ssh transports, basebackup, proc_run) do not set the
 * option: a caught signal is theirs to look at, the stream ends normally. */
START_TEST(test_interrupt_ignored_unless_asked)
{
	const char *argv[] = { "sh", "-c", "printf kept", NULL };
	struct child c = CHILD_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct strbuf out = STRBUF_INIT;

	c.argv = argv;
	c.out_mode = PROC_PIPE;
	ck_assert_int_eq(proc_start(&c, &e), 0);
	interrupt_signal = SIGTERM;
	ck_assert_msg(stream_out(&c, proc_capture_sink, &out, &e) == 0, "%s", e.msg);
	interrupt_signal = 0;
	ck_assert_str_eq(out.buf, "kept");
	strbuf_release(&out);
}
END_TEST

/* The interruptible poll wakes every 500 ms: a wake-up is neither the end
 * of the stream (the late line must arrive) nor the timeout. */
START_TEST(test_interruptible_quiet_spell_keeps_output)
{
	const char *argv[] = { "sh", "-c", "sleep 1.2; echo late", NULL };
	struct child c = CHILD_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct strbuf out = STRBUF_INIT;

	c.timeout_ms = 60000;
	start_as_dump(&c, argv);
	ck_assert_msg(stream_out(&c, proc_capture_sink, &out, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(out.buf, "late\n");
	strbuf_release(&out);
}
END_TEST

START_TEST(test_interruptible_still_times_out)
{
	const char *argv[] = { "sleep", "30", NULL };
	struct child c = CHILD_INIT;
	struct errbuf e = ERRBUF_INIT;

	c.timeout_ms = 1500;
	start_as_dump(&c, argv);
	ck_assert_int_eq(stream_out(&c, proc_capture_sink, NULL, &e), BL_EFAIL);
	ck_assert_str_eq(e.msg, "sleep: timed out after 1500ms and was killed");
}
END_TEST

/* A fixed-seed file of n bytes; the caller frees the path. */
static char *pattern_file(const char *dir, size_t n, struct strbuf *want)
{
	char *path = xmalloc(strlen(dir) + 8);
	uint32_t x = 12345;
	FILE *f;

	sprintf(path, "%s/data", dir);
	strbuf_reset(want);
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		strbuf_addch(want, (char)(x >> 16));
	}
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(want->buf, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

struct collect {
	struct strbuf *out;
	size_t max_chunk;
};

static int collect_sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	struct collect *c = ctx;

	if (len > c->max_chunk)
		c->max_chunk = len;
	strbuf_add(c->out, buf, len);
	return 0;
}

/* batch_reads on the pipe it naps on: a writer of many small pieces (4 KiB
 * like pg_dump, and 100 bytes) gets every byte through, in order, while
 * its stderr is still collected. */
static void batch_case(const char *bs)
{
	char *dir = ttmp_dir("proc-batch");
	struct strbuf want = STRBUF_INIT, got = STRBUF_INIT, cmd = STRBUF_INIT;
	char *path = pattern_file(dir, 3 * 1024 * 1024 + 1234, &want);
	const char *argv[] = { "sh", "-c", NULL, NULL };
	struct collect col = { &got, 0 };
	struct child c = CHILD_INIT;
	struct errbuf e = ERRBUF_INIT;

	strbuf_addf(&cmd, "dd if='%s' bs=%s status=none && echo 'all written' >&2", path, bs);
	argv[2] = cmd.buf;
	c.pipe_size = PROC_BATCH_PIPE_SIZE;
	c.batch_reads = 1;
	start_as_dump(&c, argv);
	/* otherwise this runs without the nap, and tests nothing new */
	if (pipe_max() >= PROC_BATCH_PIPE_SIZE)
		ck_assert_int_ge(fcntl(c.out, F_GETPIPE_SZ), PROC_BATCH_PIPE_SIZE);
	ck_assert_msg(proc_stream(&c, collect_sink, &col, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(got.len, want.len);
	ck_assert(memcmp(got.buf, want.buf, want.len) == 0);
	ck_assert_uint_le(col.max_chunk, PROC_CHUNK);
	ck_assert_str_eq(c.err_tail.buf, "all written\n");
	proc_release(&c);
	strbuf_release(&want);
	strbuf_release(&got);
	strbuf_release(&cmd);
	free(path);
	ttmp_rm(dir);
	free(dir);
}

START_TEST(test_batch_reads_4k_writes_intact)
{
	batch_case("4096");
}
END_TEST

START_TEST(test_batch_reads_small_writes_intact)
{
	batch_case("100");
}
END_TEST

/* The dump's options change nothing on a failing sink: the child is
 * killed and reaped, and the sink's error is the one returned. */
START_TEST(test_sink_failure_with_options)
{
	const char *argv[] = { "sh", "-c", "while :; do echo data; done", NULL };
	struct child c = CHILD_INIT;
	struct errbuf e = ERRBUF_INIT;

	c.pipe_size = PROC_BATCH_PIPE_SIZE;
	c.batch_reads = 1;
	start_as_dump(&c, argv);
	ck_assert_int_eq(stream_out(&c, failing_sink, NULL, &e), BL_EFAIL);
	ck_assert_str_eq(e.msg, "repo: disk full");
	assert_killed(&c);
}
END_TEST

/* A parent killed with SIGKILL cannot stop its children; the kernel must
 * (a deploy killed during `compose up` left compose running into the
 * rollback). This process becomes the subreaper, so the orphan is ours
 * to wait for, and its status says who ended it. */
START_TEST(test_child_dies_with_parent)
{
	int pfd[2], st = 0;
	pid_t mid, orphan = -1, got = 0;
	const struct timespec tick = { 0, 20 * 1000 * 1000 };

	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	ck_assert_int_eq(pipe(pfd), 0);
	mid = fork();
	ck_assert_int_ge(mid, 0);
	if (mid == 0) {
		const char *argv[] = { "sleep", "300", NULL };
		struct child c = CHILD_INIT;
		struct errbuf e = ERRBUF_INIT;

		close(pfd[0]);
		c.argv = argv;
		if (proc_start(&c, &e) ||
		    write(pfd[1], &c.pid, sizeof(c.pid)) != (ssize_t)sizeof(c.pid))
			_exit(1);
		for (;;)
			pause();
	}
	close(pfd[1]);
	ck_assert_int_eq(read(pfd[0], &orphan, sizeof(orphan)), (ssize_t)sizeof(orphan));
	close(pfd[0]);
	ck_assert_int_eq(kill(mid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(mid, &st, 0), mid);
	for (int i = 0; i < 1000 && got == 0; i++) {
		got = waitpid(orphan, &st, WNOHANG);
		if (got == 0)
			nanosleep(&tick, NULL);
	}
	if (got == 0) {
		kill(orphan, SIGKILL);
		waitpid(orphan, NULL, 0);
		ck_abort_msg("the child outlived its parent's SIGKILL by 20 s");
	}
	ck_assert_int_eq(got, orphan);
	ck_assert(WIFSIGNALED(st));
	ck_assert_int_eq(WTERMSIG(st), SIGTERM);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("proc");
	TCase *tc = tcase_create("proc");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_capture_stdout_and_env);
	tcase_add_test(tc, test_exit_status_and_stderr_in_error);
	tcase_add_test(tc, test_signal_reported);
	tcase_add_test(tc, test_missing_program);
	tcase_add_test(tc, test_timeout_kills_process_group);
	tcase_add_test(tc, test_stream_bounded_chunks);
	tcase_add_test(tc, test_sink_failure_kills_child);
	tcase_add_test(tc, test_stdin_pipe);
	tcase_add_test(tc, test_pipe_size_both_directions);
	tcase_add_test(tc, test_child_dies_with_parent);
	tcase_add_test(tc, test_interrupt_before_stream);
	tcase_add_test(tc, test_interrupt_while_child_silent);
	tcase_add_test(tc, test_interrupt_ignored_unless_asked);
	tcase_add_test(tc, test_interruptible_quiet_spell_keeps_output);
	tcase_add_test(tc, test_interruptible_still_times_out);
	tcase_add_test(tc, test_batch_reads_4k_writes_intact);
	tcase_add_test(tc, test_batch_reads_small_writes_intact);
	tcase_add_test(tc, test_sink_failure_with_options);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
