/* ballast-backup restore ID: put a backup's databases back. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "backupset.h"
#include "commands.h"
#include "dbdump.h"
#include "log.h"
#include "manifest.h"
#include "progress.h"

int cmd_restore(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "volume", required_argument, NULL, 'V' },
		{ "target", required_argument, NULL, 't' },
		{ "to", required_argument, NULL, 'T' },
		{ "create", no_argument, NULL, 'c' },
		{ "clean", no_argument, NULL, 'C' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "no-keep", no_argument, NULL, 'k' },
		{ "latest", no_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 }
	};
	struct dbrestore_opts ro;
	struct progress prog;
	struct repo *r = NULL;
	const char *project, *only_db = NULL, *id;
	json_t *m = NULL, *it, *done = json_array();
	int rc = 0, opt, n = 0, use_latest = 0;
	char latest[64];
	size_t i;

	memset(&ro, 0, sizeof(ro));
	ro.jobs = 1;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			only_db = optarg;
			break;
		case 't':
			ro.target = optarg;
			break;
		case 'c':
			ro.create = 1;
			break;
		case 'C':
			ro.clean = 1;
			break;
		case 'j': {
			char *end;
			long j = strtol(optarg, &end, 10);

			if (*end || j < 1 || j > 256) {
				rc = cli_usage_error(ctx, e, "--jobs %s: expected 1..256", optarg);
				goto out;
			}
			ro.jobs = (int)j;
			break;
		}
		case 'L':
			use_latest = 1;
			break;
		case 'V':
		case 'T':
		case 'k':
			rc = errbuf_set(e, BL_EFAIL, "volume restores are not built yet (lib/volume); "
					"nothing was done");
			goto out;
		default:
			rc = cli_usage_error(ctx, e, "unknown option %s", argv[optind - 1]);
			goto out;
		}
	}
	if (argc - optind + use_latest != 1) {
		rc = cli_usage_error(ctx, e, argc - optind + use_latest < 1 ?
				     "missing backup ID (or --latest)" : "expected one backup ID");
		goto out;
	}
	rc = cli_config(ctx, e);
	if (!rc)
		rc = backupset_open(ctx->cfg, &r, &project, e);
	if (rc)
		goto out;
	id = use_latest ? NULL : argv[optind];
	if (use_latest) {
		rc = backupset_latest(r, project, latest, sizeof(latest), e);
		if (rc)
			goto out;
		id = latest;
	}
	rc = backupset_load(r, project, id, &m, e);
	if (rc)
		goto out;
	json_array_foreach(json_object_get(m, "items"), i, it)
		if (!strcmp(json_string_value(json_object_get(it, "type")), "db") &&
		    (!only_db || !strcmp(json_string_value(json_object_get(it, "name")), only_db)))
			n++;
	if (!n) {
		rc = errbuf_set(e, BL_EUSAGE, only_db ? "backup %s has no database \"%s\"" :
				"backup %s holds no database%s", id, only_db ? only_db : "");
		goto out;
	}
	if (ro.target && n > 1) {
		rc = cli_usage_error(ctx, e, "--target needs --db NAME: backup %s holds %d "
				     "databases", id, n);
		goto out;
	}
	cli_catch_signals();
	progress_init(&prog);
	ro.progress = progress_update;
	ro.progress_ctx = &prog;
	json_array_foreach(json_object_get(m, "items"), i, it) {
		const char *name = json_string_value(json_object_get(it, "name"));

		if (strcmp(json_string_value(json_object_get(it, "type")), "db") ||
		    (only_db && strcmp(name, only_db)))
			continue;
		rc = dbdump_restore(ctx->cfg, r, it, &ro, e);
		progress_done(&prog);
		if (rc)
			goto out;
		log_info("database %s restored from %s; row counts match the backup", name, id);
		json_array_append_new(done, json_pack("{s:s, s:s}", "type", "db", "name", name));
	}
	if (ctx->json) {
		json_t *res = json_pack("{s:s, s:s, s:s, s:O}", "event", "result", "backup_id", id,
					"status", "ok", "restored", done);

		log_json_result(res);
		json_decref(res);
	}
out:
	json_decref(m);
	json_decref(done);
	repo_close(r);
	return rc;
}
