/* ballast-backup run: one new backup of every configured database and
 * volume into the repository (the engine is lib/backup/backup_run). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "backup_run.h"
#include "commands.h"
#include "config_schema.h"
#include "log.h"

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
	json_t *items = json_array(), *it, *out;
	size_t i;

	json_array_foreach(json_object_get(res->manifest, "items"), i, it)
		json_array_append_new(items, json_pack(
			"{s:O, s:O, s:O, s:O}", "type", json_object_get(it, "type"), "name",
			json_object_get(it, "name"), "size",
			json_object_get(json_object_get(it, "object"), "size"), "raw_size",
			json_object_get(json_object_get(it, "object"), "raw_size")));
	out = json_pack("{s:s, s:s, s:s, s:O, s:O, s:o, s:I}", "event", "result", "backup_id",
			res->id, "status", "ok", "labels", labels, "size",
			json_object_get(res->manifest, "size"), "items", items, "duration_ms",
			(json_int_t)res->duration_ms);
	log_json_result(out);
	json_decref(out);
}

int cmd_run(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	static const struct option opts[] = {
		{ "label", required_argument, NULL, 'l' },
		{ "only", required_argument, NULL, 'o' },
		{ "wait", required_argument, NULL, 'w' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	struct backup_run_opts o = { NULL, NULL, 0, 0 };
	struct backup_run_result res;
	json_t *labels = json_object(), *only = json_array();
	int rc = 0, opt;

	memset(&res, 0, sizeof(res));
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'l': {
			const char *eq = strchr(optarg, '=');
			char k[128];

			if (!eq || eq == optarg || (size_t)(eq - optarg) >= sizeof(k)) {
				rc = cli_usage_error(ctx, e, "--label %s: expected KEY=VALUE", optarg);
				goto out;
			}
			memcpy(k, optarg, (size_t)(eq - optarg));
			k[eq - optarg] = '\0';
			if (!config_name_valid(k)) {
				rc = cli_usage_error(ctx, e, "--label %s: the key may hold only letters, "
						     "digits, '_', '-' and '.'", optarg);
				goto out;
			}
			json_object_set_new(labels, k, json_string(eq + 1));
			break;
		}
		case 'o':
			json_array_append_new(only, json_string(optarg));
			break;
		case 'w': {
			char *end;
			double s = strtod(optarg, &end);

			if (*end || end == optarg || s < 0) {
				rc = cli_usage_error(ctx, e, "--wait %s: expected seconds", optarg);
				goto out;
			}
			o.wait_ms = (long long)(s * 1000);
			break;
		}
		case 'n':
			o.dry_run = 1;
			break;
		default:
			rc = cli_usage_error(ctx, e, "unknown option %s", argv[optind - 1]);
			goto out;
		}
	}
	if (optind < argc) {
		rc = cli_usage_error(ctx, e, "unexpected argument %s", argv[optind]);
		goto out;
	}
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
