/* ballast-backup init: make the configured repository location a ballast
 * repository for the project (repomark.h says why nothing else creates one). */
#include <stdio.h>

#include "backupset.h"
#include "commands.h"
#include "log.h"
#include "repomark.h"

int cmd_init(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct repo *r = NULL;
	const char *project;
	char id[REPOMARK_ID_LEN + 1];
	int existed = 0, adopted = 0, rc;
	struct parseopt_rest rest;
	/* no options of its own; the table makes "--x" an unknown option */
	const struct option_spec opts[] = { OPT_END() };

	rc = cli_parse(ctx, argc, argv, opts, PARSEOPT_NO_ARGS, &rest, e);
	if (rc)
		return rc;
	rc = cli_config(ctx, e);
	if (!rc)
		rc = backupset_open_unchecked(ctx->cfg, &r, &project, e);
	if (!rc)
		rc = repomark_init(r, project, id, &existed, &adopted, e);
	if (rc)
		goto out;
	if (ctx->json) {
		json_t *res = json_pack("{s:s, s:s, s:s, s:s, s:b, s:i}", "event", "result",
					"repository", repo_describe(r), "project", project,
					"id", id, "existed", existed, "adopted", adopted);

		log_json_result(res);
		json_decref(res);
	} else if (existed) {
		printf("%s is already a ballast repository for %s (id %s)\n", repo_describe(r),
		       project, id);
	} else {
		printf("initialised a ballast repository for %s at %s (id %s)", project,
		       repo_describe(r), id);
		if (adopted)
			printf("; adopted %d existing backup%s", adopted, adopted == 1 ? "" : "s");
		printf("\n");
	}
out:
	repo_close(r);
	return rc;
}
