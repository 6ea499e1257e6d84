/* ballast-backup list: the project's backups, oldest first. */
#include <string.h>

#include "backupset.h"
#include "commands.h"
#include "log.h"
#include "progress.h"

int cmd_list(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct repo *r = NULL;
	const char *project;
	json_t *list = NULL, *ent;
	size_t i;
	int rc;
	struct parseopt_rest rest;
	/* no options of its own; the table makes "--x" an unknown option */
	const struct option_spec opts[] = { OPT_END() };

	rc = cli_parse(ctx, argc, argv, opts, PARSEOPT_NO_ARGS, &rest, e);
	if (rc)
		return rc;
	rc = cli_config(ctx, e);
	if (rc)
		return rc;
	rc = backupset_open(ctx->cfg, &r, &project, e);
	if (rc)
		goto out;
	rc = backupset_list(r, project, &list, e);
	if (rc)
		goto out;
	if (ctx->json) {
		json_t *res = json_pack("{s:s, s:O}", "event", "result", "backups", list);

		log_json_result(res);
		json_decref(res);
		goto out;
	}
	if (!json_array_size(list)) {
		printf("no backups of %s in %s\n", project, repo_describe(r));
		goto out;
	}
	printf("%-22s %-20s %-13s %10s  %-20s %s\n", "ID", "TIME", "STATUS", "SIZE", "ITEMS",
	       "LABELS");
	json_array_foreach(list, i, ent) {
		struct strbuf items = STRBUF_INIT, labels = STRBUF_INIT;
		const char *k;
		json_t *v, *it;
		size_t j;
		char sz[32];

		json_array_foreach(json_object_get(ent, "items"), j, it)
			strbuf_addf(&items, "%s%s:%s", items.len ? "," : "",
				    json_string_value(json_object_get(it, "type")),
				    json_string_value(json_object_get(it, "name")));
		json_object_foreach(json_object_get(ent, "labels"), k, v)
			strbuf_addf(&labels, "%s%s=%s", labels.len ? "," : "", k,
				    json_string_value(v) ? json_string_value(v) : "");
		progress_bytes(json_integer_value(json_object_get(ent, "size")), sz, sizeof(sz));
		printf("%-22s %-20s %-13s %10s  %-20s %s\n",
		       json_string_value(json_object_get(ent, "id")),
		       json_string_value(json_object_get(ent, "time")),
		       json_string_value(json_object_get(ent, "status")), sz,
		       items.len ? items.buf : "-", labels.len ? labels.buf : "-");
		strbuf_release(&items);
		strbuf_release(&labels);
	}
out:
	json_decref(list);
	repo_close(r);
	return rc;
}
