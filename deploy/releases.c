#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "deploy_bundle.h"
#include "deploy_env.h"
#include "log.h"

static const char *str_or(json_t *v, const char *def)
{
	return json_is_string(v) ? json_string_value(v) : def;
}

static void print_release(json_t *r)
{
	json_t *svc;
	const char *name, *mark = json_is_true(json_object_get(r, "current")) ? "current" :
				  json_is_true(json_object_get(r, "previous")) ? "previous" : "";
	char schema[32] = "-";

	if (json_is_integer(json_object_get(r, "schema_version")))
		snprintf(schema, sizeof(schema), "%lld",
			 (long long)json_integer_value(json_object_get(r, "schema_version")));
	if (!json_is_true(json_object_get(r, "complete"))) {
		printf("%-20s incomplete (no bundle.json): cannot be rolled back to\n",
		       str_or(json_object_get(r, "release"), "?"));
		return;
	}
	printf("%-20s %-8s deployed %-20s result %-24s schema %s\n",
	       str_or(json_object_get(r, "release"), "?"), mark,
	       str_or(json_object_get(r, "deployed_at"), "-"), str_or(json_object_get(r, "result"), "-"),
	       schema);
	json_object_foreach(json_object_get(r, "services"), name, svc)
		printf("    %-16s %s\n", name,
		       str_or(json_object_get(svc, "digest"),
			      str_or(json_object_get(svc, "image"), "(no image)")));
}

int cmd_releases(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct deploy_env *env = NULL;
	struct parseopt_rest rest;
	json_t *rels = NULL, *r;
	size_t i;
	int rc;
	const struct option_spec opts[] = { OPT_END() };

	rc = cli_parse(ctx, argc, argv, opts, 0, &rest, e);
	if (rc)
		return rc;
	if (rest.argc != 1)
		return cli_usage_error(ctx, e, "expected one environment");
	if ((rc = cli_config(ctx, e)) || (rc = deploy_env_open(ctx->cfg, rest.argv[0], 1, &env, e)))
		return rc;
	if ((rc = deploy_releases(env, &rels, e)))
		goto out;
	if (log_json()) {
		json_t *res = json_pack("{s:s, s:s, s:I, s:O}", "event", "result", "env", env->name,
					"releases_keep", (json_int_t)env->releases_keep, "releases", rels);

		log_json_result(res);
		json_decref(res);
	} else if (!json_array_size(rels)) {
		printf("%s: no release bundles kept yet\n", env->name);
	} else {
		json_array_foreach(rels, i, r)
			print_release(r);
	}
	fflush(stdout);
out:
	json_decref(rels);
	deploy_env_close(env);
	return rc;
}
