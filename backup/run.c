/* ballast-backup run: one new backup of every configured database and
 * volume into the repository (the engine is lib/backup/backup_run). */
#include <stdlib.h>
#include <string.h>

#include "backup_run.h"
#include "commands.h"
#include "config_schema.h"
#include "log.h"
#include "manifest.h"

/* --only takes "db:NAME" or "volume:NAME" of a configured item. */
static int check_only(struct cli_ctx *ctx, json_t *only, struct errbuf *e)
{
	size_t i;
	json_t *v;

	json_array_foreach(only, i, v) {
		const char *s = json_string_value(v), *colon = strchr(s, ':');
		const char *arr = NULL;
		json_t *list, *it;
		size_t k;
		int found = 0;

		if (colon && (size_t)(colon - s) == 2 && !strncmp(s, "db", 2))
			arr = "databases";
		else if (colon && (size_t)(colon - s) == 6 && !strncmp(s, "volume", 6))
			arr = "volumes";
		if (!arr)
			return cli_usage_error(ctx, e, "--only %s: expected db:NAME or volume:NAME", s);
		list = config_get(ctx->cfg, arr);
		json_array_foreach(list, k, it)
			if (!strcmp(json_string_value(json_object_get(it, "name")) ?
				    json_string_value(json_object_get(it, "name")) : "", colon + 1))
				found = 1;
		if (!found)
			return errbuf_set(e, BL_EUSAGE, "--only %s: %s has no %s named \"%s\"", s,
					  ctx->cfg->path, arr, colon + 1);
	}
	return 0;
}

/* The --json result line: the backup and each item's sizes. */
static void print_result(const struct backup_run_result *res, json_t *labels)
{
	struct manifest_head h;
	struct manifest_item it;
	json_t *items = json_array(), *out;
	size_t i;

	/* a sealed manifest: its size and every item's object are there */
	manifest_head_get(res->manifest, &h);
	manifest_foreach_item(res->manifest, i, it)
		json_array_append_new(items, json_pack(
			"{s:s, s:s, s:I, s:I}", "type", it.type, "name", it.name, "size",
			(json_int_t)it.obj.size, "raw_size", (json_int_t)it.obj.raw_size));
	out = json_pack("{s:s, s:s, s:s, s:O, s:I, s:o, s:I}", "event", "result", "backup_id",
			res->id, "status", "ok", "labels", labels, "size", (json_int_t)h.size,
			"items", items, "duration_ms", (json_int_t)res->duration_ms);
	log_json_result(out);
	json_decref(out);
}

/* --label K=V, repeatable, into the labels object. */
static int opt_label(const struct option_spec *opt, const char *name, const char *arg,
		     struct errbuf *e)
{
	const char *eq = strchr(arg, '=');
	char k[128];

	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(k))
		return parseopt_bad_value(opt, name, arg, e);
	memcpy(k, arg, (size_t)(eq - arg));
	k[eq - arg] = '\0';
	if (!config_name_valid(k))
		return errbuf_set(e, BL_EUSAGE, "%s: the key may hold only letters, digits, '_', "
				  "'-' and '.', got \"%s\"", name, arg);
	json_object_set_new(opt->value, k, json_string(eq + 1));
	return 0;
}

/* --only, repeatable, into the only array; check_only judges each one once
 * the configuration is loaded. */
static int opt_only(const struct option_spec *opt, const char *name, const char *arg,
		    struct errbuf *e)
{
	(void)name;
	(void)e;
	json_array_append_new(opt->value, json_string(arg));
	return 0;
}

int cmd_run(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct backup_run_opts o = { NULL, NULL, 0, 0 };
	struct backup_run_result res;
	json_t *labels = json_object(), *only = json_array();
	int rc = 0;
	struct parseopt_rest rest;
	const struct option_spec opts[] = {
		{ .kind = PARSEOPT_CALLBACK, .long_name = "label", .value = labels, .argh = "K=V",
		  .expect = "KEY=VALUE", .cb = opt_label,
		  .help = "label the backup (repeatable; keep=true: prune keeps it)" },
		OPT_CALLBACK(0, "only", only, "db:NAME|volume:NAME",
			     "back up only this database or volume (repeatable)", opt_only),
		OPT_SECONDS(0, "wait", &o.wait_ms, "SECONDS",
			    "wait this long for a running backup's lock (default 0)"),
		OPT_FLAG(0, "dry-run", &o.dry_run, "print what would be backed up; change nothing"),
		OPT_END()
	};

	memset(&res, 0, sizeof(res));
	rc = cli_parse(ctx, argc, argv, opts, PARSEOPT_NO_ARGS, &rest, e);
	if (rc)
		goto out;
	rc = cli_config(ctx, e);
	if (!rc)
		rc = config_check_env(ctx->cfg, NULL, e);
	if (rc)
		goto out;
	rc = check_only(ctx, only, e);
	if (rc)
		goto out;
	o.labels = labels;
	o.only = only;
	rc = backup_run(ctx->cfg, &o, &res, e);
	if (rc || !ctx->json)
		goto out;
	if (o.dry_run) {
		json_t *out = json_pack("{s:s, s:b, s:O}", "event", "result", "dry_run", 1,
					"items", res.plan);

		log_json_result(out);
		json_decref(out);
	} else {
		print_result(&res, labels);
	}
out:
	backup_run_release(&res);
	json_decref(labels);
	json_decref(only);
	return rc;
}
