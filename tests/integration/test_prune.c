// services:
/* ballast-backup prune on a real (local) repository whose history is
 * crafted through lib/manifest: every object is written now, so file times
 * are all alike and only the manifests' times can drive the decisions.
 * Proves restic's keep-daily semantics, the never-delete guards (newest
 * good, newest drilled, keep=true), grace-period removal of incomplete
 * backups, --dry-run changing nothing, bad policies exiting 2, the run
 * lock, and the metrics textfile. */
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "lock.h"
#include "manifest.h"
#include "repo.h"
#include "tsupport.h"
#include "zstream.h"

struct hist {
	char *dir;
	char cfg[1024];
	struct repo *r;
};

static void hist_cfg(struct hist *h, const char *retention, const char *extra)
{
	char text[4096];

	snprintf(text, sizeof(text),
		 "{ \"project\": \"shop\", \"state_dir\": \"%s/state\",\n"
		 "  \"repository\": { \"type\": \"local\", \"path\": \"%s/repo\" },\n"
		 "  \"databases\": [ { \"name\": \"app\", \"conninfo\": \"dbname=unused\" } ]%s%s%s }\n",
		 h->dir, h->dir, retention ? ",\n  \"retention\": " : "", retention ? retention : "",
		 extra ? extra : "");
	ck_assert_int_eq(twrite_file(h->cfg, text), 0);
}

static void hist_init(struct hist *h, const char *retention)
{
	struct errbuf e = ERRBUF_INIT;
	json_t *spec;
	char path[1100];

	h->dir = ttmp_dir("prune");
	ck_assert_ptr_nonnull(h->dir);
	snprintf(h->cfg, sizeof(h->cfg), "%s/ballast.json", h->dir);
	snprintf(path, sizeof(path), "%s/repo", h->dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	hist_cfg(h, retention, NULL);
	tinit_repo(h->cfg);
	spec = json_pack("{s:s, s:s}", "type", "local", "path", path);
	ck_assert_msg(repo_open_json(spec, h->dir, &h->r, &e) == 0, "%s", e.msg);
	json_decref(spec);
}

static void hist_done(struct hist *h)
{
	repo_close(h->r);
	ttmp_rm(h->dir);
	free(h->dir);
}

/* A committed backup made at time t (its manifest says so); labels: JSON
 * object text or NULL. Returns the id (static buffer rotates). */
static const char *add_backup(struct hist *h, time_t t, const char *labels, int complete)
{
	static char ids[64][MANIFEST_ID_MAX];
	static int next;
	char *id = ids[next++ % 64];
	struct strbuf key = STRBUF_INIT, text = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	char payload[64], hex[ZSTREAM_SHA256_HEX];
	struct zhash *z = zhash_new();
	json_t *lab = labels ? json_loads(labels, 0, NULL) : NULL, *m;

	manifest_new_id(t, 0, id);
	snprintf(payload, sizeof(payload), "stored bytes of %s", id);
	zhash_update(z, payload, strlen(payload));
	zhash_final(z, hex);
	zhash_free(z);
	manifest_backup_prefix("shop", id, &key);
	strbuf_addstr(&key, "db-app.dump.zst");
	ck_assert_msg(repo_put_bytes(h->r, key.buf, payload, strlen(payload), &e) == 0, "%s", e.msg);
	if (complete) {
		m = manifest_new(id, "shop", t, lab);
		json_array_append_new(json_object_get(m, "items"),
				      json_pack("{s:s, s:s, s:o}", "type", "db", "name", "app", "object",
						manifest_object(key.buf, (long long)strlen(payload), hex,
								100)));
		ck_assert_int_eq(manifest_seal(m, &text, &e), 0);
		manifest_backup_prefix("shop", id, &key);
		strbuf_addstr(&key, "manifest.json");
		ck_assert_int_eq(repo_put_bytes(h->r, key.buf, text.buf, text.len, &e), 0);
		json_decref(m);
	}
	json_decref(lab);
	strbuf_release(&key);
	strbuf_release(&text);
	return id;
}

static void put_report(struct hist *h, const char *id, const char *name, const char *json)
{
	struct strbuf key = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;

	manifest_backup_prefix("shop", id, &key);
	strbuf_addstr(&key, name);
	ck_assert_int_eq(repo_put_bytes(h->r, key.buf, json, strlen(json), &e), 0);
	strbuf_release(&key);
}

static void put_drill(struct hist *h, const char *id, const char *stamp, const char *result)
{
	char name[64], body[256];

	snprintf(name, sizeof(name), "drill-%s.json", stamp);
	snprintf(body, sizeof(body), "{\"backup_id\": \"%s\", \"result\": \"%s\"}", id, result);
	put_report(h, id, name, body);
}

static int exists(struct hist *h, const char *id)
{
	struct strbuf key = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	int ex = 0;

	manifest_backup_prefix("shop", id, &key);
	strbuf_addstr(&key, "db-app.dump.zst");
	ck_assert_int_eq(repo_exists(h->r, key.buf, &ex, NULL, &e), 0);
	strbuf_release(&key);
	return ex;
}

static int bb(struct hist *h, struct strbuf *out, struct strbuf *err, const char *a1,
	      const char *a2, const char *a3)
{
	struct strbuf bin = STRBUF_INIT;
	const char *argv[] = { tbin("ballast-backup", &bin), "--config", h->cfg, a1, a2, a3, NULL };
	int st;

	strbuf_reset(out);
	strbuf_reset(err);
	st = trun(argv, NULL, out, err);
	strbuf_release(&bin);
	return st;
}

/* The plan from prune --json: id -> {"action","reason",...}. */
static json_t *plan_of(const struct strbuf *out)
{
	const char *last = out->buf, *p;
	json_t *res, *map = json_object(), *ent;
	size_t i;

	for (p = out->buf; *p; p++)
		if (*p == '\n' && p[1])
			last = p + 1;
	res = json_loads(last, 0, NULL);
	ck_assert_msg(res != NULL, "not JSON: %s", last);
	ck_assert_str_eq(json_string_value(json_object_get(res, "event")), "result");
	json_array_foreach(json_object_get(res, "backups"), i, ent)
		json_object_set(map, json_string_value(json_object_get(ent, "id")), ent);
	json_decref(res);
	return map;
}

static const char *action(json_t *plan, const char *id)
{
	json_t *p = json_object_get(plan, id);

	ck_assert_msg(p != NULL, "backup %s is not in the plan", id);
	return json_string_value(json_object_get(p, "action"));
}

static const char *reason(json_t *plan, const char *id)
{
	return json_string_value(json_object_get(json_object_get(plan, id), "reason"));
}

/* midnight UTC of the day before yesterday: whole days before now */
static time_t base_day(void)
{
	time_t now = time(NULL);

	return now - now % 86400 - 2 * 86400;
}

START_TEST(test_daily_restic_semantics_and_dry_run)
{
	struct hist h;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, before = STRBUF_INIT,
		      after = STRBUF_INIT;
	const char *ids[12];
	time_t d0 = base_day();
	json_t *plan;
	int k;

	hist_init(&h, "{ \"keep_daily\": 3, \"keep_last\": 1 }");
	/* nightly at 02:00 for 8 days (ids[0] oldest), the two days before the
	 * newest without a backup, plus a second backup at 14:00 on the newest day */
	for (k = 0; k < 10; k++)
		ids[k] = k == 7 || k == 8 ? NULL :
			 add_backup(&h, d0 - (time_t)(9 - k) * 86400 + 2 * 3600, NULL, 1);
	ids[10] = add_backup(&h, d0 + 14 * 3600, NULL, 1);

	ck_assert_msg(bb(&h, &out, &err, "prune", "--dry-run", "--json") == 0, "%s", err.buf);
	plan = plan_of(&out);
	ck_assert_int_eq((int)json_object_size(plan), 9);
	/* newest: last + daily + newest good; the 02:00 of the same day loses */
	ck_assert_str_eq(action(plan, ids[10]), "keep");
	ck_assert_ptr_nonnull(strstr(reason(plan, ids[10]), "last"));
	ck_assert_ptr_nonnull(strstr(reason(plan, ids[10]), "daily"));
	ck_assert_str_eq(action(plan, ids[9]), "remove");
	/* days without a backup do not count: the next two kept days are the
	 * ones before the gap */
	ck_assert_str_eq(action(plan, ids[6]), "keep");
	ck_assert_str_eq(action(plan, ids[5]), "keep");
	ck_assert_ptr_nonnull(strstr(reason(plan, ids[5]), "daily"));
	for (k = 0; k < 5; k++)
		ck_assert_str_eq(action(plan, ids[k]), "remove");
	json_decref(plan);

	/* the text form names the rule; --dry-run removed nothing */
	ck_assert_int_eq(bb(&h, &out, &err, "prune", "--dry-run", NULL), 0);
	ck_assert_ptr_nonnull(strstr(out.buf, "would remove"));
	ck_assert_ptr_nonnull(strstr(out.buf, "daily "));
	for (k = 0; k < 11; k++)
		if (ids[k])
			ck_assert_msg(exists(&h, ids[k]), "--dry-run removed %s", ids[k]);

	ck_assert_msg(bb(&h, &out, &err, "prune", "--json", NULL) == 0, "%s", err.buf);
	plan = plan_of(&out);
	for (k = 0; k < 11; k++)
		if (ids[k])
			ck_assert_msg(exists(&h, ids[k]) == !strcmp(action(plan, ids[k]), "keep"),
				      "%s: %s but exists=%d", ids[k], action(plan, ids[k]),
				      exists(&h, ids[k]));
	json_decref(plan);
	/* a second prune finds nothing more to do */
	ck_assert_int_eq(bb(&h, &out, &err, "prune", "--json", NULL), 0);
	plan = plan_of(&out);
	ck_assert_int_eq((int)json_object_size(plan), 3);
	json_decref(plan);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&before);
	strbuf_release(&after);
	hist_done(&h);
}
END_TEST

START_TEST(test_never_delete_guards)
{
	struct hist h;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	const char *keep_lab, *drilled, *drill_failed, *good, *bad1, *bad2, *plain, *errored;
	time_t d0 = base_day();
	json_t *plan;

	hist_init(&h, "{ \"keep_last\": 2 }");
	keep_lab = add_backup(&h, d0 - 40 * 86400, "{\"keep\": \"true\", \"release\": \"v1\"}", 1);
	drilled = add_backup(&h, d0 - 30 * 86400, NULL, 1);
	plain = add_backup(&h, d0 - 25 * 86400, "{\"keep\": \"false\"}", 1);
	drill_failed = add_backup(&h, d0 - 20 * 86400, NULL, 1);
	errored = add_backup(&h, d0 - 15 * 86400, NULL, 1);
	good = add_backup(&h, d0 - 10 * 86400, NULL, 1);
	bad1 = add_backup(&h, d0 - 5 * 86400, NULL, 1);
	bad2 = add_backup(&h, d0 - 4 * 86400, NULL, 1);
	/* drills: a pass, a later failure of another backup, and a newer
	 * "error" report that must not hide the older pass of errored */
	put_drill(&h, drilled, "20200101T000000Z", "passed");
	put_drill(&h, drill_failed, "20200101T000000Z", "passed");
	put_drill(&h, drill_failed, "20200102T000000Z", "failed");
	put_drill(&h, errored, "20200101T000000Z", "passed");
	put_drill(&h, errored, "20200102T000000Z", "error");
	/* the two newest failed their last verify: keep_last keeps them, but
	 * the newest good backup must survive too */
	put_report(&h, bad1, "verify.json", "{\"ok\": false, \"error\": \"sha256 mismatch\"}");
	put_report(&h, bad2, "verify.json", "{\"ok\": false, \"error\": \"sha256 mismatch\"}");

	ck_assert_msg(bb(&h, &out, &err, "prune", "--json", NULL) == 0, "%s", err.buf);
	plan = plan_of(&out);
	ck_assert_str_eq(action(plan, bad2), "keep");
	ck_assert_str_eq(action(plan, bad1), "keep");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(plan, bad1), "status")),
			 "failed-verify");
	ck_assert_str_eq(action(plan, good), "keep");
	ck_assert_str_eq(reason(plan, good), "newest good backup");
	/* errored's newest deciding report passed: it is the newest drilled */
	ck_assert_str_eq(action(plan, errored), "keep");
	ck_assert_str_eq(reason(plan, errored), "newest drilled backup");
	ck_assert_str_eq(action(plan, drill_failed), "remove");
	ck_assert_str_eq(action(plan, drilled), "remove");
	ck_assert_str_eq(action(plan, plain), "remove");
	ck_assert_str_eq(action(plan, keep_lab), "keep");
	ck_assert_str_eq(reason(plan, keep_lab), "label keep=true");
	json_decref(plan);
	ck_assert(exists(&h, keep_lab) && exists(&h, good) && exists(&h, errored));
	ck_assert(!exists(&h, drilled) && !exists(&h, plain) && !exists(&h, drill_failed));
	strbuf_release(&out);
	strbuf_release(&err);
	hist_done(&h);
}
END_TEST

START_TEST(test_incomplete_grace)
{
	struct hist h;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	time_t now = time(NULL);
	const char *good, *stale, *fresh, *mid;
	json_t *plan;

	hist_init(&h, "{ \"keep_last\": 5 }");
	good = add_backup(&h, now - 3 * 86400, NULL, 1);
	stale = add_backup(&h, now - 2 * 86400, NULL, 0);
	mid = add_backup(&h, now - 3 * 3600, NULL, 0);
	fresh = add_backup(&h, now - 600, NULL, 0);
	/* default grace: 24 h */
	ck_assert_msg(bb(&h, &out, &err, "prune", "--json", NULL) == 0, "%s", err.buf);
	plan = plan_of(&out);
	ck_assert_str_eq(action(plan, stale), "remove");
	ck_assert_str_eq(reason(plan, stale), "incomplete, older than the grace period");
	ck_assert_str_eq(action(plan, mid), "keep");
	ck_assert_str_eq(reason(plan, fresh), "incomplete, within the grace period");
	ck_assert_str_eq(action(plan, good), "keep");
	json_decref(plan);
	ck_assert(!exists(&h, stale) && exists(&h, mid) && exists(&h, fresh) && exists(&h, good));
	/* a configured grace of 2h takes the 3-hour-old one too */
	hist_cfg(&h, "{ \"keep_last\": 5, \"incomplete_grace\": \"2h\" }", NULL);
	ck_assert_msg(bb(&h, &out, &err, "prune", NULL, NULL) == 0, "%s", err.buf);
	ck_assert(!exists(&h, mid) && exists(&h, fresh) && exists(&h, good));
	/* a grace of 0s takes one killed in this very second (a whole-second
	 * comparison kept it: the crash suite's "after prune, <id> is
	 * incomplete") */
	hist_cfg(&h, "{ \"keep_last\": 5, \"incomplete_grace\": \"0s\" }", NULL);
	mid = add_backup(&h, time(NULL), NULL, 0);
	ck_assert_msg(bb(&h, &out, &err, "prune", NULL, NULL) == 0, "%s", err.buf);
	ck_assert(!exists(&h, mid) && exists(&h, good));
	strbuf_release(&out);
	strbuf_release(&err);
	hist_done(&h);
}
END_TEST

/* Where an id is taken: a full id, "latest" (and show --latest), a unique
 * prefix; an ambiguous prefix is exit 2 naming the candidates, a prefix
 * nothing matches exit 1. */
static const char *shown_id(const struct strbuf *out)
{
	static char id[64];
	json_t *res = json_loads(strrchr(out->buf, '{') ? out->buf : "{}", 0, NULL);

	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(
		json_object_get(res, "manifest"), "id")) ?: "");
	json_decref(res);
	return id;
}

START_TEST(test_id_resolution)
{
	struct hist h;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	char a[MANIFEST_ID_MAX], b[MANIFEST_ID_MAX], c[MANIFEST_ID_MAX];

	hist_init(&h, NULL);
	/* 2025-11-01 02:15, 2025-11-02 02:15 and 02:16 */
	snprintf(a, sizeof(a), "%s", add_backup(&h, 1761963300, NULL, 1));
	snprintf(b, sizeof(b), "%s", add_backup(&h, 1762049700, NULL, 1));
	snprintf(c, sizeof(c), "%s", add_backup(&h, 1762049760, NULL, 1));
	ck_assert_int_eq(bb(&h, &out, &err, "--json", "show", "latest"), 0);
	ck_assert_str_eq(shown_id(&out), c);
	ck_assert_int_eq(bb(&h, &out, &err, "--json", "show", "--latest"), 0);
	ck_assert_str_eq(shown_id(&out), c);
	ck_assert_int_eq(bb(&h, &out, &err, "--json", "show", b), 0);
	ck_assert_str_eq(shown_id(&out), b);
	/* "20251101T" is a's alone; "20251102T021" is b's and c's */
	ck_assert_int_eq(bb(&h, &out, &err, "--json", "show", "20240101"), 1);
	ck_assert_msg(strstr(err.buf, "starts with \"20240101\""), "%s", err.buf);
	ck_assert_int_eq(bb(&h, &out, &err, "--json", "show", "20251102T021"), 2);
	ck_assert_msg(strstr(err.buf, "ambiguous") && strstr(err.buf, b) && strstr(err.buf, c),
		      "%s", err.buf);
	ck_assert_int_eq(bb(&h, &out, &err, "--json", "show", "20251101T"), 0);
	ck_assert_str_eq(shown_id(&out), a);
	ck_assert_int_eq(bb(&h, &out, &err, "show", "not-an-id", NULL), 2);
	strbuf_release(&out);
	strbuf_release(&err);
	hist_done(&h);
}
END_TEST

START_TEST(test_bad_policies_exit_2)
{
	static const char *const bad[] = {
		NULL, "{}", "{ \"keep_last\": 0 }", "{ \"keep_daily\": -1 }",
		"{ \"keep_last\": 3, \"keep_weekly\": 0 }",
		"{ \"keep_last\": 3, \"incomplete_grace\": \"soon\" }",
	};
	struct hist h;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	time_t now = time(NULL);
	const char *a, *b, *inc;

	hist_init(&h, NULL);
	a = add_backup(&h, now - 20 * 86400, NULL, 1);
	b = add_backup(&h, now - 10 * 86400, NULL, 1);
	inc = add_backup(&h, now - 5 * 86400, NULL, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		hist_cfg(&h, bad[i], NULL);
		ck_assert_int_eq(bb(&h, &out, &err, "prune", NULL, NULL), 2);
		ck_assert_msg(strstr(err.buf, "retention") && strstr(err.buf, h.cfg),
			      "policy %s: %s", bad[i] ? bad[i] : "(none)", err.buf);
		ck_assert_int_eq(bb(&h, &out, &err, "prune", "--dry-run", NULL), 2);
	}
	ck_assert(exists(&h, a) && exists(&h, b) && exists(&h, inc));
	strbuf_release(&out);
	strbuf_release(&err);
	hist_done(&h);
}
END_TEST

START_TEST(test_locked_and_metrics)
{
	struct hist h;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, prom = STRBUF_INIT, extra = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct lock *lk = NULL;
	time_t now = time(NULL);
	char state[1100], lockpath[1200], prompath[1100];
	const char *old, *young;

	hist_init(&h, NULL);
	snprintf(prompath, sizeof(prompath), "%s/ballast.prom", h.dir);
	strbuf_addf(&extra, ",\n  \"metrics\": { \"textfile\": \"%s\" }", prompath);
	hist_cfg(&h, "{ \"keep_last\": 1 }", extra.buf);
	old = add_backup(&h, now - 20 * 86400, NULL, 1);
	young = add_backup(&h, now - 86400, NULL, 1);
	snprintf(state, sizeof(state), "%s/state", h.dir);
	ck_assert_int_eq(mkdir(state, 0700), 0);
	snprintf(lockpath, sizeof(lockpath), "%s/shop.backup.lock", state);
	ck_assert_int_eq(lock_acquire(lockpath, "test", 0, &lk, &e), 0);
	ck_assert_int_eq(bb(&h, &out, &err, "prune", NULL, NULL), 3);
	ck_assert(exists(&h, old));
	/* a dry run needs no lock */
	ck_assert_int_eq(bb(&h, &out, &err, "prune", "--dry-run", NULL), 0);
	/* the locked prune counted as a failure */
	ck_assert_int_eq(tread_file(prompath, &prom), 0);
	ck_assert_msg(strstr(prom.buf, "ballast_prune_failures_total{project=\"shop\"} 1\n"), "%s",
		      prom.buf);
	lock_release(lk);
	ck_assert_int_eq(bb(&h, &out, &err, "prune", NULL, NULL), 0);
	ck_assert(!exists(&h, old) && exists(&h, young));
	strbuf_reset(&prom);
	ck_assert_int_eq(tread_file(prompath, &prom), 0);
	ck_assert_msg(strstr(prom.buf, "ballast_prune_removed{project=\"shop\"} 1\n") &&
		      strstr(prom.buf, "ballast_prune_kept{project=\"shop\"} 1\n") &&
		      strstr(prom.buf, "ballast_prune_failures_total{project=\"shop\"} 1\n") &&
		      strstr(prom.buf, "# TYPE ballast_prune_failures_total counter\n"), "%s", prom.buf);
	{
		const char *p = strstr(prom.buf, "ballast_prune_last_success_timestamp_seconds{project=\"shop\"} ");
		double ts;

		ck_assert_ptr_nonnull(p);
		ts = strtod(strchr(p, '}') + 2, NULL);
		ck_assert_msg(ts >= (double)now && ts <= (double)time(NULL) + 1, "ts %f", ts);
	}
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&prom);
	strbuf_release(&extra);
	hist_done(&h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("prune");
	TCase *tc = tcase_create("prune");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_daily_restic_semantics_and_dry_run);
	tcase_add_test(tc, test_never_delete_guards);
	tcase_add_test(tc, test_incomplete_grace);
	tcase_add_test(tc, test_bad_policies_exit_2);
	tcase_add_test(tc, test_id_resolution);
	tcase_add_test(tc, test_locked_and_metrics);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
