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

/* ---- preflight ---- */

static void check_add(json_t *checks, const char *name, int ok, const char *detail)
{
	json_t *o = json_pack("{s:s, s:b, s:s}", "check", name, "ok", ok, "detail", detail);

	/* a failure is said once, in the preflight's error (below) */
	if (ok)
		log_info("check %s: %s", name, detail);
	json_array_append_new(checks, o);
}

static int check_file(struct run *r, json_t *checks, const char *name, const char *rel, int dir)
{
	struct strbuf path = STRBUF_INIT, d = STRBUF_INIT;
	struct transport_stat st;
	struct errbuf e = ERRBUF_INIT;
	int ok;

	deploy_env_path(r->env, rel, &path);
	if (transport_stat(r->env->t, path.buf, &st, &e)) {
		strbuf_addstr(&d, e.msg);
		ok = 0;
	} else if (!st.exists) {
		strbuf_addf(&d, "%s: missing", path.buf);
		ok = 0;
	} else if (dir && !st.is_dir) {
		strbuf_addf(&d, "%s: not a directory", path.buf);
		ok = 0;
	} else if (!dir && st.is_dir) {
		strbuf_addf(&d, "%s: a directory, expected a file", path.buf);
		ok = 0;
	} else {
		strbuf_addf(&d, "%s", path.buf);
		ok = 1;
	}
	check_add(checks, name, ok, d.buf);
	strbuf_release(&path);
	strbuf_release(&d);
	return ok;
}

static int check_free(struct run *r, json_t *checks)
{
	struct strvec argv = STRVEC_INIT;
	struct strbuf out = STRBUF_INIT, d = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	long long avail_kb = -1;
	int ok = 0;

	strvec_push(&argv, "df");
	strvec_push(&argv, "-Pk");
	strvec_push(&argv, r->env->app_dir);
	if (drun_target_run(r->env, &argv, NULL, NULL, &out, 30000, &e)) {
		strbuf_addstr(&d, e.msg);
	} else {
		/* POSIX df -P: header, then "fs blocks used avail capacity mount". */
		const char *line = strchr(out.buf, '\n');
		char fs[512];
		long long blocks, used;

		if (line && sscanf(line + 1, "%511s %lld %lld %lld", fs, &blocks, &used, &avail_kb) == 4) {
			ok = avail_kb * 1024 >= r->env->min_free_bytes;
			strbuf_addf(&d, "%.1f MiB free in %s (need %.1f MiB)", avail_kb / 1024.0,
				    r->env->app_dir, r->env->min_free_bytes / 1048576.0);
		} else {
			strbuf_addf(&d, "cannot read the output of df -Pk %s", r->env->app_dir);
		}
	}
	check_add(checks, "disk-space", ok, d.buf);
	strvec_clear(&argv);
	strbuf_release(&out);
	strbuf_release(&d);
	return ok;
}

static int check_tool(struct run *r, json_t *checks, const char *name, json_t *prefix,
		      int compose_cmd)
{
	struct strvec argv = STRVEC_INIT;
	struct strbuf out = STRBUF_INIT, d = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	int ok;

	if (compose_cmd) {
		/* "compose version" rather than a flag: the one form docker
		 * compose, docker-compose and podman compose all take. */
		const char *args[] = { "version", NULL };

		deploy_env_compose_argv(r->env, args, &argv);
		if (r->compose_path) {
			/* --bundle: app_dir may have no compose file at all */
			size_t i = json_array_size(r->env->compose_command) + 1;

			free(argv.v[i]);
			argv.v[i] = xstrdup(r->compose_path);
		}
	} else {
		strvec_push_json(&argv, prefix);
		strvec_push(&argv, "--version");
	}
	ok = drun_target_run(r->env, &argv, NULL, compose_cmd ? r->env->app_dir : NULL, &out, 30000,
			&e) == 0;
	strbuf_rtrim(&out);
	if (ok)
		strbuf_addf(&d, "%s", out.len ? out.buf : argv.v[0]);
	else
		strbuf_addstr(&d, e.msg);
	check_add(checks, name, ok, d.buf);
	strvec_clear(&argv);
	strbuf_release(&out);
	strbuf_release(&d);
	return ok;
}

static int lint_read(void *ctx, const char *path, struct strbuf *out, size_t max, int *exists,
		     struct errbuf *e)
{
	return transport_read_file(ctx, path, out, max, exists, e);
}

/* "lint": true: the compose file on the target, and the files it
 * includes, must pass the lint rules (compose_lint), read through the
 * transport; moving image tags fail an immutable environment. */
static int check_lint(struct run *r, json_t *checks)
{
	struct strbuf path = STRBUF_INIT, text = STRBUF_INIT, d = STRBUF_INIT;
	struct compose_lint cl = COMPOSE_LINT_INIT;
	struct compose_lint_opts lo = { r->env->immutable, lint_read, r->env->t };
	struct errbuf e = ERRBUF_INIT;
	int exists = 0, ok = 0;

	deploy_env_path(r->env, r->compose_path ? r->compose_path : r->env->compose_file, &path);
	if (transport_read_file(r->env->t, path.buf, &text, COMPOSE_LINT_MAX_BYTES, &exists, &e)) {
		strbuf_addstr(&d, e.msg);
	} else if (!exists) {
		strbuf_addf(&d, "%s: missing", path.buf);
	} else if (compose_lint_string(text.buf, text.len, path.buf, &lo, &cl, &e)) {
		strbuf_addf(&d, "%s (see 'ballast-deploy lint %s')", e.msg, r->env->name);
	} else {
		strbuf_addf(&d, "%s: %zu services pass the lint rules", path.buf, cl.services);
		if (cl.warnings)
			strbuf_addf(&d, " (%zu warning%s: see 'ballast-deploy lint %s')",
				    cl.warnings, cl.warnings == 1 ? "" : "s", r->env->name);
		ok = 1;
	}
	check_add(checks, "lint", ok, d.buf);
	compose_lint_release(&cl);
	strbuf_release(&path);
	strbuf_release(&text);
	strbuf_release(&d);
	return ok;
}

/* Every preflight check; fills r->schema_before. Returns 0 when all pass;
 * current health only warns (deploying a fix to a broken release is what
 * deploys are for) and is reported as its own status. */
int drun_preflight(struct run *r, json_t *checks, int *health_ok, struct errbuf *e)
{
	struct strbuf d = STRBUF_INIT, dir = STRBUF_INIT;
	int ok = 1;
	const char *cur = json_string_value(json_object_get(r->state, "release"));

	*health_ok = 1;
	check_add(checks, "connect", 1, transport_describe(r->env->t));
	ok &= check_file(r, checks, "app-dir", r->env->app_dir, 1);
	if (ok) {
		ok &= check_file(r, checks, "compose-file",
				 r->compose_path ? r->compose_path : r->env->compose_file, 0);
		if (r->env->env_file)
			ok &= check_file(r, checks, "env-file", r->env->env_file, 0);
		if (json_is_true(json_object_get(r->env->node, "lint")))
			ok &= check_lint(r, checks);
		ok &= check_free(r, checks);
		ok &= check_tool(r, checks, "compose", r->env->compose_command, 1);
		if (r->env->snapshot || r->env->data_restore != DEPLOY_RESTORE_NEVER)
			ok &= check_tool(r, checks, "ballast-backup", r->env->backup_command, 0);
		if (r->use_migrate) {
			if (check_tool(r, checks, "ballast-migrate", r->env->migrate_command, 0)) {
				struct errbuf se = ERRBUF_INIT;

				if (drun_release_dir(r, cur, &dir, &se) == 0 &&
				    drun_schema_status(r, dir.len ? dir.buf : NULL, &r->schema_before, &se) == 0) {
					r->schema_known = 1;
					strbuf_reset(&d);
					strbuf_addf(&d, "version %lld", r->schema_before);
					check_add(checks, "schema", 1, d.buf);
				} else {
					check_add(checks, "schema", 0, se.msg);
					ok = 0;
				}
			} else {
				ok = 0;
			}
		}
	}
	if (ok && cur && r->env->nhealth) {
		for (size_t i = 0; i < r->env->nhealth; i++) {
			struct errbuf he = ERRBUF_INIT;
			long st;

			strbuf_reset(&d);
			if (http_probe(&r->env->health[i], &st, &he)) {
				strbuf_addf(&d, "%s is not healthy now: %s", cur, he.msg);
				*health_ok = 0;
				log_warn("check current-health: %s", d.buf);
				json_array_append_new(checks, json_pack("{s:s, s:b, s:s}", "check",
									"current-health", 0, "detail", d.buf));
			} else {
				strbuf_addf(&d, "%s answers %ld at %s", cur, st, r->env->health[i].url);
				check_add(checks, "current-health", 1, d.buf);
			}
		}
	}
	if (ok && !cur && r->env->nhealth)
		check_add(checks, "current-health", 1, "skipped: no release is deployed yet, "
			  "so there is nothing to check before the first deploy");
	if (!ok) {
		struct strbuf all = STRBUF_INIT;
		size_t i;
		json_t *c;
		int n = 0;

		json_array_foreach(checks, i, c)
			if (!json_is_true(json_object_get(c, "ok")) &&
			    strcmp(json_string_value(json_object_get(c, "check")), "current-health"))
				strbuf_addf(&all, "%s%s: %s", n++ ? "; " : "",
					    json_string_value(json_object_get(c, "check")),
					    json_string_value(json_object_get(c, "detail")));
		if (n == 1)
			errbuf_set(e, BL_EFAIL, "preflight %s", all.buf);
		else
			errbuf_set(e, BL_EFAIL, "preflight: %d checks failed: %s", n, all.buf);
		strbuf_release(&all);
	}
	strbuf_release(&d);
	strbuf_release(&dir);
	return ok ? 0 : BL_EFAIL;
}

int deploy_local_migrations(struct deploy_env *env, const char *explicit_dir, char **dir,
			    struct errbuf *e)
{
	struct strbuf sb = STRBUF_INIT;
	const char *conf = json_string_value(json_object_get(env->node, "migrations_dir"));
	struct stat st;

	*dir = NULL;
	if (explicit_dir) {
		if (stat(explicit_dir, &st) || !S_ISDIR(st.st_mode))
			return errbuf_set(e, BL_EUSAGE, "--migrations %s: not a directory", explicit_dir);
		*dir = xstrdup(explicit_dir);
		return 0;
	}
	if (!conf)
		conf = config_str(env->cfg, "migrations.dir", NULL);
	if (!conf)
		return 0;
	config_path(env->cfg, conf, &sb);
	if (stat(sb.buf, &st) || !S_ISDIR(st.st_mode)) {
		int rc = errbuf_set(e, BL_EUSAGE,
				    "%s: migrations directory %s (from the config) is missing; give --migrations DIR",
				    env->cfg->path, sb.buf);

		strbuf_release(&sb);
		return rc;
	}
	*dir = strbuf_detach(&sb, NULL);
	return 0;
}

/* Is a digest reference still somewhere a rollback can get it: the
 * target's engine, else its registry (`docker manifest inspect`)? */
static int image_available(struct run *r, const char *ref, struct strbuf *why)
{
	struct strvec argv = STRVEC_INIT;
	struct errbuf ie = ERRBUF_INIT, me = ERRBUF_INIT;
	int ok = 1;

	drun_docker_argv(r, (const char *const[]){ "image", "inspect", "--format", "{{.Id}}", ref, NULL },
			 &argv);
	if (drun_target_run(r->env, &argv, NULL, NULL, NULL, (long)r->env->compose_timeout_ms, &ie)) {
		strvec_clear(&argv);
		/* a registry without TLS (a private one on the target's network)
		 * must not read as "gone" */
		drun_docker_argv(r, (const char *const[]){ "manifest", "inspect", "--insecure", ref, NULL },
				 &argv);
		if (drun_target_run(r->env, &argv, NULL, NULL, NULL, (long)r->env->compose_timeout_ms,
				    &me)) {
			strbuf_addf(why, "%s is neither on the target's engine nor in its registry (%s)",
				    ref, me.msg);
			ok = 0;
		}
	}
	strvec_clear(&argv);
	return ok;
}

/* Kept bundles whose pinned images are gone: a rollback to them would fail,
 * so `check` says so before anyone needs it. */
static int check_bundles(struct run *r, json_t *checks)
{
	struct strbuf d = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	json_t *list = NULL, *it, *svc;
	const char *name;
	size_t i, n = 0, gone = 0;
	int ok;

	if (deploy_bundle_list(r->env, &list, &e)) {
		check_add(checks, "bundles", 0, e.msg);
		return 0;
	}
	json_array_foreach(list, i, it) {
		json_t *idx = json_object_get(it, "index");

		if (!idx)
			continue;
		n++;
		json_object_foreach(json_object_get(idx, "services"), name, svc) {
			const char *ref = json_string_value(json_object_get(svc, "digest"));
			struct strbuf why = STRBUF_INIT;

			if (ref && !image_available(r, ref, &why)) {
				strbuf_addf(&d, "%srelease %s, service %s: %s", gone++ ? "; " : "",
					    json_string_value(json_object_get(it, "release")), name, why.buf);
			}
			strbuf_release(&why);
		}
	}
	ok = gone == 0;
	if (ok) {
		strbuf_addf(&d, "%zu kept release bundle%s, every pinned image available", n,
			    n == 1 ? "" : "s");
	}
	check_add(checks, "bundles", ok, d.buf);
	json_decref(list);
	strbuf_release(&d);
	return ok;
}

int deploy_preflight_report(struct deploy_env *env, const char *release, json_t *checks,
			    struct errbuf *e)
{
	struct run r;
	int rc, health_ok = 1;

	drun_run_init(&r, env, "check");
	r.release = release;
	if ((rc = deploy_state_read(env, &r.state, e)))
		goto out;
	if ((rc = deploy_local_migrations(env, NULL, &r.local_migrations, e)))
		goto out;
	r.use_migrate = r.local_migrations != NULL;
	rc = drun_preflight(&r, checks, &health_ok, e);
	if (!rc && !check_bundles(&r, checks)) {
		json_t *last = json_array_get(checks, json_array_size(checks) - 1);

		rc = errbuf_set(e, BL_EFAIL, "preflight bundles: %s",
				json_string_value(json_object_get(last, "detail")));
	}
	if (!rc && !health_ok)
		rc = errbuf_set(e, BL_EVERIFY, "environment %s: the current release is not healthy",
				env->name);
out:
	drun_run_release(&r);
	return rc;
}
