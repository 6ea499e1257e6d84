#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "deploy_env.h"
#include "deploy_steps.h"
#include "log.h"
#include "interrupt.h"

int cmd_deploy(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct deploy_opts o = { 0 };
	struct deploy_env *env = NULL;
	struct parseopt_rest rest;
	enum deploy_result res;
	const char *name;
	int dry = 0, rc;
	const struct option_spec opts[] = {
		OPT_STRING('r', "release", &o.release, "TAG", "the release to deploy (required)"),
		OPT_STRING(0, "migrations", &o.migrations_dir, "DIR",
			   "local migrations to upload (default: migrations_dir or migrations.dir)"),
		OPT_STRING(0, "bundle", &o.bundle, "PATH",
			   "the release's files as CI built them, a directory or a tar\n"
			   "archive (tar, tar.gz, tgz): the compose file, the env file's\n"
			   "template (<env_file>.example) and migrations/, staged on the\n"
			   "target before the lock; app_dir's compose file is not used"),
		OPT_SECONDS('w', "lock-wait", &o.lock_wait_ms, "SECONDS",
			    "wait this long for another run's lock (default 0)"),
		OPT_FLAG('n', "dry-run", &dry, "print the plan instead (as 'plan')"),
		OPT_FLAG(0, "allow-mutable", &o.allow_mutable,
			 "in an \"immutable\" environment, deploy `latest`, or a release\n"
			 "whose tag now resolves to other digests than its kept bundle"),
		OPT_END()
	};

	rc = cli_parse(ctx, argc, argv, opts, 0, &rest, e);
	if (rc)
		return rc;
	if (rest.argc != 1)
		return cli_usage_error(ctx, e, "expected one environment");
	name = rest.argv[0];
	if (!o.release)
		return cli_usage_error(ctx, e, "--release TAG is required");
	if (o.bundle && o.migrations_dir)
		return cli_usage_error(ctx, e, "--bundle and --migrations exclude each other: the bundle's migrations/ are the release's");
	if (!deploy_tag_valid(o.release))
		return cli_usage_error(ctx, e, "--release \"%s\": not a valid image tag "
				       "([A-Za-z0-9_][A-Za-z0-9_.-]*, at most 128)", o.release);
	if ((rc = cli_config(ctx, e)))
		return rc;
	interrupt_catch();
	if ((rc = deploy_env_open(ctx->cfg, name, 1, &env, e)))
		return rc;
	if (dry) {
		json_t *plan = json_array();

		rc = deploy_plan(env, &o, plan, e);
		if (!rc)
			deploy_plan_print(env, &o, plan);
		json_decref(plan);
	} else {
		rc = deploy_run(env, &o, &res, e);
	}
	deploy_env_close(env);
	return rc;
}
