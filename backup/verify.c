/* ballast-backup verify ID|--latest|--all: re-read every stored object,
 * compare sizes and SHA-256 with the manifest, test-decompress. */
#include <string.h>

#include "backupset.h"
#include "commands.h"
#include "log.h"
#include "manifest.h"

static int verify_one(struct repo *r, const char *project, const char *id, struct errbuf *e)
{
	struct errbuf re = ERRBUF_INIT;
	struct manifest_item it;
	json_t *m = NULL;
	size_t i;
	int rc = backupset_load(r, project, id, &m, e);

	if (rc == BL_EFAIL)
		goto out; /* no such backup: nothing to record */
	if (!rc) {
		manifest_foreach_item(m, i, it) {
			rc = backupset_verify_object(r, json_object_get(it.json, "object"), 1, e);
			if (rc)
				break;
			log_info("backup %s: %s %s ok", id, it.type, it.name);
		}
	}
	if (backupset_record_verify(r, project, id, rc == 0, rc ? e->msg : NULL, &re))
		log_warn("cannot record the verify result of %s: %s", id, re.msg);
out:
	json_decref(m);
	return rc;
}

int cmd_verify(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct repo *r = NULL;
	const char *project;
	json_t *ids = NULL, *results = NULL, *list = NULL, *v;
	int rc, latest = 0, all = 0, failed = 0, worst = 0;
	char first[ERRBUF_MSG_MAX] = "";
	size_t i;
	struct parseopt_rest rest;
	const struct option_spec opts[] = {
		OPT_FLAG(0, "latest", &latest, "verify the newest committed backup"),
		OPT_FLAG(0, "all", &all, "verify every committed backup and report each failure"),
		OPT_END()
	};

	rc = cli_parse(ctx, argc, argv, opts, 0, &rest, e);
	if (rc)
		return rc;
	ids = json_array();
	results = json_array();
	if (latest + all + rest.argc != 1) {
		rc = cli_usage_error(ctx, e, "expected one of ID, --latest or --all");
		goto out;
	}
	rc = cli_config(ctx, e);
	if (!rc)
		rc = backupset_open(ctx->cfg, &r, &project, e);
	if (rc)
		goto out;
	if (latest || all) {
		rc = backupset_list(r, project, &list, e);
		if (rc)
			goto out;
		for (i = json_array_size(list); i-- > 0;) {
			json_t *ent = json_array_get(list, i);

			if (!strcmp(json_string_value(json_object_get(ent, "status")), "incomplete"))
				continue;
			json_array_insert(ids, 0, json_object_get(ent, "id"));
			if (latest)
				break;
		}
		if (!json_array_size(ids)) {
			rc = errbuf_set(e, BL_EFAIL, "no committed backup of %s in %s", project,
					repo_describe(r));
			goto out;
		}
	} else {
		char id[64];

		rc = backupset_resolve(r, project, rest.argv[0], id, sizeof(id), e);
		if (rc)
			goto out;
		json_array_append_new(ids, json_string(id));
	}
	json_array_foreach(ids, i, v) {
		struct errbuf one = ERRBUF_INIT;
		const char *id = json_string_value(v);
		int st = verify_one(r, project, id, &one);

		json_array_append_new(results, st ?
				      json_pack("{s:s, s:s, s:s}", "id", id, "status", "failed", "error",
						one.msg) :
				      json_pack("{s:s, s:s}", "id", id, "status", "ok"));
		if (st) {
			failed++;
			if (st > worst)
				worst = st;
			if (!first[0])
				snprintf(first, sizeof(first), "%s", one.msg);
			if (all)
				log_error("backup %s: %s", id, one.msg);
		}
	}
	/* the summary before the result: with --json the result is the last line */
	if (!failed)
		log_info("%zu backup%s verified", json_array_size(ids),
			 json_array_size(ids) == 1 ? "" : "s");
	if (ctx->json) {
		json_t *res = json_pack("{s:s, s:b, s:O}", "event", "result", "ok", !failed,
					"backups", results);

		log_json_result(res);
		json_decref(res);
	}
	if (failed == 1 && json_array_size(ids) == 1)
		rc = errbuf_set(e, worst, "verify %s: %s", json_string_value(json_array_get(ids, 0)),
				first);
	else if (failed)
		rc = errbuf_set(e, worst, "%d of %zu backups failed verification; first: %s",
				failed, json_array_size(ids), first);
out:
	json_decref(ids);
	json_decref(results);
	json_decref(list);
	repo_close(r);
	return rc;
}
