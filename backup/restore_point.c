/* ballast-backup restore-point: a named point to restore to later with
 * restore --pitr --name (the engine is lib/backup/pitr). */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "log.h"
#include "pitr.h"

int cmd_restore_point(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	const char *db = NULL, *name;
	long long wait_ms = 0;
	json_t *rec = NULL;
	struct parseopt_rest rest;
	const struct option_spec opts[] = {
		OPT_STRING(0, "db", &db, "NAME", "the database (default: the only physical one)"),
		OPT_DURATION(0, "wait-archived", &wait_ms, "DURATION",
			   "refuse when no base backup can reach the point, then switch WAL segments "
			   "and wait until the archive holds the point (e.g. 60s)"),
		OPT_END()
	};
	int rc;

	rc = cli_parse(ctx, argc, argv, opts, 0, &rest, e);
	if (rc)
		return rc;
	if (rest.argc != 1)
		return cli_usage_error(ctx, e, "expected one restore point NAME");
	name = rest.argv[0];
	rc = cli_config(ctx, e);
	if (!rc)
		rc = config_check_env(ctx->cfg, NULL, e);
	if (!rc)
		rc = pitr_restore_point(ctx->cfg, db, name, wait_ms, &rec, e);
	if (rc)
		return rc;
	if (ctx->json) {
		json_t *out = json_pack("{s:s, s:s, s:O}", "event", "result", "status", "ok",
					"restore_point", rec);

		log_json_result(out);
		json_decref(out);
	} else {
		printf("restore point %s of database %s at LSN %s (timeline %lld)\n", name,
		       json_string_value(json_object_get(rec, "database")),
		       json_string_value(json_object_get(rec, "lsn")),
		       (long long)json_integer_value(json_object_get(rec, "timeline")));
	}
	json_decref(rec);
	return 0;
}
