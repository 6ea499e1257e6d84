#include <stdio.h>

#include "commands.h"
#include "deploy_env.h"
#include "deploy_steps.h"

int cmd_plan(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct deploy_opts o = { 0 };
	struct deploy_env *env = NULL;
	struct parseopt_rest rest;
	json_t *plan;
	int rc;
	const struct option_spec opts[] = {
		OPT_STRING('r', "release", &o.release, "TAG", "the release to plan (required)"),
		OPT_STRING(0, "migrations", &o.migrations_dir, "DIR",
			   "local migrations to upload (default: migrations_dir or migrations.dir)"),
		OPT_STRING(0, "bundle", &o.bundle, "PATH",
			   "the release's files as CI built them, a directory or a tar\n"
			   "archive (tar, tar.gz, tgz): the compose file, the env file's\n"
			   "template (<env_file>.example) and migrations/, staged on the\n"
			   "target before the lock; app_dir's compose file is not used"),
		OPT_END()
	};

	rc = cli_parse(ctx, argc, argv, opts, 0, &rest, e);
	if (rc)
		return rc;
	if (rest.argc != 1)
		return cli_usage_error(ctx, e, "expected one environment");
	if (!o.release)
		return cli_usage_error(ctx, e, "--release TAG is required");
	if (o.bundle && o.migrations_dir)
		return cli_usage_error(ctx, e, "--bundle and --migrations exclude each other: the bundle's migrations/ are the release's");
	if (!deploy_tag_valid(o.release))
		return cli_usage_error(ctx, e, "--release \"%s\": not a valid image tag", o.release);
	if ((rc = cli_config(ctx, e)))
		return rc;
	if ((rc = deploy_env_open(ctx->cfg, rest.argv[0], 1, &env, e)))
		return rc;
	plan = json_array();
	rc = deploy_plan(env, &o, plan, e);
	if (!rc)
		deploy_plan_print(env, &o, plan);
	json_decref(plan);
	deploy_env_close(env);
	return rc;
}
