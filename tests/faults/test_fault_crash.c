// services: pg s3
/* A randomised crash test: ballast-backup run (a database and a volume),
 * SIGKILLed at a seeded moment (from before it opens the repository to
 * after it commits; the kills of each repository are spread over the whole
 * span, one per slice, so every phase is hit whatever the seed), again and
 * again, in turns, on a local and an S3 repository. After every kill:
 *   - list shows no incomplete backup as good, and every backup it lists as
 *     good passes verify --all;
 *   - the next run succeeds at once: no lock blocks it;
 *   - the temporary objects the killed run left are gone after that run,
 *     and prune then removes its incomplete backup, if any;
 *   - at the end, on each repository, some kills landed mid-write (a
 *     temporary object existed, an incomplete backup was left, or the
 *     killed run's --json events show an item started and no result).
 * BALLAST_FAULT_TRACE=1 prints where each kill landed.
 * BALLAST_FAULT_ITERATIONS (default 50) and BALLAST_FAULT_SEED (printed)
 * make it longer or replay one sequence. */
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

#define KEEP 2 /* retention.keep_last in tfault.c: verify --all stays cheap */

static char *dbs, *vols, *voldir;

static void setup(void)
{
	char *ci;
	size_t n = 4096;

	sql("postgres", "DROP DATABASE IF EXISTS crash");
	sql("postgres", "CREATE DATABASE crash");
	/* big enough that the dump streams for a while, small enough for 50 rounds */
	sql("crash", "CREATE TABLE events (id bigint primary key, kind text, body text); "
	    "INSERT INTO events SELECT g, 'kind' || (g %% 7), md5(g::text) || repeat('x', g %% 50) "
	    "FROM generate_series(1, 20000) g");
	voldir = ttmp_dir("crash-vol");
	ck_assert_ptr_nonnull(voldir);
	ft_reseed(42);
	vols = ft_volume(voldir, 300, 2L << 20);
	ci = tpg_conninfo("crash");
	dbs = malloc(n);
	snprintf(dbs, n, "[ { \"name\": \"app\", \"conninfo\": \"%s\" } ]", ci);
	free(ci);
}

static void teardown(void)
{
	free(dbs);
	free(vols);
	ttmp_rm(voldir);
	free(voldir);
}

struct ctx {
	struct proj p;
	const char *kind;
	long long run_ms;  /* a clean run's duration */
	int kills;         /* kills planned for this repository */
	int runs_ok;       /* runs that returned 0 */
	int killed;        /* runs that were killed */
	int killed_mid;    /* ... mid-write: a temporary object existed (local)
			    * or the killed run left an incomplete backup */
};

/* The backups as list --json reports them. */
static json_t *listing(const struct proj *p)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	json_t *res, *b;

	ck_assert_msg(ftb(p, &out, &err, "list", "--json") == 0, "list: %s", err.buf);
	res = last_json(&out);
	b = json_incref(json_object_get(res, "backups"));
	ck_assert(json_is_array(b));
	json_decref(res);
	strbuf_release(&out);
	strbuf_release(&err);
	return b;
}

/* Ids of a listing with a status (new array). */
static json_t *ids_with(json_t *list, const char *status)
{
	json_t *ent, *ids = json_array();
	size_t i;

	json_array_foreach(list, i, ent)
		if (!strcmp(json_string_value(json_object_get(ent, "status")), status))
			json_array_append(ids, json_object_get(ent, "id"));
	return ids;
}

static long long timed_run(struct ctx *c)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	long long t0 = time_mono_ms();
	int st = ftb(&c->p, &out, &err, "run");

	ck_assert_msg(st == 0, "%s: run after a kill exited %d: %s", c->kind, st, err.buf);
	c->runs_ok++;
	strbuf_release(&out);
	strbuf_release(&err);
	return time_mono_ms() - t0;
}

/* prune (retention keep_last 2, incomplete_grace 0s): the killed runs'
 * incomplete backups go, and verify --all stays cheap over 50 rounds. */
static void trim(struct ctx *c, int iter)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	json_t *list;
	int st = ftb(&c->p, &out, &err, "prune");
	size_t i;
	json_t *ent;

	ck_assert_msg(st == 0, "%s iteration %d: prune exited %d: %s", c->kind, iter, st, err.buf);
	list = listing(&c->p);
	json_array_foreach(list, i, ent)
		ck_assert_msg(!strcmp(json_string_value(json_object_get(ent, "status")), "good"),
			      "%s iteration %d: after prune, %s is %s", c->kind, iter,
			      json_string_value(json_object_get(ent, "id")),
			      json_string_value(json_object_get(ent, "status")));
	ck_assert_int_le(json_array_size(list), KEEP);
	ck_assert_int_eq(ft_tmp_objects(&c->p), 0);
	json_decref(list);
	strbuf_release(&out);
	strbuf_release(&err);
}

static void one_kill(struct ctx *c, int iter)
{
	struct strbuf bin = STRBUF_INIT, out = STRBUF_INIT, err = STRBUF_INIT;
	struct child ch = CHILD_INIT;
	struct errbuf e = ERRBUF_INIT;
	const char *argv[] = { NULL, "--config", c->p.cfg, "--json", "run", NULL };
	char logf[1200];
	/* Stratified: the k-th of n kills lands in the k-th n-th of the span
	 * (a clean run's time and a fifth), at a seeded offset inside it, so
	 * every phase of a run is hit whatever the seed. */
	long long span = c->run_ms + c->run_ms / 5 + 1, slot = span / c->kills + 1;
	long long delay = c->killed * span / c->kills + ft_below(slot), t0;
	json_t *list = listing(&c->p), *good_before = ids_with(list, "good"), *good, *v;
	size_t i, committed;
	int tmp_seen = 0, st;

	snprintf(logf, sizeof(logf), "%s/killed.log", c->p.dir);
	argv[0] = tbin("ballast-backup", &bin);
	bb_start(&ch, argv, logf, ft_env);
	t0 = time_mono_ms();
	while (time_mono_ms() - t0 < delay)
		usleep(2000);
	if (!strcmp(c->kind, "local"))
		tmp_seen = tmp_objects(&c->p) > 0;
	kill(ch.pid, SIGKILL);
	proc_finish(&ch, &e);
	proc_release(&ch);
	c->killed++;

	/* Every backup listed as good was committed: its manifest checks out
	 * and its objects verify; at most the killed run added one. */
	json_decref(list);
	list = listing(&c->p);
	good = ids_with(list, "good");
	ck_assert_msg(json_array_size(good) <= json_array_size(good_before) + 1,
		      "%s iteration %d (kill after %lld ms): %zu good backups, %zu before", c->kind,
		      iter, delay, json_array_size(good), json_array_size(good_before));
	committed = json_array_size(good) - json_array_size(good_before);
	{
		json_t *inc = ids_with(list, "incomplete");

		struct strbuf klog = STRBUF_INIT;
		int writing;

		/* The killed run's --json events (flushed line by line): an item
		 * had started and no result was printed, so the kill landed while
		 * the run was writing. On s3 an object is only visible once its
		 * PUT completes, so the repository alone shows few of these. */
		ck_assert_int_eq(tread_file(logf, &klog), 0);
		writing = strstr(klog.buf, "\"item_start\"") && !strstr(klog.buf, "\"result\"");
		c->killed_mid += tmp_seen || json_array_size(inc) > 0 || writing;
		if (getenv("BALLAST_FAULT_TRACE"))
			fprintf(stderr, "fault_crash: %s iteration %d: kill after %lld ms: %s\n",
				c->kind, iter, delay, tmp_seen ? "a temporary object existed" :
				json_array_size(inc) ? "left an incomplete backup" :
				writing ? "while writing an item" :
				committed ? "after the commit" : "before the first item");
		strbuf_release(&klog);
		json_decref(inc);
	}
	json_array_foreach(good_before, i, v)
		ck_assert_msg(json_equal(json_array_get(good, i), v),
			      "%s iteration %d: an earlier good backup %s is gone", c->kind, iter,
			      json_string_value(v));
	if (json_array_size(good)) {
		st = ftb(&c->p, &out, &err, "verify", "--all");
		ck_assert_msg(st == 0, "%s iteration %d (kill after %lld ms): verify --all exited "
			      "%d: %s", c->kind, iter, delay, st, err.buf);
	}
	/* the next run: no lock left behind, no --wait needed */
	timed_run(c);
	ck_assert_msg(ft_tmp_objects(&c->p) == 0, "%s iteration %d: temporary objects remain "
		      "after the next run", c->kind, iter);
	json_decref(good);
	json_decref(list);
	list = listing(&c->p);
	good = ids_with(list, "good");
	ck_assert_msg(json_array_size(good) == json_array_size(good_before) + committed + 1,
		      "%s iteration %d: %zu good backups after the next run, expected %zu", c->kind,
		      iter, json_array_size(good), json_array_size(good_before) + committed + 1);
	trim(c, iter);
	json_decref(list);
	json_decref(good);
	json_decref(good_before);
	strbuf_release(&bin);
	strbuf_release(&out);
	strbuf_release(&err);
}

static void crash_loop(void)
{
	struct ctx c[2];
	int iters = ft_count("BALLAST_FAULT_ITERATIONS", 50);

	memset(c, 0, sizeof(c));
	ft_seed("fault_crash");
	c[0].kind = "local";
	c[1].kind = "s3";
	ft_proj(&c[0].p, "crash-local", NULL, dbs, vols);
	ft_proj(&c[1].p, "crash-s3", ft_spec_s3("crash"), dbs, vols);
	for (int k = 0; k < 2; k++) {
		timed_run(&c[k]);
		c[k].run_ms = timed_run(&c[k]);
	}
	/* the repositories take turns, so each gets its share of the kills */
	c[0].kills = (iters + 1) / 2;
	c[1].kills = iters / 2 > 0 ? iters / 2 : 1;
	for (int i = 0; i < iters; i++)
		one_kill(&c[i % 2], i);
	for (int k = 0; k < 2; k++) {
		struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;

		ck_assert_int_eq(ftb(&c[k].p, &out, &err, "verify", "--all"), 0);
		fprintf(stderr, "fault_crash: %s: %d kills (%d mid-write), "
			"%d clean runs, a clean run takes %lld ms\n", c[k].kind, c[k].killed,
			c[k].killed_mid, c[k].runs_ok, c[k].run_ms);
		/* a crash test whose kills all missed the writes proves nothing */
		ck_assert_msg(c[k].killed == 0 || c[k].killed_mid > 0, "%s: none of %d kills "
			      "landed while the run was writing", c[k].kind, c[k].killed);
		strbuf_release(&out);
		strbuf_release(&err);
		proj_done(&c[k].p);
	}
}

START_TEST(test_sigkill_at_random)
{
	crash_loop();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fault_crash");
	TCase *tc = tcase_create("crash");

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 800);
	tcase_add_test(tc, test_sigkill_at_random);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
