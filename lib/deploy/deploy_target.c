#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compose_lint.h"
#include "deploy_internal.h"
#include "deploy_lock.h"
#include "deploy_state.h"
#include "hooks.h"
#include "http.h"
#include "interrupt.h"
#include "log.h"
#include "proc.h"
#include "xalloc.h"

/* ---- migrate on the target ---- */

int drun_migrate_json(struct run *r, const char *const *args, json_t **result, struct errbuf *e)
{
	struct strvec argv = STRVEC_INIT;
	struct strbuf out = STRBUF_INIT;
	int rc;

	*result = NULL;
	deploy_env_migrate_argv(r->env, args, &argv);
	rc = drun_target_run(r->env, &argv, NULL, NULL, &out, 0, e);
	if (!rc) {
		*result = deploy_result_line(out.buf);
		if (!*result)
			rc = errbuf_set(e, BL_EFAIL, "%s: no {\"event\":\"result\"} line in its --json output",
					argv.v[0]);
	}
	strvec_clear(&argv);
	strbuf_release(&out);
	return rc;
}

/* The directory migrate should read on the target: the given release's
 * uploaded directory if it is there. */
int drun_release_dir(struct run *r, const char *release, struct strbuf *out, struct errbuf *e)
{
	struct transport_stat st;
	struct strbuf rel = STRBUF_INIT;
	int rc;

	strbuf_reset(out);
	if (!release)
		return 0;
	strbuf_addf(&rel, "releases/%s/migrations", release);
	deploy_env_state_path(r->env, rel.buf, out);
	strbuf_release(&rel);
	rc = transport_stat(r->env->t, out->buf, &st, e);
	if (rc || !st.is_dir)
		strbuf_reset(out);
	return rc;
}

int drun_schema_status(struct run *r, const char *dir, long long *version, struct errbuf *e)
{
	const char *args[] = { "status", "--json", dir ? "--dir" : NULL, dir, NULL };
	json_t *res = NULL;
	int rc;

	rc = drun_migrate_json(r, args, &res, e);
	if (rc)
		return rc;
	if (json_is_true(json_object_get(res, "dirty"))) {
		rc = errbuf_set(e, BL_EFAIL, "the schema is marked dirty at version %lld: a migration failed half-way; see 'ballast-migrate status'",
				(long long)json_integer_value(json_object_get(res, "current_version")));
	} else if (!json_is_integer(json_object_get(res, "current_version"))) {
		rc = errbuf_set(e, BL_EFAIL, "ballast-migrate status: no current_version in its result");
	} else {
		*version = json_integer_value(json_object_get(res, "current_version"));
	}
	json_decref(res);
	return rc;
}

/* ---- verify ---- */

/* The JSON objects of a `ps --format json` (compose v2 prints one object
 * per line, some 2.x versions one array) or of our `docker inspect` format
 * appended to items; anything else is skipped. */
static void ps_parse(const char *buf, json_t *items)
{
	const char *p;

	for (p = buf; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		json_t *v = len ? json_loadb(p, len, 0, NULL) : NULL;

		if (json_is_array(v))
			json_array_extend(items, v);
		else if (json_is_object(v))
			json_array_append(items, v);
		json_decref(v);
		p = nl ? nl + 1 : NULL;
	}
}

/* Compose v1 has no `ps --format json` (it prints its usage and exits 0):
 * the project's container ids from `ps -q`, then `docker inspect` of each
 * in the same shape as v2's objects. */
static int ps_v1(struct run *r, json_t *items, struct errbuf *e)
{
	static const char fmt[] =
		"{\"Service\":{{json (index .Config.Labels \"com.docker.compose.service\")}},"
		"\"State\":{{json .State.Status}},"
		"\"Health\":{{if .State.Health}}{{json .State.Health.Status}}{{else}}\"\"{{end}},"
		"\"ExitCode\":{{.State.ExitCode}}}";
	const char *args[] = { "ps", "-q", NULL };
	struct strbuf ids = STRBUF_INIT, out = STRBUF_INIT;
	struct strvec argv = STRVEC_INIT;
	size_t before = json_array_size(items);
	char *tok, *save = NULL;
	int rc;

	if ((rc = drun_compose(r, args, r->verify_images, &ids, e)))
		goto out;
	strvec_push_json(&argv, r->env->docker_command);
	strvec_push(&argv, "inspect");
	strvec_push(&argv, "--format");
	strvec_push(&argv, fmt);
	for (tok = strtok_r(ids.buf, " \t\r\n", &save); tok; tok = strtok_r(NULL, " \t\r\n", &save))
		strvec_push(&argv, tok);
	if (argv.n == json_array_size(r->env->docker_command) + 3)
		goto out; /* nothing listed: the caller's zero-services check */
	if ((rc = drun_target_run(r->env, &argv, NULL, r->env->app_dir, &out,
			     (long)r->env->compose_timeout_ms, e)))
		goto out;
	ps_parse(out.buf, items);
	if (json_array_size(items) == before)
		rc = errbuf_set(e, BL_EVERIFY, "%s inspect printed nothing usable for the compose containers",
				json_string_value(json_array_get(r->env->docker_command, 0)));
out:
	strvec_clear(&argv);
	strbuf_release(&ids);
	strbuf_release(&out);
	return rc;
}

/* One service as ps or inspect reported it. */
static int ps_item_check(json_t *it, struct errbuf *e)
{
	const char *svc = json_string_value(json_object_get(it, "Service"));
	const char *state = json_string_value(json_object_get(it, "State"));
	const char *health = json_string_value(json_object_get(it, "Health"));
	long long code = json_integer_value(json_object_get(it, "ExitCode"));

	if (!svc || !*svc)
		svc = json_string_value(json_object_get(it, "Name"));
	if (!svc)
		svc = "?";
	if (health && !strcmp(health, "unhealthy"))
		return errbuf_set(e, BL_EVERIFY, "compose service %s is unhealthy", svc);
	if (health && !strcmp(health, "starting"))
		return errbuf_set(e, BL_EVERIFY, "compose service %s is still starting", svc);
	if (state && (!strcmp(state, "restarting") || !strcmp(state, "dead") ||
		      (!strcmp(state, "exited") && code != 0)))
		return errbuf_set(e, BL_EVERIFY, "compose service %s is %s (exit code %lld)", svc,
				  state, code);
	return 0;
}

/* The compose services' own health: at least one listed; none unhealthy,
 * restarting, dead or exited with an error; none still "starting". */
static int ps_probe(void *ctx, struct errbuf *e)
{
	struct run *r = ctx;
	const char *args[] = { "ps", "--format", "json", NULL };
	struct strbuf out = STRBUF_INIT;
	json_t *items = json_array();
	size_t i;
	json_t *it;
	int rc = 0;

	/* The image variables too: compose v2 validates the whole file, and an
	 * unset ${BACKEND_IMAGE} makes even `ps` fail. */
	if (!r->ps_no_json) {
		rc = drun_compose(r, args, r->verify_images, &out, e);
		if (!rc)
			ps_parse(out.buf, items);
		else
			r->ps_no_json = 1;
	}
	/* No JSON (compose v1, or a failed flag): ask the v1 way, which every
	 * version answers; it reports a real failure of compose itself. A
	 * refused flag is not asked again in this run: verify polls, and each
	 * start of compose 1.x costs a second of CPU. */
	if (r->ps_no_json || !json_array_size(items)) {
		errbuf_clear(e);
		if ((rc = ps_v1(r, items, e))) {
			r->ps_no_json = 0;
			goto out;
		}
	}
	if (!json_array_size(items)) {
		rc = errbuf_set(e, BL_EVERIFY, "compose lists no running service for %s",
				r->env->compose_file);
		goto out;
	}
	json_array_foreach(items, i, it) {
		if ((rc = ps_item_check(it, e)))
			break;
	}
out:
	json_decref(items);
	strbuf_release(&out);
	return rc;
}

int drun_verify(struct run *r, const char *step, json_t *images, struct errbuf *e)
{
	long long t;
	int rc;

	r->verify_images = images;
	t = drun_step_begin(step, "health checks and compose service health");
	rc = http_wait(r->env->health, r->env->nhealth, ps_probe, r, e);
	drun_step_end(r, step, t, rc, e);
	return rc;
}

/* ---- snapshot / restore ---- */

const char *drun_restore_db_name(struct deploy_env *env)
{
	const char *db = config_str(env->cfg, "migrations.database", NULL);

	if (!db)
		db = config_str(env->cfg, "databases[0].name", NULL);
	return db;
}

int drun_snapshot(struct run *r, struct errbuf *e)
{
	struct strvec argv = STRVEC_INIT;
	struct strbuf out = STRBUF_INIT, label = STRBUF_INIT, only = STRBUF_INIT;
	json_t *res = NULL;
	long long t;
	int rc;

	strbuf_addf(&label, "release=%s", r->release);
	{
		/* Only the database a rollback restores: volumes are never
		 * restored by a rollback, and their before/after commands (an
		 * app stopped for a consistent copy) would run on every deploy,
		 * and fail on a first one, when nothing runs yet. */
		const char *db = drun_restore_db_name(r->env);
		const char *args[] = { "run", "--label", "reason=pre-deploy", "--label", label.buf,
				       "--json", db ? "--only" : NULL, NULL, NULL };

		if (db)
			strbuf_addf(&only, "db:%s", db);
		args[7] = only.buf;
		deploy_env_backup_argv(r->env, args, &argv);
	}
	t = drun_step_begin("snapshot", "pre-deploy backup on the target");
	rc = drun_target_run(r->env, &argv, NULL, NULL, &out, 0, e);
	if (!rc) {
		res = deploy_result_line(out.buf);
		if (!json_is_string(json_object_get(res, "backup_id")))
			rc = errbuf_set(e, BL_EFAIL,
					"%s run: no backup_id in its --json result: the snapshot cannot be trusted",
					argv.v[0]);
		else
			r->backup_id = xstrdup(json_string_value(json_object_get(res, "backup_id")));
	}
	if (!rc)
		log_info("snapshot: backup %s", r->backup_id);
	drun_step_end(r, "snapshot", t, rc, e);
	json_decref(res);
	strvec_clear(&argv);
	strbuf_release(&out);
	strbuf_release(&label);
	strbuf_release(&only);
	return rc;
}

/* ---- the application around a restore ---- */

static void repo_of(const char *ref, struct strbuf *out);

void drun_set_running(struct run *r, const char *release, json_t *images, int bundled)
{
	struct errbuf be = ERRBUF_INIT;

	r->running_images = images;
	r->running_bundle = NULL;
	/* nothing to stop without a restore: no bundle to prove either */
	if (!bundled || !release || r->have_bundle || (!r->backup_id && !r->restore_point) ||
	    r->env->data_restore == DEPLOY_RESTORE_NEVER)
		return;
	deploy_bundle_init(&r->bundle, r->env, release);
	if (deploy_bundle_load(r->env, &r->bundle, &be)) {
		log_warn("%s; a data restore would stop %s's services through %s's current compose and env files",
			 be.msg, release, r->env->app_dir);
		deploy_bundle_release(&r->bundle);
		return;
	}
	r->have_bundle = 1;
	r->running_bundle = &r->bundle;
}

/* "repo" of an image reference: "repo:tag" and "repo@sha256:..." both
 * name repo. */
static void image_repo(const char *ref, struct strbuf *out)
{
	struct strbuf name = STRBUF_INIT;
	const char *at = strchr(ref, '@');

	strbuf_add(&name, ref, at ? (size_t)(at - ref) : strlen(ref));
	repo_of(name.buf, out);
	strbuf_release(&name);
}

/* The services a restore stops: restore_stop_services as configured, else
 * every service of the running release whose image is one of the
 * environment's images: ballast deploys those, and they are what writes.
 * The rest (the database itself, a proxy, a cache) keeps running. */
static int app_services(struct run *r, struct strvec *out, struct errbuf *e)
{
	struct strbuf have = STRBUF_INIT, want = STRBUF_INIT;
	json_t *services = NULL, *found = NULL, *svc, *v;
	const char *name, *k;
	size_t i;
	int rc = 0;

	if (r->env->restore_stop_services) {
		json_array_foreach(r->env->restore_stop_services, i, v)
			strvec_push(out, json_string_value(v));
		return 0;
	}
	if (r->running_bundle && r->running_bundle->index)
		services = json_object_get(r->running_bundle->index, "services");
	if (!services) {
		/* a release without a bundle: compose's own resolution, as pin
		 * does it (the output may hold the env file's values: parsed
		 * and dropped, never logged) */
		const char *args[] = { "config", NULL };
		struct strbuf cfg = STRBUF_INIT;

		rc = drun_compose(r, args, r->running_images, &cfg, e);
		if (!rc)
			rc = compose_service_images(cfg.buf, cfg.len, "compose config", &found, e);
		if (cfg.alloc)
			memset(cfg.buf, 0, cfg.alloc);
		strbuf_release(&cfg);
		if (rc)
			goto out;
		services = found;
	}
	json_object_foreach(services, name, svc) {
		const char *img = json_string_value(json_object_get(svc, "image"));

		if (!img)
			continue;
		image_repo(img, &have);
		json_object_foreach(r->env->images, k, v) {
			if (!json_is_string(v))
				continue;
			image_repo(json_string_value(v), &want);
			if (!strcmp(have.buf, want.buf)) {
				strvec_push(out, name);
				break;
			}
		}
	}
out:
	json_decref(found);
	strbuf_release(&have);
	strbuf_release(&want);
	return rc;
}

/* compose stop|start SERVICES, through the running release's files. */
int drun_app_compose(struct run *r, const char *cmd, struct strvec *svcs, struct errbuf *e)
{
	const struct deploy_bundle *saved = r->compose_bundle;
	struct strvec args = STRVEC_INIT;
	struct up_args ua;
	int rc;

	strvec_push(&args, cmd);
	if (!strcmp(cmd, "stop") && r->env->stop_grace_ms >= 0) {
		/* the grace up gives a replaced container */
		drun_up_args(r->env, &ua);
		strvec_push(&args, "--timeout");
		strvec_push(&args, ua.grace);
	}
	for (size_t i = 0; i < svcs->n; i++)
		strvec_push(&args, svcs->v[i]);
	r->compose_bundle = r->running_bundle;
	rc = drun_compose(r, strvec_argv(&args), r->running_images, NULL, e);
	r->compose_bundle = saved;
	strvec_clear(&args);
	return rc;
}

void drun_app_start(struct run *r, struct strvec *svcs)
{
	struct errbuf se = ERRBUF_INIT;
	long long t = drun_step_begin("start-app", "the services stopped for the restore, again");
	int rc = drun_app_compose(r, "start", svcs, &se);

	/* best effort: the restore's failure is the run's error */
	drun_step_end(r, "start-app", t, rc, &se);
}

/* The restore builds the database beside the live one and swaps the names
 * at the end: whatever the running release wrote meanwhile would be only
 * in the replaced database, and its sessions would hold up the swap. */
int drun_app_stop(struct run *r, struct strvec *svcs, struct errbuf *e)
{
	struct strbuf what = STRBUF_INIT;
	long long t;
	int rc;

	rc = app_services(r, svcs, e);
	if (!rc && !svcs->n) {
		log_info("stop-app: nothing to stop for the restore (%s)",
			 r->env->restore_stop_services ? "restore_stop_services is empty" :
			 "no service runs one of the environment's images");
		return 0;
	}
	for (size_t i = 0; i < svcs->n; i++)
		strbuf_addf(&what, "%s%s", i ? ", " : "", svcs->v[i]);
	strbuf_addstr(&what, what.len ? " (while the database is restored)" :
		      "the application's services");
	t = drun_step_begin("stop-app", what.buf);
	if (!rc)
		rc = drun_app_compose(r, "stop", svcs, e);
	drun_step_end(r, "stop-app", t, rc, e);
	if (rc) {
		/* some may have stopped before the failure */
		if (svcs->n)
			drun_app_start(r, svcs);
		errbuf_prefix(e, "the restore did not run: cannot stop the application first: ");
	}
	strbuf_release(&what);
	return rc;
}

int drun_restore_step(struct run *r, const char *const *args, const char *what, struct errbuf *e)
{
	struct strvec argv = STRVEC_INIT;
	long long t;
	int rc;

	deploy_env_backup_argv(r->env, args, &argv);
	t = drun_step_begin("restore", what);
	rc = drun_target_run(r->env, &argv, NULL, NULL, NULL, 0, e);
	drun_step_end(r, "restore", t, rc, e);
	if (!rc)
		r->restored = 1;
	strvec_clear(&argv);
	return rc;
}

int drun_restore(struct run *r, const char *backup_id, struct errbuf *e)
{
	struct strvec svcs = STRVEC_INIT;
	const char *db = drun_restore_db_name(r->env);
	const char *args[] = { "restore", backup_id, "--clean", "--json",
			       db ? "--db" : NULL, db, NULL };
	int rc;

	if ((rc = drun_app_stop(r, &svcs, e)))
		goto out;
	rc = drun_restore_step(r, args, backup_id, e);
	/* after a restore the rollback's up starts them with the previous
	 * release; after a failed one nothing that ran may stay stopped */
	if (rc && svcs.n)
		drun_app_start(r, &svcs);
out:
	strvec_clear(&svcs);
	return rc;
}

/* The release's directory is replaced as a whole: a tag deployed again
 * with other migrations (a moving "dev" tag) must not see stale files. */
int drun_upload_migrations(struct run *r, struct errbuf *e)
{
	struct strbuf tmp = STRBUF_INIT;
	struct strvec rm = STRVEC_INIT;
	int rc;

	strbuf_addf(&tmp, "%s.tmp-%ld", r->remote_dir.buf, (long)getpid());
	strvec_push(&rm, "rm");
	strvec_push(&rm, "-rf");
	strvec_push(&rm, "--");
	strvec_push(&rm, tmp.buf);
	if ((rc = drun_target_run(r->env, &rm, NULL, NULL, NULL, 60000, e)))
		goto out;
	if ((rc = transport_put_tree(r->env->t, r->local_migrations, tmp.buf, e)))
		goto out;
	free(rm.v[3]);
	rm.v[3] = xstrdup(r->remote_dir.buf);
	if ((rc = drun_target_run(r->env, &rm, NULL, NULL, NULL, 60000, e)))
		goto out;
	rc = transport_rename(r->env->t, tmp.buf, r->remote_dir.buf, e);
out:
	strvec_clear(&rm);
	strbuf_release(&tmp);
	return rc;
}

/* ---- bundles ---- */

void drun_load_state_bundle(struct run *r, json_t *state, const char *release,
			    struct deploy_bundle *b, int *have)
{
	struct errbuf be = ERRBUF_INIT;

	*have = 0;
	if (!release || !json_object_get(state, "bundle"))
		return;
	deploy_bundle_init(b, r->env, release);
	if (deploy_bundle_load(r->env, b, &be)) {
		log_warn("%s; a rollback to %s would use its image tags with %s's current compose and env files",
			 be.msg, release, r->env->app_dir);
		deploy_bundle_release(b);
		return;
	}
	*have = 1;
}

/* "repo" of "repo:tag" (a ':' after the last '/'), as docker spells it in
 * RepoDigests: without "docker.io/" and "library/". */
static void repo_of(const char *ref, struct strbuf *out)
{
	const char *slash = strrchr(ref, '/'), *colon = strrchr(ref, ':');
	size_t n = colon && (!slash || colon > slash) ? (size_t)(colon - ref) : strlen(ref);

	strbuf_reset(out);
	if (n > 10 && !strncmp(ref, "docker.io/", 10)) {
		ref += 10;
		n -= 10;
	}
	if (n > 8 && !strncmp(ref, "library/", 8)) {
		ref += 8;
		n -= 8;
	}
	strbuf_add(out, ref, n);
}

/* One `image inspect --format INSPECT_FORMAT` answer for image (text, len:
 * "RepoDigests Id") into svc: "id", and "digest", the engine's RepoDigests
 * entry of the same repository ("repo@sha256:..."), or "unpinned" and why
 * when there is none (an image built on the target, never pushed). */
#define INSPECT_FORMAT "{{json .RepoDigests}} {{json .Id}}"

static int inspect_parse(struct run *r, const char *image, const char *text, size_t len,
			 json_t *svc, struct errbuf *e)
{
	struct strbuf want = STRBUF_INIT, have = STRBUF_INIT, rest = STRBUF_INIT;
	json_error_t jerr;
	json_t *digests = NULL, *id = NULL, *v;
	size_t i;
	int rc = 0;

	digests = json_loadb(text, len, JSON_DISABLE_EOF_CHECK, &jerr);
	if (json_is_array(digests) && (size_t)jerr.position < len) {
		strbuf_add(&rest, text + jerr.position, len - (size_t)jerr.position);
		id = json_loads(rest.buf, JSON_DECODE_ANY, NULL);
	}
	if (!json_is_array(digests) || !json_is_string(id)) {
		rc = errbuf_set(e, BL_EFAIL, "%s image inspect %s: expected RepoDigests and Id",
				json_string_value(json_array_get(r->env->docker_command, 0)), image);
		goto out;
	}
	json_object_set(svc, "id", id);
	repo_of(image, &want);
	json_array_foreach(digests, i, v) {
		const char *d = json_string_value(v), *at = d ? strchr(d, '@') : NULL;

		if (!at)
			continue;
		{
			struct strbuf repo = STRBUF_INIT;

			strbuf_add(&repo, d, (size_t)(at - d));
			repo_of(repo.buf, &have);
			strbuf_release(&repo);
		}
		if (!strcmp(have.buf, want.buf)) {
			struct strbuf ref = STRBUF_INIT;
			const char *slash = strrchr(image, '/'), *colon = strrchr(image, ':');
			size_t n = colon && (!slash || colon > slash) ? (size_t)(colon - image) : strlen(image);

			/* the image's own spelling of the repository, the
			 * engine's digest */
			strbuf_add(&ref, image, n);
			strbuf_addstr(&ref, at);
			json_object_set_new(svc, "digest", json_string(ref.buf));
			strbuf_release(&ref);
			goto out;
		}
	}
	json_object_set_new(svc, "unpinned", json_string(json_array_size(digests) ?
				"no digest for this repository: runs by tag" :
				"no registry digest (built on the target, never pulled): runs by tag"));
out:
	json_decref(digests);
	json_decref(id);
	strbuf_release(&want);
	strbuf_release(&have);
	strbuf_release(&rest);
	return rc;
}

static int inspect_image(struct run *r, const char *image, json_t *svc, struct errbuf *e)
{
	struct strvec argv = STRVEC_INIT;
	struct strbuf out = STRBUF_INIT;
	int rc;

	drun_docker_argv(r, (const char *const[]){ "image", "inspect", "--format", INSPECT_FORMAT,
						   image, NULL }, &argv);
	rc = drun_target_run(r->env, &argv, NULL, r->env->app_dir, &out,
			     (long)r->env->compose_timeout_ms, e);
	if (!rc)
		rc = inspect_parse(r, image, out.buf, out.len, svc, e);
	strvec_clear(&argv);
	strbuf_release(&out);
	return rc;
}

/* inspect_image for every tag that is a key of tags (an object: each tag
 * once, in insertion order) with one `image inspect`, one remote command
 * instead of one each: docker prints a line per image it has, in argument
 * order, and an error on stderr per missing one. Each key's value becomes
 * its result: its fields, or {"error": msg}, the error
 * inspect_image would give. A failed batch whose output cannot be
 * attributed (some images missing, the found ones' lines unlabelled) asks
 * per image again; one that printed nothing (docker prints an empty line
 * then) and whose stderr names none of the images (an engine down) is
 * every image's error. */
static void inspect_images(struct run *r, json_t *tags)
{
	struct strvec argv = STRVEC_INIT, list = STRVEC_INIT, *imgs = &list;
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	const char *p, *tag;
	json_t *v;
	size_t i, lines = 0, filled = 0;
	int rc, status = 0, named = 0, blank = 0, batch = 1;

	json_object_foreach(tags, tag, v)
		strvec_push(&list, tag);
	if (!list.n)
		return;
	drun_docker_argv(r, (const char *const[]){ "image", "inspect", "--format", INSPECT_FORMAT,
						   NULL }, &argv);
	for (i = 0; i < imgs->n; i++)
		strvec_push(&argv, imgs->v[i]);
	rc = drun_target_exec(r->env, &argv, NULL, r->env->app_dir, &out, &err, &status,
			      (long)r->env->compose_timeout_ms, &e);
	for (p = out.buf; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		lines++;
		if (len)
			filled++;
		else
			blank = 1;
		p += len + (nl != NULL);
	}
	for (i = 0; i < imgs->n; i++)
		named |= strstr(err.buf, imgs->v[i]) != NULL;
	if (!rc && status != 0) {
		if (imgs->n == 1 || (!filled && !named))
			rc = drun_status_error(&argv, status, &err, &e);
		else
			batch = 0;
	} else if (!rc && imgs->n > 1 && (lines != imgs->n || blank)) {
		batch = 0;
	}
	for (i = 0, p = out.buf; i < imgs->n; i++) {
		json_t *o = json_object();
		const char *nl = strchr(p, '\n');
		size_t len = imgs->n == 1 ? out.len : nl ? (size_t)(nl - p) : strlen(p);
		struct errbuf ie = ERRBUF_INIT;

		if (!batch) {
			if (inspect_image(r, imgs->v[i], o, &ie))
				json_object_set_new(o, "error", json_string(ie.msg));
		} else if (rc) {
			json_object_set_new(o, "error", json_string(e.msg));
		} else if (inspect_parse(r, imgs->v[i], p, len, o, &ie)) {
			json_object_set_new(o, "error", json_string(ie.msg));
		}
		json_object_set_new(tags, imgs->v[i], o);
		p += len + (p[len] == '\n');
	}
	strvec_clear(&argv);
	strvec_clear(&list);
	strbuf_release(&out);
	strbuf_release(&err);
}

int drun_pin(struct run *r, struct deploy_bundle *b, json_t *images, struct errbuf *e)
{
	const char *args[] = { "config", NULL };
	struct strbuf out = STRBUF_INIT;
	struct errbuf pe = ERRBUF_INIT;
	json_t *found = NULL, *services = json_object(), *tags = json_object(), *v;
	const char *name;
	int rc;

	/* compose's own resolution (interpolation, profiles, overrides) says
	 * which image each service runs; its output may hold the env file's
	 * values, so it is parsed and dropped, never logged */
	if (drun_compose(r, args, images, &out, &pe) ||
	    compose_service_images(out.buf, out.len, "compose config", &found, &pe)) {
		log_warn("pin: cannot list the services' images (%s): the bundle keeps tags, not digests",
			 pe.msg);
		json_decref(found);
		found = json_object();
	}
	if (out.alloc)
		memset(out.buf, 0, out.alloc);
	/* every tag once, in one inspect */
	json_object_foreach(found, name, v) {
		const char *img = json_string_value(json_object_get(v, "image"));

		if (img && !strstr(img, "@sha256:"))
			json_object_set_new(tags, img, json_null());
	}
	inspect_images(r, tags);
	json_object_foreach(found, name, v) {
		const char *img = json_string_value(json_object_get(v, "image"));
		json_t *svc = json_object();

		if (!img) {
			json_object_set_new(svc, "unpinned", json_string("no image: built from source"));
		} else {
			json_object_set_new(svc, "image", json_string(img));
			if (strstr(img, "@sha256:")) {
				json_object_set_new(svc, "digest", json_string(img));
			} else {
				json_t *got = json_object_get(tags, img);

				if (json_object_get(got, "error"))
					json_object_set(svc, "unpinned", json_object_get(got, "error"));
				else
					json_object_update(svc, got);
			}
		}
		if (json_is_string(json_object_get(svc, "unpinned")) && img &&
		    !json_object_get(svc, "digest"))
			log_warn("pin: service %s (%s): %s", name, img,
				 json_string_value(json_object_get(svc, "unpinned")));
		else if (json_object_get(svc, "digest"))
			log_info("pin: %s -> %s", name, json_string_value(json_object_get(svc, "digest")));
		json_object_set_new(services, name, svc);
	}
	rc = deploy_bundle_commit(r->env, b, images, services, e);
	json_decref(found);
	json_decref(services);
	json_decref(tags);
	strbuf_release(&out);
	return rc;
}

/* The first of the services (names, with the bundle's svcs) whose tag
 * no longer resolves to its kept digest, after one inspect of their tags;
 * an inspect's error is the first failing service's, as one inspect each
 * in turn would have reported it. */
static int immutable_compare(struct run *r, json_t *svcs, struct strvec *names, struct errbuf *e)
{
	json_t *tags = json_object();
	size_t i;
	int rc = 0;

	for (i = 0; i < names->n; i++)
		json_object_set_new(tags, json_string_value(json_object_get(
					  json_object_get(svcs, names->v[i]), "image")), json_null());
	inspect_images(r, tags);
	for (i = 0; i < names->n && !rc; i++) {
		json_t *svc = json_object_get(svcs, names->v[i]), *got;
		const char *img = json_string_value(json_object_get(svc, "image"));
		const char *was = json_string_value(json_object_get(svc, "digest"));
		const char *is;

		got = json_object_get(tags, img);
		is = json_string_value(json_object_get(got, "digest"));
		if (json_object_get(got, "error"))
			rc = errbuf_set(e, BL_EFAIL, "%s", json_string_value(json_object_get(got, "error")));
		else if (!is || strcmp(is, was))
			rc = errbuf_set(e, BL_EVERIFY,
					"environment %s is immutable: release %s ran service %s as %s, but %s now resolves to %s; deploy it under a new release name, or give --allow-mutable",
					r->env->name, r->release, names->v[i], was, img, is ? is : "an image without a digest");
	}
	json_decref(tags);
	return rc;
}

int drun_check_immutable(struct run *r, struct errbuf *e)
{
	struct deploy_bundle old;
	struct strvec names = STRVEC_INIT;
	json_t *idx = NULL, *svcs, *svc;
	const char *name;
	int rc;

	deploy_bundle_init(&old, r->env, r->release);
	if ((rc = deploy_bundle_read_index(r->env, &old, &idx, e)) || !idx)
		goto out;
	svcs = json_object_get(idx, "services");
	json_object_foreach(svcs, name, svc) {
		const char *img = json_string_value(json_object_get(svc, "image"));
		const char *was = json_string_value(json_object_get(svc, "digest"));
		struct strvec argv = STRVEC_INIT;

		if (!img || !was || strstr(img, "@sha256:"))
			continue;
		/* what the tag names in the registry today: pulling it moves
		 * only the engine's tag, nothing that runs */
		drun_docker_argv(r, (const char *const[]){ "pull", "-q", img, NULL }, &argv);
		rc = drun_target_run(r->env, &argv, NULL, NULL, NULL, (long)r->env->compose_timeout_ms, e);
		strvec_clear(&argv);
		if (rc) {
			/* a service before this one that moved is the error, as
			 * when each was inspected right after its pull */
			struct errbuf ce = ERRBUF_INIT;

			if (immutable_compare(r, svcs, &names, &ce))
				rc = errbuf_set(e, ce.code, "%s", ce.msg);
			goto out;
		}
		strvec_push(&names, name);
	}
	rc = immutable_compare(r, svcs, &names, e);
out:
	strvec_clear(&names);
	json_decref(idx);
	deploy_bundle_release(&old);
	return rc;
}
