#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "deploy_refs.h"
#include "log.h"

/* Shared by tag-for-ref and env-for-ref: the config is optional (CI may
 * run these before any config exists); a config that exists must load. */
int deploy_ref_command(int argc, char **argv, struct cli_ctx *ctx, int want_env,
		       struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT;
	struct errbuf ignore = ERRBUF_INIT;
	struct parseopt_rest rest;
	char *env = NULL, *tag = NULL;
	const char *ref;
	int rc;
	const struct option_spec opts[] = { OPT_END() };

	rc = cli_parse(ctx, argc, argv, opts, 0, &rest, e);
	if (rc)
		return rc;
	if (rest.argc != 1)
		return cli_usage_error(ctx, e, "expected one git ref");
	ref = rest.argv[0];
	if (ctx->config_path || config_find(NULL, &path, &ignore) == 0) {
		if ((rc = cli_config(ctx, e)))
			goto out;
	}
	if ((rc = deploy_ref_match(ctx->cfg, ref, &env, &tag, e)))
		goto out;
	if (log_json()) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "event", "result", "ref", ref,
				      "env", env, "tag", tag);

		log_json_result(o);
		json_decref(o);
	} else {
		printf("%s\n", want_env ? env : tag);
	}
out:
	free(env);
	free(tag);
	strbuf_release(&path);
	return rc;
}

int cmd_tag_for_ref(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	return deploy_ref_command(argc, argv, ctx, 0, e);
}
