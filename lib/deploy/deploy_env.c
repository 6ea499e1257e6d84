#include "deploy_env.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "envfile.h"
#include "hooks.h"
#include "log.h"
#include "xalloc.h"

void strvec_push_json(struct strvec *sv, json_t *arr)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (json_is_string(v))
			strvec_push(sv, json_string_value(v));
}

int deploy_tag_valid(const char *tag)
{
	size_t n = tag ? strlen(tag) : 0;

	if (n == 0 || n > 128)
		return 0;
	if (!(isalnum((unsigned char)tag[0]) || tag[0] == '_'))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)tag[i]) || strchr("_.-", tag[i])))
			return 0;
	return 1;
}

static int secret_var(const char *name)
{
	return strcasestr(name, "PASSWORD") || strcasestr(name, "SECRET") ||
	       strcasestr(name, "TOKEN") || strcasestr(name, "PASSPHRASE") ||
	       strcasestr(name, "KEY");
}

/* Expand one string of the raw (unexpanded) environment with the process
 * environment only. */
static int pre_expand(struct config *cfg, const char *env, const char *key, json_t *raw,
		      char **out, struct errbuf *e)
{
	struct strbuf sb = STRBUF_INIT, where = STRBUF_INIT;
	int rc;

	*out = NULL;
	if (!json_is_string(raw))
		return 0;
	strbuf_addf(&where, "environments.%s.%s", env, key);
	rc = config_interpolate(json_string_value(raw), NULL, &sb, cfg->path, where.buf, e);
	if (!rc)
		*out = strbuf_detach(&sb, NULL);
	strbuf_release(&sb);
	strbuf_release(&where);
	return rc;
}

static int pre_expand_tree(struct config *cfg, const char *env, json_t *obj, struct errbuf *e)
{
	const char *key;
	json_t *v;
	int rc;

	json_object_foreach(obj, key, v) {
		char *s = NULL;
		struct strbuf k = STRBUF_INIT;

		if (!json_is_string(v))
			continue;
		strbuf_addf(&k, "transport.%s", key);
		rc = pre_expand(cfg, env, k.buf, v, &s, e);
		strbuf_release(&k);
		if (rc)
			return rc;
		json_string_set(v, s);
		free(s);
	}
	return 0;
}

static int env_dur(struct deploy_env *env, const char *key, long long def, long long *out,
		   struct errbuf *e)
{
	struct strbuf where = STRBUF_INIT;
	int rc;

	strbuf_addf(&where, "%s: environments.%s", env->cfg->path, env->name);
	rc = config_duration_opt(env->node, key, def, 0, where.buf, out, e);
	strbuf_release(&where);
	return rc;
}

/* compose_command unset: `docker compose` when the docker CLI has the
 * plugin, else `docker-compose` (compose v1, or v2's standalone binary) when
 * that answers. When neither does, `docker compose` stays, so the preflight
 * names the missing command. */
static json_t *detect_compose(struct transport *t)
{
	const char *v2[] = { "docker", "compose", "version", NULL };
	const char *v1[] = { "docker-compose", "version", NULL };
	struct errbuf ignore = ERRBUF_INIT;
	int st = 1;

	if (t && !transport_run(t, v2, NULL, NULL, NULL, NULL, &st, 30000, &ignore) && st != 0) {
		st = 1;
		if (!transport_run(t, v1, NULL, NULL, NULL, NULL, &st, 30000, &ignore) && st == 0)
			return json_pack("[s]", "docker-compose");
	}
	return json_pack("[ss]", "docker", "compose");
}

static char *node_str(json_t *node, const char *key, const char *def)
{
	const char *s = json_string_value(json_object_get(node, key));

	return xstrdup_or_null(s ? s : def);
}

/* "snapshot": false, true (a backup) or "restore-point", which needs
 * "pitr" to say where the server's data lives and how it stops and
 * starts: a rollback must stop the server to restore it. */
static int env_snapshot(struct deploy_env *env, struct errbuf *e)
{
	json_t *v = json_object_get(env->node, "snapshot"), *p = json_object_get(env->node, "pitr");
	const char *path = env->cfg->path, *name = env->name;
	long long ms;
	int rc;

	env->snapshot = json_is_true(v) ? DEPLOY_SNAPSHOT_BACKUP :
			json_is_string(v) ? DEPLOY_SNAPSHOT_POINT : DEPLOY_SNAPSHOT_NONE;
	if (env->snapshot != DEPLOY_SNAPSHOT_POINT) {
		if (p)
			return errbuf_set(e, BL_EUSAGE, "%s: environments.%s.pitr: used only with "
					  "\"snapshot\": \"restore-point\"", path, name);
		return 0;
	}
	if (!json_is_string(json_object_get(p, "data_dir")) ==
	    !json_is_string(json_object_get(p, "volume")))
		return errbuf_set(e, BL_EUSAGE, "%s: environments.%s.pitr.data_dir: required with "
				  "\"snapshot\": \"restore-point\" (the server's data directory on the "
				  "target, which a rollback restores), or instead pitr.volume (the Docker "
				  "named volume holding it); not both", path, name);
	env->pitr_stop = json_incref(json_object_get(p, "stop_command"));
	env->pitr_start = json_incref(json_object_get(p, "start_command"));
	env->pitr_service = node_str(p, "service", NULL);
	if (!env->pitr_service == !(env->pitr_stop || env->pitr_start) ||
	    (!env->pitr_service && !(json_array_size(env->pitr_stop) && json_array_size(env->pitr_start))))
		return errbuf_set(e, BL_EUSAGE, "%s: environments.%s.pitr: expected either \"service\" "
				  "(the compose service running the server) or both \"stop_command\" "
				  "and \"start_command\"", path, name);
	env->pitr_db = node_str(p, "database", NULL);
	env->pitr_into = node_str(p, "data_dir", NULL);
	env->pitr_into_opt = "--data-dir";
	if (!env->pitr_into) {
		env->pitr_into = node_str(p, "volume", NULL);
		env->pitr_into_opt = "--docker-volume";
	}
	{
		struct strbuf where = STRBUF_INIT;

		strbuf_addf(&where, "%s: environments.%s.pitr", path, name);
		rc = config_duration_opt(p, "archive_wait", 60 * 1000LL, 0, where.buf, &ms, e);
		strbuf_release(&where);
	}
	env->pitr_archive_wait_ms = ms;
	if (!rc && ms <= 0)
		rc = errbuf_set(e, BL_EUSAGE, "%s: environments.%s.pitr.archive_wait: expected a "
				"duration over 0", path, name);
	return rc;
}

int deploy_env_open(struct config *cfg, const char *name, int connect,
		    struct deploy_env **out, struct errbuf *e)
{
	struct deploy_env *env = NULL;
	json_t *envs = json_object_get(cfg->root, "environments");
	json_t *raw = json_object_get(envs, name), *transport = NULL, *v;
	struct strbuf sb = STRBUF_INIT;
	char *env_file_raw = NULL;
	int rc = 0;

	*out = NULL;
	if (!json_is_object(raw)) {
		struct strbuf names = STRBUF_INIT;
		const char *k;

		json_object_foreach(envs, k, v)
			strbuf_addf(&names, "%s%s", names.len ? ", " : "", k);
		rc = errbuf_set(e, BL_EUSAGE, "%s: environments.%s: no such environment (have: %s)",
				cfg->path, name, names.len ? names.buf : "none");
		strbuf_release(&names);
		return rc;
	}
	env = xcalloc(1, sizeof(*env));
	env->name = xstrdup(name);
	env->cfg = cfg;
	env->raw_node = json_deep_copy(raw);
	env->envvars = json_object();

	/* Stage 1: what is needed to reach the target, from the process env. */
	if ((rc = pre_expand(cfg, name, "app_dir", json_object_get(raw, "app_dir"), &env->app_dir, e)))
		goto out;
	if (!env->app_dir || env->app_dir[0] != '/') {
		rc = errbuf_set(e, BL_EUSAGE, "%s: environments.%s.app_dir: expected an absolute path",
				cfg->path, name);
		goto out;
	}
	if ((rc = pre_expand(cfg, name, "env_file", json_object_get(raw, "env_file"),
			     &env_file_raw, e)))
		goto out;
	transport = json_deep_copy(json_object_get(raw, "transport"));
	if (transport && (rc = pre_expand_tree(cfg, name, transport, e)))
		goto out;
	if (connect) {
		rc = transport_open(transport, cfg, &env->t, e);
		if (rc) {
			errbuf_prefix(e, "environment %s: ", name);
			goto out;
		}
	}
	/* Stage 2: the env file on the target, then everything else. */
	if (connect && env_file_raw) {
		int exists = 0;
		json_t *vars = NULL;
		const char *k;

		if (env_file_raw[0] == '/')
			strbuf_addstr(&sb, env_file_raw);
		else
			strbuf_addf(&sb, "%s/%s", env->app_dir, env_file_raw);
		{
			struct strbuf text = STRBUF_INIT;

			rc = transport_read_file(env->t, sb.buf, &text, 1024 * 1024, &exists, e);
			if (!rc && exists)
				rc = envfile_parse(text.buf, text.len, sb.buf, &vars, e);
			strbuf_release(&text);
		}
		if (rc)
			goto out;
		env->env_file_exists = exists;
		if (vars) {
			json_decref(env->envvars);
			env->envvars = vars;
			json_object_foreach(vars, k, v)
				if (secret_var(k))
					log_add_secret(json_string_value(v));
		}
	}
	if ((rc = config_expand_env(cfg, name, env->envvars, e))) {
		if (connect && env_file_raw && !env->env_file_exists)
			rc = errbuf_set(e, BL_EFAIL, "environment %s: env file %s is missing on %s (%s)",
					name, sb.buf, transport_describe(env->t), e->msg);
		goto out;
	}
	env->node = json_object_get(envs, name);
	env->compose_file = node_str(env->node, "compose_file", "docker-compose.yml");
	env->env_file = node_str(env->node, "env_file", NULL);
	env->project_name = node_str(env->node, "project_name", NULL);
	env->compose_command = json_object_get(env->node, "compose_command");
	if (!env->compose_command)
		env->compose_command = detect_compose(env->t);
	else
		json_incref(env->compose_command);
	env->docker_command = json_object_get(env->node, "docker_command");
	if (json_array_size(env->docker_command))
		json_incref(env->docker_command);
	else
		env->docker_command = json_pack("[s]", "docker");
	env->backup_command = json_object_get(env->node, "backup_command");
	if (!env->backup_command)
		env->backup_command = json_pack("[s]", "ballast-backup");
	else
		json_incref(env->backup_command);
	env->migrate_command = json_object_get(env->node, "migrate_command");
	if (!env->migrate_command)
		env->migrate_command = json_pack("[s]", "ballast-migrate");
	else
		json_incref(env->migrate_command);
	if (json_array_size(env->compose_command) == 0 || json_array_size(env->backup_command) == 0 ||
	    json_array_size(env->migrate_command) == 0) {
		rc = errbuf_set(e, BL_EUSAGE,
				"%s: environments.%s: compose_command, backup_command and migrate_command must not be empty",
				cfg->path, name);
		goto out;
	}
	env->images = json_object_get(env->node, "images");
	if (!env->images)
		env->images = json_object_get(cfg->root, "images");
	if (env->images)
		json_incref(env->images);
	else
		env->images = json_object();
	strbuf_reset(&sb);
	strbuf_addf(&sb, "%s/ballast.json", env->app_dir);
	env->target_config = node_str(env->node, "config", sb.buf);
	if ((rc = env_snapshot(env, e)))
		goto out;
	env->immutable = json_is_true(json_object_get(env->node, "immutable"));
	env->releases_keep = DEPLOY_RELEASES_KEEP_DEFAULT;
	v = json_object_get(env->node, "releases_keep");
	if (v && (config_json_int(v, &env->releases_keep) || env->releases_keep < 2)) {
		rc = errbuf_set(e, BL_EUSAGE,
				"%s: environments.%s.releases_keep: expected an integer of at least 2",
				cfg->path, name);
		goto out;
	}
	v = json_object_get(env->node, "on_failure");
	env->rollback_on_failure = !json_is_string(v) || strcmp(json_string_value(v), "none");
	v = json_object_get(env->node, "data_restore");
	env->data_restore = DEPLOY_RESTORE_IF_IRREVERSIBLE;
	if (json_is_string(v) && !strcmp(json_string_value(v), "never"))
		env->data_restore = DEPLOY_RESTORE_NEVER;
	else if (json_is_string(v) && !strcmp(json_string_value(v), "always"))
		env->data_restore = DEPLOY_RESTORE_ALWAYS;
	if ((rc = env_dur(env, "lock_ttl", 30 * 60 * 1000LL, &env->lock_ttl_ms, e)) ||
	    (rc = env_dur(env, "hook_timeout", HOOKS_DEFAULT_TIMEOUT_MS, &env->hook_timeout_ms, e)) ||
	    (rc = env_dur(env, "compose_timeout", 10 * 60 * 1000LL, &env->compose_timeout_ms, e)) ||
	    (rc = env_dur(env, "stop_grace", -1, &env->stop_grace_ms, e)))
		goto out;
	v = json_object_get(env->node, "min_free");
	env->min_free_bytes = 256LL * 1024 * 1024;
	if (v) {
		env->min_free_bytes = json_is_string(v) ? config_size_bytes(json_string_value(v)) : -1;
		if (env->min_free_bytes < 0) {
			rc = errbuf_set(e, BL_EUSAGE,
					"%s: environments.%s.min_free: expected a size like \"1G\" or \"512M\"",
					cfg->path, name);
			goto out;
		}
	}
	env->hooks = json_object_get(env->node, "hooks");
	if (env->hooks)
		json_incref(env->hooks);
	env->restore_stop_services = json_incref(json_object_get(env->node, "restore_stop_services"));
	v = json_object_get(env->node, "health");
	env->nhealth = json_array_size(v);
	if (env->nhealth) {
		env->health = xcalloc(env->nhealth, sizeof(*env->health));
		for (size_t i = 0; i < env->nhealth; i++) {
			struct strbuf where = STRBUF_INIT;

			strbuf_addf(&where, "%s: environments.%s.health[%zu]", cfg->path, name, i);
			rc = http_check_parse(json_array_get(v, i), where.buf, &env->health[i], e);
			strbuf_release(&where);
			if (rc)
				goto out;
		}
	}
out:
	free(env_file_raw);
	json_decref(transport);
	strbuf_release(&sb);
	if (rc) {
		deploy_env_close(env);
		return rc;
	}
	*out = env;
	return 0;
}

void deploy_env_close(struct deploy_env *env)
{
	if (!env)
		return;
	transport_close(env->t);
	for (size_t i = 0; i < env->nhealth; i++)
		http_check_release(&env->health[i]);
	free(env->health);
	json_decref(env->compose_command);
	json_decref(env->docker_command);
	json_decref(env->backup_command);
	json_decref(env->migrate_command);
	json_decref(env->images);
	json_decref(env->hooks);
	json_decref(env->restore_stop_services);
	json_decref(env->pitr_stop);
	json_decref(env->pitr_start);
	free(env->pitr_db);
	free(env->pitr_into);
	free(env->pitr_service);
	json_decref(env->envvars);
	json_decref(env->raw_node);
	free(env->name);
	free(env->app_dir);
	free(env->compose_file);
	free(env->env_file);
	free(env->project_name);
	free(env->target_config);
	free(env);
}

void deploy_env_path(const struct deploy_env *env, const char *rel, struct strbuf *out)
{
	strbuf_reset(out);
	if (rel[0] == '/')
		strbuf_addstr(out, rel);
	else
		strbuf_addf(out, "%s/%s", env->app_dir, rel);
}

void deploy_env_state_path(const struct deploy_env *env, const char *rel, struct strbuf *out)
{
	strbuf_reset(out);
	strbuf_addf(out, "%s/.ballast%s%s", env->app_dir, rel && *rel ? "/" : "", rel ? rel : "");
}

json_t *deploy_env_images_for(const struct deploy_env *env, const char *tag)
{
	json_t *out = json_object(), *v;
	const char *k;

	json_object_foreach(env->images, k, v) {
		struct strbuf sb = STRBUF_INIT;

		if (!json_is_string(v))
			continue;
		strbuf_addf(&sb, "%s:%s", json_string_value(v), tag);
		json_object_set_new(out, k, json_string(sb.buf));
		strbuf_release(&sb);
	}
	return out;
}

void deploy_env_image_vars(json_t *images, struct strvec *out)
{
	const char *k;
	json_t *v;

	json_object_foreach(images, k, v)
		if (json_is_string(v))
			strvec_pushf(out, "%s=%s", k, json_string_value(v));
}

void deploy_env_compose_argv(const struct deploy_env *env, const char *const *args,
			     struct strvec *out)
{
	strvec_push_json(out, env->compose_command);
	strvec_push(out, "-f");
	strvec_push(out, env->compose_file);
	if (env->env_file) {
		strvec_push(out, "--env-file");
		strvec_push(out, env->env_file);
	}
	if (env->project_name) {
		strvec_push(out, "-p");
		strvec_push(out, env->project_name);
	}
	for (const char *const *a = args; a && *a; a++)
		strvec_push(out, *a);
}

static void tool_argv(json_t *prefix, const char *config, const char *const *args,
		      struct strvec *out)
{
	strvec_push_json(out, prefix);
	strvec_push(out, "--config");
	strvec_push(out, config);
	for (const char *const *a = args; a && *a; a++)
		strvec_push(out, *a);
}

void deploy_env_backup_argv(const struct deploy_env *env, const char *const *args,
			    struct strvec *out)
{
	tool_argv(env->backup_command, env->target_config, args, out);
}

void deploy_env_migrate_argv(const struct deploy_env *env, const char *const *args,
			     struct strvec *out)
{
	tool_argv(env->migrate_command, env->target_config, args, out);
}
