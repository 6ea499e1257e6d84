/* deploy_env, deploy_state and deploy_lock on a local target: an
 * environment resolves with its env file's variables and builds the exact
 * compose argv; state.json and history.jsonl survive what the contracts
 * promise (a missing file, a torn last line, a file that is not JSON); the
 * lock is exclusive, names its holder, and is taken over only when stale. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "deploy_env.h"
#include "deploy_lock.h"
#include "deploy_state.h"
#include "log.h"
#include "tsupport.h"

static char *dir;
static struct config *cfg;

static void setup(void)
{
	struct strbuf json = STRBUF_INIT, p = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;

	dir = ttmp_dir("deploy-state");
	strbuf_addf(&p, "%s/.env", dir);
	ck_assert_int_eq(twrite_file(p.buf, "TAG_REPO=reg.local/app\nDB_PASSWORD=hunter2-xyz\n"), 0);
	strbuf_addf(&json,
		    "{\"environments\": {"
		    " \"qa\": {\"app_dir\": \"%s\", \"transport\": {\"type\": \"local\"},"
		    "  \"compose_file\": \"docker-compose.qa.yml\", \"env_file\": \".env\","
		    "  \"project_name\": \"audit\","
		    "  \"compose_command\": [\"docker\", \"compose\"],"
		    "  \"images\": {\"BACKEND_IMAGE\": \"${TAG_REPO}/backend\"}},"
		    " \"prod\": {\"app_dir\": \"/srv/prod\"}}}",
		    dir);
	ck_assert_msg(config_load_string(json.buf, "ballast.json", &cfg, &e) == 0, "%s", e.msg);
	strbuf_release(&json);
	strbuf_release(&p);
}

static void teardown(void)
{
	config_free(cfg);
	ttmp_rm(dir);
	free(dir);
}

static struct deploy_env *open_qa(int connect)
{
	struct errbuf e = ERRBUF_INIT;
	struct deploy_env *env = NULL;

	ck_assert_msg(deploy_env_open(cfg, "qa", connect, &env, &e) == 0, "%s", e.msg);
	return env;
}

static void join(const struct strvec *sv, struct strbuf *out)
{
	strbuf_reset(out);
	for (size_t i = 0; i < sv->n; i++)
		strbuf_addf(out, "%s%s", i ? " " : "", sv->v[i]);
}

START_TEST(test_env_resolves)
{
	struct deploy_env *env = open_qa(1);
	struct strvec sv = STRVEC_INIT;
	struct strbuf s = STRBUF_INIT;
	const char *up[] = { "up", "-d", NULL };
	json_t *imgs;

	ck_assert_str_eq(env->app_dir, dir);
	ck_assert_int_eq(env->env_file_exists, 1);
	ck_assert_int_eq(env->releases_keep, DEPLOY_RELEASES_KEEP_DEFAULT);
	/* images use the env file's variables */
	imgs = deploy_env_images_for(env, "v1.2.3");
	ck_assert_str_eq(json_string_value(json_object_get(imgs, "BACKEND_IMAGE")),
			 "reg.local/app/backend:v1.2.3");
	json_decref(imgs);
	deploy_env_compose_argv(env, up, &sv);
	join(&sv, &s);
	/* relative to app_dir, where compose runs */
	ck_assert_str_eq(s.buf, "docker compose -f docker-compose.qa.yml --env-file .env -p audit "
				"up -d");
	/* a secret-looking variable of the env file never reaches a log line */
	strbuf_reset(&s);
	log_redact_str("password hunter2-xyz here", &s);
	ck_assert_msg(!strstr(s.buf, "hunter2-xyz"), "%s", s.buf);
	deploy_env_path(env, "/abs/x", &s);
	ck_assert_str_eq(s.buf, "/abs/x");
	strvec_clear(&sv);
	strbuf_release(&s);
	deploy_env_close(env);
}
END_TEST

START_TEST(test_env_unknown_names_the_known)
{
	struct errbuf e = ERRBUF_INIT;
	struct deploy_env *env = NULL;

	ck_assert_int_eq(deploy_env_open(cfg, "staging", 0, &env, &e), BL_EUSAGE);
	ck_assert_ptr_null(env);
	ck_assert_str_eq(e.msg, "ballast.json: environments.staging: no such environment "
				"(have: qa, prod)");
}
END_TEST

START_TEST(test_sizes_and_tags)
{
	ck_assert_int_eq(config_size_bytes("0"), 0);
	ck_assert_int_eq(config_size_bytes("100000"), 100000);
	ck_assert_int_eq(config_size_bytes("512M"), 512LL << 20);
	ck_assert_int_eq(config_size_bytes("1G"), 1LL << 30);
	ck_assert_int_eq(config_size_bytes("x"), -1);
	ck_assert_int_eq(config_size_bytes(""), -1);
	ck_assert(deploy_tag_valid("v1.2.3"));
	ck_assert(deploy_tag_valid("_a"));
	ck_assert(!deploy_tag_valid(""));
	ck_assert(!deploy_tag_valid(".a"));
	ck_assert(!deploy_tag_valid("bad/tag"));
}
END_TEST

START_TEST(test_state_round_trip)
{
	struct deploy_env *env = open_qa(1);
	struct errbuf e = ERRBUF_INIT;
	struct strbuf p = STRBUF_INIT;
	json_t *st = NULL, *back = NULL;
	struct stat sb;

	/* no state yet: a first deploy sees an empty object */
	ck_assert_int_eq(deploy_state_read(env, &st, &e), 0);
	ck_assert(json_is_object(st) && json_object_size(st) == 0);
	json_object_set_new(st, "release", json_string("v2"));
	ck_assert_msg(deploy_state_write(env, st, &e) == 0, "%s", e.msg);
	deploy_env_state_path(env, "state.json", &p);
	ck_assert_int_eq(stat(p.buf, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	ck_assert_int_eq(deploy_state_read(env, &back, &e), 0);
	ck_assert(json_equal(st, back));
	json_decref(back);
	/* not a JSON object: an operator must look, nothing is guessed */
	ck_assert_int_eq(twrite_file(p.buf, "[1, 2]\n"), 0);
	ck_assert_int_eq(deploy_state_read(env, &back, &e), BL_EFAIL);
	ck_assert_ptr_null(back);
	ck_assert_msg(strstr(e.msg, p.buf) && strstr(e.msg, "not a JSON object"), "%s", e.msg);
	json_decref(st);
	strbuf_release(&p);
	deploy_env_close(env);
}
END_TEST

START_TEST(test_history_skips_a_torn_line)
{
	struct deploy_env *env = open_qa(1);
	struct errbuf e = ERRBUF_INIT;
	struct strbuf p = STRBUF_INIT;
	json_t *all = NULL;
	FILE *f;

	for (int i = 1; i <= 2; i++) {
		json_t *h = json_pack("{s:i}", "n", i);

		ck_assert_msg(deploy_history_append(env, h, &e) == 0, "%s", e.msg);
		json_decref(h);
	}
	/* a crash in the middle of an append */
	deploy_env_state_path(env, "history.jsonl", &p);
	f = fopen(p.buf, "a");
	ck_assert_ptr_nonnull(f);
	fputs("{\"n\": 3, \"rel", f);
	fclose(f);
	ck_assert_int_eq(deploy_history_read(env, &all, &e), 0);
	ck_assert_int_eq(json_array_size(all), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(all, 1), "n")), 2);
	json_decref(all);
	strbuf_release(&p);
	deploy_env_close(env);
}
END_TEST

START_TEST(test_lock_is_exclusive_and_named)
{
	struct deploy_env *env = open_qa(1);
	struct deploy_lock a = { .held = 0 }, b = { .held = 0 };
	struct errbuf e = ERRBUF_INIT;
	json_t *held = NULL;

	ck_assert_msg(deploy_lock_acquire(env, &a, "deploy", "release v2", 0, 0, 0, &e) == 0,
		      "%s", e.msg);
	ck_assert_int_eq(a.held, 1);
	ck_assert_int_eq(deploy_lock_acquire(env, &b, "rollback", NULL, 0, 0, 0, &e), BL_ELOCKED);
	ck_assert_int_eq(b.held, 0);
	ck_assert_msg(strstr(e.msg, "environment qa is locked: held by ") == e.msg, "%s", e.msg);
	ck_assert_msg(strstr(e.msg, " for deploy: release v2"), "%s", e.msg);
	/* our own process is alive: the lock is not stale */
	ck_assert_int_eq(deploy_lock_read(env, &held, &e), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(held, "pid")), getpid());
	json_decref(held);
	/* only its holder releases it, unless forced */
	ck_assert_int_eq(deploy_lock_release(env, &b, 0, &e), BL_ELOCKED);
	ck_assert_msg(strstr(e.msg, "the lock is not ours"), "%s", e.msg);
	ck_assert_int_eq(deploy_lock_release(env, &a, 0, &e), 0);
	ck_assert_int_eq(deploy_lock_read(env, &held, &e), 0);
	ck_assert_ptr_null(held);
	deploy_env_close(env);
}
END_TEST

/* Write a lock file as another run would have left it. */
static void plant_lock(struct deploy_env *env, long long pid, long long started, long long ttl_s,
		       int manual)
{
	struct strbuf p = STRBUF_INIT, d = STRBUF_INIT;
	json_t *l = json_pack("{s:s, s:s, s:I, s:s, s:I, s:I, s:s, s:s, s:s, s:b}", "owner", "bob",
			      "host", deploy_hostname(), "pid", (json_int_t)pid, "started_at",
			      "2026-01-01T00:00:00Z", "started", (json_int_t)started, "ttl_s",
			      (json_int_t)ttl_s, "message", "old", "token", "feedface", "command",
			      "deploy", "manual", manual);
	char *text = json_dumps(l, 0);

	deploy_env_state_path(env, NULL, &d);
	mkdir(d.buf, 0700);
	deploy_env_state_path(env, "lock", &p);
	ck_assert_int_eq(twrite_file(p.buf, text), 0);
	free(text);
	json_decref(l);
	strbuf_release(&p);
	strbuf_release(&d);
}

/* A pid that is certainly gone: a child that has been reaped. */
static pid_t dead_pid(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	return pid;
}

START_TEST(test_lock_stale_is_taken_over)
{
	struct deploy_env *env = open_qa(1);
	struct deploy_lock a = { .held = 0 };
	struct errbuf e = ERRBUF_INIT;
	json_t *held = NULL;
	char why[200];

	/* past its TTL */
	plant_lock(env, 0, (long long)time(NULL) - 100, 10, 1);
	ck_assert_int_eq(deploy_lock_read(env, &held, &e), 0);
	ck_assert(deploy_lock_is_stale(held, why, sizeof(why)));
	ck_assert_msg(strstr(why, "past its 10s TTL"), "%s", why);
	json_decref(held);
	ck_assert_msg(deploy_lock_acquire(env, &a, "deploy", NULL, 0, 0, 0, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(deploy_lock_release(env, &a, 0, &e), 0);

	/* a run on this host whose process is gone */
	plant_lock(env, dead_pid(), (long long)time(NULL), 0, 0);
	ck_assert_int_eq(deploy_lock_read(env, &held, &e), 0);
	ck_assert(deploy_lock_is_stale(held, why, sizeof(why)));
	ck_assert_msg(strstr(why, "is gone"), "%s", why);
	json_decref(held);
	ck_assert_msg(deploy_lock_acquire(env, &a, "deploy", NULL, 0, 0, 0, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(deploy_lock_release(env, &a, 0, &e), 0);

	/* an operator's lock has no pid to watch and no TTL: never stale */
	plant_lock(env, 0, (long long)time(NULL) - 100000, 0, 1);
	ck_assert_int_eq(deploy_lock_read(env, &held, &e), 0);
	ck_assert(!deploy_lock_is_stale(held, why, sizeof(why)));
	json_decref(held);
	ck_assert_int_eq(deploy_lock_acquire(env, &a, "deploy", NULL, 0, 0, 0, &e), BL_ELOCKED);
	ck_assert_msg(strstr(e.msg, "held by bob@") && !strstr(e.msg, "(pid"), "%s", e.msg);
	ck_assert_int_eq(deploy_lock_release(env, &a, 1, &e), 0);
	ck_assert_int_eq(deploy_lock_read(env, &held, &e), 0);
	ck_assert_ptr_null(held);
	deploy_env_close(env);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("deploy_state");
	TCase *tc = tcase_create("deploy_state");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_env_resolves);
	tcase_add_test(tc, test_env_unknown_names_the_known);
	tcase_add_test(tc, test_sizes_and_tags);
	tcase_add_test(tc, test_state_round_trip);
	tcase_add_test(tc, test_history_skips_a_torn_line);
	tcase_add_test(tc, test_lock_is_exclusive_and_named);
	tcase_add_test(tc, test_lock_stale_is_taken_over);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
