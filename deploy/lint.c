/*
 * ballast-deploy lint ENV|--file COMPOSE: check a compose file (and what it
 * includes) against the lint rules (lib/compose_lint.h). Exit 0 clean
 * (warnings allowed), 4 when a service breaks a rule, 2 when the file
 * cannot be linted.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "compose_lint.h"
#include "log.h"

/* The local copy of ENV's compose file: relative names resolve from the
 * configuration's directory, the checkout that is about to be deployed. */
static int env_compose_path(struct cli_ctx *ctx, const char *env, struct strbuf *path,
			    int *immutable, struct errbuf *e)
{
	struct strbuf where = STRBUF_INIT, raw = STRBUF_INIT;
	json_t *envs, *node, *cf;
	int rc;

	rc = cli_config(ctx, e);
	if (rc)
		return rc;
	envs = config_get(ctx->cfg, "environments");
	node = json_object_get(envs, env);
	if (!json_is_object(node)) {
		const char *k;
		json_t *v;

		strbuf_addstr(&where, "");
		json_object_foreach(envs, k, v)
			strbuf_addf(&where, "%s%s", where.len ? ", " : "", k);
		rc = errbuf_set(e, BL_EUSAGE, "%s: environments.%s: no such environment (have: %s)",
				ctx->cfg->path, env, where.len ? where.buf : "none");
		goto out;
	}
	/* The same key deploy_env reads: moving image tags fail there. */
	if (json_is_true(json_object_get(node, "immutable")))
		*immutable = 1;
	cf = json_object_get(node, "compose_file");
	if (cf && !json_is_string(cf)) {
		rc = errbuf_set(e, BL_EUSAGE, "%s: environments.%s.compose_file: expected a string",
				ctx->cfg->path, env);
		goto out;
	}
	strbuf_reset(&where);
	strbuf_addf(&where, "environments.%s.compose_file", env);
	/* Only this key is expanded: linting must not need the deploy secrets
	 * the rest of the environment refers to. The default is deploy's. */
	rc = config_interpolate(cf ? json_string_value(cf) : "docker-compose.yml", NULL, &raw,
				ctx->cfg->path, where.buf, e);
	if (rc)
		goto out;
	config_path(ctx->cfg, raw.buf, path);
out:
	strbuf_release(&where);
	strbuf_release(&raw);
	return rc;
}

int cmd_lint(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct compose_lint res = COMPOSE_LINT_INIT;
	struct compose_lint_opts lo = { 0, NULL, NULL };
	struct strbuf path = STRBUF_INIT, report = STRBUF_INIT;
	struct parseopt_rest rest;
	const char *file = NULL, *env = NULL;
	int rc;
	/* expect: a missing value reads "--file needs a compose file" */
	const struct option_spec opts[] = {
		OPT_VALUE(PARSEOPT_STRING, 'f', "file", &file, "COMPOSE", "a compose file", 0,
			  "lint this compose file instead of ENV's"),
		OPT_FLAG(0, "immutable", &lo.immutable,
			 "judge as an immutable environment: untagged or :latest images fail"),
		OPT_END()
	};

	rc = cli_parse(ctx, argc, argv, opts, 0, &rest, e);
	if (rc)
		goto out;
	if (rest.argc)
		env = rest.argv[0];
	if (rest.argc > 1) {
		rc = cli_usage_error(ctx, e, "lint: unexpected argument '%s'", rest.argv[1]);
		goto out;
	}
	if (!!file == !!env) {
		rc = cli_usage_error(ctx, e, "lint: give an environment or --file COMPOSE, "
				     "not %s", file ? "both" : "neither");
		goto out;
	}
	if (env) {
		rc = env_compose_path(ctx, env, &path, &lo.immutable, e);
		if (rc)
			goto out;
	} else {
		strbuf_addstr(&path, file);
	}

	rc = compose_lint_file(path.buf, &lo, &res, e);
	if (rc && rc != BL_EVERIFY)
		goto out;
	if (ctx->json) {
		json_t *o = compose_lint_json(&res);

		json_object_set_new(o, "event", json_string("result"));
		json_object_set_new(o, "command", json_string("lint"));
		if (env)
			json_object_set_new(o, "environment", json_string(env));
		log_json_result(o);
		json_decref(o);
	} else {
		compose_lint_format(&res, &report);
		fputs(report.buf, stdout);
		fflush(stdout);
	}
out:
	compose_lint_release(&res);
	strbuf_release(&path);
	strbuf_release(&report);
	return rc;
}
