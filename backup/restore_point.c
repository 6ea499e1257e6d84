/* ballast-backup restore-point: a named point to restore to later with
 * restore --pitr --name (the engine is lib/backup/pitr). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "log.h"
#include "pitr.h"

int cmd_restore_point(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 }
	};
	const char *db = NULL;
	json_t *rec = NULL;
	int rc, opt;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != 'd')
			return cli_usage_error(ctx, e, "unknown option %s", argv[optind - 1]);
		db = optarg;
	}
	if (argc - optind != 1)
		return cli_usage_error(ctx, e, "expected one restore point NAME");
	rc = cli_config(ctx, e);
	if (!rc)
		rc = config_check_env(ctx->cfg, NULL, e);
	if (!rc)
		rc = pitr_restore_point(ctx->cfg, db, argv[optind], &rec, e);
	if (rc)
		return rc;
	if (ctx->json) {
		json_t *out = json_pack("{s:s, s:s, s:O}", "event", "result", "status", "ok",
					"restore_point", rec);

		log_json_result(out);
		json_decref(out);
	} else {
		printf("restore point %s of database %s at LSN %s (timeline %lld)\n", argv[optind],
		       json_string_value(json_object_get(rec, "database")),
		       json_string_value(json_object_get(rec, "lsn")),
		       (long long)json_integer_value(json_object_get(rec, "timeline")));
	}
	json_decref(rec);
	return 0;
}
